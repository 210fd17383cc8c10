"""Multiplier counts against brute-force transcriptions of hls4ml 1.3's loops and code generators.

The convolution checks count, pixel slot by pixel slot, the products of one iteration of the
pipelined ``PartitionLoop`` of ``nnet_conv{1,2}d_latency.h`` whose weight is nonzero and whose
``data_buf`` entry is not the literal 0 that ``fill_buffer`` writes for padding in every
partition. They do it twice: with plain Python loops, and from the im2col matrix hls4ml's own
``FPGABackend._compute_conv*d_im2col`` generates.
"""

import itertools
import math
import re

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from hwprune import multipliers as mp
from hwprune.layouts import valid_reuse_factors
from hwprune.targets.base import LayerInfo
from hwprune.targets.fpga import FPGALayerSettings, FPGATarget


# --------------------------------------------------------------------------------------------
# Brute force


def brute_body(kernel, in_spatial, strides, pads_before, pads_after, n_partitions):
    """Python loops over partitions, pixel slots, taps and filters of the conv latency kernel."""
    spatial_k = kernel.shape[:-2]
    outs = [(i + pb + pa - k) // s + 1
            for i, k, s, pb, pa in zip(in_spatial, spatial_k, strides, pads_before, pads_after)]
    positions = list(itertools.product(*[range(o) for o in outs]))  # raster order, first axis slowest
    n_pixels = len(positions) // n_partitions
    count = 0
    for slot in range(n_pixels):
        for tap in itertools.product(*[range(k) for k in spatial_k]):
            live = False
            for part in range(n_partitions):
                pos = positions[part * n_pixels + slot]
                live |= all(0 <= pos[a] * strides[a] - pads_before[a] + tap[a] < in_spatial[a] for a in range(len(tap)))
            if live:
                for c in range(kernel.shape[-2]):
                    for f in range(kernel.shape[-1]):
                        count += kernel[tap + (c, f)] != 0
    return int(count)


def im2col_body(kernel, in_spatial, strides, pads_before, pads_after, n_partitions):
    """The same count read from hls4ml's own im2col matrix (0 = padding literal)."""
    from hls4ml.backends import get_backend

    backend = get_backend('Vivado')
    channels = kernel.shape[-2]
    if kernel.ndim == 3:
        matrix = backend._compute_conv1d_im2col((in_spatial[0], channels), kernel.shape[0], strides[0],
                                                (pads_before[0], pads_after[0]))
    else:
        matrix = backend._compute_conv2d_im2col((in_spatial[0], in_spatial[1], channels), kernel.shape[:2], strides,
                                                (pads_before[0], pads_after[0], pads_before[1], pads_after[1]))
    live = np.stack(np.split(matrix, n_partitions)).astype(bool).any(axis=0)  # (n_pixels, fw*C)
    nnz_rows = np.count_nonzero(kernel.reshape(-1, kernel.shape[-1]), axis=1)
    return int((live * nnz_rows).sum())


def sparse(rng, shape, density):
    w = rng.normal(size=shape)
    w[rng.random(shape) > density] = 0.0
    return w


def divisors(n):
    return [d for d in range(1, n + 1) if n % d == 0]


@st.composite
def conv_cases(draw, ndim):
    in_spatial = tuple(draw(st.integers(1, 7)) for _ in range(ndim))
    kernel_spatial = tuple(draw(st.integers(1, 4)) for _ in range(ndim))
    strides = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    pads_before = tuple(draw(st.integers(0, 3)) for _ in range(ndim))
    pads_after = tuple(draw(st.integers(0, 3)) for _ in range(ndim))
    for i, k, pb, pa in zip(in_spatial, kernel_spatial, pads_before, pads_after):
        if i + pb + pa < k:
            pads_after = tuple(p + k for p in pads_after)  # make the padded input fit the kernel
            break
    channels, filters = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2 ** 16))
    kernel = sparse(np.random.default_rng(seed), kernel_spatial + (channels, filters), draw(st.floats(0, 1)))
    outs = [(i + pb + pa - k) // s + 1 for i, k, s, pb, pa in zip(in_spatial, kernel_spatial, strides, pads_before,
                                                                   pads_after)]
    n_partitions = draw(st.sampled_from(divisors(int(np.prod(outs)))))
    return kernel, in_spatial, strides, pads_before, pads_after, n_partitions


# --------------------------------------------------------------------------------------------
# Geometry


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 40), st.integers(1, 7), st.integers(1, 5))
def test_same_padding_matches_hls4ml(in_size, k, stride):
    from hls4ml.converters.utils import compute_padding_1d

    out, left, right = compute_padding_1d('same', in_size, stride, k)
    assert mp.same_padding(in_size, k, stride) == (left, right)
    assert mp.conv_output_size(in_size, k, stride, left, right) == out


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 12), st.integers(1, 5), st.integers(1, 4), st.integers(0, 4))
def test_tap_counts_brute_force(in_size, k, stride, pad):
    if in_size + 2 * pad < k:
        return
    out = mp.conv_output_size(in_size, k, stride, pad, pad)
    expected = [sum(0 <= o * stride - pad + t < in_size for o in range(out)) for t in range(k)]
    np.testing.assert_array_equal(mp.conv_tap_counts(in_size, k, stride, pad, out), expected)


