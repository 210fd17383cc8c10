"""Read an hls4ml configuration into hwprune's FPGA target.

hls4ml resolves every setting per layer *key by key*, most specific first (``model/graph.py``,
``HLSConfig``): ``LayerName[name]`` > ``LayerType[class]`` > ``Model``, with layer names and
class names compared case-insensitively. :func:`read_hls_config` does the same for the settings
that decide a layer's hardware cost:

* ``ReuseFactor`` (default 1, as ``convert_from_keras_model`` sets it);
* ``Strategy`` (default ``Latency``; ``Resource``, ``ResourceUnrolled``/``resource_unrolled``);
* the weight precision, ``Precision`` (a string, or a dict whose ``'weight'`` entry, else
  ``'default'``, applies; ``'kernel'`` is accepted as an alias of ``'weight'``);
* ``IOType``: the ``io_type`` argument, else the config's top-level ``IOType``, else
  ``io_parallel``.

The class used for ``LayerType`` is hls4ml's class (``Dense``, ``Conv1D``, ``Conv2D``): hls4ml
converts a QKeras ``QDense`` into a ``Dense`` node and never reads ``LayerType['QDense']``;
hwprune warns when a config relies on such an entry.

**Weight precision, as hls4ml decides it.** A layer with a QKeras kernel quantizer gets the
quantizer's type whatever the config says (``Layer.add_weights_variable`` replaces the precision
by ``quantizer.hls_type``); ``'auto'`` without a quantizer becomes the model's default precision
(``InferPrecisionTypes._infer_default_type``). Without the Keras model hwprune cannot see
quantizers: an ``'auto'`` weight precision is then read as the model default (or
:data:`hwprune.hardware.DEFAULT_WEIGHT_BITS` bits) with a logged warning.

**Pinning a strategy.** hwprune's converter may change a layer's strategy so that pruned weights
really free multipliers (:func:`hwprune.targets.fpga.choose_strategy`). To keep a strategy as
written, set the hwprune-specific key ``'hwprune': {'pin_strategy': True}`` in a ``LayerName``
entry, a ``LayerType`` entry or ``Model`` (resolved like every other key; hls4ml ignores it).

Example:
    >>> cfg = {'Model': {'ReuseFactor': 4, 'Strategy': 'Latency', 'Precision': 'ap_fixed<16,6>'},
    ...        'LayerName': {'fc1': {'ReuseFactor': 8, 'Strategy': 'Resource',
    ...                              'Precision': {'weight': 'ap_fixed<8,3>'},
    ...                              'hwprune': {'pin_strategy': True}}}}
    >>> settings = read_hls_config(cfg)
    >>> settings.layers['fc1']
    FPGALayerSettings(reuse_factor=8, strategy='resource', weight_bits=8, io_type='io_parallel', pinned=True, parallelization_factor=1)
    >>> settings.default.reuse_factor
    4
"""

from __future__ import annotations

import copy
import logging
import numbers
import os
import re
from typing import Any, Mapping, NamedTuple

import yaml

from .. import hardware
from .._validation import invalid
from ..targets.fpga import IO_TYPES, FPGALayerSettings, FPGATarget, normalize_strategy

logger = logging.getLogger(__name__)

#: Key of hwprune's own options inside an hls4ml layer/type/model config entry.
HWPRUNE_KEY = 'hwprune'
#: Options hwprune reads under :data:`HWPRUNE_KEY`.
HWPRUNE_OPTIONS = ('pin_strategy',)

#: hls4ml class of the node a prunable Keras layer becomes, by hwprune layer kind.
HLS_CLASS = {'dense': 'Dense', 'conv1d': 'Conv1D', 'conv2d': 'Conv2D', 'depthwise1d': 'DepthwiseConv1D',
             'depthwise2d': 'DepthwiseConv2D'}
_HLS_CLASSES = ('Dense', 'Conv1D', 'Conv2D', 'Conv2DBatchnorm', 'DepthwiseConv1D', 'DepthwiseConv2D',
                'SeparableConv1D', 'SeparableConv2D')
_QKERAS_CLASSES = {'QDense': 'Dense', 'QConv1D': 'Conv1D', 'QConv2D': 'Conv2D', 'QConv2DBatchnorm': 'Conv2DBatchnorm',
                   'QDepthwiseConv2D': 'DepthwiseConv2D', 'QSeparableConv1D': 'SeparableConv1D',
                   'QSeparableConv2D': 'SeparableConv2D'}

