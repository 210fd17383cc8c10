"""FPGA cost model: per-strategy DSP/BRAM, strategy choice, and estimate() on hls4ml configs."""

import logging

import numpy as np
import pytest
import tensorflow as tf

import hwprune
from hwprune import hardware
from hwprune.layouts import dsp_layout
from hwprune.targets import FPGALayerSettings, FPGATarget
from hwprune.targets.base import LayerInfo
from hwprune.targets.fpga import choose_strategy

keras = tf.keras


def jet_model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.layers.Input((16,)), keras.layers.Dense(64, activation='relu', name='fc1'),
                             keras.layers.Dense(32, activation='relu', name='fc2'),
                             keras.layers.Dense(32, activation='relu', name='fc3'),
                             keras.layers.Dense(5, activation='softmax', name='output')])


@pytest.mark.parametrize('rf', [2, 4, 8, 16])
@pytest.mark.parametrize('strategy', ['Latency', 'Resource'])
def test_estimate_of_unpruned_jet_topology_is_weights_over_rf(rf, strategy):
    import hls4ml
    model = jet_model()
    cfg = hls4ml.utils.config_from_keras_model(model, granularity='name', default_reuse_factor=rf, backend='Vitis')
    cfg['Model']['Strategy'] = strategy
    for layer in cfg['LayerName'].values():
        layer['Strategy'] = strategy
    report = hwprune.estimate(model, cfg)
    weights = 16 * 64 + 64 * 32 + 32 * 32 + 32 * 5
    assert report.total['DSP'] == weights / rf
    assert report.total['params'] == weights
    assert report.layers['fc2']['DSP'] == 64 * 32 / rf


def test_bram_estimate_follows_rom_model():
    t = FPGATarget(default=FPGALayerSettings(reuse_factor=4, strategy='resource_unrolled', weight_bits=16))
    info = LayerInfo('fc', 'dense', (64, 32))
    m = t.layer_model(info, ('DSP', 'BRAM'))
    kernel = np.ones((64, 32))
    # ceil(N * W / (RF * 36)) columns, depth RF <= BRAM_DEPTH
    assert m.usage_dict(kernel)['BRAM'] == np.ceil(64 * 32 * 16 / (4 * 36))
    # a column is freed only with all its DSP slots: prune one BRAM group (9 slots at 16 bits)
    pruned = kernel.copy()
    pruned[m.layout.ids == 0] = 0
    assert m.usage_dict(pruned)['BRAM'] == m.usage_dict(kernel)['BRAM'] - 4  # 9 slots x 16 bits = 4 columns
    # the deep ROM of RF > BRAM_DEPTH needs stacked BRAMs
    deep = FPGATarget(default=FPGALayerSettings(reuse_factor=2048, strategy='resource', pinned=True))
    md = deep.layer_model(info, ('BRAM',))
    assert md.usage_dict(kernel)['BRAM'] == np.ceil(64 * 32 * 16 / (2048 * 36)) * 2
    # Latency keeps the weights in fabric: no BRAM
    latency = FPGATarget(default=FPGALayerSettings(reuse_factor=4, strategy='latency'))
    assert latency.layer_model(info, ('DSP', 'BRAM')).usage_dict(kernel)['BRAM'] == 0


def test_narrow_weights_use_no_dsp():
    t = FPGATarget(default=FPGALayerSettings(reuse_factor=2, weight_bits=hardware.DSP_MIN_WEIGHT_BITS - 1))
    m = t.layer_model(LayerInfo('fc', 'dense', (8, 8)), ('DSP', 'params'))
    assert m.usage_dict(np.ones((8, 8))) == {'DSP': 0.0, 'params': 64.0}


def test_resource_strategy_ignores_zeros_when_not_converted(caplog):
    t = FPGATarget(default=FPGALayerSettings(reuse_factor=2, strategy='resource'), as_converted=False)
    with caplog.at_level(logging.WARNING):
        m = t.layer_model(LayerInfo('fc', 'dense', (8, 8)), ('DSP',))
    assert 'saves no DSP' in caplog.text
    assert m.usage_dict(np.zeros((8, 8)))['DSP'] == 32


