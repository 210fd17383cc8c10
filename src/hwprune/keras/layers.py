"""Read prunable layers of a tf.keras model into framework-free :class:`LayerInfo` objects."""

from __future__ import annotations

import logging
from typing import Iterable

import numpy as np
import tensorflow as tf

from .._validation import invalid
from ..targets.base import LayerInfo
from .registry import spec_for

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
            if spec_for(parent) is not None:
                found.append(parent.name)
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


def layer_info(layer, producers: Iterable[str] = ()) -> LayerInfo:
    """A :class:`LayerInfo` for one built, registered Keras layer."""
    spec = spec_for(layer)
    if spec is None:
        raise invalid('layer', layer.name, 'a layer with a registered layout', TypeError)
    kernel = getattr(layer, spec.kernel)
    try:
        input_shape, output_shape = _shape(layer.input_shape), _shape(layer.output_shape)
    except (AttributeError, RuntimeError):
        input_shape = output_shape = None
    strides = getattr(layer, 'strides', (1,))
    padding = getattr(layer, 'padding', 'valid')
    return LayerInfo(name=layer.name, kind=spec.kind, kernel_shape=tuple(kernel.shape), input_shape=input_shape,
                     output_shape=output_shape, strides=tuple(np.atleast_1d(strides)), padding=padding,
                     use_bias=bool(getattr(layer, 'use_bias', False)), class_name=type(layer).__name__,
                     inputs=tuple(producers))


def prunable_layers(model, names: Iterable[str] | None = None, warn: bool = True):
    """``[(layer, LayerInfo), ...]`` of the model's layers that have a layout.

    Args:
        model: a built tf.keras model (Sequential or functional).
        names: restrict to these layer names (each must exist and be prunable).
        warn: log a warning for layers with weights but no registered layout.
    """
    if not isinstance(model, keras.Model):
        raise invalid('model', model, 'a tf.keras Model', TypeError)
    if not model.built:
        raise invalid('model', model.name, 'a built model (call it once or give it an input shape)')
    by_name = {layer.name: layer for layer in model.layers}
    if names is not None:
        names = list(names)
        for name in names:
            if name not in by_name:
                raise invalid('layers', name, 'names of layers of the model: ' + ', '.join(by_name))
            if spec_for(by_name[name]) is None:
                raise invalid('layers', name, 'layers with a layout (register custom layers with '
                              'hwprune.keras.register_layer)')
    cache: dict = {}
    out = []
    for layer in model.layers:
        spec = spec_for(layer)
        if spec is None:
            if warn and layer.trainable_weights and not isinstance(layer, keras.layers.BatchNormalization):
                logger.warning('Layer %r (%s) has weights but no hwprune layout; it is left unpruned. Register it '
                               'with hwprune.keras.register_layer(%s, kind=..., kernel=...) to prune it.',
                               layer.name, type(layer).__name__, type(layer).__name__)
            continue
        if names is not None and layer.name not in names:
            continue
        out.append((layer, layer_info(layer, _producers(layer, cache))))
    return out


__all__ = ['layer_info', 'output_layer_names', 'prunable_layers']
