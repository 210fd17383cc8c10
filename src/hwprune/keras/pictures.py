"""Pictures of a Keras model's layers under a target (the Keras face of :mod:`hwprune.plots`)."""

from __future__ import annotations

from .._validation import invalid
from ..plots import layer_mask_map
from .layers import resolve_units
from .targets import resolve_target


def layer_model_of(model, hls_config, layer: str, resources=None):
    """``(layer_model, kernel)`` of one kernel of a Keras model under an hls4ml config or Target, as
    :func:`hwprune.estimate` costs it (QKeras kernels after their quantizer)."""
    units = resolve_units(model, warn=False)
    target = resolve_target(hls_config, [u.info for u in units], argument='hls_config')
    resources = target.check_resources(resources if resources is not None else target.resources)
    entries = resolve_units(model, [layer], warn=False)
    exact = [u for u in entries if u.name == layer]
    if not exact and len(entries) > 1:
        raise invalid('layer', layer, 'one kernel of the layer: ' + ', '.join(repr(u.name) for u in entries))
    unit = (exact or entries)[0]
    layer_model = target.layer_model(unit.info, resources)
    if layer_model is None:
        raise invalid('layer', layer, f'a layer target {target.name!r} has a cost model for')
    return layer_model, unit.firmware_kernel()


def model_mask_map(model, hls_config, layer: str, groups: str = 'auto', *, ax=None, path=None):
    """:func:`hwprune.plots.layer_mask_map` of one layer of a Keras model under an hls4ml config
    (or a Target): every weight coloured by whether its DSP group / BRAM column / neuron survives.

    Args:
        model: a built Keras model (after ``fit`` with :class:`~hwprune.HardwarePruning`, pruned
            weights are zeros).
        hls_config: what :func:`hwprune.estimate` takes: an hls4ml config dict/YAML path or a Target.
        layer: the layer's name (a SeparableConv unit: ``'<name>_depthwise'``/``'<name>_pointwise'``).
        groups: see :func:`hwprune.plots.layer_mask_map`.
        ax: draw into this Axes.
        path: save the figure here as PNG.

    Example::

        hwprune.keras.model_mask_map(model, cfg, 'fc2', path='fc2_mask.png')
    """
    layer_model, kernel = layer_model_of(model, hls_config, layer)
    return layer_mask_map(layer_model, kernel, groups, ax=ax, path=path)


__all__ = ['layer_model_of', 'model_mask_map']