def test_valid_parallelization_factors_match_hls4ml():
    from hls4ml.backends import get_backend

    backend = get_backend('Vivado')
    for n in range(1, 40):
        assert mp.valid_parallelization_factors(n) == backend.get_valid_conv_partition_splits(1, n)
        valid = mp.valid_parallelization_factors(n)
        for pf in range(1, n + 3):
            assert mp.closest_parallelization_factor(n, pf) == backend.get_closest_reuse_factor(valid, pf)


# --------------------------------------------------------------------------------------------
# Convolution body counts


@settings(max_examples=150, deadline=None)
@given(conv_cases(1))
def test_conv1d_body_brute_force_and_im2col(case):
    kernel, *geometry = case
    expected = brute_body(kernel, *geometry)
    assert mp.conv_body_multiplications(kernel, *geometry[:4], n_partitions=geometry[4]) == expected
    assert im2col_body(kernel, *geometry) == expected


@settings(max_examples=150, deadline=None)
@given(conv_cases(2))
def test_conv2d_body_brute_force_and_im2col(case):
    kernel, *geometry = case
    expected = brute_body(kernel, *geometry)
    assert mp.conv_body_multiplications(kernel, *geometry[:4], n_partitions=geometry[4]) == expected
    assert im2col_body(kernel, *geometry) == expected


def test_live_taps_extremes():
    # one partition: every position in one body (padding saves); one slot: live if ever inside
    np.testing.assert_array_equal(mp.conv_live_taps((5,), (3,), 1, 1, n_partitions=1), [4, 5, 4])
    np.testing.assert_array_equal(mp.conv_live_taps((5,), (3,), 1, 1, n_partitions=5), [1, 1, 1])
    np.testing.assert_array_equal(mp.conv_live_taps((4, 4), (3, 3), 1, 1, n_partitions=1),
                                  np.outer([3, 4, 3], [3, 4, 3]))
    # a tap that never touches the input is folded even with one pixel per iteration
    np.testing.assert_array_equal(mp.conv_live_taps((1,), (5,), 1, 2, n_partitions=1), [0, 0, 1, 0, 0])


def test_padding_problem_example():
    # Conv1D 'same', kernel 3, all weights nonzero, PF = out_width: edge taps miss one position each
    kernel = np.ones((3, 2, 4))
    info = LayerInfo('c', 'conv1d', kernel.shape, input_shape=(6, 2), output_shape=(6, 4), padding='same')
    total = 6 * 3 * 2 * 4 - 2 * 2 * 4
    assert mp.multiplier_limit(info, kernel, 1, 'latency', 'io_parallel', parallelization_factor=6) == total
    assert mp.multiplier_limit(info, kernel, 4, 'latency', 'io_parallel', parallelization_factor=6) == math.ceil(
        total / 4)
    # default PF=1: one pixel slot, every tap live somewhere
    assert mp.multiplier_limit(info, kernel, 1, 'latency', 'io_parallel') == 24
    # io_stream: per-pixel dense kernel, padding comes as data
    assert mp.multiplier_limit(info, kernel, 4, 'latency', 'io_stream') == 6


@settings(max_examples=80, deadline=None)
@given(st.integers(2, 8), st.integers(1, 4), st.integers(1, 3), st.sampled_from(['same', 'valid']),
       st.integers(1, 3), st.integers(1, 3), st.integers(0, 2 ** 16), st.integers(1, 6))
