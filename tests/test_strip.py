"""Tests for ``hwprune.keras.strip.strip``: physical removal of dead units."""

import json
import logging
import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from hwprune.keras.strip import strip

keras = tf.keras
L = keras.layers
TOL = 1e-6

from stack import REAL_QKERAS, requires_qkeras  # noqa: E402

if REAL_QKERAS:
    import qkeras
    from qkeras import QActivation, QConv2D, QDense


# ------------------------------------------------------------------------------------------
# helpers


def random_inputs(model, n=32, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(n,) + tuple(t.shape[1:])).astype('float32') for t in model.inputs]


def outputs(model, xs):
    out = model(xs if len(xs) > 1 else xs[0], training=False)
    return [np.asarray(o) for o in tf.nest.flatten(out)]


def assert_same_function(original, stripped, n=32, seed=0):
    xs = random_inputs(original, n, seed)
    a, b = outputs(original, xs), outputs(stripped, xs)
    assert len(a) == len(b)
    for u, v in zip(a, b):
        assert u.shape == v.shape
        assert np.max(np.abs(u - v)) <= TOL, np.max(np.abs(u - v))


def snapshot(model):
    return ([w.numpy().copy() for w in model.weights], json.dumps(model.get_config(), default=str))


def assert_snapshot_equal(model, snap):
    weights, config = snapshot(model)
    assert config == snap[1]
    assert len(weights) == len(snap[0])
    for a, b in zip(weights, snap[0]):
        np.testing.assert_array_equal(a, b)


SEPARABLE = (L.SeparableConv1D, L.SeparableConv2D)
DEPTHWISE = (L.DepthwiseConv1D, L.DepthwiseConv2D)


def kill_units(layer, units, bias=None):
    """Zero the kernel columns of ``units`` (and set their bias); a SeparableConv's pointwise ones."""
    weights = layer.get_weights()
    k = 1 if isinstance(layer, SEPARABLE) else 0
    weights[k][..., list(units)] = 0.0
    if bias is not None and layer.use_bias:
        weights[k + 1][list(units)] = bias
    layer.set_weights(weights)


def zero_rows(layer, rows):
    """Zero the kernel rows reading input channels ``rows`` (a SeparableConv's depthwise channels)."""
    weights = layer.get_weights()
    weights[0][..., list(rows), :] = 0.0
    layer.set_weights(weights)


def set_bias(layer, values):
    weights = layer.get_weights()
    weights[1][...] = values
    layer.set_weights(weights)


def width(layer):
    return layer.units if isinstance(layer, L.Dense) else layer.filters


@pytest.fixture(autouse=True)
def _seed():
    tf.random.set_seed(1)
    np.random.seed(1)


# ------------------------------------------------------------------------------------------
# Dense chains


def test_dense_chain_dead_neurons_are_removed():
    model = keras.Sequential([L.Dense(16, activation='relu', input_shape=(5,), name='a'),
                              L.Dense(12, activation='tanh', name='b'),
                              L.Dense(3, name='out')])
    kill_units(model.get_layer('a'), [0, 3, 4, 9, 15], bias=0.25)
    kill_units(model.get_layer('b'), [2, 7], bias=-0.5)
    stripped = strip(model)
    assert isinstance(stripped, keras.Sequential)
    assert [layer.name for layer in stripped.layers] == ['a', 'b', 'out']
    assert [width(layer) for layer in stripped.layers] == [11, 10, 3]
    assert stripped.get_layer('b').kernel.shape == (11, 10)
    assert stripped.get_layer('out').kernel.shape == (10, 3)
    assert stripped.count_params() < model.count_params()
    assert_same_function(model, stripped)


def test_dead_neuron_bias_is_folded_through_relu():
    model = keras.Sequential([L.Dense(4, activation='relu', input_shape=(3,), name='a'),
                              L.Dense(2, name='b')])
    kill_units(model.get_layer('a'), [0, 2])
    set_bias(model.get_layer('a'), [0.7, 0.1, -0.4, 0.2])  # relu(0.7)=0.7, relu(-0.4)=0
    w_b, b_b = model.get_layer('b').get_weights()
    stripped = strip(model)
    new_w, new_b = stripped.get_layer('b').get_weights()
    np.testing.assert_allclose(new_w, w_b[[1, 3]])
    np.testing.assert_allclose(new_b, b_b + 0.7 * w_b[0], rtol=1e-6, atol=1e-7)
    assert_same_function(model, stripped)


def test_unused_unit_is_removed_even_if_alive():
    model = keras.Sequential([L.Dense(6, activation='relu', input_shape=(3,), name='a'),
                              L.Dense(4, activation='relu', name='b'),
                              L.Dense(2, name='c')])
    zero_rows(model.get_layer('b'), [1, 5])   # nobody reads a:1, a:5
    zero_rows(model.get_layer('c'), [0])      # nobody reads b:0 -> b:0 goes, then b's column 0 goes
    stripped = strip(model)
    assert [width(layer) for layer in stripped.layers] == [4, 3, 2]
    assert_same_function(model, stripped)


def test_unit_reading_only_dead_units_becomes_constant_too():
    model = keras.Sequential([L.Dense(4, activation='relu', input_shape=(3,), name='a'),
                              L.Dense(3, activation='relu', name='b'),
                              L.Dense(2, name='c')])
    kill_units(model.get_layer('a'), [0, 1], bias=0.3)
    w, b = model.get_layer('b').get_weights()
    w[2:, 0] = 0.0          # b:0 only reads a:0 and a:1, which are constant
    b[0] = 0.2
    model.get_layer('b').set_weights([w, b])
    stripped = strip(model)
    assert [width(layer) for layer in stripped.layers] == [2, 2, 2]
    assert_same_function(model, stripped)


