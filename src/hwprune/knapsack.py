"""Multi-dimensional 0/1 knapsack solver.

Pruning under a hardware budget is a multi-dimensional 0/1 knapsack: each structure (filter,
neuron, block) is an item with a value (its importance) and a cost in each of ``R`` resources
(DSP, BRAM, LUT, ...); keep the most valuable subset that fits every budget::

    maximise    sum_i v_i x_i
    subject to  sum_i c_ir x_i <= C_r   for every resource r,   x_i in {0, 1}.

:func:`solve_knapsack` is the only entry point. It reduces the instance first (items of zero cost
are always kept, items that cannot fit on their own are dropped, and instances where everything
fits or all costs are equal are answered directly), then runs the requested method:

* ``'exact'``: ``scipy.optimize.milp`` (HiGHS). Before the MILP, items whose LP reduced cost
  rules them in or out of every solution better than a greedy incumbent are fixed (a rigorous
  reduced-cost fixing), so the MILP only sees the few items near the LP threshold.
* ``'pulp'``: the same, with PuLP's CBC as the MILP solver.
* ``'greedy'``: efficiency order (``v_i / c_i`` for one resource, ``v_i / (y . c_i)`` with the LP
  duals ``y`` otherwise), add every item that still fits, then a swap improvement pass.
* ``'lp'``: solve the LP relaxation, keep the items at 1, fill with the rest by LP value.
* ``'auto'``: ``'exact'`` when ``n * R <= AUTO_EXACT_MAX`` (given at most ``AUTO_TIME_LIMIT``
  seconds), else ``'greedy'``.

Every result carries an upper bound from the LP relaxation (in its Lagrangian form, which is a
valid bound for any multipliers, see :func:`_dual_bound`), so the quality of a heuristic answer
is always known.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, linprog, milp
from scipy.special import expit

from ._validation import check_array, check_choice, check_number, invalid

__all__ = ['KnapsackResult', 'solve_knapsack', 'METHODS', 'AUTO_EXACT_MAX', 'AUTO_TIME_LIMIT']

logger = logging.getLogger(__name__)

#: Method names accepted by :func:`solve_knapsack`.
METHODS = ('auto', 'exact', 'pulp', 'greedy', 'lp')

#: ``'auto'`` runs the exact solver when ``n_items * n_resources`` is at most this, else greedy.
AUTO_EXACT_MAX = 20_000

#: Seconds ``'auto'`` gives the MILP at most (``time_limit`` if smaller). Proving optimality of a
#: multi-resource knapsack can take long; past this ``'auto'`` returns the best solution found.
AUTO_TIME_LIMIT = 1.0

# Relative tolerance of the feasibility check (floating-point sums in different orders differ).
_FEAS_RTOL = 1e-9
# Instances with more items than this solve the LP relaxation (R > 1) on a core of items.
_CORE_MIN = 4000
# Above 4x this many items, the smoothed dual is solved on a random sample of this size.
_DUAL_SAMPLE = 50_000
# Reduced-cost fixing before the MILP (tests switch it off to exercise the plain MILP).
_REDUCE = True
# Candidates per side and rounds of the swap improvement pass.
_SWAP_K = 48
_SWAP_ROUNDS = 16


@dataclass(frozen=True, eq=False)
class KnapsackResult:
    """Answer of :func:`solve_knapsack`.

    Attributes:
        selected: boolean array of shape ``(n,)``, the chosen items.
        value: total value of the chosen items.
        upper_bound: LP-relaxation bound on the optimum (of the reduced instance: items that do
            not fit on their own removed, zero-cost items fixed), always ``>= value``; equal to
            ``value`` for trivial instances.
        method: the method that produced ``selected``: ``'exact'``, ``'pulp'``, ``'greedy'``,
            ``'lp'``, ``'trivial'`` (everything fits, nothing fits, or no items) or ``'sort'``
            (all costs equal: taking the most valuable items is exact).
        seconds: wall-clock time of the whole call.
        optimal: ``True`` if ``selected`` is proven optimal.

    Example:
        >>> r = solve_knapsack([10, 9, 1], [5, 6, 1], 6)
        >>> r.value, r.optimal, round(r.gap, 3)
        (11.0, True, 0.043)
    """

    selected: np.ndarray
    value: float
    upper_bound: float
    method: str
    seconds: float
    optimal: bool

    @property
    def gap(self) -> float:
        """Relative distance to the upper bound, ``(upper_bound - value) / upper_bound``."""
        return (self.upper_bound - self.value) / max(self.upper_bound, np.finfo(np.float64).tiny)


def solve_knapsack(values, costs, capacity, method: str = 'auto', time_limit: float = 10.0) -> KnapsackResult:
    """Solve a multi-dimensional 0/1 knapsack.

    Maximise ``values @ x`` subject to ``costs.T @ x <= capacity`` with ``x`` in ``{0, 1}^n``.
    The returned selection is feasible up to a relative tolerance of 1e-9 of the capacity
    (floating-point sums in another order may differ in the last bits).

    Args:
        values: item values, shape ``(n,)``, finite and ``>= 0``.
        costs: item costs, shape ``(n, R)`` (one column per resource) or ``(n,)`` for one
            resource; finite and ``>= 0``.
        capacity: budget per resource, shape ``(R,)``, or a scalar (the same budget for every
            resource); finite and ``>= 0``.
        method: ``'auto'`` (``'exact'`` if ``n * R <= AUTO_EXACT_MAX``, with at most
            ``AUTO_TIME_LIMIT`` seconds, else ``'greedy'``), ``'exact'`` (scipy's HiGHS MILP),
            ``'pulp'`` (PuLP's CBC MILP), ``'greedy'`` or ``'lp'`` (LP rounding).
            Case-insensitive.
        time_limit: seconds allowed to ``'exact'``/``'pulp'`` (counted from the start of the
            call; ``'greedy'`` and ``'lp'`` do not need it). If it runs out, the best solution
            found is returned with ``optimal=False`` (``method='greedy'`` if the MILP found
            nothing better than the greedy start).

    Returns:
        A :class:`KnapsackResult`.

    Raises:
        ValueError: negative or non-finite numbers, mismatched shapes, unknown method.
        TypeError: inputs that are not arrays of real numbers, a non-numeric time limit.

    Example:
        >>> r = solve_knapsack([4, 5, 6, 8, 3], [2, 5, 3, 2, 5], 8)
        >>> np.flatnonzero(r.selected).tolist(), r.value, r.optimal
        ([0, 2, 3], 18.0, True)
        >>> costs = np.array([[3, 1, 4, 5, 5], [3, 2, 4, 1, 2]]).T   # 5 items, 2 resources
        >>> solve_knapsack([10, 2, 6, 12, 3], costs, [8, 7], method='greedy').value
        22.0
    """
    start = time.perf_counter()
    method = check_choice('method', method, METHODS)
    time_limit = check_number('time_limit', time_limit, minimum=0.0, open_min=True)
    v = check_array('values', values, ndim=(1,), nonnegative=True)
    c = check_array('costs', costs, ndim=(1, 2), nonnegative=True)
    if c.ndim == 1:
        c = c[:, None]
    n = v.shape[0]
    if c.shape[0] != n:
        raise invalid('costs', costs, f'one row per item, i.e. shape ({n}, R) or ({n},) for the {n} values, '
                                      f'got shape {c.shape}')
    n_res = c.shape[1]
    if n_res == 0:
        raise invalid('costs', costs, 'at least one resource column, got shape (n, 0)')
    cap = check_array('capacity', capacity, ndim=(0, 1), nonnegative=True)
    if cap.ndim == 0:
        cap = np.full(n_res, float(cap))
    elif cap.shape[0] != n_res:
        raise invalid('capacity', capacity, f'a scalar or one number per resource, i.e. shape ({n_res},) '
                                            f'for costs of shape {c.shape}, got shape {cap.shape}')
    deadline = start + time_limit

    forced = np.all(c == 0, axis=1)                  # costs nothing: always taken
    free = ~forced & ~np.any(c > cap, axis=1)        # could fit on its own
    selected = forced.copy()
    base = float(v[forced].sum())
    idx = np.flatnonzero(free)
    vs, cs = v[idx], c[idx]

    if idx.size == 0 or np.all(cs.sum(axis=0) <= cap):
        selected[idx] = True
        value = float(v[selected].sum())
        return _result(selected, value, value, 'trivial', start, True)

    if np.all(cs == cs[0]):
        sub, bound = _sort_equal(vs, cs[0], cap)
        used, optimal = 'sort', True
    else:
        if method == 'auto':
            method = 'exact' if idx.size * n_res <= AUTO_EXACT_MAX else 'greedy'
            deadline = min(deadline, start + AUTO_TIME_LIMIT)
        relax = _relax(vs, cs, cap)
        bound = relax.bound
        if method == 'greedy':
            sub, used, optimal = _greedy(vs, cs, cap, relax), 'greedy', False
        elif method == 'lp':
            sub, used, optimal = _lp_round(vs, cs, cap, relax), 'lp', False
        else:
            sub, used, optimal = _exact(vs, cs, cap, relax, 'cbc' if method == 'pulp' else 'highs', deadline)
            used = method if used == 'exact' else used

    # Guard against solver tolerances: the answer must fit (repair is a no-op in practice).
    if not _fits(cs[sub].sum(axis=0), cap):
        logger.warning('knapsack: %s returned an infeasible selection; repairing it', used)
        sub = _repair(vs, cs, cap, sub)
        optimal = False
    selected[idx[sub]] = True
    value = float(v[selected].sum())
    upper = max(base + float(bound), value)
    if not optimal and upper - value <= 1e-9 * upper:   # the bound proves it
        optimal = True
    return _result(selected, value, upper, used, start, optimal)


def _result(selected, value, upper, method, start, optimal) -> KnapsackResult:
    seconds = time.perf_counter() - start
    logger.debug('knapsack: n=%d, method=%s, value=%.6g, bound=%.6g, optimal=%s, %.3fs', selected.size, method,
                 value, upper, optimal, seconds)
    return KnapsackResult(selected=selected, value=value, upper_bound=upper, method=method, seconds=seconds,
                          optimal=bool(optimal))


# ---------------------------------------------------------------------------------------------
# Helpers. From here on the instance is reduced: every cost row is non-zero and fits `cap` on its
# own, and not all items fit together.


def _fits(used, cap) -> bool:
    return bool(np.all(used <= cap + _FEAS_RTOL * cap))


def _sort_equal(v, row, cap):
    """All items cost ``row``: the ``k`` most valuable are optimal (``k`` items fit, ``k+1`` not)."""
    pos = row > 0
    k = int(np.floor(np.min(cap[pos] / row[pos])))
    while k > 0 and np.any(k * row > cap):
        k -= 1
    while np.all((k + 1) * row <= cap):
        k += 1
    order = np.argsort(-v, kind='stable')
    sel = np.zeros(v.size, bool)
    sel[order[:k]] = True
    frac = float(np.min((cap[pos] - k * row[pos]) / row[pos]))
    bound = float(v[order[:k]].sum()) + min(max(frac, 0.0), 1.0) * float(v[order[k]])
    return sel, bound


@dataclass
class _Relaxation:
    x: np.ndarray       # an LP-feasible solution, optimal when `exact`
    y: np.ndarray       # multipliers (LP duals) >= 0, shape (R,)
    bound: float        # Lagrangian bound L(y) >= LP optimum >= integer optimum
    order: np.ndarray   # items by decreasing efficiency v_i / (y . c_i)
    rank: np.ndarray    # inverse permutation of `order`
    exact: bool


def _dual_bound(v, c, cap, y) -> float:
    """Lagrangian bound ``L(y) = y . C + sum_i max(0, v_i - y . c_i)``.

    For every ``y >= 0`` and every feasible 0/1 (or fractional) ``x``,
    ``v . x = y . c^T x + sum_i (v_i - y . c_i) x_i <= L(y)``; at the LP duals it equals the LP
    optimum. So it is a valid upper bound whatever the accuracy of ``y``.
    """
    return float(y @ cap + np.maximum(v - c @ y, 0.0).sum())


def _relax(v, c, cap) -> _Relaxation:
    """LP relaxation: closed form (Dantzig) for one resource, HiGHS (on a core) otherwise."""
    n, n_res = c.shape
    if n_res == 1:
        cost = c[:, 0]
        ratio = v / cost
        order = np.argsort(-ratio, kind='stable')
        cum = np.cumsum(cost[order])
        k = int(np.searchsorted(cum, cap[0], side='right'))   # order[:k] fit entirely
        x = np.zeros(n)
        x[order[:k]] = 1.0
        if k < n:
            crit = order[k]
            x[crit] = (cap[0] - (cum[k - 1] if k else 0.0)) / cost[crit]
            y = np.array([ratio[crit]])
        else:
            y = np.zeros(1)
        exact = True
    else:
        x, y, exact = _lp_multi(v, c, cap)
        order = _efficiency_order(v, c, y)
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n)
    return _Relaxation(x=x, y=y, bound=_dual_bound(v, c, cap, y), order=order, rank=rank, exact=exact)


def _efficiency_order(v, c, y):
    """Items by decreasing efficiency ``v_i / (y . c_i)`` (``inf`` if ``y . c_i = 0 < v_i``)."""
    denom = c @ y
    eff = np.zeros(v.size)
    np.divide(v, denom, out=eff, where=denom > 0)
    eff[(denom <= 0) & (v > 0)] = np.inf
    return np.argsort(-eff, kind='stable')


def _lp_highs(v, c, cap):
    """LP relaxation by HiGHS: ``(x, y)`` or ``None``. Presolve off: it is slow on these LPs."""
    for solver in ('highs-ipm', 'highs-ds'):
        try:
            res = linprog(-v, A_ub=c.T, b_ub=cap, bounds=(0, 1), method=solver, options={'presolve': False})
        except Exception as err:  # pragma: no cover - defensive, HiGHS does not fail on these
            logger.debug('knapsack: linprog(%s) failed: %s', solver, err)
            continue
        if res.status == 0 and res.x is not None:
            return np.clip(res.x, 0.0, 1.0), np.maximum(-np.asarray(res.ineqlin.marginals, float), 0.0)
        logger.debug('knapsack: linprog(%s) status %s: %s', solver, res.status, res.message)
    return None


def _surrogate_y(v, c, cap):
    """Fallback multipliers: Dantzig on the surrogate constraint ``sum_r c_ir / C_r <= R``."""
    w = np.where(cap > 0, 1.0 / np.where(cap > 0, cap, 1.0), 0.0)
    s = c @ w
    pos = s > 0
    ratio = v[pos] / s[pos]
    order = np.argsort(-ratio, kind='stable')
    cum = np.cumsum(s[pos][order])
    k = int(np.searchsorted(cum, float((cap > 0).sum()), side='right'))
    lam = ratio[order[k]] if k < order.size else 0.0
    return lam * w


def _smoothed_dual(v, c, cap):
    """Near-optimal LP duals for ``R > 1`` by Newton's method on a smoothed Lagrangian dual.

    In units where values have maximum 1 and each capacity is 1, the LP dual is
    ``min_{y >= 0} sum(y) + sum_i max(0, v_i - c_i . y)``. The hinge is replaced by
    ``mu * log(1 + exp((v_i - c_i . y) / mu))`` (smooth, convex), minimised by projected Newton
    steps while ``mu`` shrinks by 10 from 0.1 to about ``200 / n``; each step costs ``O(n R^2)``.
    The result is accurate to about ``mu``, enough to pick a small core for the exact LP.
    """
    n = v.size
    scale = float(v.max())
    active = cap > 0          # resources with zero capacity: every remaining item costs 0 there
    y = np.zeros(cap.size)
    if scale <= 0 or not active.any():
        return y
    vh = v / scale
    ch = c[:, active] / cap[active]
    m = ch.shape[1]
    share = ch.sum(axis=1)
    ratio = np.divide(vh, share, out=np.full(n, np.inf), where=share > 0)
    order = np.argsort(-ratio, kind='stable')
    k = int(np.searchsorted(np.cumsum(share[order]), float(m), side='right'))
    yh = np.full(m, ratio[order[k]] if k < n and np.isfinite(ratio[order[k]]) else 0.0)   # surrogate start
    mu, mu_end = 0.1, max(200.0 / n, 1e-6)

    def smoothed(y_, mu_):
        return float(y_.sum() + mu_ * np.logaddexp(0.0, (vh - ch @ y_) / mu_).sum())

    while True:
        fval = smoothed(yh, mu)
        for _ in range(30):
            sig = expit((vh - ch @ yh) / mu)
            grad = 1.0 - sig @ ch
            w = sig * (1.0 - sig) / mu
            hess = (ch * w[:, None]).T @ ch
            hess[np.diag_indices(m)] += 1e-12 * (np.trace(hess) + 1.0)
            free = (yh > 0) | (grad < 0)
            if not free.any():
                break
            step = np.zeros(m)
            try:
                step[free] = np.linalg.solve(hess[np.ix_(free, free)], grad[free])
            except np.linalg.LinAlgError:
                step[free] = grad[free]
            t = 1.0
            while True:
                cand = np.maximum(yh - t * step, 0.0)
                fcand = smoothed(cand, mu)
                if fcand <= fval - 1e-4 * float(grad @ (yh - cand)) or t < 1e-8:
                    break
                t *= 0.5
            moved = float(np.abs(cand - yh).max())
            yh, fval = cand, fcand
            if moved <= 1e-3 * mu * max(float(yh.max()), 1e-12) + 1e-15:
                break
        if mu <= mu_end:
            break
        mu = max(mu * 0.1, mu_end)
    y[active] = yh * scale / cap[active]
    return y


def _lp_multi(v, c, cap):
    """LP relaxation for ``R > 1``: ``(x, y, exact)``.

    Small instances go to HiGHS whole. Large ones are solved on a core: near-optimal duals from
    :func:`_smoothed_dual`, items far from the threshold (``|v_i - y . c_i|`` large) fixed at 0/1,
    the LP solved by HiGHS on the rest, and the fixings checked against its duals; the core is
    doubled until they hold (then ``x, y`` are LP-optimal). If that fails, HiGHS solves the whole
    LP (up to ``50 * _CORE_MIN`` items); beyond, the best multipliers found are kept
    (``exact=False``): the Lagrangian bound stays valid, only less tight.
    """
    n = v.size
    if n <= _CORE_MIN:
        out = _lp_highs(v, c, cap)
        if out is not None:
            return out[0], out[1], True
        return np.zeros(n), _surrogate_y(v, c, cap), False
    if n > 4 * _DUAL_SAMPLE:   # a random sample with scaled capacities has about the same duals
        sample = np.random.default_rng(0).choice(n, _DUAL_SAMPLE, replace=False)
        y = _smoothed_dual(v[sample], c[sample], cap * (_DUAL_SAMPLE / n))
    else:
        y = _smoothed_dual(v, c, cap)
    best = (_dual_bound(v, c, cap, y), None, y)   # (bound, x, y) of the best unverified attempt
    tol = 1e-9 * float(v.max())
    k = max(_CORE_MIN // 2, n // 50)
    for attempt in range(5):
        if k >= n // 2:
            break
        r = v - c @ y
        core = np.argpartition(np.abs(r), k - 1)[:k]
        in_core = np.zeros(n, bool)
        in_core[core] = True
        one = ~in_core & (r > 0)
        resid = cap - c[one].sum(axis=0)
        if np.any(resid < 0):
            k *= 2
            continue
        out = _lp_highs(v[core], c[core], resid)
        if out is None:
            break
        x = one.astype(np.float64)
        x[core] = out[0]
        r = v - c @ out[1]
        wrong = (one & (r < -tol)) | (~in_core & ~one & (r > tol))
        logger.debug('knapsack: core LP attempt %d, core %d of %d, %d fixings violated', attempt, k, n,
                     int(wrong.sum()))
        if not wrong.any():
            return x, out[1], True
        bound = _dual_bound(v, c, cap, out[1])
        if bound < best[0]:
            best = (bound, x, out[1])
        y = best[2]
        k *= 2
    out = _lp_highs(v, c, cap) if n <= 50 * _CORE_MIN else None
    if out is not None:
        return out[0], out[1], True
    logger.debug('knapsack: core LP did not converge; using the best multipliers found')
    x = best[1] if best[1] is not None else np.zeros(n)
    return x, best[2], False


def _fill(c, slack, candidates):
    """Scan ``candidates`` in order and add every item that still fits; ``(added, slack)``.

    Equivalent to the sequential scan, vectorised: take the prefix whose cumulative cost fits,
    skip the first item that does not, drop the items larger than what is left, repeat.
    """
    added = []
    slack = np.array(slack, dtype=np.float64)
    idx = np.asarray(candidates)
    rounds = 0
    while idx.size:
        rounds += 1
        if rounds > 64:   # pathological orders: finish item by item
            for i in idx:
                if np.all(c[i] <= slack):
                    added.append(np.array([i]))
                    slack = slack - c[i]
            break
        cum = np.cumsum(c[idx], axis=0)
        over = np.any(cum > slack, axis=1)      # monotone: costs are >= 0
        stop = int(np.argmax(over)) if over[-1] else idx.size
        if stop:
            added.append(idx[:stop])
            slack = slack - cum[stop - 1]
        rest = idx[stop + 1:]
        idx = rest[np.all(c[rest] <= slack, axis=1)]
    added = np.concatenate(added) if added else np.zeros(0, np.int64)
    return added, slack


def _smallest(idx, key, k):
    if idx.size <= k:
        return idx
    return idx[np.argpartition(key, k - 1)[:k]]


def _polish(v, c, cap, sel, relax):
    """Improve ``sel``: best single item, then 1-for-1 swaps (each followed by a fill)."""
    sel = sel.copy()
    order = relax.order
    j = int(np.argmax(v))
    if v[j] > v[sel].sum():
        sel[:] = False
        sel[j] = True
        added, _ = _fill(c, cap - c[j], order[~sel[order]])
        sel[added] = True
    slack = cap - c[sel].sum(axis=0)
    tol = 1e-12 * float(v.max())
    for _ in range(_SWAP_ROUNDS):
        chosen, rest = np.flatnonzero(sel), np.flatnonzero(~sel)
        if chosen.size == 0 or rest.size == 0:
            break
        ins = np.union1d(_smallest(rest, relax.rank[rest], _SWAP_K), _smallest(rest, -v[rest], _SWAP_K))
        outs = np.union1d(_smallest(chosen, -relax.rank[chosen], _SWAP_K), _smallest(chosen, v[chosen], _SWAP_K))
        delta = c[ins][:, None, :] - c[outs][None, :, :]
        gain = v[ins][:, None] - v[outs][None, :]
        gain[~np.all(delta <= slack, axis=2)] = -np.inf
        a, b = np.unravel_index(int(np.argmax(gain)), gain.shape)
        if not gain[a, b] > tol:
            break
        sel[outs[b]], sel[ins[a]] = False, True
        slack = slack - delta[a, b]
        added, slack = _fill(c, slack, order[~sel[order]])
        sel[added] = True
    return sel


def _repair(v, c, cap, sel):
    """Drop the least efficient items (by ``v_i / sum_r c_ir / C_r``) until ``sel`` fits, then fill."""
    sel = sel.copy()
    share = (c / np.where(cap > 0, cap, 1.0)).sum(axis=1)
    order = np.argsort(-(v / np.maximum(share, 1e-300)), kind='stable')
    excess = c[sel].sum(axis=0) - cap * (1 + _FEAS_RTOL)
    if np.any(excess > 0):
        worst_first = order[sel[order]][::-1]
        enough = np.all(np.cumsum(c[worst_first], axis=0) >= excess, axis=1)
        sel[worst_first[:int(np.argmax(enough)) + 1 if enough.any() else None]] = False
    added, _ = _fill(c, cap - c[sel].sum(axis=0), order[~sel[order]])
    sel[added] = True
    return sel


def _greedy(v, c, cap, relax):
    added, _ = _fill(c, cap, relax.order)
    sel = np.zeros(v.size, bool)
    sel[added] = True
    return _polish(v, c, cap, sel, relax)


def _lp_round(v, c, cap, relax):
    """Keep the LP's ones, then fill by decreasing LP value (ties by efficiency)."""
    sel = relax.x >= 1.0 - 1e-9
    if not _fits(c[sel].sum(axis=0), cap):
        sel = _repair(v, c, cap, sel)
    rest = np.flatnonzero(~sel)
    rest = rest[np.lexsort((relax.rank[rest], -relax.x[rest]))]
    added, _ = _fill(c, cap - c[sel].sum(axis=0), rest)
    sel[added] = True
    return _polish(v, c, cap, sel, relax)


def _exact(v, c, cap, relax, backend, deadline):
    """Exact solve: greedy incumbent, reduced-cost fixing, MILPs on cores.

    With ``r_i = v_i - y . c_i`` and any feasible ``x``: ``v . x <= L(y) - sum_i |r_i| [x_i
    differs from (r_i > 0)]``. A solution better than the incumbent ``lb`` therefore agrees with
    ``r_i > 0`` on every item with ``|r_i| >= L(y) - lb``: only the others are free. A MILP is
    solved on a core (the ``k`` items of smallest ``|r_i|``, the rest fixed at ``r_i > 0``): a
    small core first, with a fraction of the time, to raise ``lb`` (which shrinks the free set),
    then the whole free set; once a core holding the free set is solved to optimality, the
    incumbent is proven optimal.

    Returns ``(selection, method_used, optimal)``.
    """
    best = _greedy(v, c, cap, relax)
    lb, ub = float(v[best].sum()), relax.bound
    tol = 1e-9 * max(abs(ub), float(v.max()))
    r = v - c @ relax.y
    by_r = np.argsort(np.abs(r), kind='stable')
    sorted_abs = np.abs(r)[by_r]
    solve = _milp_cbc if backend == 'cbc' else _milp_highs
    from_milp = False
    trusted = True                             # False once a MILP answer had to be repaired
    solved = 0                                 # size of the largest core solved to optimality
    k = 0
    while True:
        if ub - lb <= tol:
            return best, 'exact', True
        need = int(np.searchsorted(sorted_abs, ub - lb + tol, side='left')) if _REDUCE else v.size
        if need <= solved:
            return best, 'exact', trusted
        k = min(need, 4 * k if k else 48) if _REDUCE else need
        final = k == need
        core = by_r[:k]
        one = r > 0
        one[core] = False
        resid = cap - c[one].sum(axis=0)
        if np.any(resid < -_FEAS_RTOL * cap):  # the fixed items alone overflow: no solution here
            solved = k
            continue
        resid = np.maximum(resid, 0.0)
        cand = core[np.all(c[core] <= resid, axis=1)]
        logger.debug('knapsack: exact, core of %d (%d free) of %d items (lb %.9g, ub %.9g)', cand.size, need,
                     v.size, lb, ub)
        if cand.size == 0:
            x, status = np.zeros(0, bool), 'optimal'
        else:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                logger.info('knapsack: time limit reached before the MILP proved optimality')
                return best, 'exact' if from_milp else 'greedy', False
            x, status = solve(v[cand], c[cand], resid, remaining if final else min(0.05 + 0.2 * remaining, 1.0))
        if x is not None:
            sel = one
            sel[cand[x]] = True
            if not _fits(c[sel].sum(axis=0), cap):   # beyond the MILP's feasibility tolerance
                logger.warning('knapsack: %s MILP returned an infeasible selection; repairing it', backend)
                sel, trusted = _repair(v, c, cap, sel), False
            value = float(v[sel].sum())
            if value > lb:
                best, lb, from_milp = sel, value, True
        if status in ('optimal', 'infeasible'):
            solved = k
        elif final:
            logger.info('knapsack: %s MILP stopped at the time limit without proving optimality', backend)
            return best, 'exact' if from_milp else 'greedy', False


def _milp_highs(v, c, cap, time_limit):
    """``(x, status)`` from scipy's HiGHS MILP; status 'optimal', 'feasible', 'infeasible' or 'none'."""
    scale = float(v.max()) or 1.0   # HiGHS's absolute gap (1e-6) then means 1e-6 of the best item
    res = milp(-v / scale, constraints=LinearConstraint(c.T, -np.inf, cap), integrality=np.ones(v.size),
               bounds=Bounds(0, 1), options={'time_limit': float(time_limit), 'mip_rel_gap': 0.0})
    if res.status == 2:
        return None, 'infeasible'
    if res.x is None:
        return None, 'none'
    return np.asarray(res.x) > 0.5, 'optimal' if res.status == 0 else 'feasible'


def _milp_cbc(v, c, cap, time_limit):
    """``(x, status)`` from PuLP's CBC, as :func:`_milp_highs`."""
    import pulp

    scale = float(v.max()) or 1.0
    prob = pulp.LpProblem('knapsack', pulp.LpMaximize)
    x = [pulp.LpVariable(f'x{i}', cat=pulp.LpBinary) for i in range(v.size)]
    prob += pulp.lpSum(float(vi / scale) * xi for vi, xi in zip(v, x))
    for r in range(c.shape[1]):
        prob += pulp.lpSum(float(ci) * xi for ci, xi in zip(c[:, r], x) if ci) <= float(cap[r]), f'res{r}'
    solver = pulp.PULP_CBC_CMD(msg=False, timeLimit=float(time_limit), gapRel=0.0, gapAbs=1e-6)
    prob.solve(solver)
    if prob.sol_status == pulp.LpSolutionInfeasible:
        return None, 'infeasible'
    if prob.sol_status not in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible):
        return None, 'none'
    chosen = np.array([(xi.value() or 0.0) > 0.5 for xi in x], bool)
    return chosen, 'optimal' if prob.sol_status == pulp.LpSolutionOptimal else 'feasible'
