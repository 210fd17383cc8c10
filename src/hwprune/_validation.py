"""Argument checks shared by the whole library.

Every message has one format, modelled on tf-keras: it names the argument and shows the value
received, so a user can find the mistake without reading a traceback from deep inside a
dependency.
"""

from __future__ import annotations

import numbers
from typing import Any, Iterable

import numpy as np


def invalid(argument: str, value: Any, expected: str, error: type = ValueError) -> Exception:
    """Build the library's standard error for a bad argument.

    Example:
        >>> raise invalid('method', 'foo', "one of 'auto', 'exact', 'greedy'")
        Traceback (most recent call last):
        ValueError: Invalid value for argument `method`: expected one of 'auto', 'exact', 'greedy'. Received: method='foo'
    """
    shown = repr(value)
    if len(shown) > 200:
        shown = shown[:197] + '...'
    return error(f'Invalid value for argument `{argument}`: expected {expected}. Received: {argument}={shown}')


def check_choice(argument: str, value: Any, choices: Iterable[str]) -> str:
    """Return ``value`` lower-cased if it is one of ``choices`` (case-insensitive), else raise."""
    choices = tuple(choices)
    if not isinstance(value, str) or value.lower() not in {c.lower() for c in choices}:
        raise invalid(argument, value, 'one of ' + ', '.join(repr(c) for c in choices))
    return value.lower()


def check_bool(argument: str, value: Any) -> bool:
    """Return ``value`` if it is a bool (numpy bools too), else raise: a string such as ``'false'``
    is not read as a truth value.

    Example:
        >>> check_bool('regrowth', 'false')
        Traceback (most recent call last):
        TypeError: Invalid value for argument `regrowth`: expected True or False. Received: regrowth='false'
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise invalid(argument, value, 'True or False', TypeError)


def check_mapping(argument: str, value: Any, allow_none: bool = True) -> dict:
    """Return ``value`` as a dict if it is a mapping (or ``None``: an empty dict), else raise."""
    from collections.abc import Mapping

    if value is None and allow_none:
        return {}
    if not isinstance(value, Mapping):
        raise invalid(argument, value, 'a dict', TypeError)
    return dict(value)


def check_int(argument: str, value: Any, minimum: int | None = None) -> int:
    """Return ``value`` as ``int`` if it is an integer (not bool) >= ``minimum``, else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise invalid(argument, value, 'an integer', TypeError)
    if minimum is not None and value < minimum:
        raise invalid(argument, value, f'an integer >= {minimum}')
    return int(value)


def check_number(argument: str, value: Any, minimum: float | None = None, maximum: float | None = None,
                 open_min: bool = False) -> float:
    """Return ``value`` as a finite ``float`` within the given bounds, else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise invalid(argument, value, 'a real number', TypeError)
    value = float(value)
    if not np.isfinite(value):
        raise invalid(argument, value, 'a finite number')
    if minimum is not None and (value < minimum or (open_min and value == minimum)):
        raise invalid(argument, value, f'a number {">" if open_min else ">="} {minimum}')
    if maximum is not None and value > maximum:
        raise invalid(argument, value, f'a number <= {maximum}')
    return value


def check_array(argument: str, value: Any, ndim: Iterable[int] | None = None, nonnegative: bool = False) -> np.ndarray:
    """Return ``value`` as a finite float64 array, checking its rank and sign."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise invalid(argument, value, 'an array of real numbers', TypeError) from None
    if ndim is not None and array.ndim not in tuple(ndim):
        raise invalid(argument, value, f'an array with {" or ".join(map(str, ndim))} dimension(s), got shape {array.shape}')
    if not np.all(np.isfinite(array)):
        raise invalid(argument, value, 'finite numbers (no NaN or inf)')
    if nonnegative and np.any(array < 0):
        raise invalid(argument, value, 'non-negative numbers')
    return array
