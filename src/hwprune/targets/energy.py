"""Energy target: Eyeriss-style energy model for energy-aware pruning (Yang, Chen, Sze, CVPR 2017).

Energy is counted in units of one MAC (8/16-bit, 65 nm scale as in the paper): a MAC costs
``mac_cost`` (1) and one access to the register file (``'RF'``) 1, the array's network-on-chip
(``'array'``) 2, the global buffer (``'buffer'``) 6 and ``'DRAM'`` 200 (``level_costs``). A layer's
energy is::

    E = mac_cost * MACs_gated
        + sum over data d in (weights, inputs, psums), level l in (DRAM, buffer, array, RF)
              of level_cost[l] * accesses[d][l]

**Access model** (row stationary in spirit; every number is configurable). For a layer with
``P = H_out * W_out`` output positions (1 for Dense), kernel ``Kh x Kw``, ``C`` input and ``M``
output channels, ``N_w`` nonzero weights, ``N_in`` input and ``N_out`` output values,
``MACs = N_w * P`` and ``MACs_gated = (1 - s) * MACs`` where ``s`` is the measured fraction of
zero input activations when ``zero_gating`` is on (a zero input skips the MAC, the weight read
and the partial-sum update; the input is still read to detect the zero):

==========  ============================  ====================================  ============================
level       weights (per nonzero weight)  inputs (per input value)              psums (per output value)
==========  ============================  ====================================  ============================
DRAM        1                             1                                     1 (written once)
buffer      1                             ``ceil(M / filters_per_pass)``        ``2 ceil(C / channels_per_pass) - 1``
array       ``H_out`` (a filter row is    ``Kh ceil(M / filters_per_pass)``     ``Kh ceil(C / channels_per_pass)``
            sent once per output row)     (diagonal multicast per filter pass)  (vertical accumulation)
RF          1 per gated MAC               1 per MAC                             2 per gated MAC (read+write)
==========  ============================  ====================================  ============================

Override any entry with ``accesses={'weights': {'DRAM': 2.0}, ...}``: DRAM/buffer/array entries
are accesses per datum, RF entries accesses per MAC.

**Pruning.** With ``granularity='weight'`` (default) every weight is a group and its cost is
exactly what removing it saves: its MACs (``P``, gated) and their RF traffic, plus its own
DRAM/buffer/array traffic. Input and partial-sum traffic is the layer's fixed cost. With
``granularity='filter'`` a group is a filter and also carries its outputs' partial-sum traffic.
Costs are additive, so the default global knapsack of :class:`~hwprune.targets.base.Target` is
exact. ``energy_priority = beta > 0`` prunes the most energy-hungry layers first: each layer's
importance is scaled by ``(mean layer energy / layer energy) ** beta``, so that layers holding more
of the network's energy give up weights sooner (Yang et al. prune layers in order of energy).

Measure the input sparsity of each layer on sample data with
:func:`hwprune.keras.activations.measure_activation_sparsity` and pass it as ``activation_sparsity``.

Example:
    >>> import numpy as np
    >>> from hwprune.targets.base import LayerInfo
    >>> e = Energy(activation_sparsity={'fc': 0.5})
    >>> m = e.layer_model(LayerInfo('fc', 'dense', (4, 2), input_shape=(4,), output_shape=(2,)), ['energy', 'MACs'])
    >>> m.usage_dict(np.ones((4, 2)))      # 8 weights x (3 per gated MAC + 208) + (4 + 2) x 208
    {'energy': 2936.0, 'MACs': 8.0}
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
from typing import Any, Mapping, Sequence

import numpy as np

from .._validation import check_bool, check_choice, check_int, check_mapping, check_number, invalid
from ..layouts import neuron_layout, unstructured_layout
from ..kinds import get_kind
from .base import LayerInfo, LayerModel, LayerState, Target

logger = logging.getLogger(__name__)

LEVELS = ('DRAM', 'buffer', 'array', 'RF')
DATA = ('weights', 'inputs', 'psums')
RESOURCES = ('energy', 'MACs', 'params')
GRANULARITIES = ('weight', 'filter')

#: Energy per access, normalised to one MAC (Eyeriss / Yang et al. 2017).
DEFAULT_LEVEL_COSTS = {'DRAM': 200.0, 'buffer': 6.0, 'array': 2.0, 'RF': 1.0}


@dataclasses.dataclass(frozen=True)
class LayerShape:
    """What the energy model needs of a layer (``N_in``/``N_out``: values per inference)."""

    positions: int
    kh: int
    kw: int
    in_channels: int
    filters: int
    out_rows: int
    n_inputs: int
    n_outputs: int

    @classmethod
    def from_info(cls, info: LayerInfo) -> 'LayerShape':
        shape = info.kernel_shape
        if get_kind(info.kind).spatial == 0:
            return cls(1, 1, 1, shape[0], shape[1], 1, shape[0], shape[1])
        if info.input_shape is None or info.output_shape is None:
            raise invalid('info.input_shape', info.input_shape, f'known input and output shapes of {info.kind} layer '
                          f'{info.name!r} (its energy depends on the feature-map size)')
        if get_kind(info.kind).spatial == 1:
            kh, kw, c, m = 1, shape[0], shape[1], shape[2]
            rows = 1
        else:
            kh, kw, c, m = shape
            rows = info.output_shape[0]
        return cls(int(np.prod(info.output_shape[:-1])), kh, kw, c, m, rows, int(np.prod(info.input_shape)),
                   int(np.prod(info.output_shape)))


def default_accesses(shape: LayerShape, filters_per_pass: int = 16, channels_per_pass: int = 16) -> dict:
    """The row-stationary-style access counts of the module doc for one layer shape.

    Example:
        >>> s = LayerShape(positions=16, kh=3, kw=3, in_channels=16, filters=32, out_rows=4,
        ...                n_inputs=576, n_outputs=512)
        >>> default_accesses(s)['inputs']
        {'DRAM': 1.0, 'buffer': 2.0, 'array': 6.0, 'RF': 1.0}
    """
    filter_passes = math.ceil(shape.filters / filters_per_pass)
    channel_passes = math.ceil(shape.in_channels / channels_per_pass)
    return {
        'weights': {'DRAM': 1.0, 'buffer': 1.0, 'array': float(shape.out_rows), 'RF': 1.0},
        'inputs': {'DRAM': 1.0, 'buffer': float(filter_passes), 'array': float(shape.kh * filter_passes), 'RF': 1.0},
        'psums': {'DRAM': 1.0, 'buffer': float(2 * channel_passes - 1), 'array': float(shape.kh * channel_passes),
                  'RF': 2.0},
    }


class Energy(Target):
    """Eyeriss-style energy target (see the module doc for the model).

    Args:
        activation_sparsity: ``{layer name: fraction of zero input activations}`` (from
            :func:`hwprune.keras.activations.measure_activation_sparsity`).
        default_sparsity: input sparsity of layers missing from ``activation_sparsity``.
        zero_gating: skip MACs (and their weight and psum RF accesses) on zero inputs.
        level_costs: energy per access at each level, in MACs (``DRAM``, ``buffer``, ``array``, ``RF``).
        mac_cost: energy of one MAC.
        accesses: overrides of the access counts, ``{data: {level: count}}``.
        filters_per_pass: filters processed per pass over the inputs (input re-reads).
        channels_per_pass: input channels accumulated per pass (partial-sum round trips).
        granularity: pruning groups, ``'weight'`` or ``'filter'``.
        energy_priority: ``beta >= 0``; prune energy-hungry layers first (0: off).

    Resources: ``'energy'`` (default), ``'MACs'`` (nonzero weights x output positions) and
    ``'params'``.

    Example:
        >>> t = Energy(zero_gating=False, level_costs={'DRAM': 100})
        >>> t.level_costs['DRAM'], t.level_costs['RF']
        (100.0, 1.0)
    """

    name = 'energy'
    #: The access model is written for Dense/Conv layers; depthwise kernels are left unpruned.
    kinds = ('dense', 'conv1d', 'conv2d')
    resources = RESOURCES
    default_resources = ('energy',)

    def __init__(self, activation_sparsity: Mapping[str, float] | None = None, default_sparsity: float = 0.0,
                 zero_gating: bool = True, level_costs: Mapping[str, float] | None = None, mac_cost: float = 1.0,
                 accesses: Mapping[str, Mapping[str, float]] | None = None, filters_per_pass: int = 16,
                 channels_per_pass: int = 16, granularity: str = 'weight', energy_priority: float = 0.0):
        if activation_sparsity is not None and not isinstance(activation_sparsity, Mapping):
            raise invalid('activation_sparsity', activation_sparsity, 'a dict {layer name: fraction of zero inputs} '
                          '(measure_activation_sparsity returns one); default_sparsity= sets one value for every layer',
                          TypeError)
        self.activation_sparsity = {}
        for name, value in check_mapping('activation_sparsity', activation_sparsity).items():
            self.activation_sparsity[str(name)] = check_number(f'activation_sparsity[{name!r}]', value, 0.0, 1.0)
        self.default_sparsity = check_number('default_sparsity', default_sparsity, 0.0, 1.0)
        self.zero_gating = check_bool('zero_gating', zero_gating)
        costs = dict(DEFAULT_LEVEL_COSTS)
        for level, value in check_mapping('level_costs', level_costs).items():
            if level not in LEVELS:
                raise invalid('level_costs', level, 'levels ' + ', '.join(repr(l) for l in LEVELS))
            costs[level] = check_number(f'level_costs[{level!r}]', value, 0.0)
        self.level_costs = costs
        self.mac_cost = check_number('mac_cost', mac_cost, 0.0)
        self.accesses = {}
        for data, levels in check_mapping('accesses', accesses).items():
            if data not in DATA:
                raise invalid('accesses', data, 'data types ' + ', '.join(repr(d) for d in DATA))
            if not isinstance(levels, Mapping):
                raise invalid(f'accesses[{data!r}]', levels, 'a dict {level: accesses}', TypeError)
            self.accesses[data] = {}
            for level, value in levels.items():
                if level not in LEVELS:
                    raise invalid(f'accesses[{data!r}]', level, 'levels ' + ', '.join(repr(l) for l in LEVELS))
                self.accesses[data][level] = check_number(f'accesses[{data!r}][{level!r}]', value, 0.0)
        self.filters_per_pass = check_int('filters_per_pass', filters_per_pass, 1)
        self.channels_per_pass = check_int('channels_per_pass', channels_per_pass, 1)
        self.granularity = check_choice('granularity', granularity, GRANULARITIES)
        self.energy_priority = check_number('energy_priority', energy_priority, 0.0)

    def sparsity_of(self, name: str) -> float:
        return self.activation_sparsity.get(name, self.default_sparsity)

    def access_counts(self, shape: LayerShape) -> dict:
        """Access counts of a layer: the defaults with :attr:`accesses` overrides applied."""
        counts = default_accesses(shape, self.filters_per_pass, self.channels_per_pass)
        for data, levels in self.accesses.items():
            counts[data].update(levels)
        return counts

    # ------------------------------------------------------------------ target interface
    def build_layer_model(self, info: LayerInfo, resources: tuple[str, ...]) -> 'EnergyLayerModel':
        return EnergyLayerModel(self, info, resources)

    def select(self, states: Sequence[LayerState], capacity, *, method: str = 'auto',
               regrowth: bool = False) -> list[np.ndarray]:
        """The global knapsack of :class:`Target`, with importance scaled per layer by
        ``(mean layer energy / layer energy) ** energy_priority``."""
        if self.energy_priority > 0 and len(states) > 1:
            energies = []
            for state in states:
                model = getattr(state.model, '_model', state.model)
                energies.append(model.breakdown(state.kernel)['total'] if isinstance(model, EnergyLayerModel)
                                else 1.0)
            energies = np.maximum(np.asarray(energies, dtype=np.float64), 1e-300)
            scale = (energies.mean() / energies) ** self.energy_priority
            states = [dataclasses.replace(s, importance=np.asarray(s.importance, dtype=np.float64) * f)
                      for s, f in zip(states, scale)]
        return super().select(states, capacity, method=method, regrowth=regrowth)

    def summary(self, model: 'EnergyLayerModel', kernel) -> dict[str, Any]:
        """Per-layer breakdown: compute vs data movement, per data type and level, sparsity."""
        b = model.breakdown(kernel)
        out = {'compute': b['compute'], 'data': b['data']}
        out.update({d: b[d] for d in DATA})
        out.update({level: b[level] for level in LEVELS})
        out['input_sparsity'] = round(model.sparsity, 4)
        out['MACs_gated'] = b['MACs_gated']
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items()}

    def get_config(self) -> dict[str, Any]:
        return {'activation_sparsity': dict(self.activation_sparsity), 'default_sparsity': self.default_sparsity,
                'zero_gating': self.zero_gating, 'level_costs': dict(self.level_costs), 'mac_cost': self.mac_cost,
                'accesses': copy.deepcopy(self.accesses), 'filters_per_pass': self.filters_per_pass,
                'channels_per_pass': self.channels_per_pass, 'granularity': self.granularity,
                'energy_priority': self.energy_priority}


class EnergyLayerModel(LayerModel):
    """One layer's energy; costs are additive per weight (or per filter), :meth:`usage` exact."""

    def __init__(self, target: Energy, info: LayerInfo, resources: Sequence[str]):
        self.target = target
        self.shape = shape = LayerShape.from_info(info)
        self.sparsity = target.sparsity_of(info.name)
        self.counts = counts = target.access_counts(shape)
        cost = target.level_costs
        gate = (1.0 - self.sparsity) if target.zero_gating else 1.0
        self.gate = gate
        p = shape.positions
        # energy one nonzero weight costs: its (gated) MACs and their RF traffic, its own traffic
        self.per_mac = {'compute': target.mac_cost * gate,
                        'weights': cost['RF'] * counts['weights']['RF'] * gate,
                        'inputs': cost['RF'] * counts['inputs']['RF'],
                        'psums': cost['RF'] * counts['psums']['RF'] * gate}
        self.weight_traffic = {level: cost[level] * counts['weights'][level] for level in ('DRAM', 'buffer', 'array')}
        self.per_weight = p * sum(self.per_mac.values()) + sum(self.weight_traffic.values())
        self.input_traffic = {level: cost[level] * counts['inputs'][level] * shape.n_inputs
                              for level in ('DRAM', 'buffer', 'array')}
        self.output_traffic = {level: cost[level] * counts['psums'][level] * shape.n_outputs
                               for level in ('DRAM', 'buffer', 'array')}
        if target.granularity == 'filter':
            layout = neuron_layout(info.kind, info.kernel_shape)
        else:
            layout = unstructured_layout(info.kind, info.kernel_shape)
        sizes = layout.sizes().astype(np.float64)
        per_filter_out = sum(self.output_traffic.values()) / shape.filters
        columns = {'energy': sizes * self.per_weight, 'MACs': sizes * p, 'params': sizes}
        fixed = {'energy': sum(self.input_traffic.values()), 'MACs': 0.0, 'params': 0.0}
        if target.granularity == 'filter':
            columns['energy'] = columns['energy'] + per_filter_out
        else:
            fixed['energy'] += sum(self.output_traffic.values())
        details = {'input_sparsity': round(self.sparsity, 4), 'granularity': target.granularity}
        super().__init__(info, layout, np.stack([columns[r] for r in resources], axis=1), resources,
                         fixed=[fixed[r] for r in resources], details=details)

    def breakdown(self, kernel) -> dict[str, float]:
        """Energy of these weights by component: ``compute``, ``data``, per data type and per level."""
        kernel = np.asarray(kernel)
        nnz = float(np.count_nonzero(kernel))
        macs = nnz * self.shape.positions
        if self.target.granularity == 'filter':
            live = float(self.layout.alive(kernel).sum())
            outputs = live / self.shape.filters
        else:
            outputs = 1.0
        by_level = {level: 0.0 for level in LEVELS}
        by_data = {d: 0.0 for d in DATA}
        for level in ('DRAM', 'buffer', 'array'):
            w = self.weight_traffic[level] * nnz
            i = self.input_traffic[level]
            o = self.output_traffic[level] * outputs
            by_level[level] = w + i + o
            by_data['weights'] += w
            by_data['inputs'] += i
            by_data['psums'] += o
        rf = {d: self.per_mac[d] * macs for d in DATA}
        by_level['RF'] = sum(rf.values())
        for d in DATA:
            by_data[d] += rf[d]
        compute = self.per_mac['compute'] * macs
        data = sum(by_data.values())
        out = {'total': compute + data, 'compute': compute, 'data': data, 'MACs': macs,
               'MACs_gated': macs * self.gate, 'params': nnz}
        out.update(by_data)
        out.update(by_level)
        return out

    def usage(self, kernel) -> np.ndarray:
        b = self.breakdown(kernel)
        values = {'energy': b['total'], 'MACs': b['MACs'], 'params': b['params']}
        return np.array([values[r] for r in self.resources], dtype=np.float64)


__all__ = ['DATA', 'DEFAULT_LEVEL_COSTS', 'Energy', 'EnergyLayerModel', 'GRANULARITIES', 'LEVELS', 'LayerShape',
           'RESOURCES', 'default_accesses']
