"""Shared pieces of the benchmarks: the fixed jet task, its model, hls4ml configs, output."""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
import tensorflow as tf  # noqa: E402

keras = tf.keras
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results')


def jet_model(seed: int = 0, learning_rate: float = 1e-3):
    """The jet topology 16-64-32-32-5 (ReLU, softmax), Adam 1e-3."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.layers.Input((16,)),
        keras.layers.Dense(64, activation='relu', name='fc1'),
        keras.layers.Dense(32, activation='relu', name='fc2'),
        keras.layers.Dense(32, activation='relu', name='fc3'),
        keras.layers.Dense(5, activation='softmax', name='output'),
    ])
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
    with open(path, 'w') as handle:
        json.dump(data, handle, indent=2)
    print(f'wrote {path}', file=sys.stderr)
    return path
