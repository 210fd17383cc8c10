"""Pictures of a pruning run: budgets over time, per-layer before/after, mask maps, packings, cycles.

Every function returns a ``matplotlib.figure.Figure`` and, with ``path=``, also saves it as a PNG.
matplotlib is imported when a function is called, never when :mod:`hwprune` is imported. Figures
are closed in pyplot before they are returned, so a notebook shows each exactly once (as the value
of a cell, or with ``display(fig)``) and a script keeps no figure alive.

* :func:`budget_history` -- resource use and budget per resource against the epoch, from the
  callback's ``history`` and/or the Keras ``History`` logs (``hwprune_DSP``, ...).
* :func:`layer_resources` -- per-layer bars per resource, before and after, labelled with values
  and reduction factors (what :meth:`hwprune.Report.plot` draws).
* :func:`mask_map` -- one kernel in the hardware's view (hls4ml's transposed kernel: outputs x
  inputs), every weight coloured by whether its group survives, group boundaries drawn: the
  picture that explains hwprune in one look. :func:`layer_mask_map` draws it from a target's
  :class:`~hwprune.targets.LayerModel` (DSP groups, BRAM columns or neurons of an FPGA layer),
  :func:`hwprune.keras.model_mask_map` from a Keras model and an hls4ml config.
* :func:`systolic_packing` -- a column-combined filter matrix and its packed array (groups,
  utilisation, tiles); :func:`pim_cycles` -- PIM computing cycles and mappings per layer;
  :func:`energy_breakdown` -- where each layer's energy goes.

Example:
    >>> import numpy as np
    >>> from hwprune.layouts import dsp_layout
    >>> kernel = np.ones((4, 3)); kernel[:2, 0] = 0           # Dense 4 inputs -> 3 outputs
    >>> fig = mask_map(kernel, dsp_layout('dense', (4, 3), reuse_factor=2), name='fc', reuse_factor=2)
    >>> fig.axes[0].get_title()
    'fc: 5/6 DSP groups kept, RF 2'
"""

from __future__ import annotations

import functools
import io
import math
import os
from typing import Mapping, Sequence

import numpy as np

from ._validation import invalid
from .layouts import DEPTHWISE_KINDS, RESOURCE_TRANSPOSE, GroupLayout, check_kind
from .report import Comparison, Report, reduction_factor

#: Colours shared by every picture.
COLORS = {
    'before': '#b0b0b0',
    'after': '#1f5fa8',
    'budget': '#d62728',
    'initial': '#707070',
    'kept_nonzero': '#1f4e9c',
    'kept_zero': '#9dbde6',
    'pruned': '#efefef',
    'no_group': '#ffd8a8',
    'boundary': '#202020',
}
#: Resolution of saved PNGs (dots per inch).
DPI = 120


# ------------------------------------------------------------------------------------ helpers
def _png_bytes(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format='png', dpi=DPI / 1.25, bbox_inches='tight', facecolor='white')
    return buffer.getvalue()


def _figure(width: float, height: float, **kwargs):
    """A new Figure, already closed in pyplot (shown once in notebooks, never leaked in scripts).

    The figure carries its own ``_repr_png_``, so IPython shows it as a picture even before
    matplotlib's inline backend is set up (the first figure of a kernel would otherwise show as
    ``<Figure size ...>``); where the inline backend is active, its own formatter is used.
    """
    import matplotlib.pyplot as plt
    fig = plt.figure(figsize=(width, height), **kwargs)
    plt.close(fig)
    fig._repr_png_ = functools.partial(_png_bytes, fig)
    return fig


def _finish(fig, path):
    if path is not None:
        path = os.fspath(path)
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        fig.savefig(path, dpi=DPI, bbox_inches='tight', facecolor='white')
    return fig


def _short(value: float) -> str:
    """Compact number for labels: 12, 1.5, 12.3k, 4.1M."""
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    a = abs(value)
    if a >= 1e9:
        return f'{value / 1e9:.3g}G'
    if a >= 1e6:
        return f'{value / 1e6:.3g}M'
    if a >= 1e4:
        return f'{value / 1e3:.3g}k'
    if value.is_integer():
        return str(int(value))
    return f'{value:.3g}'


def _factor_label(before: float, after: float) -> str:
    f = reduction_factor(before, after)
    if math.isnan(f) or f == 1.0:
        return 'unchanged'
    if math.isinf(f):
        return 'all removed'
    return f'{f:.2f}x less' if f > 1 else f'{1 / f:.2f}x more'


def _grid(n: int, max_cols: int = 3) -> tuple[int, int]:
    cols = min(n, max_cols if n != 4 else 2)
    return math.ceil(n / cols), cols


def _check_resources(argument, wanted, available) -> list[str]:
    if wanted is None:
        return list(available)
    wanted = [wanted] if isinstance(wanted, str) else list(wanted)
    missing = [r for r in wanted if r not in available]
    if missing or not wanted:
        raise invalid(argument, wanted, 'resources among ' + ', '.join(repr(r) for r in available))
    return wanted


