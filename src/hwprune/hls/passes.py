"""hwprune's hls4ml optimizer passes (Vivado and Vitis backends).

Importing this module registers three passes and puts them in flows that the default conversion
flow (``vivado:ip``/``vitis:ip``) already runs. They act in :func:`hwprune.convert`, and in a
plain ``hls4ml.converters.convert_from_keras_model(model, hls_config=cfg, ...)`` only when the
config asks for them (see below): importing hwprune changes no other conversion.

* ``hwprune:strategy``, in flow ``optimize`` (before ``vivado:init_layers``, where hls4ml reads
  each layer's strategy and fixes its reuse factor): per Dense/Conv layer, a strategy under which
  pruned weights free multipliers (:func:`~hwprune.targets.fpga.choose_strategy`) unless pinned.
* ``hwprune:strip``, appended to ``vivado:optimize`` (after init, QKeras quantization and
  precision inference; before ``vivado:specific_types`` transposes weights and generates
  ResourceUnrolled code): every kernel value the firmware stores as 0 (hls4ml's writer and the
  weight type's rounding and overflow) becomes exactly 0, ``WeightVariable.nzeros``/``nonzeros``
  are refreshed, and dead neurons/filters still present are reported.
* ``hwprune:multiplier_limit``, a template pass of the Vivado and Vitis backends (registered as
  ``vivado:hwprune:multiplier_limit`` and ``vitis:hwprune:multiplier_limit``), so that it runs in
  ``apply_templates`` after hls4ml's config templates (hls4ml 1.3's template flows are dynamic:
  ``update_flow`` cannot add to them): rewrites ``multiplier_limit`` in the layer's generated
  config (``firmware/parameters.h``) and the ``ALLOCATION`` pragma of ResourceUnrolled code
  (``nnet_code_gen.h``) with the exact count of :mod:`hwprune.multipliers`.

Dead units are removed at the Keras level: :func:`hwprune.convert` strips the model
(:func:`hwprune.keras.strip.strip`) before hls4ml sees it. In a plain hls4ml conversion,
``hwprune:strip`` cannot change layer widths; it warns, naming the layer, when dead units remain
that a Keras strip would remove.

**Selecting passes from the config.** hls4ml 1.3 reads ``Optimizers``/``SkipOptimizers`` from the
top level of the hls config but does not apply them (``HLSConfig._parse_hls_config``: "this is
now effectively broken"); hwprune's passes honour them: a pass is skipped if ``SkipOptimizers``
(top level or under ``Model``) names it, or ``'hwprune'`` for all three; if ``Optimizers`` is
given, a pass runs if it names it (or ``'hwprune'``). Without ``Optimizers`` the passes run when
the ``Model`` entry holds ``'hwprune': {'passes': True}`` (:func:`enable_passes`), which
:func:`hwprune.convert` sets on its private copy of the config; a plain conversion of a config that
says neither is left exactly as hls4ml makes it. Names may carry a backend prefix (``'vivado:hwprune:strip'``).

Every pass marks what it did on the node, so running a flow again changes nothing; ``match``
only reads.

Example:
    Keep hls4ml's own multiplier limits but hwprune's other passes:

    >>> import hwprune.hls  # doctest: +SKIP
    >>> cfg['SkipOptimizers'] = ['hwprune:multiplier_limit']  # doctest: +SKIP
    >>> hls_model = hls4ml.converters.convert_from_keras_model(model, hls_config=cfg)  # doctest: +SKIP
"""

from __future__ import annotations

import contextvars
import logging
import re

import numpy as np
from hls4ml.backends import VivadoBackend, get_backend
from hls4ml.backends.template import Template
from hls4ml.model.flow import get_flow, update_flow
from hls4ml.model.optimizer import OptimizerPass, get_available_passes, register_pass
from hls4ml.model.types import (
    FixedPrecisionType,
    IntegerPrecisionType,
    RoundingMode,
    SaturationMode,
)

from .. import multipliers
from ..kinds import NODE_KINDS, get_kind
from ..layouts import input_layout, mult_shape, neuron_layout
from ..targets.fpga import FPGALayerSettings, built_strategy, normalize_strategy
from .config import hwprune_option

logger = logging.getLogger(__name__)

