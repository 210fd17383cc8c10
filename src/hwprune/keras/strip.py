"""Physically remove dead units from a trained or pruned Keras / QKeras model.

Pruning with masks leaves the architecture untouched: a filter whose weights are all zero still
costs multipliers, registers and latency once hls4ml synthesises it. :func:`strip` rewrites the
model so that such units are gone, and the model still computes exactly the same function.

See ``docs/strip.md`` for the rules in full.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import warnings
from typing import Any

import numpy as np
import tensorflow as tf

from hwprune._validation import check_number, invalid
from hwprune.keras import topology
from hwprune.keras.roles import CHANNELWISE, is_elementwise, layer_quantizers, quantizers_elementwise, role_of
from hwprune.keras.topology import keras

logger = logging.getLogger(__name__)

__all__ = ['strip']

_L = keras.layers
# A depthwise kernel followed by a 1x1 pointwise one, pruned as one weight layer.
_SEPARABLE_TYPES = (_L.SeparableConv1D, _L.SeparableConv2D)
# Weight layers strip knows how to rebuild narrower (``units``/``filters`` in their config).
_REBUILDABLE = (_L.Dense, _L.Conv1D, _L.Conv2D, _L.Conv3D) + _SEPARABLE_TYPES

# Relative tolerance for "this probe output is the same at every position" and for "the
# quantizer gives back the same values".
_SPREAD_RTOL = 1e-6
_QUANT_RTOL = 1e-7


def strip(model: Any, atol: float = 0.0) -> Any:
    """Return a smaller copy of ``model`` without its dead units.

    A unit (Dense neuron, Conv filter) is *dead* when every weight of its kernel is zero
    (``|w| <= atol``, and also zero after the layer's kernel quantizer), when a following
    ``BatchNormalization`` has ``gamma == 0`` for its channel, or when it only reads channels
    that are themselves constant: it then emits a constant, which is folded into the bias of
    the layers that read it. A unit is *unused* when every layer reading it has an all-zero
    kernel slice for it. Dead and unused units are removed together with the matching kernel
    rows of their consumers, through activations, BatchNormalization, depthwise convolutions
    (SeparableConv layers are weight layers like Conv), dropout, pooling,
    padding, up-sampling, Flatten/Reshape, Add/Subtract/Multiply/Average/Maximum/Minimum and
    Concatenate. The widths of the model's inputs and outputs never change, and layers keep
    their names (hls4ml configurations are keyed by layer name). Layers that are not understood
    keep all their channels.

    With ``atol == 0`` the stripped model computes the same function as ``model`` up to float
    rounding; with ``atol > 0`` weights with ``|w| <= atol`` are treated as zero. ``model`` is
    not modified; the returned model is not compiled.

    Args:
        model: A built Sequential or functional Keras model (Keras 3, or Keras 2), possibly with
            QKeras layers.
        atol: Weights with an absolute value ``<= atol`` count as zero. Must be ``>= 0``.

    Returns:
        A new model of the same kind (Sequential or functional) with the same inputs, outputs
        and layer names, and fewer units.

    Raises:
        TypeError: ``model`` is not a Sequential or functional Keras model, or ``atol`` is not
            a number.
        ValueError: ``model`` is an unbuilt Sequential model, or ``atol`` is negative.

    Example:
        >>> import numpy as np
        >>> from hwprune.keras.strip import strip
        >>> from hwprune.keras.topology import keras
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation='relu'),
        ...                           keras.layers.Dense(2)])
        >>> kernel, bias = model.layers[0].get_weights()
        >>> kernel[:, :3] = 0.0  # three dead neurons
        >>> model.layers[0].set_weights([kernel, bias])
        >>> small = strip(model)
        >>> small.layers[0].units
        5
        >>> x = np.random.rand(16, 4).astype('float32')
        >>> bool(np.allclose(small(x), model(x), atol=1e-6))
        True
    """
    topology.check_model(model, built=False)
    atol = check_number('atol', atol, minimum=0.0)
    graph = topology.read_graph(model)
    analysis = _Analysis(graph, atol)
    analysis.run()
    return _rebuild(model, graph, analysis)


# --------------------------------------------------------------------------------------------
# Layer inspection helpers


@contextlib.contextmanager
def _quiet_config():
    """Silence the warning Keras raises each time a QKeras layer serialises its quantizers."""
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='The `keras.constraints.serialize', category=UserWarning)
        yield


def _config(layer: Any) -> dict:
    with _quiet_config():
        return layer.get_config()


def _fresh_quantizer(layer: Any, name: str) -> Any:
    """A private copy of ``layer``'s quantizer ``name`` (so probing does not touch the layer)."""
    internal = getattr(layer, name + '_internal', None)
    if internal is None or not getattr(layer, name, None):
        return None
    try:
        from qkeras.quantizers import get_quantizer
        return get_quantizer(_config(layer)[name])
    except Exception:  # noqa: BLE001 - fall back to a deep copy of the live object
        try:
            return copy.deepcopy(internal)
        except Exception:  # noqa: BLE001
            return internal