# ------------------------------------------------------------------------- budget history
def _records_and_logs(history, logs):
    """Normalise the inputs of :func:`budget_history`."""
    records, initial, constrained, update, epochs = None, None, None, 'epoch', None

    def as_logs(obj):
        if obj is None:
            return None, None
        if isinstance(obj, Mapping):
            return dict(obj), None
        if isinstance(getattr(obj, 'history', None), Mapping):  # keras.callbacks.History
            return dict(obj.history), list(getattr(obj, 'epoch', []) or []) or None
        raise invalid('logs', obj, 'a keras History or its .history dict', TypeError)

    if history is not None:
        if isinstance(getattr(history, 'history', None), list):  # the HardwarePruning callback
            records = list(history.history)
            constrained = list(getattr(history, 'resources_', ()) or ()) or None
            update = getattr(history, 'update', 'epoch')
            usage0 = getattr(history, 'initial_usage', None)
            if usage0 is not None:
                names = list(records[0]['usage']) if records else constrained or []
                initial = {r: float(v) for r, v in zip(names, np.asarray(usage0).ravel())}
        elif isinstance(history, (list, tuple)):
            records = list(history)
        elif isinstance(history, Mapping) or isinstance(getattr(history, 'history', None), Mapping):
            if logs is not None:
                raise invalid('history', type(history).__name__, 'the callback or its records when logs= is given',
                              TypeError)
            logs, history = history, None
        else:
            raise invalid('history', type(history).__name__, 'a HardwarePruning callback, a list of its history '
                          'records, or a keras History', TypeError)
        for r in records or []:
            if not isinstance(r, Mapping) or not {'step', 'usage'} <= set(r):
                raise invalid('history', r, "records with 'step' and 'usage' (HardwarePruning.history)")
    logs, epochs = as_logs(logs)
    if records is None and logs is None:
        raise invalid('history', None, 'a HardwarePruning callback, its history records or keras History logs')
    return records, logs, initial, constrained, update, epochs


def _ever_used(resource, records, logs, initial) -> bool:
    values = [initial.get(resource, 0.0)]
    for rec in records or []:
        values.append(rec['usage'].get(resource, 0.0))
    for key in (f'hwprune_{resource}', f'hwprune_{resource}_budget'):
        values.extend((logs or {}).get(key, []))
    return bool(np.any(np.asarray(values, dtype=float) != 0))


def budget_history(history=None, logs=None, resources: Sequence[str] | None = None, *,
                   initial: Mapping[str, float] | None = None, path=None, title: str | None = None):
    """Resource use and budget of each resource against the epoch (and the sparsity).

    Args:
        history: the :class:`~hwprune.HardwarePruning` callback after ``fit`` (its ``history``,
            ``initial_usage`` and ``resources_`` are read), or a list of its history records
            (``{'step', 'capacity', 'usage': {resource: value}, 'sparsity', ...}``), or the Keras
            ``History`` that ``fit`` returned (then ``logs`` must be ``None``).
        logs: the Keras ``History`` (or its ``.history`` dict) with the callback's epoch logs
            ``hwprune_<R>``, ``hwprune_<R>_budget`` and ``hwprune_sparsity``.
        resources: which resources to draw (default: every resource with a budget, else every
            resource found; a resource that stays 0 throughout is left out).
        initial: ``{resource: use before pruning}`` drawn as a dotted line (default: the
            callback's ``initial_usage``).
        path: save the figure here as PNG.
        title: figure title.

    With the callback, the use after each pruning step is drawn as markers and its budget as a
    step line; with the logs, the use and budget at every epoch end as lines. Steps of a callback
    with ``update='step'`` are optimizer steps; they are drawn only when no epoch logs are given.

    Returns:
        the Figure: one panel per resource, then one for the sparsity if known.

    Example:
        >>> records = [{'step': 0, 'capacity': [80.0], 'usage': {'DSP': 78.0}, 'sparsity': 0.2},
        ...            {'step': 1, 'capacity': [60.0], 'usage': {'DSP': 55.0}, 'sparsity': 0.45}]
        >>> fig = budget_history(records, initial={'DSP': 100.0})
        >>> [ax.get_ylabel() for ax in fig.axes]
        ['DSP', 'zero weights (%)']
    """
    records, logs, initial0, constrained, update, epochs = _records_and_logs(history, logs)
    initial = dict(initial) if initial is not None else initial0 or {}
    if records is not None and update == 'step' and logs is not None:
        records = None  # optimizer steps and epochs share no axis
    found: list[str] = []
    budgeted: list[str] = []
    if records:
        names = list(records[0]['usage'])
        found.extend(names)
        n_cap = len(records[0].get('capacity', []))
        budgeted.extend(constrained[:n_cap] if constrained and len(constrained) >= n_cap else names[:n_cap])
    if logs:
        for key in logs:
            if key.startswith('hwprune_') and key not in ('hwprune_sparsity', 'hwprune_within_tolerance'):
                name = key[len('hwprune_'):]
                if name.endswith('_budget'):
                    budgeted.append(name[: -len('_budget')])
                else:
                    found.append(name)
    found = list(dict.fromkeys(found + budgeted))
    budgeted = list(dict.fromkeys(budgeted))
    if not found:
        raise invalid('logs', sorted(logs or {}), "hwprune's epoch logs (hwprune_<resource>): was the "
                      'HardwarePruning callback in this fit?')
    if resources is not None:
        chosen = _check_resources('resources', resources, found)
    else:  # a resource that is zero from start to end (e.g. BRAM under Latency) gets no panel
        chosen = [r for r in (budgeted or found) if _ever_used(r, records, logs, initial)] or (budgeted or found)[:1]
    has_sparsity = bool(records and 'sparsity' in records[0]) or bool(logs and 'hwprune_sparsity' in logs)
    n_panels = len(chosen) + has_sparsity
    rows, cols = _grid(n_panels)
    fig = _figure(4.6 * cols, 3.3 * rows + 0.5)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    x_label = 'epoch' if (logs is not None or update == 'epoch') else 'optimizer step'
    log_x = None
    if logs:
        n = max(len(v) for k, v in logs.items() if k.startswith('hwprune_'))
        log_x = np.asarray(epochs if epochs and len(epochs) == n else np.arange(n))
    for ax, r in zip(axes, chosen):
        final = None
        if logs and f'hwprune_{r}' in logs:
            values = np.asarray(logs[f'hwprune_{r}'], dtype=float)
            ax.plot(log_x[: values.size], values, '-', color=COLORS['after'], lw=2, label='use (epoch end)')
            final = values[-1]
        if logs and f'hwprune_{r}_budget' in logs:
            values = np.asarray(logs[f'hwprune_{r}_budget'], dtype=float)
            ax.plot(log_x[: values.size], values, '--', color=COLORS['budget'], lw=1.5, label='budget')
        if records:
            steps = np.array([rec['step'] for rec in records], dtype=float)
            use = np.array([rec['usage'].get(r, np.nan) for rec in records], dtype=float)
            ax.plot(steps, use, 'o', color=COLORS['after'], ms=5, mfc='white', mew=1.5,
                    label='use after pruning step', linestyle='none' if logs else '-')
            if final is None and use.size:
                final = use[-1]
            if r in budgeted and not (logs and f'hwprune_{r}_budget' in logs):
                i = budgeted.index(r)
                cap = np.array([rec['capacity'][i] for rec in records], dtype=float)
                ax.step(steps, cap, where='post', color=COLORS['budget'], ls='--', lw=1.5, label='budget')
        if r in initial:
            ax.axhline(initial[r], color=COLORS['initial'], ls=':', lw=1.2, label='initial')
        head = r
        if r in initial and final is not None and initial[r] > 0:
            head += f': {_short(initial[r])} \u2192 {_short(final)} ({100 * final / initial[r]:.0f}% of initial)'
        elif final is not None:
            head += f': {_short(final)} at the end'
        ax.set_title(head, fontsize=10)
        ax.set_xlabel(x_label)
        ax.set_ylabel(r)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc='best')
    if has_sparsity:
        ax = axes[len(chosen)]
        if logs and 'hwprune_sparsity' in logs:
            values = 100 * np.asarray(logs['hwprune_sparsity'], dtype=float)
            ax.plot(log_x[: values.size], values, '-', color='#2e7d32', lw=2, label='epoch end')
        if records and 'sparsity' in records[0]:
            steps = [rec['step'] for rec in records]
            ax.plot(steps, [100 * rec['sparsity'] for rec in records], 'o', color='#2e7d32', mfc='white', mew=1.5,
                    ms=5, linestyle='none' if logs else '-', label='after pruning step')
        ax.set_title('sparsity of the pruned kernels', fontsize=10)
        ax.set_xlabel(x_label)
        ax.set_ylabel('zero weights (%)')
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc='lower right')
    fig.suptitle(title or 'hwprune: resource use under the budget', fontsize=12)
    fig.tight_layout()
    return _finish(fig, path)


