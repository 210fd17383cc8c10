"""Systolic-array target: column combining, conflict pruning, packing, select under budgets."""

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwprune.targets.base import LayerInfo, LayerState
from hwprune.targets.systolic import SystolicArray, column_groups, filter_matrix, kernel_from_matrix


def reference_groups(occ, alpha, gamma):
    """The merge rule written as plainly as possible (pairs in index order, O(n^3))."""
    rows = occ.shape[0]
    groups = [[c] for c in range(occ.shape[1]) if occ[:, c].any()]
    conf = [0] * len(groups)
    while True:
        best = None
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                if len(groups[i]) + len(groups[j]) > alpha:
                    continue
                ri, rj = occ[:, groups[i]].any(axis=1), occ[:, groups[j]].any(axis=1)
                overlap = int(np.sum(ri & rj))
                if conf[i] + conf[j] + overlap > gamma * rows + 1e-9:
                    continue
                key = (overlap, rows - int(np.sum(ri | rj)), min(groups[i]), min(groups[j]))
                if best is None or key < best[0]:
                    best = (key, i, j, overlap)
        if best is None:
            break
        _, i, j, overlap = best
        groups[i] = groups[i] + groups[j]
        conf[i] += conf[j] + overlap
        del groups[j], conf[j]
    return sorted((sorted(g) for g in groups), key=lambda g: g[0])


def sparse(rng, rows, cols, density):
    return rng.normal(size=(rows, cols)) * (rng.random((rows, cols)) < density)


# ------------------------------------------------------------------ hand-made matrices


def test_known_grouping():
    sa = SystolicArray(rows=2, cols=2, alpha=2, gamma=0.5)
    m = np.array([[1., 0., 0., 2.],
                  [0., 3., 0., 0.],
                  [4., 0., 5., 0.]])
    p = sa.pack(m)
    # (0,1) and (2,3) merge with no conflict; (0,2) would conflict in row 2
    assert p.groups == [[0, 1], [2, 3]]
    assert p.selector.tolist() == [[0, 3], [1, -1], [0, 2]]
    assert p.packed.tolist() == [[1, 2], [3, 0], [4, 5]]
    assert np.array_equal(p.pruned, m)           # conflict-free: nothing pruned
    assert (p.columns, p.filters, p.nonzeros, p.tiles) == (2, 3, 5, 2)
    assert p.utilization == pytest.approx(5 / 6)


def test_conflict_pruning_keeps_largest_magnitude():
    sa = SystolicArray(rows=4, cols=4, alpha=3, gamma=1.0)
    m = np.array([[1., -3., 0.],
                  [0., 0., 2.],
                  [0., 0., 0.5]])
    p = sa.pack(m)
    assert p.groups == [[0, 1, 2]]               # conflicts: row 0 -> 1 weight pruned (<= 1.0 * 3 rows)
    assert p.pruned.tolist() == [[0, -3, 0], [0, 0, 2], [0, 0, 0.5]]
    assert p.selector[:, 0].tolist() == [1, 2, 2]
    assert p.conflicts.tolist() == [1]
    # ties go to the lowest column
    q = sa.pack(np.array([[2., -2.]]))
    assert q.selector.tolist() == [[0]] and q.pruned.tolist() == [[2, 0]]


def test_gamma_zero_allows_only_conflict_free_merges():
    sa = SystolicArray(rows=8, cols=8, alpha=8, gamma=0.0)
    m = np.eye(4) + np.eye(4, k=1)               # neighbouring columns overlap in one row
    p = sa.pack(m)
    assert p.conflicts.sum() == 0
    assert np.array_equal(p.pruned, m)
    assert p.groups == [[0, 2], [1, 3]]


def test_alpha_limits_group_size():
    m = np.eye(6)                                # no conflicts at all
    assert SystolicArray(4, 4, alpha=1).pack(m).columns == 6
    assert [len(g) for g in SystolicArray(4, 4, alpha=4).pack(m).groups] == [4, 2]
    assert SystolicArray(4, 4, alpha=8).pack(m).groups == [list(range(6))]


def test_empty_columns_and_matrix():
    sa = SystolicArray(4, 4)
    p = sa.pack(np.array([[0., 1., 0.], [0., 0., 0.]]))
    assert p.groups == [[1]] and p.filters == 1 and p.tiles == 1
    z = sa.pack(np.zeros((3, 5)))
    assert (z.columns, z.filters, z.tiles, z.utilization) == (0, 0, 0, 0.0)
    assert z.apply(np.ones(5)).tolist() == [0.0, 0.0, 0.0]