_FLOAT_BITS = {'float': 32, 'double': 64, 'half': 16, 'bfloat16': 16}
_AP_RE = re.compile(r'^(?:ap_|ac_)?(u?)(fixed|int)\s*<\s*(-?\d+)\s*(?:,\s*([-\w]+)\s*)?(?:,[^<>]*)?>$', re.IGNORECASE)
_STD_FLOAT_RE = re.compile(r'^(?:ap_float|ac_std_float|std_float|ac_float)\s*<\s*(\d+)\s*,\s*(\d+)[^<>]*>$',
                           re.IGNORECASE)


class HLSSettings(NamedTuple):
    """What :func:`read_hls_config` returns.

    Attributes:
        layers: settings of each layer the config (or the model) names, keyed by layer name.
        default: settings of any other layer (the ``Model`` entry).
    """

    layers: dict
    default: FPGALayerSettings


# --------------------------------------------------------------------------------------------
# Loading


class _TolerantLoader(yaml.SafeLoader):
    """SafeLoader that reads hls4ml's ``!keras_model`` (and any other) tags as plain values."""


def _any_tag(loader, tag_suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)


_TolerantLoader.add_multi_constructor('!', _any_tag)


def load_hls_config(hls_config) -> dict:
    """A private deep copy of an hls4ml config given as a dict or a YAML file path.

    Both the ``hls_config`` dict that ``config_from_keras_model`` returns and a full hls4ml project
    configuration (with ``HLSConfig``, ``IOType``, ``Backend`` at the top, as in
    ``hls4ml_config.yml``) are accepted; the latter is returned as its ``HLSConfig`` part with
    ``IOType`` and ``Backend`` copied in.

    Example:
        >>> load_hls_config({'HLSConfig': {'Model': {'ReuseFactor': 2}}, 'IOType': 'io_stream'})
        {'Model': {'ReuseFactor': 2}, 'IOType': 'io_stream'}
    """
    if isinstance(hls_config, (str, os.PathLike)):
        path = os.fspath(hls_config)
        if not os.path.isfile(path):
            raise invalid('hls_config', path, 'an hls4ml config dict or the path of an existing YAML file',
                          FileNotFoundError)
        with open(path) as f:
            try:
                loaded = yaml.load(f, Loader=_TolerantLoader)  # noqa: S506 - safe loader subclass
            except yaml.YAMLError as e:
                raise invalid('hls_config', path, f'a readable YAML file ({e})') from None
        if not isinstance(loaded, Mapping):
            raise invalid('hls_config', path, 'a YAML file holding a mapping')
        hls_config = loaded
    if not isinstance(hls_config, Mapping):
        raise invalid('hls_config', hls_config, 'an hls4ml config dict or a YAML file path', TypeError)
    config = copy.deepcopy(dict(hls_config))
    if isinstance(config.get('HLSConfig'), Mapping):
        inner = dict(config['HLSConfig'])
        for key in ('IOType', 'Backend'):
            if key in config and key not in inner:
                inner[key] = config[key]
        config = inner
    for key in ('Model', 'LayerName', 'LayerType'):
        if key in config and config[key] is not None and not isinstance(config[key], Mapping):
            raise invalid(f"hls_config['{key}']", config[key], 'a dict')
    return config


# --------------------------------------------------------------------------------------------
# Precision strings


def parse_precision_bits(precision: Any, argument: str = 'precision') -> int:
    """Total bit width of an hls4ml precision (``'ap_fixed<16,6>'``, ``'fixed<8,3>'``, ``'ap_int<8>'``,
    ``'ap_ufixed<...>'``, ``'ap_uint<4>'``, ``'ac_fixed<...>'``, ``'float'``, ...).

    Raises ValueError for ``'auto'`` and anything hls4ml cannot parse.

    Example:
        >>> parse_precision_bits('ap_fixed<16,6,AP_RND,AP_SAT>'), parse_precision_bits('uint<4>')
        (16, 4)
    """
    if hasattr(precision, 'width') and not isinstance(precision, str):  # an hls4ml PrecisionType
        return int(precision.width)
    if not isinstance(precision, str):
        raise invalid(argument, precision, "an hls4ml precision string such as 'ap_fixed<16,6>'")
    text = precision.strip()
    if text.lower() in _FLOAT_BITS:
        return _FLOAT_BITS[text.lower()]
    match = _STD_FLOAT_RE.match(text)
    if match:
        return int(match.group(1))
    match = _AP_RE.match(text)
    if match is None or int(match.group(3)) < 1:
        raise invalid(argument, precision, "an hls4ml precision string such as 'ap_fixed<16,6>', 'fixed<8,3>', "
                      "'ap_int<8>' or 'ap_uint<4>'")
    if match.group(2).lower() == 'fixed' and not re.fullmatch(r'-?\d+', match.group(4) or ''):
        raise invalid(argument, precision, 'a fixed-point precision with width and integer bits')
    return int(match.group(3))


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
            try:
                from qkeras import get_quantizer
            except ImportError:  # pragma: no cover - QKeras missing
                return None
            config = get_quantizer(config)
        get_config = getattr(config, 'get_config', None)
        if get_config is None:
            return None
        config = {'class_name': type(config).__name__, 'config': get_config()}
    try:
        from hls4ml.converters.keras.qkeras import get_quantizer_from_config
    except ImportError:
        get_quantizer_from_config = None
    if get_quantizer_from_config is not None:
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


