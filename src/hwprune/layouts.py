"""Group layouts: which weights of a kernel the hardware allocates together.

A *layout* maps every weight of a Keras kernel to an integer group id (``-1``: in no group).
Layouts are pure functions of the layer kind, the kernel shape and the hardware settings; they
never look at weight values, so they are computed once per layer and cached by the callers.

The hls4ml facts (hls4ml 1.3, ``nnet_dense_resource.h`` and ``resource_strategy.py``):

* Mult sizes: Dense ``(n_in, n_out)``; Conv1D ``(C*fw, F)``; Conv2D ``(C*fh*fw, F)``;
  DepthwiseConv1D/2D ``(C*fw[*fh], C*dm)`` (``get_layer_mult_size`` reads them as convolutions,
  so their reuse factor is validated against that product although the kernel has only
  ``fw[*fh]*C*dm`` weights).
* Before the Resource strategies use a kernel, hls4ml transposes it (Dense ``W.T``; Conv1D
  ``(2, 0, 1)``; Conv2D ``(3, 0, 1, 2)``) and flattens it. Multiplier ``im`` then reads
  ``weights[ir + im*RF]`` for ``ir = 0..RF-1``: **one DSP = the RF consecutive entries
  ``[im*RF, (im+1)*RF)`` of the transposed, flattened kernel** (:func:`dsp_layout`).
* With RF > 1 the weights are a ROM of RF words of ``BF*W`` bits (``BF = N/RF``): DSP slot
  ``im`` occupies bits ``[im*W, (im+1)*W)`` of every word. A ``BRAM_WIDTH_BITS``-wide BRAM
  column is freed only when every slot touching it is pruned (:func:`bram_layout`).
* Depthwise kernels (``nnet_depthwise_product.h``; hls4ml 1.3 supports ``depth_multiplier=1``
  only) are **not** transposed: ``weights[i]`` is the Keras kernel flattened (tap-major,
  channel-minor, like the im2col buffer). The Resource variants use
  ``rufactor = min(RF, n_in)`` and multiplier ``im`` reads ``weights[ir + im*rufactor]``, so
  one DSP = ``rufactor`` consecutive weights of the flat kernel. A SeparableConv is split by
  hls4ml into a depthwise layer (``<name>_depthwise``) and a 1x1 convolution
  (``<name>_pointwise``), each with its own layout.

Example:
    >>> import numpy as np
    >>> ids = dsp_layout('dense', (3, 2), reuse_factor=3).ids   # kernel (n_in=3, n_out=2)
    >>> ids.T          # row j of W.T: the 3 inputs of output neuron j -> one DSP each
    array([[0, 0, 0],
           [1, 1, 1]])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from . import hardware
from ._validation import check_int, invalid
from .kinds import DEPTHWISE_KINDS, KIND_RECORDS, KINDS, check_kind, get_kind

#: The axis permutation hls4ml's Resource strategy applies to each kind's Keras kernel before
#: flattening it (from :data:`hwprune.kinds.KIND_RECORDS`).
RESOURCE_TRANSPOSE = {k.name: k.resource_transpose for k in KIND_RECORDS}


def check_kernel_shape(kind: str, kernel_shape) -> tuple[int, ...]:
    """Validate a Keras kernel shape for ``kind`` and return it as a tuple of ints."""
    record = get_kind(kind)
    try:
        shape = tuple(int(s) for s in kernel_shape)
    except (TypeError, ValueError):
        raise invalid('kernel_shape', kernel_shape, 'a tuple of positive integers', TypeError) from None
    if len(shape) != record.rank or min(shape) < 1:
        raise invalid('kernel_shape', kernel_shape, f'{record.rank} positive integers for a {record.name} kernel')
    return shape


def mult_shape(kind: str, kernel_shape) -> tuple[int, int]:
    """The ``(n_in, n_out)`` hls4ml validates a kernel's reuse factor with (``get_layer_mult_size``).

    For Dense and Conv layers this is the matrix multiplication; for a depthwise kernel
    ``(fh, fw, C, dm)`` hls4ml uses ``(fh*fw*C, C*dm)``, although each output channel reads only
    its own input channel.

    Example:
        >>> mult_shape('conv2d', (3, 3, 8, 16))
        (72, 16)
        >>> mult_shape('depthwise2d', (3, 3, 8, 1))
        (72, 8)
    """
    shape = check_kernel_shape(kind, kernel_shape)
    if get_kind(kind).depthwise:
        return int(np.prod(shape[:-1])), shape[-2] * shape[-1]
    return int(np.prod(shape[:-1])), shape[-1]


def resource_block(kind: str, kernel_shape, reuse_factor: int) -> int:
    """Consecutive weights one multiplier of the Resource kernels reads in turn.

    ``RF`` for Dense/Conv; ``min(RF, n_weights)`` for depthwise kernels, whose Resource kernels
    clamp the reuse factor to ``n_in`` (``nnet_depthwise_product.h``).

    Example:
        >>> resource_block('depthwise2d', (3, 3, 4, 1), 72)
        36
    """
    rf = check_int('reuse_factor', reuse_factor, 1)
    if get_kind(kind).depthwise:
        return min(rf, int(np.prod(check_kernel_shape(kind, kernel_shape))))
    return rf


# --------------------------------------------------------------------------------------------
# Reuse factor, exactly as hls4ml 1.3 decides it (FPGABackend._validate_reuse_factor and
# get_closest_reuse_factor).


def is_valid_reuse_factor(n_in: int, n_out: int, reuse_factor: int) -> bool:
    """Whether hls4ml 1.3 accepts ``reuse_factor`` for an ``n_in x n_out`` multiplication."""
    n_in, n_out = check_int('n_in', n_in, 1), check_int('n_out', n_out, 1)
    rf = check_int('reuse_factor', reuse_factor, 1)
    return bool(_valid_mask(n_in, n_out, np.array([rf]))[0])


def _valid_mask(n_in: int, n_out: int, rf: np.ndarray) -> np.ndarray:
    n = n_in * n_out
    multfactor = np.minimum(n_in, rf)
    multiplier_limit = -(-n // multfactor)  # integer ceil, as int(math.ceil(n / mf))
    ok = (multiplier_limit % n_out == 0) | (rf >= n_in)
    ok &= (rf % n_in == 0) | (rf < n_in)
    ok &= n % rf == 0
    return ok


@lru_cache(maxsize=1024)
def _valid_tuple(n_in: int, n_out: int) -> tuple[int, ...]:
    rf = np.arange(1, n_in * n_out + 1)
    return tuple(int(r) for r in rf[_valid_mask(n_in, n_out, rf)])


def valid_reuse_factors(n_in: int, n_out: int) -> list[int]:
    """All reuse factors hls4ml 1.3 accepts for an ``n_in x n_out`` multiplication, ascending.

    Example:
        >>> valid_reuse_factors(4, 2)
        [1, 2, 4, 8]
    """
    n_in, n_out = check_int('n_in', n_in, 1), check_int('n_out', n_out, 1)
    return list(_valid_tuple(n_in, n_out))


def closest_reuse_factor(n_in: int, n_out: int, reuse_factor: int, include_max_rf: bool = True) -> int:
    """The reuse factor hls4ml 1.3 really uses when asked for ``reuse_factor``.

    hls4ml replaces an invalid RF by the closest valid one (ties go to the smaller one); for the
    ``resource_unrolled`` strategy it excludes the largest valid RF (``include_max_rf=False``).

    Example:
        >>> closest_reuse_factor(16, 64, 3)
        2
    """
    rf = check_int('reuse_factor', reuse_factor, 1)
    valid = valid_reuse_factors(n_in, n_out)
    if not include_max_rf and len(valid) > 1:
        valid = valid[:-1]
    return closest_valid(valid, rf)


def closest_valid(valid, value: int) -> int:
    """hls4ml's ``get_closest_reuse_factor`` rule: ``value`` if valid, else the closest entry of the
    ascending list ``valid`` (ties go to the smaller one)."""
    if value in valid:
        return value
    pos = int(np.searchsorted(valid, value))
    if pos == 0:
        return valid[0]
    if pos == len(valid):
        return valid[-1]
    before, after = valid[pos - 1], valid[pos]
    return after if after - value < value - before else before


# --------------------------------------------------------------------------------------------
# Layouts


@dataclass(frozen=True, eq=False)
class GroupLayout:
    """A map from each weight of a kernel to a group id.

    Attributes:
        ids: integer array of the kernel's shape; ``-1`` marks a weight in no group.
        n_groups: number of groups (ids are ``0..n_groups-1``).
        name: which layout this is (``'dsp'``, ``'bram'``, ``'neuron'``, ``'input'``, ...).
    """

    ids: np.ndarray
    n_groups: int
    name: str = 'custom'

    def __post_init__(self):
        ids = np.asarray(self.ids, dtype=np.int64)
        ids.setflags(write=False)
        object.__setattr__(self, 'ids', ids)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.ids.shape

    def _flat(self):
        flat = self.ids.ravel()
        member = flat >= 0
        return flat, member

    def sizes(self) -> np.ndarray:
        """Number of weights in each group."""
        flat, member = self._flat()
        return np.bincount(flat[member], minlength=self.n_groups).astype(np.int64)

    def reduce(self, values) -> np.ndarray:
        """Sum a kernel-shaped array over each group (``np.bincount``, vectorised)."""
        values = np.asarray(values, dtype=np.float64)
        if values.shape != self.ids.shape:
            raise invalid('values', values.shape, f'an array of the kernel shape {self.ids.shape}')
        flat, member = self._flat()
        return np.bincount(flat[member], weights=values.ravel()[member], minlength=self.n_groups)

    def alive(self, kernel, atol: float = 0.0) -> np.ndarray:
        """Boolean per group: does it hold at least one weight with ``|w| > atol``?"""
        return self.reduce(np.abs(np.asarray(kernel)) > atol) > 0

    def expand(self, group_values, fill=0):
        """Broadcast one value per group back to the kernel's shape (``fill`` outside groups)."""
        group_values = np.asarray(group_values)
        if group_values.shape != (self.n_groups,):
            raise invalid('group_values', group_values.shape, f'shape ({self.n_groups},)')
        padded = np.append(group_values, np.asarray(fill, dtype=group_values.dtype))
        return padded[np.where(self.ids >= 0, self.ids, self.n_groups)]

    def __repr__(self):
        return f'GroupLayout(name={self.name!r}, shape={self.shape}, n_groups={self.n_groups})'


