"""Layer kinds: one record per kind of prunable kernel, holding every fact the library needs about it.

A *kind* is what a kernel is to the hardware, whatever framework layer holds it: a Keras
``Dense`` and a QKeras ``QDense`` are both ``'dense'``; a ``SeparableConv2D`` holds a
``'depthwise2d'`` kernel and a ``'conv2d'`` one. Everything that differs between kinds is a field
of :class:`LayerKind` (kernel rank, hls4ml's Resource transposition, whether each output channel
reads one input channel only, the hls4ml node classes the kind becomes); layouts, multiplier
counts, the hls4ml config reader and the hls4ml passes read these records instead of spelling
out their own tables. Adding a kind is adding a record here (and registering the framework
layers that hold it, :func:`hwprune.keras.register_layer`); see ``docs/concepts.md``,
"Adding a layer kind".

Example:
    >>> get_kind('conv2d').resource_transpose
    (3, 0, 1, 2)
    >>> [k.name for k in KIND_RECORDS if k.depthwise]
    ['depthwise1d', 'depthwise2d']
    >>> kind_of_hls_class('PointwiseConv1D')
    'conv1d'
"""

from __future__ import annotations

from dataclasses import dataclass

from ._validation import invalid


@dataclass(frozen=True)
class LayerKind:
    """The facts about one kind of kernel.

    Attributes:
        name: the kind's name (``'dense'``, ``'conv2d'``...), used everywhere as its key.
        spatial: number of spatial kernel axes (0 for Dense). The Keras kernel is
            ``(*spatial taps, C, F)`` for a matrix-multiplying kind and ``(*spatial taps, C, dm)``
            for a depthwise one: its rank is ``spatial + 2``.
        depthwise: output channel ``c*dm + m`` reads input channel ``c`` only (no sum over
            channels). hls4ml then validates the reuse factor against ``(taps*C, C*dm)``, keeps the
            Keras weight order, clamps the Resource block to ``min(RF, n_weights)``, has no
            ResourceUnrolled kernel and builds ``depth_multiplier == 1`` only.
        resource_transpose: the axis permutation hls4ml's Resource strategy applies to the Keras
            kernel before flattening it (``ApplyResourceStrategy``).
        hls_class: the hls4ml class of the node a layer of this kind becomes (``LayerType`` key).
        hls_node_classes: every hls4ml node class that carries a kernel of this kind (hls4ml turns
            1x1 convolutions into ``PointwiseConv`` nodes and may fuse BatchNormalization into
            ``Conv2DBatchnorm``).
        unit: what one output unit is called in messages (``'neuron'``, ``'filter'``, ``'channel'``).
    """

    name: str
    spatial: int
    depthwise: bool
    resource_transpose: tuple
    hls_class: str
    hls_node_classes: tuple
    unit: str

    @property
    def rank(self) -> int:
        """Rank of the Keras kernel."""
        return self.spatial + 2


#: Every kind hwprune has layouts and cost models for.
KIND_RECORDS = (
    LayerKind('dense', 0, False, (1, 0), 'Dense', ('Dense',), 'neuron'),
    LayerKind('conv1d', 1, False, (2, 0, 1), 'Conv1D', ('Conv1D', 'PointwiseConv1D'), 'filter'),
    LayerKind('conv2d', 2, False, (3, 0, 1, 2), 'Conv2D', ('Conv2D', 'PointwiseConv2D', 'Conv2DBatchnorm'), 'filter'),
    LayerKind('depthwise1d', 1, True, (0, 1, 2), 'DepthwiseConv1D', ('DepthwiseConv1D',), 'channel'),
    LayerKind('depthwise2d', 2, True, (0, 1, 2, 3), 'DepthwiseConv2D', ('DepthwiseConv2D',), 'channel'),
)
_BY_NAME = {k.name: k for k in KIND_RECORDS}
#: Kind names, in a stable order.
KINDS = tuple(_BY_NAME)
#: Names of the depthwise kinds.
DEPTHWISE_KINDS = tuple(k.name for k in KIND_RECORDS if k.depthwise)
#: hls4ml node class -> kind name (derived from :attr:`LayerKind.hls_node_classes`).
NODE_KINDS = {cls: k.name for k in KIND_RECORDS for cls in k.hls_node_classes}


def get_kind(kind) -> LayerKind:
    """The :class:`LayerKind` record of a kind name (case-insensitive) or record."""
    if isinstance(kind, LayerKind):
        return kind
    if not isinstance(kind, str) or kind.lower() not in _BY_NAME:
        raise invalid('kind', kind, 'one of ' + ', '.join(repr(k) for k in KINDS))
    return _BY_NAME[kind.lower()]


def check_kind(kind) -> str:
    """Validate a layer kind and return its name (``'dense'``, ``'conv1d'``, ...)."""
    return get_kind(kind).name


def kind_of_hls_class(class_name) -> str | None:
    """The kind of an hls4ml node class (``'PointwiseConv2D'`` -> ``'conv2d'``); ``None`` if hwprune has none."""
    return NODE_KINDS.get(class_name)


__all__ = ['DEPTHWISE_KINDS', 'KINDS', 'KIND_RECORDS', 'LayerKind', 'NODE_KINDS', 'check_kind', 'get_kind',
           'kind_of_hls_class']
