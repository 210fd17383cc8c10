"""hls4ml Vivado/Vitis FPGA target: DSP groups, BRAM columns, parameters and FLOPs.

Cost model (DESIGN section 3, checked against hls4ml 1.3):

* **DSP** (zero for weights narrower than :data:`hwprune.hardware.DSP_MIN_WEIGHT_BITS`):
  ``latency``: the multiplier limit from nonzero counts, ``ceil(nnz / RF)`` for Dense (and for
  a convolution's per-pixel kernel under ``io_stream``); for a convolution under
  ``io_parallel`` the padding-aware count of :mod:`hwprune.multipliers`.
  ``resource_unrolled``: the DSP groups (RF consecutive transposed weights) holding a nonzero.
  ``resource``: ``ceil(N / RF)`` whatever the zeros (the ROM-based kernel ignores them).
* **BRAM** (``resource``/``resource_unrolled`` with RF > 1; Latency keeps weights in fabric): the
  weight ROM is RF words of ``BF*W`` bits; a 36-bit column is freed when every DSP slot in it is
  pruned; ``ceil(RF / BRAM_DEPTH)`` BRAMs per column. An estimate of the ROM, not a synthesis
  result.
* **params**: nonzero weights. **FLOPs**: ``2 x nonzero weights x output positions``.

The pruning groups are the DSP groups, or the BRAM groups (adjacent DSP slots owning whole
columns) when BRAM is constrained, so that every group's costs add up exactly.

Example:
    >>> import numpy as np
    >>> from hwprune.targets.base import LayerInfo
    >>> t = FPGATarget(default=FPGALayerSettings(reuse_factor=2, strategy='resource_unrolled'))
    >>> m = t.layer_model(LayerInfo('fc1', 'dense', (16, 64)), ('DSP', 'BRAM'))
    >>> m.usage_dict(np.ones((16, 64)))
    {'DSP': 512.0, 'BRAM': 228.0}
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, replace
from typing import Any, Mapping, Sequence

import numpy as np

from .. import hardware
from .._validation import check_bool, check_choice, check_int, check_mapping, invalid
from ..kinds import get_kind
from ..layouts import (bram_group_columns, bram_layout, bram_slots_per_group, closest_reuse_factor, dsp_layout,
                       mult_shape, resource_block, unstructured_layout)
from .base import LayerInfo, LayerModel, Target

logger = logging.getLogger(__name__)

STRATEGIES = ('latency', 'resource', 'resource_unrolled')
IO_TYPES = ('io_parallel', 'io_stream')
RESOURCES = ('DSP', 'BRAM', 'params', 'FLOPs')
_STRATEGY_ALIASES = {'resourceunrolled': 'resource_unrolled', 'resource_unrolled': 'resource_unrolled',
                     'latency': 'latency', 'resource': 'resource'}


def normalize_strategy(strategy: str, argument: str = 'strategy') -> str:
    """hls4ml spellings (``'Latency'``, ``'Resource'``, ``'ResourceUnrolled'``...) -> canonical."""
    key = strategy.lower().replace('-', '_') if isinstance(strategy, str) else None
    if key not in _STRATEGY_ALIASES:
        raise invalid(argument, strategy, "one of 'Latency', 'Resource', 'resource_unrolled'")
    return _STRATEGY_ALIASES[key]


@dataclass(frozen=True)
class FPGALayerSettings:
    """hls4ml settings of one layer, as the user wrote them.

    Args:
        reuse_factor: requested reuse factor (hls4ml may change it: see :meth:`FPGATarget.resolve`).
        strategy: ``'latency'``, ``'resource'`` or ``'resource_unrolled'`` (hls4ml spellings ok).
        weight_bits: total bit width of the weight type.
        io_type: ``'io_parallel'`` or ``'io_stream'``.
        pinned: if true, hwprune's converter must keep ``strategy`` as it is.
        parallelization_factor: hls4ml's ``ParallelizationFactor`` of a convolution (output pixels
            per pipeline iteration under io_parallel Latency; hls4ml's closest valid value is used).
    """

    reuse_factor: int = 1
    strategy: str = 'latency'
    weight_bits: int = hardware.DEFAULT_WEIGHT_BITS
    io_type: str = 'io_parallel'
    pinned: bool = False
    parallelization_factor: int = 1

    def __post_init__(self):
        object.__setattr__(self, 'reuse_factor', check_int('reuse_factor', self.reuse_factor, 1))
        object.__setattr__(self, 'strategy', normalize_strategy(self.strategy))
        object.__setattr__(self, 'weight_bits', check_int('weight_bits', self.weight_bits, 1))
        object.__setattr__(self, 'io_type', check_choice('io_type', self.io_type, IO_TYPES))
        object.__setattr__(self, 'pinned', check_bool('pinned', self.pinned))
        object.__setattr__(self, 'parallelization_factor',
                           check_int('parallelization_factor', self.parallelization_factor, 1))


def choose_strategy(kind: str, settings: FPGALayerSettings, n_weights: int | None = None) -> str:
    """The strategy under which pruned weights really free multipliers.

    ``latency`` honours every zero (HLS folds constant zero products; the multiplier limit is
    ``ceil(nnz / RF)`` whatever the pattern) and is kept. ``resource`` ignores zeros, so it
    becomes: ``latency`` for a Dense layer of at most :data:`hwprune.hardware.LATENCY_MAX_WEIGHTS`
    weights (any zero pattern saves multipliers) and for RF 1 or a convolution under
    ``io_parallel`` (where hls4ml refuses ``resource_unrolled``); ``resource_unrolled`` otherwise
    (a multiplier is freed when its RF weights are all zero). Depthwise kernels always get
    ``latency``: hls4ml 1.3 has no ResourceUnrolled depthwise kernel and its io_parallel one
    supports Latency only. A pinned strategy is left alone.

    Example:
        >>> choose_strategy('dense', FPGALayerSettings(reuse_factor=4, strategy='Resource'), 64 * 32)
        'latency'
        >>> choose_strategy('dense', FPGALayerSettings(reuse_factor=4, strategy='Resource'), 256 * 64)
        'resource_unrolled'
    """
    strategy = settings.strategy
    record = get_kind(kind)
    if settings.pinned or strategy == 'latency':
        return strategy
    if settings.reuse_factor == 1 or record.depthwise:
        return 'latency'
    if record.spatial and settings.io_type == 'io_parallel':
        return 'latency'
    if record.spatial == 0 and strategy == 'resource' and n_weights is not None \
            and n_weights <= hardware.LATENCY_MAX_WEIGHTS:
        return 'latency'
    return 'resource_unrolled'


@dataclass(frozen=True)
class BuiltStrategy:
    """The strategy and reuse factor hls4ml builds a layer with.

    Attributes:
        strategy: ``'latency'``, ``'resource'`` or ``'resource_unrolled'``.
        reuse_factor: the reuse factor hls4ml really uses.
        fallback: why the strategy differs from the one asked for, if hls4ml (or the converter)
            replaced it: ``'depthwise'`` (no ResourceUnrolled depthwise kernel: Latency),
            ``'hls4ml'`` (hls4ml cannot unroll at RF 1 or a convolution under io_parallel:
            Resource), ``'unrolled_rf1'`` (the unrolled RF would fall to 1, whose code does not
            compile: the converter uses Latency at the requested RF); ``None`` otherwise.
    """

    strategy: str
    reuse_factor: int
    fallback: str | None = None


def built_strategy(kind: str, kernel_shape, settings: FPGALayerSettings, as_converted: bool = True) -> BuiltStrategy:
    """What hls4ml 1.3 builds for a layer: under :func:`hwprune.convert`'s strategy choice
    (``as_converted``, the ``hwprune:strategy`` pass) or under the user's strategy as plain hls4ml
    builds it. The one place both the estimate and the converter pass decide it.

    Example:
        >>> built_strategy('dense', (16, 64), FPGALayerSettings(reuse_factor=3, strategy='Resource'),
        ...                as_converted=False)
        BuiltStrategy(strategy='resource', reuse_factor=2, fallback=None)
        >>> built_strategy('dense', (16, 64), FPGALayerSettings(reuse_factor=1, strategy='resource_unrolled',
        ...                                                      pinned=True))
        BuiltStrategy(strategy='resource', reuse_factor=1, fallback='hls4ml')
    """
    record = get_kind(kind)
    n_in, n_out = mult_shape(kind, kernel_shape)
    strategy = choose_strategy(kind, settings, n_in * n_out) if as_converted else settings.strategy
    rf = settings.reuse_factor
    fallback = None
    if strategy == 'resource_unrolled' and record.depthwise:
        strategy, fallback = 'latency', 'depthwise'  # hls4ml 1.3 builds any non-Resource depthwise layer as Latency
    elif strategy == 'resource_unrolled' and (rf == 1 or (record.spatial and settings.io_type == 'io_parallel')):
        strategy, fallback = 'resource', 'hls4ml'  # what hls4ml's init_dense/init_conv fall back to
    if strategy == 'resource':
        rf = closest_reuse_factor(n_in, n_out, rf)
    elif strategy == 'resource_unrolled':
        rf = closest_reuse_factor(n_in, n_out, rf, include_max_rf=False)
        if rf == 1 and as_converted:
            # hls4ml would build resource_unrolled at RF 1 and generate no kernel for it (the project
            # does not compile); the converter's strategy pass uses Latency at the requested RF
            strategy, rf, fallback = 'latency', settings.reuse_factor, 'unrolled_rf1'
    return BuiltStrategy(strategy, rf, fallback)


@dataclass(frozen=True)
class ResolvedSettings:
    """Settings hls4ml will really use for a layer (after hwprune's and hls4ml's own choices)."""

    reuse_factor: int
    strategy: str
    weight_bits: int
    io_type: str
    requested_reuse_factor: int
    requested_strategy: str
    parallelization_factor: int = 1


class FPGATarget(Target):
    """hls4ml (Vivado/Vitis) target.

    Args:
        layers: per-layer settings keyed by layer name.
        default: settings of layers not in ``layers``.
        as_converted: cost layers under the strategy :func:`hwprune.convert` will emit (zeros
            honoured); if false, under the user's strategy as plain hls4ml would build it.
        strict: raise for a layer missing from ``layers`` instead of using ``default``.

    Build one from an hls4ml config with :func:`hwprune.hls.config.target_from_hls_config`.
    """

    name = 'fpga'
    resources = RESOURCES
    default_resources = ('DSP',)

    def __init__(self, layers: Mapping[str, FPGALayerSettings] | None = None,
                 default: FPGALayerSettings | None = None, as_converted: bool = True, strict: bool = False):
        self.layers = check_mapping('layers', layers)
        for name, s in self.layers.items():
            if not isinstance(s, FPGALayerSettings):
                raise invalid(f'layers[{name!r}]', s, 'an FPGALayerSettings', TypeError)
        if default is not None and not isinstance(default, FPGALayerSettings):
            raise invalid('default', default, 'an FPGALayerSettings (or None)', TypeError)
        self.default = default or FPGALayerSettings()
        self.as_converted = check_bool('as_converted', as_converted)
        self.strict = check_bool('strict', strict)
        self._warned: set = set()

    # ---------------------------------------------------------------- settings
    def settings_for(self, info: LayerInfo) -> FPGALayerSettings:
        if info.name in self.layers:
            return self.layers[info.name]
        if self.strict:
            raise invalid('layer', info.name, 'a layer the hls4ml config mentions (strict=True); '
                          'known: ' + ', '.join(sorted(self.layers)))
        return self.default

    def resolve(self, info: LayerInfo) -> ResolvedSettings:
        """Strategy and reuse factor hls4ml will really use, logging every change."""
        s = self.settings_for(info)
        built = built_strategy(info.kind, info.kernel_shape, s, self.as_converted)
        strategy, rf = built.strategy, built.reuse_factor
        self._note(info, s, strategy, rf)
        return ResolvedSettings(rf, strategy, s.weight_bits, s.io_type, s.reuse_factor, s.strategy,
                                s.parallelization_factor)

    def _note(self, info, s, strategy, rf):
        key = (info.name, strategy, rf)
        if key in self._warned:
            return
        self._warned.add(key)
        if rf != s.reuse_factor:
            logger.warning('Layer %r: hls4ml will use ReuseFactor=%d instead of the requested %d (invalid for a '
                           '%dx%d multiplication); hwprune costs the layer at %d.', info.name, rf, s.reuse_factor,
                           *info.mult_shape, rf)
        if strategy != s.strategy:
            logger.info('Layer %r: strategy %r -> %r so that pruned weights free DSPs.', info.name, s.strategy, strategy)
        if strategy == 'resource':
            logger.warning('Layer %r: strategy Resource ignores zero weights; pruning it saves no DSP. Let '
                           'hwprune.convert choose the strategy or use Latency/resource_unrolled.', info.name)
            if get_kind(info.kind).depthwise and s.io_type == 'io_parallel':
                logger.warning('Layer %r: hls4ml 1.3 supports depthwise convolutions under io_parallel with Latency '
                               'only; its Resource kernel stops the C simulation with an assertion.', info.name)

    # ---------------------------------------------------------------- models
    def build_layer_model(self, info: LayerInfo, resources: tuple[str, ...]) -> LayerModel | None:
        if get_kind(info.kind).depthwise and info.kernel_shape[-1] != 1:
            if (info.name, 'depth_multiplier') not in self._warned:
                self._warned.add((info.name, 'depth_multiplier'))
                logger.warning('Layer %r: depth_multiplier=%d, but hls4ml 1.3 builds depthwise convolutions with '
                               'depth_multiplier=1 only; the layer is not costed.', info.name, info.kernel_shape[-1])
            return None
        r = self.resolve(info)
        return FPGALayerModel(info, r, resources)

    def explain_irreducible(self, resource: str, models) -> str:
        settings = sorted({(m.settings.strategy, m.settings.reuse_factor, m.settings.weight_bits) for m in models
                           if isinstance(m, FPGALayerModel)})
        shown = ', '.join(f'{s} RF {rf} {bits}-bit weights' for s, rf, bits in settings)
        reasons = {
            'BRAM': 'hls4ml keeps weights in a BRAM ROM only under Resource strategies with RF > 1; under Latency '
                    'they are in fabric',
            'DSP': f'products with weights narrower than {hardware.DSP_MIN_WEIGHT_BITS} bits are built from LUTs, and '
                   'Resource ignores zero weights',
        }
        return f'layers built as {shown}: ' + reasons.get(resource, f'no group costs {resource}')

    def get_config(self) -> dict[str, Any]:
        return {'layers': {k: asdict(v) for k, v in self.layers.items()}, 'default': asdict(self.default),
                'as_converted': self.as_converted, 'strict': self.strict}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config['layers'] = {k: FPGALayerSettings(**v) for k, v in config.get('layers', {}).items()}
        config['default'] = FPGALayerSettings(**config['default']) if config.get('default') else None
        return cls(**config)


class FPGALayerModel(LayerModel):
    """Costs of one layer on the FPGA; :meth:`usage` is exact for any weights."""

    def __init__(self, info: LayerInfo, settings: ResolvedSettings, resources: Sequence[str]):
        self.settings = settings
        rf, bits = settings.reuse_factor, settings.weight_bits
        self.dsp = dsp_layout(info.kind, info.kernel_shape, rf)
        self.bram = bram_layout(info.kind, info.kernel_shape, rf, bits)
        self.uses_dsp = bits >= hardware.DSP_MIN_WEIGHT_BITS
        # hls4ml keeps weights in a BRAM ROM only under the Resource strategies with RF > 1; Latency
        # partitions them into registers/LUTs
        self.stores_rom = settings.strategy in ('resource', 'resource_unrolled') and rf > 1
        words = resource_block(info.kind, info.kernel_shape, rf)  # ROM depth: the RF a multiplier serves
        self.bram_depth_factor = math.ceil(words / hardware.BRAM_DEPTH) if self.stores_rom else 0
        self.bram_columns = bram_group_columns(self.dsp.n_groups, bits) * self.bram_depth_factor
        if 'BRAM' in resources and self.stores_rom:
            layout = self.bram  # groups owning whole BRAM columns, so that BRAM costs add up
        elif settings.strategy == 'latency':
            layout = unstructured_layout(info.kind, info.kernel_shape)  # any RF zeros free one multiplier
        else:
            layout = self.dsp
        sizes = layout.sizes().astype(np.float64)
        if layout is self.bram:  # DSP slots owned by each BRAM group
            k = bram_slots_per_group(bits)
            dsp_per_group = np.bincount(np.arange(self.dsp.n_groups) // k, minlength=layout.n_groups).astype(float)
        elif layout is self.dsp:
            dsp_per_group = np.ones(layout.n_groups)
        else:  # unstructured Latency: each weight's products in the pipelined body, over RF cycles
            from ..multipliers import products_per_weight
            dsp_per_group = products_per_weight(info, 'latency', settings.io_type,
                                                settings.parallelization_factor).ravel() / rf
        columns = {
            'DSP': dsp_per_group * (self.uses_dsp and settings.strategy != 'resource'),
            'BRAM': (self.bram_columns if layout is self.bram else np.zeros(layout.n_groups)),
            'params': sizes,
            'FLOPs': 2.0 * sizes * info.output_positions,
        }
        fixed = {r: 0.0 for r in RESOURCES}
        if settings.strategy == 'resource' and self.uses_dsp:
            fixed['DSP'] = float(self.dsp.n_groups)
        elif layout is not self.dsp and layout is not self.bram and self.uses_dsp:
            # per-weight costs of 1/RF add up to nnz/RF, the layer needs ceil(nnz/RF): reserve the
            # rounding slack so that a selection within capacity is within capacity after rounding
            fixed['DSP'] = (rf - 1) / rf
        details = {'reuse_factor': rf, 'strategy': settings.strategy, 'weight_bits': bits,
                   'io_type': settings.io_type}
        super().__init__(info, layout, np.stack([columns[r] for r in resources], axis=1), resources,
                         fixed=[fixed[r] for r in resources], details=details)

    def usage(self, kernel) -> np.ndarray:
        kernel = np.asarray(kernel)
        values = {}
        for r in self.resources:
            values[r] = self.resource_use(r, kernel)
        return np.array([values[r] for r in self.resources], dtype=np.float64)

    def resource_use(self, resource: str, kernel) -> float:
        """Exact use of one resource (any of :data:`RESOURCES`) for these weights."""
        nnz = int(np.count_nonzero(kernel))
        if resource == 'params':
            return float(nnz)
        if resource == 'FLOPs':
            return 2.0 * nnz * self.info.output_positions
        if resource == 'BRAM':
            return float(self.bram_columns[self.bram.alive(kernel)].sum())
        if resource == 'DSP':
            return float(self.multipliers(kernel)) if self.uses_dsp else 0.0
        raise invalid('resource', resource, 'one of ' + ', '.join(RESOURCES))

    def multipliers(self, kernel) -> int:
        """The multiplier limit hwprune writes into the firmware for these weights."""
        from .. import multipliers
        s = self.settings
        return multipliers.multiplier_limit(self.info, np.asarray(kernel), s.reuse_factor, s.strategy, s.io_type,
                                            s.parallelization_factor)


__all__ = ['BuiltStrategy', 'FPGALayerModel', 'FPGALayerSettings', 'FPGATarget', 'IO_TYPES', 'RESOURCES',
           'ResolvedSettings', 'STRATEGIES', 'built_strategy', 'choose_strategy', 'normalize_strategy']
