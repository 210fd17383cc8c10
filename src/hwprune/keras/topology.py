"""Keras topology: the one module that reads a model's layer graph from Keras.

Everything in hwprune that needs to know who feeds whom - the producers and consumers of a
layer, the tensors a call reads and writes, the layers behind the model's outputs, a layer's
input and output shapes - asks the :class:`Graph` that :func:`read_graph` builds here. This is
the only module that touches Keras's graph internals (``_nodes_by_depth``, call nodes, Keras
history of symbolic tensors), so a new Keras generation is taught here and nowhere else.

The graph is the list of the model's own call nodes in topological order (inputs first). Every
tensor is named by its Keras history ``(id(layer), node_index, tensor_index)`` and owns a
contiguous range of *channel slots* (one per entry of its last axis), which ``strip`` groups
into sets that must be kept or removed together.

Example:
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, name='a'),
    ...                           keras.layers.ReLU(name='r'), keras.layers.Dense(2, name='b')])
    >>> graph = read_graph(model)
    >>> [layer.name for layer in graph.parents(model.get_layer('b'))]
    ['r']
    >>> [layer.name for layer in graph.output_layers()], graph.input_shape(model.get_layer('b'))
    (['b'], (4,))
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import os
from typing import Any

import numpy as np
import tensorflow as tf

from .._validation import invalid

logger = logging.getLogger(__name__)


def _bind():
    """The Keras hwprune works with in this process, and whether it is Keras 3.

    TensorFlow's own choice: Keras 3 (the ``keras`` package) on TensorFlow >= 2.16, unless
    ``TF_USE_LEGACY_KERAS`` selects ``tf_keras`` (Keras 2); Keras 2 (``tf.keras``) on TensorFlow 2.15.
    """
    try:
        installed = importlib.import_module('keras')
        version = str(getattr(installed, '__version__', '0'))
    except ImportError:  # pragma: no cover - TensorFlow always brings a keras
        installed, version = None, '0'
    legacy = os.environ.get('TF_USE_LEGACY_KERAS', '').strip().lower() in ('1', 'true', 'yes')
    if installed is not None and int(version.split('.')[0]) >= 3 and not legacy:
        return installed, True, version
    module = tf.keras
    if module.__name__.startswith('tf_keras'):
        version = importlib.import_module('tf_keras').__version__
    return module, False, str(getattr(module, '__version__', version))


#: The Keras module hwprune works with (Keras 3 ``keras``, or Keras 2 ``tf.keras``/``tf_keras``).
keras, KERAS3, KERAS_VERSION = _bind()
#: What the bound Keras is called in messages.
KERAS_NAME = f'Keras {KERAS_VERSION}' + (' (tf_keras)' if keras.__name__.startswith('tf_keras') else '')

TensorKey = tuple  # (id(layer), node_index, tensor_index)


def _history(tensor: Any):
    history = tensor._keras_history
    return (history.operation if KERAS3 else history.layer), history.node_index, history.tensor_index


def tensor_key(tensor: Any) -> TensorKey:
    """Return the key of a Keras symbolic tensor (its producing layer, node and output index)."""
    layer, node_index, tensor_index = _history(tensor)
    return (id(layer), node_index, tensor_index)


def _shape(tensor: Any) -> tuple:
    shape = tensor.shape
    if not KERAS3:
        return tuple(shape.as_list()) if shape.rank is not None else ()
    return tuple(shape) if shape is not None else ()


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
    dtype: Any
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

    def __post_init__(self):
        self._producer = {key: node for node in self.nodes for key in node.outputs}
        self._readers: dict = {}
        for node in self.nodes:
            for key in node.inputs:
                self._readers.setdefault(key, []).append(node)

    def nodes_of(self, layer) -> list[Node]:
        """The calls of ``layer`` inside the model, in topological order."""
        return [node for node in self.nodes if node.layer is layer]

    def producer(self, key: TensorKey) -> Node | None:
        """The node that computes a tensor (``None`` for a model input fed from outside)."""
        return self._producer.get(key)

    def readers(self, key: TensorKey) -> list[Node]:
        """The nodes that read a tensor."""
        return list(self._readers.get(key, ()))

    def parents(self, layer) -> list:
        """Layers whose outputs ``layer`` reads, over all its calls, in call order (no duplicates)."""
        found = []
        for node in self.nodes_of(layer):
            for key in node.inputs:
                producer = self.producer(key)
                if producer is not None and not any(p is producer.layer for p in found):
                    found.append(producer.layer)
        return found

    def children(self, layer) -> list:
        """Layers that read an output of ``layer`` (no duplicates)."""
        found = []
        for node in self.nodes_of(layer):
            for key in node.outputs:
                for reader in self.readers(key):
                    if not any(c is reader.layer for c in found):
                        found.append(reader.layer)
        return found

    def output_layers(self) -> list:
        """Layers computing the model's outputs, in output order."""
        return [self._producer[key].layer for key in self.output_keys if key in self._producer]

    def feeds_output(self, layer) -> bool:
        """Whether an output of ``layer`` is an output of the model."""
        return any(key in self.output_keys for node in self.nodes_of(layer) for key in node.outputs)

    def _sample_shape(self, layer, side: str) -> tuple | None:
        nodes = self.nodes_of(layer)
        if not nodes:
            return None
        keys = getattr(nodes[0], side)
        if len(keys) != 1:
            return None
        shape = self.tensors[keys[0]].shape[1:]
        return None if any(s is None for s in shape) else tuple(int(s) for s in shape)

    def input_shape(self, layer) -> tuple | None:
        """Per-sample input shape of a single-input layer (first call); ``None`` if unknown."""
        return self._sample_shape(layer, 'inputs')

    def output_shape(self, layer) -> tuple | None:
        """Per-sample output shape of a single-output layer (first call); ``None`` if unknown."""
        return self._sample_shape(layer, 'outputs')


