"""Hardware targets: each turns a layer into pruning groups and their costs.

* :class:`FPGATarget` — hls4ml Vivado/Vitis (DSP groups, BRAM columns).
* :class:`SystolicArray` — column combining for systolic arrays.
* :class:`PIMArray` — processing-in-memory crossbars (VW-SDK cycles, channel pruning).
* :class:`Energy` — Eyeriss-style energy model.
"""

from __future__ import annotations

import importlib

from .base import LayerInfo, LayerModel, LayerState, Target
from .fpga import FPGALayerSettings, FPGATarget

_LAZY = {'SystolicArray': 'hwprune.targets.systolic', 'PIMArray': 'hwprune.targets.pim',
         'Energy': 'hwprune.targets.energy'}

__all__ = ['Energy', 'FPGALayerSettings', 'FPGATarget', 'LayerInfo', 'LayerModel', 'LayerState', 'PIMArray',
           'SystolicArray', 'Target']


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
