"""Tests of the multi-dimensional 0/1 knapsack solver (hwprune.knapsack)."""

from __future__ import annotations

import ast
import dataclasses
import doctest
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from hwprune import knapsack
from hwprune.knapsack import METHODS, KnapsackResult, solve_knapsack

ALL = ('exact', 'pulp', 'greedy', 'lp', 'auto')
EXACT = ('exact', 'pulp')
assert set(ALL) == set(METHODS)

# The instances: (values, costs, capacity, optimum, optimal items).
KNOWN = [
    pytest.param([4, 5, 6, 8, 3], [2, 5, 3, 2, 5], 8, 18.0, {0, 2, 3}, id='1-resource'),
    pytest.param([10, 2, 6, 12, 3], np.array([[3, 1, 4, 5, 5], [3, 2, 4, 1, 2]]).T, [8, 7], 22.0, {0, 3},
                 id='2-resources'),
    pytest.param([10, 9, 1], [5, 6, 1], 6, 11.0, {0, 2}, id='greedy-must-skip'),
]


def _as_2d(costs):
    c = np.asarray(costs, float)
    return c[:, None] if c.ndim == 1 else c


def brute_force(values, costs, capacity):
    """Optimal value by enumeration of all subsets (n <= ~12)."""
    v = np.asarray(values, float)
    c = _as_2d(costs)
    cap = np.broadcast_to(np.asarray(capacity, float), (c.shape[1],))
    masks = ((np.arange(2 ** v.size)[:, None] >> np.arange(v.size)) & 1).astype(float)
    feasible = np.all(masks @ c <= cap * (1 + 1e-9), axis=1)   # the solver's documented tolerance
    return float((masks @ v)[feasible].max())


def fits(result, costs, capacity):
    c = _as_2d(costs)
    cap = np.broadcast_to(np.asarray(capacity, float), (c.shape[1],))
    return bool(np.all(c.T @ result.selected <= cap * (1 + 1e-9) + 1e-12))


def check_result(result, values, costs, capacity):
    assert isinstance(result, KnapsackResult)
    assert result.selected.dtype == bool and result.selected.shape == (len(values),)
    assert fits(result, costs, capacity)
    assert result.value == pytest.approx(float(np.asarray(values, float)[result.selected].sum()), rel=1e-12, abs=1e-12)
    assert result.upper_bound >= result.value
    assert result.seconds >= 0
    assert 0.0 <= result.gap <= 1.0


@st.composite
def instances(draw, max_n=10):
    n = draw(st.integers(0, max_n))
    n_res = draw(st.integers(1, 3))
    value = st.one_of(st.integers(0, 60), st.floats(0, 60, allow_nan=False).map(lambda x: round(x, 3)))
    values = draw(st.lists(value, min_size=n, max_size=n))
    cost = st.integers(0, 20)
    if draw(st.booleans()):
        cost = st.one_of(cost, st.floats(0, 20, allow_nan=False).map(lambda x: round(x, 2)))
    costs = np.array(draw(st.lists(st.lists(cost, min_size=n_res, max_size=n_res),
                                   min_size=n, max_size=n)), float).reshape(n, n_res)
    capacity = [draw(st.one_of(st.integers(0, int(costs[:, r].sum()) + 2),
                               st.floats(0, float(costs[:, r].sum()) + 2).map(lambda x: round(x, 2))))
                for r in range(n_res)]
    if n_res == 1 and draw(st.booleans()):   # the (n,) / scalar form
        return values, costs[:, 0], capacity[0]
    return values, costs, capacity


FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- known optima -----------------------------------------------------------------------------

@pytest.mark.parametrize('method', ALL)
@pytest.mark.parametrize('values, costs, capacity, optimum, items', KNOWN)
def test_known_optima(method, values, costs, capacity, optimum, items):
    result = solve_knapsack(values, costs, capacity, method=method)
    check_result(result, values, costs, capacity)
    assert result.value == optimum
    assert set(np.flatnonzero(result.selected).tolist()) == items
    if method in EXACT + ('auto',):
        assert result.optimal
        assert result.method == ('exact' if method == 'auto' else method)


def test_known_optima_without_reduction():
    """The plain MILP (no reduced-cost fixing) also finds the known optima."""
    with mock.patch.object(knapsack, '_REDUCE', False):
        for param in KNOWN:
            values, costs, capacity, optimum, items = param.values
            for method in EXACT:
                result = solve_knapsack(values, costs, capacity, method=method)
                assert result.value == optimum and result.optimal


