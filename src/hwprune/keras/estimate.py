"""``estimate``: the resources a Keras model's current weights need on a target."""

from __future__ import annotations

from typing import Sequence

from ..report import Report
from .layers import resolve_units
from .targets import resolve_target


def estimate(model, hls_config, resources: Sequence[str] | None = None, layers: Sequence[str] | None = None,
             as_converted: bool = True) -> Report:
    """Per-layer and total resources of ``model``'s current weights. Never modifies the model.

    QKeras kernels are counted after their kernel quantizer, as hls4ml converts them (a weight the
    quantizer rounds to 0 frees its multiplier).

    Args:
        model: a built Keras model (Keras, QKeras or HGQ2 layers).
        hls_config: an hls4ml config (dict or YAML path) or a :class:`~hwprune.targets.Target`.
            For an hls4ml config, layers are costed under the reuse factor hls4ml will really use
            and the strategy :func:`hwprune.convert` will emit.
        resources: which resources to report (default: all the target knows).
        layers: restrict to these layer names.
        as_converted: for an hls4ml config, cost each layer under the strategy
            :func:`hwprune.convert` emits (default) or, if false, under the config's own strategy as
            plain hls4ml builds it (e.g. Resource: zeros save no DSP, weights in BRAM).

    Returns:
        a :class:`~hwprune.report.Report`: ``report.total['DSP']``, ``report.layers['fc1']['BRAM']``,
        ``print(report)`` for a table, ``report.to_dict()``.

    Example::

        report = hwprune.estimate(model, cfg)
        report.total['DSP']                    # e.g. 1064.0 for the jet model at RF 4
        print(report)
    """
    units = resolve_units(model, warn=False)
    target = resolve_target(hls_config, [u.info for u in units], as_converted=as_converted, argument='hls_config')
    resources = target.check_resources(resources if resources is not None else target.resources)
    values, details = {}, {}
    for unit in (resolve_units(model, layers, warn=False) if layers is not None else units):
        layer_model = target.layer_model(unit.info, resources)
        if layer_model is None:
            continue
        kernel = unit.firmware_kernel()  # QKeras: zeros after the kernel quantizer, as hls4ml sees them
        values[unit.name] = layer_model.usage_dict(kernel)
        details[unit.name] = target.summary(layer_model, kernel)
    return Report(values, details, target=target.name)


__all__ = ['estimate']