def test_unrolled_at_rf_1_becomes_latency_at_requested_rf():
    # (3, 1): the only valid RFs are 1 and 3, and resource_unrolled excludes the largest
    t = FPGATarget(default=FPGALayerSettings(reuse_factor=3, strategy='resource_unrolled'))
    resolved = t.resolve(LayerInfo('fc', 'dense', (3, 1)))
    assert (resolved.strategy, resolved.reuse_factor) == ('latency', 3)


def test_strategy_choice():
    s = lambda **kw: FPGALayerSettings(**{'reuse_factor': 4, 'strategy': 'resource', **kw})  # noqa: E731
    assert choose_strategy('dense', s(), 1024) == 'latency'
    assert choose_strategy('dense', s(), 100000) == 'resource_unrolled'
    assert choose_strategy('conv2d', s(), 100, ) == 'latency'  # io_parallel conv cannot be unrolled
    assert choose_strategy('conv2d', s(io_type='io_stream'), 100) == 'resource_unrolled'
    assert choose_strategy('dense', s(reuse_factor=1), 100000) == 'latency'
    assert choose_strategy('dense', s(pinned=True), 10) == 'resource'
    assert choose_strategy('dense', s(strategy='latency'), 100000) == 'latency'


def test_invalid_rf_is_replaced_as_hls4ml_does(caplog):
    t = FPGATarget(default=FPGALayerSettings(reuse_factor=3, strategy='resource'), as_converted=False)
    with caplog.at_level(logging.WARNING):
        resolved = t.resolve(LayerInfo('fc1', 'dense', (16, 64)))
    assert resolved.reuse_factor == 2 and resolved.requested_reuse_factor == 3
    assert "'fc1'" in caplog.text and 'ReuseFactor=2' in caplog.text


def test_unrolled_dsp_groups_and_latency_counts():
    kernel = np.random.default_rng(0).normal(size=(8, 4))
    info = LayerInfo('fc', 'dense', kernel.shape)
    unrolled = FPGATarget(default=FPGALayerSettings(reuse_factor=4, strategy='resource_unrolled')).layer_model(info, ('DSP',))
    latency = FPGATarget(default=FPGALayerSettings(reuse_factor=4, strategy='latency')).layer_model(info, ('DSP',))
    layout = dsp_layout('dense', kernel.shape, 4)
    k = kernel.copy()
    k[layout.ids == 3] = 0
    k[0, 0] = 0  # one more zero in another group
    assert unrolled.usage_dict(k)['DSP'] == 7
    assert latency.usage_dict(k)['DSP'] == np.ceil((32 - 5) / 4)


def test_target_config_round_trip_and_bad_input():
    t = FPGATarget({'fc1': FPGALayerSettings(reuse_factor=4, strategy='ResourceUnrolled', weight_bits=8)},
                   default=FPGALayerSettings(reuse_factor=2), strict=True)
    again = FPGATarget.from_config(t.get_config())
    assert again.get_config() == t.get_config()
    with pytest.raises(ValueError, match='`layer`.*fc9'):
        t.layer_model(LayerInfo('fc9', 'dense', (2, 2)), ('DSP',))
    with pytest.raises(ValueError, match='`strategy`'):
        FPGALayerSettings(strategy='Unrolled')
    with pytest.raises(ValueError, match='`io_type`'):
        FPGALayerSettings(io_type='axi')
    with pytest.raises(ValueError, match='`resources`'):
        t.check_resources(['LUT'])


def test_config_that_does_not_mention_a_layer_is_reported(caplog):
    import hls4ml
    model = jet_model()
    cfg = hls4ml.utils.config_from_keras_model(model, granularity='name', default_reuse_factor=2, backend='Vitis')
    del cfg['LayerName']['fc2']
    with caplog.at_level(logging.WARNING):
        report = hwprune.estimate(model, cfg)
    assert "'fc2'" in caplog.text and 'for this model' in caplog.text
    assert report.layers['fc2']['DSP'] == 64 * 32 / 2  # model defaults, as hls4ml would use