# --------------------------------------------------------------------------------------------
# Key-by-key resolution, as hls4ml's HLSConfig


def _lower_keys(mapping) -> dict:
    return {str(k).lower(): (k, v) for k, v in (mapping or {}).items()}


def _split_copy(config: Mapping, parent: str, parent_class: str | None, part: str) -> dict | None:
    """The entry hls4ml's ``separable_to_depthwise_and_conv`` gives ``<parent>_<part>``: the parent's
    ``LayerType`` entry updated with its ``LayerName`` entry, with ``Precision['<part>']`` (and
    ``_accum``/``_result``) renamed ``weight``/``accum``/``result`` and the other part's keys dropped."""
    merged: dict = {}
    for level, key in (('LayerType', parent_class), ('LayerName', parent)):
        hit = _lower_keys(config.get(level)).get(str(key).lower()) if key is not None else None
        if hit is not None and isinstance(hit[1], Mapping):
            merged.update(hit[1])
    if not merged:
        return None
    merged = copy.deepcopy(merged)
    precision = merged.setdefault('Precision', {})
    if isinstance(precision, dict):
        other = 'pointwise' if part == 'depthwise' else 'depthwise'
        for suffix, target in (('', 'weight'), ('_accum', 'accum'), ('_result', 'result')):
            if part + suffix in precision:
                precision[target] = precision.pop(part + suffix)
        precision.pop(other, None)
        precision.pop(other + '_accum', None)
    return merged


class _Levels:
    """The config entries that apply to one layer, most specific first.

    ``split``: ``(parent name, parent hls class, part)`` for a layer hls4ml makes by splitting a
    SeparableConv (``part`` is ``'depthwise'`` or ``'pointwise'``): the parent's entry as hls4ml
    copies it comes first, then the layer's own ``LayerName`` entry (keys the copy lacks), its
    class's ``LayerType`` entry and ``Model``.
    """

    def __init__(self, config: Mapping, name: str | None, hls_class: str | None, split: tuple | None = None):
        self.name = name
        entries = []
        if split is not None:
            parent, parent_class, part = split
            copied = _split_copy(config, parent, parent_class, part)
            if copied is not None:
                entries.append((f"hls_config['LayerName'][{parent!r}] (hls4ml's copy for {name!r})", copied))
        if name is not None:
            hit = _lower_keys(config.get('LayerName')).get(name.lower())
            if hit is not None and isinstance(hit[1], Mapping):
                entries.append((f"hls_config['LayerName'][{hit[0]!r}]", hit[1]))
        for klass in ((hls_class,) if isinstance(hls_class, str) else tuple(hls_class or ())):
            hit = _lower_keys(config.get('LayerType')).get(klass.lower())
            if hit is not None and isinstance(hit[1], Mapping):
                entries.append((f"hls_config['LayerType'][{hit[0]!r}]", hit[1]))
        if isinstance(config.get('Model'), Mapping):
            entries.append(("hls_config['Model']", config['Model']))
        self.entries = entries

    def get(self, key: str, default=None):
        """``(value, where)`` of the most specific entry that sets ``key``."""
        for where, entry in self.entries:
            if entry.get(key) is not None:
                return entry[key], f"{where}['{key}']"
        return default, None

    def precision(self, var: str = 'weight'):
        """hls4ml's ``get_precision`` order: per level, ``var`` (``'kernel'`` alias) then ``'default'``."""
        for where, entry in self.entries:
            cfg = entry.get('Precision')
            if cfg is None:
                continue
            if isinstance(cfg, Mapping):
                for key in (var, 'kernel', 'default'):
                    if cfg.get(key) is not None:
                        return cfg[key], f"{where}['Precision']['{key}']"
            else:
                return cfg, f"{where}['Precision']"
        return None, None

    def option(self, key: str, default=None):
        """A hwprune option (``entry['hwprune'][key]``), most specific entry first."""
        for where, entry in self.entries:
            options = entry.get(HWPRUNE_KEY)
            if options is None:
                continue
            if not isinstance(options, Mapping):
                raise invalid(f"{where}['{HWPRUNE_KEY}']", options, 'a dict of hwprune options, e.g. '
                              "{'pin_strategy': True}")
            unknown = set(options) - set(HWPRUNE_OPTIONS)
            if unknown:
                raise invalid(f"{where}['{HWPRUNE_KEY}']", options, 'hwprune options among '
                              + ', '.join(repr(o) for o in HWPRUNE_OPTIONS))
            if key in options:
                return options[key]
        return default


