"""Shared pieces of the benchmarks: the fixed jet task, its model, hls4ml configs, output.

TensorFlow runs single-threaded here (the numbers in docs/benchmarks.md were taken so, on a
shared 2-core machine): set ``HWPRUNE_BENCH_THREADS`` to use more.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

THREADS = os.environ.get('HWPRUNE_BENCH_THREADS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
for _name in ('OMP_NUM_THREADS', 'TF_NUM_INTRAOP_THREADS', 'TF_NUM_INTEROP_THREADS'):
    os.environ.setdefault(_name, THREADS)
import tensorflow as tf  # noqa: E402

tf.config.threading.set_intra_op_parallelism_threads(int(THREADS))
tf.config.threading.set_inter_op_parallelism_threads(int(THREADS))

keras = tf.keras
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results')
WIDTHS = (64, 32, 32)


def keras_generation() -> int:
    """2 for tf.keras 2 (TensorFlow <= 2.15 / tf_keras), 3 for Keras 3."""
    version = getattr(keras, '__version__', None)
    if version is None:
        import keras as _keras
        version = _keras.__version__
    return int(str(version).split('.')[0])


def stack() -> str:
    return f'keras{keras_generation()}'


def jet_model(seed: int = 0, learning_rate: float = 1e-3, widths=WIDTHS, compile: bool = True):
    """The jet topology 16-64-32-32-5 (ReLU, softmax), Adam 1e-3; ``widths`` for narrower nets."""
    keras.utils.set_random_seed(seed)
    layers = [keras.layers.Input((16,))]
    layers += [keras.layers.Dense(w, activation='relu', name=f'fc{i + 1}') for i, w in enumerate(widths)]
    layers.append(keras.layers.Dense(5, activation='softmax', name='output'))
    model = keras.Sequential(layers)
    if compile:
        model.compile(keras.optimizers.Adam(learning_rate), 'sparse_categorical_crossentropy', metrics=['accuracy'])
    return model


def hls_config(model, reuse_factor: int, strategy: str = 'Resource', precision: str = 'ap_fixed<16,6>'):
    import hls4ml
    cfg = hls4ml.utils.config_from_keras_model(model, granularity='name', backend='Vitis',
                                               default_precision=precision, default_reuse_factor=reuse_factor)
    cfg['Model']['Strategy'] = strategy
    for layer in cfg['LayerName'].values():
        layer['Strategy'] = strategy
        layer['ReuseFactor'] = reuse_factor
    return cfg


class EpochTimer(keras.callbacks.Callback):
    """Wall seconds of every epoch."""

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def accuracy(model, x, y) -> float:
    return float(np.mean(np.argmax(model.predict(x, batch_size=4096, verbose=0), axis=1) == y))


def table(header, rows) -> str:
    cells = [list(map(str, header))] + [[f'{v:.4g}' if isinstance(v, float) else str(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return '\n'.join('  '.join(c.rjust(w) for c, w in zip(r, widths)) for r in cells)


def write_json(name: str, data, path: str | None = None) -> str:
    path = path or os.path.join(RESULTS, f'{name}.json')
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + '.tmp'
    with open(tmp, 'w') as handle:
        json.dump(data, handle, indent=2)
    os.replace(tmp, path)
    print(f'wrote {path}', file=sys.stderr)
    return path