def resource_flat_index(kind: str, kernel_shape) -> np.ndarray:
    """For each weight of a Keras kernel, its index in hls4ml's transposed, flattened kernel.

    Example:
        >>> resource_flat_index('dense', (2, 3))   # W (2 inputs, 3 outputs); W.T is (3, 2)
        array([[0, 2, 4],
               [1, 3, 5]])
    """
    shape = check_kernel_shape(kind, kernel_shape)
    perm = get_kind(kind).resource_transpose
    transposed_shape = tuple(shape[p] for p in perm)
    index = np.arange(int(np.prod(shape)), dtype=np.int64).reshape(transposed_shape)
    return np.transpose(index, np.argsort(perm))


def dsp_layout(kind: str, kernel_shape, reuse_factor: int) -> GroupLayout:
    """One group per multiplier of the Resource strategies: RF consecutive transposed weights.

    Example:
        >>> dsp_layout('conv1d', (3, 2, 4), reuse_factor=6).n_groups   # N = 24 weights
        4
    """
    rf = resource_block(kind, kernel_shape, reuse_factor)
    index = resource_flat_index(kind, kernel_shape)
    return GroupLayout(index // rf, math.ceil(index.size / rf), 'dsp')


def bram_slots_per_group(weight_bits: int) -> int:
    """DSP slots per BRAM group: the fewest slots that fill whole BRAM columns exactly.

    A slot (one DSP's weights) takes ``W`` bits of every ROM word; ``k = lcm(W, 36) / W`` slots
    fill ``lcm(W, 36) / 36`` columns exactly, so groups of ``k`` slots partition the columns and
    their BRAM costs add up (e.g. W=18 -> 2 slots per column; W=16 -> 9 slots per 4 columns).
    """
    w = check_int('weight_bits', weight_bits, 1)
    return hardware.BRAM_WIDTH_BITS // math.gcd(hardware.BRAM_WIDTH_BITS, w)


def bram_layout(kind: str, kernel_shape, reuse_factor: int, weight_bits: int) -> GroupLayout:
    """Groups of adjacent DSP slots that own whole BRAM columns of the weight ROM.

    Example:
        >>> bram_layout('dense', (16, 64), reuse_factor=2, weight_bits=18).n_groups  # 512 slots
        256
    """
    dsp = dsp_layout(kind, kernel_shape, reuse_factor)
    k = bram_slots_per_group(weight_bits)
    return GroupLayout(dsp.ids // k, math.ceil(dsp.n_groups / k), 'bram')


def bram_group_columns(n_slots: int, weight_bits: int) -> np.ndarray:
    """BRAM columns (36-bit) each BRAM group of a layer with ``n_slots`` DSP slots occupies."""
    k = bram_slots_per_group(weight_bits)
    n_groups = math.ceil(n_slots / k)
    start = np.arange(n_groups) * k * weight_bits  # multiple of the column width by construction
    end = np.minimum((np.arange(n_groups) + 1) * k, n_slots) * weight_bits
    return -(-(end - start) // hardware.BRAM_WIDTH_BITS)


def neuron_layout(kind: str, kernel_shape) -> GroupLayout:
    """One group per output neuron / filter (the last kernel axis; for a depthwise kernel the
    output channel ``c*dm + m`` of the last two axes)."""
    shape = check_kernel_shape(kind, kernel_shape)
    if get_kind(kind).depthwise:
        units = shape[-2] * shape[-1]
        ids = np.broadcast_to(np.arange(units).reshape(shape[-2:]), shape)
        return GroupLayout(ids.copy(), units, 'neuron')
    ids = np.broadcast_to(np.arange(shape[-1]), shape)
    return GroupLayout(ids.copy(), shape[-1], 'neuron')


def input_layout(kind: str, kernel_shape) -> GroupLayout:
    """One group per input channel (Dense: input feature; Conv: the channel axis, second last)."""
    shape = check_kernel_shape(kind, kernel_shape)
    ids = np.arange(shape[-2]).reshape((shape[-2], 1))
    return GroupLayout(np.broadcast_to(ids, shape).copy(), shape[-2], 'input')


def unstructured_layout(kind: str, kernel_shape) -> GroupLayout:
    """One group per weight."""
    shape = check_kernel_shape(kind, kernel_shape)
    n = int(np.prod(shape))
    return GroupLayout(np.arange(n).reshape(shape), n, 'unstructured')


LAYOUTS = ('dsp', 'bram', 'neuron', 'input', 'unstructured')


def make_layout(name: str, kind: str, kernel_shape, reuse_factor: int = 1,
                weight_bits: int = hardware.DEFAULT_WEIGHT_BITS) -> GroupLayout:
    """Build a layout by name (one of :data:`LAYOUTS`)."""
    if not isinstance(name, str) or name.lower() not in LAYOUTS:
        raise invalid('layout', name, 'one of ' + ', '.join(repr(n) for n in LAYOUTS))
    name = name.lower()
    if name == 'dsp':
        return dsp_layout(kind, kernel_shape, reuse_factor)
    if name == 'bram':
        return bram_layout(kind, kernel_shape, reuse_factor, weight_bits)
    if name == 'neuron':
        return neuron_layout(kind, kernel_shape)
    if name == 'input':
        return input_layout(kind, kernel_shape)
    return unstructured_layout(kind, kernel_shape)


__all__ = [
    'DEPTHWISE_KINDS', 'GroupLayout', 'KINDS', 'LAYOUTS', 'RESOURCE_TRANSPOSE', 'bram_group_columns', 'bram_layout',
    'bram_slots_per_group', 'check_kernel_shape', 'check_kind', 'closest_reuse_factor', 'closest_valid', 'dsp_layout',
    'input_layout', 'is_valid_reuse_factor', 'make_layout', 'mult_shape', 'neuron_layout',
    'resource_block', 'resource_flat_index', 'unstructured_layout', 'valid_reuse_factors',
]
