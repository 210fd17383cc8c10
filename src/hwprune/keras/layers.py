"""The prunable kernels of a Keras model, resolved once into units and plain descriptions.

:func:`resolve_units` walks the model once (its graph from :mod:`hwprune.keras.topology`) and
returns one :class:`KerasUnit` per prunable kernel: the Keras layer, which kernel of it
(:class:`~hwprune.keras.registry.LayerSpec`) and the framework-free
:class:`~hwprune.targets.base.LayerInfo` that targets and the hls4ml config reader work on
(:func:`describe_layers` returns just those). Everything else in the adapter (the callback,
``estimate``) works from that one list.

Example:
    >>> from hwprune.keras.topology import keras
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, name='fc1'),
    ...                           keras.layers.Dense(2, name='fc2')])
    >>> [(i.name, i.kind, i.kernel_shape, i.inputs) for i in describe_layers(model)]
    [('fc1', 'dense', (3, 4), ()), ('fc2', 'dense', (4, 2), ('fc1',))]
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from .._validation import invalid
from ..targets.base import LayerInfo
from . import quantized, topology
from .quantized import quantizer_weight_bits  # noqa: F401  (re-exported: it used to live here)
from .registry import LayerSpec, output_unit, specs_for
from .roles import class_role
from .topology import keras

logger = logging.getLogger(__name__)

@dataclass(frozen=True, eq=False)
class KerasUnit:
    """One prunable kernel of a Keras model.

    Attributes:
        layer: the Keras layer holding the kernel.
        spec: which kernel of the layer (a SeparableConv holds two).
        info: the framework-free description targets cost.
        is_output: the kernel computes a layer whose units reach a model output one to one
            (through activations, dropout and batch normalisation).
    """

    layer: Any
    spec: LayerSpec
    info: LayerInfo
    is_output: bool = False

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def kernel(self):
        """The kernel variable."""
        return getattr(self.layer, self.spec.kernel)

    def firmware_kernel(self, values=None) -> np.ndarray:
        """The kernel as hls4ml will hold it: the layer's QKeras or HGQ2 kernel quantizer applied (a
        weight it rounds to 0 is a zero, which frees its multiplier); float kernels as they are.

        Args:
            values: values to use instead of the layer's current kernel.
        """
        return quantized.firmware_kernel(self.layer, self.spec, values)


def _unit_infos(layer, graph, producers: tuple) -> list[LayerInfo]:
    specs = specs_for(layer)
    if graph is not None:
        input_shape, output_shape = graph.input_shape(layer), graph.output_shape(layer)
    else:  # no graph (a subclassed model): what the layer recorded when it was called, if anything
        input_shape, output_shape = topology.called_shapes(layer)
    strides = tuple(np.atleast_1d(getattr(layer, 'strides', (1,))))
    padding = getattr(layer, 'padding', 'valid')
    use_bias = bool(getattr(layer, 'use_bias', False))
    infos, inputs = [], producers
    for i, spec in enumerate(specs):
        kernel_shape = tuple(getattr(layer, spec.kernel).shape)
        unit_in, unit_out, unit_strides, unit_padding = input_shape, output_shape, strides, padding
        if len(specs) > 1 and i == 0:  # SeparableConv, as hls4ml splits it: the depthwise half ...
            unit_out = None if output_shape is None else output_shape[:-1] + (int(np.prod(kernel_shape[-2:])),)
        elif len(specs) > 1:  # ... feeds a 1x1 pointwise convolution
            unit_in, unit_strides, unit_padding = infos[0].output_shape, (1,) * len(strides), 'valid'
        infos.append(LayerInfo(name=layer.name + spec.suffix, kind=spec.kind, kernel_shape=kernel_shape,
                               input_shape=unit_in, output_shape=unit_out, strides=unit_strides,
                               padding=unit_padding, use_bias=use_bias and i == len(specs) - 1,
                               class_name=type(layer).__name__, inputs=inputs, layer=layer.name,
                               part=spec.precision if spec.suffix else None,
                               weight_bits=quantized.kernel_bits(layer, spec)))
        inputs = (infos[-1].name,)
    return infos


def _producers(graph, layer, cache: dict) -> tuple[str, ...]:
    """Names of the prunable units feeding ``layer`` through non-prunable layers."""
    if id(layer) in cache:
        return cache[id(layer)]
    cache[id(layer)] = ()  # a cycle cannot occur in a Keras graph; this only guards the recursion
    found: list[str] = []
    for parent in graph.parents(layer):
        if specs_for(parent):
            found.append(output_unit(parent))
        else:
            found.extend(_producers(graph, parent, cache))
    cache[id(layer)] = tuple(dict.fromkeys(found))
    return cache[id(layer)]


def _same_units(layer) -> bool:
    """Single-input layers after which output unit ``j`` is still unit ``j`` (activations, softmax
    included, dropout, batch normalisation)."""
    return class_role(type(layer)) in ('elementwise', 'bn') or isinstance(layer, keras.layers.Softmax)


def _output_layers(graph) -> set:
    """Ids of the layers whose units reach a model output one to one."""
    found = set()
    for layer in graph.output_layers():
        while _same_units(layer):
            parents = graph.parents(layer)
            if len(parents) != 1:
                break
            layer = parents[0]
        found.add(id(layer))
    return found


def resolve_units(model, names: Iterable[str] | None = None, warn: bool = True) -> list[KerasUnit]:
    """One :class:`KerasUnit` per prunable kernel of ``model`` (a SeparableConv gives two, named
    ``<name>_depthwise`` and ``<name>_pointwise``), in layer order.

    Args:
        model: a built Keras model (Sequential or functional; a subclassed model's layers are
            found too, without shapes or producers).
        names: restrict to these layer names (each must exist and be prunable); a unit name
            (``'sep_pointwise'``) selects one kernel of a layer with several. A single string is
            refused (it would be read letter by letter).
        warn: log a warning for layers with weights but no registered layout.
    """
    topology.check_model(model)
    if isinstance(names, str):
        raise invalid('layers', names, f'a list of layer names, e.g. [{names!r}]', TypeError)
    by_name = {layer.name: layer for layer in model.layers}
    units = {layer.name + spec.suffix: layer for layer in model.layers for spec in specs_for(layer) if spec.suffix}
    if names is not None:
        names = [str(n) for n in names]
        for name in names:
            if name not in by_name and name not in units:
                raise invalid('layers', name, 'names of layers of the model: ' + ', '.join(by_name))
            if not specs_for(by_name.get(name) or units[name]):
                raise invalid('layers', name, 'layers with a layout (register custom layers with '
                              'hwprune.keras.register_layer)')
    graph = topology.graph_or_none(model)
    outputs = _output_layers(graph) if graph is not None else set()
    cache: dict = {}
    out = []
    for layer in model.layers:
        specs = specs_for(layer)
        if not specs:
            if warn and layer.trainable_weights and class_role(type(layer)) != 'bn':
                logger.warning('Layer %r (%s) has weights but no hwprune layout; it is left unpruned. Register it '
                               'with hwprune.keras.register_layer(%s, kind=..., kernel=...) to prune it.',
                               layer.name, type(layer).__name__, type(layer).__name__)
            continue
        if names is not None and layer.name not in names and not any(units.get(n) is layer for n in names):
            continue
        producers = _producers(graph, layer, cache) if graph is not None else ()
        last = output_unit(layer)
        for spec, info in zip(specs, _unit_infos(layer, graph, producers)):
            if names is None or layer.name in names or info.name in names:
                out.append(KerasUnit(layer, spec, info, is_output=id(layer) in outputs and info.name == last))
    return out


def describe_layers(model, names: Iterable[str] | None = None) -> list[LayerInfo]:
    """The framework-free :class:`~hwprune.targets.base.LayerInfo` of every prunable kernel of a
    Keras model: what targets and the hls4ml config reader
    (:func:`hwprune.targets.hls_config.read_hls_config`) take.

    Args:
        model: a built Keras model.
        names: restrict to these layer (or unit) names.
    """
    return [unit.info for unit in resolve_units(model, names, warn=False)]


__all__ = ['KerasUnit', 'describe_layers', 'resolve_units']