# ------------------------------------------------------------------------ per-layer bars
def layer_resources(report, before: Report | None = None, resources: Sequence[str] | None = None, *, ax=None,
                    path=None, title: str | None = None):
    """Per-layer use of each resource, before and after, with values and reduction factors.

    Args:
        report: the :class:`~hwprune.Report` to draw (the *after* one when ``before`` is given),
            or a :class:`~hwprune.report.Comparison` (``after.compare(before)``).
        before: an earlier report drawn beside it (grey bars).
        resources: resources to draw (default: every resource of ``report``; with ``before``,
            those both have).
        ax: draw every resource into this one Axes instead of one panel per resource.
        path: save the figure here as PNG.
        title: figure title.

    Returns:
        the Figure: one panel per resource; each bar is labelled with its value, each layer with
        its reduction factor, each panel title with the totals.

    Example:
        >>> before = Report({'fc1': {'DSP': 512, 'BRAM': 228}, 'fc2': {'DSP': 1024, 'BRAM': 456}})
        >>> after = Report({'fc1': {'DSP': 128, 'BRAM': 57}, 'fc2': {'DSP': 256, 'BRAM': 0}})
        >>> fig = layer_resources(after, before)
        >>> [ax.get_title() for ax in fig.axes]
        ['DSP: 1536 \u2192 384 (4.00x less)', 'BRAM: 684 \u2192 57 (12.00x less)']
    """
    if isinstance(report, Comparison):
        if before is not None:
            raise invalid('before', before, 'None when report is a Comparison (it holds both)', TypeError)
        report, before = report.after, report.before
    if not isinstance(report, Report):
        raise invalid('report', report, 'a hwprune Report or Comparison', TypeError)
    if before is not None and not isinstance(before, Report):
        raise invalid('before', before, 'a hwprune Report', TypeError)
    available = [r for r in report.resources if before is None or r in before.resources]
    chosen = _check_resources('resources', resources, available)
    names = list(dict.fromkeys([*(before.layers if before is not None else []), *report.layers]))
    n = max(len(names), 1)
    series = [('before', before), ('after', report)] if before is not None else [('', report)]
    rotate = 30 if n > 5 or max((len(s) for s in names), default=0) > 10 else 0

    def values(rep, r):
        return np.array([rep.layers.get(name, {}).get(r, 0.0) for name in names], dtype=float)

    if ax is not None:
        fig = ax.figure
        k = len(chosen) * len(series)
        width = 0.8 / max(k, 1)
        x = np.arange(n)
        i = 0
        for r in chosen:
            for label, rep in series:
                bars = ax.bar(x + (i - (k - 1) / 2) * width, values(rep, r), width,
                              label=f'{r} {label}'.strip(), alpha=0.55 if label == 'before' else 1.0)
                ax.bar_label(bars, labels=[_short(v) for v in values(rep, r)], fontsize=7, padding=1)
                i += 1
        ax.set_xticks(x, names, rotation=rotate, ha='right' if rotate else 'center')
        ax.set_xlabel('layer')
        ax.set_ylabel('use')
        ax.legend(fontsize=8)
        ax.set_title(title or 'hwprune: per-layer resource use', fontsize=10)
        return _finish(fig, path)

    rows, cols = _grid(len(chosen), 2 if n > 6 else 3)
    fig = _figure(cols * max(3.6, 0.75 * n * len(series) + 1.4), rows * 3.4 + 0.5)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for extra in axes[len(chosen):]:
        extra.set_visible(False)
    x = np.arange(n)
    width = 0.8 / len(series)
    for ax_r, r in zip(axes, chosen):
        top = 0.0
        for j, (label, rep) in enumerate(series):
            v = values(rep, r)
            top = max(top, float(v.max()) if v.size else 0.0)
            bars = ax_r.bar(x + (j - (len(series) - 1) / 2) * width, v, width, label=label or None,
                            color=COLORS['before'] if label == 'before' else COLORS['after'],
                            edgecolor='white', linewidth=0.5)
            ax_r.bar_label(bars, labels=[_short(a) for a in v], fontsize=7, padding=1)
        ticks = names
        if before is not None:
            ticks = [f'{name}\n{_factor_label(*[values(rep, r)[i] for _, rep in series])}'
                     for i, name in enumerate(names)]
        ax_r.set_xticks(x, ticks, fontsize=8, rotation=rotate, ha='right' if rotate else 'center')
        ax_r.set_ylabel(r)
        ax_r.set_ylim(0, top * 1.3 if top > 0 else 1)  # room for the value labels and the legend
        ax_r.grid(axis='y', alpha=0.3)
        if before is not None:
            t0, t1 = before.total.get(r, 0.0), report.total.get(r, 0.0)
            ax_r.set_title(f'{r}: {_short(t0)} \u2192 {_short(t1)} ({_factor_label(t0, t1)})', fontsize=10)
            ax_r.legend(fontsize=8, loc='upper center', ncol=2)
        else:
            ax_r.set_title(f'{r}: {_short(report.total.get(r, 0.0))} in total', fontsize=10)
    where = f' on {report.target}' if report.target else ''
    default = f'hwprune: per-layer use{where}' + (' before and after' if before is not None else '')
    fig.suptitle(title or default, fontsize=12)
    fig.tight_layout()
    return _finish(fig, path)