# --- properties against brute force -------------------------------------------------------------

@FAST
@given(instances())
def test_exact_methods_match_brute_force(instance):
    values, costs, capacity = instance
    best = brute_force(values, costs, capacity)
    tol = 1e-6 * max(1.0, max(values, default=0.0))
    for method in EXACT:
        result = solve_knapsack(values, costs, capacity, method=method)
        check_result(result, values, costs, capacity)
        assert result.optimal
        assert result.value == pytest.approx(best, abs=tol)
        assert result.upper_bound >= best - 1e-9 * max(1.0, best)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_plain_milp_matches_brute_force(instance):
    values, costs, capacity = instance
    best = brute_force(values, costs, capacity)
    tol = 1e-6 * max(1.0, max(values, default=0.0))
    with mock.patch.object(knapsack, '_REDUCE', False):
        result = solve_knapsack(values, costs, capacity, method='exact')
    assert result.optimal and result.value == pytest.approx(best, abs=tol)


@FAST
@given(instances())
def test_every_method_feasible_and_bounded(instance):
    values, costs, capacity = instance
    best = brute_force(values, costs, capacity)
    for method in ('greedy', 'lp', 'auto'):
        result = solve_knapsack(values, costs, capacity, method=method)
        check_result(result, values, costs, capacity)
        assert result.value <= best + 1e-9 * max(1.0, best)
        assert result.upper_bound >= best - 1e-9 * max(1.0, best)
        if result.optimal:
            assert result.value == pytest.approx(best, abs=1e-6 * max(1.0, best))


@FAST
@given(st.integers(1, 60), st.integers(1, 3), st.integers(0, 2 ** 32 - 1), st.booleans())
def test_fill_equals_sequential_scan(n, n_res, seed, integer):
    rng = np.random.default_rng(seed)
    c = rng.integers(0, 10, (n, n_res)).astype(float) if integer else rng.random((n, n_res))
    slack = c.sum(axis=0) * rng.uniform(0, 1, n_res)
    order = rng.permutation(n)
    added, rest = knapsack._fill(c, slack, order)
    expected, left = [], slack.copy()
    for i in order:
        if np.all(c[i] <= left):
            expected.append(i)
            left = left - c[i]
    assert added.tolist() == expected
    np.testing.assert_allclose(rest, left, atol=1e-9)


# --- larger instances ---------------------------------------------------------------------------

def _random_instance(n, n_res, seed=0):
    rng = np.random.default_rng(seed)
    values = rng.random(n)
    costs = rng.integers(1, 101, (n, n_res)).astype(float)
    return values, costs, 0.4 * costs.sum(axis=0)


@pytest.mark.parametrize('n, n_res', [(3000, 1), (3000, 2), (12000, 2), (12000, 3)])
def test_heuristics_near_lp_bound(n, n_res):
    values, costs, capacity = _random_instance(n, n_res)
    lp = linprog(-values, A_ub=costs.T, b_ub=capacity, bounds=(0, 1), method='highs-ipm', options={'presolve': False})
    for method in ('greedy', 'lp'):
        result = solve_knapsack(values, costs, capacity, method=method)
        check_result(result, values, costs, capacity)
        assert result.gap < 1e-3
        # the core LP (n > _CORE_MIN) or the closed form reproduce HiGHS's LP bound
        assert result.upper_bound == pytest.approx(-lp.fun, rel=1e-7)


@pytest.mark.parametrize('case', ['sampled-duals', 'loose-resource', 'zero-capacity-resource'])
def test_core_lp_matches_full_lp(case):
    values, costs, capacity = _random_instance(12000, 3, seed=5)
    sample = knapsack._DUAL_SAMPLE
    if case == 'sampled-duals':          # the path used above 4 * _DUAL_SAMPLE items
        sample = 2000
    elif case == 'loose-resource':       # a resource that does not bind: its dual is 0
        capacity[2] = 0.9 * costs[:, 2].sum()
    else:                                # costs nothing in a resource of zero capacity
        costs[:, 2], capacity[2] = 0.0, 0.0
    lp = linprog(-values, A_ub=costs.T, b_ub=capacity, bounds=(0, 1), method='highs-ipm', options={'presolve': False})
    with mock.patch.object(knapsack, '_DUAL_SAMPLE', sample):
        relax = knapsack._relax(values, costs, capacity)
        result = solve_knapsack(values, costs, capacity, method='greedy')
    assert relax.exact
    assert relax.bound == pytest.approx(-lp.fun, rel=1e-7)
    check_result(result, values, costs, capacity)
    assert result.gap < 1e-3


