"""Systolic-array target: column combining (Kung, McDanel, Zhang, ASPLOS 2019).

A layer's *filter matrix* has one row per filter and one column per input (Keras Dense:
``kernel.T``; Conv: ``kernel.reshape(-1, F).T``, a column per (kernel position, input channel)).
A systolic array stores one weight per cell, so a sparse filter matrix wastes cells. Column
combining packs several sparse columns into one array column: the cell of row ``r`` in a packed
column keeps the weight of *one* of the combined columns (a multiplexer in front of the cell picks
that column's input), and every other weight of that row in the group is pruned (*conflict
pruning*). Retraining recovers the accuracy.

Packing (:meth:`SystolicArray.pack`), deterministic and vectorised:

1. Empty columns are dropped. Every other column starts as its own group.
2. Merging groups ``A`` and ``B`` causes ``|rows(A) & rows(B)|`` new conflicts (rows where both
   hold a nonzero); the group's conflicts (weights conflict pruning removes) are
   ``conf(A) + conf(B) + |rows(A) & rows(B)|``. A merge is allowed when the merged group has at most
   ``alpha`` columns and at most ``gamma * rows`` conflicts (``gamma``: average conflicts per row).
3. Repeatedly merge the allowed pair with the fewest new conflicts, preferring the merge that
   leaves the fewest empty rows, then the lowest column indices. Pairwise conflict counts are one
   boolean matrix product; each merge updates one row of that matrix.
4. In each group and row keep only the largest-magnitude weight (ties: the lowest column).

Reported per layer: ``columns`` (packed columns), ``filters`` (rows with a nonzero: an all-zero
filter is removed by :func:`hwprune.strip`), ``utilization = nonzeros / (filters x columns)`` and
``tiles = ceil(filters / array rows) * ceil(columns / array cols)`` (array loads of the layer).

In training (:meth:`SystolicArray.select`), as in the paper: magnitude pruning -> packing ->
conflict pruning, under a budget of ``'tiles'``, ``'columns'`` or ``'params'`` (nonzero weights).
The groups are single weights (unstructured layout), so masks are per weight.

Example:
    >>> import numpy as np
    >>> sa = SystolicArray(rows=2, cols=2, alpha=2, gamma=0.5)
    >>> m = np.array([[1., 0., 0., 2.],
    ...               [0., 3., 0., 0.],
    ...               [4., 0., 5., 0.]])
    >>> p = sa.pack(m)
    >>> p.groups, p.columns, p.tiles
    ([[0, 1], [2, 3]], 2, 2)
    >>> p.selector.tolist()
    [[0, 3], [1, -1], [0, 2]]
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .._validation import check_array, check_int, check_number, invalid
from ..layouts import unstructured_layout
from .base import LayerInfo, LayerModel, LayerState, Target

logger = logging.getLogger(__name__)

RESOURCES = ('tiles', 'columns', 'params')
# Merge keys use int32; pairs that may not merge get this key.
_NO_MERGE = np.iinfo(np.int32).max


def filter_matrix(kernel) -> np.ndarray:
    """The filter matrix of a Keras kernel: rows = filters (last axis), columns = inputs.

    Example:
        >>> filter_matrix(np.zeros((3, 3, 8, 16))).shape
        (16, 72)
    """
    kernel = np.asarray(kernel)
    return kernel.reshape(-1, kernel.shape[-1]).T


def kernel_from_matrix(matrix, kernel_shape) -> np.ndarray:
    """Inverse of :func:`filter_matrix`."""
    return np.asarray(matrix).T.reshape(kernel_shape)


@dataclass(frozen=True, eq=False)
class Packing:
    """The column-combined form of one filter matrix.

    Attributes:
        groups: column indices combined into each packed column (sorted; groups ordered by their
            first column). Columns that are entirely zero are in no group.
        selector: ``(rows, n_groups)`` int: the column whose weight (and input) each cell uses,
            ``-1`` for an empty cell.
        packed: ``(rows, n_groups)`` the weights the cells hold.
        pruned: the filter matrix after conflict pruning (same shape as the input matrix).
        conflicts: weights removed by conflict pruning, per group.
        array_rows, array_cols: the systolic array the tiles are counted for.
    """

    groups: list
    selector: np.ndarray
    packed: np.ndarray
    pruned: np.ndarray
    conflicts: np.ndarray
    array_rows: int
    array_cols: int

    @property
    def columns(self) -> int:
        """Packed columns (groups)."""
        return len(self.groups)

    @property
    def filters(self) -> int:
        """Rows holding at least one nonzero weight."""
        return int(np.count_nonzero(np.any(self.packed != 0, axis=1)))

    @property
    def nonzeros(self) -> int:
        return int(np.count_nonzero(self.packed))

    @property
    def utilization(self) -> float:
        """``nonzeros / (filters x columns)``; 0 for an empty matrix."""
        cells = self.filters * self.columns
        return self.nonzeros / cells if cells else 0.0

    @property
    def tiles(self) -> int:
        """``ceil(filters / array rows) * ceil(columns / array cols)``."""
        return math.ceil(self.filters / self.array_rows) * math.ceil(self.columns / self.array_cols)

    def apply(self, x) -> np.ndarray:
        """What the packed array computes for an input vector (or a batch ``(n, inputs)``):
        each cell multiplies the input its selector names."""
        x = np.asarray(x, dtype=np.float64)
        taps = np.where(self.selector >= 0, self.selector, 0)
        gathered = x[..., taps]                  # (..., rows, groups)
        return np.sum(gathered * self.packed, axis=-1)

    def usage(self) -> dict[str, float]:
        return {'tiles': float(self.tiles), 'columns': float(self.columns), 'params': float(self.nonzeros)}


def column_groups(occupancy, alpha: int, gamma: float) -> list[list[int]]:
    """Greedy column combining on a boolean ``(rows, columns)`` occupancy matrix.

    Returns the groups (lists of column indices) of the nonempty columns; see the module doc for
    the merge rule.

    Example:
        >>> occ = np.array([[1, 0, 1], [0, 1, 1]], bool)
        >>> column_groups(occ, alpha=2, gamma=0.0)
        [[0, 1], [2]]
    """
    occ = np.asarray(occupancy, dtype=bool)
    rows = occ.shape[0]
    cols = np.flatnonzero(occ.any(axis=0))
    n = cols.size
    members = [[int(c)] for c in cols]
    if n <= 1 or alpha <= 1:
        return members
    limit = gamma * rows
    gocc = occ[:, cols].astype(np.float32)          # occupancy of each group (OR of its columns)
    count = gocc.sum(axis=0).astype(np.int64)       # occupied rows per group
    size = np.ones(n, np.int64)
    conf = np.zeros(n, np.int64)
    alive = np.ones(n, bool)

    def keys(i, overlap):
        # new conflicts first, then empty rows of the merged column
        key = overlap * (rows + 1) + (rows - (count[i] + count - overlap))
        ok = alive & (size[i] + size <= alpha) & (conf[i] + conf + overlap <= limit + 1e-9)
        ok[i] = False
        return np.where(ok, key, _NO_MERGE).astype(np.int32)

    overlap_all = np.rint(gocc.T @ gocc).astype(np.int64)
    key = (overlap_all * (rows + 1) + (rows - (count[:, None] + count[None, :] - overlap_all)))
    ok = (size[:, None] + size[None, :] <= alpha) & (overlap_all <= limit + 1e-9)
    np.fill_diagonal(ok, False)
    key = np.where(ok, key, _NO_MERGE).astype(np.int32)
    row_arg = np.argmin(key, axis=1)
    row_min = key[np.arange(n), row_arg]
    while True:
        i = int(np.argmin(row_min))
        if row_min[i] == _NO_MERGE:
            break
        j = int(row_arg[i])                          # i < j: i is the first row holding the minimum
        overlap = int(np.rint(gocc[:, i] @ gocc[:, j]))
        conf[i] += conf[j] + overlap
        size[i] += size[j]
        gocc[:, i] = np.maximum(gocc[:, i], gocc[:, j])
        count[i] = int(gocc[:, i].sum())
        members[i].extend(members[j])
        alive[j] = False
        key[j, :] = _NO_MERGE
        key[:, j] = _NO_MERGE
        new = keys(i, np.rint(gocc[:, i] @ gocc).astype(np.int64))
        key[i, :] = new
        key[:, i] = new
        # rows whose best partner was i or j (or row i itself) are recomputed; others may improve
        stale = (row_arg == i) | (row_arg == j)
        stale[i] = True
        stale[j] = False
        better = (new < row_min) | ((new == row_min) & (i < row_arg))
        better &= ~stale
        row_arg[better] = i
        row_min[better] = new[better]
        idx = np.flatnonzero(stale)
        if idx.size:
            row_arg[idx] = np.argmin(key[idx], axis=1)
            row_min[idx] = key[idx, row_arg[idx]]
        row_min[j] = _NO_MERGE
    groups = [sorted(members[g]) for g in np.flatnonzero(alive)]
    return sorted(groups, key=lambda g: g[0])


def conflict_prune(matrix, groups: Sequence[Sequence[int]], priority=None):
    """Keep, in every group and row, only the weight of largest ``priority`` (default ``|matrix|``).

    Returns ``(selector, packed, pruned, conflicts)`` as in :class:`Packing`.
    """
    matrix = np.asarray(matrix)
    priority = np.abs(matrix) if priority is None else np.asarray(priority, dtype=np.float64)
    rows = matrix.shape[0]
    n_groups = len(groups)
    if n_groups == 0:
        empty = np.zeros((rows, 0))
        return empty.astype(np.int64), empty.astype(matrix.dtype), np.zeros_like(matrix), np.zeros(0, np.int64)
    width = max(len(g) for g in groups)
    index = np.full((n_groups, width), -1, np.int64)
    for g, members in enumerate(groups):
        index[g, : len(members)] = members
    # a padded slot never wins; an empty cell (all zeros) selects nothing
    prio = np.where(index[None] >= 0, priority[:, np.maximum(index, 0)], -1.0)    # (rows, groups, width)
    values = matrix[:, np.maximum(index, 0)]
    nonzero = (values != 0) & (index[None] >= 0)
    prio = np.where(nonzero, prio, -1.0)
    best = np.argmax(prio, axis=2)                                                  # first maximum: lowest column
    has = np.take_along_axis(nonzero, best[..., None], axis=2)[..., 0]
    selector = np.where(has, index[np.arange(n_groups)[None, :], best], -1)
    packed = np.where(has, np.take_along_axis(values, best[..., None], axis=2)[..., 0], 0).astype(matrix.dtype)
    pruned = np.zeros_like(matrix)
    r, g = np.nonzero(selector >= 0)
    pruned[r, selector[r, g]] = matrix[r, selector[r, g]]
    conflicts = nonzero.sum(axis=(0, 2)) - has.sum(axis=0)
    return selector, packed, pruned, conflicts.astype(np.int64)


class SystolicArray(Target):
    """A ``rows x cols`` systolic array with column combining.

    Args:
        rows: array rows (filters processed at once).
        cols: array columns (packed filter-matrix columns processed at once).
        alpha: at most this many columns are combined into one (the multiplexer width).
        gamma: allowed conflicts per row of a group, on average (``conflicts <= gamma * rows``).
        max_search: threshold evaluations per :meth:`select` (bisection over importance).

    Resources: ``'tiles'`` (default), ``'columns'`` and ``'params'``.

    Example:
        >>> import numpy as np
        >>> sa = SystolicArray(rows=8, cols=8, alpha=4, gamma=0.5)
        >>> m = sa.layer_model(LayerInfo('fc', 'dense', (32, 16)), ['tiles', 'columns'])
        >>> m.usage(np.ones((32, 16)))                        # dense: no combining possible
        array([ 8., 32.])
    """

    name = 'systolic'
    #: Depthwise kernels are not one matrix product the array/model maps; they are left unpruned.
    kinds = ('dense', 'conv1d', 'conv2d')
    supports_weighted = False  # select() packs columns with its own layer models
    resources = RESOURCES
    default_resources = ('tiles',)

    def __init__(self, rows: int, cols: int, alpha: int = 8, gamma: float = 0.5, max_search: int = 40):
        self.rows = check_int('rows', rows, 1)
        self.cols = check_int('cols', cols, 1)
        self.alpha = check_int('alpha', alpha, 1)
        self.gamma = check_number('gamma', gamma, 0.0)
        self.max_search = check_int('max_search', max_search, 1)
        #: The packing :meth:`select` chose last for each layer (by name): the deployable mapping
        #: (``groups``, ``selector``), and what later layer models of the same layer count with.
        self.packings: dict[str, Packing] = {}

    # ------------------------------------------------------------------ packing
    def pack(self, matrix, priority=None, gamma: float | None = None) -> Packing:
        """Column-combine a filter matrix (rows = filters, columns = inputs), then conflict-prune.

        Args:
            matrix: 2-D filter matrix (see :func:`filter_matrix` for Keras kernels).
            priority: which weight a conflict keeps (default ``|matrix|``).
            gamma: override the target's ``gamma`` (``0``: combine only conflict-free columns).

        Example:
            >>> sa = SystolicArray(rows=4, cols=4, alpha=2, gamma=1.0)
            >>> p = sa.pack(np.array([[1., 2.], [0., 3.]]))     # one conflict in row 0
            >>> p.pruned.tolist(), p.utilization
            ([[0.0, 2.0], [0.0, 3.0]], 1.0)
        """
        matrix = check_array('matrix', matrix, ndim=(2,))
        if priority is not None:
            priority = check_array('priority', priority, ndim=(2,))
            if priority.shape != matrix.shape:
                raise invalid('priority', priority.shape, f'the shape of matrix {matrix.shape}')
        gamma = self.gamma if gamma is None else check_number('gamma', gamma, 0.0)
        groups = column_groups(matrix != 0, self.alpha, gamma)
        selector, packed, pruned, conflicts = conflict_prune(matrix, groups, priority)
        return Packing(groups, selector, packed, pruned, conflicts, self.rows, self.cols)

    # ------------------------------------------------------------------ target interface
    def build_layer_model(self, info: LayerInfo, resources: tuple[str, ...]) -> 'SystolicLayerModel':
        return SystolicLayerModel(self, info, resources)

    def select(self, states: Sequence[LayerState], capacity, *, method: str = 'auto',
               regrowth: bool = False) -> list[np.ndarray]:
        """Magnitude-prune by one global importance threshold, pack, conflict-prune; the lowest
        threshold whose packed use fits ``capacity`` wins (bisection over the candidate
        importances, at most ``max_search`` packings of the network).

        ``method`` is ignored (there is no knapsack); ``required`` weights are always kept and win
        their conflicts; weights already pruned stay pruned unless ``regrowth``.
        """
        capacity = np.atleast_1d(np.asarray(capacity, dtype=np.float64))
        layers = []
        for state in states:
            model = state.model
            if len(model.resources) != capacity.size:
                raise invalid('capacity', capacity.tolist(), f'one value per resource {model.resources}')
            importance = np.asarray(state.importance, dtype=np.float64).reshape(model.info.kernel_shape)
            n = model.layout.n_groups
            candidate = (np.ones(n, bool) if regrowth else np.asarray(state.keep, bool)).reshape(importance.shape)
            required = (np.zeros(n, bool) if state.required is None
                        else np.asarray(state.required, bool)).reshape(importance.shape)
            candidate &= (importance > 0) & (np.asarray(state.kernel) != 0)
            layers.append((model, filter_matrix(importance), filter_matrix(candidate & ~required),
                           filter_matrix(required)))
        pool = np.unique(np.concatenate([imp[cand] for _, imp, cand, _ in layers])) if layers else np.zeros(0)
        thresholds = np.append(pool, np.inf)          # keep everything >= t; inf keeps only required

        def evaluate(t):
            packs, total = [], np.zeros(capacity.size)
            for model, imp, cand, req in layers:
                support = req | (cand & (imp >= t))
                top = imp.max() + 1.0 if imp.size else 1.0
                priority = np.where(req, imp + top, np.where(support, imp, 0.0))
                p = self.pack(np.where(support, np.maximum(priority, 1e-300), 0.0), priority)
                packs.append(p)
                total += model.usage_of_packing(p)
            return packs, total

        def fits(total):
            return bool(np.all(total <= capacity * (1 + 1e-9) + 1e-9))

        lo, hi = 0, thresholds.size - 1              # the answer is in [lo, hi]
        best_packs, best_total = evaluate(thresholds[lo])
        found = fits(best_total)
        evaluations = 1
        if not found:
            hi_packs, hi_total = evaluate(thresholds[hi])
            evaluations += 1
            if not fits(hi_total):
                logger.warning('SystolicArray: even the required weights alone (%s) exceed the budget %s.',
                               hi_total.tolist(), capacity.tolist())
            best_packs, best_total = hi_packs, hi_total
            while hi - lo > 1 and evaluations < self.max_search:
                mid = (lo + hi) // 2
                packs, total = evaluate(thresholds[mid])
                evaluations += 1
                if fits(total):
                    hi, best_packs, best_total = mid, packs, total
                else:
                    lo = mid
        logger.debug('systolic select: threshold %.4g after %d packings, use %s <= %s',
                     thresholds[lo if found else hi], evaluations, best_total.tolist(), capacity.tolist())
        keeps = []
        for (model, imp, cand, req), p in zip(layers, best_packs):
            model.packing = p
            self.packings[model.info.name] = p
            keeps.append(kernel_from_matrix(p.pruned != 0, model.info.kernel_shape).ravel())
        self.last_usage = best_total
        return keeps

    def summary(self, model: 'SystolicLayerModel', kernel) -> dict[str, Any]:
        """Packed columns, filters, utilisation and tiles of the layer's current weights."""
        p = model.packing_for(kernel)
        dense = filter_matrix(np.ones(model.info.kernel_shape))
        return {'filters': p.filters, 'utilization': round(p.utilization, 4),
                'alpha': self.alpha, 'columns_before': dense.shape[1],
                'utilization_unpacked': round(int(np.count_nonzero(kernel)) / dense.size, 4)}

    def get_config(self) -> dict[str, Any]:
        return {'rows': self.rows, 'cols': self.cols, 'alpha': self.alpha, 'gamma': self.gamma,
                'max_search': self.max_search}


