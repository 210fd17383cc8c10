"""Prune a MobileNet-style digits CNN (Conv2D -> DepthwiseConv2D -> SeparableConv2D -> Dense) for hls4ml.

hls4ml 1.3 splits a SeparableConv2D ``'sep'`` into a depthwise layer ``'sep_depthwise'`` and a 1x1
convolution ``'sep_pointwise'``; hwprune prunes and costs the two kernels as those two units, and
builds every depthwise kernel with Latency (hls4ml has no ResourceUnrolled depthwise kernel and
its io_parallel one supports Latency only), where every zero weight frees its product.

Trains on scikit-learn's digits (shipped locally), prunes to 35 % of the DSPs with a group-lasso
penalty, converts with ``hwprune.convert`` (Vitis, io_parallel), compiles the C simulation (g++)
and compares it with Keras. About a minute on 2 cores; no FPGA tools, no network:

    python examples/separable_digits.py [output_dir]
"""

import logging
import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import hls4ml  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _digits import digits_split  # noqa: E402

import hwprune  # noqa: E402

logging.basicConfig(level=logging.WARNING, format='%(levelname)s %(name)s: %(message)s')
keras = tf.keras
out_dir = sys.argv[1] if len(sys.argv) > 1 else 'separable_digits_prj'

x_train, x_test, y_train, y_test = digits_split()  # scikit-learn's digits, shipped with it
keras.utils.set_random_seed(0)
model = keras.Sequential([
    keras.layers.Input((8, 8, 1)),
    keras.layers.Conv2D(8, 3, padding='same', activation='relu', name='conv'),
    keras.layers.DepthwiseConv2D(3, padding='same', activation='relu', name='dw'),
    keras.layers.SeparableConv2D(16, 3, strides=2, activation='relu', name='sep'),
    keras.layers.Flatten(name='flatten'),
    keras.layers.Dense(10, activation='softmax', name='out'),
], name='separable_digits')
model.compile(keras.optimizers.Adam(3e-3), 'sparse_categorical_crossentropy', metrics=['accuracy'])
model.fit(x_train, y_train, epochs=15, batch_size=64, verbose=0)
baseline = model.evaluate(x_test, y_test, verbose=0)[1]

cfg = hls4ml.utils.config_from_keras_model(model, granularity='name', default_reuse_factor=2, backend='Vitis')
cfg = hwprune.hls.pin_auto_precisions(cfg)
for entry in cfg['LayerName'].values():
    entry['Strategy'] = 'Resource'  # what many users write; hwprune picks strategies where zeros pay
before = hwprune.estimate(model, cfg)

pruning = hwprune.HardwarePruning(cfg, budget=hwprune.PolynomialBudget(final=0.35, begin=1, end=10),
                                  regularization=1e-3, verbose=0)
model.fit(x_train, y_train, epochs=15, batch_size=64, callbacks=[pruning], verbose=0)
pruned_accuracy = model.evaluate(x_test, y_test, verbose=0)[1]
after = hwprune.estimate(model, cfg)
print(after.compare(before))

hls_model = hwprune.convert(model, cfg, output_dir=out_dir, backend='Vitis', io_type='io_parallel')
hls_model.compile()
y_keras = model.predict(x_test, verbose=0)
y_hls = hls_model.predict(np.ascontiguousarray(x_test)).reshape(y_keras.shape)
print(f'{"node":<14} {"class":<16} {"strategy":<9} multiplier_limit')
for name, node in hls_model.graph.items():
    limit = node.get_attr('hwprune_multiplier_limit')
    if limit is not None:
        print(f'{name:<14} {node.class_name:<16} {node.get_attr("strategy"):<9} {limit}')
print(f'accuracy: baseline {baseline:.4f}, pruned {pruned_accuracy:.4f}, C simulation '
      f'{np.mean(y_hls.argmax(1) == y_test):.4f}; Keras/C-sim argmax agreement '
      f'{np.mean(y_hls.argmax(1) == y_keras.argmax(1)):.4f}')
print(f'DSP: {before.total["DSP"]:.0f} -> {after.total["DSP"]:.0f} (estimate = limits written: '
      f'{after.total["DSP"] == sum(n.get_attr("hwprune_multiplier_limit") or 0 for n in hls_model.graph.values())})')
