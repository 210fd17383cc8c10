"""Keras adapter: the pruning callback, ``estimate``, ``strip`` and the layer registry."""

from .callback import HardwarePruning
from .estimate import estimate
from .registry import LayerSpec, register_layer, spec_for, specs_for


def __getattr__(name):
    if name == 'strip':
        from .strip import strip
        return strip
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


__all__ = ['HardwarePruning', 'LayerSpec', 'estimate', 'register_layer', 'spec_for', 'specs_for', 'strip']