def test_latency_conv_group_costs_add_up_to_the_multiplier_limit():
    rng = np.random.default_rng(0)
    info = LayerInfo('c', 'conv2d', (3, 3, 2, 4), input_shape=(6, 6, 2), output_shape=(6, 6, 4), padding='same')
    t = FPGATarget(default=FPGALayerSettings(reuse_factor=4, strategy='latency'))
    m = t.layer_model(info, ('DSP',))
    for density in (1.0, 0.5, 0.1):
        kernel = rng.normal(size=info.kernel_shape) * (rng.random(info.kernel_shape) < density)
        additive = m.fixed[0] + m.alive(kernel).astype(float) @ m.group_costs[:, 0]
        exact = m.usage_dict(kernel)['DSP']
        assert exact <= additive + 1e-9 and additive - exact < 1  # only the final rounding differs


def test_parallelization_factor_is_read_and_costed():
    from hwprune.hls.config import read_hls_config
    settings = read_hls_config({'Model': {'ReuseFactor': 1, 'Strategy': 'Latency', 'Precision': 'ap_fixed<16,6>'},
                                'LayerName': {'c': {'ParallelizationFactor': 36}}})
    assert settings.layers['c'].parallelization_factor == 36
    with pytest.raises(ValueError, match='ParallelizationFactor'):
        read_hls_config({'Model': {'ParallelizationFactor': 0}})
    info = LayerInfo('c', 'conv2d', (3, 3, 1, 2), input_shape=(6, 6, 1), output_shape=(6, 6, 2), padding='same')
    kernel = np.ones(info.kernel_shape)
    one = FPGATarget(default=FPGALayerSettings()).layer_model(info, ('DSP',)).usage_dict(kernel)['DSP']
    every = FPGATarget(default=FPGALayerSettings(parallelization_factor=36)).layer_model(info, ('DSP',))
    assert one == 18  # one pixel per iteration: every tap is live in some partition
    # all 36 pixels in one iteration: the padded taps of border pixels fold away
    assert every.usage_dict(kernel)['DSP'] == 2 * (36 * 9 - 4 * 6 * 3 + 4)


def test_depthwise_strategy_and_costs(caplog):
    s = lambda **kw: FPGALayerSettings(**{'reuse_factor': 4, 'strategy': 'resource', **kw})  # noqa: E731
    for io_type in ('io_parallel', 'io_stream'):  # no ResourceUnrolled depthwise kernel in hls4ml 1.3
        assert choose_strategy('depthwise2d', s(io_type=io_type)) == 'latency'
    assert choose_strategy('depthwise2d', s(pinned=True)) == 'resource'
    info = LayerInfo('dw', 'depthwise2d', (3, 3, 8, 1), input_shape=(6, 6, 8), output_shape=(6, 6, 8),
                     padding='same')
    kernel = np.ones(info.kernel_shape)
    kernel[..., :2, :] = 0  # two dead channels
    converted = FPGATarget(default=s()).layer_model(info, ('DSP', 'params'))
    assert converted.details['strategy'] == 'latency'
    # PF 1: one pixel slot; every tap of a live channel is live somewhere -> 54 products / RF 4
    assert converted.usage_dict(kernel) == {'DSP': 14.0, 'params': 54.0}
    with caplog.at_level(logging.WARNING):
        plain = FPGATarget(default=s(), as_converted=False).layer_model(info, ('DSP', 'BRAM'))
    assert plain.details['strategy'] == 'resource' and plain.details['reuse_factor'] == 4
    assert plain.usage_dict(kernel)['DSP'] == 18  # ceil(72 / 4), zeros ignored
    assert 'Latency only' in caplog.text  # io_parallel Resource depthwise stops hls4ml's C simulation
    unrolled = FPGATarget(default=s(strategy='resource_unrolled'), as_converted=False).layer_model(info, ('DSP',))
    assert unrolled.details['strategy'] == 'latency'  # what hls4ml builds
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert FPGATarget().layer_model(LayerInfo('dw2', 'depthwise2d', (3, 3, 4, 2)), ('DSP',)) is None
    assert 'depth_multiplier=2' in caplog.text
