"""Processing-in-memory crossbar target: VW-SDK computing cycles and VWC-SDK channel pruning.

A PIM crossbar of ``rows x cols`` cells computes one matrix-vector product per cycle: the input
vector drives the rows, every column accumulates one output. How a convolution's weights are laid
out on the crossbar decides how many cycles a layer needs (Rhe, Moon, Ko, *VW-SDK: Efficient
Convolutional Weight Mapping Using Variable Windows for Processing-In-Memory Architectures*,
DATE 2022; channel pruning: *VWC-SDK*, the same group's follow-up).

Cycle model (input ``H x W``, kernel ``Kh x Kw``, ``IC`` input and ``OC`` output channels; the
input is **unpadded** and the **stride is 1** -- layers with ``padding='same'`` are costed on
their zero-padded input; other strides are rejected):

* ``C' = floor(cols * cell_bits / weight_bits)`` usable columns (a ``weight_bits``-bit weight
  spans ``weight_bits / cell_bits`` cells of one row).
* **im2col**: one output pixel per cycle, ``(H-Kh+1)(W-Kw+1) * ceil(Kh*Kw*IC / rows) *
  ceil(OC / C')``.
* **SDK / VW-SDK**: a *parallel window* ``PWh x PWw = (Kh+a-1) x (Kw+b-1)`` of the input drives
  the rows; the kernel is duplicated and shifted ``a*b`` times so that one cycle computes ``a x b``
  output pixels. ``ICt = min(IC, floor(rows / (PWh*PWw)))`` channels of the window fit the rows,
  ``OCt = min(OC, floor(C' / (a*b)))`` output channels the columns (windows with ``ICt = 0`` or
  ``OCt = 0`` are skipped), and
  ``CC = (ceil((H-PWh)/a)+1) * (ceil((W-PWw)/b)+1) * ceil(IC/ICt) * ceil(OC/OCt)``.
  ``'sdk'`` searches square duplications ``a = b``; ``'vw-sdk'`` every ``a, b >= 1`` with the
  window inside the input.
* The layer's cycles are the minimum over the allowed mappings. **Ties** go to the simpler
  mapping: im2col before SDK before VW-SDK, then the smaller window (area, then height).

Worked example (the VW-SDK paper's ResNet layer): ``112x112`` input, ``3x3`` kernel, ``128 -> 128``
channels on a ``512x512`` 1-bit array: im2col ``110*110*3*1 = 36300`` cycles; VW-SDK picks the
``4x4`` window (``a = b = 2``, ``ICt = 32``, ``OCt = 128``): ``55*55*4*1 = 12100`` cycles. The
window is square, so by the tie rule the result is labelled ``'sdk'`` (a square-window search
finds it too); the best non-square window, ``3x6``, needs 15400.

Dense layers are a ``1x1`` input with a ``1x1`` kernel: ``ceil(IC/rows) * ceil(OC/C')``.

**Channel pruning (VWC-SDK).** ``IC`` enters as ``ceil(IC/ICt)``: the residual ``IC mod ICt``
channels cost a whole extra row-cycle of every window. The pruning groups of a layer are its input
channels (:func:`hwprune.layouts.input_layout`); masking a layer's input channel also lets
:func:`hwprune.strip` remove the producer's filter. :meth:`PIMArray.select` builds, per layer, a
menu ``live channels -> cycles`` (keeping the most important channels) and solves a
multiple-choice knapsack over the layers (scipy's HiGHS MILP; a greedy by importance lost per cycle
saved for large instances), so that the network's total cycles fit the budget with the least
importance lost. The cycles saved in the *producer* when stripping removes its unused filters
(a smaller ``OC``) are not counted during training: the estimate is conservative.

Example:
    >>> pim = PIMArray(512, 512)
    >>> r = pim.layer_cycles((112, 112), (3, 3), 128, 128)
    >>> r.cycles, r.method, r.window, r.ict, r.oct        # a square window: labelled 'sdk'
    (12100, 'sdk', (4, 4), 32, 128)
    >>> pim.layer_cycles((112, 112), (3, 3), 128, 128, mapping='im2col').cycles
    36300
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Sequence

import numpy as np

from .._validation import check_choice, check_int, invalid
from ..layouts import input_layout
from ..kinds import get_kind
from .base import LayerInfo, LayerModel, LayerState, Target

logger = logging.getLogger(__name__)

#: Mapping searches: ``'im2col'`` only; ``'sdk'`` adds square windows; ``'vw-sdk'`` adds every
#: rectangular window.
MAPPINGS = ('im2col', 'sdk', 'vw-sdk')
RESOURCES = ('cycles', 'params')
_METHOD_RANK = {'im2col': 0, 'sdk': 1, 'vw-sdk': 2}
# ``method='auto'`` solves the multiple-choice knapsack exactly up to this many menu options.
_AUTO_EXACT_MAX = 20_000
_AUTO_TIME_LIMIT = 2.0


@dataclass(frozen=True)
class LayerCycles:
    """The best mapping of one layer on the crossbar.

    Attributes:
        cycles: computing cycles of the layer (one inference).
        method: ``'im2col'``, ``'sdk'`` or ``'vw-sdk'``.
        window: parallel window ``(PWh, PWw)`` (the kernel size for im2col).
        ict: input channels per row tile (im2col: ``min(IC, rows // (Kh*Kw))``, informative only:
            im2col tiles ``Kh*Kw*IC`` rows without aligning to channels).
        oct: output channels per column tile.
        windows: window positions (output pixels for im2col).
        row_tiles: ``ceil(IC/ICt)`` (im2col: ``ceil(Kh*Kw*IC/rows)``).
        col_tiles: ``ceil(OC/OCt)``.
    """

    cycles: int
    method: str
    window: tuple
    ict: int
    oct: int
    windows: int
    row_tiles: int
    col_tiles: int

    def to_dict(self) -> dict[str, Any]:
        return {'cycles': self.cycles, 'method': self.method, 'window': list(self.window), 'ict': self.ict,
                'oct': self.oct, 'windows': self.windows, 'row_tiles': self.row_tiles, 'col_tiles': self.col_tiles}


def _ceil_div(a, b):
    return -(-a // b)


class _WindowTable:
    """Every candidate mapping of a layer shape, reduced to what channel counts change.

    For a window, the cycles at ``ic`` live input channels are ``K * ceil(ic / min(ic, X))`` with
    ``X = floor(rows / (PWh*PWw))`` and ``K = windows * col_tiles``; im2col is
    ``P * ceil(Kh*Kw*ic / rows) * col_tiles``. Only the best window per ``X`` can ever win.
    """

    def __init__(self, h, w, kh, kw, oc, rows, cols_eff, mapping):
        self.h, self.w, self.kh, self.kw, self.oc, self.rows = h, w, kh, kw, oc, rows
        positions = (h - kh + 1) * (w - kw + 1)
        self.im2col_positions = positions
        self.im2col_col_tiles = _ceil_div(oc, cols_eff)
        self.im2col_oct = min(oc, cols_eff)
        entries = []  # (X, K, rank, area, PWh, PWw, windows, OCt, col_tiles)
        if mapping != 'im2col':
            a, b = np.meshgrid(np.arange(1, h - kh + 2), np.arange(1, w - kw + 2), indexing='ij')
            a, b = a.ravel(), b.ravel()
            if mapping == 'sdk':
                a, b = a[a == b], b[a == b]
            pwh, pww = kh + a - 1, kw + b - 1
            x = rows // (pwh * pww)
            oct_ = np.minimum(cols_eff // (a * b), oc)
            ok = (x > 0) & (oct_ > 0)
            a, b, pwh, pww, x, oct_ = a[ok], b[ok], pwh[ok], pww[ok], x[ok], oct_[ok]
            windows = (_ceil_div(h - pwh, a) + 1) * (_ceil_div(w - pww, b) + 1)
            col_tiles = _ceil_div(oc, oct_)
            k = windows * col_tiles
            rank = np.where(a == b, _METHOD_RANK['sdk'], _METHOD_RANK['vw-sdk'])
            # best window per X: lowest K, then the simpler method, smaller area, smaller height
            order = np.lexsort((pwh, pwh * pww, rank, k, x))
            x_sorted = x[order]
            first = np.ones(order.size, bool)
            first[1:] = x_sorted[1:] != x_sorted[:-1]
            for i in order[first]:
                entries.append((int(x[i]), int(k[i]), int(rank[i]), int(pwh[i] * pww[i]), int(pwh[i]), int(pww[i]),
                                int(windows[i]), int(oct_[i]), int(col_tiles[i])))
        self.entries = entries
        self.x = np.array([e[0] for e in entries], dtype=np.int64)
        self.k = np.array([e[1] for e in entries], dtype=np.int64)
        self.sort_key = np.array([(e[2], e[3], e[4]) for e in entries], dtype=np.int64).reshape(-1, 3)

    def best(self, ic: int) -> LayerCycles:
        kh, kw, rows = self.kh, self.kw, self.rows
        row_tiles = _ceil_div(kh * kw * ic, rows)
        best = LayerCycles(self.im2col_positions * row_tiles * self.im2col_col_tiles, 'im2col', (kh, kw),
                           min(ic, rows // (kh * kw)), self.im2col_oct, self.im2col_positions, row_tiles,
                           self.im2col_col_tiles)
        if ic == 0:
            return LayerCycles(0, best.method, best.window, 0, best.oct, best.windows, 0, best.col_tiles)
        if not self.entries:
            return best
        ict = np.minimum(ic, self.x)
        cycles = self.k * _ceil_div(ic, ict)
        # cycles, then method rank, area, height (im2col wins ties: rank 0)
        i = np.lexsort((self.sort_key[:, 2], self.sort_key[:, 1], self.sort_key[:, 0], cycles))[0]
        if cycles[i] < best.cycles:
            e = self.entries[i]
            method = 'sdk' if e[2] == _METHOD_RANK['sdk'] else 'vw-sdk'
            best = LayerCycles(int(cycles[i]), method, (e[4], e[5]), int(ict[i]), e[7], e[6],
                               int(_ceil_div(ic, int(ict[i]))), e[8])
        return best

    def cycles_upto(self, ic_max: int) -> np.ndarray:
        """Best cycles for ``0..ic_max`` live input channels (vectorised)."""
        ic = np.arange(ic_max + 1, dtype=np.int64)
        out = self.im2col_positions * _ceil_div(self.kh * self.kw * ic, self.rows) * self.im2col_col_tiles
        if self.entries:
            safe = np.maximum(ic, 1)[:, None]
            win = self.k[None, :] * _ceil_div(safe, np.minimum(safe, self.x[None, :]))
            out = np.minimum(out, win.min(axis=1))
        out[0] = 0
        return out


@lru_cache(maxsize=256)
def _table(h, w, kh, kw, oc, rows, cols_eff, mapping) -> _WindowTable:
    return _WindowTable(h, w, kh, kw, oc, rows, cols_eff, mapping)


def _pair(argument, value) -> tuple[int, int]:
    try:
        items = tuple(value)
    except TypeError:
        raise invalid(argument, value, 'a pair of positive integers (height, width)', TypeError) from None
    if len(items) != 2:
        raise invalid(argument, value, 'a pair of positive integers (height, width)')
    return check_int(argument, items[0], 1), check_int(argument, items[1], 1)


class PIMArray(Target):
    """A PIM crossbar of ``rows x cols`` cells, costed in computing cycles (VW-SDK).

    Args:
        rows: crossbar rows (inputs summed per column in one cycle).
        cols: crossbar columns (bit lines).
        weight_bits: bits per weight.
        cell_bits: bits stored per cell; a weight takes ``weight_bits / cell_bits`` columns.
        mapping: ``'vw-sdk'`` (default: the best of im2col, square and rectangular windows),
            ``'sdk'`` (im2col or square windows) or ``'im2col'``.
        min_channels: :meth:`select` keeps at least this many input channels of every layer
            (when it has that many candidates). Pruning every input channel of a layer silences
            it and every layer after it, which per-channel importance cannot see; the default 1
            prevents it.

    Resources: ``'cycles'`` (default) and ``'params'`` (nonzero weights).

    Example:
        >>> import numpy as np
        >>> pim = PIMArray(64, 64)
        >>> info = LayerInfo('conv2', 'conv2d', (3, 3, 16, 32), input_shape=(6, 6, 16), output_shape=(4, 4, 32))
        >>> model = pim.layer_model(info, ['cycles'])
        >>> kernel = np.ones((3, 3, 16, 32))
        >>> model.usage(kernel)                  # 4x4 window: 4 windows x 4 row tiles x 2 column tiles
        array([32.])
        >>> kernel[:, :, 15] = 0                 # 15 channels: 3x4 window, ICt = 5, 8 windows x 3 row tiles
        >>> model.usage(kernel)
        array([24.])
    """

    name = 'pim'
    #: Depthwise kernels are not one matrix product the array/model maps; they are left unpruned.
    kinds = ('dense', 'conv1d', 'conv2d')
    supports_weighted = False  # select() solves a choice per layer over its own cycle models
    resources = RESOURCES
    default_resources = ('cycles',)

    def __init__(self, rows: int, cols: int, weight_bits: int = 1, cell_bits: int = 1, mapping: str = 'vw-sdk',
                 min_channels: int = 1):
        self.rows = check_int('rows', rows, 1)
        self.cols = check_int('cols', cols, 1)
        self.weight_bits = check_int('weight_bits', weight_bits, 1)
        self.cell_bits = check_int('cell_bits', cell_bits, 1)
        self.mapping = check_choice('mapping', mapping, MAPPINGS)
        self.min_channels = check_int('min_channels', min_channels, 0)
        if self.effective_cols < 1:
            raise invalid('weight_bits', weight_bits, f'at most cols * cell_bits = {self.cols * self.cell_bits} '
                          f'bits (a weight must fit the {self.cols} columns of the array)')

    @property
    def effective_cols(self) -> int:
        """``C' = floor(cols * cell_bits / weight_bits)``: output channels one column tile holds."""
        return (self.cols * self.cell_bits) // self.weight_bits

    # ------------------------------------------------------------------ cycle model
    def _table(self, input_hw, kernel_hw, out_channels, mapping=None):
        h, w = _pair('input_hw', input_hw)
        kh, kw = _pair('kernel_hw', kernel_hw)
        if kh > h or kw > w:
            raise invalid('kernel_hw', tuple(kernel_hw), f'a kernel no larger than the input {(h, w)}')
        oc = check_int('out_channels', out_channels, 1)
        mapping = self.mapping if mapping is None else check_choice('mapping', mapping, MAPPINGS)
        return _table(h, w, kh, kw, oc, self.rows, self.effective_cols, mapping)

    def layer_cycles(self, input_hw, kernel_hw, in_channels: int, out_channels: int, *, strides=(1, 1),
                     mapping: str | None = None) -> LayerCycles:
        """Cycles of one convolution (unpadded input, stride 1) under the best allowed mapping.

        Args:
            input_hw: ``(H, W)`` of the (already padded) input.
            kernel_hw: ``(Kh, Kw)``.
            in_channels: ``IC`` (0 allowed: a layer with every input pruned costs 0 cycles).
            out_channels: ``OC``.
            strides: must be 1 (SDK mappings assume unit stride).
            mapping: override the target's ``mapping`` for this call.

        Example:
            >>> PIMArray(512, 512).layer_cycles((112, 112), (3, 3), 128, 128).cycles
            12100
        """
        check_strides(strides)
        ic = check_int('in_channels', in_channels, 0)
        return self._table(input_hw, kernel_hw, out_channels, mapping).best(ic)

    def geometry(self, info: LayerInfo) -> tuple[tuple[int, int], tuple[int, int], int, int]:
        """``(input_hw, kernel_hw, IC, OC)`` of a layer as the crossbar sees it (padded input)."""
        shape = info.kernel_shape
        if get_kind(info.kind).spatial == 0:
            return (1, 1), (1, 1), shape[0], shape[1]
        check_strides(info.strides, info.name)
        if info.input_shape is None:
            raise invalid('info.input_shape', None, f'the input shape of {info.kind} layer {info.name!r} '
                          '(PIM cycles depend on the feature-map size)')
        if get_kind(info.kind).spatial == 1:
            kh, kw, ic, oc = 1, shape[0], shape[1], shape[2]
            h, w = 1, info.input_shape[0]
        else:
            kh, kw, ic, oc = shape
            h, w = info.input_shape[0], info.input_shape[1]
        if info.padding in ('same', 'causal'):  # the crossbar sees the zero-padded input
            h, w = h + kh - 1, w + kw - 1
        if kh > h or kw > w:
            raise invalid('kernel_shape', shape, f'a kernel no larger than the input {(h, w)} of layer {info.name!r}')
        return (h, w), (kh, kw), ic, oc

    # ------------------------------------------------------------------ target interface
    def build_layer_model(self, info: LayerInfo, resources: tuple[str, ...]) -> 'PIMLayerModel':
        return PIMLayerModel(self, info, resources)

    def select(self, states: Sequence[LayerState], capacity, *, method: str = 'auto',
               regrowth: bool = False) -> list[np.ndarray]:
        """Prune the least important input channels of each layer until the total fits ``capacity``.

        Per layer, keeping the ``k`` most important candidate channels is one option with value
        ``sum of their importances`` and cost ``cycles(k)`` (and their nonzero weights for
        ``'params'``); exactly one option per layer is chosen (multiple-choice knapsack:
        scipy's HiGHS MILP for ``'auto'``/``'exact'``/``'pulp'``, or the greedy for ``'greedy'``/
        ``'lp'`` and instances with more than 20000 options). Only the largest ``k`` of each
        distinct cost is an option, so menus stay short. ``required`` channels are always kept;
        channels already pruned stay pruned unless ``regrowth``; channels of zero importance are
        never kept.
        """
        capacity = np.atleast_1d(np.asarray(capacity, dtype=np.float64))
        if not states:
            return []
        menus = []
        for state in states:
            model = state.model
            if len(model.resources) != capacity.size:
                raise invalid('capacity', capacity.tolist(), f'one value per resource {model.resources}')
            menus.append(_menu(state, regrowth, self.min_channels))
        start = time.perf_counter()
        choice, info = _solve_choice(menus, capacity, method)
        self.last_solution = _ChoiceResult(choice, info['value'], info['bound'], info['method'],
                                           time.perf_counter() - start, info['optimal'])
        logger.debug('pim select: value %.4g (bound %.4g, %s), cost %s <= %s', info['value'], info['bound'],
                     info['method'], info['cost'].tolist(), capacity.tolist())
        keeps = []
        for state, menu, c in zip(states, menus, choice):
            keep = np.zeros(state.model.layout.n_groups, bool)
            keep[menu['order'][: menu['k'][c]]] = True
            keeps.append(keep)
        return keeps

    def summary(self, model: 'PIMLayerModel', kernel) -> dict[str, Any]:
        """Per-layer mapping before (every channel) and now: method, window, ICt, OCt, live channels."""
        full = model.mapping_for(model.in_channels)
        ic, oc = model.live_channels(kernel), model.live_filters(kernel)
        now = model.mapping_for(ic, oc)
        return {'method': now.method, 'window': f'{now.window[0]}x{now.window[1]}', 'ICt': now.ict, 'OCt': now.oct,
                'IC': ic, 'OC': oc, 'cycles_before': full.cycles, 'method_before': full.method,
                'window_before': f'{full.window[0]}x{full.window[1]}', 'ICt_before': full.ict,
                'IC_before': model.in_channels, 'OC_before': model.out_channels}

    def get_config(self) -> dict[str, Any]:
        return {'rows': self.rows, 'cols': self.cols, 'weight_bits': self.weight_bits, 'cell_bits': self.cell_bits,
                'mapping': self.mapping, 'min_channels': self.min_channels}


def check_strides(strides, layer: str | None = None) -> None:
    """Raise unless every stride is 1 (the SDK mappings and the cycle formulas assume it)."""
    values = tuple(int(s) for s in np.atleast_1d(strides))
    if any(s != 1 for s in values):
        where = f' (layer {layer!r})' if layer else ''
        hint = '; leave the layer out with HardwarePruning(layers=[...])' if layer else ''
        raise invalid('strides', values, f'unit strides{where}: the PIM cycle model (im2col, SDK, VW-SDK) '
                      f'covers stride-1 convolutions only{hint}')


class PIMLayerModel(LayerModel):
    """One layer on the crossbar: input-channel groups, exact cycles for any live-channel count.

    A channel is *live* while it holds a nonzero weight. :meth:`usage` counts the cycles with the
    live input channels and the live filters (output channels): a filter whose weights are all
    zero is removed by :func:`hwprune.strip`, so it costs no crossbar column. ``group_costs`` hold
    the average cycles per channel (``cycles(IC) / IC``), only what a generic additive knapsack
    would see; :meth:`usage` and :meth:`PIMArray.select` use the exact non-additive cycles.
    """

    def __init__(self, target: PIMArray, info: LayerInfo, resources: Sequence[str]):
        self.target = target
        self.input_hw, self.kernel_hw, self.in_channels, self.out_channels = target.geometry(info)
        self._menus: dict[int, np.ndarray] = {}
        layout = input_layout(info.kind, info.kernel_shape)
        menu = self.cycle_menu()
        per_channel = {'cycles': np.full(layout.n_groups, menu[-1] / max(self.in_channels, 1)),
                       'params': layout.sizes().astype(np.float64)}
        full = self.mapping_for(self.in_channels)
        details = {'method': full.method, 'window': f'{full.window[0]}x{full.window[1]}', 'ICt': full.ict,
                   'OCt': full.oct}
        super().__init__(info, layout, np.stack([per_channel[r] for r in resources], axis=1), resources,
                         details=details)

    def cycle_menu(self, out_channels: int | None = None) -> np.ndarray:
        """Cycles with ``0..IC`` live input channels and ``out_channels`` filters (default: all)."""
        oc = self.out_channels if out_channels is None else int(out_channels)
        if oc not in self._menus:
            if oc == 0:
                self._menus[oc] = np.zeros(self.in_channels + 1)
            else:
                table = self.target._table(self.input_hw, self.kernel_hw, oc)
                self._menus[oc] = table.cycles_upto(self.in_channels).astype(np.float64)
        return self._menus[oc]

    def live_channels(self, kernel) -> int:
        """Input channels holding a nonzero weight."""
        return int(self.layout.alive(kernel).sum())

    def live_filters(self, kernel) -> int:
        """Output channels (filters) holding a nonzero weight."""
        kernel = np.asarray(kernel)
        return int(np.count_nonzero(np.any(kernel.reshape(-1, kernel.shape[-1]) != 0, axis=0)))

    def mapping_for(self, channels: int, out_channels: int | None = None) -> LayerCycles:
        """The best mapping with ``channels`` live input channels (and ``out_channels`` filters)."""
        oc = self.out_channels if out_channels is None else int(out_channels)
        if oc == 0 or channels == 0:
            return LayerCycles(0, 'im2col', tuple(self.kernel_hw), 0, 0, 0, 0, 0)
        return self.target._table(self.input_hw, self.kernel_hw, oc).best(int(channels))

    def usage(self, kernel) -> np.ndarray:
        kernel = np.asarray(kernel)
        cycles = self.cycle_menu(self.live_filters(kernel))[self.live_channels(kernel)]
        values = {'cycles': cycles, 'params': float(np.count_nonzero(kernel))}
        return np.array([values[r] for r in self.resources], dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# Multiple-choice knapsack over per-layer menus


@dataclass(frozen=True, eq=False)
class _ChoiceResult:
    """What :meth:`PIMArray.select` decided: the option per layer and the solution quality."""

    choice: list
    value: float
    upper_bound: float
    method: str
    seconds: float
    optimal: bool


def _menu(state: LayerState, regrowth: bool, min_channels: int = 0) -> dict:
    model = state.model
    n = model.layout.n_groups
    importance = np.asarray(state.importance, dtype=np.float64)
    candidate = np.ones(n, bool) if regrowth else np.asarray(state.keep, bool)
    required = np.zeros(n, bool) if state.required is None else np.asarray(state.required, bool)
    candidate &= (importance > 0) | required
    candidate |= required
    idx = np.flatnonzero(candidate)
    # required first, then by importance (descending), then by channel index
    order = idx[np.lexsort((idx, -importance[idx], ~required[idx]))]
    n_req = int(required.sum())
    value = np.concatenate([[0.0], np.cumsum(importance[order])])
    nnz = model.layout.reduce(np.asarray(state.kernel) != 0)[order]
    costs = {'cycles': model.cycle_menu(model.live_filters(state.kernel))[: order.size + 1],
             'params': np.concatenate([[0.0], np.cumsum(nnz)])}
    cost = np.stack([costs[r] for r in model.resources], axis=1)
    ks = np.arange(min(max(n_req, min_channels), order.size), order.size + 1)
    # only the largest k of each distinct cost vector is worth offering
    c = cost[ks]
    last = np.ones(ks.size, bool)
    last[:-1] = np.any(c[1:] != c[:-1], axis=1)
    ks = ks[last]
    return {'order': order, 'k': ks, 'value': value[ks], 'cost': cost[ks]}


def _solve_choice(menus, capacity, method):
    method = check_choice('method', method, ('auto', 'exact', 'pulp', 'greedy', 'lp'))
    n_options = sum(m['k'].size for m in menus)
    lowest = sum(m['cost'][0] for m in menus) if menus else np.zeros_like(capacity)
    if np.any(lowest > capacity * (1 + 1e-9) + 1e-9):
        logger.warning('PIMArray: even the smallest selection (%s: required channels, at least min_channels per '
                       'layer) exceeds the budget %s; keeping it.', np.round(lowest, 3).tolist(), capacity.tolist())
        choice = [0] * len(menus)
        value = float(sum(m['value'][0] for m in menus))
        return choice, {'value': value, 'bound': value, 'method': 'infeasible', 'optimal': False, 'cost': lowest}
    use_exact = method in ('exact', 'pulp') or (method == 'auto' and n_options <= _AUTO_EXACT_MAX)
    choice, info = _greedy_choice(menus, capacity)
    if use_exact:
        exact = _milp_choice(menus, capacity, _AUTO_TIME_LIMIT if method == 'auto' else 30.0)
        if exact is not None and exact[1]['value'] >= info['value'] - 1e-12:
            choice, info = exact
        info['bound'] = max(info.get('bound', info['value']), info['value'])
    else:
        info['bound'] = max(_lp_bound(menus, capacity), info['value'])
    return choice, info


def _totals(menus, choice):
    value = sum(float(m['value'][c]) for m, c in zip(menus, choice))
    cost = sum(m['cost'][c] for m, c in zip(menus, choice))
    return value, np.asarray(cost, dtype=np.float64)


def _fits(cost, capacity):
    return bool(np.all(cost <= capacity * (1 + 1e-9) + 1e-9))


def _greedy_choice(menus, capacity):
    """Start from every layer's largest option; step down the option that loses least importance
    per (capacity-normalised) cost saved until everything fits; then step up where it still fits."""
    scale = 1.0 / np.maximum(capacity, 1e-12)
    choice = [m['k'].size - 1 for m in menus]
    value, cost = _totals(menus, choice)
    while not _fits(cost, capacity):
        over = np.maximum(cost - capacity, 0) * scale
        weights = over / max(over.sum(), 1e-300)
        best, best_ratio = None, np.inf
        for i, (m, c) in enumerate(zip(menus, choice)):
            if c == 0:
                continue
            lost = m['value'][c] - m['value'][c - 1]
            saved = float((m['cost'][c] - m['cost'][c - 1]) @ (weights * scale))
            ratio = lost / saved if saved > 0 else np.inf
            if best is None or ratio < best_ratio:
                best, best_ratio = i, ratio
        if best is None:
            break
        choice[best] -= 1
        value, cost = _totals(menus, choice)
    improved = True
    while improved:  # fill the slack: the most valuable step up that still fits
        improved = False
        gains = []
        for i, (m, c) in enumerate(zip(menus, choice)):
            for up in range(c + 1, m['k'].size):
                extra = m['cost'][up] - m['cost'][c]
                if _fits(cost + extra, capacity):
                    gains.append((m['value'][up] - m['value'][c], i, up))
        if gains:
            gain, i, up = max(gains, key=lambda g: (g[0], -g[1]))
            if gain > 0:
                choice[i] = up
                value, cost = _totals(menus, choice)
                improved = True
    return choice, {'value': value, 'method': 'greedy', 'optimal': False, 'cost': cost}


def _milp_arrays(menus, capacity):
    values = np.concatenate([m['value'] for m in menus])
    costs = np.concatenate([m['cost'] for m in menus], axis=0)
    owner = np.concatenate([np.full(m['k'].size, i) for i, m in enumerate(menus)])
    one = np.zeros((len(menus), values.size))
    one[owner, np.arange(values.size)] = 1.0
    return values, costs, owner, one


def _milp_choice(menus, capacity, time_limit):
    from scipy.optimize import Bounds, LinearConstraint, milp
    values, costs, owner, one = _milp_arrays(menus, capacity)
    constraints = [LinearConstraint(one, 1.0, 1.0), LinearConstraint(costs.T, -np.inf, capacity)]
    res = milp(-values, constraints=constraints, integrality=np.ones(values.size), bounds=Bounds(0, 1),
               options={'time_limit': float(time_limit)})
    if res.x is None:
        return None
    x = res.x > 0.5
    choice = []
    for i, m in enumerate(menus):
        picked = np.flatnonzero(x[owner == i])
        if picked.size != 1:
            return None
        choice.append(int(picked[0]))
    value, cost = _totals(menus, choice)
    if not _fits(cost, capacity):
        return None
    bound = -float(res.mip_dual_bound) if getattr(res, 'mip_dual_bound', None) is not None and \
        np.isfinite(res.mip_dual_bound) else _lp_bound(menus, capacity)
    return choice, {'value': value, 'bound': max(bound, value), 'method': 'exact', 'optimal': bool(res.status == 0),
                    'cost': cost}


def _lp_bound(menus, capacity) -> float:
    from scipy.optimize import linprog
    values, costs, owner, one = _milp_arrays(menus, capacity)
    res = linprog(-values, A_ub=costs.T, b_ub=capacity, A_eq=one, b_eq=np.ones(len(menus)), bounds=(0, 1),
                  method='highs')
    return -float(res.fun) if res.status == 0 else float(values.sum())


__all__ = ['LayerCycles', 'MAPPINGS', 'PIMArray', 'PIMLayerModel', 'RESOURCES', 'check_strides']
