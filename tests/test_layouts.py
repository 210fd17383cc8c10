"""Layouts against a brute-force simulation of hls4ml 1.3's dense_resource loops.

The simulation below transcribes the three variants of ``nnet_dense_resource.h``
(``rf_leq_nin``, ``rf_gt_nin_rem0``, ``rf_gt_nin``) from the installed hls4ml: for every
multiplication it records which multiplier ``im`` reads which weight index, and it also computes
the layer's output, which checks that hls4ml's transposition is the one hwprune assumes.
"""

import math
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from hwprune import hardware
from hwprune.layouts import (
    GroupLayout, bram_group_columns, bram_layout, bram_slots_per_group, closest_reuse_factor, dsp_layout,
    input_layout, is_valid_reuse_factor, make_layout, mult_shape, neuron_layout, resource_flat_index,
    unstructured_layout, valid_reuse_factors,
)


def simulate_dense_resource(x, weights_t, n_in, n_out, rf):
    """Python transcription of nnet::dense_resource; returns (output, multiplier of each weight index)."""
    n = n_in * n_out
    block_factor = math.ceil(n / rf)
    multfactor = min(n_in, rf)
    multiplier_limit = math.ceil(n / multfactor)
    acc = np.zeros(n_out)
    mult_of = np.full(n, -1)
    if rf <= n_in:
        multscale = multiplier_limit // n_out
        for ir in range(rf):
            w_index, in_index, out_index, acc_step = ir, ir, 0, 0
            for im in range(block_factor):
                acc[out_index] += x[in_index] * weights_t[w_index]
                mult_of[w_index] = im
                w_index += rf
                in_index += rf
                if in_index >= n_in:
                    in_index = ir
                if acc_step + 1 >= multscale:
                    acc_step = 0
                    out_index += 1
                else:
                    acc_step += 1
    elif rf % n_in == 0:
        outscale = rf // n_in
        outidx, outstep = [], 0
        for ir in range(rf):
            outidx.append(outstep)
            if (ir + 1) % n_in == 0:
                outstep += 1
        in_index = 0
        for ir in range(rf):
            w_index, out_index = ir, outidx[ir]
            for im in range(block_factor):
                acc[out_index] += x[in_index] * weights_t[w_index]
                mult_of[w_index] = im
                w_index += rf
                if w_index >= n:
                    break
                out_index += outscale
            in_index += 1
            if in_index >= n_in:
                in_index = 0
    else:
        for ir in range(rf):
            tmp = {}
            for im in range(block_factor):
                w_index = ir + rf * im
                if w_index >= n:
                    continue
                tmp[im] = x[w_index % n_in] * weights_t[w_index]
                mult_of[w_index] = im
            mult = np.zeros(multiplier_limit)
            for im, value in tmp.items():
                out_index = (ir + rf * im) // multfactor
                if out_index < multiplier_limit:
                    mult[out_index] += value
            acc[:multiplier_limit] += mult[:n_out]
    return acc, mult_of


HLS4ML_TRANSPOSE = {'dense': (1, 0), 'conv1d': (2, 0, 1), 'conv2d': (3, 0, 1, 2)}  # resource_strategy.py
SHAPES = [('dense', (4, 3)), ('dense', (6, 4)), ('dense', (16, 8)), ('conv1d', (3, 2, 4)), ('conv2d', (2, 2, 3, 4)),
          ('conv2d', (3, 1, 2, 5))]


@pytest.mark.parametrize('kind,shape', SHAPES)
def test_dsp_layout_matches_template_simulation_for_every_valid_rf(kind, shape):
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=shape)
    n_in, n_out = mult_shape(kind, shape)
    weights_t = np.transpose(kernel, HLS4ML_TRANSPOSE[kind]).ravel()  # what hls4ml writes to weights[]
    x = rng.normal(size=n_in)
    rfs = valid_reuse_factors(n_in, n_out)
    assert any(rf > n_in for rf in rfs)  # the RF > n_in variants are covered
    for rf in rfs:
        out, mult_of = simulate_dense_resource(x, weights_t, n_in, n_out, rf)
        np.testing.assert_allclose(out, x @ kernel.reshape(n_in, n_out), atol=1e-9)  # transposition is right
        ids = dsp_layout(kind, shape, rf).ids
        # weight at Keras position p sits at w_index = resource_flat_index[p]; its multiplier is mult_of[w_index]
        assert np.array_equal(ids.ravel(), mult_of[resource_flat_index(kind, shape).ravel()]), (kind, shape, rf)
        assert dsp_layout(kind, shape, rf).n_groups == math.ceil(kernel.size / rf)