def test_multiplier_limit_conv1d_layerinfo(width, k, stride, padding, c, f, seed, rf):
    if padding == 'valid' and width < k:
        return
    kernel = sparse(np.random.default_rng(seed), (k, c, f), 0.6)
    info = LayerInfo('c', 'conv1d', kernel.shape, input_shape=(width, c), strides=(stride,), padding=padding)
    before, after = mp.same_padding(width, k, stride) if padding == 'same' else (0, 0)
    out = mp.conv_output_size(width, k, stride, before, after)
    for pf in mp.valid_parallelization_factors(out):
        body = brute_body(kernel, (width,), (stride,), (before,), (after,), out // pf)
        assert mp.multiplier_limit(info, kernel, rf, 'Latency', 'io_parallel', pf) == -(-body // rf)


def test_multiplier_limit_conv2d_layerinfo():
    rng = np.random.default_rng(3)
    kernel = sparse(rng, (3, 3, 2, 4), 0.5)
    info = LayerInfo('c', 'conv2d', kernel.shape, input_shape=(5, 6, 2), strides=(2, 1), padding='same')
    (t, b), (l, r) = mp.same_padding(5, 3, 2), mp.same_padding(6, 3, 1)
    positions = mp.conv_output_size(5, 3, 2, t, b) * mp.conv_output_size(6, 3, 1, l, r)
    for pf in mp.valid_parallelization_factors(positions):
        body = brute_body(kernel, (5, 6), (2, 1), (t, l), (b, r), positions // pf)
        assert mp.multiplier_limit(info, kernel, 3, 'latency', 'io_parallel', pf) == -(-body // 3)


def test_unknown_geometry_falls_back_to_all_taps():
    kernel = sparse(np.random.default_rng(0), (3, 2, 2), 0.5)
    info = LayerInfo('c', 'conv1d', kernel.shape)
    assert mp.multiplier_limit(info, kernel, 2, 'latency', 'io_parallel') == math.ceil(np.count_nonzero(kernel) / 2)


# --------------------------------------------------------------------------------------------
# Dense and the Resource strategies


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 12), st.integers(1, 12), st.integers(1, 30), st.floats(0, 1), st.integers(0, 2 ** 16))
def test_dense_latency(n_in, n_out, rf, density, seed):
    w = sparse(np.random.default_rng(seed), (n_in, n_out), density)
    info = LayerInfo('d', 'dense', w.shape)
    expected = -(-sum(int(v != 0) for v in w.ravel()) // rf)
    assert mp.multiplier_limit(info, w, rf, 'latency', 'io_parallel') == expected
    assert mp.multiplier_limit(info, w, rf, 'latency', 'io_stream') == expected


class _FakeWeights:
    def __init__(self, data):
        self.data = data


def hls4ml_unrolled(n_in, n_out, rf, transposed):
    """hls4ml's ResourceUnrolled code for a transposed kernel: (written limit, emitted products)."""
    from hls4ml.backends.vivado.passes.unrolled_codegen import GenerateUnrolledDenseResource

    code = GenerateUnrolledDenseResource()._generate_unrolled_function(n_in, n_out, rf, _FakeWeights(transposed), 0)
    limit = int(re.search(r'instances=mul limit=(\d+)', code).group(1))
    return limit, code.count('::product(')


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(['dense', 'conv1d', 'conv2d']), st.integers(0, 2 ** 16), st.floats(0, 1), st.data())
def test_resource_unrolled_matches_hls4ml_codegen(kind, seed, density, data):
    rng = np.random.default_rng(seed)
    shape = {'dense': (int(rng.integers(1, 10)), int(rng.integers(1, 8))),
             'conv1d': (int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(1, 5))),
             'conv2d': (int(rng.integers(1, 3)), int(rng.integers(1, 3)), int(rng.integers(1, 3)),
                        int(rng.integers(1, 5)))}[kind]
    w = sparse(rng, shape, density)
    n_in, n_out = int(np.prod(shape[:-1])), shape[-1]
    valid = valid_reuse_factors(n_in, n_out)[:-1] or [1]
    rf = data.draw(st.sampled_from(valid))
    if rf == 1:
        return  # hls4ml falls back to Resource for RF = 1
    perm = {'dense': (1, 0), 'conv1d': (2, 0, 1), 'conv2d': (3, 0, 1, 2)}[kind]
    limit, products = hls4ml_unrolled(n_in, n_out, rf, np.transpose(w, perm))
    info = LayerInfo('l', kind, shape)
    ours = mp.multiplier_limit(info, w, rf, 'resource_unrolled', 'io_stream')
    assert products == np.count_nonzero(w)  # zero products are omitted
    block_factor = n_in * n_out // rf
    if rf <= n_in:
        assert ours == limit
    else:  # hls4ml's mult_limit is n_out there, not block_factor
        assert ours == limit - (n_out - block_factor)
    assert ours >= math.ceil(np.count_nonzero(w) / rf)


def test_resource_ignores_zeros():
    w = np.zeros((16, 8))
    info = LayerInfo('d', 'dense', w.shape)
    assert mp.multiplier_limit(info, w, 4, 'Resource', 'io_parallel') == 32
    assert mp.multiplier_limit(info, w, 4, 'ResourceUnrolled', 'io_parallel') == 0


def test_fpga_target_uses_multiplier_limit():
    w = sparse(np.random.default_rng(1), (3, 4, 6), 0.4)
    info = LayerInfo('c', 'conv1d', w.shape, input_shape=(10, 4), padding='same')
    target = FPGATarget(default=FPGALayerSettings(reuse_factor=2, strategy='latency', weight_bits=16))
    model = target.layer_model(info, ('DSP',))
    assert model.usage_dict(w)['DSP'] == mp.multiplier_limit(info, w, 2, 'latency', 'io_parallel')


def test_validation_errors():
    info = LayerInfo('d', 'dense', (4, 2))
    with pytest.raises(ValueError, match='strategy'):
        mp.multiplier_limit(info, np.ones((4, 2)), 1, 'unrolled', 'io_parallel')
    with pytest.raises(ValueError, match='io_type'):
        mp.multiplier_limit(info, np.ones((4, 2)), 1, 'latency', 'io_serial')
    with pytest.raises(ValueError, match='reuse_factor'):
        mp.multiplier_limit(info, np.ones((4, 2)), 0, 'latency', 'io_parallel')
    with pytest.raises(ValueError, match='kernel'):
        mp.multiplier_limit(info, np.ones((2, 4)), 1, 'latency', 'io_parallel')
    with pytest.raises(ValueError, match='n_partitions'):
        mp.conv_live_taps((5,), (3,), 1, 1, n_partitions=2)
    with pytest.raises(ValueError, match='in_size'):
        mp.conv_output_size(2, 5)


def test_module_is_pure_numpy():
    # hwprune's package __init__ may load hls4ml; this module itself must not import it or TensorFlow
    source = open(mp.__file__).read()
    assert not re.search(r'^\s*(import|from)\s+(tensorflow|hls4ml|keras|qkeras)', source, re.M)


# --------------------------------------------------------------------------------------------
# Depthwise convolutions (nnet_sepconv{1,2}d_latency.h, nnet_depthwise_product.h)


def brute_depthwise_body(kernel, in_spatial, strides, pads_before, pads_after, n_partitions):
    """Loops of depthwise_conv_*d_latency_cl: per pixel slot, product i_in = (tap, channel) with
    weights[i_in]; folded if the weight is 0 or the tap is padding in every partition."""
    spatial_k, channels = kernel.shape[:-2], kernel.shape[-2]
    outs = [(i + pb + pa - k) // s + 1
            for i, k, s, pb, pa in zip(in_spatial, spatial_k, strides, pads_before, pads_after)]
    positions = list(itertools.product(*[range(o) for o in outs]))
    n_pixels = len(positions) // n_partitions
    weights = kernel.reshape(-1)  # hls4ml's flat depthwise weights: tap-major, channel-minor
    count = 0
    for slot in range(n_pixels):
        for t, tap in enumerate(itertools.product(*[range(k) for k in spatial_k])):
            live = any(all(0 <= positions[part * n_pixels + slot][a] * strides[a] - pads_before[a] + tap[a]
                           < in_spatial[a] for a in range(len(tap))) for part in range(n_partitions))
            for c in range(channels):
                count += live and weights[t * channels + c] != 0
    return int(count)


@settings(max_examples=120, deadline=None)
@given(st.sampled_from([1, 2]), st.data())
def test_depthwise_body_brute_force_and_im2col(ndim, data):
    kernel, *geometry = data.draw(conv_cases(ndim))
    kernel = kernel[..., :1]  # depth_multiplier 1, the only one hls4ml builds
    expected = brute_depthwise_body(kernel, *geometry)
    assert mp.conv_body_multiplications(kernel, *geometry[:4], n_partitions=geometry[4]) == expected
    assert im2col_body(kernel, *geometry) == expected  # the depthwise layer's fill_buffer is the conv one


def test_depthwise_multiplier_limit_per_strategy():
    rng = np.random.default_rng(4)
    kernel = sparse(rng, (3, 3, 4, 1), 0.5)
    info = LayerInfo('dw', 'depthwise2d', kernel.shape, input_shape=(6, 6, 4), padding='same')
    (t, b) = mp.same_padding(6, 3, 1)
    for pf in (1, 36):
        body = brute_depthwise_body(kernel, (6, 6), (1, 1), (t, t), (b, b), 36 // pf)
        assert mp.multiplier_limit(info, kernel, 2, 'latency', 'io_parallel', pf) == -(-body // 2)
    assert mp.multiplier_limit(info, kernel, 2, 'latency', 'io_stream') == -(-np.count_nonzero(kernel) // 2)
    # Resource: block_factor = ceil(n_in / min(RF, n_in)) multipliers whatever the zeros
    assert mp.multiplier_limit(info, np.zeros(kernel.shape), 4, 'resource', 'io_stream') == 9
    assert mp.multiplier_limit(info, kernel, 72, 'resource', 'io_stream') == 1
    with pytest.raises(ValueError, match='depthwise'):
        mp.multiplier_limit(info, kernel, 4, 'resource_unrolled', 'io_stream')
    per_weight = mp.products_per_weight(info, 'latency', 'io_parallel', 36)
    assert per_weight.shape == kernel.shape
    assert np.sum(per_weight * (kernel != 0)) == brute_depthwise_body(kernel, (6, 6), (1, 1), (t, t), (b, b), 1)
