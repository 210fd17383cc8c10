"""``HardwarePruning``: the Keras callback that prunes the groups a target allocates.

At each pruning step (every ``frequency`` epochs or optimizer steps of the budget schedule):
importance per group -> one global multi-resource knapsack over all layers -> masks. Between
steps a group-lasso penalty over the same groups pushes whole groups towards zero; masks stay
enforced after every optimizer update through the kernels' constraints.

The callback is the Keras face of framework-free parts: the pruning step is
:class:`hwprune.pruning.Pruner`, the accuracy guard :class:`hwprune.guard.AccuracyGuard`, the
saved state :mod:`hwprune.state`; this module binds them to Keras (kernels, masks, penalty,
hooks, logs).

Example::

    import hls4ml, hwprune
    cfg = hls4ml.utils.config_from_keras_model(model, granularity='name', default_reuse_factor=2)
    # DSP budget falling to 10 % over 85 % of the epochs; group lasso scaled to the gradients on (xv, yv)
    pruning = hwprune.HardwarePruning(cfg, budget=0.1, validation_data=(xv, yv))
    model.fit(x, y, epochs=150, validation_data=(xv, yv), callbacks=[pruning])
    pruning.history[-1]['usage']          # {'DSP': ...}
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import math
import os
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import tensorflow as tf

from .._validation import check_bool, check_choice, check_int, check_number, invalid
from ..budgets import AUTO, BudgetSchedule, as_schedule, deserialize, serialize
from ..guard import AccuracyGuard, Snapshot, default_mode
from ..importance import METHODS as IMPORTANCE_METHODS
from ..importance import NORMALIZATIONS
from ..knapsack import METHODS as KNAPSACK_METHODS
from ..pruning import PrunedLayer, Pruner, sparsity
from ..state import load_state, save_state
from ..targets.base import Target
from ..targets.fpga import FPGATarget
from ..targets.hls_config import load_hls_config
from . import hooks, topology
from .activations import InputProbe
from .deadunits import find_links, fold_hook
from .layers import KerasUnit, resolve_units
from .masks import KernelMask
from .regularizers import GroupLasso
from .targets import resolve_target
from .topology import keras

logger = logging.getLogger(__name__)

GUARD_ACTIONS = ('stop', 'rollback')
UPDATES = ('epoch', 'step')
#: ``regularization='auto'``: the group-lasso strength is this times the mean ``|dL/dw|`` of the data
#: loss over the pruned kernels (minibatches of GRADIENT_BATCH samples) for a budget of
#: AUTO_REFERENCE_FRACTION or tighter, and proportionally less for looser budgets (lambda ~ 1/f).
#: Measured on the jet task (docs/benchmarks.md): the penalty must be on the scale of the gradients
#: for whole groups to reach zero before the knapsack cuts them (a fixed 1e-4 lost 15 points at 12x
#: fewer DSPs), but that strength over-shrinks the groups a loose budget keeps (at 3.3x fewer DSPs
#: 0.3 x the gradients lost 1.5 points on one seed where a third of it gained 1.6). With the
#: knapsack's 'max' normalisation 0.18 prunes with less loss than 0.3 (12x fewer DSPs: 0.989x vs
#: 0.985x the converged baseline over 3 seeds, the weakest seed +0.9 points); 0.12 and 0.48 lose.
REGULARIZATION_GRADIENT_RATIO = 0.18
#: The budget fraction (12x fewer) at and below which ``'auto'`` uses the full ratio.
AUTO_REFERENCE_FRACTION = 1 / 12
#: The strength ``'auto'`` falls back to when the callback has no data to measure gradients on.
FALLBACK_REGULARIZATION = 1e-3
GRADIENT_BATCH = 256
GRADIENT_BATCHES = 8


@dataclass(eq=False)
class PrunedKernel:
    """One kernel the callback prunes.

    Attributes:
        unit: the Keras layer and which of its kernels (:class:`~hwprune.keras.layers.KerasUnit`).
        pruned: the pruning step's view of it (:class:`~hwprune.pruning.PrunedLayer`: cost model,
            keep flags, folded dead inputs).
        mask: the mask kept on the kernel after every optimizer update.
        loss: the group-lasso penalty added to the loss while training (``None`` outside ``fit``).
    """

    unit: KerasUnit
    pruned: PrunedLayer
    mask: KernelMask
    loss: GroupLasso | None = None

    @property
    def kernel(self):
        """The kernel variable."""
        return self.unit.kernel

    @property
    def info(self):
        """The kernel's :class:`~hwprune.targets.base.LayerInfo`."""
        return self.unit.info


def _check_resources_argument(resources):
    """``None``, a name, a non-empty list of names or a non-empty dict of weights."""
    if resources is None or isinstance(resources, (str, Mapping)):
        if isinstance(resources, Mapping) and not resources:
            raise invalid('resources', resources, 'a non-empty dict of resource weights', TypeError)
        return resources
    try:
        resources = list(resources)
    except TypeError:
        raise invalid('resources', resources, "a resource name ('DSP'), a list of names or a dict of weights",
                      TypeError) from None
    if not resources:
        raise invalid('resources', resources, 'at least one resource name')
    return resources


def _check_layer_names(layers) -> list[str] | None:
    """``None`` or a list of layer names (a single string would be read letter by letter)."""
    if layers is None:
        return None
    if isinstance(layers, str):
        raise invalid('layers', layers, f'a list of layer names, e.g. [{layers!r}]', TypeError)
    try:
        names = list(layers)
    except TypeError:
        raise invalid('layers', layers, "a list of layer names, e.g. ['fc1']", TypeError) from None
    for name in names:
        if not isinstance(name, str):
            raise invalid('layers', name, "layer names (strings), e.g. ['fc1']", TypeError)
    return names


def _check_data(argument: str, data):
    """``None`` or ``(x, y)`` (a tuple or list of at least two items, as Keras's ``validation_data``)."""
    if data is None:
        return None
    if not isinstance(data, (tuple, list)) or len(data) < 2:
        shown = f'{type(data).__name__} of shape {data.shape}' if hasattr(data, 'shape') else data
        raise invalid(argument, shown, '(x, y): a tuple of inputs and targets', TypeError)
    return data


