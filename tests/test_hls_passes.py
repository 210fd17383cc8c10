"""hwprune's hls4ml passes through plain ``hls4ml.converters.convert_from_keras_model``.

No C simulation here (``write()`` only, seconds): registration and flows, the strategy choice,
firmware zeros, the multiplier limits written to ``firmware/parameters.h`` against the
estimator's counts, idempotence, and deselection from the hls config.
"""

import copy
import logging
import subprocess
from pathlib import Path

import numpy as np
import pytest

import hls4ml
import hwprune.hls  # noqa: F401 - registers the passes
import hls_fixtures as F
from stack import REAL_QKERAS
from hls4ml.model.flow import get_flow
from hwprune.hls import passes as P


def convert_plain(model, cfg, tmp_path, name, opt_in=True, **kwargs):
    """A plain hls4ml conversion; ``opt_in``: the config asks for hwprune's passes (unless it names
    ``Optimizers`` itself)."""
    kwargs.setdefault('backend', 'Vitis')
    kwargs.setdefault('io_type', 'io_parallel')
    cfg = copy.deepcopy(cfg)
    if opt_in and 'Optimizers' not in cfg:
        P.enable_passes(cfg)
    hls_model = hls4ml.converters.convert_from_keras_model(model, hls_config=cfg,
                                                           output_dir=str(tmp_path / name), **kwargs)
    hls_model.write()
    return hls_model


# --------------------------------------------------------------------------------------------
# Registration


def test_registered_in_flows():
    names = P.register_passes()
    assert P.register_passes() == names  # idempotent
    assert {'hwprune:strategy', 'hwprune:strip', 'vivado:hwprune:multiplier_limit',
            'vitis:hwprune:multiplier_limit'} <= set(names)
    assert get_flow('optimize').optimizers.count('hwprune:strategy') == 1
    assert get_flow('vivado:optimize').optimizers.count('hwprune:strip') == 1
    for backend in ('vivado', 'vitis'):
        templates = get_flow(f'{backend}:apply_templates').optimizers
        assert templates[-1] == f'{backend}:hwprune:multiplier_limit'  # after hls4ml's config templates
    # the flows run in this order in the default flows of both backends
    for ip in ('vivado:ip', 'vitis:ip'):
        requires = get_flow(ip).requires
        assert requires.index('optimize') < requires.index('vivado:init_layers') < requires.index('vivado:optimize')
        assert requires.index('vivado:optimize') < requires.index('vivado:specific_types')
        assert requires.index('vivado:specific_types') < requires.index('vivado:apply_templates')


def test_pass_selection_semantics():
    assert not P.pass_selected({}, 'hwprune:strip')  # plain conversions: off unless asked for
    on = P.enable_passes({})
    assert P.pass_selected(on, 'hwprune:strip')
    assert not P.pass_selected({**on, 'SkipOptimizers': ['hwprune:strip']}, 'hwprune:strip')
    assert P.pass_selected({**on, 'SkipOptimizers': ['hwprune:strip']}, 'hwprune:strategy')
    assert not P.pass_selected({**on, 'SkipOptimizers': ['hwprune']}, 'hwprune:strategy')
    assert not P.pass_selected({**on, 'SkipOptimizers': ['vitis:hwprune:multiplier_limit']},
                               'hwprune:multiplier_limit')
    assert not P.pass_selected({**on, 'Model': {'SkipOptimizers': ['hwprune:*']}}, 'hwprune:strip')
    assert P.pass_selected({'Optimizers': ['hwprune']}, 'hwprune:multiplier_limit')
    assert not P.pass_selected({'Model': {'hwprune': {'passes': 'yes'}}}, 'hwprune:strip')
    assert P.pass_selected({'Optimizers': ['hwprune:strip', 'vivado:write_hls']}, 'hwprune:strip')
    assert not P.pass_selected({'Optimizers': ['vivado:write_hls']}, 'hwprune:strip')


