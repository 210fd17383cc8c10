"""Measure how sparse each layer's input activations are on sample data.

Accelerators with zero gating (Eyeriss) skip the MACs whose input activation is zero, so a
layer's energy depends on the fraction of zeros in its input. :func:`measure_activation_sparsity`
measures it for the :class:`~hwprune.targets.energy.Energy` target.

Example:
    >>> sparsity = measure_activation_sparsity(model, x_sample)         # doctest: +SKIP
    >>> target = hwprune.targets.Energy(activation_sparsity=sparsity)   # doctest: +SKIP
"""

from __future__ import annotations

import logging
from typing import Iterable

import numpy as np
import tensorflow as tf

from .._validation import check_int, invalid
from . import topology
from .layers import resolve_units
from .topology import keras

logger = logging.getLogger(__name__)


def measure_activation_sparsity(model, x, layers: Iterable[str] | None = None, batch_size: int = 256,
                                atol: float = 0.0) -> dict[str, float]:
    """Fraction of zero values in the input of each layer, over the samples ``x``.

    Args:
        model: a built Keras model (Sequential or functional).
        x: sample inputs (an array, or a list of arrays for a multi-input model).
        layers: names of the layers to measure (any layer with one input); default: every layer
            hwprune can prune (Dense, Conv, DepthwiseConv, SeparableConv and registered layers).
        batch_size: samples per forward pass.
        atol: values with ``|a| <= atol`` count as zero.

    Returns:
        ``{layer name: fraction of zero input values}``, in the model's layer order.

    Example:
        >>> import numpy as np, tensorflow as tf
        >>> from hwprune.keras.topology import keras
        >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation='relu', name='a'),
        ...                           keras.layers.Dense(2, name='b')])
        >>> model.layers[0].set_weights([np.array([[1., -1., 0., 0.]] * 3), np.zeros(4)])
        >>> measure_activation_sparsity(model, np.ones((5, 3)))
        {'a': 0.0, 'b': 0.75}
    """
    topology.check_model(model, built=False)
    if not model.built or not getattr(model, 'inputs', None):
        raise invalid('model', model.name, 'a built model with known inputs (give it an input shape)')
    batch_size = check_int('batch_size', batch_size, 1)
    if atol < 0:
        raise invalid('atol', atol, 'a number >= 0')
    by_name = {layer.name: layer for layer in model.layers}
    if layers is None:
        names = list(dict.fromkeys(unit.layer.name for unit in resolve_units(model, warn=False)))
    else:
        names = [str(n) for n in layers]
        for name in names:
            if name not in by_name:
                raise invalid('layers', name, 'names of layers of the model: ' + ', '.join(by_name))
    if not names:
        return {}
    tensors = []
    for name in names:
        try:
            tensor = by_name[name].input
        except AttributeError:
            raise invalid('layers', name, 'layers called once (a shared layer has several inputs)') from None
        if isinstance(tensor, (list, tuple)):
            raise invalid('layers', name, 'layers with a single input tensor')
        tensors.append(tensor)
    probe = keras.Model(model.inputs, tensors)
    inputs = x if isinstance(x, (list, tuple)) else [x]
    inputs = [np.asarray(a) for a in inputs]
    n = inputs[0].shape[0]
    if n == 0:
        raise invalid('x', inputs[0].shape, 'at least one sample')
    zeros = np.zeros(len(names), np.float64)
    total = np.zeros(len(names), np.float64)
    for start in range(0, n, batch_size):
        batch = [a[start:start + batch_size] for a in inputs]
        outputs = probe(batch if len(batch) > 1 else batch[0], training=False)
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        for i, out in enumerate(outputs):
            out = tf.convert_to_tensor(out)
            zeros[i] += float(tf.reduce_sum(tf.cast(tf.abs(out) <= atol, tf.float64)))
            total[i] += float(tf.cast(tf.size(out), tf.float64))
    result = {name: float(z / t) for name, z, t in zip(names, zeros, total)}
    logger.debug('activation sparsity over %d samples: %s', n, result)
    return result


__all__ = ['measure_activation_sparsity']
