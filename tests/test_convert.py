"""``hwprune.hls.convert`` end to end with hls4ml's C simulation (g++).

For pruned models (every dead unit has a zero bias, so removing it changes no fixed-point value):
(i) the stripped firmware computes bit for bit what the unstripped firmware computes;
(ii) hls4ml agrees with Keras: exactly for QKeras models whose quantizers match the firmware
types, and for plain Keras models exactly with the Keras weights quantized like the firmware's
``ap_fixed<16,6>`` weights (and within that quantization of the float model);
(iii) the multiplier limits in ``firmware/parameters.h`` are the estimator's counts.
The quick suite compiles one pair of projects; the slow suite covers Dense/Conv1D/Conv2D, Keras
and QKeras, Sequential and functional (Add/Concatenate), io_parallel and io_stream.
"""

import copy
import logging

import numpy as np
import pytest
import tensorflow as tf

import hls_fixtures as F
from stack import HGQ, REAL_QKERAS, requires_hgq, requires_qkeras
from hwprune.hls import passes as P
from hwprune.hls.convert import ConversionError, check_config_layers, convert
from hwprune.keras.strip import strip

keras = tf.keras


def build_pair(model, cfg, tmp_path, io_type, backend='Vitis'):
    """Convert stripped (hwprune.convert) and unstripped (same passes, no Keras strip)."""
    stripped = convert(model, cfg, output_dir=str(tmp_path / 'stripped'), backend=backend, io_type=io_type)
    unstripped = convert(model, cfg, strip_model=False, output_dir=str(tmp_path / 'unstripped'), backend=backend,
                         io_type=io_type)
    return stripped, unstripped


def check_pair(model, cfg, stripped, unstripped, io_type, qkeras, parallelization=None):
    x = F.quantized_inputs(model.input_shape[1:])
    y_stripped, y_unstripped = stripped.predict(x), unstripped.predict(x)
    # (i) stripping changes no bit
    np.testing.assert_array_equal(y_stripped, y_unstripped)
    # (ii) hls4ml vs Keras
    y_keras = model.predict(x, verbose=0)
    if qkeras:
        np.testing.assert_array_equal(y_stripped.reshape(y_keras.shape), y_keras)
    else:
        y_emulated = F.firmware_keras_model(model).predict(x, verbose=0)
        np.testing.assert_allclose(y_stripped.reshape(y_keras.shape), y_emulated, rtol=0, atol=1e-4)
        # the float model: within the weight quantization (2^-10 per weight, 16 LSBs overall here)
        np.testing.assert_allclose(y_stripped.reshape(y_keras.shape), y_keras, rtol=0, atol=16 * F.LSB)
    # (iii) multiplier limits written = estimator's counts, for both
    small = strip(model)
    assert sum(layer.count_params() for layer in small.layers) < sum(layer.count_params() for layer in model.layers)
    F.check_firmware(stripped, small, cfg, io_type, parallelization)
    F.check_firmware(unstripped, model, cfg, io_type, parallelization)


# --------------------------------------------------------------------------------------------
# Quick: one compiled pair


@pytest.fixture(scope='module')
def qconv2d_pair(tmp_path_factory):
    """A QKeras functional Conv2D model on the Keras 2 stack, its float twin on Keras 3."""
    model = F.prune(F.conv2d_functional(qkeras=REAL_QKERAS, merge='add'), seed=1)
    cfg = F.hls_config(model, reuse_factor=2, strategies={'out': 'Resource'}, wide_activations=not REAL_QKERAS)
    before_cfg, before_weights = copy.deepcopy(cfg), [w.copy() for w in model.get_weights()]
    pair = build_pair(model, cfg, tmp_path_factory.mktemp('qconv2d'), 'io_parallel')
    F.compile_all(pair)
    return model, cfg, pair, before_cfg, before_weights


def test_qconv2d_functional_add_io_parallel(qconv2d_pair):
    model, cfg, (stripped, unstripped), _, _ = qconv2d_pair
    check_pair(model, cfg, stripped, unstripped, 'io_parallel', qkeras=REAL_QKERAS)
    assert stripped.graph['c0'].get_attr('n_filt') < model.get_layer('c0').filters  # really stripped


def test_user_model_and_config_untouched(qconv2d_pair):
    model, cfg, _, before_cfg, before_weights = qconv2d_pair
    assert cfg == before_cfg
    for w, before in zip(model.get_weights(), before_weights):
        np.testing.assert_array_equal(w, before)


