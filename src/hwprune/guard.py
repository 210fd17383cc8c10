"""The accuracy guard: stop tightening the budget (or roll back) when a metric leaves its tolerance.

At the end of every epoch the framework adapter hands the guard the monitored metric, the
current cost (use of the first constrained resource) and the budget fractions in force, with a
way to take a snapshot of the model; the guard keeps the last snapshot within tolerance and the
cheapest one, and answers what to do. Snapshots are opaque to the guard (the Keras callback
stores weights and masks in them).

Example:
    >>> guard = AccuracyGuard('val_accuracy', tolerance=0.01, baseline=0.90)
    >>> guard.observe(0.895, cost=100.0, fractions=[0.5], snapshot=lambda: 'weights@100').within
    True
    >>> verdict = guard.observe(0.85, cost=60.0, fractions=[0.3], snapshot=lambda: 'weights@60')
    >>> verdict.within, guard.frozen.tolist()
    (False, [0.5])
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from ._validation import check_choice, check_number, invalid

logger = logging.getLogger(__name__)

ACTIONS = ('stop', 'rollback')


@dataclass
class Snapshot:
    """A model state the guard may return to.

    Attributes:
        cost: use of the first constrained resource at the time.
        metric: the monitored value (``None`` for the state before training).
        fractions: the budget fractions in force (``None``: the unpruned model).
        payload: whatever the adapter needs to restore the state.
    """

    cost: float
    metric: float | None
    fractions: list | None
    payload: Any


@dataclass
class Verdict:
    """The guard's answer for one epoch.

    Attributes:
        within: the metric (after a rollback: the restored state) is within tolerance.
        restore: a snapshot to restore now (``guard='rollback'``), else ``None``.
        froze: the budget was frozen at this epoch.
    """

    within: bool
    restore: Snapshot | None = None
    froze: bool = False


def default_mode(monitor: str | None) -> str:
    """``'min'`` for metrics named like a loss, else ``'max'``."""
    return 'min' if monitor and 'loss' in monitor else 'max'


class AccuracyGuard:
    """Keeps a metric within a tolerance of its baseline while the budget tightens.

    Args:
        monitor: the metric's name (e.g. ``'val_accuracy'``).
        mode: ``'max'`` or ``'min'``; default :func:`default_mode`.
        tolerance: relative loss of the metric allowed against the baseline.
        action: ``'stop'`` (freeze the budget at the last fractions within tolerance) or
            ``'rollback'`` (also return to the last state within tolerance).
        baseline: the metric's reference; default: the first value observed before pruning.
    """

    def __init__(self, monitor: str, mode: str | None = None, tolerance: float = 0.01, action: str = 'stop',
                 baseline: float | None = None):
        if not isinstance(monitor, str) or not monitor:
            raise invalid('monitor', monitor, "the name of a metric in the epoch logs, e.g. 'val_accuracy'", TypeError)
        self.monitor = monitor
        self.mode = check_choice('mode', default_mode(monitor) if mode is None else mode, ('min', 'max'))
        self.tolerance = check_number('tolerance', tolerance, 0.0)
        self.action = check_choice('guard', action, ACTIONS)
        self.initial_baseline = None if baseline is None else check_number('baseline', baseline)
        self.reset()

    def reset(self) -> None:
        """Forget everything observed (a new ``fit``)."""
        self.baseline = self.initial_baseline
        self.frozen: np.ndarray | None = None
        self.best: Snapshot | None = None
        self.last_ok: Snapshot | None = None
        self.current_ok = True

    def within(self, value: float) -> bool:
        """Whether ``value`` is within tolerance of the baseline."""
        if self.mode == 'max':
            return value >= self.baseline * (1.0 - self.tolerance) - 1e-12
        return value <= self.baseline * (1.0 + self.tolerance) + 1e-12

    def better(self, a: float, b: float | None) -> bool:
        if b is None:
            return True
        return a > b if self.mode == 'max' else a < b

    def start(self, snapshot: Snapshot) -> None:
        """Record the state before pruning as the fallback ``best``."""
        if self.best is None:
            self.best = snapshot

    def observe(self, value: float, cost: float, fractions: Sequence[float] | None, snapshot: Callable[[], Any],
                pruned: bool = True) -> Verdict:
        """Judge one epoch's metric.

        Args:
            value: the metric.
            cost: use of the first constrained resource now.
            fractions: the budget fractions in force (``None`` before the first pruning step).
            snapshot: takes the payload of a snapshot of the current state (called only if needed).
            pruned: whether a pruning step has run (the baseline is taken from the first epoch
                before one, if none was given).
        """
        value = float(value)
        if self.baseline is None:
            if pruned:
                raise invalid('baseline', None, 'a baseline measured before pruning')
            self.baseline = value
            logger.info('hwprune: baseline %s = %.4f', self.monitor, value)
        ok = self.within(value)
        self.current_ok = ok
        if ok:
            self.last_ok = Snapshot(float(cost), value, None if fractions is None else list(fractions), snapshot())
            if (self.best is None or cost < self.best.cost
                    or (cost == self.best.cost and self.better(value, self.best.metric))):
                self.best = self.last_ok
            return Verdict(True)
        froze = False
        if self.frozen is None:
            reference = self.last_ok or self.best
            n = len(fractions) if fractions is not None else 1
            self.frozen = (np.array(reference.fractions) if reference is not None and reference.fractions is not None
                           else np.ones(n))
            froze = True
            logger.warning('hwprune: %s = %.4f breaks the tolerance (baseline %.4f, tolerance %g); budget frozen at %s.',
                           self.monitor, value, self.baseline, self.tolerance, self.frozen.tolist())
        if self.action == 'rollback' and self.last_ok is not None:
            self.current_ok = True
            return Verdict(True, restore=self.last_ok, froze=froze)
        return Verdict(False, froze=froze)

    def apply_freeze(self, fractions: np.ndarray) -> np.ndarray:
        """The fractions in force: never below the frozen ones."""
        return fractions if self.frozen is None else np.maximum(fractions, self.frozen)

    def final(self, restore_best: bool) -> Snapshot | None:
        """At the end of training: the snapshot to restore (the cheapest state within tolerance)
        if the final state breaks the tolerance and ``restore_best``; else ``None``."""
        if restore_best and not self.current_ok and self.best is not None:
            logger.warning('hwprune: the final model breaks the %s tolerance; restoring the smallest model within it.',
                           self.monitor)
            return self.best
        return None


__all__ = ['ACTIONS', 'AccuracyGuard', 'Snapshot', 'Verdict', 'default_mode']
