"""Budget schedules: how much of each resource is allowed at each pruning step.

A budget is a *fraction of the initial use* of a resource (1.0 = what the unpruned model
needs). Schedules follow tfmot's ``ConstantSparsity`` / ``PolynomialDecay`` conventions, but
speak of the fraction kept rather than the sparsity. ``step`` is whatever unit the callback
counts in (epochs or optimizer steps).

Example:
    >>> b = PolynomialBudget(final=0.25, begin=0, end=10, power=1)
    >>> [round(b(t), 3) for t in (0, 5, 10, 20)]
    [1.0, 0.625, 0.25, 0.25]
    >>> PolynomialBudget.from_config(b.get_config()) == b
    True
"""

from __future__ import annotations

import inspect
import math
from typing import Any, Mapping

from ._validation import check_int, check_mapping, check_number, invalid

_REGISTRY: dict[str, type] = {}
#: ``end`` value that lets the run's length decide (see :meth:`BudgetSchedule.resolve`).
AUTO = 'auto'


def _register(cls):
    _REGISTRY[cls.__name__] = cls
    return cls


class BudgetSchedule:
    """Base class: ``schedule(step) -> fraction`` of the initial resource use allowed.

    Subclasses implement :meth:`__call__`, :meth:`get_config` and :meth:`should_prune`.
    """

    def __call__(self, step: int) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def should_prune(self, step: int) -> bool:
        """Whether a pruning step runs at ``step``."""
        raise NotImplementedError  # pragma: no cover - abstract

    @property
    def final_fraction(self) -> float:
        """The budget the schedule ends at."""
        raise NotImplementedError  # pragma: no cover - abstract

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError  # pragma: no cover - abstract

    def resolve(self, total_steps: int) -> 'BudgetSchedule':
        """This schedule with anything left to the length of training (``end='auto'``) decided,
        for a run of ``total_steps`` steps; schedules without such a setting return themselves."""
        return self

    @classmethod
    def from_config(cls, config: Mapping[str, Any]):
        """Inverse of :meth:`get_config`; unknown keys are named (not Python's own TypeError)."""
        config = check_mapping('config', config, allow_none=False)
        signature = inspect.signature(cls.__init__).parameters
        parameters = {n: p for n, p in signature.items() if n != 'self' and p.kind not in (p.VAR_POSITIONAL,
                                                                                            p.VAR_KEYWORD)}
        open_ended = any(p.kind == p.VAR_KEYWORD for p in signature.values())
        unknown = [] if open_ended else sorted(set(config) - set(parameters), key=str)
        missing = [n for n, p in parameters.items() if p.default is p.empty and n not in config]
        if unknown or missing:
            problem = f'unknown: {", ".join(map(repr, unknown))}' if unknown else f'missing: {", ".join(missing)}'
            raise invalid('config', config, f'keys among {", ".join(parameters)} for {cls.__name__} ({problem})',
                          TypeError)
        return cls(**config)

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self):
        return hash((type(self).__name__, tuple(sorted(self.get_config().items()))))

    def __repr__(self):
        args = ', '.join(f'{k}={v!r}' for k, v in self.get_config().items())
        return f'{type(self).__name__}({args})'


#: With ``end='auto'``, the budget reaches its final value after this fraction of the steps of the
#: run (epochs, or optimizer steps) from ``begin``: measured on the jet task, a budget that keeps
#: falling until about 85 % of the fine-tuning epochs prunes with the least loss (docs/benchmarks.md).
AUTO_END_FRACTION = 0.85


def _check_window(begin, end, frequency):
    begin = check_int('begin', begin, 0)
    if end == AUTO:
        return begin, AUTO, check_int('frequency', frequency, 1)
    end = check_int('end', end, -1)
    if end != -1 and end < begin:
        raise invalid('end', end, f'-1 (never stop) or an integer >= begin={begin}')
    frequency = check_int('frequency', frequency, 1)
    return begin, end, frequency


@_register
class ConstantBudget(BudgetSchedule):
    """The same budget at every pruning step from ``begin`` to ``end`` (``-1``: no end).

    Args:
        fraction: fraction of the initial resource use allowed, in (0, 1].
        begin: first step at which pruning happens.
        end: last step at which pruning may happen (-1: until training ends).
        frequency: prune every ``frequency`` steps.

    Example:
        >>> ConstantBudget(0.5)(3)
        0.5
    """

    def __init__(self, fraction: float, begin: int = 0, end: int = -1, frequency: int = 1):
        self.fraction = check_number('fraction', fraction, 0.0, 1.0, open_min=True)
        if end == AUTO:
            raise invalid('end', end, "-1 (never stop) or a step: 'auto' is for PolynomialBudget")
        self.begin, self.end, self.frequency = _check_window(begin, end, frequency)

    def __call__(self, step: int) -> float:
        return self.fraction

    @property
    def final_fraction(self) -> float:
        return self.fraction

    def should_prune(self, step: int) -> bool:
        return step >= self.begin and (self.end == -1 or step <= self.end) and (step - self.begin) % self.frequency == 0

    def get_config(self):
        return {'fraction': self.fraction, 'begin': self.begin, 'end': self.end, 'frequency': self.frequency}


