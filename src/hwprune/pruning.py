"""The pruning step, over numpy arrays: importance -> knapsack -> dead-unit rounds -> masks.

A :class:`Pruner` holds what a pruning run knows about each kernel between steps
(:class:`PrunedLayer`: the target's cost model, which groups are still kept, which inputs read a
unit that lost all its weights) and runs one step on the current kernels:

1. score every group (:func:`hwprune.importance.group_importance`, normalised per layer); weights
   that read a dead unit's constant or compute a unit nobody reads are worth nothing;
2. keep, with ``protect_outputs``, a path of live groups from every output unit back to the input;
3. solve the target's selection (by default one multi-resource knapsack over all layers) under
   the step's capacity;
4. find the units the selection leaves without weights (they emit a constant) and the units no
   consumer reads any more, discount the weights that only serve them, and select again with the
   budget those weights held (up to :data:`DEAD_UNIT_ROUNDS` rounds);
5. fold each new dead unit's constant into its consumer's bias (a framework hook: the numbers are
   the framework's) and mask the weights reading it, so the resources the step reports are those
   of the stripped model.

The framework adapter (:class:`hwprune.keras.HardwarePruning`) supplies kernels, gradients and the
fold hook and applies the returned masks; nothing here imports a framework.

Example:
    >>> import numpy as np
    >>> from hwprune.targets.base import LayerInfo, LayerModel, Target
    >>> from hwprune.layouts import unstructured_layout
    >>> class Params(Target):
    ...     name, resources = 'params', ('params',)
    ...     def build_layer_model(self, info, resources):
    ...         layout = unstructured_layout(info.kind, info.kernel_shape)
    ...         return LayerModel(info, layout, np.ones(layout.n_groups), ('params',))
    >>> target = Params()
    >>> info = LayerInfo('fc', 'dense', (2, 2))
    >>> pruner = Pruner(target, [PrunedLayer(info, target.layer_model(info, ['params']))], protect_outputs=False)
    >>> result = pruner.step([np.array([[1.0, -4.0], [0.5, 3.0]])], capacity=[2])
    >>> result.masks[0]
    array([[0., 1.],
           [0., 1.]], dtype=float32)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from ._validation import check_bool, check_choice, invalid
from .importance import METHODS as IMPORTANCE_METHODS
from .importance import NORMALIZATIONS, group_importance, normalize, output_norms
from .kinds import get_kind
from .targets.base import LayerInfo, LayerModel, LayerState, Target

logger = logging.getLogger(__name__)

#: Selection rounds a step may take to give the budget of weights that serve dead or unread
#: units to weights that matter.
DEAD_UNIT_ROUNDS = 4

#: ``fold(producer index, consumer index, units) -> bool``: add the constant that the producer's
#: ``units`` (a boolean array over its output units) now emit to the consumer's bias; True if exact.
FoldHook = Callable[[int, int, np.ndarray], bool]


def dead_units(kernel_mask: np.ndarray) -> np.ndarray:
    """Output units (last axis) whose every weight is masked.

    Example:
        >>> dead_units(np.array([[1.0, 0.0], [1.0, 0.0]]))
        array([False,  True])
    """
    return ~np.any(kernel_mask.reshape(-1, kernel_mask.shape[-1]) != 0, axis=0)


def unread_units(consumer_mask: np.ndarray) -> np.ndarray:
    """Input channels (axis -2) of a consumer whose every weight is masked: nobody reads them."""
    channels = np.moveaxis(consumer_mask, -2, 0).reshape(consumer_mask.shape[-2], -1)
    return ~np.any(channels != 0, axis=1)


def output_mask(kernel_shape, units: np.ndarray) -> np.ndarray:
    """Kernel-shaped 0/1 mask that zeroes every weight of ``units`` (the last axis)."""
    mask = np.ones(kernel_shape, np.float32)
    mask[..., units] = 0.0
    return mask


def input_mask(kernel_shape, dead_inputs: np.ndarray) -> np.ndarray:
    """Kernel-shaped 0/1 mask that zeroes the weights reading ``dead_inputs`` (channel axis -2)."""
    mask = np.ones(kernel_shape, np.float32)
    index = [slice(None)] * len(kernel_shape)
    index[-2] = dead_inputs
    mask[tuple(index)] = 0.0
    return mask


def sparsity(kernels: Sequence[np.ndarray]) -> float:
    """Fraction of zero weights over the kernels."""
    total = sum(int(np.size(k)) for k in kernels)
    zeros = sum(int(np.size(k) - np.count_nonzero(k)) for k in kernels)
    return zeros / max(total, 1)


@dataclass
class PrunedLayer:
    """What a pruning run keeps about one kernel between steps.

    Attributes:
        info: the kernel's description.
        model: the target's cost model of it (in the constrained resources).
        keep: per-group keep flags (``False``: pruned).
        dead_inputs: per input channel (kernel axis -2): it reads a unit that lost every weight and
            whose constant was folded into this layer's bias, so its weights are masked.
        is_output: the kernel's units reach a model output one to one (``protect_outputs`` keeps a
            group of each).
    """

    info: LayerInfo
    model: LayerModel
    keep: np.ndarray | None = None
    dead_inputs: np.ndarray | None = None
    is_output: bool = False

    def __post_init__(self):
        if self.keep is None:
            self.keep = np.ones(self.model.layout.n_groups, bool)
        if self.dead_inputs is None:
            self.dead_inputs = np.zeros(self.info.kernel_shape[-2], bool)

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def kernel_shape(self) -> tuple:
        return tuple(self.info.kernel_shape)

    @property
    def n_units(self) -> int:
        """Output units of the kernel: its last axis (a depthwise kernel: channels x multiplier)."""
        shape = self.kernel_shape
        return shape[-2] * shape[-1] if get_kind(self.info.kind).depthwise else shape[-1]


@dataclass
class StepResult:
    """What one pruning step did.

    Attributes:
        masks: the kernel-shaped 0/1 masks to apply, one per layer.
        keeps: the per-group keep flags chosen.
        rounds: selection rounds taken.
    """

    masks: list
    keeps: list
    rounds: int = 1
    extra: dict = field(default_factory=dict)


class Pruner:
    """Runs pruning steps over a fixed set of kernels.

    Args:
        target: the :class:`~hwprune.targets.base.Target` that costs and selects groups.
        layers: one :class:`PrunedLayer` per kernel, in the order kernels are passed to :meth:`step`.
        links: ``(producer index, consumer index)`` pairs along which a dead producer unit is a
            constant consumer input that can be folded (direct Dense/Conv links; see
            :func:`hwprune.keras.deadunits.find_links`).
        importance: ``'l2'``, ``'l1'``, ``'taylor'`` (needs gradients at each step) or
            ``'activation'`` (needs the RMS of each layer's inputs at each step; a layer without
            it is scored by ``'l2'``; a producer of a link is also weighed by how much its consumer
            reads each of its outputs, :func:`hwprune.importance.output_norms`).
        normalization: per-layer normalisation of importance: ``'max'`` (default: each layer's
            scores over its largest), ``'mean'``, ``'sum'`` or ``'none'``
            (:func:`hwprune.importance.normalize`).
        method: knapsack method (:func:`hwprune.solve_knapsack`).
        regrowth: groups pruned at one step may come back at a later one.
        protect_outputs: keep one group of every output unit and a path of live groups back to
            the input.
        weights: ``{resource: weight}``: one constraint on the weighted sum of the models'
            resources instead of one per resource.
    """

    def __init__(self, target: Target, layers: Sequence[PrunedLayer], links: Sequence[tuple] = (), *,
                 importance: str = 'l2', normalization: str = 'max', method: str = 'auto', regrowth: bool = False,
                 protect_outputs: bool = True, weights: Mapping[str, float] | None = None):
        if not isinstance(target, Target):
            raise invalid('target', target, 'a hwprune Target', TypeError)
        self.target = target
        self.layers = list(layers)
        if not self.layers:
            raise invalid('layers', [], 'at least one layer to prune')
        n = len(self.layers)
        self.links = [(int(p), int(c)) for p, c in links]
        for p, c in self.links:
            if not (0 <= p < n and 0 <= c < n) or p == c:
                raise invalid('links', (p, c), f'pairs of distinct layer indices below {n}')
        self.importance = check_choice('importance', importance, IMPORTANCE_METHODS)
        self.normalization = check_choice('normalization', normalization, NORMALIZATIONS)
        self.method = method
        self.regrowth = check_bool('regrowth', regrowth)
        self.protect_outputs = check_bool('protect_outputs', protect_outputs)
        self.weights = None if weights is None else target.check_weights(weights)
        base = self.layers[0].model.resources
        self.constrained = ('weighted',) if self.weights is not None else tuple(base)
        #: Resources :meth:`usage` reports, in column order (the weighted sum first, if any).
        self.reported = (('weighted',) + tuple(base)) if self.weights is not None else tuple(base)
        self._selection_models = [target.weighted(layer.model, self.weights) if self.weights is not None
                                  else layer.model for layer in self.layers]

    # ------------------------------------------------------------------ accounting
    def usage(self, kernels: Sequence[np.ndarray]) -> np.ndarray:
        """Use of every reported resource per layer for these kernels, shape ``(layers, resources)``.

        Pass the kernels as the hardware holds them (e.g. after a quantizer).
        """
        self._check_kernels(kernels)
        rows = np.array([np.asarray(layer.model.usage(k), np.float64) for layer, k in zip(self.layers, kernels)],
                        dtype=np.float64).reshape(len(self.layers), -1)
        if self.weights is not None:
            rows = np.concatenate([rows @ np.array(list(self.weights.values()))[:, None], rows], axis=1)
        return rows

    def _check_kernels(self, kernels) -> None:
        if len(kernels) != len(self.layers):
            raise invalid('kernels', len(kernels), f'one kernel per layer ({len(self.layers)})')
        for layer, kernel in zip(self.layers, kernels):
            if tuple(np.shape(kernel)) != layer.kernel_shape:
                raise invalid('kernels', np.shape(kernel), f'the kernel shape {layer.kernel_shape} of {layer.name!r}')

    # ------------------------------------------------------------------ the step
    def step(self, kernels: Sequence[np.ndarray], capacity, gradients: Sequence[np.ndarray] | None = None,
             fold: FoldHook | None = None, input_rms: Sequence[np.ndarray | None] | None = None) -> StepResult:
        """One pruning step: choose the groups to keep under ``capacity`` and return the masks.

        Updates each layer's ``keep`` and ``dead_inputs``.

        Args:
            kernels: current kernel values, one per layer.
            capacity: one value per constrained resource (:attr:`constrained`).
            gradients: mean loss gradients per kernel (Taylor importance).
            fold: the hook that folds dead units' constants into consumer biases; without it dead
                units keep the weights reading them.
            input_rms: per layer, the RMS of each input channel (kernel axis -2) on sample data,
                or ``None`` where unknown (``'activation'`` importance).
        """
        self._check_kernels(kernels)
        kernels = [np.asarray(k) for k in kernels]
        for layer, kernel in zip(self.layers, kernels):
            if not np.all(np.isfinite(kernel)):
                raise invalid('kernels', layer.name, f'finite weights (layer {layer.name!r} has NaN or inf weights; '
                              'lower the learning rate)')
        capacity = np.atleast_1d(np.asarray(capacity, dtype=np.float64))
        if capacity.shape != (len(self.constrained),):
            raise invalid('capacity', capacity.tolist(), f'one value per constrained resource {self.constrained}')
        if gradients is None:
            if self.importance == 'taylor':
                raise invalid('gradients', None, "gradients of the loss for importance='taylor'")
            gradients = [None] * len(self.layers)
        input_rms = self._check_input_rms(input_rms)

        # Rounds: a unit left with no weights in (dead) or none out (unread) makes the weights that
        # read it or compute it worthless, so the knapsack runs again without them. Each round's
        # selection, with the weights of units nobody reads dropped (within budget: it only
        # removes), is worth the importance of the groups it still uses; the best round wins
        # (the rounds need not converge: freed budget can move to another layer and strand others).
        _, base = self._live_scores(kernels, gradients, [layer.dead_inputs for layer in self.layers],
                                    input_rms=input_rms)
        dead_in = [layer.dead_inputs.copy() for layer in self.layers]
        unread = [np.zeros(layer.kernel_shape[-1], bool) for layer in self.layers]
        best, rounds = None, 0
        for rounds in range(1, DEAD_UNIT_ROUNDS + 1):
            keeps = self.select(kernels, capacity, gradients, dead_in, unread, input_rms)
            masks = [layer.model.layout.expand(k.astype(np.float32), fill=1.0) * output_mask(layer.kernel_shape, u)
                     for layer, k, u in zip(self.layers, keeps, unread)]
            cleaned = self._drop_unread(masks)
            worth = self._worth(base, cleaned)
            if best is None or worth >= best[0]:
                best = (worth, keeps, cleaned)
            new_dead, new_unread = self._dead_after(masks)
            if all(np.array_equal(a, b) for a, b in zip(new_dead + new_unread, dead_in + unread)):
                break
            dead_in, unread = new_dead, new_unread
        _, keeps, masks = best
        # only units really dead in the final selection are folded; a unit whose every kept weight
        # read folded units is dead in turn (down the links, one layer per pass)
        for _ in range(len(self.layers)):
            before = [layer.dead_inputs.copy() for layer in self.layers]
            dead_in, _ = self._dead_after([m * input_mask(layer.kernel_shape, layer.dead_inputs)
                                           for layer, m in zip(self.layers, masks)])
            self._fold(dead_in, fold)
            if all(np.array_equal(a, layer.dead_inputs) for a, layer in zip(before, self.layers)):
                break
        final = []
        for layer, keep, mask in zip(self.layers, keeps, masks):
            # groups the unread units held are pruned too (they are zero in the mask)
            layer.keep = np.asarray(keep, bool) & layer.model.layout.alive(mask)
            final.append(mask * input_mask(layer.kernel_shape, layer.dead_inputs))
        return StepResult(final, [layer.keep.copy() for layer in self.layers], rounds)

    def _worth(self, scores, masks) -> float:
        """Importance of the groups ``masks`` use (weights reading a dead unit are folded: not used)."""
        dead, _ = self._dead_after(masks)
        return float(sum(np.sum(score[layer.model.layout.alive(mask * input_mask(layer.kernel_shape, d))])
                         for layer, score, mask, d in zip(self.layers, scores, masks, dead)))

    def _drop_unread(self, masks):
        """Zero the weights of units no consumer reads, until none is left (the selection rounds
        may stop with some: each round's knapsack can buy groups that leave others unread).
        Only removes weights, so the use stays within the step's budget, and the use reported is
        that of the model :func:`hwprune.strip` builds."""
        masks = list(masks)
        while True:
            _, unread = self._dead_after(masks)
            changed = False
            for i, (layer, gone) in enumerate(zip(self.layers, unread)):
                holding = gone & ~dead_units(masks[i])
                if holding.any():
                    masks[i] = masks[i] * output_mask(layer.kernel_shape, gone)
                    changed = True
            if not changed:
                return masks

    def _dead_after(self, masks):
        """Inputs reading a unit with no weights left (a constant), and units no consumer reads."""
        dead = [layer.dead_inputs.copy() for layer in self.layers]
        unread = [np.zeros(layer.kernel_shape[-1], bool) for layer in self.layers]
        for p, c in self.links:
            dead[c] |= dead_units(masks[p])
            unread[p] |= unread_units(masks[c])
        return dead, unread

    def _fold(self, dead_in, fold: FoldHook | None) -> None:
        """Fold the constants of newly dead units into their consumers' biases, once per unit."""
        for p, c in self.links:
            consumer = self.layers[c]
            new = dead_in[c] & ~consumer.dead_inputs
            if not new.any():
                continue
            if fold is None or not fold(p, c, new):
                # not exact: the consumer keeps those weights (strip removes the units later)
                logger.debug('hwprune: cannot fold dead units of %r into %r exactly; keeping their weights.',
                             self.layers[p].name, consumer.name)
                continue
            consumer.dead_inputs |= new

    def _check_input_rms(self, input_rms) -> list:
        if input_rms is None:
            if self.importance == 'activation':
                raise invalid('input_rms', None, "the RMS of each layer's inputs for importance='activation' "
                              '(None for a layer whose inputs are unknown)')
            return [None] * len(self.layers)
        if len(input_rms) != len(self.layers):
            raise invalid('input_rms', len(input_rms), f'one entry per layer ({len(self.layers)})')
        if self.importance != 'activation' and any(r is not None for r in input_rms):
            raise invalid('input_rms', [None if r is None else np.shape(r) for r in input_rms],
                          f"None for importance={self.importance!r} (only 'activation' reads it)")
        return list(input_rms)

    def select(self, kernels, capacity, gradients=None, dead_in=None, unread=None,
               input_rms=None) -> list[np.ndarray]:
        """The target's selection for these kernels: one boolean keep-array per layer."""
        gradients = gradients if gradients is not None else [None] * len(self.layers)
        input_rms = self._check_input_rms(input_rms)
        dead_in = dead_in if dead_in is not None else [layer.dead_inputs for layer in self.layers]
        unread = unread if unread is not None else [np.zeros(layer.kernel_shape[-1], bool) for layer in self.layers]
        lives, values = self._live_scores(kernels, gradients, dead_in, unread, input_rms)
        # without regrowth a pruned group is worth nothing; with it, whatever its weights are now
        scores = values if self.regrowth else [value * layer.keep for value, layer in zip(values, self.layers)]
        required = self.required_paths(lives, scores)
        states = [LayerState(model=model, kernel=live, keep=layer.keep.copy(), importance=score, gradient=grad,
                             required=req)
                  for layer, model, live, score, grad, req in zip(self.layers, self._selection_models, lives, scores,
                                                                  gradients, required)]
        return self.target.select(states, capacity, method=self.method, regrowth=self.regrowth)

    def _live_scores(self, kernels, gradients, dead_in, unread=None, input_rms=None) -> tuple[list, list]:
        """The kernels without the weights that read a constant (``dead_in``) or compute a unit
        nobody reads (``unread``), which are worth nothing, and every group's normalised importance."""
        lives = []
        for i, (kernel, dead) in enumerate(zip(kernels, dead_in)):
            live = kernel * input_mask(kernel.shape, dead)
            if unread is not None:
                live = live * output_mask(kernel.shape, unread[i])
            lives.append(live)
        input_rms = input_rms if input_rms is not None else [None] * len(self.layers)
        reads = self._output_reads(lives) if self.importance == 'activation' else [None] * len(self.layers)
        values = []
        for layer, live, grad, rms, read in zip(self.layers, lives, gradients, input_rms, reads):
            # 'activation' on a layer whose inputs could not be measured: its weights alone
            if self.importance == 'activation' and rms is None:
                score = group_importance(live, layer.model.layout, 'l2')
            else:
                score = group_importance(live, layer.model.layout, self.importance, grad, rms, read)
            values.append(normalize(score, self.normalization))
        return lives, values

    def _output_reads(self, kernels) -> list[np.ndarray | None]:
        """Per layer, how much its consumers read each of its outputs (the L2 norm of their weights
        on it, over every linked consumer), or ``None`` for a layer no link reads."""
        squares: list = [None] * len(self.layers)
        for p, c in self.links:
            norms = output_norms(kernels[c])
            if norms.shape[0] != self.layers[p].kernel_shape[-1]:
                continue
            squares[p] = norms ** 2 if squares[p] is None else squares[p] + norms ** 2
        return [None if sq is None else np.sqrt(sq) for sq in squares]

    def required_paths(self, kernels, scores) -> list[np.ndarray | None]:
        """With ``protect_outputs``: for every output unit its best live group, and back along the
        links, for every unit those groups read, the best live group of that unit, so that each
        output keeps a path to the input."""
        required: list = [None] * len(self.layers)
        if not self.protect_outputs:
            return required
        producer_of = {c: p for p, c in self.links}
        pending = [(i, np.arange(layer.n_units)) for i, layer in enumerate(self.layers) if layer.is_output]
        while pending:
            i, units = pending.pop()
            layer = self.layers[i]
            ids = layer.model.layout.ids.reshape(-1, layer.n_units)
            weights = np.abs(kernels[i].reshape(-1, layer.n_units))
            live = weights != 0
            if required[i] is None:
                required[i] = np.zeros(layer.model.layout.n_groups, bool)
            inputs = set()
            fan_in = layer.kernel_shape[-2]
            for unit in units:
                rows = np.flatnonzero(live[:, unit])
                groups = ids[rows, unit]
                ok = groups >= 0
                rows, groups = rows[ok], groups[ok]
                if not groups.size or scores[i][groups].max() <= 0:
                    continue
                best = groups[np.argmax(scores[i][groups])]
                required[i][best] = True
                # the path goes on through the group's largest weight (a group can read several inputs)
                members = rows[groups == best]
                inputs.add(int(members[np.argmax(weights[members, unit])] % fan_in))  # rows: (taps..., channel)
            if i in producer_of and inputs:
                pending.append((producer_of[i], np.array(sorted(inputs))))
        return required

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict:
        """Per-layer keep flags and folded dead inputs (numpy arrays), by layer name."""
        return {'layers': [layer.name for layer in self.layers],
                'keeps': [layer.keep.copy() for layer in self.layers],
                'dead_inputs': [layer.dead_inputs.copy() for layer in self.layers]}

    def set_state(self, state: Mapping) -> None:
        """Restore :meth:`get_state` (same layers, same shapes)."""
        names = [layer.name for layer in self.layers]
        if list(state['layers']) != names:
            raise invalid('state', list(state['layers']), f'the state of a run over layers {names}')
        dead = state.get('dead_inputs') or [np.zeros(layer.kernel_shape[-2], bool) for layer in self.layers]
        for layer, keep, d in zip(self.layers, state['keeps'], dead):
            keep, d = np.asarray(keep, bool), np.asarray(d, bool)
            if keep.shape != layer.keep.shape or d.shape != layer.dead_inputs.shape:
                raise invalid('state', layer.name, f'keep flags of shape {layer.keep.shape} and dead inputs of shape '
                              f'{layer.dead_inputs.shape} for layer {layer.name!r} (is the state from another model?)')
            layer.keep, layer.dead_inputs = keep, d


__all__ = ['DEAD_UNIT_ROUNDS', 'FoldHook', 'PrunedLayer', 'Pruner', 'StepResult', 'dead_units', 'input_mask',
           'output_mask', 'sparsity', 'unread_units']
