"""Convert a DSP-group-pruned HGQ2 CNN (Keras 3) with hwprune and check the firmware.

Builds a small HGQ2 Conv1D -> Conv1D -> Dense model (12-bit weights), prunes whole DSP groups (the RF weights one
multiplier shares) and a few filters, then:

* converts it twice with hls4ml (Vitis, io_parallel): plain hls4ml, and ``hwprune.convert``
  (Keras strip + zero-honouring strategies + exact multiplier limits);
* compiles both C simulations (g++), checks they agree bit for bit with each other and with
  Keras, and prints the multiplier limits written to ``firmware/parameters.h``.

hls4ml builds HGQ2 layers bit-exactly (each weight type is the narrowest that holds the quantized
weights), so the C simulation equals Keras exactly. Runs in about a minute on 2 CPU cores; no FPGA
tools, no network. ``convert_pruned.py`` is the same with QKeras on the Keras 2 stack:

    python examples/convert_pruned_hgq.py [output_dir]

requires: hgq
"""

import logging
import os
import re
import sys
from pathlib import Path

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import hls4ml  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from hgq.config import QuantizerConfig  # noqa: E402
from hgq.layers import QConv1D, QDense  # noqa: E402

import hwprune  # noqa: E402
from hwprune.layouts import dsp_layout  # noqa: E402

logging.basicConfig(level=logging.WARNING, format='%(levelname)s %(name)s: %(message)s')
out_dir = Path(sys.argv[1] if len(sys.argv) > 1 else 'convert_pruned_hgq_prj')
rng = np.random.default_rng(0)
keras.utils.set_random_seed(0)

# 12-bit weights: wide enough that Vivado maps the products to DSPs (hardware.DSP_MIN_WEIGHT_BITS)
q = dict(kq_conf=QuantizerConfig('kbi', 'weight', b0=11, i0=1), bq_conf=QuantizerConfig('kbi', 'bias', b0=11, i0=2),
         iq_conf=QuantizerConfig('kbi', 'datalane', b0=12, i0=4))
model = keras.Sequential([
    keras.Input((16, 3)),
    QConv1D(8, 3, padding='same', activation='relu', name='conv1', **q),
    QConv1D(8, 3, padding='same', activation='relu', name='conv2', **q),
    keras.layers.Flatten(name='flatten'),
    QDense(5, name='output', **q),
], name='pruned_hgq_cnn')

REUSE = 4
cfg = hls4ml.utils.config_from_keras_model(model, granularity='name', default_reuse_factor=REUSE, backend='Vitis')
cfg['LayerName']['output']['Strategy'] = 'Resource'   # hwprune will unroll it so that pruning pays

# Prune: half of each layer's DSP groups (as HardwarePruning would, by L2 norm), and two filters of
# conv1 completely (kernel and bias), which strip() then removes from the architecture.
for layer in (model.get_layer('conv1'), model.get_layer('conv2'), model.get_layer('output')):
    weights = layer.get_weights()  # kernel, bias, then HGQ2's quantizer state
    kernel, bias = weights[0], weights[1]
    groups = dsp_layout('dense' if isinstance(layer, QDense) else 'conv1d', kernel.shape, REUSE)
    norms = np.sqrt(groups.reduce(kernel ** 2))
    keep = norms >= np.median(norms)
    kernel = np.where(groups.expand(keep), kernel, 0.0)
    if layer.name == 'conv1':
        kernel[..., :2], bias[:2] = 0.0, 0.0
    layer.set_weights([kernel, bias] + weights[2:])

print(hwprune.estimate(model, cfg))

# hls4ml alone: hwprune's passes run in hwprune.convert (or when a config names them in Optimizers)
plain = hls4ml.converters.convert_from_keras_model(model, hls_config=cfg, output_dir=str(out_dir / 'plain'),
                                                   backend='Vitis', io_type='io_parallel', allow_da_fallback=False)
pruned = hwprune.convert(model, cfg, output_dir=str(out_dir / 'hwprune'), backend='Vitis', io_type='io_parallel',
                         allow_da_fallback=False)
plain.compile()
pruned.compile()

x = np.round(rng.uniform(-2, 2, size=(256, 16, 3)) * 256) / 256
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