STRATEGY_PASS = 'hwprune:strategy'
STRIP_PASS = 'hwprune:strip'
MULTIPLIER_PASS = 'hwprune:multiplier_limit'
PASS_NAMES = (STRATEGY_PASS, STRIP_PASS, MULTIPLIER_PASS)
#: Flow each graph pass is added to; the multiplier pass is a template of these backends.
PASS_FLOWS = {STRATEGY_PASS: 'optimize', STRIP_PASS: 'vivado:optimize'}
TEMPLATE_BACKENDS = ('Vivado', 'Vitis')

_HLS_STRATEGY = {'latency': 'latency', 'resource': 'resource', 'resource_unrolled': 'resource_unrolled'}

_DONE_STRATEGY = '_hwprune_strategy_done'
_DONE_STRIP = '_hwprune_strip_done'
_PATCHED_CPP = '_hwprune_config_cpp'
#: Node attribute holding the multiplier limit hwprune wrote (an int).
LIMIT_ATTR = 'hwprune_multiplier_limit'

#: True while :func:`hwprune.convert` has hls4ml convert a model it stripped at the Keras level
#: (then dead units left in the graph are ones the graph does not allow to remove).
KERAS_STRIPPED = contextvars.ContextVar('hwprune_keras_stripped', default=False)

_LIMIT_RE = re.compile(r'static const unsigned multiplier_limit\s*=[^;]*;(?:[ \t]*// hwprune:[^\n]*)?')
_UNROLLED_RE = re.compile(r'(#pragma HLS ALLOCATION operation instances=mul limit=)\d+')


# --------------------------------------------------------------------------------------------
# Helpers shared by the passes


def node_kind(node) -> str | None:
    """hwprune's layer kind of an hls4ml node (``None``: hwprune has no layout for it)."""
    return NODE_KINDS.get(getattr(node, 'class_name', None))


def supported_backend(model) -> bool:
    """Whether the model is built by a Vivado-family backend (Vivado, Vitis, VivadoAccelerator)."""
    return isinstance(getattr(model.config, 'backend', None), VivadoBackend)


def _names(value) -> set:
    if value is None:
        return set()
    if isinstance(value, str):
        return {value}
    return {str(v) for v in value}


def _mentions(names: set, pass_name: str) -> bool:
    wanted = {pass_name, 'hwprune', 'hwprune:*'}
    for name in names:
        bare = name.split(':', 1)[1] if name.split(':', 1)[0].lower() in ('vivado', 'vitis') else name
        if bare in wanted or name in wanted:
            return True
    return False


#: Key of the ``Model`` entry under which ``{'passes': True}`` turns hwprune's passes on (hls4ml's
#: converter keeps the ``Model`` entry whole, but drops unknown top-level keys).
ENABLE_KEY = 'hwprune'


def enable_passes(hls_config: dict) -> dict:
    """Turn hwprune's passes on in an hls config dict: ``Model['hwprune']['passes'] = True`` (in
    place; returned for chaining)."""
    model = hls_config.get('Model')
    if not isinstance(model, dict):
        model = hls_config['Model'] = {}
    options = model.get(ENABLE_KEY)
    model[ENABLE_KEY] = {**(options if isinstance(options, dict) else {}), 'passes': True}
    return hls_config


def pass_selected(hls_config, pass_name: str) -> bool:
    """Whether an hls config dict lets ``pass_name`` run.

    ``SkipOptimizers`` naming it wins; else ``Optimizers`` naming it (if given); else
    ``Model['hwprune']['passes']`` (:func:`enable_passes`), which :func:`hwprune.convert` sets.

    Example:
        >>> pass_selected({'Optimizers': ['hwprune']}, 'hwprune:strip')
        True
        >>> pass_selected({}, 'hwprune:strip'), pass_selected(enable_passes({}), 'hwprune:strip')
        (False, True)
        >>> pass_selected(enable_passes({'SkipOptimizers': ['vivado:hwprune:strip']}), 'hwprune:strip')
        False
    """
    hls = hls_config or {}
    model_cfg = hls.get('Model') or {}
    skip = _names(hls.get('SkipOptimizers')) | _names(model_cfg.get('SkipOptimizers'))
    if _mentions(skip, pass_name):
        return False
    only = hls.get('Optimizers', model_cfg.get('Optimizers'))
    if only is not None:
        return _mentions(_names(only), pass_name)
    options = model_cfg.get(ENABLE_KEY)
    return isinstance(options, dict) and options.get('passes') is True


