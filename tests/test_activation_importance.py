"""Activation-aware importance: input RMS measured through the model, and the callback using it."""

import logging

import numpy as np
import pytest
import tensorflow as tf

import hwprune
from hwprune.keras.activations import ACTIVATION_SAMPLES, InputProbe, channel_axis, measure_input_rms
from hwprune.keras.layers import resolve_units
from hwprune.targets import FPGALayerSettings, FPGATarget
from stack import qkeras_module

keras = tf.keras


def per_weight_target():
    """RF 1 under Latency: every nonzero weight is one DSP."""
    return FPGATarget(default=FPGALayerSettings(reuse_factor=1, strategy='latency'))


def test_measure_input_rms_of_dense_and_conv_layers():
    keras.utils.set_random_seed(0)
    inp = keras.Input((5, 5, 2))
    conv = keras.layers.Conv2D(3, 3, activation='relu', name='conv')(inp)
    flat = keras.layers.Flatten(name='flat')(conv)
    out = keras.layers.Dense(2, name='fc')(flat)
    model = keras.Model(inp, out)
    x = np.random.default_rng(0).normal(size=(10, 5, 5, 2)).astype('float32') * np.array([3.0, 0.5], 'float32')
    got = measure_input_rms(model, x, batch_size=3)
    assert list(got) == ['conv', 'fc']
    # a convolution's channel: every sample and position; a Dense input: every sample
    np.testing.assert_allclose(got['conv'], np.sqrt(np.mean(x.reshape(-1, 2).astype(np.float64) ** 2, axis=0)),
                               rtol=1e-6)
    features = keras.Model(inp, flat).predict(x, verbose=0).astype(np.float64)
    np.testing.assert_allclose(got['fc'], np.sqrt(np.mean(features ** 2, axis=0)), rtol=1e-5, atol=1e-7)
    assert got['fc'].shape == (model.get_layer('fc').kernel.shape[0],)
    np.testing.assert_allclose(measure_input_rms(model, x, layers=['fc'], batch_size=64)['fc'], got['fc'],
                               rtol=1e-6)
    with pytest.raises(ValueError, match='`layers`'):
        measure_input_rms(model, x, layers=['nope'])
    with pytest.raises(TypeError, match='`layers`'):
        measure_input_rms(model, x, layers='fc')
    with pytest.raises(ValueError, match='`x`'):
        measure_input_rms(model, x[:0])
    assert channel_axis(model.get_layer('conv')) == -1
    assert channel_axis(keras.layers.Conv2D(1, 1, data_format='channels_first')) == 1


def test_input_probe_measures_what_the_model_exposes():
    """The pointwise half of a SeparableConv and a layer called twice have no input of their own
    in the model: None (scored by weights); the rest are measured."""
    inp = keras.Input((6, 6, 2))
    sep = keras.layers.SeparableConv2D(4, 3, name='sep')(inp)
    flat = keras.layers.Flatten()(sep)
    shared = keras.layers.Dense(8, name='shared')
    h = shared(keras.layers.Dense(8, name='pre')(flat))
    out = keras.layers.Dense(2, name='out')(keras.layers.Add()([h, shared(h)]))
    model = keras.Model(inp, out)
    units = resolve_units(model)
    assert [u.name for u in units] == ['sep_depthwise', 'sep_pointwise', 'pre', 'shared', 'out']
    x = np.random.default_rng(0).normal(size=(ACTIVATION_SAMPLES + 3, 6, 6, 2)).astype('float32')
    probe = InputProbe(model, units, x)
    assert len(probe.x) == ACTIVATION_SAMPLES
    measured = probe()
    assert [m is not None for m in measured] == [True, False, True, False, True]
    assert measured[0].shape == (2,) and measured[2].shape == (64,) and measured[4].shape == (8,)


def test_auto_importance_is_activation_with_data_and_l2_without():
    x = np.random.default_rng(0).normal(size=(64, 4)).astype('float32')
    y = (x[:, 0] > 0).astype('int32')
    for kwargs, expected in (({'validation_data': (x, y)}, 'activation'), ({}, 'l2'),
                             ({'importance_data': (x, y)}, 'activation'),
                             ({'validation_data': (x, y), 'importance': 'l2'}, 'l2')):
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation='softmax', name='fc')])
        model.compile('adam', 'sparse_categorical_crossentropy')
        cb = hwprune.HardwarePruning(per_weight_target(), budget=0.5, verbose=0, **kwargs)
        assert cb.get_config()['importance'] == kwargs.get('importance', 'auto')
        model.fit(x, y, epochs=1, verbose=0, callbacks=[cb])
        assert cb.importance_ == expected
    assert hwprune.HardwarePruning.from_config(cb.get_config()).importance == 'l2'
    with pytest.raises(ValueError, match="`importance_data`.*importance='activation'"):
        hwprune.HardwarePruning(per_weight_target(), importance='activation')
    with pytest.raises(ValueError, match='`importance`'):
        hwprune.HardwarePruning(per_weight_target(), importance='wanda')