def test_all_units_dead_keeps_one():
    model = keras.Sequential([L.Dense(3, activation='relu', input_shape=(4,), name='a'),
                              L.Dense(2, name='b')])
    kill_units(model.get_layer('a'), [0, 1, 2], bias=0.5)
    stripped = strip(model)
    assert width(stripped.get_layer('a')) == 1
    assert_same_function(model, stripped)


def test_non_elementwise_activation_keeps_units():
    model = keras.Sequential([L.Dense(5, activation='softmax', input_shape=(3,), name='a'),
                              L.Dense(2, name='b')])
    kill_units(model.get_layer('a'), [1], bias=0.3)
    assert width(strip(model).get_layer('a')) == 5
    zero_rows(model.get_layer('b'), [1])  # unused inputs still cannot go: softmax couples them
    assert width(strip(model).get_layer('a')) == 5


def test_atol_treats_small_weights_as_zero():
    model = keras.Sequential([L.Dense(4, activation='relu', input_shape=(3,), name='a'),
                              L.Dense(2, name='b')])
    w, b = model.get_layer('a').get_weights()
    w[:, 1] = 1e-4
    model.get_layer('a').set_weights([w, b])
    assert width(strip(model).get_layer('a')) == 4
    assert width(strip(model, atol=1e-3).get_layer('a')) == 3


def test_consumer_without_bias_gets_one():
    model = keras.Sequential([L.Dense(4, activation='relu', input_shape=(3,), name='a'),
                              L.Dense(2, use_bias=False, name='b')])
    kill_units(model.get_layer('a'), [3], bias=0.6)
    stripped = strip(model)
    assert stripped.get_layer('b').use_bias
    assert width(stripped.get_layer('a')) == 3
    assert not model.get_layer('b').use_bias
    assert_same_function(model, stripped)


# ------------------------------------------------------------------------------------------
# BatchNormalization


def test_batchnorm_dead_channel_and_zero_gamma():
    inp = keras.Input((4,), name='x')
    h = L.Dense(8, name='a')(inp)
    h = L.BatchNormalization(name='bn')(h)
    h = L.Activation('relu', name='act')(h)
    out = L.Dense(3, name='out')(h)
    model = keras.Model(inp, out)
    kill_units(model.get_layer('a'), [1], bias=0.4)
    gamma, beta, mean, var = model.get_layer('bn').get_weights()
    gamma[:] = np.linspace(0.5, 1.5, 8)
    gamma[5] = 0.0
    beta[:] = np.linspace(-0.3, 0.4, 8)
    mean[:] = np.linspace(-0.2, 0.2, 8)
    var[:] = np.linspace(0.5, 2.0, 8)
    model.get_layer('bn').set_weights([gamma, beta, mean, var])
    stripped = strip(model)
    assert width(stripped.get_layer('a')) == 6
    new_bn = stripped.get_layer('bn').get_weights()
    np.testing.assert_array_equal(new_bn[0], np.delete(gamma, [1, 5]))
    np.testing.assert_array_equal(new_bn[3], np.delete(var, [1, 5]))
    assert stripped.get_layer('out').kernel.shape == (6, 3)
    assert_same_function(model, stripped)


# ------------------------------------------------------------------------------------------
# Convolutions, Flatten, pooling


def test_conv2d_flatten_dense_uses_nhwc_order():
    model = keras.Sequential([L.Conv2D(6, 3, activation='relu', input_shape=(7, 7, 2), name='c1'),
                              L.Conv2D(5, 3, name='c2'),
                              L.Flatten(name='flat'),
                              L.Dense(3, name='out')])
    kill_units(model.get_layer('c1'), [2], bias=0.3)    # folded into c2 (valid padding)
    kill_units(model.get_layer('c2'), [0, 3], bias=0.2)  # folded into out through Flatten
    w_out, b_out = model.get_layer('out').get_weights()
    stripped = strip(model)
    assert width(stripped.get_layer('c1')) == 5
    assert width(stripped.get_layer('c2')) == 3
    # channel c of the 3x3x5 map sits at flat rows c + 5 * k
    rows = [r for r in range(45) if r % 5 not in (0, 3)]
    np.testing.assert_array_equal(stripped.get_layer('out').get_weights()[0], w_out[rows])
    removed = [r for r in range(45) if r % 5 in (0, 3)]
    np.testing.assert_allclose(stripped.get_layer('out').get_weights()[1],
                               b_out + 0.2 * w_out[removed].sum(axis=0), rtol=1e-5, atol=1e-6)
    assert_same_function(model, stripped)


def test_same_padding_consumer_keeps_nonzero_constant():
    model = keras.Sequential([L.Conv2D(4, 3, padding='same', activation='relu', input_shape=(6, 6, 2), name='c1'),
                              L.Conv2D(3, 3, padding='same', name='c2'),
                              L.GlobalAveragePooling2D(name='gap'),
                              L.Dense(2, name='out')])
    kill_units(model.get_layer('c1'), [0], bias=0.5)   # constant 0.5: not foldable at the borders
    kill_units(model.get_layer('c1'), [1], bias=-0.5)  # relu -> constant 0: nothing to fold
    stripped = strip(model)
    assert width(stripped.get_layer('c1')) == 3
    assert stripped.get_layer('c2').kernel.shape[2] == 3
    assert_same_function(model, stripped)