# --------------------------------------------------------------------------------------------
# Plain hls4ml conversions (write only)


@pytest.fixture(scope='module')
def dense_case(tmp_path_factory):
    model = F.prune(F.dense_sequential(), seed=3, density=0.6)
    cfg = F.hls_config(model, reuse_factor=2, strategies={'fc1': 'Resource', 'fc2': 'Latency',
                                                          'out': 'ResourceUnrolled'})
    hls_model = convert_plain(model, cfg, tmp_path_factory.mktemp('dense'), 'prj')
    return model, cfg, hls_model


def test_dense_limits_in_firmware(dense_case):
    model, cfg, hls_model = dense_case
    expected = F.check_firmware(hls_model, model, cfg, 'io_parallel')
    assert expected['fc1'][0] == 'latency'  # Resource ignores zeros: a small Dense moves to Latency
    assert expected['out'][0] == 'resource_unrolled'  # asked for explicitly
    assert P.hwprune_passes_applied(hls_model) == {
        'optimize': {'hwprune:strategy'}, 'vivado:optimize': {'hwprune:strip'},
        'vitis:apply_templates': {'vitis:hwprune:multiplier_limit'},
        'vivado:apply_templates': {'vivado:hwprune:multiplier_limit'}}


def test_conv_limits_in_firmware_io_parallel_with_padding(tmp_path):
    model = F.prune(F.conv2d_functional(qkeras=REAL_QKERAS, merge='concat'), seed=5)
    cfg = F.hls_config(model, reuse_factor=3, strategies={'c0': 'Resource'})
    cfg['LayerName']['c0']['ParallelizationFactor'] = 36  # all pixels in one iteration: padding saves
    cfg['LayerName']['c1']['ParallelizationFactor'] = 6
    hls_model = convert_plain(model, cfg, tmp_path, 'prj', io_type='io_parallel')
    expected = F.check_firmware(hls_model, model, cfg, 'io_parallel', {'c0': 36, 'c1': 6})
    assert hls_model.graph['c0'].get_attr('n_partitions') == 1
    assert expected['c0'][0] == 'latency'  # Resource + conv + io_parallel -> Latency
    # 'same' padding saves multipliers over a whole-image body
    kernel = F.quantized_kernel(model.get_layer('c0'))
    assert expected['c0'][2] < -(-36 * np.count_nonzero(kernel) // 3)


def test_conv1d_limits_in_firmware_io_stream(tmp_path):
    model = F.prune(F.conv1d_sequential(qkeras=False), seed=7)
    cfg = F.hls_config(model, reuse_factor=2, strategies={'c1': 'Resource', 'c2': 'Latency', 'out': 'Resource'})
    hls_model = convert_plain(model, cfg, tmp_path, 'prj', io_type='io_stream', backend='Vivado')
    expected = F.check_firmware(hls_model, model, cfg, 'io_stream')
    assert expected['c1'][0] == 'resource_unrolled'  # convolutions may unroll under io_stream


def test_strategy_choices_and_pinning(tmp_path, caplog):
    model = F.prune(F.dense_sequential(), seed=1)
    cfg = F.hls_config(model, reuse_factor=2, strategies={'fc1': 'Resource', 'fc2': 'Resource', 'out': 'Resource'})
    cfg['LayerName']['fc2']['hwprune'] = {'pin_strategy': True}
    cfg['LayerName']['out']['ReuseFactor'] = 1
    with caplog.at_level(logging.INFO, logger='hwprune'):
        hls_model = convert_plain(model, cfg, tmp_path, 'prj')
    strategies = {n: hls_model.graph[n].get_attr('strategy') for n in ('fc1', 'fc2', 'out')}
    assert strategies == {'fc1': 'latency', 'fc2': 'resource', 'out': 'latency'}
    assert "'fc2': strategy Resource is pinned" in caplog.text
    assert "'fc1': strategy resource -> latency" in caplog.text
    assert hls_model.graph['fc2'].get_attr(P.LIMIT_ATTR) == 12 * 8 // 2  # Resource: every multiplier
    assert cfg['LayerName']['fc1']['Strategy'] == 'Resource'  # the user's dict is never written


def test_large_dense_resource_becomes_unrolled(tmp_path):
    import tensorflow as tf

    model = tf.keras.Sequential([tf.keras.Input((80,)), tf.keras.layers.Dense(64, name='big')], name='big')
    F.prune(model, seed=0, density=0.3)
    cfg = F.hls_config(model, reuse_factor=4, strategies={'big': 'Resource'})
    hls_model = convert_plain(model, cfg, tmp_path, 'prj')
    expected = F.check_firmware(hls_model, model, cfg, 'io_parallel')
    assert expected['big'][0] == 'resource_unrolled'  # above hardware.LATENCY_MAX_WEIGHTS


def test_unrolled_max_rf_warning(tmp_path, caplog):
    model = F.dense_sequential()
    cfg = F.hls_config(model, reuse_factor=1, strategies={'out': 'ResourceUnrolled'})
    cfg['LayerName']['out']['ReuseFactor'] = 24  # = N: valid for Resource, not for ResourceUnrolled
    with caplog.at_level(logging.WARNING, logger='hwprune'):
        hls_model = convert_plain(model, cfg, tmp_path, 'prj')
    assert "'out': hls4ml will use ReuseFactor=8 instead of the requested 24" in caplog.text
    assert hls_model.graph['out'].get_attr('reuse_factor') == 8


def test_firmware_zeros_snapped_and_counts_refreshed(tmp_path):
    model = F.dense_sequential()
    kernel, bias = model.get_layer('fc2').get_weights()
    kernel[:, :] = 0.5
    kernel[0, :4] = 1e-5     # positive below the LSB of ap_fixed<16,6>: 0 in firmware
    kernel[1, :4] = -1e-5    # negative: AP_TRN floors it to -LSB, not 0
    model.get_layer('fc2').set_weights([kernel, bias])
    cfg = F.hls_config(model, reuse_factor=1)
    hls_model = convert_plain(model, cfg, tmp_path, 'prj')
    var = hls_model.graph['fc2'].weights['weight']
    data = var.data if not hls_model.graph['fc2'].get_attr('_weights_transposed') else var.data.T
    assert np.count_nonzero(data == 0) == 4 and var.nzeros == 4 and var.nonzeros == 12 * 8 - 4
    assert hls_model.graph['fc2'].get_attr(P.LIMIT_ATTR) == 12 * 8 - 4
    header = Path(hls_model.config.get_output_dir(), 'firmware', 'weights', f'{var.name}.h').read_text()
    assert '//Number of zeros 4' in header


def test_dead_units_reported_in_plain_hls4ml(tmp_path, caplog):
    model = F.prune(F.dense_sequential(), seed=2, dead_units=2)
    with caplog.at_level(logging.WARNING, logger='hwprune'):
        convert_plain(model, F.hls_config(model), tmp_path, 'prj')
    assert "Layer 'fc1': 2 of 12 neurons have all-zero weights" in caplog.text


def test_idempotent(dense_case):
    model, cfg, hls_model = dense_case
    before = {n.name: (n.get_attr('config_cpp'), np.array(n.weights['weight'].data), n.weights['weight'].nzeros)
              for n in hls_model.graph.values() if P.node_kind(n)}
    hls_model.apply_flow('optimize')
    hls_model.apply_flow('vivado:optimize')
    assert not hls_model._applied_flows[-1]['vivado:optimize'] & {'hwprune:strip'}
    hls_model.apply_flow('vivado:apply_templates')  # hls4ml re-formats configs; hwprune re-patches
    for node in hls_model.graph.values():
        if P.node_kind(node):
            cpp, data, nzeros = before[node.name]
            assert node.get_attr('config_cpp') == cpp
            np.testing.assert_array_equal(node.weights['weight'].data, data)
            assert node.weights['weight'].nzeros == nzeros
            # a matched pass does nothing more when run again by hand
            for opt in (P.StrategyPass(), P.StripPass(), P.MultiplierLimitTemplate()):
                assert not opt.match(node)
            template = P.MultiplierLimitTemplate()
            template.transform(hls_model, node)
            assert node.get_attr('config_cpp') == cpp


@pytest.mark.parametrize('where', ['top', 'model'])
def test_skip_multiplier_limit(tmp_path, where):
    model = F.prune(F.dense_sequential(), seed=4)
    cfg = F.hls_config(model, strategies={'fc1': 'Resource'})
    (cfg if where == 'top' else cfg['Model'])['SkipOptimizers'] = ['hwprune:multiplier_limit']
    hls_model = convert_plain(model, cfg, tmp_path, 'prj')
    limits = F.parse_multiplier_limits(hls_model.config.get_output_dir())
    assert all(isinstance(v, str) and 'DIV_ROUNDUP' in v for values in limits.values() for v in values)
    assert hls_model.graph['fc1'].get_attr('strategy') == 'latency'  # other passes still run
    assert P.hwprune_passes_applied(hls_model).keys() == {'optimize', 'vivado:optimize'}


def test_skip_all_and_optimizers_allowlist(tmp_path):
    model = F.prune(F.dense_sequential(), seed=4)
    cfg = F.hls_config(model, strategies={'fc1': 'Resource'})
    cfg['SkipOptimizers'] = ['hwprune']
    hls_model = convert_plain(model, cfg, tmp_path, 'skip')
    assert hls_model.graph['fc1'].get_attr('strategy') == 'resource'
    assert P.hwprune_passes_applied(hls_model) == {}
    cfg = F.hls_config(model, strategies={'fc1': 'Resource'})
    cfg['Optimizers'] = ['hwprune:strategy']
    hls_model = convert_plain(model, cfg, tmp_path, 'only')
    assert hls_model.graph['fc1'].get_attr('strategy') == 'latency'
    assert P.hwprune_passes_applied(hls_model) == {'optimize': {'hwprune:strategy'}}


def test_plain_conversion_without_opt_in_is_hls4mls_own(tmp_path):
    """Importing hwprune changes no conversion that does not ask for its passes."""
    model = F.prune(F.dense_sequential(), seed=4)
    cfg = F.hls_config(model, strategies={'fc1': 'Resource'})
    hls_model = convert_plain(model, cfg, tmp_path, 'plain', opt_in=False)
    assert hls_model.graph['fc1'].get_attr('strategy') == 'resource'
    assert P.hwprune_passes_applied(hls_model) == {}
    limits = F.parse_multiplier_limits(hls_model.config.get_output_dir())
    assert all(isinstance(v, str) and 'DIV_ROUNDUP' in v for values in limits.values() for v in values)


def test_other_backends_untouched():
    class _Config:
        backend = object()
        config = {'HLSConfig': {}}

    class _Model:
        config = _Config()

    assert not P.supported_backend(_Model())


# --------------------------------------------------------------------------------------------
# Firmware zeros against the C++ types


ZERO_CASES = [
    ('ap_fixed<8,3>', 'fixed<8,3>'),
    ('ap_fixed<8,3,AP_RND,AP_SAT>', 'fixed<8,3,RND,SAT>'),
    ('ap_fixed<8,3,AP_RND_CONV,AP_SAT>', 'fixed<8,3,RND_CONV,SAT>'),
    ('ap_fixed<8,3,AP_RND_ZERO,AP_WRAP>', 'fixed<8,3,RND_ZERO,WRAP>'),
    ('ap_fixed<8,3,AP_RND_INF,AP_SAT_ZERO>', 'fixed<8,3,RND_INF,SAT_ZERO>'),
    ('ap_fixed<8,3,AP_RND_MIN_INF,AP_SAT_SYM>', 'fixed<8,3,RND_MIN_INF,SAT_SYM>'),
    ('ap_fixed<6,2,AP_TRN_ZERO,AP_WRAP>', 'fixed<6,2,TRN_ZERO,WRAP>'),
    ('ap_ufixed<6,2,AP_RND,AP_SAT>', 'ufixed<6,2,RND,SAT>'),
    ('ap_ufixed<6,2>', 'ufixed<6,2>'),
    ('ap_int<4>', 'int<4>'),
    ('ap_uint<3>', 'uint<3>'),
]
VALUES = [0.0, 1e-4, -1e-4, 0.01, -0.01, 0.0155, -0.0155, 0.03125, -0.03125, 0.015625, -0.015625, 0.046875, 0.3,
          -0.49, 0.5, -0.5, 1.5, 4.0, -4.0, 8.0, 16.0, 15.99, -16.0, 32.0, 7.999]


@pytest.mark.slow
def test_firmware_zero_mask_matches_cpp(tmp_path):
    from hls4ml.backends.fpga.fpga_backend import FPGABackend
    from hls4ml.model.types import WeightVariable

    ap_types = Path(hls4ml.__file__).parent / 'templates' / 'vivado' / 'ap_types'
    lines, expected = ['#include <cstdio>', '#include "ap_fixed.h"', '#include "ap_int.h"', 'int main() {'], []
    for cpp_type, hls_string in ZERO_CASES:
        precision = FPGABackend.convert_precision_string(hls_string)
        var = WeightVariable('w', 'w_t', precision, np.array(VALUES))
        literals = list(var)  # the strings hls4ml writes into the weights header
        expected.extend(P.firmware_zero_mask(np.array(VALUES), precision).tolist())
        for literal in literals:
            lines.append(f'  {{ {cpp_type} v = {literal}; std::printf("%d\\n", v == 0 ? 1 : 0); }}')
    lines.append('  return 0;\n}')
    source = tmp_path / 'zeros.cpp'
    source.write_text('\n'.join(lines))
    exe = tmp_path / 'zeros'
    subprocess.run(['g++', '-std=c++14', '-O0', f'-I{ap_types}', str(source), '-o', str(exe)], check=True)
    got = [bool(int(v)) for v in subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()]
    assert got == expected


@pytest.mark.parametrize('rf', [1, 2, 5, 7, 40, 100])
def test_depthwise_reuse_factor_as_hls4ml_resolves_it(rf, tmp_path):
    """hls4ml validates a depthwise layer's RF as a (taps*C, C) multiplication; under Resource
    (pinned: hwprune would choose Latency) it uses the closest valid one, as hwprune costs it."""
    from hwprune.keras.layers import describe_layers

    keras = F.keras
    model = keras.Sequential([keras.Input((6, 6, 4)), keras.layers.DepthwiseConv2D(3, name="dw"),
                              keras.layers.Flatten(), keras.layers.Dense(2, name='out')])
    cfg = F.hls_config(model, reuse_factor=rf, strategies={'dw': 'Resource'})
    cfg['LayerName']['dw']['hwprune'] = {'pin_strategy': True}
    hls_model = convert_plain(model, cfg, tmp_path, f'rf{rf}', io_type='io_stream')
    node = hls_model.graph['dw']
    info = {i.name: i for i in describe_layers(model)}['dw']
    settings = F.target_from_hls_config(cfg, describe_layers(model), io_type='io_stream').resolve(info)
    assert node.get_attr('strategy') == settings.strategy == 'resource'
    assert node.get_attr('reuse_factor') == settings.reuse_factor
    assert node.get_attr(P.LIMIT_ATTR) == -(-36 // min(settings.reuse_factor, 36))  # block factor
