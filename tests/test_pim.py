"""PIM crossbar target: im2col / SDK / VW-SDK cycle formulas, channel pruning, callback budget."""

import itertools
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from hwprune.layouts import input_layout
from hwprune.targets.base import LayerInfo, LayerState
from hwprune.targets.pim import PIMArray


def reference_cycles(h, w, kh, kw, ic, oc, rows, cols, square=False):
    """Direct transcription of the formulas (a loop over every window)."""
    best = (h - kh + 1) * (w - kw + 1) * math.ceil(kh * kw * ic / rows) * math.ceil(oc / cols)
    for a in range(1, h - kh + 2):
        for b in range(1, w - kw + 2):
            if square and a != b:
                continue
            pwh, pww = kh + a - 1, kw + b - 1
            ict = min(ic, rows // (pwh * pww))
            oct_ = min(oc, cols // (a * b))
            if ict == 0 or oct_ == 0:
                continue
            cc = (math.ceil((h - pwh) / a) + 1) * (math.ceil((w - pww) / b) + 1) * math.ceil(ic / ict) \
                * math.ceil(oc / oct_)
            best = min(best, cc)
    return best


# ------------------------------------------------------------------ the worked example


def test_vw_sdk_paper_example():
    pim = PIMArray(512, 512)
    r = pim.layer_cycles((112, 112), (3, 3), 128, 128)
    assert r.cycles == 12100
    assert r.window == (4, 4) and r.ict == 32 and r.oct == 128
    assert (r.windows, r.row_tiles, r.col_tiles) == (55 * 55, 4, 1)
    assert r.windows * r.row_tiles * r.col_tiles == r.cycles
    assert r.method == 'sdk'  # a square window: the documented tie rule labels it 'sdk'
    im2col = pim.layer_cycles((112, 112), (3, 3), 128, 128, mapping='im2col')
    assert im2col.cycles == 36300 and im2col.method == 'im2col'
    assert pim.layer_cycles((112, 112), (3, 3), 128, 128, mapping='sdk').cycles == 12100
    assert PIMArray(512, 512, mapping='im2col').layer_cycles((112, 112), (3, 3), 128, 128).cycles == 36300


def test_im2col_hand_computed():
    # 10x10 input, 3x3 kernel, 64 -> 100 channels, 256x64 array: 64 pixels * ceil(576/256) * ceil(100/64)
    r = PIMArray(256, 64, mapping='im2col').layer_cycles((10, 10), (3, 3), 64, 100)
    assert r.cycles == 64 * 3 * 2
    assert (r.window, r.row_tiles, r.col_tiles) == ((3, 3), 3, 2)


def test_rectangular_window_beats_square():
    pim = PIMArray(64, 64)
    # 6x6x15 -> 32: the 3x4 window holds ICt = 5 channels: 8 windows x 3 row tiles = 24 cycles
    r = pim.layer_cycles((6, 6), (3, 3), 15, 32)
    assert (r.cycles, r.method, r.window, r.ict, r.oct) == (24, 'vw-sdk', (3, 4), 5, 32)
    # square windows only: 4x4 (ICt 4, OCt 16): 4 windows x 4 row tiles x 2 column tiles
    assert pim.layer_cycles((6, 6), (3, 3), 15, 32, mapping='sdk').cycles == 32
    # im2col: 16 pixels x ceil(135/64) = 48
    assert pim.layer_cycles((6, 6), (3, 3), 15, 32, mapping='im2col').cycles == 48


def test_ties_prefer_im2col():
    # a 1x1 input: every mapping is im2col-equivalent
    r = PIMArray(64, 64).layer_cycles((1, 1), (1, 1), 200, 10)
    assert (r.cycles, r.method) == (4, 'im2col')


@pytest.mark.parametrize('seed', range(12))
def test_search_matches_reference(seed):
    rng = np.random.default_rng(seed)
    h, w = rng.integers(3, 16, size=2)
    kh, kw = rng.integers(1, 4, size=2)
    ic, oc = rng.integers(1, 70, size=2)
    rows, cols = int(rng.choice([16, 32, 64, 128])), int(rng.choice([8, 32, 64]))
    pim = PIMArray(rows, cols)
    for mapping, square in (('vw-sdk', False), ('sdk', True)):
        got = pim.layer_cycles((h, w), (kh, kw), int(ic), int(oc), mapping=mapping)
        assert got.cycles == reference_cycles(h, w, kh, kw, ic, oc, rows, cols, square=square)
    # the channel menu agrees with the point evaluations
    info = LayerInfo('c', 'conv2d', (kh, kw, int(ic), int(oc)), input_shape=(h, w, int(ic)))
    model = pim.layer_model(info, ['cycles'])
    menu = model.cycle_menu()
    for k in range(1, int(ic) + 1):
        assert menu[k] == reference_cycles(h, w, kh, kw, k, oc, rows, cols)


def test_multibit_weights_use_fewer_columns():
    # 4-bit weights in 1-bit cells: C' = 512 * 1 / 4 = 128 output channels per column tile
    pim = PIMArray(512, 512, weight_bits=4, cell_bits=1)
    assert pim.effective_cols == 128
    assert pim.layer_cycles((1, 1), (1, 1), 512, 300).cycles == math.ceil(300 / 128)
    # 2-bit cells halve the columns a 4-bit weight needs
    assert PIMArray(512, 512, weight_bits=4, cell_bits=2).effective_cols == 256
    r = pim.layer_cycles((112, 112), (3, 3), 128, 128)
    assert r.cycles == reference_cycles(112, 112, 3, 3, 128, 128, 512, 128)


def test_dense_is_one_by_one():
    pim = PIMArray(64, 32)
    m = pim.layer_model(LayerInfo('fc', 'dense', (100, 40)), ['cycles'])
    assert m.usage(np.ones((100, 40)))[0] == math.ceil(100 / 64) * math.ceil(40 / 32)
    kernel = np.ones((100, 40))
    kernel[64:] = 0                      # 64 live inputs: one row tile
    assert m.usage(kernel)[0] == 2
    kernel[:, 32:] = 0                   # 32 live neurons: one column tile
    assert m.usage(kernel)[0] == 1


def test_conv1d_and_same_padding():
    pim = PIMArray(64, 64)
    c1 = pim.layer_model(LayerInfo('c', 'conv1d', (3, 8, 16), input_shape=(20, 8), output_shape=(18, 16)), ['cycles'])
    assert c1.usage(np.ones((3, 8, 16)))[0] == reference_cycles(1, 20, 1, 3, 8, 16, 64, 64)
    same = LayerInfo('s', 'conv2d', (3, 3, 4, 8), input_shape=(6, 6, 4), output_shape=(6, 6, 8), padding='same')
    m = pim.layer_model(same, ['cycles'])
    assert m.input_hw == (8, 8)          # the crossbar sees the zero-padded input
    assert m.usage(np.ones((3, 3, 4, 8)))[0] == reference_cycles(8, 8, 3, 3, 4, 8, 64, 64)


def test_residual_channels_cost_a_row_cycle():
    pim = PIMArray(64, 64)
    info = LayerInfo('conv2', 'conv2d', (3, 3, 16, 32), input_shape=(6, 6, 16), output_shape=(4, 4, 32))
    m = pim.layer_model(info, ['cycles', 'params'])
    kernel = np.ones((3, 3, 16, 32))
    assert m.usage(kernel).tolist() == [32.0, 4608.0]
    kernel[:, :, 15] = 0                 # 15 channels = 3 x ICt(5): 8 windows x 3 row tiles
    assert m.usage(kernel).tolist() == [24.0, 4320.0]
    kernel[:, :, 10:] = 0                # 10 channels: 2 row tiles
    assert m.usage(kernel)[0] == 16
    kernel[1, 1, :10] = 0                # zeros inside live channels change nothing
    assert m.usage(kernel)[0] == 16
    s = pim.summary(m, kernel)
    assert (s['IC'], s['ICt'], s['window'], s['IC_before'], s['ICt_before'], s['cycles_before']) == \
        (10, 5, '3x4', 16, 4, 32)
    assert json.loads(json.dumps(s)) == s


def test_dead_filters_free_columns():
    pim = PIMArray(64, 8)
    m = pim.layer_model(LayerInfo('fc', 'dense', (10, 16)), ['cycles'])
    kernel = np.ones((10, 16))
    assert m.usage(kernel)[0] == 2
    kernel[:, 8:] = 0
    assert m.usage(kernel)[0] == 1
    assert m.usage(np.zeros((10, 16)))[0] == 0


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize('kwargs, argument', [
    (dict(rows=0, cols=8), 'rows'), (dict(rows=8, cols=-1), 'cols'),
    (dict(rows=8, cols=8, weight_bits=0), 'weight_bits'), (dict(rows=8, cols=8, cell_bits=-2), 'cell_bits'),
    (dict(rows=8, cols=4, weight_bits=8), 'weight_bits'), (dict(rows=8, cols=8, mapping='foo'), 'mapping'),
    (dict(rows=8, cols=8, min_channels=-1), 'min_channels'),
])
def test_bad_arguments_name_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=f'`{argument}`'):
        PIMArray(**kwargs)


def test_bad_layers():
    pim = PIMArray(64, 64)
    with pytest.raises(ValueError, match='`kernel_hw`.*Received: kernel_hw=\\(5, 3\\)'):
        pim.layer_cycles((4, 8), (5, 3), 4, 4)
    with pytest.raises(ValueError, match='`strides`.*Received: strides=\\(2, 2\\)'):
        pim.layer_cycles((8, 8), (3, 3), 4, 4, strides=(2, 2))
    strided = LayerInfo('c', 'conv2d', (3, 3, 4, 4), input_shape=(8, 8, 4), strides=(2, 2))
    with pytest.raises(ValueError, match="`strides`.*layer 'c'"):
        pim.layer_model(strided, ['cycles'])
    with pytest.raises(ValueError, match='`info.input_shape`'):
        pim.layer_model(LayerInfo('c', 'conv2d', (3, 3, 4, 4)), ['cycles'])
    with pytest.raises(ValueError, match='`kernel_shape`'):
        pim.layer_model(LayerInfo('c', 'conv2d', (5, 5, 4, 4), input_shape=(3, 3, 4)), ['cycles'])
    with pytest.raises(ValueError, match='`out_channels`'):
        pim.layer_cycles((8, 8), (3, 3), 4, 0)
    with pytest.raises(ValueError, match='`resources`'):
        pim.layer_model(LayerInfo('fc', 'dense', (4, 4)), ['DSP'])


def test_config_round_trip():
    pim = PIMArray(256, 128, weight_bits=4, cell_bits=2, mapping='sdk', min_channels=2)
    config = json.loads(json.dumps(pim.get_config()))
    again = PIMArray.from_config(config)
    assert again.get_config() == pim.get_config()
    assert again.layer_cycles((16, 16), (3, 3), 32, 64) == pim.layer_cycles((16, 16), (3, 3), 32, 64)


def test_core_does_not_import_tensorflow():
    code = "import sys, hwprune.targets.pim; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == 'False'


# ------------------------------------------------------------------ select (multiple-choice knapsack)


def states_for(pim, infos, seed=0):
    rng = np.random.default_rng(seed)
    states = []
    for info in infos:
        m = pim.layer_model(info, ['cycles'])
        kernel = rng.normal(size=info.kernel_shape)
        imp = np.sqrt(input_layout(info.kind, info.kernel_shape).reduce(kernel ** 2))
        states.append(LayerState(m, kernel, np.ones(m.layout.n_groups, bool), imp / imp.mean()))
    return states


INFOS = [LayerInfo('a', 'conv2d', (3, 3, 12, 24), input_shape=(8, 8, 12), output_shape=(6, 6, 24)),
         LayerInfo('b', 'conv2d', (3, 3, 24, 16), input_shape=(6, 6, 24), output_shape=(4, 4, 16)),
         LayerInfo('c', 'dense', (40, 10))]


def brute_force(states, capacity, min_channels=1):
    """Best total importance over every combination of per-layer channel counts."""
    best = -1.0
    options = []
    for s in states:
        imp = np.sort(s.importance)[::-1]
        menu = s.model.cycle_menu()
        options.append([(float(imp[:k].sum()), float(menu[k])) for k in range(min_channels, imp.size + 1)])
    for combo in itertools.product(*options):
        if sum(c for _, c in combo) <= capacity + 1e-9:
            best = max(best, sum(v for v, _ in combo))
    return best


@pytest.mark.parametrize('fraction', [0.4, 0.6, 0.8])
def test_select_is_optimal_and_fits(fraction):
    pim = PIMArray(64, 32)
    states = states_for(pim, INFOS)
    initial = sum(s.model.usage(s.kernel)[0] for s in states)
    capacity = fraction * initial
    keeps = pim.select(states, [capacity])
    used = sum(s.model.usage(s.kernel * s.model.layout.expand(k))[0] for s, k in zip(states, keeps))
    assert used <= capacity
    value = sum(float(s.importance[k].sum()) for s, k in zip(states, keeps))
    assert value == pytest.approx(brute_force(states, capacity))
    # the kept channels of each layer are its most important ones
    for s, k in zip(states, keeps):
        if k.any() and not k.all():
            assert s.importance[k].min() >= s.importance[~k].max()
    assert pim.last_solution.upper_bound >= pim.last_solution.value - 1e-9


def test_select_greedy_fits():
    pim = PIMArray(64, 32)
    states = states_for(pim, INFOS, seed=3)
    initial = sum(s.model.usage(s.kernel)[0] for s in states)
    keeps = pim.select(states, [0.5 * initial], method='greedy')
    used = sum(s.model.usage(s.kernel * s.model.layout.expand(k))[0] for s, k in zip(states, keeps))
    assert used <= 0.5 * initial
    assert pim.last_solution.value >= 0.8 * brute_force(states, 0.5 * initial)


def test_select_respects_required_pruned_and_min_channels(caplog):
    pim = PIMArray(64, 32, min_channels=2)
    states = states_for(pim, INFOS)
    required = np.zeros(40, bool)
    required[np.argmin(states[2].importance)] = True       # the least important, yet required
    states[2].required = required
    states[0].keep[:3] = False                              # already pruned
    states[0].importance[:3] = 0.0
    keeps = pim.select(states, [1.0])                       # far too small: the smallest selection
    assert keeps[2][required].all()
    assert not keeps[0][:3].any()
    # the smallest selection: at least 2 channels, and as many more as cost nothing extra
    for s, k in zip(states, keeps):
        assert k.sum() >= 2
        assert s.model.cycle_menu()[k.sum()] == s.model.cycle_menu()[2]
        assert k.sum() == s.model.layout.n_groups or s.model.cycle_menu()[k.sum() + 1] > s.model.cycle_menu()[2]
    assert 'exceeds the budget' in caplog.text
    # with regrowth the pruned channels are candidates again (importance permitting)
    states[0].importance[:3] = 10.0
    keeps = pim.select(states, [1e9], regrowth=True)
    assert keeps[0].all()


def test_weighted_resources_are_refused_by_the_target():
    pim = PIMArray(64, 32)
    model = pim.layer_model(INFOS[0], ['cycles'])
    with pytest.raises(TypeError, match="target 'pim' does not support weighted resource dicts"):
        pim.weighted(model, {'cycles': 1.0})
    pytest.importorskip('tensorflow')
    import hwprune
    with pytest.raises(TypeError, match='does not support weighted'):  # refused when the callback is made
        hwprune.HardwarePruning(pim, resources={'cycles': 1.0, 'params': 2.0})


# ------------------------------------------------------------------ with the Keras callback


def test_callback_reaches_cycle_budget():
    pytest.importorskip('tensorflow')
    import hwprune
    from digits_fixtures import digits_model
    model, x, y = digits_model()
    pim = PIMArray(32, 32)
    before = hwprune.estimate(model, pim)
    cb = hwprune.HardwarePruning(pim, resources=['cycles'], budget=hwprune.PolynomialBudget(final=0.5, end=2),
                                 verbose=0)
    model.fit(x, y, epochs=3, batch_size=64, verbose=0, callbacks=[cb])
    after = hwprune.estimate(model, pim)
    assert after.total['cycles'] <= 0.5 * before.total['cycles']
    assert cb.history[-1]['usage']['cycles'] <= 0.5 * cb.initial_usage[0]
    # whole input channels are gone, nothing else
    kernel = model.get_layer('conv2').kernel.numpy()
    alive = np.any(kernel != 0, axis=(0, 1, 3))
    assert not alive.all()
    assert np.count_nonzero(kernel[:, :, alive]) > 0.9 * kernel[:, :, alive].size