def _quantize(quantizer: Any, values: np.ndarray) -> np.ndarray:
    return np.asarray(quantizer(tf.constant(values, dtype=tf.float32)), dtype=np.float64)


def _effective(quantizer: Any, values: np.ndarray) -> np.ndarray:
    """The values a layer computes with: quantized if it has a quantizer, float64 either way."""
    return _quantize(quantizer, values) if quantizer is not None else np.asarray(values, dtype=np.float64)


def _ints(value: Any) -> list:
    if isinstance(value, (int, np.integer)):
        return [int(value)]
    if isinstance(value, (tuple, list)):
        return [i for v in value for i in _ints(v)]
    return []


def _probe_size(layer: Any) -> int:
    """Size given to unknown (``None``) spatial axes of a probe input."""
    sizes = []
    for attr in ('kernel_size', 'pool_size', 'strides', 'cropping', 'size', 'padding'):
        sizes += _ints(getattr(layer, attr, None))
    kernel, dilation = _ints(getattr(layer, 'kernel_size', None)), _ints(getattr(layer, 'dilation_rate', None))
    if kernel and len(dilation) == len(kernel):
        sizes += [(k - 1) * d + 1 for k, d in zip(kernel, dilation)]
    return 8 + 2 * sum(sizes)


def _probe(layer: Any, inputs: list, values: list, out_channels: int, as_list: bool) -> np.ndarray:
    """Run ``layer`` on inputs whose channel ``c`` holds ``values[i][c]`` at every position.

    Returns, per output channel, the value it takes at every position, or NaN where the output
    is not the same everywhere (or the probe failed).
    """
    size = _probe_size(layer)
    args = []
    for tensor, value in zip(inputs, values):
        shape = (1,) + tuple(size if d is None else d for d in tensor.shape[1:])
        array = np.broadcast_to(np.nan_to_num(value, nan=0.0), shape)
        args.append(tf.constant(array, dtype=tensor.dtype))
    arg = args if as_list else args[0]
    try:
        try:
            out = layer(arg, training=False)
        except TypeError:
            out = layer(arg)
        out = np.asarray(out, dtype=np.float64).reshape(-1, out_channels)
    except Exception as error:  # noqa: BLE001 - a failed probe only means "not constant"
        logger.debug('strip: probing layer %r failed (%s); treating its outputs as varying',
                     layer.name, error)
        return np.full(out_channels, np.nan)
    if out.shape[0] == 0:
        return np.full(out_channels, np.nan)
    first = out[0]
    spread = out.max(axis=0) - out.min(axis=0)
    steady = np.isfinite(first) & (spread <= _SPREAD_RTOL * (1.0 + np.abs(first)))
    return np.where(steady, first, np.nan)


def _depthwise_kernel(layer: Any):
    """A DepthwiseConv's kernel variable (Keras 2: ``depthwise_kernel``; Keras 3: ``kernel``)."""
    kernel = getattr(layer, 'depthwise_kernel', None)
    return kernel if kernel is not None else layer.kernel


def _channels_last(layer: Any) -> bool:
    return getattr(layer, 'data_format', 'channels_last') in (None, 'channels_last')


def _training_forced(node: topology.Node) -> bool:
    training = node.call_kwargs.get('training')
    return training is not None and training is not False