def test_conv1d_with_pooling_and_global_pooling():
    model = keras.Sequential([L.Conv1D(6, 3, activation='relu', input_shape=(20, 3), name='c1'),
                              L.MaxPooling1D(2, name='pool'),
                              L.Dropout(0.3, name='drop'),
                              L.Conv1D(5, 3, activation='relu', name='c2'),
                              L.AveragePooling1D(2, padding='same', name='avg'),
                              L.GlobalMaxPooling1D(name='gmp'),
                              L.Dense(2, name='out')])
    kill_units(model.get_layer('c1'), [1, 4], bias=0.3)
    kill_units(model.get_layer('c2'), [2], bias=0.1)
    stripped = strip(model)
    assert width(stripped.get_layer('c1')) == 4
    assert width(stripped.get_layer('c2')) == 4
    assert_same_function(model, stripped)


def test_zero_padding_blocks_nonzero_constants_only():
    model = keras.Sequential([L.Conv2D(4, 1, activation='relu', input_shape=(5, 5, 2), name='c1'),
                              L.ZeroPadding2D(1, name='pad'),
                              L.UpSampling2D(2, name='up'),
                              L.Conv2D(3, 3, name='c2'),
                              L.Flatten(name='flat'),
                              L.Dense(2, name='out')])
    kill_units(model.get_layer('c1'), [0], bias=0.5)   # 0.5 inside, 0 in the padding: not constant
    kill_units(model.get_layer('c1'), [3], bias=-1.0)  # relu -> 0, also 0 in the padding
    stripped = strip(model)
    assert width(stripped.get_layer('c1')) == 3
    assert_same_function(model, stripped)


def test_reshape_keeping_channels_and_reshape_to_vector():
    inp = keras.Input((4, 4, 3), name='x')
    h = L.Conv2D(6, 1, activation='relu', name='c1')(inp)
    h = L.Reshape((16, 6), name='to_seq')(h)
    h = L.Conv1D(5, 2, name='c2')(h)
    h = L.Reshape((-1,), name='to_vec')(h)
    out = L.Dense(2, name='out')(h)
    model = keras.Model(inp, out)
    kill_units(model.get_layer('c1'), [1, 2], bias=0.2)
    kill_units(model.get_layer('c2'), [4], bias=0.3)
    stripped = strip(model)
    assert stripped.get_layer('to_seq').target_shape == (16, 4)
    assert width(stripped.get_layer('c1')) == 4
    assert width(stripped.get_layer('c2')) == 4
    assert stripped.get_layer('out').kernel.shape == (15 * 4, 2)
    assert_same_function(model, stripped)


def test_reshape_mixing_channels_is_a_barrier():
    inp = keras.Input((6,), name='x')
    h = L.Dense(8, activation='relu', name='a')(inp)
    h = L.Reshape((2, 4), name='mix')(h)
    h = L.Flatten(name='flat')(h)
    out = L.Dense(2, name='out')(h)
    model = keras.Model(inp, out)
    kill_units(model.get_layer('a'), [3], bias=0.2)
    stripped = strip(model)
    assert width(stripped.get_layer('a')) == 8
    assert_same_function(model, stripped)


# ------------------------------------------------------------------------------------------
# Merges


def test_add_keeps_channel_dead_in_one_branch_only():
    inp = keras.Input((5,), name='x')
    a = L.Dense(8, activation='relu', name='a')(inp)
    b = L.Dense(8, activation='relu', name='b')(inp)
    s = L.Add(name='add')([a, b])
    out = L.Dense(3, name='out')(s)
    model = keras.Model(inp, out)
    kill_units(model.get_layer('a'), [2, 5], bias=0.3)
    kill_units(model.get_layer('b'), [5, 7], bias=0.1)
    stripped = strip(model)
    assert width(stripped.get_layer('a')) == 7   # only channel 5 is dead in both
    assert width(stripped.get_layer('b')) == 7
    assert stripped.get_layer('out').kernel.shape == (7, 3)
    assert_same_function(model, stripped)


@pytest.mark.parametrize('merge', [L.Subtract, L.Multiply, L.Maximum])
def test_other_merges(merge):
    inp = keras.Input((5,), name='x')
    a = L.Dense(6, activation='tanh', name='a')(inp)
    b = L.Dense(6, activation='tanh', name='b')(inp)
    out = L.Dense(2, name='out')(merge(name='merge')([a, b]))
    model = keras.Model(inp, out)
    kill_units(model.get_layer('a'), [0, 4], bias=0.3)
    kill_units(model.get_layer('b'), [4], bias=-0.2)
    stripped = strip(model)
    assert width(stripped.get_layer('a')) == 5
    assert_same_function(model, stripped)


def test_concatenate_offsets():
    inp = keras.Input((5,), name='x')
    a = L.Dense(4, activation='relu', name='a')(inp)
    b = L.Dense(5, activation='relu', name='b')(inp)
    c = L.Concatenate(name='cat')([a, b])
    out = L.Dense(2, name='out')(c)
    model = keras.Model(inp, out)
    kill_units(model.get_layer('a'), [1], bias=0.0)
    kill_units(model.get_layer('b'), [3], bias=0.0)
    w_out = model.get_layer('out').get_weights()[0]
    stripped = strip(model)
    assert (width(stripped.get_layer('a')), width(stripped.get_layer('b'))) == (3, 4)
    np.testing.assert_array_equal(stripped.get_layer('out').get_weights()[0], np.delete(w_out, [1, 4 + 3], axis=0))
    assert_same_function(model, stripped)