def test_resource_flat_index_is_hls4ml_transpose():
    for kind, shape in SHAPES:
        idx = resource_flat_index(kind, shape)
        assert np.array_equal(np.transpose(idx, HLS4ML_TRANSPOSE[kind]).ravel(), np.arange(idx.size))


def _hls4ml_backend():
    import hls4ml  # noqa: F401
    from hls4ml.backends import get_backend
    return get_backend('Vivado')


@pytest.mark.parametrize('n_in,n_out', [(16, 64), (64, 32), (32, 5), (7, 3), (12, 1), (1, 6), (72, 16)])
def test_reuse_factor_validity_and_closest_match_installed_hls4ml(n_in, n_out):
    backend = _hls4ml_backend()
    expected = backend.get_valid_reuse_factors(n_in, n_out)
    assert valid_reuse_factors(n_in, n_out) == expected
    for rf in range(1, n_in * n_out + 3):
        assert is_valid_reuse_factor(n_in, n_out, rf) == (rf in expected) or rf > n_in * n_out
        assert closest_reuse_factor(n_in, n_out, rf) == backend.get_closest_reuse_factor(expected, rf)
        if len(expected) > 1:
            assert closest_reuse_factor(n_in, n_out, rf, include_max_rf=False) == \
                backend.get_closest_reuse_factor(expected[:-1], rf)


def test_bram_groups_partition_columns_exactly():
    for bits in (4, 8, 10, 12, 16, 18, 36, 40):
        k = bram_slots_per_group(bits)
        assert (k * bits) % hardware.BRAM_WIDTH_BITS == 0
        for n_slots in (1, 7, 64, 512):
            columns = bram_group_columns(n_slots, bits)
            assert columns.sum() == math.ceil(n_slots * bits / hardware.BRAM_WIDTH_BITS)


def test_bram_layout_unions_dsp_groups():
    dsp = dsp_layout('dense', (16, 64), 2)
    bram = bram_layout('dense', (16, 64), 2, 16)
    k = bram_slots_per_group(16)
    assert k == 9
    assert np.array_equal(bram.ids, dsp.ids // k)
    assert bram.n_groups == math.ceil(dsp.n_groups / k)


def test_structured_layouts():
    n = neuron_layout('conv2d', (3, 3, 4, 8))
    assert n.n_groups == 8 and np.all(n.ids[..., 5] == 5)
    i = input_layout('conv2d', (3, 3, 4, 8))
    assert i.n_groups == 4 and np.all(i.ids[:, :, 2, :] == 2)
    d = input_layout('dense', (5, 2))
    assert d.n_groups == 5 and np.all(d.ids[3] == 3)
    u = unstructured_layout('dense', (5, 2))
    assert u.n_groups == 10 and np.array_equal(np.sort(u.ids.ravel()), np.arange(10))
    assert make_layout('neuron', 'dense', (5, 2)).n_groups == 2


@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 4))
@settings(max_examples=40, deadline=None)
def test_layout_reduce_alive_expand(n_in, n_out, rf):
    layout = dsp_layout('dense', (n_in, n_out), rf)
    rng = np.random.default_rng(n_in * 100 + n_out * 10 + rf)
    kernel = rng.normal(size=(n_in, n_out)) * (rng.random((n_in, n_out)) > 0.5)
    assert layout.reduce(np.ones_like(kernel)).sum() == kernel.size
    alive = layout.alive(kernel)
    for g in range(layout.n_groups):
        assert alive[g] == bool(np.any(kernel[layout.ids == g] != 0))
    expanded = layout.expand(alive.astype(float))
    assert np.array_equal(expanded > 0, alive[layout.ids])


@pytest.mark.parametrize('call,argument', [
    (lambda: dsp_layout('lstm', (2, 2), 1), 'kind'),
    (lambda: dsp_layout('dense', (2, 2, 2), 1), 'kernel_shape'),
    (lambda: dsp_layout('dense', (2, 2), 0), 'reuse_factor'),
    (lambda: valid_reuse_factors(0, 3), 'n_in'),
    (lambda: make_layout('rows', 'dense', (2, 2)), 'layout'),
    (lambda: bram_slots_per_group(0), 'weight_bits'),
    (lambda: closest_reuse_factor(4, 4, 2.5), 'reuse_factor'),
])
def test_bad_input_names_the_argument(call, argument):
    with pytest.raises((ValueError, TypeError), match=f'`{argument}`.*Received'):
        call()