@dataclasses.dataclass
class _Weight:
    """Everything ``strip`` needs about one Dense/Conv node."""

    layer: Any
    in_key: tuple
    out_key: tuple
    kernel: np.ndarray          # raw kernel, original shape
    w: np.ndarray               # effective (quantised) kernel, float64, (taps, in, out)
    zero: np.ndarray            # bool (taps, in, out): weight counts as zero
    foldable: bool              # a constant input channel can be folded into the bias exactly
    bias: np.ndarray | None     # raw bias
    bias_eff: np.ndarray | None  # effective (quantised) bias, float64
    kq: Any = None              # kernel quantizer (private copy) or None
    parts: tuple = ()           # SeparableConv: (depthwise kernel, pointwise kernel), raw
    bq: Any = None              # bias quantizer (private copy) or None
    elementwise: bool = True    # activation is elementwise (else its outputs are pinned)
    drop_const: np.ndarray | None = None  # per input channel: constant that may be folded
    in_roots: np.ndarray | None = None
    out_roots: np.ndarray | None = None
    # final plan
    keep_rows: np.ndarray | None = None
    keep_cols: np.ndarray | None = None
    new_bias: np.ndarray | None = None
    use_bias: bool = False


class _UnionFind:
    """Disjoint sets over ``n`` integer ids (path halving, union by size)."""

    def __init__(self, n: int):
        self.parent = np.arange(n)
        self.size = np.ones(n, dtype=np.int64)

    def find(self, i: int) -> int:
        parent = self.parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return int(i)

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]

    def union_arrays(self, a: np.ndarray, b: np.ndarray) -> None:
        """Union ``a[i]`` with ``b[i]`` for every ``i``."""
        for x, y in zip(a.tolist(), b.tolist()):
            self.union(x, y)

    def roots(self) -> np.ndarray:
        """The root of every id."""
        return np.array([self.find(i) for i in range(len(self.parent))], dtype=np.int64)



# --------------------------------------------------------------------------------------------
# Analysis