def test_passes_ran(qconv2d_pair):
    _, _, (stripped, _), _, _ = qconv2d_pair
    applied = P.hwprune_passes_applied(stripped)
    assert applied['optimize'] == {'hwprune:strategy'} and applied['vivado:optimize'] == {'hwprune:strip'}
    for node in stripped.graph.values():
        if P.node_kind(node):
            assert isinstance(node.get_attr(P.LIMIT_ATTR), int)


@pytest.fixture(scope='module')
def separable_pair(tmp_path_factory):
    model = F.prune(F.separable_functional(qkeras=False), seed=3)
    cfg = F.hls_config(model, reuse_factor=2, strategies={'dw': 'Resource', 'sep': 'Resource'}, wide_activations=True)
    pair = build_pair(model, cfg, tmp_path_factory.mktemp('separable'), 'io_parallel')
    F.compile_all(pair)
    return model, cfg, pair


def test_depthwise_and_separable_io_parallel(separable_pair):
    model, cfg, (stripped, unstripped) = separable_pair
    check_pair(model, cfg, stripped, unstripped, 'io_parallel', qkeras=False)
    # hls4ml splits the SeparableConv into the two units hwprune prunes and costs
    for name, cls in (('dw', 'DepthwiseConv2D'), ('sep_depthwise', 'DepthwiseConv2D'),
                      ('sep_pointwise', 'PointwiseConv2D')):
        node = stripped.graph[name]
        assert node.class_name == cls and node.get_attr('strategy') == 'latency'  # Resource would ignore zeros
        assert node.get_attr(P.LIMIT_ATTR) < node.get_attr('n_chan') * node.get_attr('filt_height') * \
            node.get_attr('filt_width') * (1 if 'depthwise' in cls.lower() else node.get_attr('n_filt'))


@requires_hgq
@pytest.mark.parametrize('build, io_type', [(lambda: F.dense_sequential(hgq=True), 'io_parallel'),
                                            (F.hgq_conv2d_sequential, 'io_stream')], ids=['dense', 'conv2d'])
def test_hgq2_models_convert_bit_exact_with_estimated_limits(build, io_type, tmp_path):
    """HGQ2 (Keras 3): pruned kernels convert, the C simulation is bit-exact with Keras, and the
    multiplier limits in the firmware are what estimate counts from the quantized kernels."""
    import hwprune

    keras.utils.set_random_seed(0)
    model = F.prune(build(), seed=2)
    x = F.quantized_inputs(model.input_shape[1:], scale=1.5)
    model.predict(x, verbose=0)
    cfg = F.hls_config(model, reuse_factor=2)
    report = hwprune.estimate(model, cfg)
    hls_model = convert(model, cfg, output_dir=str(tmp_path / 'prj'), io_type=io_type, allow_da_fallback=False)
    hls_model.compile()
    np.testing.assert_array_equal(hls_model.predict(x).reshape(-1, 3), model.predict(x, verbose=0))
    for name, values in report.layers.items():
        assert hls_model.graph[name].get_attr(P.LIMIT_ATTR) == values['DSP'], name
        assert values['DSP'] > 0, name  # 10-bit weights use DSPs
    widths = {info.name: info.weight_bits for info in hwprune.keras.describe_layers(model)}
    for name, bits in widths.items():
        assert bits == hls_model.graph[name].weights['weight'].type.precision.width, name


# --------------------------------------------------------------------------------------------
# Slow: the matrix