def test_activation_importance_prunes_the_weights_reading_quiet_inputs():
    """Equal weights, and the inputs 100x apart in scale: the budget keeps the weights on the loud
    inputs. (By magnitude alone every weight ties.)"""
    rng = np.random.default_rng(0)
    scale = np.array([0.1, 0.1, 10.0, 10.0], 'float32')
    x = rng.normal(size=(256, 4)).astype('float32') * scale
    y = rng.normal(size=(256, 3)).astype('float32')
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name='fc', use_bias=False)])
    model.get_layer('fc').set_weights([np.ones((4, 3), 'float32')])
    model.compile(keras.optimizers.SGD(learning_rate=0.0), 'mse')
    cb = hwprune.HardwarePruning(per_weight_target(), budget=hwprune.ConstantBudget(0.5), regularization=0.0,
                                 validation_data=(x, y), verbose=0)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[cb])
    kept = model.get_layer('fc').kernel.numpy() != 0
    assert kept.tolist() == [[False] * 3, [False] * 3, [True] * 3, [True] * 3]


@pytest.mark.parametrize('output_exponent', [0.5, 0.0])
def test_activation_importance_keeps_the_units_the_next_layer_reads(monkeypatch, capsys, output_exponent):
    """fc1's units 2 and 3 have the larger weights (1.2 vs 1), equal inputs; the output layer (one DSP
    at RF 4 under Resource: a single group) reads units 0 and 1 four times harder: the budget keeps
    fc1's units 0 and 1. Without the output factor (OUTPUT_EXPONENT 0, the score before it) fc1's
    weights decide: units 2 and 3 (but for one weight of unit 0, the output's protected path)."""
    monkeypatch.setattr(hwprune.importance, 'OUTPUT_EXPONENT', output_exponent)
    x = np.random.default_rng(0).normal(size=(256, 4)).astype('float32')
    y = np.zeros((256, 1), 'float32')
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, activation='relu', use_bias=False, name='fc1'),
                              keras.layers.Dense(1, use_bias=False, name='out')])
    model.get_layer('fc1').set_weights([np.tile(np.array([1.0, 1.0, 1.2, 1.2], 'float32'), (4, 1))])
    model.get_layer('out').set_weights([np.array([[1.0], [1.0], [0.25], [0.25]], 'float32')])
    model.compile(keras.optimizers.SGD(learning_rate=0.0), 'mse')
    target = FPGATarget(layers={'out': FPGALayerSettings(reuse_factor=4, strategy='resource')},
                        default=FPGALayerSettings(reuse_factor=1, strategy='latency'), as_converted=False)
    cb = hwprune.HardwarePruning(target, budget=hwprune.ConstantBudget(9 / 17), regularization=0.0,
                                 validation_data=(x, y))
    model.fit(x, y, epochs=1, verbose=0, callbacks=[cb])
    assert "importance 'activation' (weights x input RMS^0.5 on validation_data x how much the next layer reads" \
        in capsys.readouterr().out
    kept = model.get_layer('fc1').kernel.numpy() != 0
    if output_exponent:
        assert kept.tolist() == [[True, True, False, False]] * 4
    else:
        assert kept[:, :2].sum() <= 1 and kept[:, 2:].sum() == 8 - kept[:, :2].sum()
    # the output layer's weights on fc1's dead units are folded away (a dead unit emits a constant)
    read = model.get_layer('out').kernel.numpy()[:, 0] != 0
    assert read.tolist() == kept.any(axis=0).tolist()


def test_data_the_model_cannot_read_is_named_when_fit_starts():
    x = np.zeros((8, 4), 'float32')
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name='fc')])
    model.compile('adam', 'mse')
    cb = hwprune.HardwarePruning(per_weight_target(), budget=0.5, regularization=1e-3,
                                 validation_data=(np.zeros((8, 7), 'float32'), np.zeros((8, 2))), verbose=0)
    with pytest.raises(ValueError, match='`validation_data`.*the model reads'):
        model.fit(x, np.zeros((8, 2)), epochs=1, verbose=0, callbacks=[cb])


def test_a_model_without_a_graph_falls_back_to_weights(caplog):
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.fc = keras.layers.Dense(2, name='fc')

        def call(self, x):
            return self.fc(x)

    x = np.random.default_rng(0).normal(size=(32, 4)).astype('float32')
    y = np.zeros((32, 2), 'float32')
    model = Net()
    model(x[:1])
    model.compile('adam', 'mse')
    cb = hwprune.HardwarePruning(per_weight_target(), budget=0.5, importance='activation', validation_data=(x, y),
                                 verbose=0)
    with caplog.at_level(logging.WARNING, logger='hwprune'):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[cb])
    assert 'cannot read the inputs of any pruned layer' in caplog.text
    assert cb.usage()['DSP'] <= 4


def test_qkeras_inputs_are_measured_after_their_quantized_activation():
    qkeras = qkeras_module()
    inp = keras.Input((4,))
    h = qkeras.QDense(6, kernel_quantizer=qkeras.quantized_bits(8, 0, alpha=1), name='q1')(inp)
    h = qkeras.QActivation(qkeras.quantized_relu(4, 0), name='act')(h)
    out = qkeras.QDense(2, kernel_quantizer=qkeras.quantized_bits(8, 0, alpha=1), name='q2')(h)
    model = keras.Model(inp, out)
    x = np.random.default_rng(0).normal(size=(64, 4)).astype('float32')
    measured = InputProbe(model, resolve_units(model), x)()
    act = keras.Model(inp, h).predict(x, verbose=0).astype(np.float64)
    np.testing.assert_allclose(measured[1], np.sqrt(np.mean(act ** 2, axis=0)), rtol=1e-6)