def test_multi_input_multi_output_model():
    x1 = keras.Input((4,), name='x1')
    x2 = keras.Input((3,), name='x2')
    a = L.Dense(6, activation='relu', name='a')(x1)
    b = L.Dense(6, activation='relu', name='b')(x2)
    h = L.Concatenate(name='cat')([a, b])
    h = L.Dense(5, activation='relu', name='h')(h)
    y1 = L.Dense(2, name='y1')(h)
    y2 = L.Dense(3, name='y2')(a)
    model = keras.Model([x1, x2], [y1, y2])
    kill_units(model.get_layer('a'), [0], bias=0.2)
    kill_units(model.get_layer('b'), [1, 2], bias=0.3)
    kill_units(model.get_layer('h'), [4], bias=0.1)
    kill_units(model.get_layer('y2'), [1], bias=0.1)   # an output: keeps its width
    stripped = strip(model)
    assert [t.name for t in stripped.inputs] == [t.name for t in model.inputs]
    assert width(stripped.get_layer('a')) == 5
    assert width(stripped.get_layer('b')) == 4
    assert width(stripped.get_layer('h')) == 4
    assert width(stripped.get_layer('y2')) == 3
    assert_same_function(model, stripped)


# ------------------------------------------------------------------------------------------
# Outputs, original model, unknown layers, errors


def test_output_layers_keep_their_width():
    inp = keras.Input((4,), name='x')
    h = L.Dense(5, activation='relu', name='h')(inp)
    aux = L.Dense(4, activation='relu', name='aux')(h)   # output *and* read by `out`
    out = L.Dense(3, name='out')(aux)
    model = keras.Model(inp, [out, aux])
    kill_units(model.get_layer('out'), [1], bias=0.5)
    kill_units(model.get_layer('aux'), [0], bias=0.5)
    stripped = strip(model)
    assert width(stripped.get_layer('out')) == 3
    assert width(stripped.get_layer('aux')) == 4
    assert_same_function(model, stripped)


def test_original_model_is_untouched():
    model = keras.Sequential([L.Dense(8, activation='relu', input_shape=(4,), name='a'),
                              L.BatchNormalization(name='bn'),
                              L.Dense(6, use_bias=False, name='b'),
                              L.Dense(2, name='c')])
    kill_units(model.get_layer('a'), [0, 1], bias=0.4)
    before = snapshot(model)
    calls = lambda layer: len(getattr(layer, 'inbound_nodes', None) or layer._inbound_nodes)  # noqa: E731
    nodes_before = [calls(layer) for layer in model.layers]
    x = random_inputs(model)
    y_before = outputs(model, x)
    stripped = strip(model)
    assert width(stripped.get_layer('a')) == 6
    assert_snapshot_equal(model, before)
    np.testing.assert_array_equal(outputs(model, x)[0], y_before[0])
    assert all(a is not b for a in model.layers for b in stripped.layers)
    assert [calls(layer) for layer in model.layers] == nodes_before
    assert not set(map(id, model.weights)) & set(map(id, stripped.weights))


class Scale(L.Layer):
    """A custom per-channel scale: unknown to ``strip``."""

    def build(self, input_shape):
        self.scale = self.add_weight(name='scale', shape=(input_shape[-1],), initializer='ones')

    def call(self, inputs):
        return inputs * self.scale


def test_unknown_custom_layer_is_a_barrier(caplog):
    inp = keras.Input((4,), name='x')
    h = L.Dense(6, activation='relu', name='a')(inp)
    h = Scale(name='scale')(h)
    h = L.Dense(5, activation='relu', name='b')(h)
    out = L.Dense(2, name='out')(h)
    model = keras.Model(inp, out)
    model.get_layer('scale').set_weights([np.linspace(0.5, 2.0, 6).astype('float32')])
    kill_units(model.get_layer('a'), [2], bias=0.3)
    kill_units(model.get_layer('b'), [1], bias=0.3)
    with caplog.at_level(logging.INFO, logger='hwprune.keras.strip'):
        stripped = strip(model)
    assert width(stripped.get_layer('a')) == 6
    assert width(stripped.get_layer('b')) == 4
    assert isinstance(stripped.get_layer('scale'), Scale)
    assert stripped.get_layer('scale') is not model.get_layer('scale')
    assert any("'scale'" in record.getMessage() for record in caplog.records)
    assert_same_function(model, stripped)


def test_argument_errors():
    model = keras.Sequential([L.Dense(2, input_shape=(3,))])
    with pytest.raises(TypeError, match='Invalid value for argument `model`'):
        strip('not a model')
    with pytest.raises(ValueError, match='Invalid value for argument `atol`'):
        strip(model, atol=-1.0)
    with pytest.raises(TypeError, match='Invalid value for argument `atol`'):
        strip(model, atol='0')
    with pytest.raises(ValueError, match='built Sequential'):
        strip(keras.Sequential([L.Dense(2)]))

    class Sub(keras.Model):
        def __init__(self):
            super().__init__()
            self.d = L.Dense(2)

        def call(self, x):
            return self.d(x)

    sub = Sub()
    sub(np.zeros((1, 3), 'float32'))
    with pytest.raises(TypeError, match='subclassed'):
        strip(sub)


