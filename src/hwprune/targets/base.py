"""The target abstraction: what a hardware target tells the pruner about each layer.

A :class:`Target` turns a layer description (:class:`LayerInfo`, numpy-only) into a
:class:`LayerModel`: the pruning groups (a :class:`~hwprune.layouts.GroupLayout`), each group's
cost in every resource, and the exact resource use of a given kernel. A pruning step is
:meth:`Target.select`: by default one global multi-resource knapsack over the groups of all
layers; a target whose costs are not additive (PIM cycles, systolic packing) overrides it.

Adding a target means writing a new module with a ``Target`` subclass; neither the core nor the
Keras callback changes.

Example:
    >>> import numpy as np
    >>> from hwprune.targets.base import LayerInfo, Target, LayerModel
    >>> from hwprune.layouts import neuron_layout
    >>> class Params(Target):
    ...     name = 'params'
    ...     resources = ('params',)
    ...     def build_layer_model(self, info, resources):
    ...         layout = neuron_layout(info.kind, info.kernel_shape)
    ...         return LayerModel(info, layout, layout.sizes()[:, None].astype(float), ('params',))
    >>> m = Params().layer_model(LayerInfo('fc', 'dense', (4, 3)), ('params',))
    >>> m.usage(np.ones((4, 3)))
    array([12.])
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from .._validation import check_int, check_number, invalid
from ..knapsack import solve_knapsack
from ..kinds import KINDS, check_kind, get_kind
from ..layouts import GroupLayout, check_kernel_shape, mult_shape

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LayerInfo:
    """Framework-free description of one prunable layer.

    Attributes:
        name: the layer's name (hls4ml configs are keyed by it).
        kind: ``'dense'``, ``'conv1d'``, ``'conv2d'``, ``'depthwise1d'`` or ``'depthwise2d'``.
        kernel_shape: the Keras kernel shape (``(n_in, n_out)``, ``(fw, C, F)``, ``(fh, fw, C, F)``,
            depthwise ``(fw, C, dm)``, ``(fh, fw, C, dm)``).
        input_shape: per-sample input shape, channels last (``None`` if unknown).
        output_shape: per-sample output shape, channels last (``None`` if unknown).
        strides: convolution strides (one per spatial axis).
        padding: ``'valid'`` or ``'same'``.
        use_bias: whether the layer adds a bias.
        class_name: the framework's class name (``'Dense'``, ``'QConv2D'``, ...), for configs.
        inputs: names of the prunable layers whose outputs feed this one directly or through
            shape-preserving layers (used by channel-pruning targets); empty if unknown.
        layer: name of the framework layer that holds the kernel, when it differs from ``name``
            (the two kernels of a SeparableConv ``'sep'`` are units ``'sep_depthwise'`` and
            ``'sep_pointwise'`` of layer ``'sep'``); ``''``: the same as ``name``.
        part: for a kernel hls4ml splits out of its layer into a node of its own, which one
            (``'depthwise'`` or ``'pointwise'``: its key in the layer's ``Precision`` entry);
            ``None`` otherwise.
        weight_bits: width of the type the framework quantizes the kernel to (a QKeras kernel
            quantizer), which hls4ml uses whatever its config says; ``None`` for float kernels.
    """

    name: str
    kind: str
    kernel_shape: tuple
    input_shape: tuple | None = None
    output_shape: tuple | None = None
    strides: tuple = (1,)
    padding: str = 'valid'
    use_bias: bool = True
    class_name: str = ''
    inputs: tuple = ()
    layer: str = ''
    part: str | None = None
    weight_bits: int | None = None

    def __post_init__(self):
        object.__setattr__(self, 'kind', check_kind(self.kind))
        object.__setattr__(self, 'kernel_shape', check_kernel_shape(self.kind, self.kernel_shape))
        for attr in ('input_shape', 'output_shape'):
            value = getattr(self, attr)
            if value is not None:
                object.__setattr__(self, attr, tuple(int(v) for v in value))
        object.__setattr__(self, 'strides', tuple(int(s) for s in np.atleast_1d(self.strides)))
        if self.padding not in ('valid', 'same', 'causal'):
            raise invalid('padding', self.padding, "'valid' or 'same'")
        object.__setattr__(self, 'inputs', tuple(self.inputs))
        object.__setattr__(self, 'layer', str(self.layer or self.name))
        if self.weight_bits is not None:
            object.__setattr__(self, 'weight_bits', check_int('weight_bits', self.weight_bits, 1))

    @property
    def mult_shape(self) -> tuple[int, int]:
        """``(n_in, n_out)`` of hls4ml's matrix multiplication for this kernel."""
        return mult_shape(self.kind, self.kernel_shape)

    @property
    def n_weights(self) -> int:
        return int(np.prod(self.kernel_shape))

    @property
    def output_positions(self) -> int:
        """Output pixels the kernel is applied at (1 for Dense or unknown shapes)."""
        if get_kind(self.kind).spatial == 0 or self.output_shape is None:
            return 1
        return int(np.prod(self.output_shape[:-1]))


class LayerModel:
    """A target's view of one layer: pruning groups, their costs, exact usage.

    Args:
        info: the layer.
        layout: the pruning groups (the knapsack's items for this layer).
        group_costs: ``(n_groups, n_resources)`` cost of each group in each resource.
        resources: names of the resources, in the column order of ``group_costs``.
        fixed: ``(n_resources,)`` cost that no pruning removes (default zeros).
        details: extra JSON-native facts for reports (strategy, reuse factor, ...).

    The default :meth:`usage` is ``fixed + alive_groups @ group_costs``; targets with
    non-additive costs override it.
    """

    def __init__(self, info: LayerInfo, layout: GroupLayout, group_costs, resources: Sequence[str],
                 fixed=None, details: Mapping[str, Any] | None = None):
        self.info = info
        self.layout = layout
        self.resources = tuple(resources)
        costs = np.asarray(group_costs, dtype=np.float64)
        if costs.ndim == 1:
            costs = costs[:, None]
        if costs.shape != (layout.n_groups, len(self.resources)):
            raise invalid('group_costs', costs.shape, f'shape ({layout.n_groups}, {len(self.resources)})')
        self.group_costs = costs
        self.fixed = np.zeros(len(self.resources)) if fixed is None else np.asarray(fixed, dtype=np.float64)
        self.details = dict(details or {})

    def alive(self, kernel, atol: float = 0.0) -> np.ndarray:
        """Which groups still hold a nonzero weight."""
        return self.layout.alive(kernel, atol)

    def usage(self, kernel) -> np.ndarray:
        """Exact use of every resource for these weights, shape ``(n_resources,)``."""
        return self.fixed + self.alive(kernel).astype(np.float64) @ self.group_costs

    def usage_dict(self, kernel) -> dict[str, float]:
        return {r: float(v) for r, v in zip(self.resources, self.usage(kernel))}

    def __repr__(self):
        return f'{type(self).__name__}({self.info.name!r}, {self.layout!r}, resources={self.resources})'


class WeightedLayerModel(LayerModel):
    """A layer model whose resources are folded into one weighted resource, ``'weighted'``.

    What ``resources={'DSP': 1, 'BRAM': 4}`` asks for: one constraint on ``DSP + 4 * BRAM``.
    Made by :meth:`Target.weighted`, which refuses targets whose :meth:`Target.select` needs
    their own layer models.

    Args:
        base: the target's own model of the layer.
        weights: the weight of each of ``base.resources``.

    Attributes:
        base: the target's own model.
        weights: ``{resource: weight}``.

    Example:
        >>> from hwprune.layouts import neuron_layout
        >>> base = LayerModel(LayerInfo('fc', 'dense', (4, 2)), neuron_layout('dense', (4, 2)),
        ...                   [[4.0, 1.0], [4.0, 1.0]], ('params', 'units'))
        >>> WeightedLayerModel(base, {'params': 1.0, 'units': 10.0}).usage(np.ones((4, 2)))
        array([28.])
    """

    def __init__(self, base: LayerModel, weights: Mapping[str, float]):
        self.base = base
        self.weights = {r: float(weights.get(r, 0.0)) for r in base.resources}
        vector = np.array(list(self.weights.values()))
        super().__init__(base.info, base.layout, base.group_costs @ vector[:, None], ('weighted',),
                         fixed=[float(np.asarray(base.fixed) @ vector)], details=base.details)

    def usage(self, kernel) -> np.ndarray:
        return np.array([float(self.base.usage(kernel) @ np.array(list(self.weights.values())))])


@dataclass
class LayerState:
    """What a pruning step knows about one layer (numpy only).

    Attributes:
        model: the target's :class:`LayerModel` of the layer.
        kernel: current kernel values.
        keep: current per-group keep flags (``False`` = already pruned).
        importance: per-group importance, normalised per layer.
        gradient: mean gradient of the loss w.r.t. the kernel, if measured.
        required: per-group flags of groups that must be kept (e.g. the last group of an output
            neuron, whose loss would silence a class); ``None``: none.
    """

    model: LayerModel
    kernel: np.ndarray
    keep: np.ndarray
    importance: np.ndarray
    gradient: np.ndarray | None = None
    required: np.ndarray | None = None
    extra: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.model.info.name


class Target:
    """Base class of hardware targets.

    Subclasses set :attr:`name` and :attr:`resources` and implement :meth:`build_layer_model`; they
    may override :meth:`select` (the pruning decision) and :meth:`summary` (report extras).
    """

    #: Short name used in reports and configs.
    name = 'target'
    #: Every resource this target can cost.
    resources: tuple = ()
    #: Resources constrained when the user names none.
    default_resources: tuple = ()
    #: Layer kinds the target has a cost model for; :meth:`layer_model` returns ``None`` for others.
    kinds: tuple = KINDS
    #: Whether :meth:`select` works on :class:`WeightedLayerModel` (one weighted resource); false
    #: for targets whose decision needs their own layer models (PIM cycles, systolic packing).
    supports_weighted: bool = True

    def _models_kind(self, info: LayerInfo) -> bool:
        """Whether the target costs layers of ``info.kind``; logs once per layer when it does not."""
        if info.kind in self.kinds:
            return True
        seen = self.__dict__.setdefault('_unmodelled', set())
        if info.name not in seen:
            seen.add(info.name)
            logger.warning('Layer %r (%s): target %r has no cost model for %s layers; it is left unpruned.',
                           info.name, info.class_name or info.kind, self.name, info.kind)
        return False

    def check_resources(self, resources) -> tuple[str, ...]:
        """Validate resource names against :attr:`resources` (case-insensitive)."""
        if resources is None:
            resources = self.default_resources or self.resources[:1]
        if isinstance(resources, str):
            resources = (resources,)
        try:
            resources = tuple(resources)
        except TypeError:
            raise invalid('resources', resources, f'a resource name or a list of resource names of target '
                          f'{self.name!r}', TypeError) from None
        if not resources:
            raise invalid('resources', resources, f'at least one resource name of target {self.name!r}: '
                          + ', '.join(repr(x) for x in self.resources))
        lookup = {r.lower(): r for r in self.resources}
        out = []
        for r in resources:
            if not isinstance(r, str) or r.lower() not in lookup:
                raise invalid('resources', r, f'resource names of target {self.name!r}: '
                              + ', '.join(repr(x) for x in self.resources))
            out.append(lookup[r.lower()])
        return tuple(dict.fromkeys(out))

    def check_weights(self, weights) -> dict[str, float]:
        """Validate a weighted resource dict (``{'DSP': 1, 'BRAM': 4}``) for this target.

        Returns ``{resource: weight}`` with the target's spelling of each resource; raises a
        TypeError naming the target if it does not support weighted resources.
        """
        if not isinstance(weights, Mapping) or not weights:
            raise invalid('resources', weights, 'a non-empty dict of resource weights', TypeError)
        if not self.supports_weighted:
            raise invalid('resources', dict(weights), f'a resource name or a list of them: target {self.name!r} '
                          'does not support weighted resource dicts', TypeError)
        checked = {self.check_resources([r])[0]: check_number(f'resources[{r!r}]', w, 0.0) for r, w in weights.items()}
        if not any(checked.values()):
            raise invalid('resources', dict(weights), 'weights with at least one above 0')
        return checked

    def explain_irreducible(self, resource: str, models: Sequence[LayerModel]) -> str:
        """Why no pruning group of these layer models costs ``resource`` (for a warning)."""
        return f'no pruning group of target {self.name!r} costs {resource}'

    def weighted(self, model: LayerModel, weights: Mapping[str, float]) -> WeightedLayerModel:
        """``model`` with its resources folded into one weighted resource (see :meth:`check_weights`)."""
        self.check_weights(weights)
        return WeightedLayerModel(model, weights)

    def layer_model(self, info: LayerInfo, resources: Sequence[str]) -> LayerModel | None:
        """The layer's groups and costs in ``resources``; ``None`` if the target cannot prune it.

        Validates ``resources``, returns ``None`` (logged once per layer) for a kind outside
        :attr:`kinds`, and otherwise returns :meth:`build_layer_model`, which targets implement.
        """
        resources = self.check_resources(resources)
        if not self._models_kind(info):
            return None
        return self.build_layer_model(info, resources)

    def build_layer_model(self, info: LayerInfo, resources: tuple[str, ...]) -> LayerModel | None:
        """The model of a layer whose kind is in :attr:`kinds` (``resources`` already validated);
        ``None`` if the target cannot prune this particular layer."""
        raise NotImplementedError

    def select(self, states: Sequence[LayerState], capacity, *, method: str = 'auto',
               regrowth: bool = False) -> list[np.ndarray]:
        """Decide which groups to keep under ``capacity`` (one value per resource).

        The default is one global multi-resource 0/1 knapsack over the groups of all layers:
        maximise the summed (per-layer normalised) importance subject to the summed group costs
        plus fixed costs fitting ``capacity``. Groups already pruned stay pruned unless
        ``regrowth``; groups of zero importance are never bought; ``required`` groups are always
        kept and their cost is taken from the capacity first.

        Returns:
            one boolean keep-array per layer, shape ``(n_groups,)``.
        """
        capacity = np.asarray(capacity, dtype=np.float64)
        values, costs, owners, forced = [], [], [], []
        fixed = np.zeros_like(capacity)
        for i, state in enumerate(states):
            fixed += state.model.fixed
            n = state.model.layout.n_groups
            candidate = np.ones(n, bool) if regrowth else state.keep.astype(bool)
            values.append(np.where(candidate, state.importance, 0.0))
            costs.append(state.model.group_costs)
            owners.append(np.full(n, i))
            forced.append(np.zeros(n, bool) if state.required is None else np.asarray(state.required, bool))
        values = np.concatenate(values) if values else np.zeros(0)
        costs = np.concatenate(costs) if costs else np.zeros((0, capacity.size))
        owners = np.concatenate(owners) if owners else np.zeros(0, int)
        forced = np.concatenate(forced) if forced else np.zeros(0, bool)
        room = np.maximum(capacity - fixed - costs[forced].sum(axis=0), 0.0)
        buyable = (values > 0) & ~forced
        result = solve_knapsack(values[buyable], costs[buyable], room, method=method)
        chosen = forced.copy()
        chosen[np.flatnonzero(buyable)[result.selected]] = True
        logger.debug('knapsack: %d/%d groups kept, value %.4g (bound %.4g, %s, %.3fs)', chosen.sum(),
                     chosen.size, result.value, result.upper_bound, result.method, result.seconds)
        self.last_solution = result
        return [chosen[owners == i] for i in range(len(states))]

    def summary(self, model: LayerModel, kernel) -> dict[str, Any]:
        """Extra per-layer facts for reports (JSON-native); default: the model's details."""
        return dict(model.details)

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**dict(config))

    def __repr__(self):
        args = ', '.join(f'{k}={v!r}' for k, v in self.get_config().items())
        return f'{type(self).__name__}({args})'


__all__ = ['LayerInfo', 'LayerModel', 'LayerState', 'Target', 'WeightedLayerModel']