# ----------------------------------------------------------------------------- mask maps
def hardware_view(array, kind: str) -> np.ndarray:
    """A kernel-shaped array in the 2-D order the hardware reads it.

    Dense/Conv: hls4ml's transposed kernel as ``(outputs, inputs)`` -- row ``j`` holds the weights
    of output neuron/filter ``j`` in the order of its flattened inputs (Conv: kernel position, then
    channel), so a DSP group of ``RF`` consecutive weights is a run of ``RF`` cells in a row.
    Depthwise: ``(kernel taps, channels)``, the flat order of hls4ml's depthwise kernels.

    Example:
        >>> hardware_view(np.arange(6).reshape(3, 2), 'dense')     # Keras (n_in=3, n_out=2)
        array([[0, 2, 4],
               [1, 3, 5]])
    """
    kind = check_kind(kind)
    array = np.asarray(array)
    if kind in DEPTHWISE_KINDS:
        return array.reshape(-1, array.shape[-2] * array.shape[-1])
    transposed = np.transpose(array, RESOURCE_TRANSPOSE[kind])
    return transposed.reshape(transposed.shape[0], -1)


def _axis_labels(kind: str) -> tuple[str, str]:
    if kind == 'dense':
        return 'input', 'output neuron'
    if kind in DEPTHWISE_KINDS:
        return 'channel', 'kernel tap'
    return 'input (kernel position x channel)', 'filter'


def _boundaries(ids: np.ndarray):
    """Segments between neighbouring cells of different groups (cell (i, j) spans j +- 0.5, i +- 0.5)."""
    segs = []
    r, c = np.nonzero(ids[:, 1:] != ids[:, :-1])
    if r.size:
        x = c + 0.5
        segs.append(np.stack([np.stack([x, r - 0.5], 1), np.stack([x, r + 0.5], 1)], 1))
    r, c = np.nonzero(ids[1:, :] != ids[:-1, :])
    if r.size:
        y = r + 0.5
        segs.append(np.stack([np.stack([c - 0.5, y], 1), np.stack([c + 0.5, y], 1)], 1))
    return np.concatenate(segs) if segs else np.zeros((0, 2, 2))