def test_sequential_built_without_input_layer():
    model = keras.Sequential([L.Dense(6, activation='relu', name='a'), L.Dense(2, name='b')])
    model.build((None, 3))
    kill_units(model.get_layer('a'), [0, 5], bias=0.2)
    stripped = strip(model)
    assert width(stripped.get_layer('a')) == 4
    assert_same_function(model, stripped)


# ------------------------------------------------------------------------------------------
# QKeras


def _qdense_model(bias_bits=(8, 3)):
    kq = 'quantized_bits(6,0,alpha=1)'
    bq = f'quantized_bits({bias_bits[0]},{bias_bits[1]},alpha=1)'
    return keras.Sequential([
        QDense(8, kernel_quantizer=kq, bias_quantizer=bq, input_shape=(5,), name='q1'),
        QActivation('quantized_relu(4,2)', name='qa1'),
        QDense(6, kernel_quantizer=kq, bias_quantizer=bq, name='q2'),
        QActivation('quantized_relu(4,2)', name='qa2'),
        QDense(3, kernel_quantizer=kq, bias_quantizer=bq, name='out'),
    ])


@requires_qkeras
def test_qkeras_dense_dead_units_zero_constant():
    model = _qdense_model()
    kill_units(model.get_layer('q1'), [0, 3], bias=-0.5)   # quantized_relu -> constant 0
    kill_units(model.get_layer('q2'), [2], bias=-0.25)
    stripped = strip(model)
    assert width(stripped.get_layer('q1')) == 6
    assert width(stripped.get_layer('q2')) == 5
    for name in ('q1', 'q2', 'out'):
        assert stripped.get_layer(name).get_config()['kernel_quantizer'] == model.get_layer(name).get_config()['kernel_quantizer']
        assert stripped.get_layer(name).get_config()['bias_quantizer'] == model.get_layer(name).get_config()['bias_quantizer']
    assert isinstance(stripped.get_layer('qa1'), QActivation)
    assert_same_function(model, stripped)


@requires_qkeras
def test_qkeras_nonzero_constant_needs_a_representable_bias():
    # coarse bias grid (1/16): a folded 0.75 * w (w on a 1/32 grid) does not fit -> kept
    model = _qdense_model(bias_bits=(8, 3))
    kill_units(model.get_layer('q1'), [1], bias=0.75)
    w = model.get_layer('q2').get_weights()
    w[0][1, :] = np.array([0.03125, -0.5, 0.25, 0.125, 0.0, 0.0625], 'float32')
    model.get_layer('q2').set_weights(w)
    assert width(strip(model).get_layer('q1')) == 8
    # fine bias grid: the fold is exact -> removed
    fine = _qdense_model(bias_bits=(16, 5))
    fine.set_weights(model.get_weights())
    stripped = strip(fine)
    assert width(stripped.get_layer('q1')) == 7
    assert_same_function(fine, stripped)


@requires_qkeras
@pytest.mark.parametrize('big, expected', [(0.05, 6), (0.9, 7)])
def test_qkeras_auto_po2_scale_is_preserved(big, expected):
    # QDense turns quantized_bits(4,0,1) into alpha='auto_po2': each kernel column gets a
    # power-of-two scale computed from all its weights. A removed row holding the largest weight
    # of a column would change that scale, so that row (q1:2) must stay.
    q = dict(kernel_quantizer='quantized_bits(4,0,1)', bias_quantizer='quantized_bits(4,0,1)')
    model = keras.Sequential([QDense(8, input_shape=(5,), name='q1', **q),
                              QActivation('quantized_relu(3,1)', name='qa1'),
                              QDense(3, name='out', **q)])
    assert model.get_layer('q1').kernel_quantizer_internal.alpha == 'auto_po2'
    kill_units(model.get_layer('q1'), [2, 6])
    set_bias(model.get_layer('q1'), [0.75, 0.1, -0.5, 0.2, -0.3, 0.05, -0.5, 0.4])  # 2, 6 -> relu 0
    w, b = model.get_layer('out').get_weights()
    w[:] = np.random.default_rng(0).uniform(-0.1, 0.1, w.shape)
    w[2] = big
    model.get_layer('out').set_weights([w, b])
    stripped = strip(model)
    assert width(stripped.get_layer('q1')) == expected
    assert_same_function(model, stripped)


@requires_qkeras
def test_qkeras_conv2d_flatten_dense():
    kq = 'quantized_bits(6,0,alpha=1)'
    bq = 'quantized_bits(10,3,alpha=1)'
    model = keras.Sequential([
        QConv2D(6, 3, kernel_quantizer=kq, bias_quantizer=bq, input_shape=(6, 6, 2), name='qc1'),
        QActivation('quantized_relu(4,2)', name='qa1'),
        L.MaxPooling2D(2, name='pool'),
        QConv2D(4, 1, kernel_quantizer=kq, bias_quantizer=bq, name='qc2'),
        QActivation('quantized_relu(4,2)', name='qa2'),
        L.Flatten(name='flat'),
        QDense(3, kernel_quantizer=kq, bias_quantizer=bq, name='out'),
    ])
    kill_units(model.get_layer('qc1'), [0, 5], bias=-0.25)
    kill_units(model.get_layer('qc2'), [1], bias=-1.0)
    stripped = strip(model)
    assert width(stripped.get_layer('qc1')) == 4
    assert width(stripped.get_layer('qc2')) == 3
    assert stripped.get_layer('out').kernel.shape == (2 * 2 * 3, 3)
    assert_same_function(model, stripped)


# ------------------------------------------------------------------------------------------
# Random graphs (property tests)