_ANSI = re.compile(r'\x1b\[[0-9;]*m')


def _cause(error: Exception) -> str:
    """What a model's failure on user data says, in one line: Keras 3 wraps the cause in a
    multi-line message ("Exception encountered when calling ...", escape codes, the arguments)."""
    lines = [line.strip() for line in _ANSI.sub('', str(error)).splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith(('Exception encountered when calling',
                                                              'Arguments received by', '•'))]
    return f'{type(error).__name__}: {(useful or lines or [""])[0]}'


@contextlib.contextmanager
def _user_data(argument: str, shape):
    """Any failure of the model on the user's ``(x, y)`` inside is the data's fault: name it in one line."""
    try:
        yield
    except Exception as e:  # noqa: BLE001 - whatever the model raises on the data
        raise invalid(argument, shape, f'(x, y) the model reads and its loss accepts ({_cause(e)})') from None


def _check_path(argument: str, path, directory: bool) -> str:
    """A path that is not the wrong kind of file system entry (``directory``: a log directory)."""
    try:
        path = os.fspath(path)
    except TypeError:
        raise invalid(argument, path, 'a path', TypeError) from None
    if directory and os.path.exists(path) and not os.path.isdir(path):
        raise invalid(argument, path, 'a directory path (it names a file)')
    if not directory and os.path.isdir(path):
        raise invalid(argument, path, 'a file path (it names a directory)')
    return path