def test_tiles_formula():
    rng = np.random.default_rng(1)
    m = sparse(rng, 37, 90, 0.08)
    sa = SystolicArray(rows=8, cols=5, alpha=4, gamma=0.5)
    p = sa.pack(m)
    assert p.tiles == int(np.ceil(p.filters / 8) * np.ceil(p.columns / 5))


@pytest.mark.parametrize('seed', range(6))
def test_vectorised_greedy_matches_reference(seed):
    rng = np.random.default_rng(seed)
    rows, cols = int(rng.integers(2, 12)), int(rng.integers(2, 24))
    occ = rng.random((rows, cols)) < rng.uniform(0.05, 0.5)
    alpha, gamma = int(rng.integers(1, 6)), float(rng.choice([0.0, 0.25, 0.5, 1.0]))
    assert column_groups(occ, alpha, gamma) == reference_groups(occ, alpha, gamma)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12), st.integers(1, 30), st.floats(0.0, 0.6), st.integers(1, 6),
       st.sampled_from([0.0, 0.3, 0.5, 1.0, 2.0]), st.integers(0, 2 ** 31 - 1))
def test_packing_invariants(rows, cols, density, alpha, gamma, seed):
    rng = np.random.default_rng(seed)
    m = sparse(rng, rows, cols, density)
    p = SystolicArray(rows=4, cols=4, alpha=alpha, gamma=gamma).pack(m)
    # groups partition the nonempty columns, none exceeds alpha
    flat = sorted(c for g in p.groups for c in g)
    assert flat == np.flatnonzero(np.any(m != 0, axis=0)).tolist()
    assert all(len(g) <= alpha for g in p.groups)
    # conflicts within limits, and exactly the weights conflict pruning removed
    assert np.all(p.conflicts <= gamma * rows + 1e-9)
    assert p.conflicts.sum() == np.count_nonzero(m) - np.count_nonzero(p.pruned)
    # the pruned matrix keeps original values, at most one per row and group, the largest
    assert np.all((p.pruned == 0) | (p.pruned == m))
    for g in p.groups:
        block = p.pruned[:, g]
        assert np.all(np.count_nonzero(block, axis=1) <= 1)
        assert np.allclose(np.abs(block).max(axis=1), np.abs(m[:, g]).max(axis=1))
    # the packed array computes the pruned matrix's product
    x = rng.normal(size=(3, cols))
    assert np.allclose(p.apply(x), x @ p.pruned.T)
    assert np.allclose(p.apply(x[0]), p.pruned @ x[0])
    # deterministic
    q = SystolicArray(rows=4, cols=4, alpha=alpha, gamma=gamma).pack(m)
    assert q.groups == p.groups and np.array_equal(q.selector, p.selector)


def test_filter_matrix_of_keras_kernels():
    k = np.arange(2 * 2 * 3 * 4).reshape(2, 2, 3, 4)
    f = filter_matrix(k)
    assert f.shape == (4, 12)
    assert f[1, 5] == k.reshape(-1, 4)[5, 1]
    assert np.array_equal(kernel_from_matrix(f, k.shape), k)
    assert np.array_equal(filter_matrix(np.ones((5, 3))), np.ones((3, 5)))


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize('kwargs, argument', [
    (dict(rows=0, cols=4), 'rows'), (dict(rows=4, cols=-2), 'cols'), (dict(rows=4, cols=4, alpha=0), 'alpha'),
    (dict(rows=4, cols=4, gamma=-0.1), 'gamma'), (dict(rows=4, cols=4, max_search=0), 'max_search'),
])
def test_bad_arguments_name_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=f'`{argument}`'):
        SystolicArray(**kwargs)


def test_bad_pack_input():
    sa = SystolicArray(4, 4)
    with pytest.raises(ValueError, match='`matrix`'):
        sa.pack(np.ones(5))
    with pytest.raises(ValueError, match='`priority`'):
        sa.pack(np.ones((2, 2)), priority=np.ones((3, 2)))
    with pytest.raises(ValueError, match='`gamma`'):
        sa.pack(np.ones((2, 2)), gamma=-1)


