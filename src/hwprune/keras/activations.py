"""Measure the input activations of a model's layers on sample data.

Accelerators with zero gating (Eyeriss) skip the MACs whose input activation is zero, so a
layer's energy depends on the fraction of zeros in its input. :func:`measure_activation_sparsity`
measures it for the :class:`~hwprune.targets.energy.Energy` target.

``importance='activation'`` weighs each weight by how loud the input it reads is:
:func:`measure_input_rms` gives the root mean square of every input channel of a layer, and
:class:`InputProbe` does it for the pruned kernels of a callback at every pruning step.

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
from .registry import specs_for
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
    batch_size = check_int('batch_size', batch_size, 1)
    if atol < 0:
        raise invalid('atol', atol, 'a number >= 0')
    names = _layer_names(model, layers)
    if not names:
        return {}
    zeros = np.zeros(len(names), np.float64)
    total = np.zeros(len(names), np.float64)
    for batch in _run(_inference(_probe(model, names)), x, batch_size):
        for i, out in enumerate(batch):
            zeros[i] += float(tf.reduce_sum(tf.cast(tf.abs(out) <= atol, tf.float64)))
            total[i] += float(tf.cast(tf.size(out), tf.float64))
    result = {name: float(z / t) for name, z, t in zip(names, zeros, total)}
    logger.debug('activation sparsity over %d samples: %s', _n_samples(x), result)
    return result


def measure_input_rms(model, x, layers: Iterable[str] | None = None, batch_size: int = 1024) -> dict[str, np.ndarray]:
    """Root mean square of every input channel of each layer, over the samples ``x``.

    The channel axis is the last one (``data_format='channels_first'`` layers: axis 1); the mean
    runs over the samples and every other axis (a convolution's positions).

    Args:
        model: a built Keras model (Sequential or functional).
        x: sample inputs (an array, or a list of arrays for a multi-input model).
        layers: names of the layers to measure (any layer called once with one input); default:
            every layer hwprune can prune.
        batch_size: samples per forward pass.

    Returns:
        ``{layer name: float64 array of one RMS per input channel}``, in the model's layer order.

    Example:
        >>> import numpy as np
        >>> from hwprune.keras.topology import keras
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, name='a')])
        >>> measure_input_rms(model, np.array([[3.0, 0.0], [-3.0, 0.0]]))['a']
        array([3., 0.])
    """
    batch_size = check_int('batch_size', batch_size, 1)
    names = _layer_names(model, layers)
    if not names:
        return {}
    return dict(zip(names, _input_rms(_inference(_probe(model, names)), _axes(model, names), x, batch_size)))


def channel_axis(layer) -> int:
    """The axis of a layer's input that holds its channels (``-1``, or ``1`` for ``channels_first``).

    Example:
        >>> from hwprune.keras.topology import keras
        >>> channel_axis(keras.layers.Dense(3)), channel_axis(keras.layers.Conv2D(1, 1, data_format='channels_first'))
        (-1, 1)
    """
    return 1 if getattr(layer, 'data_format', 'channels_last') == 'channels_first' else -1


#: Samples of the data that ``importance='activation'`` measures the input RMS on.
ACTIVATION_SAMPLES = 4096


class InputProbe:
    """Measures, at each pruning step, the RMS of every input channel of the pruned kernels.

    A kernel whose input the model does not expose (the pointwise half of a SeparableConv, a layer
    called more than once, a subclassed model) gets ``None``: its groups are scored by their
    weights alone.

    Args:
        model: the model being pruned.
        units: the pruned :class:`~hwprune.keras.layers.KerasUnit` s, in the pruner's order.
        x: the sample inputs (the first :data:`ACTIVATION_SAMPLES` are used).

    Example:
        >>> import numpy as np
        >>> from hwprune.keras.topology import keras
        >>> from hwprune.keras.layers import resolve_units
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, name='a')])
        >>> probe = InputProbe(model, resolve_units(model), np.array([[3.0, 0.0], [-3.0, 0.0]]))
        >>> probe()
        [array([3., 0.])]
    """

    def __init__(self, model, units, x):
        topology.check_model(model)
        graph = topology.graph_or_none(model)
        self.names: list = []
        self.measured: list = []
        for unit in units:
            layer = unit.layer
            readable = (graph is not None and graph.calls_per_layer.get(id(layer), 0) == 1
                        and specs_for(layer)[0] == unit.spec and len(graph.nodes_of(layer)[0].inputs) == 1)
            self.measured.append(readable)
            if readable and layer.name not in self.names:
                self.names.append(layer.name)
        self.units = list(units)
        probe = _probe(model, self.names) if self.names else None
        # traced once: an eager call of a functional model costs 3-5x more per step
        self._probe = None if probe is None else tf.function(_inference(probe), reduce_retracing=True)
        self._axes = _axes(model, self.names)
        self.x = ([np.asarray(a)[:ACTIVATION_SAMPLES] for a in x] if isinstance(x, (list, tuple))
                  else np.asarray(x)[:ACTIVATION_SAMPLES])
        skipped = [u.name for u, ok in zip(self.units, self.measured) if not ok]
        if skipped:
            logger.info("hwprune: importance='activation' cannot read the inputs of %s; their groups are scored "
                        'by their weights alone.', ', '.join(skipped))

    def __call__(self) -> list:
        """One RMS array per unit (``None`` where the input is not measured)."""
        rms = dict(zip(self.names, _input_rms(self._probe, self._axes, self.x, ACTIVATION_SAMPLES))) \
            if self.names else {}
        return [rms[u.layer.name] if ok and rms[u.layer.name].shape == (u.info.kernel_shape[-2],) else None
                for u, ok in zip(self.units, self.measured)]


def _layer_names(model, layers) -> list[str]:
    topology.check_model(model, built=False)
    if not model.built or not getattr(model, 'inputs', None):
        raise invalid('model', model.name, 'a built model with known inputs (give it an input shape)')
    by_name = {layer.name: layer for layer in model.layers}
    if layers is None:
        return list(dict.fromkeys(unit.layer.name for unit in resolve_units(model, warn=False)))
    if isinstance(layers, str):
        raise invalid('layers', layers, f'a list of layer names, e.g. [{layers!r}]', TypeError)
    names = [str(n) for n in layers]
    for name in names:
        if name not in by_name:
            raise invalid('layers', name, 'names of layers of the model: ' + ', '.join(by_name))
    return names


def _n_samples(x) -> int:
    return int(np.shape(x[0] if isinstance(x, (list, tuple)) else x)[0])


def _axes(model, names) -> list[int]:
    return [channel_axis(model.get_layer(name)) for name in names]


def _input_rms(probe, axes, x, batch_size) -> list[np.ndarray]:
    """RMS per channel of each probed input tensor over the samples ``x`` (float64 sums)."""
    sums: list = [0.0] * len(axes)
    counts = [0] * len(axes)
    for batch in _run(probe, x, batch_size):
        for i, out in enumerate(batch):
            moved = np.moveaxis(np.asarray(out, np.float64), axes[i], -1)
            rows = moved.reshape(-1, moved.shape[-1])
            sums[i] = sums[i] + np.square(rows).sum(axis=0)
            counts[i] += rows.shape[0]
    return [np.sqrt(total / max(count, 1)) for total, count in zip(sums, counts)]


def _probe(model, names):
    """A model computing the input tensors of the layers ``names`` from the model's inputs."""
    tensors = []
    for name in names:
        try:
            tensor = topology.layer_input(model.get_layer(name))
        except AttributeError:
            raise invalid('layers', name, 'layers called once (a shared layer has several inputs)') from None
        if isinstance(tensor, (list, tuple)):
            raise invalid('layers', name, 'layers with a single input tensor')
        tensors.append(tensor)
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs  # the structure calls pass
    return keras.Model(inputs, tensors)


def _inference(probe):
    """The probe called in inference mode (dropout off, batch normalisation on its moving statistics)."""
    return lambda inputs: probe(inputs, training=False)


def _run(probe, x, batch_size):
    """The probe's outputs (one tensor per probed layer), batch by batch, over the samples ``x``."""
    inputs = x if isinstance(x, (list, tuple)) else [x]
    inputs = [np.asarray(a) for a in inputs]
    n = inputs[0].shape[0]
    if n == 0:
        raise invalid('x', inputs[0].shape, 'at least one sample')
    for start in range(0, n, batch_size):
        batch = [a[start:start + batch_size] for a in inputs]
        outputs = probe(batch if len(batch) > 1 else batch[0])
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        yield [tf.convert_to_tensor(out) for out in outputs]


__all__ = ['ACTIVATION_SAMPLES', 'InputProbe', 'channel_axis', 'measure_activation_sparsity', 'measure_input_rms']
