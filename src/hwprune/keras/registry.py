"""Which Keras layers hwprune can prune, and how to read them.

A registry maps layer classes to :class:`LayerSpec` entries (layer kind and kernel attribute),
resolved along the class MRO so that subclasses work: QKeras ``QDense`` is a ``Dense`` and is
pruned like one. Only layers whose role (:mod:`hwprune.keras.roles`) is ``weight`` or
``depthwise`` have specs: classes that subclass a prunable class but compute something else
(Keras 2's ``Conv2DTranspose`` is a ``Conv2D``) have the role ``barrier`` and are not pruned.

A layer with two kernels is pruned as two *units*, named as hls4ml names the layers it splits
it into: ``SeparableConv2D`` ``'sep'`` becomes ``'sep_depthwise'`` (a ``depthwise2d`` kernel)
and ``'sep_pointwise'`` (a 1x1 ``conv2d`` kernel); :func:`specs_for` lists them.

Register your own layer (like tfmot's ``PrunableLayer``):

Example:
    >>> from hwprune.keras.topology import keras
    >>> from hwprune.keras.registry import register_layer, spec_for
    >>> class MyDense(keras.layers.Layer):
    ...     pass
    >>> register_layer(MyDense, kind='dense', kernel='w')
    >>> spec_for(MyDense()).kernel
    'w'
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from dataclasses import dataclass

from .._validation import invalid
from ..kinds import check_kind, get_kind
from .roles import class_role, register_role
from .topology import KERAS3, keras

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LayerSpec:
    """How to prune one kernel of a layer class.

    Attributes:
        kind: the kernel's layer kind (:data:`hwprune.layouts.KINDS`).
        kernel: the attribute holding the kernel variable.
        suffix: appended to the layer name to name this unit (``''`` for single-kernel layers;
            hls4ml's split-node suffixes for SeparableConv).
        quantizer: the QKeras config key of the kernel's quantizer.
        precision: the hls4ml ``Precision`` key of the kernel's type.
    """

    kind: str
    kernel: str = 'kernel'
    suffix: str = ''
    quantizer: str = 'kernel_quantizer'
    precision: str = 'weight'


_REGISTRY: dict[type, tuple[LayerSpec, ...] | None] = {}


def register_layer(cls: type, kind: str | None, kernel: str = 'kernel') -> None:
    """Register ``cls`` as prunable with layouts of ``kind`` (``None``: never prune it).

    Args:
        cls: a Keras layer class.
        kind: ``'dense'``, ``'conv1d'``, ``'conv2d'``, ``'depthwise1d'``, ``'depthwise2d'`` (the
            kernel must have the Keras shape of that kind; see :mod:`hwprune.kinds`), or ``None``
            to exclude the class and its subclasses.
        kernel: name of the attribute holding the kernel ``tf.Variable``.
    """
    if not isinstance(cls, type) or not issubclass(cls, keras.layers.Layer):
        raise invalid('cls', cls, 'a Keras Layer subclass', TypeError)
    if kind is None:
        _REGISTRY[cls] = None
        return
    if not isinstance(kernel, str) or not kernel.isidentifier():
        raise invalid('kernel', kernel, "the name of the attribute holding the kernel, e.g. 'kernel'", TypeError)
    _register_units(cls, (LayerSpec(check_kind(kind), kernel),))


def _register_units(cls: type, specs) -> None:
    for spec in specs:
        check_kind(spec.kind)
    _REGISTRY[cls] = tuple(specs)
    if class_role(cls) not in ('weight', 'depthwise'):
        depthwise = len(specs) == 1 and get_kind(specs[0].kind).depthwise
        register_role(cls, 'depthwise' if depthwise else 'weight')


def specs_for(layer) -> tuple[LayerSpec, ...]:
    """Every :class:`LayerSpec` of a layer instance (or class), in data-flow order; ``()`` if none."""
    cls = layer if isinstance(layer, type) else type(layer)
    if class_role(cls) not in ('weight', 'depthwise'):
        return ()
    for klass in cls.__mro__:
        if klass in _REGISTRY:
            return _REGISTRY[klass] or ()
    return ()


def spec_for(layer) -> LayerSpec | None:
    """The :class:`LayerSpec` of a single-kernel layer instance (or class); ``None`` if it has no
    layout or several kernels (see :func:`specs_for`)."""
    specs = specs_for(layer)
    return specs[0] if len(specs) == 1 else None


def is_prunable(layer) -> bool:
    """Whether hwprune has a layout for at least one kernel of the layer."""
    return bool(specs_for(layer))


def unit_spec(layer, unit=None) -> LayerSpec:
    """The :class:`LayerSpec` of one kernel of a registered layer.

    Args:
        layer: the Keras layer.
        unit: for layers with several kernels, the unit (its name or its ``LayerInfo``);
            default: the first kernel.
    """
    specs = specs_for(layer)
    if not specs:
        raise invalid('layer', getattr(layer, 'name', layer), 'a layer with a registered layout (see '
                      'hwprune.keras.register_layer)', TypeError)
    if unit is None:
        return specs[0]
    name = getattr(unit, 'name', unit)
    for spec in specs:
        if layer.name + spec.suffix == name:
            return spec
    raise invalid('unit', name, 'one of ' + ', '.join(repr(layer.name + s.suffix) for s in specs))


def output_unit(layer) -> str:
    """Name of the unit that computes a registered layer's output (its last kernel's unit)."""
    return layer.name + specs_for(layer)[-1].suffix


def kernel_variable(layer, unit=None):
    """The kernel variable of a registered, built layer (``unit``: see :func:`unit_spec`)."""
    return getattr(layer, unit_spec(layer, unit).kernel)


for _cls, _kind in ((keras.layers.Dense, 'dense'), (keras.layers.Conv1D, 'conv1d'), (keras.layers.Conv2D, 'conv2d')):
    _register_units(_cls, (LayerSpec(_kind),))
# Keras 3 names a DepthwiseConv's kernel `kernel`, Keras 2 `depthwise_kernel`
_DEPTHWISE_KERNEL = 'kernel' if KERAS3 else 'depthwise_kernel'
_register_units(keras.layers.DepthwiseConv2D, (LayerSpec('depthwise2d', _DEPTHWISE_KERNEL, '', 'depthwise_quantizer'),))
if hasattr(keras.layers, 'DepthwiseConv1D'):
    _register_units(keras.layers.DepthwiseConv1D,
                    (LayerSpec('depthwise1d', _DEPTHWISE_KERNEL, '', 'depthwise_quantizer'),))
for _cls, _dim in ((keras.layers.SeparableConv1D, '1d'), (keras.layers.SeparableConv2D, '2d')):
    _register_units(_cls, (
        LayerSpec('depthwise' + _dim, 'depthwise_kernel', '_depthwise', 'depthwise_quantizer', 'depthwise'),
        LayerSpec('conv' + _dim, 'pointwise_kernel', '_pointwise', 'pointwise_quantizer', 'pointwise')))



def _register_hgq() -> None:
    """HGQ2's quantized Dense/Conv layers (Keras 3), when HGQ2 is installed: ``QDense`` and
    ``QBatchNormDense`` are Dense subclasses already; its convolutions derive from Keras's base
    convolution, so they are registered by kind."""
    if importlib.util.find_spec('hgq') is None:
        return
    try:
        conv = importlib.import_module('hgq.layers.conv')
    except Exception as e:  # noqa: BLE001 - a broken HGQ2 install must not break hwprune
        logger.info('HGQ2 is installed but its layers do not import (%s); its convolutions are not pruned.', e)
        return
    for name, kind in (('QConv1D', 'conv1d'), ('QConv2D', 'conv2d')):
        if hasattr(conv, name):
            _register_units(getattr(conv, name), (LayerSpec(kind),))


if KERAS3:
    _register_hgq()

__all__ = ['LayerSpec', 'is_prunable', 'kernel_variable', 'output_unit', 'register_layer', 'spec_for', 'specs_for',
           'unit_spec']
