"""Exact multiplier counts of hls4ml 1.3 layers (Vivado/Vitis) from their nonzero weights.

Pure numpy: this module imports neither TensorFlow nor hls4ml. It is what
:class:`hwprune.targets.fpga.FPGALayerModel` costs a layer with, and what the
``hwprune:multiplier_limit`` pass writes into the firmware (``firmware/parameters.h``), so the
estimate and the generated HLS always agree.

How each hls4ml kernel uses multipliers (read from the installed hls4ml 1.3 templates):

* **Latency, Dense** (``nnet_dense_latency.h``): the whole product is one pipelined region with
  ``II = RF``; products with a constant zero weight are folded away by HLS, the rest share
  ``multiplier_limit`` multipliers over the RF cycles of an iteration: ``ceil(nnz / RF)``.
* **Latency, Conv1D/Conv2D, io_parallel** (``nnet_conv1d_latency.h``, ``nnet_conv2d_latency.h``):
  ``PartitionLoop`` runs ``n_partitions`` times, pipelined with ``II = RF``; each iteration
  computes ``n_pixels = out_positions / n_partitions`` output pixels from ``data_buf``, which the
  generated ``fill_buffer_<i>`` (im2col, ``FPGABackend._compute_conv*d_im2col``) fills with a
  literal ``0`` for taps that fall in the padding. One pipelined body serves every partition, so
  a product is folded only if its weight is zero *or* its tap is padding in every partition that
  uses this pixel slot. The multipliers the body needs are
  ``ceil(sum over pixel slots p, taps t, filters f of [w[t, f] != 0] * [tap t of slot p is inside
  the unpadded input for some partition] / RF)`` (:func:`conv_body_multiplications`).
  With ``n_partitions == 1`` (ParallelizationFactor = all output pixels) this is the count over
  every output position, so padding saves multipliers; with hls4ml's default
  ParallelizationFactor 1 (one pixel per iteration) a tap is folded only if it never touches the
  input. Dividing the *total* over all positions by ``n_partitions * RF`` cycles instead would
  under-provision: a pipelined body must hold every product any iteration needs.
* **io_stream convolutions** (``nnet_conv_stream.h``): the line buffer feeds a per-pixel dense
  kernel ``(C*fw[*fh], F)`` whose padding values come from a ZeroPadding layer (data, not
  constants): ``ceil(nnz / RF)`` under Latency, as for Dense.
* **resource_unrolled** (``backends/vivado/passes/unrolled_codegen.py``): the generated code omits
  products with a zero weight and writes ``limit = mult_limit - zeros`` where ``zeros`` counts the
  all-zero rows of the transposed kernel reshaped ``(block_factor, RF)``, i.e. the dead DSP groups
  of :func:`hwprune.layouts.dsp_layout`. For ``RF <= n_in`` (every valid RF but the
  ``RF % n_in == 0`` ones) this is exactly the number of DSP groups holding a nonzero weight,
  which is what hwprune counts. For ``RF > n_in`` hls4ml's ``mult_limit`` is ``n_out`` rather
  than ``block_factor``, so its limit exceeds the live groups by ``n_out - block_factor``; each
  live group still needs one multiplier over its RF cycles, so hwprune writes the live groups.
* **resource** (``nnet_dense_resource.h``): ``block_factor = ceil(N / RF)`` multipliers whatever
  the weights (the ROM-based kernel never sees constants).
* **Depthwise convolutions** (``nnet_sepconv*d_latency.h``, ``nnet_depthwise_product.h``; also
  the ``<name>_depthwise`` half hls4ml splits a SeparableConv into): under Latency the body of
  the io_parallel loop multiplies each pixel slot's ``fh*fw*C`` taps by their own weight, so
  the padding-aware count above applies unchanged (the kernel's last two axes are summed per
  tap); under io_stream ``ceil(nnz / RF)``. Resource (io_stream only: the io_parallel kernel
  asserts Latency) allocates ``ceil(n_in / min(RF, n_in))`` multipliers; hls4ml has no
  ResourceUnrolled depthwise kernel (it builds one as Latency).

Example:
    >>> import numpy as np
    >>> from hwprune.targets.base import LayerInfo
    >>> info = LayerInfo('c1', 'conv1d', (3, 1, 1), input_shape=(4, 1), output_shape=(4, 1),
    ...                  padding='same')
    >>> kernel = np.ones((3, 1, 1))
    >>> multiplier_limit(info, kernel, 1, 'latency', 'io_parallel')            # one pixel per cycle
    3
    >>> multiplier_limit(info, kernel, 1, 'latency', 'io_parallel', parallelization_factor=4)
    10
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ._validation import check_choice, check_int, invalid
from .kinds import get_kind
from .layouts import check_kernel_shape, closest_valid, dsp_layout, mult_shape

IO_TYPES = ('io_parallel', 'io_stream')
_STRATEGIES = {'latency': 'latency', 'resource': 'resource', 'resource_unrolled': 'resource_unrolled',
               'resourceunrolled': 'resource_unrolled'}


# --------------------------------------------------------------------------------------------
# Convolution geometry, exactly as Keras and hls4ml's im2col code generator compute it.


def same_padding(in_size: int, kernel_size: int, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """Keras/TensorFlow ``padding='same'`` along one axis: ``(pad_before, pad_after)``.

    hls4ml's Keras parser (``compute_padding_1d``/``_2d``) uses the same rule: the extra pixel of
    an odd total goes after.

    Example:
        >>> same_padding(8, 3, 2)
        (0, 1)
    """
    in_size = check_int('in_size', in_size, 1)
    k = (check_int('kernel_size', kernel_size, 1) - 1) * check_int('dilation', dilation, 1) + 1
    stride = check_int('stride', stride, 1)
    out = -(-in_size // stride)
    total = max((out - 1) * stride + k - in_size, 0)
    return total // 2, total - total // 2


def conv_output_size(in_size: int, kernel_size: int, stride: int = 1, pad_before: int = 0, pad_after: int = 0,
                     dilation: int = 1) -> int:
    """Output length along one axis, as in ``FPGABackend._compute_conv1d_im2col``.

    Example:
        >>> conv_output_size(8, 3, 1, 1, 1)
        8
    """
    span = (check_int('kernel_size', kernel_size, 1) - 1) * check_int('dilation', dilation, 1) + 1
    padded = check_int('in_size', in_size, 1) + check_int('pad_before', pad_before, 0) + \
        check_int('pad_after', pad_after, 0)
    if padded < span:
        raise invalid('in_size', in_size, f'an input at least as large as the kernel span {span} once padded')
    return (padded - span) // check_int('stride', stride, 1) + 1


def conv_tap_mask(in_size: int, kernel_size: int, stride: int = 1, pad_before: int = 0, out_size: int | None = None,
                  dilation: int = 1) -> np.ndarray:
    """``mask[o, k]``: does tap ``k`` of output position ``o`` read the unpadded input?

    Input index ``o * stride - pad_before + k * dilation`` must lie in ``[0, in_size)``.

    Example:
        >>> conv_tap_mask(4, 3, 1, 1, 4).astype(int)
        array([[0, 1, 1],
               [1, 1, 1],
               [1, 1, 1],
               [1, 1, 0]])
    """
    in_size = check_int('in_size', in_size, 1)
    kernel_size = check_int('kernel_size', kernel_size, 1)
    stride, dilation = check_int('stride', stride, 1), check_int('dilation', dilation, 1)
    pad_before = check_int('pad_before', pad_before, 0)
    if out_size is None:
        out_size = conv_output_size(in_size, kernel_size, stride, pad_before, pad_before, dilation)
    out_size = check_int('out_size', out_size, 1)
    index = (np.arange(out_size)[:, None] * stride - pad_before + np.arange(kernel_size)[None, :] * dilation)
    return (index >= 0) & (index < in_size)


def conv_tap_counts(in_size: int, kernel_size: int, stride: int = 1, pad_before: int = 0, out_size: int | None = None,
                    dilation: int = 1) -> np.ndarray:
    """For each tap offset along one axis, the number of output positions where it reads the input.

    The count over a 2D output is the outer product of the per-axis counts.

    Example:
        >>> conv_tap_counts(4, 3, 1, 1, 4)      # 'same' padding: the edge taps miss one position
        array([3, 4, 3])
    """
    return conv_tap_mask(in_size, kernel_size, stride, pad_before, out_size, dilation).sum(axis=0)


def valid_parallelization_factors(out_positions: int) -> list[int]:
    """ParallelizationFactors hls4ml 1.3 accepts (``get_valid_conv_partition_splits``).

    Example:
        >>> valid_parallelization_factors(8)
        [1, 2, 4, 8]
    """
    n = check_int('out_positions', out_positions, 1)
    return [i for i in range(1, n // 2 + 1) if n % i == 0] + [n]


def closest_parallelization_factor(out_positions: int, parallelization_factor: int) -> int:
    """The ParallelizationFactor hls4ml uses when asked for ``parallelization_factor``.

    Example:
        >>> closest_parallelization_factor(8, 3)
        2
    """
    pf = check_int('parallelization_factor', parallelization_factor, 1)
    return closest_valid(valid_parallelization_factors(out_positions), pf)


def _axes(values, n: int, argument: str) -> tuple[int, ...]:
    values = tuple(np.atleast_1d(values).tolist())
    if len(values) == 1 and n > 1:
        values = values * n
    if len(values) != n:
        raise invalid(argument, values, f'{n} value(s), one per spatial axis')
    return values


def conv_live_taps(input_spatial: Sequence[int], kernel_spatial: Sequence[int], strides=1, pads_before=0,
                   pads_after=None, n_partitions: int | None = None, dilation=1) -> np.ndarray:
    """Per tap offset, the pixel slots of hls4ml's pipelined conv body in which the tap is live.

    The output pixels (raster order, as the im2col generator emits them) are split into
    ``n_partitions`` contiguous partitions of ``n_pixels`` slots; slot ``p`` of partition ``i`` is
    output pixel ``i * n_pixels + p``. A tap of a slot is live if it reads the unpadded input in at
    least one partition; otherwise its buffer entry is a literal 0 in every branch of
    ``fill_buffer`` and HLS folds its products.

    Args:
        input_spatial: input size per spatial axis (``(W,)`` or ``(H, W)``).
        kernel_spatial: kernel size per spatial axis.
        strides: stride per axis (a scalar applies to every axis).
        pads_before: padding before the input per axis (a scalar applies to every axis).
        pads_after: padding after the input per axis; default ``pads_before``.
        n_partitions: hls4ml's ``n_partitions`` (``out_positions / ParallelizationFactor``);
            default: all output pixels in one partition.
        dilation: dilation per axis (a scalar applies to every axis).

    Returns:
        int array of the kernel's spatial shape.

    Example:
        >>> conv_live_taps((4,), (3,), 1, 1, n_partitions=1)   # one body, four pixel slots
        array([3, 4, 3])
        >>> conv_live_taps((4,), (3,), 1, 1, n_partitions=4)   # one slot, reused by all pixels
        array([1, 1, 1])
    """
    input_spatial = tuple(check_int('input_spatial', int(s), 1) for s in np.atleast_1d(input_spatial))
    kernel_spatial = tuple(check_int('kernel_spatial', int(s), 1) for s in np.atleast_1d(kernel_spatial))
    n_axes = len(kernel_spatial)
    if len(input_spatial) != n_axes:
        raise invalid('input_spatial', input_spatial, f'{n_axes} size(s), like the kernel {kernel_spatial}')
    strides = _axes(strides, n_axes, 'strides')
    pads_before = _axes(pads_before, n_axes, 'pads_before')
    pads_after = pads_before if pads_after is None else _axes(pads_after, n_axes, 'pads_after')
    dilation = _axes(dilation, n_axes, 'dilation')
    outs = [conv_output_size(i, k, s, pb, pa, d)
            for i, k, s, pb, pa, d in zip(input_spatial, kernel_spatial, strides, pads_before, pads_after, dilation)]
    masks = [conv_tap_mask(i, k, s, pb, o, d)
             for i, k, s, pb, o, d in zip(input_spatial, kernel_spatial, strides, pads_before, outs, dilation)]
    positions = int(np.prod(outs))
    n_partitions = 1 if n_partitions is None else check_int('n_partitions', n_partitions, 1)
    if positions % n_partitions:
        raise invalid('n_partitions', n_partitions, f'a divisor of the {positions} output pixels')
    n_pixels = positions // n_partitions
    if n_pixels == positions:  # one body computes every pixel: counts are separable
        live = masks[0].sum(axis=0)
        for mask in masks[1:]:
            live = np.multiply.outer(live, mask.sum(axis=0))
        return live.astype(np.int64)
    if n_pixels == 1:  # one slot reused by every pixel: live if live anywhere
        live = masks[0].any(axis=0)
        for mask in masks[1:]:
            live = np.logical_and.outer(live, mask.any(axis=0))
        return live.astype(np.int64)
    full = masks[0]  # (positions so far, taps so far), raster order: earlier axes vary slowest
    for mask in masks[1:]:
        full = (full[:, None, :, None] & mask[None, :, None, :]).reshape(full.shape[0] * mask.shape[0], -1)
    per_slot = full.reshape(n_partitions, n_pixels, -1).any(axis=0)
    return per_slot.sum(axis=0).reshape(kernel_spatial).astype(np.int64)


def conv_body_multiplications(kernel, input_spatial: Sequence[int], strides=1, pads_before=0, pads_after=None,
                              n_partitions: int | None = None, dilation=1) -> int:
    """Non-folded products in one iteration of hls4ml's pipelined Latency conv (io_parallel).

    ``kernel`` is the Keras kernel ``(fw, C, F)`` or ``(fh, fw, C, F)`` (a depthwise kernel
    ``(fw[, fh], C, dm)`` too): the live-tap counts of :func:`conv_live_taps` dotted with the
    number of nonzero weights at each tap offset.

    Example:
        >>> import numpy as np
        >>> conv_body_multiplications(np.ones((3, 2, 5)), (4,), 1, 1, n_partitions=1)
        100
    """
    kernel = np.asarray(kernel)
    if kernel.ndim not in (3, 4):
        raise invalid('kernel', kernel.shape, 'a Conv1D (fw, C, F) or Conv2D (fh, fw, C, F) kernel (or a depthwise one)')
    spatial = kernel.shape[:-2]
    live = conv_live_taps(input_spatial, spatial, strides, pads_before, pads_after, n_partitions, dilation)
    nnz_per_tap = np.count_nonzero(kernel.reshape(spatial + (-1,)), axis=-1)
    return int(np.sum(live * nnz_per_tap))


def _pads(info) -> tuple[tuple[int, ...], tuple[int, ...]]:
    spatial_in = info.input_shape[:-1]
    kernel_spatial = info.kernel_shape[:-2]
    strides = _axes(info.strides, len(kernel_spatial), 'strides')
    if info.padding == 'valid':
        zeros = (0,) * len(kernel_spatial)
        return zeros, zeros
    if info.padding == 'causal':
        return tuple(k - 1 for k in kernel_spatial), (0,) * len(kernel_spatial)
    pads = [same_padding(i, k, s) for i, k, s in zip(spatial_in, kernel_spatial, strides)]
    return tuple(p[0] for p in pads), tuple(p[1] for p in pads)


def check_strategy(strategy: str) -> str:
    """Canonical strategy name (hls4ml spellings accepted)."""
    key = strategy.lower().replace('-', '_') if isinstance(strategy, str) else None
    if key not in _STRATEGIES:
        raise invalid('strategy', strategy, "one of 'latency', 'resource', 'resource_unrolled'")
    return _STRATEGIES[key]


# --------------------------------------------------------------------------------------------
# Per-strategy counts


def dense_latency_multipliers(kernel, reuse_factor: int) -> int:
    """``ceil(nnz / RF)``: a pipelined region with ``II = RF`` and constant-folded zero weights.

    Example:
        >>> import numpy as np
        >>> dense_latency_multipliers(np.array([[1.0, 0.0], [2.0, 3.0]]), 2)
        2
    """
    rf = check_int('reuse_factor', reuse_factor, 1)
    return -(-int(np.count_nonzero(np.asarray(kernel))) // rf)


def unrolled_multipliers(kind: str, kernel, reuse_factor: int) -> int:
    """DSP groups (RF consecutive entries of the transposed kernel) holding a nonzero weight.

    Example:
        >>> import numpy as np
        >>> w = np.zeros((4, 2)); w[0, 0] = 1.0            # W.T row 0 = inputs of neuron 0
        >>> unrolled_multipliers('dense', w, 2)            # groups: W.T.flat[0:2], [2:4], ...
        1
    """
    if get_kind(kind).depthwise:
        raise invalid('strategy', 'resource_unrolled', "'latency' or 'resource' for a depthwise kernel (hls4ml 1.3 "
                      'has no ResourceUnrolled depthwise kernel and builds it as Latency)')
    kernel = np.asarray(kernel)
    return int(np.count_nonzero(dsp_layout(kind, kernel.shape, reuse_factor).alive(kernel)))


def resource_multipliers(kind: str, kernel_shape, reuse_factor: int) -> int:
    """``ceil(N / RF)``: the ROM-based Resource kernel allocates every multiplier.

    For a depthwise kernel: ``ceil(n_weights / min(RF, n_weights))``.

    Example:
        >>> resource_multipliers('dense', (16, 64), 4)
        256
        >>> resource_multipliers('depthwise2d', (3, 3, 4, 1), 4)
        9
    """
    if get_kind(kind).depthwise:
        return dsp_layout(kind, kernel_shape, reuse_factor).n_groups
    n_in, n_out = mult_shape(kind, kernel_shape)
    return -(-(n_in * n_out) // check_int('reuse_factor', reuse_factor, 1))


def multiplier_limit(info, kernel, reuse_factor: int, strategy: str, io_type: str,
                     parallelization_factor: int = 1) -> int:
    """The number of multipliers a layer needs in hls4ml 1.3 (Vivado/Vitis), from its weights.

    Args:
        info: the layer (:class:`hwprune.targets.base.LayerInfo`); convolutions under Latency with
            ``io_parallel`` use its ``input_shape``, ``strides`` and ``padding``.
        kernel: the Keras kernel (``(n_in, n_out)``, ``(fw, C, F)``, ``(fh, fw, C, F)``, depthwise
            ``(fw[, fh], C, dm)``). Zeros are exact zeros (``kernel != 0``).
        reuse_factor: the reuse factor hls4ml really uses (see
            :func:`hwprune.layouts.closest_reuse_factor`).
        strategy: ``'latency'``, ``'resource'`` or ``'resource_unrolled'``.
        io_type: ``'io_parallel'`` or ``'io_stream'``.
        parallelization_factor: hls4ml's ``ParallelizationFactor`` of a convolution (output pixels
            per pipeline iteration under io_parallel; hls4ml's closest valid value is used).

    Returns:
        the multiplier limit: see the module docstring for each case.

    Example:
        >>> import numpy as np
        >>> from hwprune.targets.base import LayerInfo
        >>> w = np.ones((16, 8)); w[:, :3] = 0
        >>> multiplier_limit(LayerInfo('fc', 'dense', (16, 8)), w, 4, 'latency', 'io_parallel')
        20
    """
    kernel = np.asarray(kernel)
    shape = check_kernel_shape(info.kind, kernel.shape)
    if shape != tuple(info.kernel_shape):
        raise invalid('kernel', kernel.shape, f'the kernel shape {tuple(info.kernel_shape)} of layer {info.name!r}')
    rf = check_int('reuse_factor', reuse_factor, 1)
    strategy = check_strategy(strategy)
    io_type = check_choice('io_type', io_type, IO_TYPES)
    pf = check_int('parallelization_factor', parallelization_factor, 1)
    if strategy == 'resource':
        return resource_multipliers(info.kind, shape, rf)
    if strategy == 'resource_unrolled':
        return unrolled_multipliers(info.kind, kernel, rf)
    if get_kind(info.kind).spatial == 0 or io_type == 'io_stream':
        return dense_latency_multipliers(kernel, rf)
    if info.input_shape is None:
        # Geometry unknown: assume every tap of every slot live (exact unless a tap never touches
        # the input); the body holds PF pixel slots.
        return -(-int(np.count_nonzero(kernel)) * pf // rf)
    spatial, strides, before, after, n_partitions = _conv_geometry(info, pf)
    body = conv_body_multiplications(kernel, spatial, strides, before, after, n_partitions=n_partitions)
    return -(-body // rf)


def _conv_geometry(info, parallelization_factor: int):
    spatial = tuple(info.input_shape[:-1])
    if len(spatial) != len(info.kernel_shape) - 2:
        raise invalid('info.input_shape', info.input_shape, f'a channels-last input shape for a {info.kind} kernel')
    before, after = _pads(info)
    strides = _axes(info.strides, len(spatial), 'strides')
    outs = [conv_output_size(i, k, s, b, a)
            for i, k, s, b, a in zip(spatial, info.kernel_shape[:-2], strides, before, after)]
    positions = int(np.prod(outs))
    pf = closest_parallelization_factor(positions, parallelization_factor)
    return spatial, strides, before, after, positions // pf


def products_per_weight(info, strategy: str = 'latency', io_type: str = 'io_parallel',
                        parallelization_factor: int = 1) -> np.ndarray:
    """Products each weight contributes to a Latency layer's multiplier count (kernel-shaped).

    The Latency multiplier limit is ``ceil(sum of these over nonzero weights / RF)``: 1 per weight
    for Dense and io_stream convolutions; for an io_parallel convolution, the pixel slots of the
    pipelined body in which the weight's tap is live. A knapsack that charges each weight this
    count / RF is exact up to the final rounding.

    Example:
        >>> from hwprune.targets.base import LayerInfo
        >>> info = LayerInfo('c', 'conv1d', (3, 1, 1), input_shape=(4, 1), output_shape=(4, 1), padding='same')
        >>> products_per_weight(info, parallelization_factor=4)[:, 0, 0]
        array([3., 4., 3.])
    """
    strategy = check_strategy(strategy)
    io_type = check_choice('io_type', io_type, IO_TYPES)
    pf = check_int('parallelization_factor', parallelization_factor, 1)
    shape = tuple(info.kernel_shape)
    if get_kind(info.kind).spatial == 0 or io_type == 'io_stream':
        return np.ones(shape)
    if info.input_shape is None:
        return np.full(shape, float(pf))
    spatial, strides, before, after, n_partitions = _conv_geometry(info, pf)
    live = conv_live_taps(spatial, shape[:-2], strides, before, after, n_partitions)
    return np.broadcast_to(np.asarray(live, float).reshape(shape[:-2] + (1, 1)), shape).copy()


__all__ = [
    'IO_TYPES', 'check_strategy', 'closest_parallelization_factor', 'products_per_weight', 'conv_body_multiplications', 'conv_live_taps',
    'conv_output_size', 'conv_tap_counts', 'conv_tap_mask', 'dense_latency_multipliers', 'multiplier_limit',
    'resource_multipliers', 'same_padding', 'unrolled_multipliers', 'valid_parallelization_factors',
]