def hwprune_option(hls_config: Mapping, name: str | None, hls_class: str | None, key: str, default=None):
    """Resolve a hwprune option (e.g. ``'pin_strategy'``) for a layer like hls4ml resolves keys.

    Example:
        >>> hwprune_option({'Model': {'hwprune': {'pin_strategy': True}}}, 'fc1', 'Dense', 'pin_strategy')
        True
    """
    return _Levels(hls_config, name, hls_class).option(key, default)


def hls_class_name(class_name: str | None, kind: str | None = None) -> str | None:
    """hls4ml's class for a Keras/QKeras layer class name (``'QDense'`` -> ``'Dense'``).

    Example:
        >>> hls_class_name('QConv2D'), hls_class_name('MyDense', 'dense')
        ('Conv2D', 'Dense')
    """
    if class_name in _HLS_CLASSES:
        return class_name
    if class_name in _QKERAS_CLASSES:
        return _QKERAS_CLASSES[class_name]
    return HLS_CLASS.get(kind) if kind is not None else class_name


def _model_default_precision(config: Mapping):
    model = config.get('Model')
    if not isinstance(model, Mapping):
        return None
    cfg = model.get('Precision')
    if isinstance(cfg, Mapping):
        return cfg.get('default')
    return cfg


def _check_rf(value, where: str, layer: str) -> int:
    integral = isinstance(value, numbers.Integral) or (isinstance(value, numbers.Real) and float(value).is_integer())
    if isinstance(value, bool) or not integral or value < 1:
        raise invalid(where, value, f'an integer reuse factor >= 1 for layer {layer!r}')
    return int(value)


def _check_strategy(value, where: str, layer: str) -> str:
    if isinstance(value, str) and value.strip().lower() in ('unrolled',):
        raise invalid(where, value, f"'Latency', 'Resource' or 'ResourceUnrolled' for layer {layer!r} (hls4ml reads "
                      "'Unrolled' silently as Latency; the unrolled Resource strategy is spelled 'ResourceUnrolled')")
    if isinstance(value, str) and value.strip().lower().replace('_', '') in ('distributedarithmetic', 'da'):
        raise invalid(where, value, f"'Latency', 'Resource' or 'ResourceUnrolled' for layer {layer!r} (hwprune has no "
                      'cost model for distributed arithmetic, which uses no multipliers)')
    try:
        return normalize_strategy(value.strip() if isinstance(value, str) else value, argument=where)
    except ValueError:
        raise invalid(where, value, f"'Latency', 'Resource' or 'ResourceUnrolled' for layer {layer!r}") from None