@_register
class PolynomialBudget(BudgetSchedule):
    """Budget falling from ``initial`` to ``final`` polynomially between ``begin`` and ``end``.

    Same shape as tfmot's ``PolynomialDecay`` (cubic by default): at step t,
    ``final + (initial - final) * (1 - p)**power`` with ``p = (t - begin) / (end - begin)``
    clipped to [0, 1]. Pruning steps happen every ``frequency`` steps within [begin, end] and
    once more at ``end``; with ``end == begin`` the one step prunes straight to ``final``.

    Args:
        final: budget fraction at ``end``, in (0, 1].
        initial: budget fraction at ``begin`` (default 1.0: the unpruned use), >= final.
        begin: step at which the budget starts to fall.
        end: step at which it reaches ``final``; ``'auto'``: at :data:`AUTO_END_FRACTION` of the
            run from ``begin`` (the callback resolves it when ``fit`` starts, from its epochs or
            steps), leaving the rest of the run to fine-tune at the final budget.
        power: exponent of the decay (3 as tfmot; 1 is linear).
        frequency: prune every ``frequency`` steps.

    Example:
        >>> PolynomialBudget(final=0.1, end=20)(20)
        0.1
        >>> PolynomialBudget(final=0.1, end='auto').resolve(100).end
        85
    """

    def __init__(self, final: float, initial: float = 1.0, begin: int = 0, end: int | str = 10,
                 power: float = 3.0, frequency: int = 1):
        self.final = check_number('final', final, 0.0, 1.0, open_min=True)
        self.initial = check_number('initial', initial, 0.0, 1.0, open_min=True)
        if self.initial < self.final:
            raise invalid('initial', initial, f'a fraction >= final={self.final}')
        self.begin, self.end, self.frequency = _check_window(begin, end, frequency)
        if self.end == -1:
            raise invalid('end', end, 'an integer >= begin (a polynomial budget needs an end)')
        self.power = check_number('power', power, 0.0, open_min=True)

    def resolve(self, total_steps: int) -> 'PolynomialBudget':
        if self.end != AUTO:
            return self
        total = check_int('total_steps', total_steps, 1)
        end = min(self.begin + int(round(AUTO_END_FRACTION * (total - self.begin))), total - 1)
        return PolynomialBudget(self.final, self.initial, self.begin, max(end, self.begin), self.power, self.frequency)

    def _check_resolved(self) -> None:
        if self.end == AUTO:
            raise invalid('end', AUTO, "a resolved schedule: end='auto' is decided when fit starts "
                          '(schedule.resolve(total_steps))', RuntimeError)

    def __call__(self, step: int) -> float:
        self._check_resolved()
        if self.end == self.begin:  # no decay: one step, straight to the final budget
            return self.final if step >= self.end else self.initial
        p = min(max((step - self.begin) / (self.end - self.begin), 0.0), 1.0)
        return self.final + (self.initial - self.final) * (1.0 - p) ** self.power

    @property
    def final_fraction(self) -> float:
        return self.final

    def should_prune(self, step: int) -> bool:
        self._check_resolved()
        if step < self.begin or step > self.end:
            return False
        return (step - self.begin) % self.frequency == 0 or step == self.end

    def get_config(self):
        return {'final': self.final, 'initial': self.initial, 'begin': self.begin, 'end': self.end,
                'power': self.power, 'frequency': self.frequency}


def serialize(schedule: BudgetSchedule) -> dict[str, Any]:
    """``{'class_name': ..., 'config': ...}``, JSON-native."""
    if not isinstance(schedule, BudgetSchedule):
        raise invalid('schedule', schedule, 'a BudgetSchedule', TypeError)
    return {'class_name': type(schedule).__name__, 'config': schedule.get_config()}


def deserialize(config: Mapping[str, Any]) -> BudgetSchedule:
    """Inverse of :func:`serialize`."""
    try:
        cls = _REGISTRY[config['class_name']]
    except (KeyError, TypeError):
        raise invalid('config', config, "{'class_name': one of " + ', '.join(_REGISTRY) + ", 'config': {...}}") from None
    return cls.from_config(config.get('config'))


def as_schedule(value, argument: str = 'budget') -> BudgetSchedule:
    """Accept a schedule, a fraction or a serialized schedule.

    A fraction ``f`` is ``PolynomialBudget(final=f, end='auto')``: the budget falls from the
    unpruned use to ``f`` over the first :data:`AUTO_END_FRACTION` of the run and stays there (a
    budget reached in one step prunes weights the regularisation has not yet moved; use
    :class:`ConstantBudget` for that).

    Example:
        >>> as_schedule(0.25)
        PolynomialBudget(final=0.25, initial=1.0, begin=0, end='auto', power=3.0, frequency=1)
    """
    if isinstance(value, BudgetSchedule):
        return value
    if isinstance(value, Mapping):
        return deserialize(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not (0.0 < float(value) <= 1.0) or math.isnan(float(value)):
            raise invalid(argument, value, 'a fraction in (0, 1] or a BudgetSchedule')
        return PolynomialBudget(final=float(value), end=AUTO)
    raise invalid(argument, value, 'a fraction in (0, 1] or a BudgetSchedule', TypeError)


__all__ = ['AUTO', 'AUTO_END_FRACTION', 'BudgetSchedule', 'ConstantBudget', 'PolynomialBudget', 'as_schedule', 'deserialize', 'serialize']