def test_auto_picks_by_size():
    small = _random_instance(500, 2)
    large = _random_instance(knapsack.AUTO_EXACT_MAX // 2 + 1, 2)
    assert solve_knapsack(*small).method == 'exact'
    assert solve_knapsack(*large).method == 'greedy'


def test_time_limit_fallback_to_greedy():
    values, costs, capacity = _random_instance(400, 3, seed=3)
    with mock.patch.object(knapsack, '_milp_highs', return_value=(None, 'none')):
        result = solve_knapsack(values, costs, capacity, method='exact')
    check_result(result, values, costs, capacity)
    if result.upper_bound - result.value > 1e-9 * result.upper_bound:
        assert result.method == 'greedy' and not result.optimal


def test_time_limit_feasible_not_proven():
    values, costs, capacity = [10, 9, 1, 4, 4], [5, 6, 1, 3, 3], 6
    fake = mock.Mock(side_effect=lambda v, c, cap, t: (np.zeros(v.size, bool), 'feasible'))
    with mock.patch.object(knapsack, '_REDUCE', False), mock.patch.object(knapsack, '_milp_highs', fake):
        result = solve_knapsack(values, costs, capacity, method='exact')
    assert fake.called
    assert not result.optimal and result.method == 'greedy'
    check_result(result, values, costs, capacity)


def test_infeasible_milp_answer_is_repaired():
    values, costs, capacity = [10, 9, 1, 4, 4], [5, 6, 1, 3, 3], 6
    fake = mock.Mock(side_effect=lambda v, c, cap, t: (np.ones(v.size, bool), 'optimal'))
    with mock.patch.object(knapsack, '_REDUCE', False), mock.patch.object(knapsack, '_milp_highs', fake):
        result = solve_knapsack(values, costs, capacity, method='exact')
    assert fake.called and not result.optimal
    check_result(result, values, costs, capacity)


@FAST
@given(st.integers(0, 40), st.integers(1, 3), st.integers(0, 2 ** 32 - 1))
def test_repair_makes_any_selection_fit(n, n_res, seed):
    rng = np.random.default_rng(seed)
    c = rng.integers(0, 10, (n, n_res)).astype(float)
    cap = c.sum(axis=0) * rng.uniform(0, 1, n_res)
    sel = rng.random(n) < 0.7
    out = knapsack._repair(rng.random(n), c, cap, sel)
    assert np.all(c[out].sum(axis=0) <= cap * (1 + 1e-9))


# --- edge cases ---------------------------------------------------------------------------------

@pytest.mark.parametrize('method', ALL)
def test_no_items(method):
    result = solve_knapsack([], np.zeros((0, 2)), [1.0, 2.0], method=method)
    assert result.selected.shape == (0,) and result.value == 0.0 and result.upper_bound == 0.0
    assert result.method == 'trivial' and result.optimal and result.gap == 0.0
    assert solve_knapsack([], [], 3.0, method=method).method == 'trivial'


@pytest.mark.parametrize('method', ALL)
def test_everything_fits(method):
    result = solve_knapsack([1, 2, 0], [[1, 1], [2, 0], [3, 3]], [6, 4], method=method)
    assert result.selected.all() and result.method == 'trivial' and result.optimal
    assert result.value == result.upper_bound == 3.0


@pytest.mark.parametrize('method', ALL)
def test_zero_capacity(method):
    result = solve_knapsack([5, 1, 2, 7], [[0, 0], [1, 0], [0, 0], [0, 2]], 0, method=method)
    assert result.selected.tolist() == [True, False, True, False]
    assert result.method == 'trivial' and result.value == result.upper_bound == 7.0


@pytest.mark.parametrize('method', ALL)
def test_zero_cost_items_always_selected(method):
    values = [0.0, 3.0, 1.0, 4.0, 1.0, 5.0]
    costs = [0.0, 4.0, 0.0, 5.0, 2.0, 3.0]
    result = solve_knapsack(values, costs, 7, method=method)
    assert result.selected[[0, 2]].all()
    assert result.value == 9.0 and result.selected.tolist() == [True, True, True, False, False, True]


@pytest.mark.parametrize('method', ALL)
def test_too_large_items_never_selected(method):
    result = solve_knapsack([100, 1, 1], [[5, 1], [1, 1], [1, 1]], [4, 4], method=method)
    assert result.selected.tolist() == [False, True, True] and result.method == 'trivial'


@pytest.mark.parametrize('method', ALL)
def test_equal_costs_sort(method):
    values = [3.0, 9.0, 1.0, 9.0, 4.0]
    result = solve_knapsack(values, [2.0] * 5, 7.0, method=method)
    assert result.method == 'sort' and result.optimal
    assert result.selected.tolist() == [False, True, False, True, True] and result.value == 22.0
    assert result.upper_bound == pytest.approx(22.0 + 0.5 * 3.0)
    rows = solve_knapsack(values, [[2.0, 1.0]] * 5, [7.0, 2.0], method=method)
    assert rows.method == 'sort' and rows.value == 18.0


def test_scalar_capacity_broadcasts():
    costs = np.array([[3, 1, 4, 5, 5], [3, 2, 4, 1, 2]]).T
    assert solve_knapsack([10, 2, 6, 12, 3], costs, 8).value == solve_knapsack([10, 2, 6, 12, 3], costs, [8, 8]).value


def test_result_is_frozen_and_gap():
    result = solve_knapsack([10, 9, 1], [5, 6, 1], 6)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.value = 0.0
    assert result.gap == pytest.approx((11.5 - 11.0) / 11.5)
    assert result.method == 'exact' and result.optimal


def test_method_is_case_insensitive():
    assert solve_knapsack([4, 5, 6, 8, 3], [2, 5, 3, 2, 5], 8, method='Greedy').method == 'greedy'


# --- bad input ----------------------------------------------------------------------------------

GOOD = dict(values=[1.0, 2.0, 3.0], costs=[[1.0, 1.0], [2.0, 1.0], [1.0, 3.0]], capacity=[2.0, 3.0])
BAD = [
    ('values', [1.0, -2.0, 3.0], ValueError),
    ('values', [1.0, np.nan, 3.0], ValueError),
    ('values', [1.0, np.inf, 3.0], ValueError),
    ('values', [[1.0, 2.0, 3.0]], ValueError),
    ('values', ['a', 'b', 'c'], TypeError),
    ('costs', [[1.0, -1.0], [2.0, 1.0], [1.0, 3.0]], ValueError),
    ('costs', [[1.0, np.nan], [2.0, 1.0], [1.0, 3.0]], ValueError),
    ('costs', [[1.0, 1.0], [2.0, 1.0]], ValueError),                 # 2 rows for 3 values
    ('costs', [[1.0, 2.0, 1.0], [1.0, 1.0, 3.0]], ValueError),       # transposed
    ('costs', np.ones((3, 2, 1)), ValueError),
    ('costs', np.ones((3, 0)), ValueError),
    ('capacity', [2.0, -3.0], ValueError),
    ('capacity', [2.0, np.nan], ValueError),
    ('capacity', [2.0, 3.0, 4.0], ValueError),
    ('capacity', [[2.0, 3.0]], ValueError),
    ('capacity', 'big', TypeError),
    ('method', 'simplex', ValueError),
    ('method', None, ValueError),
    ('time_limit', 0, ValueError),
    ('time_limit', -1.0, ValueError),
    ('time_limit', float('nan'), ValueError),
    ('time_limit', 'long', TypeError),
]


@pytest.mark.parametrize('argument, value, error', BAD, ids=[f'{a}-{i}' for i, (a, _, _) in enumerate(BAD)])
def test_bad_input(argument, value, error):
    kwargs = dict(GOOD, **{argument: value})
    with pytest.raises(error, match=f'Invalid value for argument `{argument}`') as info:
        solve_knapsack(**kwargs)
    assert f'Received: {argument}=' in str(info.value)


def test_scalar_capacity_with_one_dimensional_costs_mismatch():
    with pytest.raises(ValueError, match='`capacity`'):
        solve_knapsack([1, 2], [1, 2], [1, 2])


# --- hygiene ------------------------------------------------------------------------------------

def test_docstring_examples():
    failures, tried = doctest.testmod(knapsack, optionflags=doctest.ELLIPSIS)
    assert tried > 0 and failures == 0


def test_imports_only_numpy_scipy_pulp_stdlib():
    tree = ast.parse(Path(knapsack.__file__).read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split('.')[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split('.')[0])
    third_party = {name for name in names if name not in sys.stdlib_module_names}
    assert third_party <= {'numpy', 'scipy', 'pulp'}
    assert 'print(' not in Path(knapsack.__file__).read_text()