def layer_settings(config: Mapping, name: str | None, hls_class: str | None = None, io_type: str | None = None,
                   quantizer_bits: int | None = None, model_known: bool = False,
                   split: tuple | None = None) -> FPGALayerSettings:
    """Settings of one layer (``name=None``: the model default) from a loaded hls4ml config.

    Args:
        config: the hls4ml config dict (as :func:`load_hls_config` returns it).
        name: the layer name (``None`` for the ``Model`` level alone).
        hls_class: hls4ml's class of the layer (``'Dense'``, ``'Conv1D'``, ``'Conv2D'``...) for
            ``LayerType`` entries, or several classes, most specific first.
        io_type: ``'io_parallel'``/``'io_stream'``; default: the config's ``IOType`` or io_parallel.
        quantizer_bits: width of the layer's QKeras kernel quantizer type, if it has one.
        model_known: whether the caller looked at the Keras model (so a missing quantizer is real).
        split: for a layer hls4ml makes by splitting a SeparableConv (``'sep_depthwise'``),
            ``(parent name, parent hls class, 'depthwise' or 'pointwise')``.

    Example:
        >>> cfg = {'Model': {'ReuseFactor': 2}, 'LayerType': {'Dense': {'Strategy': 'Resource'}}}
        >>> layer_settings(cfg, 'fc1', 'Dense').strategy
        'resource'
    """
    levels = _Levels(config, name, hls_class, split)
    label = name if name is not None else '<model default>'
    rf, where = levels.get('ReuseFactor', 1)
    rf = _check_rf(rf, where or 'ReuseFactor', label)
    strategy, where = levels.get('Strategy', 'Latency')
    strategy = _check_strategy(strategy, where or 'Strategy', label)
    precision, where = levels.precision('weight')
    if quantizer_bits is not None:
        bits = int(quantizer_bits)
        if isinstance(precision, str) and precision.strip().lower() != 'auto':
            try:
                if parse_precision_bits(precision, where) != bits:
                    logger.info('Layer %r: hls4ml uses the kernel quantizer\'s %d-bit type, not %s=%r.',
                                label, bits, where, precision)
            except ValueError:
                pass
    elif precision is None or (isinstance(precision, str) and precision.strip().lower() == 'auto'):
        default = _model_default_precision(config)
        if default is not None and not (isinstance(default, str) and default.strip().lower() == 'auto'):
            bits = parse_precision_bits(default, "hls_config['Model']['Precision']")
            if precision is not None and not model_known:
                logger.warning("Layer %r: weight precision 'auto' read as the model default %r (%d bits); without "
                               'the Keras model hwprune cannot see a QKeras kernel quantizer. Pass model= to be '
                               'exact.', label, default, bits)
        else:
            bits = hardware.DEFAULT_WEIGHT_BITS
            logger.warning('Layer %r: no explicit weight precision and no model default; assuming %d bits.',
                           label, bits)
    else:
        bits = parse_precision_bits(precision, where)
    if io_type is None:
        io_type = config.get('IOType', 'io_parallel')
    if not isinstance(io_type, str) or io_type.lower() not in IO_TYPES:
        raise invalid('io_type', io_type, "'io_parallel' or 'io_stream'")
    pinned = levels.option('pin_strategy', False)
    if not isinstance(pinned, bool):
        raise invalid(f"{HWPRUNE_KEY}['pin_strategy'] of layer {label!r}", pinned, 'True or False')
    pf, where = levels.get('ParallelizationFactor', 1)
    if isinstance(pf, bool) or not isinstance(pf, numbers.Integral) or pf < 1:
        raise invalid(f'{where or "ParallelizationFactor"} of layer {label!r}', pf, 'an integer >= 1')
    for key in ('TargetCycles', 'Compression'):
        value, where = levels.get(key)
        if value:
            logger.warning('Layer %r: %s=%r is not modelled by hwprune; costs assume ReuseFactor=%d and no '
                           'compression.', label, where, value, rf)
    return FPGALayerSettings(reuse_factor=rf, strategy=strategy, weight_bits=bits, io_type=io_type.lower(),
                             pinned=pinned, parallelization_factor=int(pf))


def _model_layers(model):
    """``[(LayerInfo, quantizer bits or None, Keras layer name, LayerSpec)]`` for the prunable kernels of
    a Keras model (two for a SeparableConv, which hls4ml splits into ``<name>_depthwise`` and
    ``<name>_pointwise``)."""
    from ..keras.layers import prunable_layers
    from ..keras.registry import unit_spec

    out = []
    for layer, info in prunable_layers(model, warn=False):
        spec = unit_spec(layer, info)
        quantizer = None
        get_config = getattr(layer, 'get_config', None)
        if get_config is not None and type(layer).__name__ in _QKERAS_CLASSES:
            quantizer = get_config().get(spec.quantizer)
        out.append((info, quantizer_weight_bits(quantizer) if quantizer else None, layer.name, spec))
    return out


