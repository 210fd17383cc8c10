"""Read prunable layers of a tf.keras model into framework-free :class:`LayerInfo` objects."""

from __future__ import annotations

import logging
from typing import Iterable

import numpy as np
import tensorflow as tf

from .._validation import invalid
from ..targets.base import LayerInfo
from .registry import LayerSpec, output_unit, specs_for, unit_spec

logger = logging.getLogger(__name__)
keras = tf.keras


def _shape(shape) -> tuple | None:
    if isinstance(shape, list):  # multi-input layers: not a weight layer's case
        shape = shape[0]
    if shape is None or any(s is None for s in tuple(shape)[1:]):
        return None
    return tuple(int(s) for s in tuple(shape)[1:])


def _producers(layer, cache: dict) -> tuple[str, ...]:
    """Names of the prunable layers feeding ``layer`` through non-prunable layers."""
    if layer.name in cache:
        return cache[layer.name]
    found: list[str] = []
    for node in getattr(layer, '_inbound_nodes', []):
        inbound = node.inbound_layers
        inbound = inbound if isinstance(inbound, (list, tuple)) else [inbound]
        for parent in inbound:
            if specs_for(parent):
                found.append(output_unit(parent))
            else:
                found.extend(_producers(parent, cache))
    cache[layer.name] = tuple(dict.fromkeys(found))
    return cache[layer.name]


_PASS_THROUGH = ('Activation', 'QActivation', 'Softmax', 'ReLU', 'LeakyReLU', 'Dropout', 'BatchNormalization',
                 'QBatchNormalization')


def output_layer_names(model) -> set:
    """Names of the layers whose units reach a model output one to one (through activations,
    dropout and batch normalisation)."""
    names = set()
    for tensor in model.outputs:
        layer = tensor._keras_history.layer
        while type(layer).__name__ in _PASS_THROUGH:
            inbound = layer._inbound_nodes[0].inbound_layers
            layer = inbound[0] if isinstance(inbound, (list, tuple)) else inbound
        names.add(layer.name)
    return names


def layer_info(layer, producers: Iterable[str] = (), spec: LayerSpec | None = None) -> LayerInfo:
    """A :class:`LayerInfo` for one built, registered Keras layer (``spec``: which unit of a layer
    with several kernels; default the first)."""
    return _unit_infos(layer, producers)[0 if spec is None else specs_for(layer).index(spec)]


def _unit_infos(layer, producers: Iterable[str] = ()) -> list[LayerInfo]:
    specs = specs_for(layer)
    if not specs:
        raise invalid('layer', layer.name, 'a layer with a registered layout', TypeError)
    try:
        input_shape, output_shape = _shape(layer.input_shape), _shape(layer.output_shape)
    except (AttributeError, RuntimeError):
        input_shape = output_shape = None
    strides = tuple(np.atleast_1d(getattr(layer, 'strides', (1,))))
    padding = getattr(layer, 'padding', 'valid')
    use_bias = bool(getattr(layer, 'use_bias', False))
    infos, inputs = [], tuple(producers)
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
                               class_name=type(layer).__name__, inputs=inputs))
        inputs = (infos[-1].name,)
    return infos


def firmware_kernel(layer, info: LayerInfo, kernel=None) -> np.ndarray:
    """The kernel as hls4ml will hold it: the layer's QKeras kernel quantizer applied (a weight it
    rounds to 0 is a zero, which frees its multiplier); plain Keras kernels are returned as they are.

    Args:
        layer: the Keras layer.
        info: which of its kernels (a :class:`LayerInfo` from :func:`prunable_layers`).
        kernel: values to use instead of the layer's current kernel.
    """
    spec = unit_spec(layer, info)
    values = getattr(layer, spec.kernel).numpy() if kernel is None else kernel
    quantizer = getattr(layer, spec.quantizer + '_internal', None)
    if quantizer is None or not getattr(layer, spec.quantizer, None):
        return np.asarray(values)
    return np.asarray(quantizer(tf.constant(values, dtype=tf.float32)), dtype=np.asarray(values).dtype)


def prunable_layers(model, names: Iterable[str] | None = None, warn: bool = True):
    """``[(layer, LayerInfo), ...]`` of the model's layers that have a layout, one entry per
    kernel (a SeparableConv gives two, named ``<name>_depthwise`` and ``<name>_pointwise``).

    Args:
        model: a built tf.keras model (Sequential or functional).
        names: restrict to these layer names (each must exist and be prunable); a unit name
            (``'sep_pointwise'``) selects one kernel of a layer with several.
        warn: log a warning for layers with weights but no registered layout.
    """
    if not isinstance(model, keras.Model):
        raise invalid('model', model, 'a tf.keras Model', TypeError)
    if not model.built:
        raise invalid('model', model.name, 'a built model (call it once or give it an input shape)')
    by_name = {layer.name: layer for layer in model.layers}
    units = {layer.name + spec.suffix: layer for layer in model.layers for spec in specs_for(layer) if spec.suffix}
    if names is not None:
        names = list(names)
        for name in names:
            if name not in by_name and name not in units:
                raise invalid('layers', name, 'names of layers of the model: ' + ', '.join(by_name))
            if not specs_for(by_name.get(name) or units[name]):
                raise invalid('layers', name, 'layers with a layout (register custom layers with '
                              'hwprune.keras.register_layer)')
    cache: dict = {}
    out = []
    for layer in model.layers:
        if not specs_for(layer):
            if warn and layer.trainable_weights and not isinstance(layer, keras.layers.BatchNormalization):
                logger.warning('Layer %r (%s) has weights but no hwprune layout; it is left unpruned. Register it '
                               'with hwprune.keras.register_layer(%s, kind=..., kernel=...) to prune it.',
                               layer.name, type(layer).__name__, type(layer).__name__)
            continue
        if names is not None and layer.name not in names and not any(units.get(n) is layer for n in names):
            continue
        out.extend((layer, info) for info in _unit_infos(layer, _producers(layer, cache))
                   if names is None or layer.name in names or info.name in names)
    return out


__all__ = ['firmware_kernel', 'layer_info', 'output_layer_names', 'prunable_layers']
