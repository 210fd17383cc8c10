"""Turn what the user passed (an hls4ml config or a Target) into a Target."""

from __future__ import annotations

import os
from typing import Mapping, Sequence

from .._validation import invalid
from ..targets.base import LayerInfo, Target
from ..targets.hls_config import target_from_hls_config


def resolve_target(target, layers: Sequence[LayerInfo] | None = None, as_converted: bool = True,
                   argument: str = 'target') -> Target:
    """A :class:`Target` from a Target, an hls4ml config dict, or a path to an hls4ml YAML config.

    Args:
        target: the user's target argument.
        layers: the model's prunable kernels (:func:`hwprune.keras.layers.describe_layers`): an
            hls4ml config is then resolved for each of them, and a name-granularity config that
            leaves one out is reported.
        as_converted: see :func:`hwprune.targets.hls_config.target_from_hls_config`.
        argument: the caller's name for ``target`` in error messages (``estimate`` says ``hls_config``).
    """
    if isinstance(target, Target):
        return target
    if isinstance(target, (Mapping, str, os.PathLike)):
        return target_from_hls_config(target, layers=None if layers is None else list(layers),
                                      as_converted=as_converted)
    raise invalid(argument, target, 'an hls4ml config dict, a path to one, or a hwprune Target', TypeError)


__all__ = ['resolve_target']
