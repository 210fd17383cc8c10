"""Turn what the user passed (an hls4ml config or a Target) into a Target."""

from __future__ import annotations

import os
from typing import Mapping

import logging

from .._validation import invalid
from ..targets.base import Target

logger = logging.getLogger(__name__)


def resolve_target(target, model=None, as_converted: bool = True) -> Target:
    """A :class:`Target` from a Target, an hls4ml config dict, or a path to an hls4ml YAML config."""
    if isinstance(target, Target):
        return target
    if isinstance(target, (Mapping, str, os.PathLike)):
        from ..hls.config import load_hls_config, target_from_hls_config
        if model is not None:
            _warn_unmentioned(load_hls_config(target), model)
        return target_from_hls_config(target, model=model, as_converted=as_converted)
    raise invalid('target', target, 'an hls4ml config dict, a path to one, or a hwprune Target', TypeError)


def _warn_unmentioned(config: Mapping, model) -> None:
    """A name-granularity config that leaves out a prunable layer is probably for another model."""
    named = {str(k).lower() for k in (config.get('LayerName') or {})}
    if not named:
        return
    from .layers import prunable_layers
    missing = list(dict.fromkeys(layer.name for layer, _ in prunable_layers(model, warn=False)
                                 if layer.name.lower() not in named))
    if missing:
        logger.warning("The hls4ml config has per-layer entries but none for %s; hwprune costs %s with the config's "
                       "model/type defaults, as hls4ml would. Is the config for this model?",
                       ', '.join(repr(m) for m in missing), 'it' if len(missing) == 1 else 'them')


__all__ = ['resolve_target']