class HardwarePruning(keras.callbacks.Callback):
    """Prune a Keras model to a hardware budget during ``fit``.

    Args:
        target: an hls4ml config (dict, or a path to its YAML file; read with
            :func:`hwprune.targets.hls_config.target_from_hls_config`) or a
            :class:`~hwprune.targets.Target`.
        resources: resource(s) to constrain: a name (``'DSP'``), a list (``['DSP', 'BRAM']``, one
            constraint each) or a dict of weights (``{'DSP': 1, 'BRAM': 4}``: one constraint on the
            weighted sum). Default: the target's default (DSP for FPGAs).
        budget: a :class:`~hwprune.budgets.BudgetSchedule`, or a fraction ``f`` of the initial use
            (``PolynomialBudget(final=f, end='auto')``: the budget falls to ``f`` over the first 85 %
            of the epochs of ``fit`` and the rest fine-tunes), or a dict ``{resource: schedule}``.
        layers: names of the layers to prune (default: every layer with a layout).
        update: ``'epoch'`` (schedule steps are epochs; pruning runs at the start of an epoch) or
            ``'step'`` (optimizer steps; pruning runs before a batch).
        importance: how a group of weights is scored at each pruning step: ``'auto'`` (default:
            ``'activation'`` when ``importance_data`` or ``validation_data`` is given, ``'l2'``
            without data), ``'activation'`` (the norm of ``w_ij * rms(x_i) ** 0.5 *
            ||W_next[j, :]|| ** 0.5``: each weight by the root mean square of the input it reads,
            measured on the first 4096 samples of that data at each step, and by how much the next
            pruned layer reads its output where the two are linked (see ``fold_dead_units``); kernels
            whose input the model does not expose are scored by ``'l2'``), ``'l2'`` or ``'l1'`` (the
            weights alone), or ``'taylor'`` (``|w * dL/dw|``; needs ``importance_data``).
        normalization: per-layer normalisation of importance: ``'max'`` (default: each layer's
            scores over its largest group's), ``'mean'``, ``'sum'`` or ``'none'``. ``'mean'`` (the
            mean over all groups, pruned ones included) lifts the survivors of a layer the more it is
            already pruned, which holds budget in the thinned layers; ``'max'`` does not.
        importance_data: ``(x, y)`` for Taylor or activation importance and the automatic strength
            (default: ``validation_data``).
        importance_batches: batches of ``importance_data`` averaged for Taylor importance.
        regularization: group-lasso strength lambda (0 disables it), or ``'auto'`` (default):
            :data:`REGULARIZATION_GRADIENT_RATIO` times the mean ``|dL/dw|`` of the data loss over
            the pruned kernels, measured on ``importance_data`` or ``validation_data`` when ``fit``
            starts, times ``min(1, AUTO_REFERENCE_FRACTION / f)`` for a final budget fraction ``f``
            (a loose budget needs a gentler push; see :meth:`auto_strength`). Without data:
            :data:`FALLBACK_REGULARIZATION`, with a message.
        regularization_after_end: factor applied to lambda once the budget reaches its end.
        method: knapsack method (see :func:`hwprune.solve_knapsack`).
        regrowth: soft pruning: a step zeroes the groups it prunes, but they keep training until
            the next step, where they compete again with the groups it kept (a group whose data
            gradient beats the group-lasso pull grows back); from the budget's end on the masks
            hold. Without it (default) a pruned group stays at zero.
        monitor: metric guarded against accuracy loss (e.g. ``'val_accuracy'``); ``None``: no guard.
        mode: ``'max'`` or ``'min'`` (default: ``'min'`` for names containing "loss").
        tolerance: relative loss of the monitored metric allowed against the baseline.
        guard: ``'stop'`` (stop tightening the budget) or ``'rollback'`` (also return to the last
            weights and masks within tolerance) when a step breaks the tolerance.
        restore_best: at the end, restore the smallest model within tolerance if the final one is not.
        baseline: the monitored metric's reference value; default: measured on ``validation_data``
            at the start, or at the end of the first epoch when pruning starts later.
        validation_data: ``(x, y)`` to measure the baseline on.
        log_dir: write resource use, budgets and sparsity as TensorBoard scalars here, in total and
            per layer (``hwprune_layers/<layer>/<resource>``, ``.../sparsity``); needs ``tensorboard``.
        protect_outputs: keep at least one group of every neuron of a layer that produces a model
            output (through activations), so that pruning never silences a class.
        fold_dead_units: when every weight of a unit is pruned, fold the constant it emits into the
            consumer's bias and prune the consumer weights that read it, so they hold no budget.
            The producer-consumer links it finds are also those along which ``'activation'``
            importance weighs an output by how much it is read (``False``: by its input alone).
        state_path: file (``.npz``) where the callback's state is saved at each epoch end and from
            which a new callback resumes (``fit(initial_epoch=k)`` after an interruption).
        verbose: 1 prints one line per pruning step (budget, use, sparsity), as Keras's own callbacks
            print, and logs it at INFO level; 0 is silent. Either way the epoch logs carry
            ``hwprune_<resource>``, ``hwprune_<resource>_budget`` and ``hwprune_sparsity`` for every
            callback (Keras's ``TensorBoard``, ``CSVLogger``, the progress bar), whatever their order.
    """

    def __init__(self, target, resources=None, budget=0.5, *, layers: Sequence[str] | None = None,
                 update: str = 'epoch', importance: str = AUTO, normalization: str = 'max',
                 importance_data=None, importance_batches: int = 4, regularization: float | str = 'auto',
                 regularization_after_end: float = 0.0, method: str = 'auto', regrowth: bool = False,
                 monitor: str | None = None, mode: str | None = None, tolerance: float = 0.01,
                 guard: str = 'stop', restore_best: bool = True, baseline: float | None = None,
                 validation_data=None, log_dir: str | None = None, state_path: str | None = None,
                 protect_outputs: bool = True, fold_dead_units: bool = True, verbose: int = 1):
        super().__init__()
        if not isinstance(target, (Target, Mapping, str, os.PathLike)):
            raise invalid('target', target, 'an hls4ml config dict, a path to one, or a hwprune Target', TypeError)
        if isinstance(target, (str, os.PathLike)):
            load_hls_config(target)  # a missing or unreadable YAML file is named now, not when fit starts
        self.target_arg = target
        resources = _check_resources_argument(resources)
        # validate resource names now rather than at fit time (an hls4ml config becomes an FPGATarget)
        known = target if isinstance(target, Target) else FPGATarget()
        if isinstance(resources, Mapping):
            known.check_weights(resources)
        else:
            known.check_resources(resources)
        self.resources_arg = resources
        self.budget_arg = budget
        self._schedules = self._parse_budget(budget, resources)
        self.layer_names = _check_layer_names(layers)
        self.update = check_choice('update', update, UPDATES)
        self.importance = check_choice('importance', importance, IMPORTANCE_METHODS + (AUTO,))
        self.normalization = check_choice('normalization', normalization, NORMALIZATIONS)
        if self.importance == 'taylor' and importance_data is None:
            raise invalid('importance_data', None, "(x, y) data for importance='taylor'")
        if self.importance == 'activation' and importance_data is None and validation_data is None:
            raise invalid('importance_data', None, "(x, y) data (or validation_data=) for importance='activation': "
                          'it measures the inputs of the pruned layers on it')
        self.importance_data = _check_data('importance_data', importance_data)
        self.importance_batches = check_int('importance_batches', importance_batches, 1)
        if isinstance(regularization, str) and regularization != AUTO:
            raise invalid('regularization', regularization, "a number >= 0 or 'auto'")
        self.regularization = regularization if regularization == AUTO else \
            check_number('regularization', regularization, 0.0)
        self.regularization_after_end = check_number('regularization_after_end', regularization_after_end, 0.0)
        self.method = check_choice('method', method, KNAPSACK_METHODS)
        self.regrowth = check_bool('regrowth', regrowth)
        if monitor is not None and not isinstance(monitor, str):
            raise invalid('monitor', monitor, "the name of a metric in the epoch logs, e.g. 'val_accuracy'", TypeError)
        self.monitor = monitor
        self.mode = check_choice('mode', default_mode(monitor) if mode is None else mode, ('min', 'max'))
        self.tolerance = check_number('tolerance', tolerance, 0.0)
        self.guard = check_choice('guard', guard, GUARD_ACTIONS)
        self.restore_best = check_bool('restore_best', restore_best)
        self.baseline = None if baseline is None else check_number('baseline', baseline)
        self.validation_data = _check_data('validation_data', validation_data)
        self.log_dir = None if log_dir is None else _check_path('log_dir', log_dir, directory=True)
        if self.log_dir is not None and importlib.util.find_spec('tensorboard') is None:
            raise invalid('log_dir', self.log_dir, 'no log_dir, or TensorBoard installed (pip install tensorboard; '
                          'TensorFlow >= 2.21 no longer installs it)', ImportError)
        self.state_path = None if state_path is None else _check_path('state_path', state_path, directory=False)
        self.protect_outputs = check_bool('protect_outputs', protect_outputs)
        self.fold_dead_units = check_bool('fold_dead_units', fold_dead_units)
        self.verbose = check_int('verbose', verbose, 0)
        if self.update == 'epoch':
            # No per-batch Python hook when pruning per epoch (Keras skips default hooks).
            self.on_train_batch_begin = keras.callbacks.Callback.on_train_batch_begin.__get__(self)
        self._strength = None
        self._first_fit = None
        self._resolved = None
        self._reset()

    # ------------------------------------------------------------------ configuration
    def _parse_budget(self, budget, resources) -> dict[str, BudgetSchedule] | BudgetSchedule:
        if isinstance(budget, Mapping) and 'class_name' not in budget:
            if resources is not None and set(budget) != set([resources] if isinstance(resources, str) else resources):
                raise invalid('budget', budget, f'one schedule per resource of resources={resources!r}')
            return {str(r): as_schedule(b, f'budget[{r!r}]') for r, b in budget.items()}
        return as_schedule(budget)

    def get_config(self) -> dict[str, Any]:
        """JSON-native arguments (the target as its config; data arguments are not kept)."""
        target = self.target_arg
        if isinstance(target, Target):
            target = {'class_name': type(target).__name__, 'config': target.get_config()}
        elif isinstance(target, os.PathLike):
            target = os.fspath(target)
        budget = ({r: serialize(s) for r, s in self._schedules.items()} if isinstance(self._schedules, dict)
                  else serialize(self._schedules))
        resources = self.resources_arg
        if resources is not None and not isinstance(resources, (str, Mapping)):
            resources = list(resources)
        return {'target': target, 'resources': resources, 'budget': budget, 'layers': self.layer_names,
                'update': self.update, 'importance': self.importance, 'normalization': self.normalization,
                'importance_batches': self.importance_batches, 'regularization': self.regularization,
                'regularization_after_end': self.regularization_after_end, 'method': self.method,
                'regrowth': self.regrowth, 'monitor': self.monitor, 'mode': self.mode, 'tolerance': self.tolerance,
                'guard': self.guard, 'restore_best': self.restore_best, 'baseline': self.baseline,
                'log_dir': self.log_dir, 'state_path': self.state_path, 'protect_outputs': self.protect_outputs,
                'fold_dead_units': self.fold_dead_units,
                'verbose': self.verbose}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> 'HardwarePruning':
        config = dict(config)
        target = config.pop('target')
        if isinstance(target, Mapping) and 'class_name' in target and 'config' in target:
            from .. import targets as targets_module
            target = getattr(targets_module, target['class_name']).from_config(target['config'])
        budget = config.pop('budget')
        if isinstance(budget, Mapping) and 'class_name' not in budget:
            budget = {r: deserialize(b) for r, b in budget.items()}
        else:
            budget = deserialize(budget)
        return cls(target, budget=budget, **config)

    # ------------------------------------------------------------------ state
    def _reset(self):
        self.entries_: list[PrunedKernel] = []
        self.pruner_: Pruner | None = None
        self.target_: Target | None = None
        self.resources_: tuple[str, ...] = ()
        self.initial_usage: np.ndarray | None = None
        self.pruning_steps = 0
        self.history: list[dict] = []
        self._guard = AccuracyGuard(self.monitor, self.mode, self.tolerance, self.guard, self.baseline) \
            if self.monitor else None
        self._writer = None
        self._last_capacity = None
        self._step = None
        self._log_values: dict = {}
        self._layer_values: dict = {}
        self._lambda: float | None = None
        self._inputs: InputProbe | None = None
        self.importance_: str | None = None
        self._pending = None  # (masks, epoch) of a state read from state_path, applied at the first epoch

    @property
    def guard_(self) -> AccuracyGuard | None:
        """The accuracy guard (``baseline``, ``frozen`` fractions, ``best`` snapshot); ``None`` without ``monitor``."""
        return self._guard

    @property
    def layers_(self) -> list[PrunedKernel]:
        """The pruned kernels (``entry.unit``, ``entry.pruned``, ``entry.mask``, ``entry.kernel``)."""
        return self.entries_

    @property
    def regularization_strength(self) -> float:
        """Current group-lasso lambda (settable during training)."""
        if self._strength is not None:
            return float(self._strength.numpy())
        return self._lambda if self._lambda is not None else self.regularization

    @regularization_strength.setter
    def regularization_strength(self, value: float):
        value = check_number('regularization_strength', value, 0.0)
        if self._strength is not None:
            self._strength.assign(value)
        else:
            self.regularization = value

    def schedule_for(self, resource: str) -> BudgetSchedule:
        """The schedule of a constrained resource (resolved for the current ``fit``, e.g. ``end='auto'``)."""
        schedules = self._resolved if self._resolved is not None else self._schedules
        if isinstance(schedules, dict):
            return schedules[resource]
        return schedules

    def _all_schedules(self) -> list[BudgetSchedule]:
        schedules = self._resolved if self._resolved is not None else self._schedules
        return list(schedules.values()) if isinstance(schedules, dict) else [schedules]

    def _resolve_schedules(self) -> None:
        """Decide what is left to the run's length (``end='auto'``) from ``fit``'s epochs and steps."""
        params = getattr(self, 'params', None) or {}
        epochs = params.get('epochs')
        steps = params.get('steps') if self.update == 'step' else 1
        if epochs is None or steps is None:
            needs = [s for s in (self._schedules.values() if isinstance(self._schedules, dict) else [self._schedules])
                     if s.resolve(1) is not s]
            if needs:
                raise invalid('budget', self.budget_arg, "schedules with fixed steps: end='auto' needs the number "
                              'of epochs (and steps per epoch) that model.fit gives the callback')
            self._resolved = None
            return
        total = int(epochs) * int(steps)
        if isinstance(self._schedules, dict):
            self._resolved = {r: s.resolve(total) for r, s in self._schedules.items()}
        else:
            self._resolved = self._schedules.resolve(total)

    # ------------------------------------------------------------------ training hooks
    def on_train_begin(self, logs=None):
        model = self.model
        hooks.check_backend()
        topology.check_model(model)
        self._reset()
        units = resolve_units(model, self.layer_names)
        if not units:
            raise invalid('model', model.name, 'a model with at least one prunable layer (Dense, Conv, DepthwiseConv, '
                          'SeparableConv or a layer registered with hwprune.keras.register_layer)')
        self._resolve_schedules()
        target = resolve_target(self.target_arg, [u.info for u in units])
        self.target_ = target
        resources = self.resources_arg
        weights = None
        if isinstance(resources, Mapping):
            weights = target.check_weights(resources)
            model_resources = tuple(weights)
        else:
            model_resources = target.check_resources(resources)
        if isinstance(self._schedules, dict):
            constrained = ('weighted',) if weights is not None else model_resources
            if set(constrained) - set(self._schedules):
                raise invalid('budget', self.budget_arg, f'a schedule for each constrained resource {constrained}')
        for unit in units:
            layer_model = target.layer_model(unit.info, model_resources)
            if layer_model is None:
                logger.info('Layer %r: target %s has no model for it; left unpruned.', unit.name, target.name)
                continue
            self.entries_.append(PrunedKernel(unit, PrunedLayer(unit.info, layer_model, is_output=unit.is_output),
                                              KernelMask(unit.kernel, unit.name)))
        if not self.entries_:
            raise invalid('target', target, 'a target that can prune at least one layer of the model')
        index = {e.info.name: i for i, e in enumerate(self.entries_)}
        links = {}
        graph = topology.graph_or_none(model)
        if self.fold_dead_units and graph is not None:
            for link in find_links(graph, index):
                links[(index[link.producer.name], index[link.consumer.name])] = link
        self._fold = fold_hook(links)
        self.importance_ = self._resolve_importance()
        self.pruner_ = Pruner(target, [e.pruned for e in self.entries_], list(links), importance=self.importance_,
                              normalization=self.normalization, method=self.method, regrowth=self.regrowth,
                              protect_outputs=self.protect_outputs, weights=weights)
        self.resources_ = self.pruner_.constrained
        self._check_reducible()
        if self.importance_ == 'taylor':
            self._check_importance_data()
        self._inputs = self._input_probe() if self.importance_ == 'activation' else None
        self._lambda = self._auto_strength() if self.regularization == AUTO else float(self.regularization)
        if self._strength is None:
            with tf.init_scope():
                self._strength = tf.Variable(self._lambda, trainable=False, dtype=tf.float32,
                                             name='hwprune_regularization')
        else:
            self._strength.assign(self._lambda)
        self.initial_usage = self._usage_matrix().sum(axis=0)
        fitted = (id(model), tuple(e.info.name for e in self.entries_), self.pruner_.reported)
        if self._first_fit is not None and self._first_fit[0] == fitted:
            # the same callback on the same model again: budgets stay fractions of the use at the
            # start of its first fit, not of the already pruned model
            logger.warning('hwprune: this HardwarePruning already pruned this model in an earlier fit; budgets stay '
                           'fractions of the use before that fit (%s), not of the pruned model (%s). Make a new '
                           'callback to prune the pruned model further.', self._usage_text(self._first_fit[1]),
                           self._usage_text(self.initial_usage))
            self.initial_usage = self._first_fit[1].copy()
        else:
            self._first_fit = (fitted, self.initial_usage.copy())
        self._last_capacity = self.initial_usage[: len(self.resources_)].copy()
        resumed = self._maybe_resume()
        if resumed:
            self._first_fit = (fitted, self.initial_usage.copy())
        for entry in self.entries_:
            entry.mask.install()
            # installed even at strength 0: the strength is a variable the user may raise mid-fit
            entry.loss = GroupLasso(entry.kernel, entry.pruned.model.layout, self._strength)
            hooks.add_penalty(entry.unit.layer, entry.kernel, entry.loss)
        # The train/test functions may have been traced before (an earlier fit): retrace them so
        # they pick up the mask constraints and the penalty.
        hooks.retrace(model)
        if self.log_dir:
            try:
                self._writer = tf.summary.create_file_writer(self.log_dir)
            except (tf.errors.OpError, OSError) as e:
                raise invalid('log_dir', self.log_dir, f'a directory TensorBoard can write to ({e})') from None
        if self._guard is not None:
            if self._guard.baseline is None and self.validation_data is not None:
                self._guard.baseline = self._evaluate_monitor(self.validation_data)
            if self._guard.baseline is None:
                first = min(s.begin for s in self._all_schedules())
                if first < 1 or self.update == 'step':
                    raise invalid('baseline', None, f'a baseline for monitor={self.monitor!r}: pass baseline= or '
                                  'validation_data=, or start pruning after the first epoch (budget begin >= 1)')
            if not resumed:  # a resumed run's guard starts when its masks are applied (first epoch)
                self._guard.start(self._snapshot(np.inf))
        self._refresh_log_values()
        hooks.add_logs(model, self._log_values)
        if self.verbose and not resumed:
            self._say(f'hwprune: pruning {len(self.entries_)} kernels ({", ".join(e.info.name for e in self.entries_)}); '
                      f'initial use {self._usage_text(self.initial_usage)}; importance {self._importance_text()}')

    def on_epoch_begin(self, epoch, logs=None):
        if self._pending is not None:
            self._continue_at(epoch)
        if self.update == 'epoch' and self._should_prune(epoch):
            self.prune(epoch)

    def on_train_batch_begin(self, batch, logs=None):
        # The optimizer step is counted in Python: reading optimizer.iterations would sync the
        # device every batch. One hook call covers steps_per_execution steps.
        if self._step is None:
            self._step = int(self.model.optimizer.iterations.numpy())
            self._steps_per_call = hooks.steps_per_call(self.model)
        first, self._step = self._step, self._step + self._steps_per_call
        for step in range(first, self._step):
            if self._should_prune(step):
                self.prune(step)
                break

    def _refresh_log_values(self) -> dict:
        """hwprune's values for the logs (totals, budgets, sparsity) and per layer (TensorBoard)."""
        rows = self._usage_matrix()
        usage = rows.sum(axis=0)
        values = {f'hwprune_{r}': float(usage[i]) for i, r in enumerate(self.pruner_.reported)}
        if self._last_capacity is not None:
            for r, c in zip(self.resources_, self._last_capacity):
                values[f'hwprune_{r}_budget'] = float(c)
        kernels = [e.kernel.numpy() for e in self.entries_]
        values['hwprune_sparsity'] = sparsity(kernels)
        # the dict the wrapped train function adds to every step's logs (so every callback sees them)
        self._log_values.clear()
        self._log_values.update(values)
        self._layer_values = {e.info.name: {**{r: float(row[i]) for i, r in enumerate(self.pruner_.reported)},
                                            'sparsity': sparsity([k])}
                              for e, row, k in zip(self.entries_, rows, kernels)}
        return values

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs.update(self._refresh_log_values())
        if self._past_end(epoch):
            self._strength.assign(self._lambda * self.regularization_after_end)
        if self._guard is not None:
            self._check_guard(logs)
        if self._writer is not None:
            with self._writer.as_default(step=epoch):
                for key, value in logs.items():
                    if key.startswith('hwprune_'):
                        tf.summary.scalar(key, value)
                for name, values in self._layer_values.items():
                    for key, value in values.items():
                        tf.summary.scalar(f'hwprune_layers/{name}/{key}', value)
            self._writer.flush()
        if self.state_path:
            self.save_state(self.state_path, epoch=epoch)

    def on_train_end(self, logs=None):
        if self._guard is not None:
            snapshot = self._guard.final(self.restore_best)
            if snapshot is not None:
                self._restore(snapshot.payload)
        for entry in self.entries_:
            entry.mask.apply()
        self._detach()

    def _detach(self) -> None:
        """Take the masks' constraints, the penalty and the log hook off the model."""
        for entry in self.entries_:
            entry.mask.uninstall()
            if entry.loss is not None:
                hooks.remove_penalty(entry.unit.layer, entry.kernel, entry.loss)
                entry.loss = None
        hooks.release(self.model)
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _check_reducible(self) -> None:
        """A budget on a resource no pruning can reduce would prune nothing without a word."""
        models = [e.pruned.model for e in self.entries_]
        costs = np.concatenate([m.group_costs for m in models])
        if self.pruner_.weights is not None:
            costs = costs @ np.array(list(self.pruner_.weights.values()))[:, None]
        reducible = costs.sum(axis=0) > 0
        for resource, ok in zip(self.resources_, reducible):
            if not ok:
                logger.warning('hwprune: pruning cannot reduce %s here (%s), so its budget prunes nothing.', resource,
                               self.target_.explain_irreducible(resource, models))
        if not reducible.any():
            raise invalid('resources', self.resources_arg, 'a resource that pruning can reduce under this target: '
                          + self.target_.explain_irreducible(self.resources_[0], models))

    def gradient_scale(self, data, batches: int = GRADIENT_BATCHES, batch_size: int = GRADIENT_BATCH) -> float:
        """Mean ``|dL/dw|`` of the data loss over the pruned kernels' weights, on minibatches of ``data``."""
        x, y = data[0], data[1]
        n = len(x)
        rng = np.random.default_rng(0)
        kernels = [e.kernel for e in self.entries_]
        total, count = 0.0, 0
        for _ in range(batches if n > batch_size else 1):
            index = np.sort(rng.choice(n, batch_size, replace=False)) if n > batch_size else np.arange(n)
            xb = [np.asarray(a)[index] for a in x] if isinstance(x, (list, tuple)) else np.asarray(x)[index]
            with tf.GradientTape() as tape:
                loss = hooks.data_loss(self.model, tf.convert_to_tensor(np.asarray(y)[index]),
                                       self.model(xb, training=False))
            for g in tape.gradient(loss, kernels):
                if g is not None:
                    total += float(tf.reduce_sum(tf.abs(g)))
                    count += int(np.prod(g.shape))
        return total / max(count, 1)

    def budget_factor(self) -> float:
        """``min(1, AUTO_REFERENCE_FRACTION / f)`` for the tightest final budget fraction ``f`` of the run.

        The penalty has to carry every group the budget removes to zero before the knapsack cuts
        it; the tighter the budget, the more important the last group removed, the stronger the push
        it needs. A loose budget keeps most groups, and a push sized for 12x shrinks them for nothing.
        """
        fraction = min(s.final_fraction for s in self._all_schedules())
        return float(min(1.0, AUTO_REFERENCE_FRACTION / max(fraction, 1e-12)))

    def _auto_strength(self) -> float:
        """``regularization='auto'``: lambda on the scale of the data loss's minibatch gradients, so that
        the penalty moves whole groups towards zero before the knapsack cuts them, whatever the
        model's size (measured on ``importance_data`` or ``validation_data``), scaled down for
        budgets looser than 12x (:meth:`budget_factor`)."""
        argument, data = self._importance_source()
        if data is None:
            lam = FALLBACK_REGULARIZATION
            message = (f'hwprune: regularization=auto without data: group-lasso strength {lam:g}. Pass '
                       'validation_data= (or importance_data=) so that it follows the gradients of your model.')
        else:
            with _user_data(argument, getattr(data[0], 'shape', type(data[0]).__name__)):
                scale = self.gradient_scale(data)
            factor = self.budget_factor()
            lam = REGULARIZATION_GRADIENT_RATIO * factor * scale
            message = (f'hwprune: regularization=auto: group-lasso strength {lam:.3g} '
                       f'({REGULARIZATION_GRADIENT_RATIO * factor:.3g} x mean |gradient| {scale:.3g}'
                       + (f'; budget looser than 12x: {factor:.2f} of the full push' if factor < 1 else '') + ')')
        if self.verbose:
            self._say(message)
        else:
            logger.info(message)
        return float(lam)

    def _importance_source(self) -> tuple[str, Any]:
        """The data importance is measured on: ``importance_data``, else ``validation_data``."""
        if self.importance_data is not None:
            return 'importance_data', self.importance_data
        return 'validation_data', self.validation_data

    def _resolve_importance(self) -> str:
        """``importance='auto'``: activation-weighted where there is data to measure the inputs on."""
        if self.importance != AUTO:
            return self.importance
        return 'activation' if self._importance_source()[1] is not None else 'l2'

    def _input_probe(self) -> InputProbe:
        """The probe measuring the pruned kernels' inputs; tried once now, so that data the model
        cannot read fails here and not at the first pruning step."""
        argument, data = self._importance_source()
        x = data[0]
        with _user_data(argument, getattr(x, 'shape', type(x).__name__)):
            probe = InputProbe(self.model, [e.unit for e in self.entries_], x)
            measured = probe()
        if not any(r is not None for r in measured):
            message = ("hwprune: importance='activation' cannot read the inputs of any pruned layer of this model "
                       '(a subclassed model, or shared layers); groups are scored by their weights (l2).')
            if self.importance == 'activation':
                logger.warning(message)
            else:
                logger.info(message)
        return probe

    def _importance_text(self) -> str:
        if self.importance_ == 'activation':
            read = ' x how much the next layer reads them^0.5' if self.pruner_.links else ''
            return f"'activation' (weights x input RMS^0.5 on {self._importance_source()[0]}{read})"
        return repr(self.importance_)

    def _check_importance_data(self) -> None:
        """Taylor importance data that the model cannot read fails now, not at the first step."""
        x, y = self.importance_data[0], self.importance_data[1]  # (x, y): checked at construction
        with _user_data('importance_data', getattr(x, 'shape', None)):
            if len(x) != len(y) or len(x) == 0:
                raise ValueError(f'{len(x)} inputs and {len(y)} targets')
            with tf.GradientTape() as tape:
                pred = self.model(tf.convert_to_tensor(x[:2]), training=False)
                loss = hooks.data_loss(self.model, tf.convert_to_tensor(y[:2]), pred)
            tape.gradient(loss, [e.kernel for e in self.entries_])

    # ------------------------------------------------------------------ pruning
    def _should_prune(self, step: int) -> bool:
        return any(s.should_prune(step) for s in self._all_schedules())

    def _past_end(self, step: int) -> bool:
        return all(getattr(s, 'end', -1) != -1 and step >= s.end for s in self._all_schedules())

    def _holds(self, step: int | None) -> bool:
        """Whether the masks set at ``step`` hold pruned weights at zero. With regrowth, pruned
        weights are zeroed by a step but train on until the next, where they compete again by
        their new magnitude (soft pruning); from the budget's end on, masks hold."""
        return not self.regrowth or (step is not None and self._past_end(step))

    def _last_step(self) -> int | None:
        return self.history[-1]['step'] if self.history else None

    def fractions(self, step: int) -> np.ndarray:
        """Budget fraction of each constrained resource at ``step`` (guard-frozen values win)."""
        f = np.array([self.schedule_for(r)(step) for r in self.resources_])
        return self._guard.apply_freeze(f) if self._guard is not None else f

    def _usage_matrix(self) -> np.ndarray:
        # QKeras kernels after their quantizer, as hls4ml builds them (the knapsack's group costs
        # count float nonzeros, so the selected use is an upper bound of this)
        # (times the masks: with regrowth, pruned weights move between steps but are not part of
        # the pruned model until a step brings them back)
        return self.pruner_.usage([e.unit.firmware_kernel() * e.mask.numpy() for e in self.entries_])

    def _gradients(self):
        x, y = self.importance_data[0], self.importance_data[1]
        batch = max(1, int(math.ceil(len(x) / self.importance_batches)))
        kernels = [e.kernel for e in self.entries_]
        total = [np.zeros(tuple(k.shape), np.float64) for k in kernels]
        for start in range(0, len(x), batch):
            with tf.GradientTape() as tape:
                pred = self.model(tf.convert_to_tensor(x[start:start + batch]), training=False)
                # the data loss only: the group-lasso term is not part of a group's importance
                loss = hooks.data_loss(self.model, tf.convert_to_tensor(y[start:start + batch]), pred)
            for i, g in enumerate(tape.gradient(loss, kernels)):
                if g is not None:
                    total[i] += np.asarray(g)
        return total

    def prune(self, step: int) -> None:
        """Run one pruning step now (importance -> knapsack -> masks) at schedule position ``step``."""
        fractions = self.fractions(step)
        capacity = fractions * self.initial_usage[: len(self.resources_)]
        grads = self._gradients() if self.importance_ == 'taylor' else None
        rms = self._inputs() if self._inputs is not None else None
        kernels = [e.kernel.numpy() for e in self.entries_]
        # the fold hook adds dead units' constants to consumer biases before the masks zero them
        result = self.pruner_.step(kernels, capacity, grads, fold=self._fold if self.fold_dead_units else None,
                                   input_rms=rms)
        hold = self._holds(step)
        for entry, mask in zip(self.entries_, result.masks):
            entry.mask.set(mask, hold=hold)
        self.pruning_steps += 1
        self._last_capacity = capacity
        usage = self._usage_matrix().sum(axis=0)
        record = {'step': int(step), 'fractions': fractions.tolist(), 'capacity': capacity.tolist(),
                  'usage': dict(zip(self.pruner_.reported, usage.tolist())), 'sparsity': self.sparsity()}
        self.history.append(record)
        if np.any(usage[: len(self.resources_)] > capacity + 1e-9):
            logger.warning('hwprune: step %d could not meet the budget (use %s > budget %s).', step,
                           self._usage_text(usage), capacity.tolist())
        self._refresh_log_values()
        if self.verbose:
            unit = 'Epoch' if self.update == 'epoch' else 'Step'
            budget = ', '.join(f'{r} {c:g} ({f:.0%})' for r, c, f in zip(self.resources_, capacity, fractions))
            self._say(f'{unit} {step + 1 if self.update == "epoch" else step}: hwprune step {self.pruning_steps} - '
                      f'budget {budget} - use {self._usage_text(usage)} - sparsity {record["sparsity"]:.3f}')

    def _say(self, message: str) -> None:
        """``verbose=1`` progress: one line on stdout, as Keras's own callbacks print (also logged)."""
        print(message, flush=True)
        logger.info(message)

    def sparsity(self) -> float:
        """Fraction of zero weights over the pruned layers' kernels."""
        return sparsity([e.kernel.numpy() for e in self.entries_])

    def usage(self) -> dict[str, float]:
        """Current use of each constrained resource, summed over the pruned layers."""
        return dict(zip(self.pruner_.reported, self._usage_matrix().sum(axis=0).tolist()))

    def regularization_value(self) -> float:
        """Current value of the group-lasso term added to the loss."""
        return float(sum(float(e.loss().numpy()) for e in self.entries_ if e.loss is not None))

    def _usage_text(self, usage) -> str:
        return ', '.join(f'{r}={v:g}' for r, v in zip(self.pruner_.reported, np.asarray(usage).tolist()))

    # ------------------------------------------------------------------ accuracy guard
    def _evaluate_monitor(self, data) -> float:
        x, y = data[0], data[1]
        results = self.model.evaluate(x, y, verbose=0, return_dict=True)
        key = self.monitor[4:] if self.monitor.startswith('val_') else self.monitor
        if key not in results:
            raise invalid('monitor', self.monitor, 'a metric the model computes: ' +
                          ', '.join(sorted({f'val_{k}' for k in results} | set(results))))
        return float(results[key])

    def _check_guard(self, logs: dict):
        if self.monitor not in logs:
            raise invalid('monitor', self.monitor, 'a key of the epoch logs: ' + ', '.join(sorted(logs)))
        fractions = self.history[-1]['fractions'] if self.history else [1.0] * len(self.resources_)
        cost = float(self._usage_matrix().sum(axis=0)[0])
        verdict = self._guard.observe(float(logs[self.monitor]), cost, fractions, self._capture,
                                      pruned=self.pruning_steps > 0)
        if verdict.restore is not None:
            self._restore(verdict.restore.payload)
        logs['hwprune_within_tolerance'] = float(verdict.within)

    def _capture(self) -> dict:
        return {'weights': [w.copy() for w in self.model.get_weights()],
                'pruner': self.pruner_.get_state(),
                'masks': [e.mask.numpy().copy() for e in self.entries_]}

    def _snapshot(self, cost: float, metric: float | None = None):
        fractions = self.history[-1]['fractions'] if self.history else [1.0] * len(self.resources_)
        return Snapshot(cost, metric, fractions, self._capture())

    def _restore(self, payload: dict):
        self.model.set_weights(payload['weights'])
        self.pruner_.set_state(payload['pruner'])
        self._set_masks(payload['masks'])

    def _set_masks(self, masks) -> None:
        """Masks of a saved state, holding as they did when it was saved; weights that were
        moving under soft pruning (regrowth) keep the values restored with them."""
        hold = self._holds(self._last_step())
        for entry, mask in zip(self.entries_, masks):
            entry.mask.set(mask, hold=hold, zero=hold)

    # ------------------------------------------------------------------ resume
    def get_state(self) -> dict[str, Any]:
        """The state needed to resume: masks, keeps, step counts, baseline, frozen budget."""
        pruner = self.pruner_.get_state()
        guard = self._guard
        return {'layers': pruner['layers'], 'masks': [e.mask.numpy() for e in self.entries_],
                'keeps': pruner['keeps'], 'dead_inputs': pruner['dead_inputs'],
                'initial_usage': self.initial_usage, 'pruning_steps': self.pruning_steps,
                'baseline': guard.baseline if guard is not None else self.baseline,
                'frozen': guard.frozen if guard is not None else None, 'history': self.history,
                'last_capacity': self._last_capacity}

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`get_state` dict (after ``on_train_begin`` has bound the layers)."""
        self._set_masks(self._read_state(state))

    def _read_state(self, state: Mapping[str, Any]) -> list:
        """Restore everything of ``state`` but the masks (which zero weights); returns them."""
        self.pruner_.set_state(state)
        masks = [np.asarray(m) for m in state['masks']]
        for entry, mask in zip(self.entries_, masks):
            if mask.shape != tuple(entry.kernel.shape):
                raise invalid('state', entry.info.name, f'a mask of shape {tuple(entry.kernel.shape)} for layer '
                              f'{entry.info.name!r} (is the state from another model?)')
        self.initial_usage = np.asarray(state['initial_usage'], np.float64)
        self.pruning_steps = int(state['pruning_steps'])
        if self._guard is not None:
            if state['baseline'] is not None:
                self._guard.baseline = state['baseline']
            self._guard.frozen = None if state['frozen'] is None else np.asarray(state['frozen'])
        self.history = list(state['history'])
        self._last_capacity = None if state.get('last_capacity') is None else np.asarray(state['last_capacity'])
        return masks

    def save_state(self, path: str, epoch: int | None = None) -> None:
        """Write :meth:`get_state` to ``path`` (numpy ``.npz``, written atomically)."""
        state = self.get_state()
        state['epoch'] = epoch
        save_state(path, state)

    @staticmethod
    def load_state(path: str) -> dict[str, Any]:
        """Read a state written by :meth:`save_state`."""
        return load_state(path)

    def _maybe_resume(self) -> bool:
        if not self.state_path or not os.path.exists(self.state_path):
            return False
        state = self.load_state(self.state_path)
        try:
            masks = self._read_state(state)
        except (ValueError, KeyError, TypeError) as e:  # a state of another model: name the file
            reason = str(e) if isinstance(e, ValueError) else f'{type(e).__name__}: {e}'
            raise invalid('state_path', self.state_path, f'a state saved by a run over this model; it does not fit '
                          f'({reason})') from None
        # the masks are applied when the first epoch shows that this fit continues that run
        self._pending = (masks, state.get('epoch'))
        logger.info('hwprune: resumed from %s (epoch %s, %d pruning steps).', self.state_path, state.get('epoch'),
                    self.pruning_steps)
        return True

    def _continue_at(self, epoch: int) -> None:
        """Apply the masks of the state read from ``state_path``, if this fit continues its run
        (starts at the epoch after the one it was saved at); otherwise leave the model as it was."""
        masks, saved = self._pending
        self._pending = None
        if saved is not None and int(epoch) != int(saved) + 1:
            self._detach()
            raise invalid('state_path', self.state_path, f'the state of the run this fit continues: it was saved '
                          f'after epoch {int(saved) + 1} of a run, so model.fit(..., initial_epoch={int(saved) + 1}) '
                          f'continues that run, and this fit starts at epoch {int(epoch) + 1}. Delete the file (or '
                          'pass another state_path) to start a new run')
        self._set_masks(masks)
        if self._guard is not None:
            self._guard.start(self._snapshot(np.inf))
        self._refresh_log_values()


__all__ = ['HardwarePruning', 'PrunedKernel']
