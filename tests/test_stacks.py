"""Keras generations: the one hwprune works with, models of the other one, and tf_keras on Keras 3."""

import os
import subprocess
import sys
import importlib.util

import numpy as np
import pytest

import hwprune
from hwprune.keras.topology import KERAS3, KERAS_NAME, keras

TF_KERAS = importlib.util.find_spec('tf_keras') is not None


def test_bound_keras_is_tensorflows():
    import tensorflow as tf
    assert keras.Model is tf.keras.Model
    assert KERAS_NAME.startswith('Keras ')
    assert KERAS3 == (int(tf.__version__.split('.')[1]) >= 16 and not os.environ.get('TF_USE_LEGACY_KERAS'))


@pytest.mark.skipif(not (KERAS3 and TF_KERAS), reason='needs Keras 3 with tf_keras installed')
def test_a_model_of_the_other_generation_is_named_in_one_line():
    import tf_keras
    model = tf_keras.Sequential([tf_keras.layers.Dense(3, input_shape=(4,))])
    for call in (lambda: hwprune.estimate(model, {'Model': {'ReuseFactor': 1}}), lambda: hwprune.strip(model),
                 lambda: hwprune.convert(model, {'Model': {'ReuseFactor': 1}})):
        with pytest.raises(TypeError, match=r'this is a tf_keras \(Keras 2\) model.*TF_USE_LEGACY_KERAS=1') as info:
            call()
        assert '\n' not in str(info.value)
    model3 = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    with pytest.raises(TypeError, match='a Keras Model'):
        hwprune.estimate('model.keras', {'Model': {}})
    assert hwprune.estimate(model3, {'Model': {'ReuseFactor': 1}}).total['params'] == 12


LEGACY = """
import numpy as np, tensorflow as tf, hls4ml, hwprune
from hwprune.keras.topology import KERAS3, KERAS_NAME
assert not KERAS3 and 'tf_keras' in KERAS_NAME, KERAS_NAME
keras = tf.keras
model = keras.Sequential([keras.layers.Dense(16, activation='relu', input_shape=(8,), name='fc1'),
                          keras.layers.Dense(4, name='out')])
model.compile('adam', keras.losses.SparseCategoricalCrossentropy(from_logits=True))
rng = np.random.default_rng(0)
x = np.round(rng.uniform(-2, 2, size=(256, 8)) * 64) / 64; y = rng.integers(0, 4, 256)
with hwprune.hls.frontend_for(model):  # hls4ml alone sends tf_keras models to its Keras-3 parser
    cfg = hls4ml.utils.config_from_keras_model(model, granularity='name', default_reuse_factor=2)
cb = hwprune.HardwarePruning(cfg, budget=0.5, verbose=0)
model.fit(x, y, epochs=2, callbacks=[cb], verbose=0)
dsp = hwprune.estimate(model, cfg).total['DSP']
assert dsp <= 0.5 * cb.initial_usage[0] + 1e-9, dsp
assert hwprune.strip(model).layers[0].units <= 16
h = hwprune.convert(model, hwprune.hls.pin_auto_precisions(cfg), output_dir=OUT)
h.compile()
agree = np.mean(np.argmax(h.predict(x), 1) == np.argmax(model.predict(x, verbose=0), 1))
assert agree >= 0.99, agree
assert h.graph['fc1'].get_attr('hwprune_multiplier_limit') is not None
print('OK', dsp, agree)
"""


@pytest.mark.slow
@pytest.mark.skipif(not (KERAS3 and TF_KERAS), reason='needs Keras 3 with tf_keras installed')
def test_tf_keras_models_with_legacy_keras_on_current_tensorflow(tmp_path):
    """TF_USE_LEGACY_KERAS=1 on TensorFlow >= 2.16: the callback, estimate, strip and convert (hls4ml's
    Keras-2 parser, which hls4ml alone does not pick) work on tf_keras models; C simulation agrees."""
    code = f'OUT = {str(tmp_path / "prj")!r}\n' + LEGACY
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=900,
                            env={**os.environ, 'TF_USE_LEGACY_KERAS': '1', 'TF_CPP_MIN_LOG_LEVEL': '3'})
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith('OK')


@pytest.mark.skipif(not KERAS3, reason='Keras 3 backends')
def test_other_backends_are_refused_by_the_callback(monkeypatch):
    monkeypatch.setattr(keras.backend, 'backend', lambda: 'jax')
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile('sgd', 'mse')
    cb = hwprune.HardwarePruning({'Model': {'ReuseFactor': 1, 'Precision': 'ap_fixed<16,6>'}}, verbose=0)
    with pytest.raises(RuntimeError, match="`KERAS_BACKEND`: expected 'tensorflow'.*estimate, strip and convert"):
        cb.set_model(model)
        cb.on_train_begin()