@st.composite
def model_specs(draw, allow_quantized=True):
    family = draw(st.sampled_from(['dense', 'conv1d', 'conv2d']))
    functional = draw(st.booleans())
    blocks = []
    for _ in range(draw(st.integers(1, 3))):
        blocks.append(dict(
            width=draw(st.integers(1, 6)),
            use_bias=draw(st.booleans()),
            padding=draw(st.sampled_from(['valid', 'same'])),
            bn=draw(st.booleans()),
            act=draw(st.sampled_from(['linear', 'relu', 'tanh', 'sigmoid'])),
            extra=draw(st.sampled_from([None, 'dropout', 'pool', 'avgpool', 'zeropad', 'upsample'])),
            merge=draw(st.sampled_from([None, 'add', 'concat', 'multiply', 'subtract'])) if functional else None,
            n_dead=draw(st.integers(0, 6)),
            n_unused=draw(st.integers(0, 3)),
            dead_bias=draw(st.sampled_from([0.0, 0.3, -0.3, 'random'])),
            n_gamma0=draw(st.integers(0, 2)),
            sep=draw(st.sampled_from([None, None, 'depthwise', 'separable'])) if family != 'dense' else None,
        ))
    return dict(
        family=family, functional=functional, blocks=blocks,
        quantized=allow_quantized and REAL_QKERAS and draw(st.booleans()),
        head=draw(st.sampled_from(['flatten', 'gap', 'gmp'])),
        out_width=draw(st.integers(1, 3)),
        second_output=functional and draw(st.booleans()),
        second_input=functional and draw(st.booleans()),
        seed=draw(st.integers(0, 2 ** 31 - 1)),
    )


