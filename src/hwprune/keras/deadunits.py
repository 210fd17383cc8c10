"""Dead units during training: inputs of a layer that only ever carry a constant.

When pruning removes every weight of a neuron/filter, the unit emits a constant
(``activation(bias)``). The weights of the *consumer* that read it then cost multipliers for
nothing: :func:`hwprune.strip` will remove them, and keeping them in the knapsack wastes budget.
The pruning step (:class:`hwprune.pruning.Pruner`) therefore folds the constant into the
consumer's bias through the hook made here and masks those weights; the other way round, a unit
whose consumer reads it with no weight left is masked whole. So the budget goes to weights that
matter and the resources the callback logs are those of the stripped model.

Only links the fold is exact for are handled: a Dense/Conv producer feeding one Dense/Conv
consumer directly or through layers whose role (:mod:`hwprune.keras.roles`) is ``elementwise``
or ``pooling``, with the same channel axis. Anything else (BatchNormalization, Flatten, merges,
...) is left alone; :func:`hwprune.strip` still removes those units after training.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from ..kinds import get_kind
from . import quantized
from .registry import spec_for
from .roles import is_elementwise, role_of

logger = logging.getLogger(__name__)


@dataclass
class Link:
    """``producer -> between... -> consumer`` where a dead producer unit is a constant consumer input."""

    producer: object
    between: tuple
    consumer: object


def _linkable(layer) -> bool:
    """Single-kernel Dense/Conv layers: output units on the last kernel axis, inputs on the one
    before (depthwise and separable layers are not folded through)."""
    spec = spec_for(layer)
    # HGQ2 layers quantize their outputs with learned types: a folded constant would not be exact
    return spec is not None and not get_kind(spec.kind).depthwise and quantized.framework(layer) != 'hgq'


def _single_parent(graph, layer):
    if len(graph.nodes_of(layer)) != 1:
        return None
    parents = graph.parents(layer)
    return parents[0] if len(parents) == 1 else None


def _single_reader(graph, layer) -> bool:
    readers = [reader for node in graph.nodes_of(layer) for key in node.outputs for reader in graph.readers(key)]
    return len(readers) == 1


def find_links(graph, names) -> list[Link]:
    """Links between prunable layers (by name) along which dead units can be folded.

    Args:
        graph: the model's :class:`~hwprune.keras.topology.Graph`.
        names: names of the layers being pruned.
    """
    names = set(names)
    links = []
    for node in graph.nodes:
        layer = node.layer
        if layer.name not in names or not _linkable(layer) or graph.nodes_of(layer)[0] is not node:
            continue
        between = []
        parent = _single_parent(graph, layer)
        while parent is not None and role_of(parent) in ('elementwise', 'pooling') and _single_reader(graph, parent):
            between.append(parent)
            parent = _single_parent(graph, parent)
        if (parent is None or parent.name not in names or not _linkable(parent)
                or not _single_reader(graph, parent)):
            continue
        if not is_elementwise(getattr(parent, 'activation', None)):
            continue
        if any(not isinstance(getattr(l, 'padding', 'valid'), str) for l in between):
            continue
        links.append(Link(parent, tuple(reversed(between)), layer))
    return links


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
        if role_of(layer) == 'pooling':
            continue  # pooling a constant map gives the constant (valid padding; 'same' checked below)
        value = layer(value, training=False)
    constants = np.asarray(value)[0]
    for layer in link.between:
        if role_of(layer) == 'pooling' and getattr(layer, 'padding', 'valid') == 'same' \
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
    bias = np.asarray(consumer.bias.numpy())
    consumer.bias.assign(bias + (c @ taps).astype(bias.dtype))
    return True


def fold_hook(links: dict):
    """A :data:`hwprune.pruning.FoldHook` over ``{(producer index, consumer index): Link}``."""
    def hook(p: int, c: int, units: np.ndarray) -> bool:
        link = links[(p, c)]
        constants = unit_constants(link, units)
        return constants is not None and fold(link, units, constants)
    return hook


__all__ = ['Link', 'find_links', 'fold', 'fold_hook', 'unit_constants']
