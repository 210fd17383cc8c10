"""Resource reports: per-layer and total use, as a table, a dict, a DataFrame, HTML or a picture.

A :class:`Report` holds one model's per-layer use; :meth:`Report.compare` gives a
:class:`Comparison` of two (before -> after, with reduction factors). Both print as text tables,
render as HTML tables in Jupyter, export to ``dict`` and (with pandas) to a ``DataFrame``, and
draw with :func:`hwprune.plots.layer_resources`.

Example:
    >>> r = Report({'fc1': {'DSP': 10.0, 'BRAM': 2.0}, 'fc2': {'DSP': 5.0, 'BRAM': 0.0}})
    >>> r.total['DSP']
    15.0
    >>> print(r)                                     # doctest: +NORMALIZE_WHITESPACE
    layer   DSP   BRAM
    fc1      10      2
    fc2       5      0
    total    15      2
    >>> before = Report({'fc1': {'DSP': 40.0}, 'fc2': {'DSP': 20.0}})
    >>> print(r.compare(before))                     # doctest: +NORMALIZE_WHITESPACE
    layer                 DSP
    fc1      40 -> 10 (4.00x)
    fc2       20 -> 5 (4.00x)
    total    60 -> 15 (4.00x)
    >>> r.compare(before).factors['DSP']
    4.0
"""

from __future__ import annotations

import html
import json
import math
from typing import Any, Mapping, Sequence

import numpy as np

from ._validation import check_bool, check_mapping, invalid

#: What to install for the optional notebook helpers (pandas for ``to_dataframe``).
NOTEBOOK_EXTRA = "pip install 'hwprune[notebook]'"


def _fmt(value) -> str:
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            return str(value)
        if float(value).is_integer():
            return str(int(value))
        return f'{value:.4g}'
    return str(value)