class SystolicLayerModel(LayerModel):
    """One layer on the systolic array; :meth:`usage` packs the current weights.

    ``usage(kernel)`` counts the packing that needs no further pruning: the packing of the last
    :meth:`SystolicArray.select` for this layer (kept by the target in
    :attr:`SystolicArray.packings`, so a later :func:`hwprune.estimate` with the same target
    object finds it) if it is still conflict-free for ``kernel``, or a fresh packing
    that merges only conflict-free columns, whichever needs fewer tiles (then columns). The
    per-weight ``group_costs`` (``params`` 1, ``columns`` and ``tiles`` their unpacked share) are
    only what a generic additive knapsack would see.
    """

    def __init__(self, target: SystolicArray, info: LayerInfo, resources: Sequence[str]):
        self.target = target
        cached = target.packings.get(info.name)
        self.packing: Packing | None = cached if cached is not None and \
            cached.pruned.shape == (info.kernel_shape[-1], int(np.prod(info.kernel_shape[:-1]))) else None
        layout = unstructured_layout(info.kind, info.kernel_shape)
        filters = info.kernel_shape[-1]
        fan_in = layout.n_groups // filters
        share = {'params': np.ones(layout.n_groups),
                 'columns': np.full(layout.n_groups, 1.0 / filters),
                 'tiles': np.full(layout.n_groups, math.ceil(filters / target.rows) * math.ceil(fan_in / target.cols)
                                  / layout.n_groups)}
        super().__init__(info, layout, np.stack([share[r] for r in resources], axis=1), resources,
                         details={'alpha': target.alpha, 'gamma': target.gamma})

    def usage_of_packing(self, packing: Packing) -> np.ndarray:
        values = packing.usage()
        return np.array([values[r] for r in self.resources], dtype=np.float64)

    def packing_for(self, kernel) -> Packing:
        matrix = filter_matrix(np.asarray(kernel, dtype=np.float64))
        fresh = self.target.pack(matrix, gamma=0.0)
        cached = self.packing
        if cached is not None and cached.pruned.shape == matrix.shape:
            covered = np.zeros(matrix.shape[1], bool)
            for g in cached.groups:
                covered[g] = True
            nz = matrix != 0
            if not np.any(nz[:, ~covered]):
                groups = [g for g in cached.groups if np.any(nz[:, g])]
                if all(np.all(nz[:, g].sum(axis=1) <= 1) for g in groups):
                    selector, packed, pruned, conflicts = conflict_prune(matrix, groups)
                    reuse = Packing(groups, selector, packed, pruned, conflicts, self.target.rows, self.target.cols)
                    if (reuse.tiles, reuse.columns) <= (fresh.tiles, fresh.columns):
                        return reuse
        return fresh

    def usage(self, kernel) -> np.ndarray:
        return self.usage_of_packing(self.packing_for(kernel))


__all__ = ['Packing', 'RESOURCES', 'SystolicArray', 'SystolicLayerModel', 'column_groups', 'conflict_prune',
           'filter_matrix', 'kernel_from_matrix']
