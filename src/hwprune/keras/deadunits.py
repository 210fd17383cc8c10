"""Dead units during training: inputs of a layer that only ever carry a constant.

When pruning removes every weight of a neuron/filter, the unit emits a constant
(``activation(bias)``). The weights of the *consumer* that read it then cost multipliers for
nothing: :func:`hwprune.strip` will remove them, and keeping them in the knapsack wastes budget.
The callback therefore folds the constant into the consumer's bias and masks those weights; the
other way round, a unit whose consumer reads it with no weight left is masked whole. So the
budget goes to weights that matter and the resources it logs are those of the stripped model.

Only links the fold is exact for are handled: a Dense/Conv producer feeding one Dense/Conv
consumer directly or through elementwise layers (activations, dropout) and pooling, with the
same channel axis. Anything else (BatchNormalization, Flatten, merges, ...) is left alone;
:func:`hwprune.strip` still removes those units after training.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from ..layouts import DEPTHWISE_KINDS
from .registry import spec_for

logger = logging.getLogger(__name__)
keras = tf.keras

_ELEMENTWISE = ('Activation', 'QActivation', 'ReLU', 'LeakyReLU', 'ELU', 'Dropout',
                'SpatialDropout1D', 'SpatialDropout2D', 'GaussianDropout', 'AlphaDropout', 'GaussianNoise')
_POOLING = ('MaxPooling1D', 'MaxPooling2D', 'AveragePooling1D', 'AveragePooling2D', 'MaxPool1D', 'MaxPool2D',
            'AvgPool1D', 'AvgPool2D', 'GlobalMaxPooling1D', 'GlobalMaxPooling2D', 'GlobalAveragePooling1D',
            'GlobalAveragePooling2D')


@dataclass
class Link:
    """``producer -> between... -> consumer`` where a dead producer unit is a constant consumer input."""

    producer: object
    between: tuple
    consumer: object


_CROSS_CHANNEL = ('softmax', 'log_softmax')


def _elementwise_activation(activation) -> bool:
    name = getattr(activation, '__name__', None) or str(activation)
    return not any(word in name.lower() for word in _CROSS_CHANNEL)


def _passes_through(layer) -> bool:
    """Whether each channel of ``layer``'s output depends on the same channel of its input only."""
    name = type(layer).__name__
    if name in _POOLING:
        return True
    if name not in _ELEMENTWISE:
        return False
    if name == 'Activation':
        return _elementwise_activation(layer.activation)
    if name == 'QActivation':
        return _elementwise_activation(getattr(layer, 'quantizer', ''))
    return True


def _single_inbound(layer):
    nodes = getattr(layer, '_inbound_nodes', [])
    if len(nodes) != 1:
        return None
    inbound = nodes[0].inbound_layers
    if isinstance(inbound, (list, tuple)):
        return inbound[0] if len(inbound) == 1 else None
    return inbound


def _consumers(layer):
    return [node.outbound_layer for node in getattr(layer, '_outbound_nodes', [])]


def _linkable(layer) -> bool:
    """Single-kernel Dense/Conv layers: output units on the last kernel axis, inputs on the one
    before (depthwise and separable layers are not folded through)."""
    spec = spec_for(layer)
    return spec is not None and spec.kind not in DEPTHWISE_KINDS


def find_links(model, names) -> list[Link]:
    """Links between prunable layers (by name) along which dead units can be folded."""
    names = set(names)
    links = []
    for layer in model.layers:
        if layer.name not in names or not _linkable(layer):
            continue
        between = []
        parent = _single_inbound(layer)
        while parent is not None and _passes_through(parent) and len(_consumers(parent)) == 1:
            between.append(parent)
            parent = _single_inbound(parent)
        if parent is None or parent.name not in names or not _linkable(parent) or len(_consumers(parent)) != 1:
            continue
        if not _elementwise_activation(getattr(parent, 'activation', None)):
            continue
        if any(not isinstance(getattr(l, 'padding', 'valid'), str) for l in between):
            continue
        links.append(Link(parent, tuple(reversed(between)), layer))
    return links


def dead_units(kernel_mask: np.ndarray) -> np.ndarray:
    """Output units (last axis) whose every weight is masked."""
    return ~np.any(kernel_mask.reshape(-1, kernel_mask.shape[-1]) != 0, axis=0)


def unit_constants(link: Link, units: np.ndarray) -> np.ndarray | None:
    """The constant each unit of ``link.producer`` emits into the consumer once its weights are zero.

    ``None`` if it cannot be computed exactly (e.g. a pooling with ``'same'`` padding of a
    nonzero constant, which mixes in padding).
    """
    producer = link.producer
    bias = producer.bias.numpy() if getattr(producer, 'use_bias', False) and producer.bias is not None \
        else np.zeros(producer.kernel.shape[-1], np.float32)
    value = tf.constant(bias[None, :], dtype=tf.float32)
    activation = getattr(producer, 'activation', None)
    if activation is not None:
        value = activation(value)
    for layer in link.between:
        name = type(layer).__name__
        if name in _POOLING:
            continue  # pooling a constant map gives the constant (valid padding; 'same' checked below)
        value = layer(value, training=False)
    constants = np.asarray(value)[0]
    for layer in link.between:
        if type(layer).__name__ in _POOLING and getattr(layer, 'padding', 'valid') == 'same' \
                and type(layer).__name__.startswith('Max') and np.any(constants[units] != 0):
            return None  # max-pooling over zero padding is not constant
    return constants


def fold(link: Link, units: np.ndarray, constants: np.ndarray) -> bool:
    """Add the constant contribution of ``units`` to the consumer's bias; True if exact."""
    consumer = link.consumer
    kernel = consumer.kernel.numpy()
    c = np.zeros(kernel.shape[-2], np.float64)
    c[units] = constants[units]
    if not np.any(c):
        return True
    if not getattr(consumer, 'use_bias', False) or consumer.bias is None:
        return False
    if kernel.ndim > 2 and getattr(consumer, 'padding', 'valid') != 'valid':
        return False  # border positions see zero padding, not the constant
    spatial = tuple(range(kernel.ndim - 2))
    taps = kernel.sum(axis=spatial) if spatial else kernel
    consumer.bias.assign(consumer.bias.numpy() + (c @ taps).astype(consumer.bias.dtype.as_numpy_dtype))
    return True


def unread_units(consumer_mask: np.ndarray) -> np.ndarray:
    """Input channels (axis -2) of a consumer whose every weight is masked: nobody reads them."""
    channels = np.moveaxis(consumer_mask, -2, 0).reshape(consumer_mask.shape[-2], -1)
    return ~np.any(channels != 0, axis=1)


def output_mask(kernel_shape, units: np.ndarray) -> np.ndarray:
    """Kernel-shaped 0/1 mask that zeroes every weight of ``units`` (the last axis)."""
    mask = np.ones(kernel_shape, np.float32)
    mask[..., units] = 0.0
    return mask


def input_mask(kernel_shape, dead_inputs: np.ndarray) -> np.ndarray:
    """Kernel-shaped 0/1 mask that zeroes the weights reading ``dead_inputs`` (channel axis -2)."""
    mask = np.ones(kernel_shape, np.float32)
    index = [slice(None)] * len(kernel_shape)
    index[-2] = dead_inputs
    mask[tuple(index)] = 0.0
    return mask


__all__ = ['Link', 'dead_units', 'find_links', 'fold', 'input_mask', 'output_mask', 'unit_constants', 'unread_units']