def _table(header, rows) -> str:
    cells = [list(map(str, header))] + [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = []
    for row in cells:
        first = row[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        lines.append('   '.join([first] + rest).rstrip())
    return '\n'.join(lines)


def _pandas(what: str):
    try:
        import pandas
    except ImportError:
        raise ImportError(f'{what} needs pandas, which hwprune does not require; install it with '
                          f'{NOTEBOOK_EXTRA} (or pip install pandas).') from None
    return pandas


def reduction_factor(before: float, after: float) -> float:
    """``before / after``: ``inf`` when everything was removed, ``nan`` when both are zero.

    Example:
        >>> reduction_factor(12, 3), reduction_factor(5, 0), reduction_factor(0, 0)
        (4.0, inf, nan)
    """
    before, after = float(before), float(after)
    if after > 0:
        return before / after
    return math.inf if before > 0 else math.nan


def _factor_text(before: float, after: float) -> str:
    if after > 0 and before != after:
        return f'{before / after:.2f}x'
    if after == 0 and before > 0:
        return 'all'
    return ''


# Shared look of the HTML tables (inline styles: notebooks strip <style> blocks in some viewers).
_TH = 'style="text-align:right;padding:2px 8px"'
_TH_LEFT = 'style="text-align:left;padding:2px 8px"'
_TD = 'style="text-align:right;padding:2px 8px;font-variant-numeric:tabular-nums"'
_TD_LEFT = 'style="text-align:left;padding:2px 8px"'
_TOTAL = 'style="font-weight:bold;border-top:1px solid currentColor"'


def _html_table(caption: str, header: Sequence[str], rows: Sequence[Sequence[str]], total_row: Sequence[str] | None,
                css_class: str) -> str:
    esc = html.escape
    parts = [f'<table class="{css_class}" style="border-collapse:collapse">',
             f'<caption style="text-align:left;font-weight:bold;padding-bottom:4px">{esc(caption)}</caption>',
             '<thead><tr>' + ''.join(f'<th {_TH_LEFT if i == 0 else _TH}>{esc(str(h))}</th>'
                                     for i, h in enumerate(header)) + '</tr></thead>', '<tbody>']
    for row in rows:
        parts.append('<tr>' + ''.join(f'<td {_TD_LEFT if i == 0 else _TD}>{cell}</td>' for i, cell in enumerate(row))
                     + '</tr>')
    if total_row is not None:
        parts.append(f'<tr {_TOTAL}>' + ''.join(f'<td {_TD_LEFT if i == 0 else _TD}>{cell}</td>'
                                                for i, cell in enumerate(total_row)) + '</tr>')
    parts.append('</tbody></table>')
    return '\n'.join(parts)


def _real(argument: str, value) -> float:
    """A resource value as float (numpy scalars too); strings and other objects are named."""
    if not isinstance(value, (str, bytes, bool, np.bool_)):
        try:
            return float(value)
        except (TypeError, ValueError):
            pass
    raise invalid(argument, value, 'a number', TypeError)


class Report:
    """Per-layer resource use.

    Args:
        layers: ``{layer_name: {resource: value}}`` (insertion order is the layer order).
        details: optional ``{layer_name: {fact: value}}`` shown after the resources (strategy, RF...).
        target: name of the target the numbers are for.

    Attributes:
        layers: the per-layer numbers.
        total: ``{resource: sum over layers}``.
        resources: resource names in column order.

    In a notebook a report renders as an HTML table (per layer, with totals); ``print(report)``
    gives the same table as text, :meth:`to_dict` / :meth:`to_dataframe` the numbers, and
    :meth:`plot` a per-layer bar chart.

    Example:
        >>> r = Report({'fc1': {'DSP': 12.0}}, details={'fc1': {'reuse_factor': 2}}, target='fpga')
        >>> r
        Report(target='fpga', 1 layer, DSP=12)
        >>> r.layers['fc1']['DSP'], r['DSP']
        (12.0, 12.0)
    """

    def __init__(self, layers: Mapping[str, Mapping[str, float]], details: Mapping[str, Mapping[str, Any]] | None = None,
                 target: str = ''):
        self.layers = {name: {r: _real(f'layers[{name!r}][{r!r}]', v)
                              for r, v in check_mapping(f'layers[{name!r}]', values, allow_none=False).items()}
                       for name, values in check_mapping('layers', layers, allow_none=False).items()}
        self.resources = tuple(dict.fromkeys(r for values in self.layers.values() for r in values))
        self.total = {r: float(sum(v.get(r, 0.0) for v in self.layers.values())) for r in self.resources}
        self.details = {name: check_mapping(f'details[{name!r}]', d, allow_none=False)
                        for name, d in check_mapping('details', details).items()}
        if not isinstance(target, str):
            raise invalid('target', target, "the target's name, e.g. 'fpga'", TypeError)
        self.target = target

    def __getitem__(self, resource: str) -> float:
        try:
            return self.total[resource]
        except KeyError:
            raise invalid('resource', resource, 'one of ' + ', '.join(self.resources), KeyError) from None

    def to_dict(self) -> dict[str, Any]:
        """JSON-native dict: ``{'target', 'resources', 'layers', 'total', 'details'}``."""
        return {'target': self.target, 'resources': list(self.resources), 'layers': self.layers,
                'total': self.total, 'details': self.details}

    def to_json(self, **kwargs) -> str:
        """:meth:`to_dict` as JSON text (``kwargs`` go to :func:`json.dumps`)."""
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> 'Report':
        """Inverse of :meth:`to_dict`."""
        data = check_mapping('data', data, allow_none=False)
        if 'layers' not in data:
            raise invalid('data', data, "a dict from Report.to_dict() (with a 'layers' key)")
        return cls(data['layers'], data.get('details'), data.get('target', ''))

    def to_dataframe(self, details: bool = True, total: bool = False):
        """The per-layer numbers as a ``pandas.DataFrame`` (needs pandas: the ``notebook`` extra).

        Args:
            details: add the detail columns (strategy, reuse factor, ...) after the resources.
            total: append a ``'total'`` row (resources summed; details empty).

        Returns:
            one row per layer (index ``layer``), one column per resource, then the details.

        Example:
            >>> df = Report({'fc1': {'DSP': 12.0}, 'fc2': {'DSP': 4.0}}).to_dataframe()  # doctest: +SKIP
            >>> df['DSP'].sum()                                                          # doctest: +SKIP
            16.0
        """
        details, total = check_bool('details', details), check_bool('total', total)
        pd = _pandas('Report.to_dataframe')
        detail_keys = self._detail_keys() if details else []
        rows = []
        for name, values in self.layers.items():
            row = {r: values.get(r, 0.0) for r in self.resources}
            row.update({k: self.details.get(name, {}).get(k) for k in detail_keys})
            rows.append(row)
        index = list(self.layers)
        if total:
            rows.append({**self.total, **{k: None for k in detail_keys}})
            index.append('total')
        frame = pd.DataFrame(rows, index=pd.Index(index, name='layer'), columns=[*self.resources, *detail_keys])
        return frame

    def _detail_keys(self) -> list[str]:
        return list(dict.fromkeys(k for d in self.details.values() for k in d))

    def __str__(self) -> str:
        detail_keys = self._detail_keys()
        header = ['layer', *self.resources, *detail_keys]
        rows = [[name, *(v.get(r, 0.0) for r in self.resources), *(self.details.get(name, {}).get(k, '') for k in detail_keys)]
                for name, v in self.layers.items()]
        rows.append(['total', *(self.total[r] for r in self.resources), *([''] * len(detail_keys))])
        return _table(header, rows)

    def _caption(self) -> str:
        n = len(self.layers)
        where = f' on {self.target}' if self.target else ''
        return f'hwprune report{where}: {n} layer{"s" if n != 1 else ""}'

    def __repr__(self):
        totals = ', '.join(f'{r}={_fmt(v)}' for r, v in self.total.items())
        n = len(self.layers)
        target = f'target={self.target!r}, ' if self.target else ''
        return f'Report({target}{n} layer{"s" if n != 1 else ""}{", " if totals else ""}{totals})'

    def _repr_pretty_(self, printer, cycle):  # IPython's plain-text display: the whole table
        printer.text(repr(self) if cycle else f'{self._caption()}\n{self}')

    def _repr_html_(self) -> str:
        """The per-layer table with totals, as Jupyter shows a report."""
        detail_keys = self._detail_keys()
        esc = html.escape
        header = ['layer', *self.resources, *detail_keys]
        rows = [[esc(name), *(esc(_fmt(v.get(r, 0.0))) for r in self.resources),
                 *(esc(_fmt(self.details.get(name, {}).get(k, ''))) for k in detail_keys)]
                for name, v in self.layers.items()]
        total = ['total', *(esc(_fmt(self.total[r])) for r in self.resources), *([''] * len(detail_keys))]
        return _html_table(self._caption(), header, rows, total, 'hwprune-report')

    def compare(self, before: 'Report') -> 'Comparison':
        """This report against an earlier one: a :class:`Comparison` (a ``before -> after (ratio)``
        text table that also renders as HTML and exports to a dict or DataFrame)."""
        if not isinstance(before, Report):
            raise invalid('before', before, 'a Report', TypeError)
        return Comparison(before, self)

    def plot(self, ax=None, resources: Sequence[str] | None = None, *, before: 'Report | None' = None,
             path=None):
        """Per-layer bars of each resource (and ``before`` beside them, if given).

        A thin call of :func:`hwprune.plots.layer_resources`; see there for the arguments.

        Returns:
            the ``matplotlib.figure.Figure``.
        """
        from .plots import layer_resources
        return layer_resources(self, before=before, resources=resources, ax=ax, path=path)


class Comparison(str):
    """Two reports side by side: ``before -> after (reduction factor)`` per layer and in total.

    It *is* the text table (a ``str``, so ``print(after.compare(before))`` and string operations
    work as they always did) and adds the rich forms: an HTML table in Jupyter, :meth:`to_dict`,
    :meth:`to_dataframe`, :meth:`plot`.

    Attributes:
        before, after: the two :class:`Report` objects.
        resources: resources both reports have, in ``after``'s order.
        layers: layer names of both, ``before``'s first.
        factors: ``{resource: before_total / after_total}`` (``inf``: all removed).

    Example:
        >>> before = Report({'fc1': {'DSP': 8.0}})
        >>> c = Report({'fc1': {'DSP': 2.0}}).compare(before)
        >>> c.to_dict()['total']['DSP']
        {'before': 8.0, 'after': 2.0, 'factor': 4.0}
    """

    def __new__(cls, before: Report, after: Report):
        if not isinstance(before, Report):
            raise invalid('before', before, 'a Report', TypeError)
        if not isinstance(after, Report):
            raise invalid('after', after, 'a Report', TypeError)
        resources = [r for r in after.resources if r in before.resources]
        names = list(dict.fromkeys([*before.layers, *after.layers]))

        def cell(old, new):
            ratio = _factor_text(old, new)
            return f'{_fmt(old)} -> {_fmt(new)}' + (f' ({ratio})' if ratio else '')

        rows = [[n, *(cell(before.layers.get(n, {}).get(r, 0.0), after.layers.get(n, {}).get(r, 0.0))
                      for r in resources)] for n in names]
        rows.append(['total', *(cell(before.total[r], after.total[r]) for r in resources)])
        self = super().__new__(cls, _table(['layer', *resources], rows))
        self.before, self.after = before, after
        self.resources = tuple(resources)
        self.layers = tuple(names)
        self.factors = {r: reduction_factor(before.total[r], after.total[r]) for r in resources}
        return self

    def __reduce__(self):  # pickle/copy as the pair of reports, not as a plain str
        return Comparison, (self.before, self.after)

    def _values(self, name: str, resource: str) -> tuple[float, float]:
        if name == 'total':
            return self.before.total[resource], self.after.total[resource]
        return (self.before.layers.get(name, {}).get(resource, 0.0),
                self.after.layers.get(name, {}).get(resource, 0.0))

    def to_dict(self) -> dict[str, Any]:
        """``{'resources', 'layers': {layer: {resource: {'before', 'after', 'factor'}}}, 'total': {...}}``.

        ``factor`` is ``before / after`` (``inf`` when all was removed, ``nan`` when both are 0);
        use :meth:`to_json` for strict JSON (it writes those two as ``null``).
        """
        def entry(name):
            out = {}
            for r in self.resources:
                old, new = self._values(name, r)
                out[r] = {'before': old, 'after': new, 'factor': reduction_factor(old, new)}
            return out

        return {'target': self.after.target, 'resources': list(self.resources),
                'layers': {n: entry(n) for n in self.layers}, 'total': entry('total')}

    def to_json(self, **kwargs) -> str:
        """:meth:`to_dict` as strict JSON (non-finite factors become ``null``)."""
        data = self.to_dict()
        for block in [*data['layers'].values(), data['total']]:
            for values in block.values():
                if not math.isfinite(values['factor']):
                    values['factor'] = None
        return json.dumps(data, **kwargs)

    def to_dataframe(self, total: bool = True):
        """A ``pandas.DataFrame``: one row per layer (and ``'total'``), columns
        ``(resource, 'before' | 'after' | 'factor')`` (needs pandas: the ``notebook`` extra)."""
        total = check_bool('total', total)
        pd = _pandas('Comparison.to_dataframe')
        names = [*self.layers, 'total'] if total else list(self.layers)
        columns = pd.MultiIndex.from_product([self.resources, ['before', 'after', 'factor']],
                                             names=['resource', 'value'])
        data = []
        for n in names:
            row = []
            for r in self.resources:
                old, new = self._values(n, r)
                row.extend([old, new, reduction_factor(old, new)])
            data.append(row)
        return pd.DataFrame(data, index=pd.Index(names, name='layer'), columns=columns)

    def _caption(self) -> str:
        where = f' on {self.after.target}' if self.after.target else ''
        factors = ', '.join(f'{r} {_factor_text(self.before.total[r], self.after.total[r]) or "1x"}'
                            for r in self.resources)
        return f'hwprune: before -> after{where} ({factors})'

    def __repr__(self):
        totals = ', '.join(f'{r}: {_fmt(self.before.total[r])} -> {_fmt(self.after.total[r])}' for r in self.resources)
        return f'Comparison({totals})'

    def _repr_pretty_(self, printer, cycle):
        printer.text(repr(self) if cycle else f'{self._caption()}\n{self}')

    def _repr_html_(self) -> str:
        """Per-layer ``before -> after`` and reduction factors, totals in bold."""
        esc = html.escape

        def cell(old, new):
            ratio = _factor_text(old, new)
            shown = f'{esc(_fmt(old))} &rarr; {esc(_fmt(new))}'
            if ratio:
                shown += f' <span style="opacity:0.7">({esc(ratio)})</span>'
            return shown

        rows = [[esc(n), *(cell(*self._values(n, r)) for r in self.resources)] for n in self.layers]
        total = ['total', *(cell(*self._values('total', r)) for r in self.resources)]
        return _html_table(self._caption(), ['layer', *self.resources], rows, total, 'hwprune-comparison')

    def plot(self, resources: Sequence[str] | None = None, *, path=None):
        """Per-layer before/after bars per resource (:func:`hwprune.plots.layer_resources`)."""
        from .plots import layer_resources
        return layer_resources(self.after, before=self.before, resources=resources or self.resources, path=path)


__all__ = ['Comparison', 'NOTEBOOK_EXTRA', 'Report', 'reduction_factor']