def mask_map(kernel, layout: GroupLayout, kind: str = 'dense', *, name: str = '', what: str | None = None,
             reuse_factor: int | None = None, note: str = '', boundaries: bool | None = None,
             transpose: bool | None = None, ax=None, path=None):
    """One kernel in the hardware's view, each weight coloured by whether its group survives.

    Args:
        kernel: the Keras kernel (zeros = pruned weights), any layer kind.
        layout: the groups to show (:mod:`hwprune.layouts`: DSP groups, BRAM groups, neurons...),
            of the kernel's shape.
        kind: the layer kind (``'dense'``, ``'conv1d'``, ...): how the kernel is laid out
            (see :func:`hardware_view`).
        name: layer name for the title.
        what: what a group is, for the title (default from ``layout.name``: ``'DSP groups'``...).
        reuse_factor: shown in the title.
        note: text appended to the weight count shown under the map.
        boundaries: draw group boundaries (default: when cells are large enough to see them).
        transpose: draw inputs down and outputs across (default: when the view is much taller than
            wide, e.g. a 16-input, 64-neuron Dense layer), so the picture stays wide.
        ax: draw into this Axes.
        path: save the figure here as PNG.

    A group survives while it holds a nonzero weight. Colours: dark blue = nonzero weight of a
    surviving group, light blue = zero weight inside a surviving group (it still costs hardware),
    light grey = pruned group (its hardware is freed), orange = weight in no group.

    Returns:
        the Figure; the Axes title reads e.g. ``'fc2: 118/1024 DSP groups kept, RF 2'``.

    Example:
        >>> from hwprune.layouts import neuron_layout
        >>> k = np.ones((3, 4)); k[:, 1] = 0
        >>> mask_map(k, neuron_layout('dense', (3, 4)), name='fc').axes[0].get_title()
        'fc: 3/4 neurons kept'
    """
    if not isinstance(layout, GroupLayout):
        raise invalid('layout', layout, 'a GroupLayout (hwprune.layouts)', TypeError)
    kernel = np.asarray(kernel)
    if kernel.shape != layout.shape:
        raise invalid('kernel', kernel.shape, f'an array of the layout shape {layout.shape}')
    kind = check_kind(kind)
    from matplotlib.collections import LineCollection
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    ids = layout.ids
    alive = layout.alive(kernel)
    group_alive = np.where(ids >= 0, np.append(alive, False)[np.where(ids >= 0, ids, layout.n_groups)], False)
    state = np.where(ids < 0, 3, np.where(group_alive, np.where(kernel != 0, 0, 1), 2))
    view_state, view_ids = hardware_view(state, kind), hardware_view(ids, kind)
    xlabel, ylabel = _axis_labels(kind)
    if transpose is None:
        transpose = view_state.shape[0] > 1.5 * view_state.shape[1]  # keep the picture wide
    if transpose:
        view_state, view_ids, xlabel, ylabel = view_state.T, view_ids.T, ylabel, xlabel
    rows, cols = view_state.shape
    own = ax is None
    if own:
        cell = float(np.clip(9.0 / max(cols, 1), 0.06, 0.45))
        width = float(np.clip(cols * cell + 1.6, 5.5, 12.0))
        legend_in = 0.55
        height = float(np.clip(rows * cell + 1.3 + legend_in, 2.6, 10.0))
        fig = _figure(width, height)
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    cmap = ListedColormap([COLORS['kept_nonzero'], COLORS['kept_zero'], COLORS['pruned'], COLORS['no_group']])
    ax.imshow(view_state, cmap=cmap, vmin=-0.5, vmax=3.5, interpolation='nearest', aspect='equal')
    if boundaries is None:
        boundaries = max(rows, cols) <= 160
    if boundaries:
        segments = _boundaries(view_ids)
        if len(segments):
            lw = float(np.clip(40.0 / max(rows, cols), 0.25, 1.2))
            ax.add_collection(LineCollection(segments, colors=COLORS['boundary'], linewidths=lw))
    ax.set_xlim(-0.5, cols - 0.5)
    ax.set_ylim(rows - 0.5, -0.5)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    what = what or {'dsp': 'DSP groups', 'bram': 'BRAM groups', 'neuron': 'neurons', 'input': 'input channels',
                    'unstructured': 'weights'}.get(layout.name, 'groups')
    head = f'{name}: ' if name else ''
    head += f'{int(alive.sum())}/{layout.n_groups} {what} kept'
    if reuse_factor is not None:
        head += f', RF {reuse_factor}'
    ax.set_title(head, fontsize=10)
    nnz = int(np.count_nonzero(kernel))
    sub = f'{nnz}/{kernel.size} weights nonzero' + (f'; {note}' if note else '')
    handles = [Patch(facecolor=COLORS['kept_nonzero'], label='kept group, weight \u2260 0')]
    if np.any(state == 1) or layout.name != 'unstructured':  # single-weight groups have no kept zeros
        handles.append(Patch(facecolor=COLORS['kept_zero'], label='kept group, weight = 0'))
    handles.append(Patch(facecolor=COLORS['pruned'], edgecolor='#999999', label='pruned group (freed)'))
    if np.any(ids < 0):
        handles.append(Patch(facecolor=COLORS['no_group'], label='in no group'))
    if own:  # a figure legend below the map, with room reserved for it
        fig.tight_layout(rect=(0, legend_in / height, 1, 1))
        fig.legend(handles=handles, loc='lower center', bbox_to_anchor=(0.5, 0.0), ncol=len(handles), fontsize=8,
                   frameon=False, title=sub, title_fontsize=8)
    else:
        ax.legend(handles=handles, loc='upper center', bbox_to_anchor=(0.5, -0.15), ncol=len(handles), fontsize=8,
                  frameon=False, title=sub, title_fontsize=8)
    return _finish(fig, path)


#: Group choices of :func:`layer_mask_map`.
MASK_GROUPS = ('auto', 'dsp', 'bram', 'neuron', 'pruning')