def test_layout_rejects_wrong_shape():
    layout = dsp_layout('dense', (2, 2), 2)
    with pytest.raises(ValueError, match='values'):
        layout.reduce(np.ones(3))
    with pytest.raises(ValueError, match='group_values'):
        layout.expand(np.ones(5))
    assert isinstance(layout, GroupLayout)


# --------------------------------------------------------------------------------------------
# Depthwise kernels: nnet_depthwise_product.h (hls4ml 1.3), transcribed


def simulate_depthwise_resource(x, weights, n_in, n_out, rf):
    """Python transcription of the three depthwise_product_resource_* variants.

    ``weights`` is the flat kernel as hls4ml writes it (no transpose); ``x`` the im2col'd taps of
    one pixel (tap-major, channel-minor). Returns (output per channel, multiplier of each weight).
    """
    acc = np.zeros(n_out)
    mult_of = np.full(n_in, -1)
    if rf <= n_out:  # depthwise_product_resource_rf_leq_nout
        block_factor = math.ceil(n_in / rf)
        assert math.ceil(n_in / min(n_in, rf)) == block_factor
        for ir in range(rf):
            in_index, out_index = ir, ir
            for im in range(block_factor):
                acc[out_index] += x[in_index] * weights[in_index]
                mult_of[in_index] = im
                in_index += rf
                out_index += rf
                if out_index >= n_out:
                    out_index -= n_out
    else:
        rufactor = min(rf, n_in)
        block_factor = math.ceil(n_in / rufactor)
        outidx = [ir % n_out for ir in range(rufactor)]
        remainder = rf % n_out  # the rem0 variant never moves out_index
        for ir in range(rufactor):
            in_index, out_index = ir, outidx[ir]
            for im in range(block_factor):
                acc[out_index] += x[in_index] * weights[in_index]
                mult_of[in_index] = im
                in_index += rufactor
                out_index += remainder
                if out_index >= n_out:
                    out_index -= n_out
    return acc, mult_of


@pytest.mark.parametrize('kind,shape', [('depthwise2d', (3, 3, 4, 1)), ('depthwise2d', (2, 3, 6, 1)),
                                        ('depthwise1d', (5, 3, 1)), ('depthwise1d', (3, 8, 1))])
def test_depthwise_dsp_layout_matches_template_simulation_for_every_valid_rf(kind, shape):
    rng = np.random.default_rng(1)
    kernel = rng.normal(size=shape)
    n_in, n_out = mult_shape(kind, shape)
    assert n_in == kernel.size and n_out == shape[-2]  # hls4ml's get_layer_mult_size: (taps*C, C)
    x = rng.normal(size=n_in)
    expected = (x * kernel.ravel()).reshape(-1, n_out).sum(axis=0)  # each channel its own taps
    rfs = valid_reuse_factors(n_in, n_out)
    assert any(rf > n_in for rf in rfs) and any(rf > n_out for rf in rfs)
    for rf in rfs:
        out, mult_of = simulate_depthwise_resource(x, kernel.ravel(), n_in, n_out, rf)
        np.testing.assert_allclose(out, expected, atol=1e-9)  # no transpose: Keras order is hls4ml's
        layout = dsp_layout(kind, shape, rf)
        assert np.array_equal(layout.ids.ravel(), mult_of), (kind, shape, rf)
        assert layout.n_groups == math.ceil(n_in / min(rf, n_in))


def test_depthwise_structured_layouts_follow_channels():
    shape = (3, 3, 4, 1)
    neuron, inputs = neuron_layout('depthwise2d', shape), input_layout('depthwise2d', shape)
    assert neuron.n_groups == inputs.n_groups == 4
    assert np.array_equal(neuron.ids[..., 0], np.broadcast_to(np.arange(4), (3, 3, 4)))
    assert np.array_equal(neuron.ids, inputs.ids)  # depth_multiplier 1: channel in = channel out
    two = neuron_layout('depthwise1d', (3, 2, 2))  # depth_multiplier 2: output channel c*2 + m
    assert np.array_equal(two.ids[0], [[0, 1], [2, 3]])
    assert input_layout('depthwise1d', (3, 2, 2)).n_groups == 2
    assert np.array_equal(resource_flat_index('depthwise2d', shape).ravel(), np.arange(36))