def build_model(spec):
    rng = np.random.default_rng(spec['seed'])
    family, quantized = spec['family'], spec['quantized']
    shape = {'dense': (5,), 'conv1d': (12, 3), 'conv2d': (8, 8, 2)}[family]
    kq, bq, aq = 'quantized_bits(8,1,alpha=1)', 'quantized_bits(12,4,alpha=1)', 'quantized_relu(8,2)'
    counter = iter(range(1000))

    def weight_layer(block, name):
        n = block['width']
        common = dict(use_bias=block['use_bias'], name=name)
        if quantized:
            common.update(kernel_quantizer=kq, bias_quantizer=bq)
        if family == 'dense':
            return (QDense if quantized else L.Dense)(n, **common)
        if block.get('sep') == 'separable':
            if quantized:
                common = dict(common, depthwise_quantizer=common.pop('kernel_quantizer'), pointwise_quantizer=kq)
                cls = qkeras.QSeparableConv1D if family == 'conv1d' else qkeras.QSeparableConv2D
            else:
                cls = L.SeparableConv1D if family == 'conv1d' else L.SeparableConv2D
            return cls(n, 2, padding=block['padding'], **common)
        if family == 'conv1d':
            return (qkeras.QConv1D if quantized else L.Conv1D)(n, 2, padding=block['padding'], **common)
        return (QConv2D if quantized else L.Conv2D)(n, 2, padding=block['padding'], **common)

    def depthwise_layer(block, name):
        common = dict(use_bias=block['use_bias'], name=name, padding=block['padding'])
        if quantized and family == 'conv2d':
            return qkeras.QDepthwiseConv2D(2, depthwise_quantizer=kq, bias_quantizer=bq, **common)
        return (L.DepthwiseConv1D if family == 'conv1d' else L.DepthwiseConv2D)(2, **common)

    def activation(block, name):
        if quantized and block['act'] != 'linear':
            return QActivation(aq, name=name)
        return L.Activation(block['act'], name=name)

    def extra(block, h, name):
        kind = block['extra']
        if kind == 'dropout':
            return L.Dropout(0.5, name=name)(h)
        if family == 'dense' or kind is None:
            return h
        two_d = family == 'conv2d'
        if kind in ('pool', 'avgpool') and h.shape[1] >= 2:
            cls = {'pool': (L.MaxPooling1D, L.MaxPooling2D), 'avgpool': (L.AveragePooling1D, L.AveragePooling2D)}[kind]
            return cls[two_d](2, padding='same', name=name)(h)
        if kind == 'zeropad':
            return (L.ZeroPadding2D if two_d else L.ZeroPadding1D)(1, name=name)(h)
        if kind == 'upsample' and h.shape[1] <= 8:
            return (L.UpSampling2D if two_d else L.UpSampling1D)(2, name=name)(h)
        return h

    def block_out(block, h, tag):
        h = weight_layer(block, f'w{tag}')(h)
        if block.get('sep') == 'depthwise':
            h = depthwise_layer(block, f'dw{tag}')(h)
        if block['bn']:
            h = L.BatchNormalization(name=f'bn{tag}')(h)
        h = activation(block, f'act{tag}')(h)
        return extra(block, h, f'extra{tag}')

    inp = keras.Input(shape, name='x')
    inputs = [inp]
    h = inp
    taps = []
    for i, block in enumerate(spec['blocks']):
        if spec['second_input'] and i == 0:
            extra_in = keras.Input(shape, name='x2')
            inputs.append(extra_in)
            side = L.Dense(3, name='side')(extra_in) if family == 'dense' else (
                L.Conv1D if family == 'conv1d' else L.Conv2D)(3, 1, name='side')(extra_in)
            h = L.Concatenate(name='cat_in')([h, side])
        if block['merge'] is None:
            h = block_out(block, h, i)
        else:
            a = block_out(block, h, f'{i}a')
            b = block_out(dict(block, extra=None if block['merge'] != 'concat' else block['extra']), h, f'{i}b')
            if a.shape[1:] != b.shape[1:] and block['merge'] != 'concat':
                b = block_out(dict(block, extra=block['extra']), h, f'{i}c')
            if block['merge'] == 'concat':
                if a.shape[1:-1] != b.shape[1:-1]:
                    h = a
                else:
                    h = L.Concatenate(name=f'm{i}')([a, b])
            else:
                if a.shape[1:] != b.shape[1:]:
                    h = a
                else:
                    cls = {'add': L.Add, 'multiply': L.Multiply, 'subtract': L.Subtract}[block['merge']]
                    h = cls(name=f'm{i}')([a, b])
        taps.append(h)
    if family != 'dense':
        head = spec['head']
        two_d = family == 'conv2d'
        if head == 'flatten':
            h = L.Flatten(name='flat')(h)
        elif head == 'gap':
            h = (L.GlobalAveragePooling2D if two_d else L.GlobalAveragePooling1D)(name='gap')(h)
        else:
            h = (L.GlobalMaxPooling2D if two_d else L.GlobalMaxPooling1D)(name='gmp')(h)
    outs = [L.Dense(spec['out_width'], name='out')(h)]
    if spec['second_output']:
        t = taps[0]
        if family != 'dense':
            t = L.Flatten(name='flat2')(t)
        outs.append(L.Dense(2, name='out2')(t))
    model = keras.Model(inputs, outs)
    if not spec['functional']:  # a chain: the same layers as a Sequential model
        model = keras.Sequential([keras.Input(shape, name='x')] + model.layers[1:])

    # random weights of moderate size, then kill units
    for layer in model.layers:
        weights = layer.get_weights()
        if isinstance(layer, (L.Dense, L.Conv1D, L.Conv2D)):
            fan_in = int(np.prod(weights[0].shape[:-1]))
            weights[0] = rng.uniform(-1, 1, weights[0].shape).astype('float32') / np.sqrt(fan_in)
            if layer.use_bias:
                weights[1] = rng.uniform(-0.3, 0.3, weights[1].shape).astype('float32')
        elif isinstance(layer, SEPARABLE + DEPTHWISE):
            weights = [rng.uniform(-0.7, 0.7, w.shape).astype('float32') for w in weights]
        elif isinstance(layer, L.BatchNormalization):
            c = weights[0].shape[0]
            weights = [rng.uniform(0.5, 1.5, c), rng.uniform(-0.3, 0.3, c), rng.uniform(-0.3, 0.3, c),
                       rng.uniform(0.5, 1.5, c)]
            weights = [w.astype('float32') for w in weights]
        layer.set_weights(weights)
    blocks = {f'w{i}{s}': b for i, b in enumerate(spec['blocks']) for s in ('', 'a', 'b', 'c')}
    for layer in model.layers:
        if isinstance(layer, DEPTHWISE):  # dead depthwise channels: their output is the bias
            block = blocks[layer.name.replace('dw', 'w', 1)]
            c = layer.get_weights()[0].shape[-2]
            zero_rows(layer, rng.choice(c, size=min(block['n_unused'], c), replace=False))
        block = blocks.get(layer.name)
        if block is None:
            continue
        n = width(layer)
        dead = rng.choice(n, size=min(block['n_dead'], n), replace=False)
        bias = block['dead_bias']
        bias = rng.uniform(-0.5, 0.5, len(dead)).astype('float32') if bias == 'random' else bias
        kill_units(layer, dead, bias=bias)
        cin = layer.get_weights()[0].shape[-2]
        zero_rows(layer, rng.choice(cin, size=min(block['n_unused'], cin), replace=False))
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            weights = layer.get_weights()
            c = weights[0].shape[0]
            weights[0][rng.choice(c, size=min(spec['blocks'][0]['n_gamma0'], c), replace=False)] = 0.0
            layer.set_weights(weights)
    return model


def check_strip(spec, idempotent=False):
    keras.backend.clear_session()
    try:
        model = build_model(spec)
    except ValueError as error:  # Keras 3 refuses layers whose output would be empty; Keras 2 built them
        assume('would be zero or negative' not in str(error))
        raise
    before = snapshot(model)
    stripped = strip(model)
    assert type(stripped) is type(model)
    assert [layer.name for layer in stripped.layers] == [layer.name for layer in model.layers]
    assert stripped.count_params() <= model.count_params() + sum(
        width(layer) for layer in model.layers if isinstance(layer, (L.Dense, L.Conv1D, L.Conv2D) + SEPARABLE))
    for old, new in zip(model.layers, stripped.layers):
        if isinstance(old, (L.Dense, L.Conv1D, L.Conv2D) + SEPARABLE):
            assert 1 <= width(new) <= width(old)
    for old_t, new_t in zip(model.outputs, stripped.outputs):
        assert tuple(old_t.shape) == tuple(new_t.shape)
    assert_same_function(model, stripped, seed=spec['seed'] % 1000)
    assert_snapshot_equal(model, before)
    # Dense-only Sequential chains without quantizers: every dead hidden unit is gone
    if spec['family'] == 'dense' and not spec['functional'] and not spec['quantized']:
        for old, new in zip(model.layers, stripped.layers):
            if isinstance(old, L.Dense) and old.name != 'out':
                dead = int(np.all(old.get_weights()[0] == 0, axis=0).sum())
                assert width(new) <= max(1, width(old) - dead)
    if idempotent and not spec['quantized']:
        again = strip(stripped)
        assert [w.shape for w in again.weights] == [w.shape for w in stripped.weights]
    return model, stripped


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model_specs())
def test_random_models_quick(spec):
    check_strip(spec)


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model_specs())
def test_random_models_property(spec):
    check_strip(spec, idempotent=True)