def layer_mask_map(layer_model, kernel, groups: str = 'auto', *, ax=None, path=None):
    """:func:`mask_map` of a target's layer model: the title names the layer and its settings.

    Args:
        layer_model: a :class:`~hwprune.targets.LayerModel` (``target.layer_model(info, resources)``).
        kernel: the layer's current kernel.
        groups: ``'dsp'`` (an FPGA layer's DSP groups: RF consecutive weights of the transposed
            kernel), ``'bram'`` (the groups of DSP slots that own whole BRAM columns),
            ``'neuron'`` (output neurons/filters), ``'pruning'`` (the groups the knapsack chose
            among) or ``'auto'``: ``'dsp'`` for FPGA layers under the Resource strategies, else
            ``'pruning'`` (under Latency those are single weights: any ``RF`` nonzero weights share
            one multiplier, so the count of nonzeros, not their pattern, sets the DSPs).
        ax: draw into this Axes.
        path: save the figure here as PNG.

    Example:
        >>> from hwprune.targets import FPGATarget, FPGALayerSettings, LayerInfo
        >>> t = FPGATarget(default=FPGALayerSettings(reuse_factor=2, strategy='resource_unrolled'))
        >>> m = t.layer_model(LayerInfo('fc2', 'dense', (64, 32)), ['DSP'])
        >>> k = np.zeros((64, 32)); k[:8] = 1                 # 8 inputs left
        >>> layer_mask_map(m, k).axes[0].get_title()
        'fc2: 128/1024 DSP groups kept, RF 2 (resource_unrolled, 128 DSP)'
    """
    from .layouts import neuron_layout
    check = str(groups).lower() if isinstance(groups, str) else groups
    if check not in MASK_GROUPS:
        raise invalid('groups', groups, 'one of ' + ', '.join(repr(g) for g in MASK_GROUPS))
    info = layer_model.info
    kernel = np.asarray(kernel)
    if kernel.shape != tuple(info.kernel_shape):
        raise invalid('kernel', kernel.shape, f'the kernel shape {tuple(info.kernel_shape)} of layer {info.name!r}')
    fpga = hasattr(layer_model, 'dsp') and hasattr(layer_model, 'settings')
    if check == 'auto':  # the groups whose survival decides the cost
        check = 'dsp' if fpga and layer_model.settings.strategy != 'latency' else 'pruning'
    if check in ('dsp', 'bram') and not fpga:
        raise invalid('groups', groups, "'neuron' or 'pruning' for a non-FPGA layer model "
                      f'({type(layer_model).__name__})')
    rf = None
    if fpga:
        s = layer_model.settings
        rf = s.reuse_factor
        dsp = layer_model.multipliers(kernel) if layer_model.uses_dsp else 0
        suffix = f' ({s.strategy}, {dsp} DSP)'
    else:
        suffix = ''
    if check == 'dsp':
        layout, what = layer_model.dsp, 'DSP groups'
    elif check == 'bram':
        layout = layer_model.bram
        slots = int(np.ceil(layer_model.dsp.n_groups / max(layout.n_groups, 1)))
        what = 'BRAM groups'
        bram = float(layer_model.bram_columns[layout.alive(kernel)].sum())
        suffix = f' ({slots} DSP groups each, {_short(bram)} BRAM)' if layer_model.stores_rom else \
            f' ({slots} DSP groups each; no BRAM under {layer_model.settings.strategy})'
    elif check == 'neuron':
        layout, what = neuron_layout(info.kind, info.kernel_shape), 'neurons'
    else:
        layout, what = layer_model.layout, None
    fig = mask_map(kernel, layout, info.kind, name=info.name, what=what, reuse_factor=rf, ax=ax)
    axis = fig.axes[0] if ax is None else ax
    axis.set_title(axis.get_title() + suffix, fontsize=10)
    return _finish(fig, path)


