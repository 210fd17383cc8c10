"""Shared helpers of the hls4ml tests: small pruned models, configs, firmware parsing, compilation.

Imported by ``test_hls_passes.py`` and ``test_convert.py`` (pytest puts ``tests/`` on sys.path).
Models are tiny so that a C simulation compiles in seconds; every pruned unit has a zero bias,
so removing it changes no fixed-point value and stripped and unstripped firmware must agree bit
for bit.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import tensorflow as tf

from hwprune import multipliers
from hwprune.hls.config import target_from_hls_config
from hwprune.hls.passes import LIMIT_ATTR, firmware_zero_mask, node_kind
from hwprune.keras.layers import describe_layers, resolve_units
from hwprune.keras.registry import unit_spec

keras = tf.keras

#: LSB of hls4ml's default ap_fixed<16,6>: inputs on this grid are represented exactly.
LSB = 2.0 ** -10


def prune(model, seed=0, density=0.5, dead_units=1, unused_inputs=1):
    """Zero random weights, whole units (kernel slice and bias) and input rows of every Dense/Conv.

    The last prunable layer keeps all its units (a model's output width never changes). Depthwise
    and separable kernels get random zeros only (strip keeps their channels).
    """
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, (keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D,
                              keras.layers.DepthwiseConv1D, keras.layers.SeparableConv1D)):
            weights = layer.get_weights()
            for i, w in enumerate(weights[:-1] if layer.use_bias else weights):
                w[rng.random(w.shape) > density] = 0.0
                weights[i] = w
            layer.set_weights(weights)
    prunable = [layer for layer in model.layers if isinstance(layer, (keras.layers.Dense, keras.layers.Conv1D,
                                                                       keras.layers.Conv2D))]
    for i, layer in enumerate(prunable):
        weights = layer.get_weights()
        kernel = weights[0]
        kernel[rng.random(kernel.shape) > density] = 0.0
        if i < len(prunable) - 1 and dead_units:
            dead = rng.choice(kernel.shape[-1], size=min(dead_units, kernel.shape[-1] - 1), replace=False)
            kernel[..., dead] = 0.0
            if len(weights) > 1:
                weights[1][dead] = 0.0
        if i > 0 and unused_inputs:
            unused = rng.choice(kernel.shape[-2], size=min(unused_inputs, kernel.shape[-2] - 1), replace=False)
            kernel[..., unused, :] = 0.0
        weights[0] = kernel
        layer.set_weights(weights)
    return model


def quantized_inputs(shape, n=64, seed=1, scale=2.0):
    """Inputs on the ap_fixed<16,6> grid, so the firmware reads them exactly."""
    x = np.random.default_rng(seed).uniform(-scale, scale, size=(n,) + tuple(shape))
    return (np.round(x / LSB) * LSB).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Models


def hgq_quantizers(bits=10):
    """HGQ2 weight, bias and input quantizer configs, wide enough for DSPs."""
    from hgq.config import QuantizerConfig

    return dict(kq_conf=QuantizerConfig('kbi', 'weight', b0=bits, i0=1),
                bq_conf=QuantizerConfig('kbi', 'bias', b0=bits, i0=2),
                iq_conf=QuantizerConfig('kbi', 'datalane', b0=12, i0=4))


def dense_sequential(qkeras=False, hgq=False):
    if hgq:
        from hgq.layers import QDense

        q = hgq_quantizers()
        return keras.Sequential([
            keras.Input((10,)),
            QDense(12, activation='relu', name='fc1', **q),
            QDense(8, activation='relu', name='fc2', **q),
            QDense(3, name='out', **q),
        ], name='hgq_dense_seq')
    if qkeras:
        from qkeras import QActivation, QDense, quantized_bits, quantized_relu

        q = dict(kernel_quantizer=quantized_bits(8, 1, alpha=1), bias_quantizer=quantized_bits(8, 1, alpha=1))
        return keras.Sequential([
            keras.Input((10,)),
            QDense(12, name='fc1', **q), QActivation(quantized_relu(8, 3), name='act1'),
            QDense(8, name='fc2', **q), QActivation(quantized_relu(8, 3), name='act2'),
            QDense(3, name='out', **q),
        ], name='qdense_seq')
    return keras.Sequential([
        keras.Input((10,)),
        keras.layers.Dense(12, activation='relu', name='fc1'),
        keras.layers.Dense(8, activation='relu', name='fc2'),
        keras.layers.Dense(3, name='out'),
    ], name='dense_seq')


def conv1d_sequential(qkeras=False):
    if qkeras:
        from qkeras import QActivation, QConv1D, QDense, quantized_bits, quantized_relu

        q = dict(kernel_quantizer=quantized_bits(8, 1, alpha=1), bias_quantizer=quantized_bits(8, 1, alpha=1))
        return keras.Sequential([
            keras.Input((8, 2)),
            QConv1D(4, 3, padding='same', name='c1', **q), QActivation(quantized_relu(8, 3), name='a1'),
            QConv1D(5, 3, padding='valid', name='c2', **q), QActivation(quantized_relu(8, 3), name='a2'),
            keras.layers.Flatten(name='flat'),
            QDense(3, name='out', **q),
        ], name='qconv1d_seq')
    return keras.Sequential([
        keras.Input((8, 2)),
        keras.layers.Conv1D(4, 3, padding='same', activation='relu', name='c1'),
        keras.layers.Conv1D(5, 3, padding='valid', activation='relu', name='c2'),
        keras.layers.Flatten(name='flat'),
        keras.layers.Dense(3, name='out'),
    ], name='conv1d_seq')


def hgq_conv2d_sequential():
    """HGQ2 QConv2D -> QConv2D -> Flatten -> QDense."""
    from hgq.layers import QConv2D, QDense

    q = hgq_quantizers()
    return keras.Sequential([
        keras.Input((6, 6, 2)),
        QConv2D(4, 3, padding='same', activation='relu', name='c0', **q),
        QConv2D(3, 3, padding='valid', activation='relu', name='c1', **q),
        keras.layers.Flatten(name='flat'),
        QDense(3, name='out', **q),
    ], name='hgq_conv2d_seq')


def conv2d_functional(qkeras=False, merge='add'):
    """Conv2D -> two Conv2D branches merged by Add or Concatenate -> Flatten -> Dense."""
    inp = keras.Input((6, 6, 2), name='in')
    if qkeras:
        from qkeras import QActivation, QConv2D, QDense, quantized_bits, quantized_relu

        q = dict(kernel_quantizer=quantized_bits(8, 1, alpha=1), bias_quantizer=quantized_bits(8, 1, alpha=1))
        conv = lambda f, k, name, pad='same': QConv2D(f, k, padding=pad, name=name, **q)  # noqa: E731
        dense = lambda n, name: QDense(n, name=name, **q)  # noqa: E731
        act = lambda name: QActivation(quantized_relu(8, 3), name=name)  # noqa: E731
    else:
        conv = lambda f, k, name, pad='same': keras.layers.Conv2D(f, k, padding=pad, name=name)  # noqa: E731
        dense = lambda n, name: keras.layers.Dense(n, name=name)  # noqa: E731
        act = lambda name: keras.layers.Activation('relu', name=name)  # noqa: E731
    x = act('a0')(conv(4, 3, 'c0')(inp))
    a = act('a1')(conv(3, 3, 'c1')(x))
    b = act('a2')(conv(3, 1, 'c2', 'valid')(x))
    merge_layer = keras.layers.Add(name='merge') if merge == 'add' else keras.layers.Concatenate(name='merge')
    merged = merge_layer([a, b])
    y = keras.layers.Flatten(name='flat')(merged)
    y = dense(3, 'out')(y)
    return keras.Model(inp, y, name=f"{'q' if qkeras else ''}conv2d_{merge}")


def separable_functional(qkeras=False):
    """Conv2D -> DepthwiseConv2D -> SeparableConv2D -> Flatten -> Dense -> Dense."""
    inp = keras.Input((6, 6, 2), name='in')
    if qkeras:
        from qkeras import (QActivation, QConv2D, QDense, QDepthwiseConv2D, QSeparableConv2D, quantized_bits,
                            quantized_relu)

        qb = lambda: quantized_bits(8, 1, alpha=1)  # noqa: E731
        conv = QConv2D(4, 3, padding='same', name='c0', kernel_quantizer=qb(), bias_quantizer=qb())
        depthwise = QDepthwiseConv2D(3, padding='same', name='dw', depthwise_quantizer=qb(), bias_quantizer=qb())
        separable = QSeparableConv2D(3, 3, name='sep', depthwise_quantizer=qb(), pointwise_quantizer=qb(),
                                     bias_quantizer=qb())
        dense = lambda n, name: QDense(n, name=name, kernel_quantizer=qb(), bias_quantizer=qb())  # noqa: E731
        act = lambda name: QActivation(quantized_relu(8, 3), name=name)  # noqa: E731
    else:
        conv = keras.layers.Conv2D(4, 3, padding='same', name='c0')
        depthwise = keras.layers.DepthwiseConv2D(3, padding='same', name='dw')
        separable = keras.layers.SeparableConv2D(3, 3, name='sep')
        dense = lambda n, name: keras.layers.Dense(n, name=name)  # noqa: E731
        act = lambda name: keras.layers.Activation('relu', name=name)  # noqa: E731
    x = act('a0')(conv(inp))
    x = act('a1')(depthwise(x))
    x = act('a2')(separable(x))
    y = keras.layers.Flatten(name='flat')(x)
    y = act('a3')(dense(6, 'fc')(y))
    y = dense(3, 'out')(y)
    return keras.Model(inp, y, name=f"{'q' if qkeras else ''}separable")


def dense_functional(qkeras=False, merge='concat'):
    """Dense -> two Dense branches merged -> Dense."""
    inp = keras.Input((10,), name='in')
    if qkeras:
        from qkeras import QActivation, QDense, quantized_bits, quantized_relu

        q = dict(kernel_quantizer=quantized_bits(8, 1, alpha=1), bias_quantizer=quantized_bits(8, 1, alpha=1))
        dense = lambda n, name: QDense(n, name=name, **q)  # noqa: E731
        act = lambda name: QActivation(quantized_relu(8, 3), name=name)  # noqa: E731
    else:
        dense = lambda n, name: keras.layers.Dense(n, name=name)  # noqa: E731
        act = lambda name: keras.layers.Activation('relu', name=name)  # noqa: E731
    x = act('a0')(dense(12, 'fc0')(inp))
    a = act('a1')(dense(6, 'fca')(x))
    b = act('a2')(dense(6, 'fcb')(x))
    merge_layer = keras.layers.Add(name='merge') if merge == 'add' else keras.layers.Concatenate(name='merge')
    merged = merge_layer([a, b])
    y = dense(3, 'out')(merged)
    return keras.Model(inp, y, name=f"{'q' if qkeras else ''}dense_{merge}")


def hls_config(model, reuse_factor=2, strategies=None, backend='Vitis', wide_activations=False, **extra_model):
    """``config_from_keras_model(granularity='name')`` with per-layer strategies.

    ``wide_activations``: give activation layers a wide result type (hls4ml otherwise infers its
    default ap_fixed<16,6> for them), so that a float Keras model with weights quantized like the
    firmware's reproduces the firmware exactly.
    """
    import hls4ml

    cfg = hls4ml.utils.config_from_keras_model(model, granularity='name', default_reuse_factor=reuse_factor,
                                               backend=backend)
    for name, strategy in (strategies or {}).items():
        cfg['LayerName'][name]['Strategy'] = strategy
    if wide_activations:
        for entry in cfg['LayerName'].values():
            if 'table' in (entry.get('Precision') or {}):
                entry['Precision']['result'] = 'fixed<48,16>'

    cfg['Model'].update(extra_model)
    return cfg


# --------------------------------------------------------------------------------------------
# Firmware


def quantized_kernel(layer, precision=None, info=None):
    """The kernel as the firmware holds it: QKeras quantizer applied, values the weight type
    rounds to 0 set to 0 (``precision``: the hls4ml weight type; ``info``: which kernel of a
    layer with several)."""
    spec = unit_spec(layer, info)
    kernel = np.asarray(getattr(layer, spec.kernel).numpy())
    quantizer = getattr(layer, spec.quantizer + '_internal', None)
    if quantizer is not None:
        kernel = np.asarray(quantizer(kernel))
    if precision is not None:
        kernel = np.where(firmware_zero_mask(kernel, precision), 0.0, kernel)
    return kernel


def expected_limits(model, cfg, io_type, parallelization=None, precisions=None):
    """What the estimator (FPGATarget + hwprune.multipliers) says each layer needs.

    One deliberate difference: where hls4ml would resolve ResourceUnrolled to RF 1 (and emit no
    kernel, so the project would not compile), hwprune's strategy pass uses Latency at the
    requested RF; the estimator (``FPGATarget.resolve``) still says ResourceUnrolled at RF 1.
    """
    target = target_from_hls_config(cfg, describe_layers(model), io_type=io_type)
    out = {}
    for unit in resolve_units(model):
        layer, info = unit.layer, unit.info
        r = target.resolve(info)
        strategy, rf = r.strategy, r.reuse_factor
        if strategy == 'resource_unrolled' and rf == 1 and r.requested_reuse_factor > 1:
            strategy, rf = 'latency', r.requested_reuse_factor
        pf = (parallelization or {}).get(info.name, 1)
        kernel = quantized_kernel(layer, (precisions or {}).get(info.name), info)
        out[info.name] = (strategy, rf, multipliers.multiplier_limit(info, kernel, rf, strategy, r.io_type, pf))
    return out


def check_firmware(hls_model, model, cfg, io_type, parallelization=None):
    """Assert that every Dense/Conv node of ``hls_model`` got the estimator's strategy, reuse
    factor and multiplier limit, and that ``firmware/parameters.h`` (and ResourceUnrolled code)
    holds that limit. Returns ``{layer: (strategy, rf, limit)}``."""
    limits = parse_multiplier_limits(hls_model.config.get_output_dir())
    precisions = {name: node.weights['weight'].type.precision for name, node in hls_model.graph.items()
                  if node_kind(node)}
    expected = expected_limits(model, cfg, io_type, parallelization, precisions)
    unrolled = []
    for name, (strategy, rf, limit) in expected.items():
        node = hls_model.graph[name]
        assert node.get_attr('strategy') == strategy, name
        assert node.get_attr('reuse_factor') == rf, name
        assert node.get_attr(LIMIT_ATTR) == limit, name
        assert limits[name] == [limit] * len(limits[name]) and limits[name], (name, limits[name], limit)
        if strategy == 'resource_unrolled':
            unrolled.append(limit)
    if unrolled:
        assert sorted(parse_unrolled_limits(hls_model.config.get_output_dir())) == sorted(unrolled)
    return expected


def firmware_quantize(values, frac=10):
    """Values as the firmware holds them in ap_fixed<W, W-frac> (AP_TRN): hls4ml writes ``frac``
    decimals, the C++ type floors to its LSB."""
    values = np.asarray(values, dtype=np.float64)
    written = np.array([float(f'{v:.{frac}f}') for v in values.ravel()]).reshape(values.shape)
    return np.floor(np.ldexp(written, frac)) / 2.0 ** frac


def firmware_keras_model(model, frac=10):
    """A copy of a plain Keras model whose weights are quantized like ap_fixed<16,6> firmware weights."""
    clone = keras.models.clone_model(model)
    clone.set_weights([firmware_quantize(w, frac).astype(np.float32) for w in model.get_weights()])
    return clone


def parse_multiplier_limits(output_dir) -> dict:
    """``{layer name: [multiplier_limit values in its config structs]}`` from firmware/parameters.h."""
    text = Path(output_dir, 'firmware', 'parameters.h').read_text()
    limits: dict = {}
    current = None
    for line in text.splitlines():
        header = re.match(r'^// (\S+)$', line.strip())
        if header:
            current = header.group(1)
            continue
        match = re.search(r'static const unsigned multiplier_limit\s*=\s*([^;]*);', line)
        if match and current is not None:
            value = match.group(1).strip()
            limits.setdefault(current, []).append(int(value) if value.isdigit() else value)
    return limits


def parse_unrolled_limits(output_dir) -> list:
    text = Path(output_dir, 'firmware', 'nnet_utils', 'nnet_code_gen.h').read_text()
    return [int(v) for v in re.findall(r'instances=mul limit=(\d+)', text)]


def compile_all(hls_models, workers=2):
    """Write sequentially, then build the C simulation libraries in parallel (g++ subprocesses)."""
    for m in hls_models:
        m.write()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda m: m._compile(), hls_models))
    return hls_models