class _Analysis:
    """Classify nodes, group channel slots, find constants, decide what goes."""

    def __init__(self, graph: topology.Graph, atol: float):
        self.graph = graph
        self.atol = atol
        self.kinds: list = []
        self.weights: dict = {}    # node index -> _Weight
        self.const: dict = {}      # tensor key -> float64 (channels,), NaN = not constant
        self.keep: dict = {}       # tensor key -> bool (channels,)
        self.reshapes: dict = {}   # id(layer) -> new target_shape
        self.varying = np.zeros(0, dtype=bool)  # slot root -> a channel of its group varies

    # -- classification ------------------------------------------------------------------

    def _classify(self, node: topology.Node) -> str:
        layer = node.layer
        tensors = self.graph.tensors
        ins = [tensors[k] for k in node.inputs]
        outs = [tensors[k] for k in node.outputs]
        role = role_of(layer)
        if role == 'input':
            return 'input'
        if (isinstance(layer, keras.Model) or len(outs) != 1 or not ins or _training_forced(node)
                or any(t.channels == 0 for t in ins + outs)):
            return 'barrier'
        out = outs[0]
        shared = self.graph.calls_per_layer.get(id(layer), 1) > 1
        single = len(ins) == 1
        same_channels = single and ins[0].channels == out.channels

        if role == 'weight':
            return 'weight' if single and not shared and isinstance(layer, _REBUILDABLE) else 'barrier'
        if role == 'depthwise':
            if (same_channels and not shared and getattr(layer, 'depth_multiplier', 1) == 1 and _channels_last(layer)
                    and is_elementwise(getattr(layer, 'activation', None)) and quantizers_elementwise(layer)):
                return 'depthwise'
            return 'barrier'
        if role == 'bn':
            rank = len(ins[0].shape)
            axis = getattr(layer, 'axis', [])
            axis = list(axis) if isinstance(axis, (list, tuple)) else [axis]  # Keras 3 keeps an int
            per_channel = all(tuple(w.shape) == (out.channels,) for w in layer.weights)
            if (same_channels and not shared and axis in ([rank - 1], [-1]) and per_channel
                    and quantizers_elementwise(layer)):
                return 'bn'
            return 'barrier'
        if role in CHANNELWISE:
            quantizers_ok = all(is_elementwise(q) for q in layer_quantizers(layer))
            if (same_channels and not layer.weights and _channels_last(layer) and quantizers_ok
                    and len(ins[0].shape) >= 2):
                return 'pass'
            return 'barrier'
        if role == 'merge':
            if all(t.shape[1:] == out.shape[1:] for t in ins) and not layer.weights:
                return 'merge'
            return 'barrier'
        if role == 'concat':
            rank = len(out.shape)
            if (layer.axis in (-1, rank - 1) and all(len(t.shape) == rank for t in ins)
                    and sum(t.channels for t in ins) == out.channels):
                return 'concat'
            return 'barrier'
        if role == 'reshape' and single and not layer.weights:
            known = all(d is not None for d in ins[0].shape[1:])
            if isinstance(layer, _L.Flatten):
                ok = _channels_last(layer) and known and out.channels == int(np.prod(ins[0].shape[1:]))
                return 'flatten' if ok else 'barrier'
            if shared:
                return 'barrier'
            if len(out.shape) >= 2 and out.shape[-1] == ins[0].channels:
                return 'reshape'
            if len(out.shape) == 2 and known and out.channels == int(np.prod(ins[0].shape[1:])):
                return 'flatten'
            return 'barrier'
        return 'barrier'

    def _zero(self, raw: np.ndarray, effective: np.ndarray) -> np.ndarray:
        """Weights that count as zero: within ``atol`` both as stored and as the layer uses them."""
        return (np.abs(raw) <= self.atol) & (np.abs(effective) <= self.atol)

    def _weight_info(self, node: topology.Node) -> _Weight | None:
        if isinstance(node.layer, _SEPARABLE_TYPES):
            return self._separable_info(node)
        layer = node.layer
        t_in = self.graph.tensors[node.inputs[0]]
        t_out = self.graph.tensors[node.outputs[0]]
        use_bias = bool(getattr(layer, 'use_bias', False))
        kernel_var = getattr(layer, 'kernel', None)
        if kernel_var is None or len(layer.weights) != 1 + use_bias:
            return None
        if getattr(layer, 'groups', 1) != 1 or not _channels_last(layer):
            return None
        kernel = np.asarray(kernel_var.numpy())
        if kernel.ndim < 2 or kernel.shape[-2] != t_in.channels or kernel.shape[-1] != t_out.channels:
            return None
        if not quantizers_elementwise(layer, ignore=('kernel', 'bias')):
            return None
        kq = _fresh_quantizer(layer, 'kernel_quantizer')
        bq = _fresh_quantizer(layer, 'bias_quantizer')
        try:
            w_eff = _effective(kq, kernel)
            bias = np.asarray(layer.bias.numpy()) if use_bias else None
            bias_eff = None if bias is None else _effective(bq, bias)
        except Exception as error:  # noqa: BLE001
            logger.info('strip: cannot evaluate the quantizers of layer %r (%s); keeping it whole',
                        layer.name, error)
            return None
        if w_eff.shape != kernel.shape or not np.all(np.isfinite(w_eff)):
            return None
        taps_shape = (-1,) + kernel.shape[-2:]
        zero = self._zero(kernel, w_eff)
        if isinstance(layer, _L.Dense):
            foldable = True
        else:
            foldable = layer.padding == 'valid' or all(k == 1 for k in kernel.shape[:-2])
        return _Weight(layer=layer, in_key=t_in.key, out_key=t_out.key, kernel=kernel,
                       w=w_eff.reshape(taps_shape), zero=zero.reshape(taps_shape),
                       foldable=foldable, bias=bias, bias_eff=bias_eff, kq=kq, bq=bq,
                       elementwise=is_elementwise(getattr(layer, 'activation', None)))

    def _separable_info(self, node: topology.Node) -> _Weight | None:
        """A SeparableConv as one weight layer whose kernel is ``depthwise[t, c] * pointwise[c, f]``:
        input channel ``c`` is read by unit ``f`` iff both are nonzero, and a constant input folds
        into the bias through both (valid padding)."""
        layer = node.layer
        t_in = self.graph.tensors[node.inputs[0]]
        t_out = self.graph.tensors[node.outputs[0]]
        use_bias = bool(layer.use_bias)
        if (getattr(layer, 'depth_multiplier', 1) != 1 or not _channels_last(layer)
                or len(layer.weights) != 2 + use_bias or not quantizers_elementwise(layer)):
            return None
        depthwise = np.asarray(layer.depthwise_kernel.numpy())
        pointwise = np.asarray(layer.pointwise_kernel.numpy())
        if depthwise.shape[-2] != t_in.channels or pointwise.shape[-1] != t_out.channels:
            return None
        bias = np.asarray(layer.bias.numpy()) if use_bias else None
        bq = _fresh_quantizer(layer, 'bias_quantizer')
        try:
            dw_eff = _effective(_fresh_quantizer(layer, 'depthwise_quantizer'), depthwise)
            pw_eff = _effective(_fresh_quantizer(layer, 'pointwise_quantizer'), pointwise)
            bias_eff = None if bias is None else _effective(bq, bias)
        except Exception as error:  # noqa: BLE001
            logger.info('strip: cannot evaluate the quantizers of layer %r (%s); keeping it whole',
                        layer.name, error)
            return None
        taps = dw_eff.reshape(-1, depthwise.shape[-2])  # (taps, C)
        w_eff = taps[:, :, None] * pw_eff.reshape(pointwise.shape[-2:])[None]  # (taps, C, F)
        dw_zero = self._zero(depthwise, dw_eff).reshape(taps.shape)
        pw_zero = self._zero(pointwise, pw_eff).reshape(pointwise.shape[-2:])
        zero = dw_zero[:, :, None] | pw_zero[None]
        if not np.all(np.isfinite(w_eff)):
            return None
        foldable = layer.padding == 'valid' or all(k == 1 for k in depthwise.shape[:-2])
        return _Weight(layer=layer, in_key=t_in.key, out_key=t_out.key, kernel=pointwise, w=w_eff, zero=zero,
                       foldable=foldable, bias=bias, bias_eff=bias_eff, parts=(depthwise, pointwise), bq=bq,
                       elementwise=is_elementwise(getattr(layer, 'activation', None)))

    def _depthwise_constants(self, node: topology.Node, t_in, t_out, const_in: np.ndarray) -> np.ndarray:
        """Channels of a depthwise layer that are constant: constant input (the probe checks the
        padding), or every weight of the channel zero (the output is the bias)."""
        layer = node.layer
        kernel = np.asarray(_depthwise_kernel(layer).numpy())
        try:
            effective = _effective(_fresh_quantizer(layer, 'depthwise_quantizer'), kernel)
        except Exception:  # noqa: BLE001 - unknown quantizer: no channel is known to be dead
            effective = kernel
        zero = self._zero(kernel, effective).reshape(-1, t_in.channels)
        steady = np.isfinite(const_in) | zero.all(axis=0)
        if not steady.any():
            return np.full(t_out.channels, np.nan)
        probed = _probe(layer, [t_in], [np.where(zero.all(axis=0), 0.0, const_in)], t_out.channels, as_list=False)
        return np.where(steady, probed, np.nan)

    # -- main ---------------------------------------------------------------------------

    def run(self) -> None:
        graph = self.graph
        uf = _UnionFind(graph.n_slots)
        pins: list = []
        tensors = graph.tensors

        logged: set = set()
        for index, node in enumerate(graph.nodes):
            kind = self._classify(node)
            if kind == 'weight':
                info = self._weight_info(node)
                if info is None:
                    kind = 'barrier'
                else:
                    self.weights[index] = info
            if kind == 'barrier' and id(node.layer) not in logged:
                logged.add(id(node.layer))
                logger.info('strip: layer %r (%s) is not supported here; keeping all its channels',
                            node.layer.name, type(node.layer).__name__)
            self.kinds.append(kind)
            ins = [tensors[k] for k in node.inputs]
            outs = [tensors[k] for k in node.outputs]
            if kind in ('input', 'barrier'):
                pins += [t.slots() for t in ins + outs]
            elif kind == 'weight':
                if not self.weights[index].elementwise:
                    pins.append(outs[0].slots())
            elif kind in ('pass', 'bn', 'reshape', 'depthwise'):
                uf.union_arrays(ins[0].slots(), outs[0].slots())
            elif kind == 'merge':
                for t in ins:
                    uf.union_arrays(t.slots(), outs[0].slots())
            elif kind == 'concat':
                offset = 0
                for t in ins:
                    uf.union_arrays(t.slots(), outs[0].slots()[offset:offset + t.channels])
                    offset += t.channels
            elif kind == 'flatten':
                src = np.tile(ins[0].slots(), outs[0].channels // ins[0].channels)
                uf.union_arrays(src, outs[0].slots())
        for key in graph.input_keys + graph.output_keys:
            pins.append(tensors[key].slots())

        self._propagate_constants()
        roots = uf.roots()
        # groups with a channel that varies somewhere: the ones to keep when a tensor would lose all
        self.varying = np.zeros(graph.n_slots, dtype=bool)
        for tensor in tensors.values():
            self.varying[roots[tensor.slots()[~np.isfinite(self.const[tensor.key])]]] = True
        pinned = np.zeros(graph.n_slots, dtype=bool)
        for slots in pins:
            pinned[roots[slots]] = True
        for w in self.weights.values():
            w.in_roots = roots[tensors[w.in_key].slots()]
            w.out_roots = roots[tensors[w.out_key].slots()]
            const = self.const[w.in_key]
            w.drop_const = np.isfinite(const) & (w.foldable | (const == 0))

        while True:
            removed = self._fixpoint(pinned)
            new_pins = self._check(removed, roots)
            if not new_pins:
                break
            pinned[np.asarray(new_pins, dtype=np.int64)] = True
        for key, tensor in tensors.items():
            self.keep[key] = ~removed[roots[tensor.slots()]]
        for w in self.weights.values():
            self._plan(w, removed)
        for index, node in enumerate(graph.nodes):
            if self.kinds[index] in ('reshape', 'flatten') and isinstance(node.layer, _L.Reshape):
                self._plan_reshape(node)

    def _propagate_constants(self) -> None:
        tensors = self.graph.tensors
        for index, node in enumerate(self.graph.nodes):
            kind = self.kinds[index]
            layer = node.layer
            ins = [tensors[k] for k in node.inputs]
            outs = [tensors[k] for k in node.outputs]
            values = [self.const[t.key] for t in ins]
            nan_outs = [np.full(t.channels, np.nan) for t in outs]
            result = nan_outs
            if kind == 'weight':
                result = [self._weight_constants(self.weights[index], ins[0], values[0])]
            elif kind in ('pass', 'bn'):
                steady = np.isfinite(values[0])
                if kind == 'bn' and layer.scale and not layer_quantizers(layer):
                    steady = steady | (np.abs(layer.gamma.numpy()) <= self.atol)
                if steady.any():
                    probed = _probe(layer, ins, values, outs[0].channels, as_list=False)
                    result = [np.where(steady, probed, np.nan)]
            elif kind == 'depthwise':
                result = [self._depthwise_constants(node, ins[0], outs[0], values[0])]
            elif kind == 'reshape':
                result = [values[0].copy()]
            elif kind == 'flatten':
                result = [np.tile(values[0], outs[0].channels // ins[0].channels)]
            elif kind == 'concat':
                result = [np.concatenate(values)]
            elif kind == 'merge':
                steady = np.logical_and.reduce([np.isfinite(v) for v in values])
                if steady.any():
                    probed = _probe(layer, ins, values, outs[0].channels, as_list=True)
                    result = [np.where(steady, probed, np.nan)]
            for tensor, value in zip(outs, result):
                self.const[tensor.key] = value

    def _weight_constants(self, w: _Weight, t_in: topology.Tensor, const_in: np.ndarray) -> np.ndarray:
        """Output units that are constant: every input they really read is a foldable constant."""
        n_out = w.w.shape[-1]
        if not w.elementwise:
            return np.full(n_out, np.nan)
        reads = ~w.zero.all(axis=0)  # (in, out)
        usable = np.isfinite(const_in) & (w.foldable | (const_in == 0))
        steady = ~(reads & ~usable[:, None]).any(axis=0)
        if not steady.any():
            return np.full(n_out, np.nan)
        probed = _probe(w.layer, [t_in], [const_in], n_out, as_list=False)
        return np.where(steady, probed, np.nan)

    def _fixpoint(self, pinned: np.ndarray) -> np.ndarray:
        """Least fixpoint of "a group goes when every kernel row reading it can be dropped"."""
        removed = np.zeros_like(pinned)
        while True:
            bad = pinned.copy()
            for w in self.weights.values():
                kept_cols = ~removed[w.out_roots]
                unread = w.zero[:, :, kept_cols].all(axis=(0, 2))
                bad[w.in_roots[~(unread | w.drop_const)]] = True
            new = ~bad
            if np.array_equal(new, removed):
                return removed
            removed = new

    def _fold(self, w: _Weight, removed: np.ndarray) -> tuple:
        keep_rows = ~removed[w.in_roots]
        keep_cols = ~removed[w.out_roots]
        const = self.const[w.in_key]
        fold_rows = ~keep_rows & np.isfinite(const) & (const != 0)
        per_row = w.w[:, fold_rows, :][:, :, keep_cols].sum(axis=0) * const[fold_rows][:, None]
        delta = per_row.sum(axis=0)
        magnitude = np.abs(per_row).max(axis=1, initial=0.0)
        order = np.argsort(-magnitude, kind='stable')
        contributing = np.flatnonzero(fold_rows)[order][magnitude[order] > 0]  # largest first
        return keep_rows, keep_cols, delta, contributing

    def _bias_target(self, w: _Weight, keep_cols: np.ndarray, delta: np.ndarray) -> tuple:
        """(raw bias to store, value the layer must effectively use, bias needed?)."""
        if w.bias is not None:
            target = w.bias_eff[keep_cols] + delta
            return np.where(delta != 0, target, w.bias[keep_cols]), target, True
        if np.any(delta != 0):
            return delta.copy(), delta.copy(), True
        return None, None, False

    def _check(self, removed: np.ndarray, roots: np.ndarray) -> list:
        """Find what must additionally be kept; an empty list means the plan is valid."""
        pins = []
        # a layer needs at least one channel: keep one group per emptied tensor, one that varies
        # somewhere if possible (a constant one would stay instead of being folded), and one
        # group for all the tensors it spans
        for tensor in self.graph.tensors.values():
            slots = tensor.slots()
            if tensor.channels and removed[roots[slots]].all():
                candidates = roots[slots]
                if np.isin(candidates, pins).any():
                    continue
                live = np.flatnonzero(self.varying[candidates])
                pins.append(int(candidates[live[0] if live.size else 0]))
        if pins:
            return pins
        for w in self.weights.values():
            keep_rows, keep_cols, delta, contributing = self._fold(w, removed)
            if keep_rows.all() and keep_cols.all():
                continue
            removed_rows = np.flatnonzero(~keep_rows)
            removed_cols = np.flatnonzero(~keep_cols)
            if w.kq is not None:
                sliced = np.take(np.take(w.kernel, np.flatnonzero(keep_rows), axis=-2),
                                 np.flatnonzero(keep_cols), axis=-1)
                reference = np.take(np.take(_quantize(w.kq, w.kernel), np.flatnonzero(keep_rows), axis=-2),
                                    np.flatnonzero(keep_cols), axis=-1)
                if not _same(_quantize(w.kq, sliced), reference):
                    # The quantizer's scale depends on the removed weights: keep, in this order,
                    # the removed rows that hold weights, the removed units, any removed row.
                    logger.debug('strip: the kernel quantizer of %r depends on the removed weights; '
                                 'keeping more of it', w.layer.name)
                    # One row at a time, the largest first: it is the likeliest to set the scale.
                    size = np.abs(w.w[:, removed_rows][:, :, keep_cols]).max(axis=(0, 2), initial=0.0)
                    if np.any(size > 0):
                        pins.append(w.in_roots[removed_rows[int(np.argmax(size))]])
                    elif len(removed_cols):
                        pins += list(w.out_roots[removed_cols])
                    else:
                        pins += list(w.in_roots[removed_rows])
                    continue
            stored, target, needed = self._bias_target(w, keep_cols, delta)
            if w.bq is not None and needed:
                if not _same(_quantize(w.bq, stored.astype(np.float32)), target.astype(np.float32)):
                    logger.debug('strip: the folded bias of %r is not representable by its bias '
                                 'quantizer; keeping more of it', w.layer.name)
                    if len(contributing):
                        pins.append(w.in_roots[contributing[0]])
                    elif len(removed_cols):
                        magnitude = np.abs(w.bias[removed_cols]) if w.bias is not None else removed_cols
                        pins.append(w.out_roots[removed_cols[int(np.argmax(magnitude))]])
        return pins

    def _plan(self, w: _Weight, removed: np.ndarray) -> None:
        keep_rows, keep_cols, delta, _ = self._fold(w, removed)
        stored, _, needed = self._bias_target(w, keep_cols, delta)
        w.keep_rows, w.keep_cols = keep_rows, keep_cols
        w.use_bias = needed
        w.new_bias = None if stored is None else stored.astype(w.kernel.dtype)

    def _plan_reshape(self, node: topology.Node) -> None:
        layer = node.layer
        keep_out = self.keep[node.outputs[0]]
        target = list(layer.target_shape)
        if keep_out.all():
            return
        kept = int(keep_out.sum())
        if len(target) == 1:
            if target[0] != -1:
                target[0] = kept
        elif target[-1] != -1:
            target[-1] = kept
        self.reshapes[id(layer)] = tuple(target)


def _same(actual: np.ndarray, expected: np.ndarray) -> bool:
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    return actual.shape == expected.shape and bool(
        np.all(np.abs(actual - expected) <= _QUANT_RTOL * (1.0 + np.abs(expected))))


# --------------------------------------------------------------------------------------------
# Rebuild


def _rebuild(model: Any, graph: topology.Graph, analysis: _Analysis) -> Any:
    overrides: dict = {}
    for w in analysis.weights.values():
        if w.keep_rows.all() and w.keep_cols.all() and w.use_bias == bool(w.layer.use_bias):
            continue
        config = _config(w.layer)
        config['units' if isinstance(w.layer, _L.Dense) else 'filters'] = int(w.keep_cols.sum())
        config['use_bias'] = w.use_bias
        overrides[id(w.layer)] = config
        logger.info('strip: %s %r: %d -> %d units, %d -> %d inputs%s',
                    type(w.layer).__name__, w.layer.name, w.keep_cols.size, int(w.keep_cols.sum()),
                    w.keep_rows.size, int(w.keep_rows.sum()),
                    ' (bias enabled to hold folded constants)' if w.use_bias and not w.layer.use_bias else '')
    for index, node in enumerate(graph.nodes):
        layer_id = id(node.layer)
        if layer_id in analysis.reshapes:
            config = _config(node.layer)
            config['target_shape'] = analysis.reshapes[layer_id]
            overrides[layer_id] = config

    created: dict = {}

    def clone(layer: Any) -> Any:
        config = overrides.get(id(layer))
        if config is not None:
            new = layer.__class__.from_config(config)
        else:
            try:
                if isinstance(layer, keras.Model):
                    new = keras.models.clone_model(layer)
                else:
                    new = layer.__class__.from_config(_config(layer))
            except Exception as error:  # noqa: BLE001 - never fail on an exotic layer
                logger.warning('strip: could not clone layer %r (%s); the stripped model shares '
                               'this layer (and its weights) with the original', layer.name, error)
                new = layer
        created[id(layer)] = new
        return new

    new_model = topology.clone(model, clone)

    weights_by_layer = {id(w.layer): w for w in analysis.weights.values()}
    done: set = set()
    for index, node in enumerate(graph.nodes):
        layer = node.layer
        if id(layer) in done or id(layer) not in created:
            continue
        done.add(id(layer))
        new = created[id(layer)]
        if new is layer or not layer.weights:
            continue
        kind = analysis.kinds[index]
        if kind == 'weight':
            w = weights_by_layer[id(layer)]
            rows, cols = np.flatnonzero(w.keep_rows), np.flatnonzero(w.keep_cols)
            if w.parts:  # SeparableConv: the depthwise kernel loses input channels only
                kernels = [np.take(w.parts[0], rows, axis=-2), np.take(np.take(w.parts[1], rows, axis=-2), cols, axis=-1)]
            else:
                kernels = [np.take(np.take(w.kernel, rows, axis=-2), cols, axis=-1)]
            new.set_weights(kernels + ([w.new_bias] if w.use_bias else []))
        elif kind == 'bn':
            keep = np.flatnonzero(analysis.keep[node.inputs[0]])
            new.set_weights([np.asarray(v)[keep] for v in layer.get_weights()])
        elif kind == 'depthwise':  # kernel (..., C, 1) and bias (C,): the rebuilt layer infers C
            keep = np.flatnonzero(analysis.keep[node.inputs[0]])
            new.set_weights([np.take(np.asarray(v), keep, axis=-2 if v.ndim > 1 else 0) for v in layer.get_weights()])
        else:
            new.set_weights(layer.get_weights())
    removed = sum(int((~w.keep_cols).sum()) for w in analysis.weights.values())
    logger.info('strip: removed %d units from %r', removed, model.name)
    return new_model