# ------------------------------------------------------------------- other targets' pictures
def systolic_packing(packing, *, name: str = '', path=None):
    """A column-combined layer: its filter matrix coloured by packed column, and the packed array.

    Args:
        packing: a :class:`~hwprune.targets.systolic.Packing` (``SystolicArray.pack(matrix)`` or
            ``array.packings[layer]`` after training).
        name: layer name for the titles.
        path: save the figure here as PNG.

    Left: the filter matrix after conflict pruning (rows = filters, columns = inputs); every
    nonzero weight has the colour of the packed column its input was combined into. Right: the
    packed matrix the array holds (rows = filters, columns = packed columns), tile boundaries of the
    ``array_rows x array_cols`` array dashed. Titles give the column counts, utilisation and tiles.

    Example:
        >>> from hwprune.targets import SystolicArray
        >>> m = np.array([[1., 0., 0., 2.], [0., 3., 0., 0.], [4., 0., 5., 0.]])
        >>> fig = systolic_packing(SystolicArray(rows=2, cols=2, alpha=2, gamma=0.5).pack(m), name='fc')
        >>> fig.axes[1].get_title().splitlines()
        ['packed array: 2 columns', 'utilisation 0.83, 2 tiles of 2x2']
    """
    for attr in ('groups', 'selector', 'packed', 'pruned'):
        if not hasattr(packing, attr):
            raise invalid('packing', type(packing).__name__, 'a Packing (SystolicArray.pack)', TypeError)
    from matplotlib.colors import ListedColormap
    import matplotlib

    pruned = np.asarray(packing.pruned)
    selector = np.asarray(packing.selector)
    rows, n_inputs = pruned.shape
    n_groups = len(packing.groups)
    group_of = np.full(n_inputs, -1)
    for g, members in enumerate(packing.groups):
        group_of[list(members)] = g
    base = matplotlib.colormaps['tab20'].colors
    palette = ListedColormap(['#ffffff'] + [base[i % len(base)] for i in range(max(n_groups, 1))])
    left = np.where(pruned != 0, group_of[None, :] + 1, 0)
    right = np.where(selector >= 0, np.arange(n_groups)[None, :] + 1, 0) if n_groups else np.zeros((rows, 0))
    aspect_l = n_inputs / max(rows, 1)
    aspect_r = max(n_groups, 1) / max(rows, 1)
    height = float(np.clip(rows * 0.14 + 1.8, 2.8, 9.0))
    width = float(np.clip((rows * 0.14) * (aspect_l + max(aspect_r, 0.3)) + 2.5, 6.5, 14.0))
    fig = _figure(width, height)
    axes = fig.subplots(1, 2, gridspec_kw={'width_ratios': [max(aspect_l, 0.3), max(aspect_r, 0.3)]})
    vmax = max(n_groups, 1) + 0.5
    axes[0].imshow(left, cmap=palette, vmin=-0.5, vmax=vmax, interpolation='nearest', aspect='auto')
    axes[1].imshow(right, cmap=palette, vmin=-0.5, vmax=vmax, interpolation='nearest', aspect='auto')
    label = f'{name}: ' if name else ''
    widths = [len(g) for g in packing.groups]
    spread = f'{min(widths)}-{max(widths)}' if widths and min(widths) != max(widths) else (str(widths[0]) if widths else '0')
    axes[0].set_title(f'{label}filter matrix\n{n_inputs} columns combined into {n_groups} ({spread} each)', fontsize=10)
    axes[0].set_xlabel('input column')
    axes[0].set_ylabel('filter')
    axes[1].set_title(f'packed array: {n_groups} columns\nutilisation {packing.utilization:.2f}, '
                      f'{packing.tiles} tiles of {packing.array_rows}x{packing.array_cols}', fontsize=10)
    axes[1].set_xlabel('packed column')
    axes[1].set_ylabel('filter')
    for r in range(packing.array_rows, rows, packing.array_rows):
        axes[1].axhline(r - 0.5, color='#333333', ls='--', lw=0.8)
    for c in range(packing.array_cols, n_groups, packing.array_cols):
        axes[1].axvline(c - 0.5, color='#333333', ls='--', lw=0.8)
    fig.suptitle('column combining: each colour is one packed array column (white: no weight)', fontsize=10)
    fig.tight_layout()
    return _finish(fig, path)


def pim_cycles(report: Report, before: Report | None = None, *, path=None, title: str | None = None):
    """PIM computing cycles per layer, before and after, with each layer's mapping.

    Args:
        report: a :class:`~hwprune.Report` of a :class:`~hwprune.targets.PIMArray` (its details
            hold the mapping, window and live channels; ``cycles_before`` is used when ``before``
            is not given).
        before: an earlier report.
        path: save the figure here as PNG.
        title: figure title.

    Returns:
        the Figure: cycles per layer (bars labelled with the mapping, e.g. ``vw-sdk 3x4``) and,
        when the details have them, the input channels kept per layer.

    Example:
        >>> r = Report({'conv': {'cycles': 24.0}}, details={'conv': {'method': 'vw-sdk', 'window': '3x4',
        ...            'cycles_before': 32, 'IC': 15, 'IC_before': 16}}, target='pim')
        >>> pim_cycles(r).axes[0].get_title()
        'cycles: 32 \u2192 24 (1.33x less)'
    """
    if not isinstance(report, Report) or 'cycles' not in report.resources:
        raise invalid('report', report, "a Report with 'cycles' (hwprune.estimate with a PIMArray)", TypeError)
    names = list(report.layers)
    after = np.array([report.layers[n]['cycles'] for n in names], dtype=float)
    if before is not None:
        old = np.array([before.layers.get(n, {}).get('cycles', np.nan) for n in names], dtype=float)
    else:
        old = np.array([report.details.get(n, {}).get('cycles_before', np.nan) for n in names], dtype=float)
    has_old = not np.all(np.isnan(old))
    has_ic = all('IC' in report.details.get(n, {}) and 'IC_before' in report.details.get(n, {}) for n in names)
    n = len(names)
    fig = _figure(max(4.5, 1.6 * n + 1.5) + (max(4.0, 1.0 * n + 1.5) if has_ic else 0), 4.0)
    axes = fig.subplots(1, 2 if has_ic else 1, squeeze=False,
                        gridspec_kw={'width_ratios': [1.6, 1.0] if has_ic else [1]}).ravel()
    x = np.arange(n)
    width = 0.38 if has_old else 0.6
    ax = axes[0]
    if has_old:
        bars = ax.bar(x - width / 2, np.nan_to_num(old), width, color=COLORS['before'], label='before')
        ax.bar_label(bars, labels=[_short(v) + '\n' + _mapping(report, name, 'before') for v, name in zip(old, names)],
                     fontsize=7, padding=1)
    bars = ax.bar(x + (width / 2 if has_old else 0), after, width, color=COLORS['after'], label='after' if has_old else None)
    ax.bar_label(bars, labels=[_short(v) + '\n' + _mapping(report, name, 'after') for v, name in zip(after, names)],
                 fontsize=7, padding=1)
    top = np.nanmax(np.concatenate([after, old if has_old else after]))
    ax.set_ylim(0, top * 1.45 if top > 0 else 1)
    ax.set_xticks(x, names, rotation=30 if n > 5 else 0)
    ax.set_xlabel('layer')
    ax.set_ylabel('computing cycles')
    ax.grid(axis='y', alpha=0.3)
    if has_old:
        t0 = float(np.nansum(old))
        ax.set_title(f'cycles: {_short(t0)} \u2192 {_short(after.sum())} ({_factor_label(t0, after.sum())})',
                     fontsize=10)
        ax.legend(fontsize=8, loc='upper center', ncol=2)
    else:
        ax.set_title(f'cycles: {_short(after.sum())} in total', fontsize=10)
    if has_ic:
        ax = axes[1]
        ic0 = np.array([report.details[n]['IC_before'] for n in names], dtype=float)
        ic1 = np.array([report.details[n]['IC'] for n in names], dtype=float)
        b0 = ax.bar(x - 0.19, ic0, 0.38, color=COLORS['before'], label='all')
        b1 = ax.bar(x + 0.19, ic1, 0.38, color=COLORS['after'], label='kept')
        ax.bar_label(b0, labels=[_short(v) for v in ic0], fontsize=7, padding=1)
        ax.bar_label(b1, labels=[_short(v) for v in ic1], fontsize=7, padding=1)
        ax.set_xticks(x, names, rotation=30 if n > 5 else 0)
        ax.set_xlabel('layer')
        ax.set_ylabel('input channels')
        ax.set_title('input channels (VWC-SDK pruning)', fontsize=10)
        ax.set_ylim(0, ic0.max() * 1.3 if ic0.size and ic0.max() > 0 else 1)
        ax.legend(fontsize=8, loc='upper center', ncol=2)
        ax.grid(axis='y', alpha=0.3)
    fig.suptitle(title or 'hwprune: PIM crossbar cycles per layer (bars: cycles and mapping)', fontsize=12)
    fig.tight_layout()
    return _finish(fig, path)


