"""``HardwarePruning``: the Keras callback that prunes the groups a target allocates.

At each pruning step (every ``frequency`` epochs or optimizer steps of the budget schedule):
importance per group -> one global multi-resource knapsack over all layers -> masks. Between
steps a group-lasso penalty over the same groups pushes whole groups towards zero; masks stay
enforced after every optimizer update through the kernels' constraints.

Example::

    import hls4ml, hwprune
    cfg = hls4ml.utils.config_from_keras_model(model, granularity='name', default_reuse_factor=2)
    pruning = hwprune.HardwarePruning(cfg, resources=['DSP'],
                                      budget=hwprune.PolynomialBudget(final=0.3, end=10))
    model.fit(x, y, epochs=15, validation_data=(xv, yv), callbacks=[pruning])
    pruning.history[-1]['usage']          # {'DSP': ...}
"""

from __future__ import annotations

import json
import logging
import math
import os
from typing import Any, Mapping, Sequence

import numpy as np
import tensorflow as tf

from .._validation import check_choice, check_int, check_number, invalid
from ..budgets import BudgetSchedule, as_schedule, deserialize, serialize
from ..importance import METHODS as IMPORTANCE_METHODS
from ..importance import NORMALIZATIONS, group_importance, normalize
from ..layouts import DEPTHWISE_KINDS
from ..targets.base import LayerState, Target
from .layers import firmware_kernel, output_layer_names, prunable_layers
from .deadunits import dead_units, find_links, fold, input_mask, output_mask, unit_constants, unread_units
from .masks import KernelMask
from .regularizers import GroupLasso
from .registry import kernel_variable, output_unit
from .targets import resolve_target

logger = logging.getLogger(__name__)
keras = tf.keras

GUARD_ACTIONS = ('stop', 'rollback')
UPDATES = ('epoch', 'step')


class _Combined:
    """Several resources folded into one weighted constraint (``resources={'DSP': 1, 'BRAM': 4}``)."""

    name = 'weighted'

    def __init__(self, weights: Mapping[str, float]):
        self.weights = dict(weights)



def _n_units(entry) -> int:
    """Output units of a pruned kernel: its last axis (a depthwise kernel: channels x multiplier)."""
    shape = entry['kernel'].shape
    if entry['info'].kind in DEPTHWISE_KINDS:
        return int(shape[-2]) * int(shape[-1])
    return int(shape[-1])