def _depthwise_model(padding='valid', quantized=False):
    tf.keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 6, 2))
    if quantized:
        q = 'quantized_bits(8,1,alpha=1)'
        conv = QConv2D(5, 1, activation='relu', name='c0', kernel_quantizer=q, bias_quantizer=q)
        dw = qkeras.QDepthwiseConv2D(3, padding=padding, name='dw', depthwise_quantizer=q, bias_quantizer=q)
        sep = qkeras.QSeparableConv2D(4, 2, name='sep', depthwise_quantizer=q, pointwise_quantizer=q,
                                      bias_quantizer=q)
    else:
        conv = keras.layers.Conv2D(5, 1, activation='relu', name='c0')
        dw = keras.layers.DepthwiseConv2D(3, padding=padding, name='dw')
        sep = keras.layers.SeparableConv2D(4, 2, name='sep')
    h = conv(inputs)
    h = dw(h)
    h = keras.layers.Activation('relu', name='a1')(h)
    h = sep(h)
    h = keras.layers.Activation('relu', name='a2')(h)
    h = keras.layers.Flatten(name='flat')(h)
    h = keras.layers.Dense(6, activation='relu', name='fc')(h)
    return keras.Model(inputs, keras.layers.Dense(2, name='out')(h))


def _set(model, name, index, where, value=0.0):
    weights = model.get_layer(name).get_weights()
    weights[index][where] = value
    model.get_layer(name).set_weights(weights)


@pytest.mark.parametrize('quantized', [False, pytest.param(True, marks=requires_qkeras)])
@pytest.mark.parametrize('padding', ['valid', 'same'])
def test_depthwise_and_separable_channels_are_stripped(padding, quantized):
    model = _depthwise_model(padding, quantized)
    _set(model, 'c0', 0, (Ellipsis, 1))           # c0 filter 1 dead, bias 0.5: a constant channel ...
    _set(model, 'c0', 1, 1, 0.5)                  # ... through the depthwise layer (folds if 'valid')
    _set(model, 'dw', 0, (Ellipsis, 3, 0))        # depthwise channel 3 dead: its output is relu(bias)
    _set(model, 'sep', 1, (Ellipsis, 0, slice(None)))  # pointwise never reads channel 0
    _set(model, 'sep', 1, (Ellipsis, 2))          # separable filter 2 dead
    _set(model, 'sep', 2, 2, 0.0)
    small = strip(model)
    # channels 0 (unread) and 3 (constant) go in c0, dw and sep's depthwise kernel; channel 1 too when
    # the constant folds exactly (valid padding)
    expected = 2 if padding == 'valid' else 3
    assert small.get_layer('c0').filters == expected
    dw = small.get_layer('dw')
    dw_kernel = dw.depthwise_kernel if hasattr(dw, 'depthwise_kernel') else dw.kernel  # Keras 3: `kernel`
    assert dw_kernel.shape[-2] == expected
    assert small.get_layer('sep').depthwise_kernel.shape[-2] == expected
    assert small.get_layer('sep').filters == 3
    side = 3 if padding == 'valid' else 5
    assert small.get_layer('fc').kernel.shape[0] == side * side * 3
    assert_same_function(model, small, seed=1)


def test_depthwise_with_depth_multiplier_is_a_barrier():
    inputs = keras.Input((5, 5, 2))
    h = keras.layers.Conv2D(3, 1, name='c0')(inputs)
    h = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, name='dw')(h)
    model = keras.Model(inputs, keras.layers.Dense(2, name='out')(keras.layers.Flatten()(h)))
    _set(model, 'c0', 0, (Ellipsis, 0))
    _set(model, 'c0', 1, 0, 0.0)
    small = strip(model)
    assert small.get_layer('c0').filters == 3
    assert_same_function(model, small, seed=2)


_BLOCK = dict(width=1, use_bias=False, padding='valid', bn=False, act='linear', extra=None, merge=None, n_dead=0,
              n_unused=0, dead_bias=0.0, n_gamma0=0)


@pytest.mark.parametrize('blocks,layer,expected', [
    # the downstream reads nothing: w0 keeps one channel, a live one, not its dead unit
    ([dict(_BLOCK, width=3, n_dead=1), dict(_BLOCK), dict(_BLOCK, n_unused=1)], 'w0', 2),
    # BN gamma 0 makes w1's only live unit constant: one group kept for w1's and bn1's outputs
    ([dict(_BLOCK, width=5, n_gamma0=1), dict(_BLOCK, width=4, bn=True, n_dead=3), dict(_BLOCK)], 'w1', 1),
])
def test_channel_kept_for_a_layer_is_a_varying_one(blocks, layer, expected):
    """Found by the property test: when every channel of a tensor could go, the one kept must not
    be a dead (constant) unit, which would then stay instead of being folded, nor one per tensor."""
    spec = dict(family='dense', functional=False, quantized=False, head='flatten', out_width=2, second_output=False,
                second_input=False, seed=0, blocks=blocks)
    model, stripped = check_strip(spec)
    assert width(stripped.get_layer(layer)) == expected