def _warn_qkeras_layer_types(config: Mapping):
    for key in (config.get('LayerType') or {}):
        if key in _QKERAS_CLASSES:
            logger.warning("hls_config['LayerType'][%r] is ignored by hls4ml, which converts %s layers to %s nodes; "
                           "use hls_config['LayerType'][%r] or LayerName entries.", key, key, _QKERAS_CLASSES[key],
                           _QKERAS_CLASSES[key])


def read_hls_config(hls_config, model=None, io_type: str | None = None) -> HLSSettings:
    """Per-layer FPGA settings from an hls4ml config, resolved the way hls4ml resolves them.

    Args:
        hls_config: the config dict (``hls4ml.utils.config_from_keras_model``), a full hls4ml
            project config, or the path of a YAML file holding either. Never modified.
        model: the Keras model the config is for. With it, every prunable layer gets settings
            (``LayerType`` entries and QKeras kernel quantizers included); without it, the layers
            named in ``LayerName`` do.
        io_type: ``'io_parallel'`` or ``'io_stream'``; default: the config's ``IOType`` or
            ``io_parallel``.

    Returns:
        :class:`HLSSettings` ``(layers, default)``.

    Raises:
        ValueError: an unknown strategy, a reuse factor < 1 or an unparsable precision, naming the
            layer and the value.

    Example:
        >>> read_hls_config({'Model': {'ReuseFactor': 2, 'Precision': 'fixed<16,6>'},
        ...                  'LayerName': {'fc1': {'Strategy': 'ResourceUnrolled'}}}).layers['fc1'].strategy
        'resource_unrolled'
    """
    config = load_hls_config(hls_config)
    _warn_qkeras_layer_types(config)
    default = layer_settings(config, None, None, io_type)
    layers: dict[str, FPGALayerSettings] = {}
    if model is not None:
        for info, qbits, parent, spec in _model_layers(model):
            hls_class = hls_class_name(info.class_name, info.kind)
            split = None
            if spec.suffix:  # a kernel of a layer hls4ml splits: its own node, with a copy of the parent's entry
                split, hls_class = (parent, hls_class, spec.precision), HLS_CLASS[info.kind]
            if hls_class in ('Conv1D', 'Conv2D') and all(k == 1 for k in info.kernel_shape[:-2]):
                # hls4ml turns 1x1 convolutions into PointwiseConv nodes; that class's entry comes first
                hls_class = ('Pointwise' + hls_class, hls_class)
            layers[info.name] = layer_settings(config, info.name, hls_class, io_type, qbits, model_known=True,
                                               split=split)
    else:
        if config.get('LayerType'):
            logger.warning("hls_config['LayerType'] entries apply to layers by class; pass model= so that hwprune "
                           'can resolve them (without it, unnamed layers get the Model settings).')
        for name in (config.get('LayerName') or {}):
            layers[str(name)] = layer_settings(config, str(name), None, io_type)
    return HLSSettings(layers, default)


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


def target_from_hls_config(hls_config, model=None, io_type: str | None = None, as_converted: bool = True,
                           strict: bool = False) -> FPGATarget:
    """An :class:`~hwprune.targets.fpga.FPGATarget` from an hls4ml config.

    Args:
        hls_config: dict or YAML path (see :func:`read_hls_config`).
        model: the Keras model, to resolve ``LayerType`` entries, QKeras quantizers and to check
            every layer's reuse factor now (warnings name the layer, the requested and the used RF).
        io_type: overrides the config's ``IOType``.
        as_converted: cost layers under the strategy :func:`hwprune.convert` emits (default), or
            under the user's strategy as plain hls4ml builds it.
        strict: raise for layers the config does not cover instead of using the model default.

    Example:
        >>> t = target_from_hls_config({'Model': {'ReuseFactor': 4, 'Strategy': 'Resource'}})
        >>> t.default.strategy
        'resource'
    """
    settings = read_hls_config(hls_config, model=model, io_type=io_type)
    target = FPGATarget(settings.layers, settings.default, as_converted=as_converted, strict=strict)
    if model is not None:
        from ..keras.layers import prunable_layers

        for _, info in prunable_layers(model, warn=False):
            target.resolve(info)  # logs RF changes and pointless strategies once, up front
    return target


__all__ = ['HLSSettings', 'pin_auto_precisions', 'HLS_CLASS', 'HWPRUNE_KEY', 'HWPRUNE_OPTIONS', 'hls_class_name', 'hwprune_option',
           'layer_settings', 'load_hls_config', 'parse_precision_bits', 'quantizer_weight_bits', 'read_hls_config',
           'target_from_hls_config']