def pass_enabled(model, pass_name: str) -> bool:
    """:func:`pass_selected` for the hls config of an hls4ml ``ModelGraph``."""
    return pass_selected(model.config.config.get('HLSConfig', {}), pass_name)


def keras_kernel(node) -> np.ndarray:
    """The node's kernel in Keras layout (undoing hls4ml's Resource transpose if applied)."""
    kind = node_kind(node)
    data = np.asarray(node.weights['weight'].data)
    if node.get_attr('_weights_transposed', False):
        data = np.transpose(data, np.argsort(get_kind(kind).resource_transpose))
    return data.reshape(kernel_shape(node))


def kernel_shape(node) -> tuple[int, ...]:
    """The node's Keras kernel shape from its attributes."""
    record = get_kind(node_kind(node))
    if record.spatial == 0:
        return node.get_attr('n_in'), node.get_attr('n_out')
    # a depthwise kernel's last axis is the depth multiplier (n_filt = n_chan * depth_multiplier)
    last = node.get_attr('depth_multiplier', 1) if record.depthwise else node.get_attr('n_filt')
    taps = ('filt_width',) if record.spatial == 1 else ('filt_height', 'filt_width')
    return tuple(node.get_attr(t) for t in taps) + (node.get_attr('n_chan'), last)


def node_multiplier_limit(node) -> int | None:
    """The exact multiplier count of a Dense/Conv node as hls4ml will build it (``None``: unknown).

    Uses the node's final attributes (strategy, reuse factor, padding, ``n_partitions``) and
    weights; see :mod:`hwprune.multipliers` for each case.
    """
    kind = node_kind(node)
    strategy = str(node.get_attr('strategy', '')).lower()
    if kind is None or strategy not in _HLS_STRATEGY:
        return None
    rf = int(node.get_attr('reuse_factor', 1))
    kernel = keras_kernel(node)
    if strategy == 'resource':
        return multipliers.resource_multipliers(kind, kernel.shape, rf)
    if strategy == 'resource_unrolled':
        return multipliers.unrolled_multipliers(kind, kernel, rf)
    io_type = node.model.config.get_config_value('IOType')
    if get_kind(kind).spatial == 0 or io_type == 'io_stream':
        return multipliers.dense_latency_multipliers(kernel, rf)
    if get_kind(kind).spatial == 1:
        spatial = (node.get_attr('in_width'),)
        strides = (node.get_attr('stride_width'),)
        before, after = (node.get_attr('pad_left'),), (node.get_attr('pad_right'),)
    else:
        spatial = (node.get_attr('in_height'), node.get_attr('in_width'))
        strides = (node.get_attr('stride_height'), node.get_attr('stride_width'))
        before = (node.get_attr('pad_top'), node.get_attr('pad_left'))
        after = (node.get_attr('pad_bottom'), node.get_attr('pad_right'))
    body = multipliers.conv_body_multiplications(kernel, spatial, strides, before, after,
                                                 n_partitions=node.get_attr('n_partitions', 1))
    return -(-body // rf)


def _round_half(q: np.ndarray, mode) -> np.ndarray:
    if mode == RoundingMode.TRN:
        return np.floor(q)
    if mode == RoundingMode.TRN_ZERO:
        return np.trunc(q)
    if mode == RoundingMode.RND:
        return np.floor(q + 0.5)
    if mode == RoundingMode.RND_ZERO:
        return np.sign(q) * np.ceil(np.abs(q) - 0.5)
    if mode == RoundingMode.RND_INF:
        return np.sign(q) * np.floor(np.abs(q) + 0.5)
    if mode == RoundingMode.RND_MIN_INF:
        return np.ceil(q - 0.5)
    return np.rint(q)  # RND_CONV: half to even


def firmware_zero_mask(data, precision) -> np.ndarray:
    """Which values the generated firmware holds as exactly 0.

    hls4ml writes a fixed-point weight as a decimal literal with as many decimals as the type has
    fractional bits (``WeightVariable.precision_fmt``); the C++ type then quantizes it with its
    rounding mode and overflow mode. A weight that is nonzero in float may thus be 0 in
    hardware (e.g. ``1e-4`` in ``ap_fixed<8,3>``), or a large one may wrap to 0. Types other than
    fixed-point/integer: exact zeros only.

    Example:
        >>> from hls4ml.model.types import FixedPrecisionType
        >>> firmware_zero_mask(np.array([0.0, 1e-4, -1e-4, 0.5]), FixedPrecisionType(8, 3))
        array([ True,  True, False, False])
    """
    data = np.asarray(data, dtype=np.float64)
    zero = data == 0
    if isinstance(precision, FixedPrecisionType):
        frac = precision.width - precision.integer
        fmt = f'{{:.{max(0, frac)}f}}'
        rounding, saturation = precision.rounding_mode, precision.saturation_mode
    elif isinstance(precision, IntegerPrecisionType):
        frac, fmt, rounding, saturation = 0, '{:.0f}', RoundingMode.TRN, SaturationMode.WRAP
    else:
        return zero
    flat = data.ravel()
    written = np.array([float(fmt.format(v)) for v in flat.tolist()], dtype=np.float64).reshape(data.shape)
    q = _round_half(np.ldexp(written, frac), rounding)
    width, signed = int(precision.width), bool(precision.signed)
    lo, hi = (-(2.0 ** (width - 1)), 2.0 ** (width - 1) - 1) if signed else (0.0, 2.0 ** width - 1)
    if saturation == SaturationMode.WRAP:
        return zero | (np.mod(q, 2.0 ** width) == 0)
    if saturation == SaturationMode.SAT_ZERO:
        return zero | (q == 0) | (q < lo) | (q > hi)
    if saturation == SaturationMode.SAT_SYM and signed:
        lo = -hi
    return zero | (np.clip(q, lo, hi) == 0)


def refresh_counts(var) -> None:
    """Recompute hls4ml's zero/nonzero counts (and min/max) of a ``WeightVariable`` after a change."""
    data = np.asarray(var.data)
    var.nonzeros = int(np.count_nonzero(data))
    var.nzeros = int(data.size - var.nonzeros)
    var.data_length = int(data.size)
    var.min, var.max = (float(np.min(data)), float(np.max(data))) if data.size else (0.0, 0.0)


def _neighbours(model, node, downstream: bool) -> list:
    if downstream:
        outputs = set(node.outputs)
        return [n for n in model.graph.values() if outputs & set(n.inputs)]
    inputs = set(node.inputs)
    return [n for n in model.graph.values() if inputs & set(n.outputs)]


def _reaches_weight_layer(model, node, downstream: bool) -> bool:
    """Whether a Dense/Conv node reads this node's output (``downstream``) or produces its input,
    directly or through weightless layers: only then can dead/unused units be stripped."""
    seen, frontier = {node.name}, [node]
    while frontier:
        for other in _neighbours(model, frontier.pop(), downstream):
            if other.name in seen:
                continue
            seen.add(other.name)
            if node_kind(other) is not None:
                return True
            frontier.append(other)
    return False


# --------------------------------------------------------------------------------------------
# Passes


class StrategyPass(OptimizerPass):
    """``hwprune:strategy``: a strategy under which pruned weights free multipliers, before init.

    hls4ml's ``init_dense``/``init_conv1d``/``init_conv2d`` (flow ``vivado:init_layers``) read the
    strategy from the parsed config and validate the reuse factor for it, so this pass runs in
    the ``optimize`` flow before them and changes the layer's entry of the parsed config
    (``HLSConfig.layer_name_strategy``; the user's config dict is never written). A strategy pinned
    with ``'hwprune': {'pin_strategy': True}`` is kept; a pinned ``Resource`` is logged as making
    pruning pointless.
    """

    name = STRATEGY_PASS

    def match(self, node):
        return (node_kind(node) is not None and not node.get_attr(_DONE_STRATEGY, False)
                and supported_backend(node.model) and pass_enabled(node.model, STRATEGY_PASS))

    def transform(self, model, node):
        config = model.config
        kind = node_kind(node)
        requested = config.get_strategy(node)
        node.set_attr(_DONE_STRATEGY, True)
        try:
            strategy = normalize_strategy(requested)
        except ValueError:
            logger.info('Layer %r: strategy %r is not one hwprune models; left as it is.', node.name, requested)
            return False
        io_type = str(config.get_config_value('IOType', 'io_parallel')).lower()
        pinned = hwprune_option(config.config.get('HLSConfig', {}), node.name, node.class_name, 'pin_strategy', False)
        try:
            rf = int(config.get_reuse_factor(node))
            settings = FPGALayerSettings(reuse_factor=max(rf, 1), strategy=strategy, io_type=io_type,
                                         pinned=bool(pinned))
        except (TypeError, ValueError) as e:
            logger.info('Layer %r: cannot read its settings (%s); strategy left as it is.', node.name, e)
            return False
        n_in, n_out = mult_shape(kind, kernel_shape(node))
        built = built_strategy(kind, kernel_shape(node), settings)
        chosen = built.strategy
        if built.fallback == 'unrolled_rf1':
            logger.warning('Layer %r: hls4ml would turn ReuseFactor=%d into 1 for ResourceUnrolled (%dx%d '
                           'multiplication) and emit code that does not compile; using Latency, which needs '
                           'the same multipliers at RF 1.', node.name, rf, n_in, n_out)
        elif chosen == 'resource_unrolled' and built.reuse_factor != rf:
            logger.warning('Layer %r: hls4ml will use ReuseFactor=%d instead of the requested %d for '
                           'ResourceUnrolled (%dx%d multiplication).', node.name, built.reuse_factor, rf, n_in, n_out)
        node.set_attr('hwprune_requested_strategy', strategy)
        node.set_attr('hwprune_strategy', chosen)
        if chosen != strategy:
            config.layer_name_strategy[node.name.lower()] = _HLS_STRATEGY[chosen]
            level = logging.INFO if chosen != 'resource' else logging.WARNING
            logger.log(level, 'Layer %r: strategy %s -> %s%s.', node.name, strategy, chosen,
                       ' so that pruned weights free multipliers' if chosen != 'resource' else
                       ' (hls4ml cannot unroll it); pruning this layer saves no DSP')
        elif strategy == 'resource':
            logger.warning("Layer %r: strategy Resource is pinned; it ignores zero weights, so pruning this layer "
                           "saves no DSP. Unpin it or use Latency/ResourceUnrolled.", node.name)
        return False


class StripPass(OptimizerPass):
    """``hwprune:strip``: the firmware's zeros are exact zeros; counts refreshed; dead units reported.

    Runs at the end of ``vivado:optimize``: weights are final (QKeras quantizers applied, alpha
    factorised, precisions inferred) and not yet transposed or turned into ResourceUnrolled code.
    """

    name = STRIP_PASS

    def match(self, node):
        return (node_kind(node) is not None and 'weight' in node.weights and not node.get_attr(_DONE_STRIP, False)
                and supported_backend(node.model) and pass_enabled(node.model, STRIP_PASS))

    def transform(self, model, node):
        node.set_attr(_DONE_STRIP, True)
        var = node.weights['weight']
        if type(var).__name__ == 'CompressedWeightVariable':
            logger.info('Layer %r: compressed weights are left as they are.', node.name)
            return False
        data = np.asarray(var.data)
        zero = firmware_zero_mask(data, var.type.precision)
        snapped = int(np.count_nonzero(zero & (data != 0)))
        if snapped:
            var.data = np.where(zero, np.zeros((), data.dtype), data)
            logger.info('Layer %r: %d weights are 0 in %s and now count as zeros.', node.name, snapped,
                        var.type.precision)
        refresh_counts(var)
        kernel = keras_kernel(node)
        kind = node_kind(node)
        outputs, inputs = neuron_layout(kind, kernel.shape), input_layout(kind, kernel.shape)
        dead = int(np.count_nonzero(~outputs.alive(kernel)))
        unused = int(np.count_nonzero(~inputs.alive(kernel)))
        node.set_attr('hwprune_dead_units', dead)
        if not (dead or unused):
            return False
        units = get_kind(kind).unit + 's'
        message = ('Layer %r: %d of %d %s have all-zero weights and %d of %d inputs are never used; hls4ml still '
                   'builds the units that compute or feed them. Convert with hwprune.convert (or call hwprune.strip '
                   'before hls4ml) to remove them where the graph allows.')
        args = (node.name, dead, outputs.n_groups, units, unused, inputs.n_groups)
        removable = ((dead and _reaches_weight_layer(model, node, downstream=True))
                     or (unused and _reaches_weight_layer(model, node, downstream=False)))
        if removable and not KERAS_STRIPPED.get():
            logger.warning(message, *args)
        else:
            logger.debug(message, *args)
        return False


class MultiplierLimitTemplate(Template):
    """``hwprune:multiplier_limit``: exact multiplier limits in the generated config.

    A template pass of the Vivado and Vitis backends, so hls4ml runs it in ``apply_templates``
    after its own config templates; it rewrites every ``multiplier_limit`` of the layer's
    ``config_cpp`` (the layer struct and its ``_mult`` struct) and, for ResourceUnrolled, the
    ``ALLOCATION`` limit in the generated kernel (``nnet_code_gen.h``). The count is stored in the
    node attribute ``hwprune_multiplier_limit``.
    """

    def __init__(self):
        super().__init__(MULTIPLIER_PASS, (), 'config_cpp')

    def match(self, node):
        if node_kind(node) is None or str(node.get_attr('strategy', '')).lower() not in _HLS_STRATEGY:
            return False
        cpp = node.get_attr('config_cpp', None)
        return (bool(cpp) and cpp != node.get_attr(_PATCHED_CPP, None) and supported_backend(node.model)
                and pass_enabled(node.model, MULTIPLIER_PASS))

    def transform(self, model, node):
        limit = node_multiplier_limit(node)
        cpp = node.get_attr('config_cpp')
        patched, count = _LIMIT_RE.subn(
            f'static const unsigned multiplier_limit = {limit}; // hwprune: from nonzero weights', cpp)
        if count == 0:
            logger.warning('Layer %r: no multiplier_limit in its generated config; hls4ml\'s template changed? '
                           'Limit %d not written.', node.name, limit)
        node.set_attr('config_cpp', patched)
        node.set_attr(_PATCHED_CPP, patched)
        node.set_attr(LIMIT_ATTR, int(limit))
        code = node.get_attr('resource_unrolled_dense_codegen', None)
        if code is not None and str(node.get_attr('strategy')).lower() == 'resource_unrolled':
            code.code = _UNROLLED_RE.sub(lambda m: f'{m.group(1)}{limit}', str(code.code))
        logger.debug('Layer %r: multiplier_limit = %d (%s, RF=%s).', node.name, limit, node.get_attr('strategy'),
                     node.get_attr('reuse_factor'))
        return False

    def format(self, node):  # pragma: no cover - transform is overridden
        raise NotImplementedError


# --------------------------------------------------------------------------------------------
# Registration


def registered_names() -> list[str]:
    """Full registry names of hwprune's passes (``'hwprune:strip'``, ``'vivado:hwprune:multiplier_limit'``...)."""
    return [name for name in get_available_passes() if name.split(':', 1)[-1].startswith('hwprune:')
            or name.startswith('hwprune:')]


def _add_to_flow(flow: str, pass_name: str) -> None:
    if pass_name not in get_flow(flow).optimizers:
        update_flow(flow, add_optimizers=[pass_name])


def register_passes() -> list[str]:
    """Register hwprune's passes with hls4ml (idempotent) and return their registry names.

    Called when :mod:`hwprune.hls` is imported.
    """
    available = set(get_available_passes())
    if STRATEGY_PASS not in available:
        register_pass(STRATEGY_PASS, StrategyPass)
    if STRIP_PASS not in available:
        register_pass(STRIP_PASS, StripPass)
    for pass_name, flow in PASS_FLOWS.items():
        _add_to_flow(flow, pass_name)
    for backend_name in TEMPLATE_BACKENDS:
        if f'{backend_name.lower()}:{MULTIPLIER_PASS}' not in available:
            get_backend(backend_name).register_template(MultiplierLimitTemplate)
    return registered_names()


def hwprune_passes_applied(hls_model) -> dict[str, set]:
    """Which hwprune passes hls4ml applied in each flow of a converted model (for checks and tests)."""
    applied: dict[str, set] = {}
    for group in getattr(hls_model, '_applied_flows', []):
        for flow, passes in group.items():
            mine = {p for p in passes if 'hwprune:' in p}
            if mine:
                applied.setdefault(flow, set()).update(mine)
    return applied


__all__ = ['ENABLE_KEY', 'KERAS_STRIPPED', 'LIMIT_ATTR', 'enable_passes', 'MULTIPLIER_PASS', 'MultiplierLimitTemplate', 'NODE_KINDS', 'PASS_FLOWS',
           'PASS_NAMES',
           'STRATEGY_PASS', 'STRIP_PASS', 'StrategyPass', 'StripPass', 'firmware_zero_mask', 'hwprune_passes_applied',
           'keras_kernel', 'kernel_shape', 'node_kind', 'node_multiplier_limit', 'pass_enabled', 'pass_selected',
           'refresh_counts',
           'register_passes', 'registered_names', 'supported_backend']
