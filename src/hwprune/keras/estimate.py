"""``estimate``: the resources a Keras model's current weights need on a target."""

from __future__ import annotations

from typing import Sequence

from ..report import Report
from .layers import firmware_kernel, prunable_layers
from .targets import resolve_target


def estimate(model, hls_config, resources: Sequence[str] | None = None, layers: Sequence[str] | None = None,
             as_converted: bool = True) -> Report:
    """Per-layer and total resources of ``model``'s current weights. Never modifies the model.

    QKeras kernels are counted after their kernel quantizer, as hls4ml converts them (a weight the
    quantizer rounds to 0 frees its multiplier).

    Args:
        model: a built tf.keras model (Keras or QKeras layers).
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
    target = resolve_target(hls_config, model, as_converted=as_converted)
    resources = target.check_resources(resources if resources is not None else target.resources)
    values, details = {}, {}
    for layer, info in prunable_layers(model, layers, warn=False):
        layer_model = target.layer_model(info, resources)
        if layer_model is None:
            continue
        kernel = firmware_kernel(layer, info)  # QKeras: zeros after the kernel quantizer, as hls4ml sees them
        values[info.name] = layer_model.usage_dict(kernel)
        details[info.name] = target.summary(layer_model, kernel)
    return Report(values, details, target=target.name)


__all__ = ['estimate']