def test_config_round_trip_and_no_tensorflow():
    sa = SystolicArray(rows=16, cols=8, alpha=4, gamma=0.25, max_search=12)
    again = SystolicArray.from_config(json.loads(json.dumps(sa.get_config())))
    assert again.get_config() == sa.get_config()
    code = "import sys, hwprune.targets.systolic; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == 'False'


# ------------------------------------------------------------------ layer models and select


INFOS = [LayerInfo('c1', 'conv2d', (3, 3, 4, 16), input_shape=(8, 8, 4), output_shape=(6, 6, 16)),
         LayerInfo('fc', 'dense', (64, 10))]


def states_for(sa, resources, seed=0):
    rng = np.random.default_rng(seed)
    states = []
    for info in INFOS:
        m = sa.layer_model(info, resources)
        kernel = rng.normal(size=info.kernel_shape)
        imp = np.abs(kernel).ravel()
        states.append(LayerState(m, kernel, np.ones(m.layout.n_groups, bool), imp / imp.mean()))
    return states


def test_usage_of_dense_kernels():
    sa = SystolicArray(rows=8, cols=8, alpha=4, gamma=0.5)
    m = sa.layer_model(INFOS[0], ['tiles', 'columns', 'params'])
    assert m.usage(np.ones((3, 3, 4, 16))).tolist() == [2 * 5, 36, 576]
    s = sa.summary(m, np.ones((3, 3, 4, 16)))
    assert s['utilization'] == 1.0 and s['filters'] == 16 and s['columns_before'] == 36
    assert json.loads(json.dumps(s)) == s


@pytest.mark.parametrize('resource, fraction', [('tiles', 0.5), ('columns', 0.3), ('params', 0.2)])
def test_select_meets_budget(resource, fraction):
    sa = SystolicArray(rows=8, cols=8, alpha=4, gamma=0.5)
    states = states_for(sa, [resource])
    initial = sum(s.model.usage(s.kernel)[0] for s in states)
    keeps = sa.select(states, [fraction * initial])
    used = 0.0
    for s, keep in zip(states, keeps):
        pruned = s.kernel * s.model.layout.expand(keep)
        used += s.model.usage(pruned)[0]
        # what is kept is conflict-free under the packing select chose
        p = s.model.packing
        f = filter_matrix(pruned)
        assert all(np.all(np.count_nonzero(f[:, g], axis=1) <= 1) for g in p.groups)
    assert used <= fraction * initial
    assert used >= 0.6 * fraction * initial      # and the budget is used, not wasted


def test_select_keeps_required_and_pruned_weights():
    sa = SystolicArray(rows=8, cols=8, alpha=4, gamma=0.5)
    states = states_for(sa, ['columns'])
    fc = states[1]
    required = np.zeros(fc.model.layout.n_groups, bool)
    required[np.argmin(fc.importance)] = True
    fc.required = required
    states[0].keep[:100] = False
    states[0].importance[:100] = 0.0
    keeps = sa.select(states, [10.0])
    assert keeps[1][required].all()
    assert not keeps[0][:100].any()


def test_usage_after_select_uses_the_chosen_packing():
    # a fresh conflict-free packing of the result may need more columns than select's packing
    sa = SystolicArray(rows=4, cols=4, alpha=8, gamma=1.0)
    states = states_for(sa, ['columns'], seed=4)
    initial = sum(s.model.usage(s.kernel)[0] for s in states)
    keeps = sa.select(states, [0.25 * initial])
    total = sum(s.model.usage(s.kernel * s.model.layout.expand(k))[0] for s, k in zip(states, keeps))
    assert total == pytest.approx(sa.last_usage[0])


# ------------------------------------------------------------------ with the Keras callback


def test_callback_reaches_tile_budget():
    pytest.importorskip('tensorflow')
    import hwprune
    from digits_fixtures import digits_model
    model, x, y = digits_model()
    sa = SystolicArray(rows=8, cols=8, alpha=4, gamma=0.5)
    before = hwprune.estimate(model, sa)
    cb = hwprune.HardwarePruning(sa, resources=['tiles'], budget=hwprune.PolynomialBudget(final=0.4, end=2),
                                 verbose=0)
    model.fit(x, y, epochs=3, batch_size=64, verbose=0, callbacks=[cb])
    after = hwprune.estimate(model, sa)
    assert after.total['tiles'] <= 0.4 * before.total['tiles']
    assert cb.history[-1]['usage']['tiles'] <= 0.4 * cb.initial_usage[0]
    assert after.layers['conv2']['params'] < before.layers['conv2']['params']
