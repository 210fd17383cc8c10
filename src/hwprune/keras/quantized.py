"""What the hardware holds for a quantized kernel: QKeras (Keras 2) and HGQ2 (Keras 3) layers.

hls4ml builds a quantized layer's weights as its quantizer rounds them, so a weight the quantizer
rounds to zero frees its multiplier, and the weight type is the quantizer's, whatever the hls4ml
config says. :func:`firmware_kernel` gives the kernel as the firmware holds it and
:func:`kernel_bits` its width:

* **QKeras** (``kernel_quantizer`` & co.): the quantizer's type (hls4ml's own reader when installed);
* **HGQ2** (``layer.kq``): hls4ml's bit-exact mode gives the weights the narrowest fixed-point type
  holding every quantized value (``minimal_kif``), which is what :func:`kernel_bits` computes; it
  can only shrink as weights are pruned.

HGQ2 0.2 installs a package named ``qkeras`` (a compatibility layer) beside Keras 3; hwprune
tells real QKeras from it by the installed distribution (:data:`REAL_QKERAS`).
"""

from __future__ import annotations

import importlib.metadata
import logging
from typing import Mapping

import numpy as np
import tensorflow as tf

from .. import hardware

logger = logging.getLogger(__name__)


def _real_qkeras() -> bool:
    try:
        return 'QKeras' in (importlib.metadata.packages_distributions().get('qkeras') or [])
    except Exception:  # noqa: BLE001 - broken metadata: assume no QKeras
        return False


#: Whether the ``qkeras`` package is QKeras (not HGQ2's compatibility layer of the same name).
REAL_QKERAS = _real_qkeras()


def framework(layer) -> str | None:
    """``'qkeras'``, ``'hgq'`` or ``None`` (a float layer), from the layer's class."""
    module = type(layer).__module__ or ''
    if module.startswith('hgq.') or (module.startswith('qkeras') and not REAL_QKERAS):
        return 'hgq' if hasattr(layer, 'kq') else None
    if module.startswith('qkeras') and REAL_QKERAS:
        return 'qkeras'
    return None


def _qkeras_quantizer(layer, name: str):
    """The callable QKeras quantizer ``name`` of a layer (``None``: no quantizer)."""
    internal = getattr(layer, name + '_internal', None)
    return internal if internal is not None and getattr(layer, name, None) else None


def firmware_kernel(layer, spec, values=None) -> np.ndarray:
    """The kernel as hls4ml will hold it (quantizer applied); float kernels as they are.

    Args:
        layer: the Keras layer.
        spec: which of its kernels (:class:`~hwprune.keras.registry.LayerSpec`).
        values: values to use instead of the layer's current kernel.
    """
    values = np.asarray(getattr(layer, spec.kernel).numpy() if values is None else values)
    which = framework(layer)
    if which == 'qkeras':
        quantizer = _qkeras_quantizer(layer, spec.quantizer)
        if quantizer is None:
            return values
        return np.asarray(quantizer(tf.constant(values, dtype=tf.float32)), dtype=values.dtype)
    if which == 'hgq' and spec.kernel == 'kernel':
        return np.asarray(layer.kq(tf.constant(values, dtype=tf.float32), training=False), dtype=values.dtype)
    return values


def kernel_bits(layer, spec) -> int | None:
    """Width of the type hls4ml gives a quantized kernel; ``None`` for float kernels."""
    which = framework(layer)
    if which == 'qkeras':
        quantizer = layer.get_config().get(spec.quantizer)
        return quantizer_weight_bits(quantizer) if quantizer else None
    if which == 'hgq' and spec.kernel == 'kernel':
        return hgq_weight_bits(firmware_kernel(layer, spec))
    return None


def hgq_weight_bits(quantized: np.ndarray) -> int:
    """Width of the narrowest fixed-point type holding these quantized weights (hls4ml's bit-exact
    rule for HGQ2 layers: ``minimal_kif``); 1 for an all-zero kernel."""
    try:
        from hls4ml.model.optimizer.passes.bit_exact import kif_arrs_to_ints
        from hls4ml.utils.qinterval import minimal_kif
    except ImportError:
        values = np.abs(np.asarray(quantized, np.float64))
        nonzero = values[values > 0]
        if nonzero.size == 0:
            return 1
        frac = int(np.max([_fraction_bits(v) for v in nonzero]))
        integer = int(np.ceil(np.log2(np.max(nonzero) + 2.0 ** -frac)))
        return max(1, 1 + integer + frac)
    k, i, f = kif_arrs_to_ints(minimal_kif(np.asarray(quantized, np.float32)))
    return max(1, int(k) + int(i) + int(f))


def _fraction_bits(value: float) -> int:
    bits = 0
    while value != np.floor(value) and bits < 64:
        value *= 2.0
        bits += 1
    return bits


def quantizer_weight_bits(quantizer) -> int | None:
    """Bit width hls4ml gives weights quantized by a QKeras quantizer (``None``: no quantizer).

    Uses hls4ml's own ``get_quantizer_from_config`` when hls4ml is installed (the type hls4ml
    really emits), else the same rules: ``quantized_bits``/``quantized_po2`` -> ``bits``,
    ternary -> 2, binary -> 1, anything else 16.

    Example:
        >>> quantizer_weight_bits({'class_name': 'quantized_bits', 'config': {'bits': 6, 'integer': 0}})
        6
    """
    if quantizer is None:
        return None
    config = quantizer
    if not isinstance(config, Mapping):
        if isinstance(config, str):
            if not REAL_QKERAS:
                return None
            from qkeras import get_quantizer
            config = get_quantizer(config)
        get_config = getattr(config, 'get_config', None)
        if get_config is None:
            return None
        config = {'class_name': type(config).__name__, 'config': get_config()}
    try:
        from hls4ml.converters.keras.qkeras import get_quantizer_from_config
    except ImportError:
        get_quantizer_from_config = None
    if get_quantizer_from_config is not None and REAL_QKERAS:
        try:
            hls_quantizer = get_quantizer_from_config({'class_name': 'QDense', 'config': {'kernel_quantizer': config}},
                                                      'kernel')
            return int(hls_quantizer.hls_type.width)
        except Exception as e:  # noqa: BLE001 - any failure inside hls4ml/QKeras: fall back to the rules
            logger.debug('hls4ml could not read quantizer %r (%s); using hwprune rules', config, e)
    name = str(config.get('class_name', ''))
    if name in ('quantized_bits', 'quantized_po2'):
        return int(config['config']['bits'])
    if 'ternary' in name:
        return 2
    if 'binary' in name:
        return 1
    return hardware.DEFAULT_WEIGHT_BITS


__all__ = ['REAL_QKERAS', 'firmware_kernel', 'framework', 'hgq_weight_bits', 'kernel_bits', 'quantizer_weight_bits']