def _generation(model: Any) -> str | None:
    """Which Keras a model object comes from, by its class (``None``: not a Keras model)."""
    for klass in type(model).__mro__:
        module = klass.__module__ or ''
        if klass.__name__ in ('Model', 'Functional', 'Sequential'):
            if module.startswith('tf_keras'):
                return 'tf_keras (Keras 2)'
            if module.startswith('keras.src.models') or module.startswith('keras.src.engine.functional') and KERAS3:
                return 'Keras 3'
            if module.startswith(('keras.src.engine', 'keras.engine')):
                return 'Keras 2'
    return None


def is_model(model: Any) -> bool:
    """Whether ``model`` is a model of the Keras hwprune works with (:data:`keras`)."""
    return isinstance(model, keras.Model)


def check_model(model: Any, built: bool = True, argument: str = 'model') -> Any:
    """Raise the library's error unless ``model`` is a (built) model of the bound Keras.

    A model of another Keras generation (a ``tf_keras`` model while hwprune works with Keras 3, or
    the other way round) is named in one line, with what to do.
    """
    if not is_model(model):
        other = _generation(model)
        if other is not None:
            fix = ('set TF_USE_LEGACY_KERAS=1 before TensorFlow is imported so that hwprune works with tf_keras, or '
                   'build the model with keras (Keras 3)') if KERAS3 else \
                ('unset TF_USE_LEGACY_KERAS (TensorFlow >= 2.16 with keras 3), or build the model with tf.keras')
            raise invalid(argument, type(model).__name__, f'a {KERAS_NAME} model: this is a {other} model, and '
                          f'hwprune works with the Keras TensorFlow uses in this process ({KERAS_NAME}); {fix}',
                          TypeError)
        raise invalid(argument, model, f'a Keras Model ({KERAS_NAME})', TypeError)
    if built and not model.built:
        raise invalid(argument, model.name, 'a built model (call it once or give it an input shape)')
    return model


def _graph_model(model: Any):
    """The object holding the node graph (Keras 3 keeps a Sequential's graph in ``_functional``)."""
    if KERAS3:
        if isinstance(model, keras.Sequential):
            return getattr(model, '_functional', None)
        return model if hasattr(model, '_nodes_by_depth') else None
    return model if getattr(model, '_is_graph_network', False) and hasattr(model, '_nodes_by_depth') else None