def _mapping(report: Report, name: str, which: str) -> str:
    d = report.details.get(name, {})
    if which == 'before':
        method, window = d.get('method_before'), d.get('window_before')
    else:
        method, window = d.get('method'), d.get('window')
    return f'{method} {window}' if method and window else (method or '')


def energy_breakdown(report: Report, *, by: str = 'level', path=None, title: str | None = None):
    """Stacked bars of each layer's energy: compute and data movement per memory level (or per data type).

    Args:
        report: a :class:`~hwprune.Report` of an :class:`~hwprune.targets.Energy` target (its
            details hold the breakdown).
        by: ``'level'`` (compute, RF, array, buffer, DRAM) or ``'data'`` (compute, weights,
            inputs, psums).
        path: save the figure here as PNG.
        title: figure title.

    Example:
        >>> r = Report({'fc': {'energy': 30.0}}, details={'fc': {'compute': 5.0, 'DRAM': 20.0, 'buffer': 3.0,
        ...            'array': 1.0, 'RF': 1.0, 'weights': 10.0, 'inputs': 10.0, 'psums': 5.0}})
        >>> energy_breakdown(r).axes[0].get_ylabel()
        'energy (MAC units)'
    """
    from matplotlib.ticker import FuncFormatter
    parts = {'level': ('compute', 'RF', 'array', 'buffer', 'DRAM'), 'data': ('compute', 'weights', 'inputs', 'psums')}
    if by not in parts:
        raise invalid('by', by, "'level' or 'data'")
    if not isinstance(report, Report):
        raise invalid('report', report, 'a Report of an Energy target', TypeError)
    names = list(report.layers)
    keys = parts[by]
    missing = [n for n in names if not all(k in report.details.get(n, {}) for k in keys)]
    if missing:
        raise invalid('report', missing, f'layers whose details hold {", ".join(keys)} (hwprune.estimate with an '
                      'Energy target)')
    n = len(names)
    fig = _figure(max(4.5, 0.9 * n + 2.5), 4.0)
    ax = fig.add_subplot()
    x = np.arange(n)
    bottom = np.zeros(n)
    colors = ['#4c72b0', '#55a868', '#c44e52', '#8172b2', '#ccb974']
    for key, color in zip(keys, colors):
        v = np.array([float(report.details[name][key]) for name in names])
        ax.bar(x, v, 0.6, bottom=bottom, label=key, color=color)
        bottom += v
    for xi, total in zip(x, bottom):
        ax.text(xi, total, _short(total), ha='center', va='bottom', fontsize=8)
    ax.set_xticks(x, names, rotation=30 if n > 5 else 0)
    ax.set_xlabel('layer')
    ax.set_ylabel('energy (MAC units)')
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _short(v)))
    ax.set_ylim(0, bottom.max() * 1.15 if bottom.size and bottom.max() > 0 else 1)
    ax.legend(fontsize=8, title='by memory level' if by == 'level' else 'by data', title_fontsize=8)
    ax.grid(axis='y', alpha=0.3)
    ax.set_title(title or f'energy per layer: {_short(bottom.sum())} in total', fontsize=10)
    fig.tight_layout()
    return _finish(fig, path)


__all__ = ['COLORS', 'DPI', 'MASK_GROUPS', 'budget_history', 'energy_breakdown', 'hardware_view', 'layer_mask_map',
           'layer_resources', 'mask_map', 'pim_cycles', 'systolic_packing']
