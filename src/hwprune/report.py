"""Resource reports: per-layer and total use, as a table, a dict, a comparison or a plot.

Example:
    >>> r = Report({'fc1': {'DSP': 10.0, 'BRAM': 2.0}, 'fc2': {'DSP': 5.0, 'BRAM': 0.0}})
    >>> r.total['DSP']
    15.0
    >>> print(r)                                     # doctest: +NORMALIZE_WHITESPACE
    layer   DSP   BRAM
    fc1      10      2
    fc2       5      0
    total    15      2
"""

from __future__ import annotations

import json
from typing import Any, Mapping

import numpy as np

from ._validation import invalid


def _fmt(value) -> str:
    if isinstance(value, (float, np.floating)):
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
    """

    def __init__(self, layers: Mapping[str, Mapping[str, float]], details: Mapping[str, Mapping[str, Any]] | None = None,
                 target: str = ''):
        self.layers = {name: {r: float(v) for r, v in values.items()} for name, values in layers.items()}
        self.resources = tuple(dict.fromkeys(r for values in self.layers.values() for r in values))
        self.total = {r: float(sum(v.get(r, 0.0) for v in self.layers.values())) for r in self.resources}
        self.details = {name: dict(d) for name, d in (details or {}).items()}
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
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> 'Report':
        return cls(data['layers'], data.get('details'), data.get('target', ''))

    def __str__(self) -> str:
        detail_keys = list(dict.fromkeys(k for d in self.details.values() for k in d))
        header = ['layer', *self.resources, *detail_keys]
        rows = [[name, *(v.get(r, 0.0) for r in self.resources), *(self.details.get(name, {}).get(k, '') for k in detail_keys)]
                for name, v in self.layers.items()]
        rows.append(['total', *(self.total[r] for r in self.resources), *([''] * len(detail_keys))])
        return _table(header, rows)

    def __repr__(self):
        totals = ', '.join(f'{r}={_fmt(v)}' for r, v in self.total.items())
        return f'Report({len(self.layers)} layers, {totals})'

    def compare(self, before: 'Report') -> str:
        """A ``before -> after (ratio)`` table of this report against an earlier one."""
        if not isinstance(before, Report):
            raise invalid('before', before, 'a Report', TypeError)
        resources = [r for r in self.resources if r in before.resources]
        header = ['layer', *resources]
        names = list(dict.fromkeys([*before.layers, *self.layers]))

        def cell(old, new):
            ratio = f' ({old / new:.2f}x)' if new > 0 and old != new else (' (all)' if new == 0 and old > 0 else '')
            return f'{_fmt(old)} -> {_fmt(new)}{ratio}'

        rows = [[n, *(cell(before.layers.get(n, {}).get(r, 0.0), self.layers.get(n, {}).get(r, 0.0)) for r in resources)]
                for n in names]
        rows.append(['total', *(cell(before.total[r], self.total[r]) for r in resources)])
        return _table(header, rows)

    def plot(self, ax=None, resources=None):
        """Bar chart of per-layer use (matplotlib, imported lazily). Returns the Axes."""
        import matplotlib.pyplot as plt
        resources = list(resources or self.resources)
        if ax is None:
            _, ax = plt.subplots(figsize=(1.5 + 1.2 * len(self.layers), 3.5))
        x = np.arange(len(self.layers))
        width = 0.8 / max(len(resources), 1)
        for i, r in enumerate(resources):
            ax.bar(x + i * width, [v.get(r, 0.0) for v in self.layers.values()], width, label=r)
        ax.set_xticks(x + width * (len(resources) - 1) / 2, list(self.layers), rotation=30)
        ax.legend()
        return ax


__all__ = ['Report']
