"""Which Keras layers hwprune can prune, and how to read them.

A registry maps layer classes to a :class:`LayerSpec` (layer kind and kernel attribute),
resolved along the class MRO so that subclasses work: QKeras ``QDense`` is a ``Dense`` and is
pruned like one. Classes that subclass a prunable class but compute something else (Keras 2's
``Conv2DTranspose`` is a ``Conv2D``) are registered as *not* prunable.

Register your own layer (like tfmot's ``PrunableLayer``):

Example:
    >>> import tensorflow as tf
    >>> from hwprune.keras.registry import register_layer, spec_for
    >>> class MyDense(tf.keras.layers.Layer):
    ...     pass
    >>> register_layer(MyDense, kind='dense', kernel='w')
    >>> spec_for(MyDense()).kernel
    'w'
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import tensorflow as tf

from .._validation import invalid
from ..layouts import check_kind

logger = logging.getLogger(__name__)
keras = tf.keras


@dataclass(frozen=True)
class LayerSpec:
    """How to prune one layer class: its kind and the attribute holding its kernel variable."""

    kind: str
    kernel: str = 'kernel'


_REGISTRY: dict[type, LayerSpec | None] = {}


def register_layer(cls: type, kind: str | None, kernel: str = 'kernel') -> None:
    """Register ``cls`` as prunable with layouts of ``kind`` (``None``: never prune it).

    Args:
        cls: a Keras layer class.
        kind: ``'dense'``, ``'conv1d'``, ``'conv2d'`` (the kernel must have the Keras shape of
            that kind), or ``None`` to exclude the class and its subclasses.
        kernel: name of the attribute holding the kernel ``tf.Variable``.
    """
    if not isinstance(cls, type) or not issubclass(cls, keras.layers.Layer):
        raise invalid('cls', cls, 'a tf.keras Layer subclass', TypeError)
    _REGISTRY[cls] = None if kind is None else LayerSpec(check_kind(kind), kernel)


def spec_for(layer) -> LayerSpec | None:
    """The :class:`LayerSpec` of a layer instance (or class), ``None`` if it has no layout."""
    cls = layer if isinstance(layer, type) else type(layer)
    for klass in cls.__mro__:
        if klass in _REGISTRY:
            return _REGISTRY[klass]
    return None


def kernel_variable(layer) -> tf.Variable:
    """The kernel variable of a registered, built layer."""
    spec = spec_for(layer)
    if spec is None:
        raise invalid('layer', getattr(layer, 'name', layer), 'a layer with a registered layout (see '
                      'hwprune.keras.register_layer)', TypeError)
    return getattr(layer, spec.kernel)


register_layer(keras.layers.Dense, 'dense')
register_layer(keras.layers.Conv1D, 'conv1d')
register_layer(keras.layers.Conv2D, 'conv2d')
for _cls in (keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose, keras.layers.DepthwiseConv2D,
             keras.layers.SeparableConv1D, keras.layers.SeparableConv2D, keras.layers.Conv3D):
    register_layer(_cls, None)
if hasattr(keras.layers, 'DepthwiseConv1D'):
    register_layer(keras.layers.DepthwiseConv1D, None)

__all__ = ['LayerSpec', 'kernel_variable', 'register_layer', 'spec_for']