CASES = {
    'dense_seq_keras_parallel': (lambda: F.dense_sequential(False), 'io_parallel',
                                 {'fc1': 'Resource', 'out': 'ResourceUnrolled'}, None),
    'dense_seq_qkeras_stream': (lambda: F.dense_sequential(True), 'io_stream', {'fc2': 'ResourceUnrolled'}, None),
    'dense_concat_qkeras_stream': (lambda: F.dense_functional(True, 'concat'), 'io_stream',
                                   {'fc0': 'ResourceUnrolled'}, None),
    'dense_add_keras_parallel': (lambda: F.dense_functional(False, 'add'), 'io_parallel', {}, None),
    'conv1d_seq_keras_stream': (lambda: F.conv1d_sequential(False), 'io_stream', {'c1': 'Resource'}, None),
    'conv1d_seq_qkeras_parallel': (lambda: F.conv1d_sequential(True), 'io_parallel', {'c1': 'Resource'}, {'c1': 8}),
    'conv2d_concat_keras_stream': (lambda: F.conv2d_functional(False, 'concat'), 'io_stream',
                                   {'c0': 'Resource', 'c1': 'ResourceUnrolled'}, None),
    'conv2d_add_keras_parallel': (lambda: F.conv2d_functional(False, 'add'), 'io_parallel', {'c0': 'Resource'},
                                  {'c0': 36}),
    'separable_qkeras_stream': (lambda: F.separable_functional(True), 'io_stream', {'sep': 'Resource', 'fc': 'Resource'},
                                None),
    'separable_qkeras_parallel': (lambda: F.separable_functional(True), 'io_parallel', {'dw': 'Resource'}, None),
}


@pytest.mark.slow
@pytest.mark.parametrize('case', [pytest.param(c, marks=requires_qkeras) if 'qkeras' in c else c for c in sorted(CASES)])
def test_matrix(case, tmp_path):
    build, io_type, strategies, parallelization = CASES[case]
    model = F.prune(build(), seed=sum(map(ord, case)))
    cfg = F.hls_config(model, reuse_factor=2, strategies=strategies, wide_activations='qkeras' not in case)
    for name, pf in (parallelization or {}).items():
        cfg['LayerName'][name]['ParallelizationFactor'] = pf
    backend = 'Vivado' if 'add' in case else 'Vitis'
    pair = F.compile_all(build_pair(model, cfg, tmp_path, io_type, backend))
    check_pair(model, cfg, *pair, io_type, qkeras='qkeras' in case, parallelization=parallelization)


# --------------------------------------------------------------------------------------------
# Errors and diagnostics (no compilation)


def test_unsupported_layer(tmp_path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name='fc'),
                              keras.layers.Lambda(lambda t: t * 2, name='doubler')])
    with pytest.raises(ConversionError, match="layer 'doubler'.*'Lambda'"):
        convert(model, {'Model': {'ReuseFactor': 1, 'Precision': 'fixed<16,6>'}}, output_dir=str(tmp_path))


def test_hls4ml_failure_is_wrapped_with_layer(tmp_path):
    model = F.dense_sequential()
    cfg = F.hls_config(model)
    cfg['LayerName']['fc1_relu']['Precision']['result'] = 'bogus<3>'
    with pytest.raises(ConversionError, match="layer 'fc1_relu'.*bogus<3>"):
        convert(model, cfg, output_dir=str(tmp_path))


def test_invalid_config_is_a_value_error(tmp_path):
    model = F.dense_sequential()
    cfg = F.hls_config(model)
    cfg['LayerName']['fc2']['Strategy'] = 'Fast'
    with pytest.raises(ValueError, match="'fc2'.*Fast"):
        convert(model, cfg, output_dir=str(tmp_path))


def test_config_for_another_model(tmp_path, caplog):
    model = F.dense_sequential()
    cfg = F.hls_config(model)
    cfg['LayerName']['conv9'] = {'ReuseFactor': 4}
    with caplog.at_level(logging.WARNING, logger='hwprune'):
        assert check_config_layers(model, cfg) == ['conv9']
    assert "'conv9'" in caplog.text
    assert check_config_layers(model, F.hls_config(model)) == []  # split activations (fc1_relu) are known
    with pytest.raises(ValueError, match='conv9'):
        convert(model, cfg, strict=True, output_dir=str(tmp_path))


def test_layer_without_layout_passes_through(tmp_path, caplog):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Embedding(10, 3, input_length=4, name='emb'),
                              keras.layers.Flatten(name='flat'), keras.layers.Dense(3, name='fc')])
    F.prune(model, seed=0)
    with caplog.at_level(logging.INFO, logger='hwprune'):
        hls_model = convert(model, F.hls_config(model), output_dir=str(tmp_path))
    assert "'emb' (Embedding): hwprune has no layout" in caplog.text
    assert hls_model.graph['emb'].get_attr(P.LIMIT_ATTR) is None
    assert isinstance(hls_model.graph['fc'].get_attr(P.LIMIT_ATTR), int)


