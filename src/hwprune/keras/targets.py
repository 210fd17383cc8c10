"""Turn what the user passed (an hls4ml config or a Target) into a Target."""

from __future__ import annotations

import os
from typing import Mapping

from .._validation import invalid
from ..targets.base import Target


def resolve_target(target, model=None) -> Target:
    """A :class:`Target` from a Target, an hls4ml config dict, or a path to an hls4ml YAML config."""
    if isinstance(target, Target):
        return target
    if isinstance(target, (Mapping, str, os.PathLike)):
        from ..hls.config import target_from_hls_config
        return target_from_hls_config(target, model=model)
    raise invalid('target', target, 'an hls4ml config dict, a path to one, or a hwprune Target', TypeError)


__all__ = ['resolve_target']
