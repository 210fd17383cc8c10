"""Convert a DSP-group-pruned QKeras CNN with hwprune and check the firmware.

Builds a small QKeras Conv1D -> Conv1D -> Dense model, prunes whole DSP groups (the RF weights one
multiplier shares) and a few filters, then:

* converts it twice with hls4ml (Vitis, io_parallel): plain hls4ml, and ``hwprune.convert``
  (Keras strip + zero-honouring strategies + exact multiplier limits);
* compiles both C simulations (g++), checks they agree bit for bit with each other and with
  Keras, and prints the multiplier limits written to ``firmware/parameters.h``.

Runs in about a minute on 2 CPU cores; no FPGA tools, no network. QKeras runs on the Keras 2
stack (``make demo STACK=keras2``); ``convert_pruned_hgq.py`` is the same with HGQ2 on Keras 3:

    python examples/convert_pruned.py [output_dir]

requires: qkeras
"""

import logging
import os
import re
import sys
from pathlib import Path

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import hls4ml  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from qkeras import QActivation, QConv1D, QDense, quantized_bits, quantized_relu  # noqa: E402

import hwprune  # noqa: E402
from hwprune.layouts import dsp_layout  # noqa: E402

logging.basicConfig(level=logging.WARNING, format='%(levelname)s %(name)s: %(message)s')
keras = tf.keras
out_dir = Path(sys.argv[1] if len(sys.argv) > 1 else 'convert_pruned_prj')
rng = np.random.default_rng(0)
keras.utils.set_random_seed(0)

# 12-bit weights: wide enough that Vivado maps the products to DSPs (hardware.DSP_MIN_WEIGHT_BITS)
q = dict(kernel_quantizer=quantized_bits(12, 1, alpha=1), bias_quantizer=quantized_bits(12, 1, alpha=1))
model = keras.Sequential([
    keras.Input((16, 3)),
    QConv1D(8, 3, padding='same', name='conv1', **q), QActivation(quantized_relu(8, 3), name='relu1'),
    QConv1D(8, 3, padding='same', name='conv2', **q), QActivation(quantized_relu(8, 3), name='relu2'),
    keras.layers.Flatten(name='flatten'),
    QDense(5, name='output', **q),
], name='pruned_cnn')

REUSE = 4
cfg = hls4ml.utils.config_from_keras_model(model, granularity='name', default_reuse_factor=REUSE, backend='Vitis')
cfg['LayerName']['output']['Strategy'] = 'Resource'   # hwprune will unroll it so that pruning pays

# Prune: half of each layer's DSP groups (as HardwarePruning would, by L2 norm), and two filters of
# conv1 completely (kernel and bias), which strip() then removes from the architecture.
for layer in (model.get_layer('conv1'), model.get_layer('conv2'), model.get_layer('output')):
    kernel, bias = layer.get_weights()
    groups = dsp_layout('dense' if isinstance(layer, QDense) else 'conv1d', kernel.shape, REUSE)
    norms = np.sqrt(groups.reduce(kernel ** 2))
    keep = norms >= np.median(norms)
    kernel = np.where(groups.expand(keep), kernel, 0.0)
    if layer.name == 'conv1':
        kernel[..., :2], bias[:2] = 0.0, 0.0
    layer.set_weights([kernel, bias])

print(hwprune.estimate(model, cfg))

# hls4ml alone: hwprune's passes run in hwprune.convert (or when a config names them in Optimizers)
plain = hls4ml.converters.convert_from_keras_model(model, hls_config=cfg, output_dir=str(out_dir / 'plain'),
                                                   backend='Vitis', io_type='io_parallel')
pruned = hwprune.convert(model, cfg, output_dir=str(out_dir / 'hwprune'), backend='Vitis', io_type='io_parallel')
plain.compile()
pruned.compile()

x = np.round(rng.uniform(-2, 2, size=(256, 16, 3)) * 1024) / 1024
y_plain, y_pruned, y_keras = plain.predict(x), pruned.predict(x), model.predict(x, verbose=0)
print(f'hwprune firmware == plain hls4ml firmware: {np.array_equal(y_plain, y_pruned)}; '
      f'== Keras: {np.array_equal(y_pruned.reshape(y_keras.shape), y_keras)}')


def hls4ml_limit(node):
    """Multipliers of plain hls4ml: its expression DIV_ROUNDUP(N, RF) - n_zeros / RF for Latency;
    the Resource kernel ignores it and allocates DIV_ROUNDUP(N, RF)."""
    weights = node.weights['weight']
    rf = node.get_attr('reuse_factor')
    if node.get_attr('strategy') == 'resource':
        return -(-weights.data.size // rf)
    return -(-weights.data.size // rf) - weights.nzeros // rf


print(f"{'layer':<8} {'hls4ml strategy':<16} {'limit':>6} | {'hwprune strategy':<18} {'units':>5} {'limit':>6}")
for name, node in pruned.graph.items():
    limit = node.get_attr('hwprune_multiplier_limit')
    if limit is None:
        continue
    before = plain.graph[name]
    width = node.get_attr('n_filt', node.get_attr('n_out'))
    print(f"{name:<8} {before.get_attr('strategy'):<16} {hls4ml_limit(before):>6} | "
          f"{node.get_attr('strategy'):<18} {width:>5} {limit:>6}")
text = (out_dir / 'hwprune' / 'firmware' / 'parameters.h').read_text()
print('parameters.h:', sorted(set(re.findall(r'multiplier_limit = \d+;', text))))
