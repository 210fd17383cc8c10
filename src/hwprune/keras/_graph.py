"""Read the layer graph of a Sequential or functional tf.keras model (private helper of ``strip``).

The graph is the list of the model's own call nodes in topological order (inputs first). Every
tensor is named by its Keras history ``(id(layer), node_index, tensor_index)`` and owns a
contiguous range of *channel slots* (one per entry of its last axis), which
:class:`UnionFind` groups into sets that must be kept or removed together.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np
import tensorflow as tf

from hwprune._validation import invalid

keras = tf.keras

logger = logging.getLogger(__name__)

TensorKey = tuple  # (id(layer), node_index, tensor_index)


def tensor_key(tensor: Any) -> TensorKey:
    """Return the key of a Keras symbolic tensor (its producing layer, node and output index)."""
    history = tensor._keras_history
    return (id(history.layer), history.node_index, history.tensor_index)


@dataclasses.dataclass
class Tensor:
    """A symbolic tensor of the graph.

    Attributes:
        key: The tensor's key (see :func:`tensor_key`).
        shape: The full static shape, batch axis included (``None`` for unknown sizes).
        dtype: The tensor's dtype.
        channels: Size of the last axis, or 0 when it is unknown (such a tensor has no slots).
        base: Id of the tensor's first channel slot.
    """

    key: TensorKey
    shape: tuple
    dtype: tf.DType
    channels: int
    base: int = 0

    def slots(self) -> np.ndarray:
        """Slot ids of the tensor's channels, in channel order."""
        return np.arange(self.base, self.base + self.channels)


@dataclasses.dataclass
class Node:
    """One call of a layer inside the model.

    Attributes:
        layer: The called layer.
        inputs: Keys of the tensor arguments, flattened in call order.
        outputs: Keys of the output tensors, flattened.
        call_args: The positional arguments as recorded by Keras.
        call_kwargs: The keyword arguments as recorded by Keras.
        depth: Keras node depth (0 = output side).
    """

    layer: Any
    inputs: list
    outputs: list
    call_args: tuple
    call_kwargs: dict
    depth: int


@dataclasses.dataclass
class Graph:
    """The node graph of a model, in topological order (producers before consumers)."""

    nodes: list
    tensors: dict
    input_keys: list
    output_keys: list
    calls_per_layer: dict  # id(layer) -> number of nodes of that layer inside the model
    n_slots: int


def custom_objects(model: Any) -> dict:
    """Objects needed to re-create the model's layers from their configs.

    QKeras layers and quantizers (when QKeras is installed) plus the classes of every layer the
    model contains, so that custom layers with a ``get_config`` can be cloned without the caller
    registering them.
    """
    objects: dict = {}
    try:
        from qkeras.utils import _add_supported_quantized_objects
    except ImportError:  # pragma: no cover - QKeras is an optional dependency
        pass
    else:
        _add_supported_quantized_objects(objects)
    for layer in model._flatten_layers(include_self=False, recursive=True):
        objects.setdefault(type(layer).__name__, type(layer))
    return objects


def read_graph(model: Any) -> Graph:
    """Read the call graph of a built Sequential or functional model.

    Raises:
        TypeError: ``model`` is not a tf.keras model with a layer graph (e.g. a subclassed model).
        ValueError: ``model`` is a Sequential model that has not been built.
    """
    if not isinstance(model, keras.Model):
        raise invalid('model', model, 'a tf.keras Model (Sequential or functional)', TypeError)
    if isinstance(model, keras.Sequential) and not getattr(model, '_is_graph_network', False):
        raise invalid('model', model, 'a built Sequential model with a known input shape '
                      '(give the first layer an `input_shape` or call `model.build(input_shape)`)')
    if not getattr(model, '_is_graph_network', False) or not hasattr(model, '_nodes_by_depth'):
        raise invalid('model', model, 'a Sequential or functional tf.keras model; subclassed models '
                      'have no layer graph to rewrite', TypeError)

    nodes: list = []
    tensors: dict = {}
    calls: dict = {}

    def add_tensor(kt: Any) -> TensorKey:
        key = tensor_key(kt)
        if key not in tensors:
            shape = tuple(kt.shape.as_list()) if kt.shape.rank is not None else ()
            channels = shape[-1] if len(shape) >= 2 and shape[-1] is not None else 0
            tensors[key] = Tensor(key, shape, kt.dtype, int(channels))
        return key

    for depth in sorted(model._nodes_by_depth, reverse=True):
        for node in model._nodes_by_depth[depth]:
            layer = node.layer
            calls[id(layer)] = calls.get(id(layer), 0) + 1
            outputs = [add_tensor(t) for t in tf.nest.flatten(node.outputs)]
            inputs = [add_tensor(t) for t in node.keras_inputs]
            nodes.append(Node(layer, inputs, outputs, tuple(node.call_args or ()),
                              dict(node.call_kwargs or {}), depth))

    input_keys = [add_tensor(t) for t in model.inputs]
    output_keys = [add_tensor(t) for t in model.outputs]
    base = 0
    for tensor in tensors.values():
        tensor.base = base
        base += tensor.channels
    return Graph(nodes, tensors, input_keys, output_keys, calls, base)


class UnionFind:
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