def test_config_yaml_and_project_config(tmp_path):
    import yaml

    model = F.prune(F.dense_sequential(), seed=0)
    path = tmp_path / 'cfg.yml'
    path.write_text(yaml.safe_dump({'HLSConfig': F.hls_config(model), 'IOType': 'io_stream'}))
    hls_model = convert(model, str(path), output_dir=str(tmp_path / 'prj'))
    assert hls_model.config.get_config_value('IOType') == 'io_stream'


def test_bad_arguments(tmp_path):
    model = F.dense_sequential()
    with pytest.raises(TypeError, match='model'):
        convert('not a model', {}, output_dir=str(tmp_path))
    with pytest.raises(TypeError, match='hls_config'):
        convert(model, 3, output_dir=str(tmp_path))
    with pytest.raises(ValueError, match='atol'):
        convert(model, {}, atol=-1, output_dir=str(tmp_path))
    with pytest.raises(ValueError, match='backend'):
        convert(model, {}, backend='NoSuchBackend', output_dir=str(tmp_path))


def test_dead_units_quiet_after_keras_strip(tmp_path, caplog):
    model = F.prune(F.dense_sequential(), seed=2, dead_units=2)
    with caplog.at_level(logging.WARNING, logger='hwprune'):
        convert(model, F.hls_config(model), output_dir=str(tmp_path))
    assert 'all-zero weights' not in caplog.text


def test_warns_when_auto_logits_feed_a_softmax(caplog):
    import logging

    import hls4ml
    import tensorflow as tf

    from hwprune.hls.config import pin_auto_precisions
    from hwprune.hls.convert import _warn_auto_logits
    model = tf.keras.Sequential([tf.keras.layers.Input((4,)), tf.keras.layers.Dense(3, activation='softmax', name='fc')])
    cfg = hls4ml.utils.config_from_keras_model(model, granularity='name', backend='Vitis')
    with caplog.at_level(logging.WARNING):
        _warn_auto_logits(model, cfg)
    assert 'pin_auto_precisions' in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        _warn_auto_logits(model, pin_auto_precisions(cfg))
    assert caplog.text == ''


@requires_qkeras
def test_estimate_counts_qkeras_kernels_after_their_quantizer(tmp_path):
    """A QKeras weight its quantizer rounds to 0 frees its multiplier in the firmware; estimate
    must count it as hls4ml does (hwprune's limits in the converted project)."""
    from qkeras import QConv1D, QDense, quantized_bits

    import hwprune

    tf.keras.utils.set_random_seed(0)
    # 10 bits: wide enough for DSPs (hardware.DSP_MIN_WEIGHT_BITS), LSB 2^-9
    q = dict(kernel_quantizer=quantized_bits(10, 0, alpha=1), bias_quantizer=quantized_bits(10, 0, alpha=1))
    model = keras.Sequential([keras.Input((8, 2)), QConv1D(4, 3, name='qc', **q), keras.layers.Flatten(),
                              QDense(3, name='qd', **q)])
    rng = np.random.default_rng(0)
    for layer in (model.get_layer('qc'), model.get_layer('qd')):
        kernel, bias = layer.get_weights()
        kernel = rng.uniform(-0.5, 0.5, kernel.shape).astype('float32')
        kernel[rng.random(kernel.shape) < 0.4] = 5e-4  # nonzero in float, 0 after quantized_bits(10, 0)
        layer.set_weights([kernel, bias])
    cfg = F.hls_config(model, reuse_factor=2)
    report = hwprune.estimate(model, cfg)
    float_count = {name: -(-np.count_nonzero(model.get_layer(name).get_weights()[0]) // 2) for name in ('qd',)}
    hls_model = convert(model, cfg, strip_model=False, output_dir=str(tmp_path))
    for name in ('qc', 'qd'):
        assert report.layers[name]['DSP'] == hls_model.graph[name].get_attr(P.LIMIT_ATTR), name
    assert report.layers['qd']['DSP'] < float_count['qd']


def test_config_entries_for_split_units_are_explained(caplog):
    model = F.separable_functional(qkeras=False)
    cfg = F.hls_config(model)
    cfg['LayerName']['sep_pointwise'] = {'ReuseFactor': 4}
    with caplog.at_level(logging.WARNING, logger='hwprune'):
        assert check_config_layers(model, cfg, strict=True) == []
    assert "['sep_pointwise'] configures a layer hls4ml makes by splitting 'sep'" in caplog.text
