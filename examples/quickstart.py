"""Quick start: prune a small Dense model to a DSP+BRAM budget for hls4ml, then convert it.

Runs in about a minute on 2 CPU cores with generated data (no network, no FPGA tools; the C
simulation needs g++):

    python examples/quickstart.py
"""

import logging
import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import hls4ml  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import hwprune  # noqa: E402
from hwprune.data import jet_task  # noqa: E402

logging.basicConfig(level=logging.INFO, format='%(message)s')
keras = tf.keras

task = jet_task(n_samples=20000)
keras.utils.set_random_seed(0)
model = keras.Sequential([keras.layers.Input((16,)), keras.layers.Dense(64, activation='relu', name='fc1'),
                          keras.layers.Dense(32, activation='relu', name='fc2'),
                          keras.layers.Dense(5, activation='softmax', name='output')])
model.compile(keras.optimizers.Adam(1e-3), 'sparse_categorical_crossentropy', metrics=['accuracy'])
model.fit(task.x_train, task.y_train, epochs=10, batch_size=256, verbose=0)

cfg = hls4ml.utils.config_from_keras_model(model, granularity='name', default_reuse_factor=4, backend='Vitis')
cfg = hwprune.hls.pin_auto_precisions(cfg)  # hls4ml's widened 'auto' logits break its softmax in C simulation
before = hwprune.estimate(model, cfg)
pruning = hwprune.HardwarePruning(cfg, resources=['DSP', 'BRAM'],
                                  budget=hwprune.PolynomialBudget(final=0.4, begin=0, end=8),
                                  monitor='val_accuracy', tolerance=0.02,
                                  # the guard's baseline, the group-lasso strength and the importance
                                  # (each weight x the RMS of its input on this data) are measured on it
                                  validation_data=(task.x_val, task.y_val))
model.fit(task.x_train, task.y_train, epochs=15, batch_size=256, validation_data=(task.x_val, task.y_val),
          callbacks=[pruning], verbose=0)
after = hwprune.estimate(model, cfg)
print(after.compare(before))
print(f'importance: {pruning.importance_!r}; input RMS of fc2:',
      np.round(hwprune.keras.activations.measure_input_rms(model, task.x_val[:4096])['fc2'][:8], 2))

hls_model = hwprune.convert(model, cfg, output_dir='quickstart_prj', backend='Vitis')
hls_model.compile()
x = np.ascontiguousarray(task.x_test[:1000])
agree = np.mean(np.argmax(hls_model.predict(x), axis=1) == np.argmax(model.predict(x, verbose=0), axis=1))
print(f'Keras test accuracy {model.evaluate(task.x_test, task.y_test, verbose=0)[1]:.4f}; '
      f'C simulation agrees with Keras on {100 * agree:.1f}% of 1000 samples')
