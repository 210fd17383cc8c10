"""hls4ml adapter: read hls4ml configs, hwprune's hls4ml passes, and :func:`convert`.

Importing this package registers hwprune's optimizer passes with hls4ml (``hwprune:strategy``,
``hwprune:strip``, ``hwprune:multiplier_limit``; see :mod:`hwprune.hls.passes`) when hls4ml is
installed, and does nothing else: TensorFlow is imported only when :func:`convert` is called or
a Keras model is passed to the config reader.

Example:
    >>> import hls4ml, hwprune.hls  # doctest: +SKIP
    >>> hls_model = hwprune.hls.convert(model, cfg, output_dir='prj')  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import logging

from .config import (HLSSettings, load_hls_config, parse_precision_bits, pin_auto_precisions, read_hls_config,
                     target_from_hls_config)

logger = logging.getLogger(__name__)

try:
    importlib.import_module('hls4ml')
except ImportError:  # hls4ml is optional: the config reader works without it
    PASSES_REGISTERED: tuple = ()
    logger.debug('hls4ml not installed; hwprune passes not registered')
else:
    from .frontends import register_fixes
    from .passes import register_passes

    PASSES_REGISTERED = tuple(register_passes())
    register_fixes()

_LAZY = {'convert': 'hwprune.hls.convert', 'ConversionError': 'hwprune.hls.convert',
         'frontend_for': 'hwprune.hls.frontends'}


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


__all__ = ['ConversionError', 'HLSSettings', 'frontend_for', 'pin_auto_precisions', 'PASSES_REGISTERED', 'convert', 'load_hls_config', 'parse_precision_bits',
           'read_hls_config', 'target_from_hls_config']
