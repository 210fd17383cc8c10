"""Keras adapter: the pruning callback, ``estimate``, ``strip``, the layer registry and roles.

Example:
    >>> import hwprune.keras
    >>> hwprune.keras.strip.__module__
    'hwprune.keras.strip'
"""

from .callback import HardwarePruning, PrunedKernel
from .estimate import estimate
from .layers import KerasUnit, describe_layers, resolve_units
from .pictures import model_mask_map
from .registry import LayerSpec, register_layer, spec_for, specs_for
from .roles import register_role, role_of
# Bound after the submodule import so that the package attribute is the function, not the module
# ``hwprune.keras.strip`` (``from hwprune.keras.strip import strip`` still finds the module).
from .strip import strip

__all__ = ['HardwarePruning', 'KerasUnit', 'LayerSpec', 'PrunedKernel', 'describe_layers', 'estimate',
           'model_mask_map', 'register_layer', 'register_role', 'resolve_units', 'role_of', 'spec_for', 'specs_for', 'strip']
