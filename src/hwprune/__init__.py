"""hwprune: hardware-aware structured pruning for hls4ml FPGAs and other accelerators.

The public names below are re-exported one by one. The numpy core (layouts, costs, knapsack,
budgets, importance, reports, targets) loads without TensorFlow; the Keras adapter
(``HardwarePruning``, ``estimate``, ``strip``) and the hls4ml converter (``convert``) load on
first use. Importing ``hwprune`` registers hwprune's hls4ml optimizer passes (``hwprune:*``)
when hls4ml is installed, so that an hls4ml config alone can ask for them.

Example:
    >>> import hwprune
    >>> hwprune.solve_knapsack([4, 5, 6, 8, 3], [2, 5, 3, 2, 5], 8).value
    18.0
"""

from __future__ import annotations

import importlib
import logging

from .budgets import BudgetSchedule, ConstantBudget, PolynomialBudget
from .knapsack import KnapsackResult, solve_knapsack
from .report import Report

__version__ = '0.1.0'

logging.getLogger(__name__).addHandler(logging.NullHandler())

_LAZY = {
    'HardwarePruning': ('hwprune.keras.callback', 'HardwarePruning'),
    'estimate': ('hwprune.keras.estimate', 'estimate'),
    'strip': ('hwprune.keras.strip', 'strip'),
    'register_layer': ('hwprune.keras.registry', 'register_layer'),
    'convert': ('hwprune.hls.convert', 'convert'),
    'targets': ('hwprune.targets', None),
}

__all__ = [
    'BudgetSchedule', 'ConstantBudget', 'HardwarePruning', 'KnapsackResult', 'PolynomialBudget', 'Report',
    'convert', 'estimate', 'register_layer', 'solve_knapsack', 'strip', 'targets', '__version__',
]


def __getattr__(name):
    if name in _LAZY:
        module_name, attribute = _LAZY[name]
        module = importlib.import_module(module_name)
        value = module if attribute is None else getattr(module, attribute)
        globals()[name] = value
        return value
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def __dir__():
    return sorted(set(globals()) | set(__all__))


def _register_hls4ml_passes():
    try:
        importlib.import_module('hls4ml')
    except ImportError:  # hls4ml is optional for the core
        logging.getLogger(__name__).debug('hls4ml not installed; hwprune passes not registered')
        return
    importlib.import_module('hwprune.hls')


_register_hls4ml_passes()