def has_graph(model: Any) -> bool:
    """Whether the model is Sequential or functional with a known layer graph (not subclassed)."""
    return _graph_model(model) is not None


def _node_parts(node):
    """``(layer, input tensors, output tensors, call args, call kwargs)`` of a Keras call node."""
    if KERAS3:
        arguments = node.arguments
        return (node.operation, list(node.input_tensors), list(tf.nest.flatten(node.outputs)),
                tuple(arguments.args or ()), dict(arguments.kwargs or {}))
    return (node.layer, list(node.keras_inputs), list(tf.nest.flatten(node.outputs)), tuple(node.call_args or ()),
            dict(node.call_kwargs or {}))


def read_graph(model: Any) -> Graph:
    """Read the call graph of a built Sequential or functional model.

    Raises:
        TypeError: ``model`` is not a Keras model with a layer graph (e.g. a subclassed model).
        ValueError: ``model`` is a Sequential model that has not been built.
    """
    check_model(model, built=False)
    if isinstance(model, keras.Sequential) and not has_graph(model):
        raise invalid('model', model, 'a built Sequential model with a known input shape '
                      '(start it with keras.Input(shape) or call `model.build(input_shape)`)')
    graph_model = _graph_model(model)
    if graph_model is None:
        raise invalid('model', model, 'a Sequential or functional Keras model; subclassed models '
                      'have no layer graph to rewrite', TypeError)

    nodes: list = []
    tensors: dict = {}
    calls: dict = {}

    def add_tensor(kt: Any) -> TensorKey:
        key = tensor_key(kt)
        if key not in tensors:
            shape = _shape(kt)
            channels = shape[-1] if len(shape) >= 2 and shape[-1] is not None else 0
            tensors[key] = Tensor(key, shape, kt.dtype, int(channels))
        return key

    for depth in sorted(graph_model._nodes_by_depth, reverse=True):
        for node in graph_model._nodes_by_depth[depth]:
            layer, inputs, outputs, args, kwargs = _node_parts(node)
            calls[id(layer)] = calls.get(id(layer), 0) + 1
            outputs = [add_tensor(t) for t in outputs]
            inputs = [add_tensor(t) for t in inputs]
            nodes.append(Node(layer, inputs, outputs, args, kwargs, depth))

    input_keys = [add_tensor(t) for t in graph_model.inputs]
    output_keys = [add_tensor(t) for t in tf.nest.flatten(graph_model.outputs)]
    base = 0
    for tensor in tensors.values():
        tensor.base = base
        base += tensor.channels
    return Graph(nodes, tensors, input_keys, output_keys, calls, base)


def graph_or_none(model: Any) -> Graph | None:
    """:func:`read_graph`, or ``None`` for a model without a layer graph (subclassed)."""
    if not has_graph(model):
        return None
    return read_graph(model)


def called_shapes(layer) -> tuple:
    """``(input shape, output shape)`` per sample that a layer of a model without a graph recorded
    when it was called (``None`` where unknown)."""
    def sample(shape):
        if isinstance(shape, list):  # multi-input layers: not a weight layer's case
            shape = shape[0]
        if shape is None or any(s is None for s in tuple(shape)[1:]):
            return None
        return tuple(int(s) for s in tuple(shape)[1:])

    try:
        if KERAS3:
            return sample(tuple(layer.input.shape)), sample(tuple(layer.output.shape))
        return sample(layer.input_shape), sample(layer.output_shape)
    except (AttributeError, RuntimeError, ValueError):
        return None, None


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


def clone(model: Any, clone_function) -> Any:
    """``keras.models.clone_model`` with every custom object of the model in scope."""
    with keras.utils.custom_object_scope(custom_objects(model)):
        return keras.models.clone_model(model, clone_function=clone_function)


def layer_input(layer):
    """The symbolic input of a layer called once (a list for a layer with several inputs)."""
    return layer.input


__all__ = ['Graph', 'KERAS3', 'KERAS_NAME', 'KERAS_VERSION', 'Node', 'Tensor', 'TensorKey', 'called_shapes', 'check_model', 'clone', 'custom_objects', 'graph_or_none',
           'has_graph', 'is_model', 'keras', 'read_graph', 'tensor_key']