class HardwarePruning(keras.callbacks.Callback):
    """Prune a Keras model to a hardware budget during ``fit``.

    Args:
        target: an hls4ml config (dict, or a path to its YAML file; read with
            :func:`hwprune.hls.config.target_from_hls_config`) or a :class:`~hwprune.targets.Target`.
        resources: resource(s) to constrain: a name (``'DSP'``), a list (``['DSP', 'BRAM']``, one
            constraint each) or a dict of weights (``{'DSP': 1, 'BRAM': 4}``: one constraint on the
            weighted sum). Default: the target's default (DSP for FPGAs).
        budget: a :class:`~hwprune.budgets.BudgetSchedule` or a fraction of the initial use, or a
            dict ``{resource: schedule}`` for a schedule per resource.
        layers: names of the layers to prune (default: every layer with a layout).
        update: ``'epoch'`` (schedule steps are epochs; pruning runs at the start of an epoch) or
            ``'step'`` (optimizer steps; pruning runs before a batch).
        importance: ``'l2'``, ``'l1'`` or ``'taylor'`` (needs ``importance_data``).
        normalization: per-layer normalisation of importance (``'mean'``, ``'max'``, ``'sum'``, ``'none'``).
        importance_data: ``(x, y)`` for Taylor importance (a few batches are used).
        importance_batches: batches of ``importance_data`` averaged for Taylor importance.
        regularization: group-lasso strength lambda (0 disables it).
        regularization_after_end: factor applied to lambda once the budget reaches its end.
        method: knapsack method (see :func:`hwprune.solve_knapsack`).
        regrowth: let groups pruned at one step come back at a later one.
        monitor: metric guarded against accuracy loss (e.g. ``'val_accuracy'``); ``None``: no guard.
        mode: ``'max'`` or ``'min'`` (default: ``'min'`` for names containing "loss").
        tolerance: relative loss of the monitored metric allowed against the baseline.
        guard: ``'stop'`` (stop tightening the budget) or ``'rollback'`` (also return to the last
            weights and masks within tolerance) when a step breaks the tolerance.
        restore_best: at the end, restore the smallest model within tolerance if the final one is not.
        baseline: the monitored metric's reference value; default: measured on ``validation_data``
            at the start, or at the end of the first epoch when pruning starts later.
        validation_data: ``(x, y)`` to measure the baseline on.
        log_dir: write resource use, budgets and sparsity as TensorBoard scalars here.
        protect_outputs: keep at least one group of every neuron of a layer that produces a model
            output (through activations), so that pruning never silences a class.
        fold_dead_units: when every weight of a unit is pruned, fold the constant it emits into the
            consumer's bias and prune the consumer weights that read it, so they hold no budget.
        state_path: file (``.npz``) where the callback's state is saved at each epoch end and from
            which a new callback resumes (``fit(initial_epoch=k)`` after an interruption).
        verbose: log each pruning step at INFO level (1) or not (0).
    """

    def __init__(self, target, resources=None, budget=0.5, *, layers: Sequence[str] | None = None,
                 update: str = 'epoch', importance: str = 'l2', normalization: str = 'mean',
                 importance_data=None, importance_batches: int = 4, regularization: float = 1e-4,
                 regularization_after_end: float = 0.0, method: str = 'auto', regrowth: bool = False,
                 monitor: str | None = None, mode: str | None = None, tolerance: float = 0.01,
                 guard: str = 'stop', restore_best: bool = True, baseline: float | None = None,
                 validation_data=None, log_dir: str | None = None, state_path: str | None = None,
                 protect_outputs: bool = True, fold_dead_units: bool = True, verbose: int = 1):
        super().__init__()
        if not isinstance(target, (Target, Mapping, str, os.PathLike)):
            raise invalid('target', target, 'an hls4ml config dict, a path to one, or a hwprune Target', TypeError)
        self.target_arg = target
        if isinstance(target, Target):  # validate resource names now rather than at fit time
            target.check_resources(list(resources) if isinstance(resources, Mapping) else resources)
        self.resources_arg = resources
        self.budget_arg = budget
        self._schedules = self._parse_budget(budget, resources)
        self.layer_names = None if layers is None else [str(n) for n in layers]
        self.update = check_choice('update', update, UPDATES)
        self.importance = check_choice('importance', importance, IMPORTANCE_METHODS)
        self.normalization = check_choice('normalization', normalization, NORMALIZATIONS)
        if self.importance == 'taylor' and importance_data is None:
            raise invalid('importance_data', None, "(x, y) data for importance='taylor'")
        self.importance_data = importance_data
        self.importance_batches = check_int('importance_batches', importance_batches, 1)
        self.regularization = check_number('regularization', regularization, 0.0)
        self.regularization_after_end = check_number('regularization_after_end', regularization_after_end, 0.0)
        self.method = method
        self.regrowth = bool(regrowth)
        self.monitor = monitor
        if mode is None:
            mode = 'min' if monitor and 'loss' in monitor else 'max'
        self.mode = check_choice('mode', mode, ('min', 'max'))
        self.tolerance = check_number('tolerance', tolerance, 0.0)
        self.guard = check_choice('guard', guard, GUARD_ACTIONS)
        self.restore_best = bool(restore_best)
        self.baseline = None if baseline is None else check_number('baseline', baseline)
        self.validation_data = validation_data
        self.log_dir = log_dir
        self.state_path = None if state_path is None else os.fspath(state_path)
        self.protect_outputs = bool(protect_outputs)
        self.fold_dead_units = bool(fold_dead_units)
        self.verbose = int(verbose)
        if self.update == 'epoch':
            # No per-batch Python hook when pruning per epoch (Keras skips default hooks).
            self.on_train_batch_begin = keras.callbacks.Callback.on_train_batch_begin.__get__(self)
        self._strength = None
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
        self.layers_: list[dict] = []
        self.target_: Target | None = None
        self.resources_: tuple[str, ...] = ()
        self.initial_usage: np.ndarray | None = None
        self.pruning_steps = 0
        self.history: list[dict] = []
        self._frozen: np.ndarray | None = None
        self._best = None
        self._last_ok = None
        self._current_ok = True
        self._baseline = self.baseline
        self._writer = None
        self._weighted: dict[str, float] | None = None
        self._last_capacity = None
        self._step = None

    @property
    def regularization_strength(self) -> float:
        """Current group-lasso lambda (settable during training)."""
        return float(self._strength.numpy()) if self._strength is not None else self.regularization

    @regularization_strength.setter
    def regularization_strength(self, value: float):
        value = check_number('regularization_strength', value, 0.0)
        if self._strength is not None:
            self._strength.assign(value)
        else:
            self.regularization = value

    def schedule_for(self, resource: str) -> BudgetSchedule:
        if isinstance(self._schedules, dict):
            return self._schedules[resource]
        return self._schedules

    def _all_schedules(self) -> list[BudgetSchedule]:
        return list(self._schedules.values()) if isinstance(self._schedules, dict) else [self._schedules]

    # ------------------------------------------------------------------ training hooks
    def on_train_begin(self, logs=None):
        model = self.model
        self._reset()
        target = resolve_target(self.target_arg, model)
        self.target_ = target
        resources = self.resources_arg
        if isinstance(resources, Mapping):
            self._weighted = {target.check_resources([r])[0]: check_number(f'resources[{r!r}]', w, 0.0)
                              for r, w in resources.items()}
            model_resources = tuple(self._weighted)
            self.resources_ = ('weighted',)
        else:
            model_resources = target.check_resources(resources)
            self.resources_ = model_resources
        if isinstance(self._schedules, dict):
            missing = set(self.resources_) - set(self._schedules)
            if missing:
                raise invalid('budget', self.budget_arg, f'a schedule for each constrained resource {self.resources_}')
        found = prunable_layers(model, self.layer_names)
        outputs = output_layer_names(model)
        if not found:
            raise invalid('model', model.name, 'a model with at least one prunable layer (Dense, Conv, DepthwiseConv, SeparableConv or a '
                          'layer registered with hwprune.keras.register_layer)')
        if self._strength is None:
            with tf.init_scope():
                self._strength = tf.Variable(self.regularization, trainable=False, dtype=tf.float32,
                                             name='hwprune_regularization')
        else:
            self._strength.assign(self.regularization)
        for layer, info in found:
            layer_model = target.layer_model(info, model_resources)
            if layer_model is None:
                logger.info('Layer %r: target %s has no model for it; left unpruned.', info.name, target.name)
                continue
            kernel = kernel_variable(layer, info)
            mask = KernelMask(kernel, info.name)
            entry = {'layer': layer, 'info': info, 'model': layer_model, 'kernel': kernel, 'mask': mask,
                     'keep': np.ones(layer_model.layout.n_groups, bool), 'loss': None,
                     'is_output': layer.name in outputs and info.name == output_unit(layer),
                     'dead_inputs': np.zeros(kernel.shape[-2], bool)}
            self.layers_.append(entry)
        if not self.layers_:
            raise invalid('target', target, 'a target that can prune at least one layer of the model')
        index = {e['info'].name: i for i, e in enumerate(self.layers_)}
        self._link_objects = {}
        if self.fold_dead_units:
            for link in find_links(model, index):
                self._link_objects[(index[link.producer.name], index[link.consumer.name])] = link
        self._links = list(self._link_objects)
        usage = self._usage_matrix()
        self.initial_usage = usage.sum(axis=0)
        self._last_capacity = self.initial_usage[: len(self.resources_)].copy()
        resumed = self._maybe_resume()
        for entry in self.layers_:
            entry['mask'].install()
            # installed even at strength 0: the strength is a variable the user may raise mid-fit
            loss = GroupLasso(entry['kernel'], entry['model'].layout, self._strength)
            entry['loss'] = loss
            entry['layer'].add_loss(loss)
        # The train/test functions may have been traced before (an earlier fit): retrace them so
        # they pick up the mask constraints and the penalty.
        model.train_function = model.make_train_function(force=True)
        model.test_function = None
        if self.log_dir:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        if self.monitor and self._baseline is None and self.validation_data is not None:
            self._baseline = self._evaluate_monitor(self.validation_data)
        if self.monitor and self._baseline is None:
            first = min(s.begin for s in self._all_schedules())
            if first < 1 or self.update == 'step':
                raise invalid('baseline', None, f'a baseline for monitor={self.monitor!r}: pass baseline= or '
                              'validation_data=, or start pruning after the first epoch (budget begin >= 1)')
        if self._best is None:
            self._best = self._snapshot(np.inf)
        if self.verbose and not resumed:
            logger.info('hwprune: %d prunable layers, initial use %s', len(self.layers_), self._usage_text(self.initial_usage))

    def on_epoch_begin(self, epoch, logs=None):
        if self.update == 'epoch' and self._should_prune(epoch):
            self.prune(epoch)

    def on_train_batch_begin(self, batch, logs=None):
        # The optimizer step is counted in Python: reading optimizer.iterations would sync the
        # device every batch. One hook call covers steps_per_execution steps.
        if self._step is None:
            self._step = int(self.model.optimizer.iterations.numpy())
            spe = getattr(self.model, '_steps_per_execution', None)
            self._steps_per_call = int(spe.numpy()) if spe is not None else 1
        first, self._step = self._step, self._step + self._steps_per_call
        for step in range(first, self._step):
            if self._should_prune(step):
                self.prune(step)
                break

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        usage = self._usage_matrix().sum(axis=0)
        for i, r in enumerate(self._reported_resources()):
            logs[f'hwprune_{r}'] = float(usage[i])
        if self._last_capacity is not None:
            for r, c in zip(self.resources_, self._last_capacity):
                logs[f'hwprune_{r}_budget'] = float(c)
        logs['hwprune_sparsity'] = self.sparsity()
        if self._past_end(epoch):
            self._strength.assign(self.regularization * self.regularization_after_end)
        if self.monitor:
            self._guard(epoch, logs)
        if self._writer is not None:
            with self._writer.as_default(step=epoch):
                for key, value in logs.items():
                    if key.startswith('hwprune_'):
                        tf.summary.scalar(key, value)
            self._writer.flush()
        if self.state_path:
            self.save_state(self.state_path, epoch=epoch)

    def on_train_end(self, logs=None):
        if self.monitor and self.restore_best and not self._current_ok and self._best is not None:
            logger.warning('hwprune: the final model breaks the %s tolerance; restoring the smallest model within it.',
                           self.monitor)
            self._restore(self._best)
        for entry in self.layers_:
            entry['mask'].apply()
            entry['mask'].uninstall()
            if entry['loss'] is not None:
                _remove_callable_loss(entry['layer'], entry['loss'])
                entry['loss'] = None
        self.model.train_function = None
        self.model.test_function = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    # ------------------------------------------------------------------ pruning
    def _should_prune(self, step: int) -> bool:
        return any(s.should_prune(step) for s in self._all_schedules())

    def _past_end(self, step: int) -> bool:
        return all(getattr(s, 'end', -1) != -1 and step >= s.end for s in self._all_schedules())

    def fractions(self, step: int) -> np.ndarray:
        """Budget fraction of each constrained resource at ``step`` (guard-frozen values win)."""
        f = np.array([self.schedule_for(r)(step) for r in self.resources_])
        if self._frozen is not None:
            f = np.maximum(f, self._frozen)
        return f

    def _usage_matrix(self) -> np.ndarray:
        # QKeras kernels after their quantizer, as hls4ml builds them (the knapsack's group costs
        # count float nonzeros, so the selected use is an upper bound of this)
        rows = [np.asarray(e['model'].usage(firmware_kernel(e['layer'], e['info'], e['kernel'].numpy())))
                for e in self.layers_]
        rows = np.array(rows, dtype=np.float64).reshape(len(self.layers_), -1)
        if self._weighted is not None:
            rows = np.concatenate([rows @ np.array(list(self._weighted.values()))[:, None], rows], axis=1)
        return rows

    def _reported_resources(self):
        return (('weighted',) + tuple(self._weighted)) if self._weighted is not None else self.resources_

    def _gradients(self):
        x, y = self.importance_data[0], self.importance_data[1]
        batch = max(1, int(math.ceil(len(x) / self.importance_batches)))
        kernels = [e['kernel'] for e in self.layers_]
        total = [np.zeros(tuple(k.shape), np.float64) for k in kernels]
        for start in range(0, len(x), batch):
            with tf.GradientTape() as tape:
                pred = self.model(tf.convert_to_tensor(x[start:start + batch]), training=False)
                # the data loss only: the group-lasso term is not part of a group's importance
                loss = self.model.compiled_loss(tf.convert_to_tensor(y[start:start + batch]), pred)
            for i, g in enumerate(tape.gradient(loss, kernels)):
                if g is not None:
                    total[i] += np.asarray(g)
        return total

    def prune(self, step: int) -> None:
        """Run one pruning step now (importance -> knapsack -> masks) at schedule position ``step``."""
        fractions = self.fractions(step)
        capacity = fractions * self.initial_usage[: len(self.resources_)]
        grads = self._gradients() if self.importance == 'taylor' else [None] * len(self.layers_)
        kernels = []
        for entry in self.layers_:
            kernel = entry['kernel'].numpy()
            if not np.all(np.isfinite(kernel)):
                raise invalid('model', entry['info'].name, f'finite weights at pruning step {step} (layer '
                              f'{entry["info"].name!r} has NaN or inf weights; lower the learning rate)')
            kernels.append(kernel)
        # Select, find the units left without weights, discount the consumer weights that would only
        # read their constant, and select again with the budget those weights held (a few rounds).
        def dead_after(masks):
            # inputs reading a unit with no weights left (a constant), and units no consumer reads
            dead = [e['dead_inputs'].copy() for e in self.layers_]
            unread = [np.zeros(e['kernel'].shape[-1], bool) for e in self.layers_]
            for p, c in self._links:
                dead[c] |= dead_units(masks[p])
                unread[p] |= unread_units(masks[c])
            return dead, unread

        dead_in = [e['dead_inputs'].copy() for e in self.layers_]
        unread = [np.zeros(e['kernel'].shape[-1], bool) for e in self.layers_]
        for _ in range(4):
            keeps = self._select(kernels, grads, dead_in, unread, capacity)
            masks = [e['model'].layout.expand(k.astype(np.float32), fill=1.0) * output_mask(e['kernel'].shape, u)
                     for e, k, u in zip(self.layers_, keeps, unread)]
            new_dead, new_unread = dead_after(masks)
            if all(np.array_equal(a, b) for a, b in zip(new_dead + new_unread, dead_in + unread)):
                break
            dead_in, unread = new_dead, new_unread
        dead_in, _ = dead_after(masks)  # only units really dead in the final selection are folded
        folded = self._fold_dead_units(dead_in)  # before the masks zero the weights it reads
        for entry, keep, dead, mask in zip(self.layers_, keeps, folded, masks):
            entry['keep'] = np.asarray(keep, bool)
            entry['mask'].set(mask * input_mask(entry['kernel'].shape, dead))
        self.pruning_steps += 1
        self._last_capacity = capacity
        usage = self._usage_matrix().sum(axis=0)
        record = {'step': int(step), 'fractions': fractions.tolist(), 'capacity': capacity.tolist(),
                  'usage': dict(zip(self._reported_resources(), usage.tolist())), 'sparsity': self.sparsity()}
        self.history.append(record)
        if np.any(usage[: len(self.resources_)] > capacity + 1e-9):
            logger.warning('hwprune: step %d could not meet the budget (use %s > budget %s).', step,
                           self._usage_text(usage), capacity.tolist())
        if self.verbose:
            logger.info('hwprune step %d: budget %s -> use %s, sparsity %.3f', step,
                        np.round(fractions, 4).tolist(), self._usage_text(usage), record['sparsity'])

    def _select(self, kernels, grads, dead_in, unread, capacity):
        scores, lives = [], []
        for entry, kernel, grad, dead, gone in zip(self.layers_, kernels, grads, dead_in, unread):
            # weights reading a constant, or computing a unit nobody reads, are worth nothing
            live = kernel * input_mask(kernel.shape, dead) * output_mask(kernel.shape, gone)
            value = group_importance(live, entry['model'].layout, self.importance, grad)
            scores.append(normalize(value, self.normalization) * entry['keep'])
            lives.append(live)
        required = self._required_paths(lives, scores)
        states = []
        for entry, live, score, grad, req in zip(self.layers_, lives, scores, grads, required):
            model = entry['model']
            if self._weighted is not None:
                model = _WeightedModel(model, np.array(list(self._weighted.values())))
            states.append(LayerState(model=model, kernel=live, keep=entry['keep'].copy(), importance=score,
                                     gradient=grad, required=req))
        return self.target_.select(states, capacity, method=self.method, regrowth=self.regrowth)

    def _required_paths(self, kernels, scores):
        """With ``protect_outputs``: for every output neuron its best live group, and back along the
        links, for every unit those groups read, the best live group of that unit, so that each
        output keeps a path to the input."""
        required = [None] * len(self.layers_)
        if not self.protect_outputs:
            return required
        producer_of = {c: p for p, c in self._links}
        pending = [(i, np.arange(_n_units(e))) for i, e in enumerate(self.layers_) if e['is_output']]
        while pending:
            i, units = pending.pop()
            entry = self.layers_[i]
            ids = entry['model'].layout.ids.reshape(-1, _n_units(entry))
            live = kernels[i].reshape(-1, _n_units(entry)) != 0
            if required[i] is None:
                required[i] = np.zeros(entry['model'].layout.n_groups, bool)
            inputs = set()
            for unit in units:
                rows = np.flatnonzero(live[:, unit])
                groups = ids[rows, unit]
                ok = groups >= 0
                rows, groups = rows[ok], groups[ok]
                if not groups.size or scores[i][groups].max() <= 0:
                    continue
                best = np.argmax(scores[i][groups])
                required[i][groups[best]] = True
                fan_in = entry['kernel'].shape[-2]
                inputs.add(int(rows[best] % fan_in))  # rows enumerate (taps..., channel)
            if i in producer_of and inputs:
                pending.append((producer_of[i], np.array(sorted(inputs))))
        return required

    def _fold_dead_units(self, dead_in):
        """Fold the constants of newly dead units into their consumers' biases, once per unit.

        Returns the dead inputs per layer that are folded (the others keep their weights)."""
        for p, c in self._links:
            consumer = self.layers_[c]
            new = dead_in[c] & ~consumer['dead_inputs']
            if not new.any():
                continue
            link = self._link_objects[(p, c)]
            constants = unit_constants(link, new)
            if constants is None or not fold(link, new, constants):
                # not exact: give those weights back to the consumer (strip removes the units later)
                logger.debug('hwprune: cannot fold dead units of %r into %r exactly; keeping their weights.',
                             self.layers_[p]['info'].name, consumer['info'].name)
                continue
            consumer['dead_inputs'] |= new
        return [e['dead_inputs'].copy() for e in self.layers_]

    def sparsity(self) -> float:
        """Fraction of zero weights over the pruned layers' kernels."""
        total = sum(int(np.prod(e['kernel'].shape)) for e in self.layers_)
        zeros = sum(int(np.sum(e['kernel'].numpy() == 0)) for e in self.layers_)
        return zeros / max(total, 1)

    def usage(self) -> dict[str, float]:
        """Current use of each constrained resource, summed over the pruned layers."""
        return dict(zip(self._reported_resources(), self._usage_matrix().sum(axis=0).tolist()))

    def regularization_value(self) -> float:
        """Current value of the group-lasso term added to the loss."""
        return float(sum(float(e['loss']().numpy()) for e in self.layers_ if e['loss'] is not None))

    def _usage_text(self, usage) -> str:
        return ', '.join(f'{r}={v:g}' for r, v in zip(self._reported_resources(), np.asarray(usage).tolist()))

    # ------------------------------------------------------------------ accuracy guard
    def _evaluate_monitor(self, data) -> float:
        x, y = data[0], data[1]
        results = self.model.evaluate(x, y, verbose=0, return_dict=True)
        key = self.monitor[4:] if self.monitor.startswith('val_') else self.monitor
        if key not in results:
            raise invalid('monitor', self.monitor, 'a metric the model computes: ' +
                          ', '.join(sorted({f'val_{k}' for k in results} | set(results))))
        return float(results[key])

    def _within(self, value: float) -> bool:
        if self.mode == 'max':
            return value >= self._baseline * (1.0 - self.tolerance) - 1e-12
        return value <= self._baseline * (1.0 + self.tolerance) + 1e-12

    def _guard(self, epoch: int, logs: dict):
        if self.monitor not in logs:
            raise invalid('monitor', self.monitor, 'a key of the epoch logs: ' + ', '.join(sorted(logs)))
        value = float(logs[self.monitor])
        if self._baseline is None:
            if self.pruning_steps == 0:
                self._baseline = value
                logger.info('hwprune: baseline %s = %.4f', self.monitor, value)
            else:  # pragma: no cover - prevented in on_train_begin
                raise invalid('baseline', None, 'a baseline measured before pruning')
        ok = self._within(value)
        self._current_ok = ok
        logs['hwprune_within_tolerance'] = float(ok)
        cost = float(self._usage_matrix().sum(axis=0)[0])
        if ok:
            self._last_ok = self._snapshot(cost, value)
            if self._best is None or cost < self._best['cost'] or (cost == self._best['cost'] and self._better(value, self._best.get('metric'))):
                self._best = self._last_ok
            return
        if self._frozen is None:
            reference = self._last_ok or self._best
            self._frozen = np.array(reference['fractions']) if reference and reference.get('fractions') is not None \
                else np.ones(len(self.resources_))
            logger.warning('hwprune: %s = %.4f breaks the tolerance (baseline %.4f, tolerance %g); budget frozen at %s.',
                           self.monitor, value, self._baseline, self.tolerance, self._frozen.tolist())
        if self.guard == 'rollback' and self._last_ok is not None:
            self._restore(self._last_ok)
            self._current_ok = True
            logs['hwprune_within_tolerance'] = 1.0

    def _better(self, a, b) -> bool:
        if b is None:
            return True
        return a > b if self.mode == 'max' else a < b

    def _snapshot(self, cost: float, metric: float | None = None) -> dict:
        fractions = self.history[-1]['fractions'] if self.history else [1.0] * len(self.resources_)
        return {'cost': cost, 'metric': metric, 'fractions': fractions,
                'weights': [w.copy() for w in self.model.get_weights()],
                'keeps': [e['keep'].copy() for e in self.layers_],
                'dead_inputs': [e['dead_inputs'].copy() for e in self.layers_],
                'masks': [e['mask'].numpy().copy() for e in self.layers_]}

    def _restore(self, snap: dict):
        self.model.set_weights(snap['weights'])
        for entry, keep, mask, dead in zip(self.layers_, snap['keeps'], snap['masks'], snap['dead_inputs']):
            entry['keep'] = keep.copy()
            entry['dead_inputs'] = dead.copy()
            entry['mask'].set(mask)

    # ------------------------------------------------------------------ resume
    def get_state(self) -> dict[str, Any]:
        """The state needed to resume: masks, keeps, step counts, baseline, frozen budget."""
        return {'layers': [e['info'].name for e in self.layers_],
                'masks': [e['mask'].numpy() for e in self.layers_],
                'keeps': [e['keep'] for e in self.layers_],
                'dead_inputs': [e['dead_inputs'] for e in self.layers_],
                'initial_usage': self.initial_usage, 'pruning_steps': self.pruning_steps,
                'baseline': self._baseline, 'frozen': self._frozen, 'history': self.history,
                'last_capacity': self._last_capacity}

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`get_state` dict (after ``on_train_begin`` has bound the layers)."""
        names = [e['info'].name for e in self.layers_]
        if list(state['layers']) != names:
            raise invalid('state', list(state['layers']), f'the state of a callback over layers {names}')
        dead = state.get('dead_inputs') or [np.zeros(e['kernel'].shape[-2], bool) for e in self.layers_]
        for entry, mask, keep, d in zip(self.layers_, state['masks'], state['keeps'], dead):
            entry['keep'] = np.asarray(keep, bool)
            entry['dead_inputs'] = np.asarray(d, bool)
            entry['mask'].set(mask)
        self.initial_usage = np.asarray(state['initial_usage'], np.float64)
        self.pruning_steps = int(state['pruning_steps'])
        self._baseline = state['baseline'] if state['baseline'] is not None else self._baseline
        self._frozen = None if state['frozen'] is None else np.asarray(state['frozen'])
        self.history = list(state['history'])
        self._last_capacity = None if state.get('last_capacity') is None else np.asarray(state['last_capacity'])

    def save_state(self, path: str, epoch: int | None = None) -> None:
        """Write :meth:`get_state` to ``path`` (numpy ``.npz``, written atomically)."""
        state = self.get_state()
        arrays = {f'mask_{i}': m for i, m in enumerate(state['masks'])}
        arrays.update({f'keep_{i}': k for i, k in enumerate(state['keeps'])})
        arrays.update({f'dead_{i}': d for i, d in enumerate(state['dead_inputs'])})
        meta = {'layers': state['layers'], 'initial_usage': np.asarray(state['initial_usage']).tolist(),
                'pruning_steps': state['pruning_steps'], 'baseline': state['baseline'],
                'frozen': None if state['frozen'] is None else np.asarray(state['frozen']).tolist(),
                'history': state['history'], 'epoch': epoch,
                'last_capacity': None if state['last_capacity'] is None else np.asarray(state['last_capacity']).tolist()}
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        tmp = path + '.tmp.npz'
        np.savez(tmp, meta=np.array(json.dumps(meta)), **arrays)
        os.replace(tmp, path)

    @staticmethod
    def load_state(path: str) -> dict[str, Any]:
        """Read a state written by :meth:`save_state`."""
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data['meta']))
            n = len(meta['layers'])
            meta['masks'] = [data[f'mask_{i}'] for i in range(n)]
            meta['keeps'] = [data[f'keep_{i}'] for i in range(n)]
            meta['dead_inputs'] = [data[f'dead_{i}'] for i in range(n)] if 'dead_0' in data else None
        return meta

    def _maybe_resume(self) -> bool:
        if not self.state_path or not os.path.exists(self.state_path):
            return False
        state = self.load_state(self.state_path)
        self.set_state(state)
        logger.info('hwprune: resumed from %s (epoch %s, %d pruning steps).', self.state_path, state.get('epoch'),
                    self.pruning_steps)
        return True


def _remove_callable_loss(layer, loss) -> None:
    # Keras 2 stores ``functools.partial(_tag_callable, loss)`` for each callable loss.
    layer._callable_losses[:] = [c for c in layer._callable_losses
                                 if c is not loss and getattr(c, 'args', (None,))[0] is not loss]


class _WeightedModel:
    """A layer model whose cost columns are folded into one weighted resource.

    ``base`` is the target's own model and ``weights`` the weight of each of its resources, for
    targets whose ``select`` needs them."""

    def __init__(self, model, weights: np.ndarray):
        self._model = model
        self.base = model
        self.weights = dict(zip(model.resources, np.asarray(weights, float).tolist()))
        self.resources = ('weighted',)
        self.group_costs = model.group_costs @ weights[:, None]
        self.fixed = np.array([float(np.asarray(model.fixed) @ weights)])
        self.layout = model.layout
        self.info = model.info

    def __getattr__(self, name):
        return getattr(self._model, name)


__all__ = ['HardwarePruning']
