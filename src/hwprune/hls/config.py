"""hls4ml config helpers of the hls4ml adapter.

The config *reader* (hls4ml config -> :class:`~hwprune.targets.fpga.FPGATarget`) lives with the
FPGA target, in :mod:`hwprune.targets.hls_config`, so that the Keras adapter can use it without
importing this package; its names are re-exported here. What is here acts on configs for an
hls4ml conversion.
"""

from __future__ import annotations

import copy
from typing import Mapping

from .._validation import invalid
from ..targets.hls_config import (HLS_CLASS, HWPRUNE_KEY, HWPRUNE_OPTIONS, HLSSettings, hls_class_name, hwprune_option,
                                  layer_settings, load_hls_config, parse_precision_bits, read_hls_config,
                                  target_from_hls_config, warn_unmentioned)


def pin_auto_precisions(hls_config, precision: str | None = None, keys=('result', 'accum')) -> dict:
    """A copy of ``hls_config`` whose ``'auto'`` result/accumulator precisions are ``precision``.

    hls4ml 1.3 infers ``'auto'`` result and accumulator types layer by layer, widening them; with
    ``config_from_keras_model(granularity='name')`` the logits reaching a ``'stable'`` softmax get
    so wide that its C simulation outputs the same value for every class. Pinning them to the
    model's precision (the default) avoids that. The user's dict is not modified.

    Example:
        >>> cfg = {'Model': {'Precision': {'default': 'ap_fixed<16,6>'}},
        ...        'LayerName': {'fc': {'Precision': {'result': 'auto', 'weight': 'auto'}}}}
        >>> pin_auto_precisions(cfg)['LayerName']['fc']['Precision']
        {'result': 'ap_fixed<16,6>', 'weight': 'auto'}
    """
    config = copy.deepcopy(load_hls_config(hls_config))
    if precision is None:
        model_precision = (config.get('Model') or {}).get('Precision')
        precision = model_precision.get('default') if isinstance(model_precision, Mapping) else model_precision
    if not isinstance(precision, str) or precision == 'auto':
        raise invalid('precision', precision, "a fixed-point type such as 'ap_fixed<16,6>' (the config has no "
                      'model default)')
    parse_precision_bits(precision)
    for layer in (config.get('LayerName') or {}).values():
        layer_precision = layer.get('Precision') if isinstance(layer, Mapping) else None
        if isinstance(layer_precision, dict):
            for key in keys:
                if layer_precision.get(key) == 'auto':
                    layer_precision[key] = precision
    return config



__all__ = ['HLSSettings', 'HLS_CLASS', 'HWPRUNE_KEY', 'HWPRUNE_OPTIONS', 'hls_class_name', 'hwprune_option',
           'layer_settings', 'load_hls_config', 'parse_precision_bits', 'pin_auto_precisions', 'read_hls_config',
           'target_from_hls_config', 'warn_unmentioned']
