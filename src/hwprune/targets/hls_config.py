"""Read an hls4ml configuration into hwprune's FPGA target.

The reader works on the config (a dict or YAML file) and, optionally, a plain description of the
model's prunable kernels (:class:`~hwprune.targets.base.LayerInfo` records, which the Keras
adapter makes with :func:`hwprune.keras.describe_layers`): it imports neither a framework nor
hls4ml, so both adapters can use it.

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

**Weight precision, as hls4ml decides it.** A layer with a quantized kernel (QKeras kernel
quantizer) gets the quantizer's type whatever the config says (``Layer.add_weights_variable``
replaces the precision by ``quantizer.hls_type``): the layer description carries that width as
``LayerInfo.weight_bits``. ``'auto'`` without a quantizer becomes the model's default precision
(``InferPrecisionTypes._infer_default_type``). Without the layer descriptions hwprune cannot see
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
from ..kinds import KIND_RECORDS, get_kind
from .base import LayerInfo
from .fpga import IO_TYPES, FPGALayerSettings, FPGATarget, normalize_strategy

logger = logging.getLogger(__name__)

#: Key of hwprune's own options inside an hls4ml layer/type/model config entry.
HWPRUNE_KEY = 'hwprune'
#: Options hwprune reads under :data:`HWPRUNE_KEY` (``'passes'``: in the ``Model`` entry only, see
#: :func:`hwprune.hls.passes.enable_passes`).
HWPRUNE_OPTIONS = ('pin_strategy', 'passes')

#: hls4ml class of the node a prunable Keras layer becomes, by hwprune layer kind.
HLS_CLASS = {k.name: k.hls_class for k in KIND_RECORDS}
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


def yaml_problem(error: Exception) -> str:
    """A YAML parser error in one line (PyYAML's own message spans several): the problem and where."""
    problem = getattr(error, 'problem', None)
    mark = getattr(error, 'problem_mark', None)
    if problem and mark is not None:
        return f'{problem} at line {mark.line + 1}, column {mark.column + 1}'
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


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
                raise invalid('hls_config', path, f'a readable YAML file ({yaml_problem(e)})') from None
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


def _warn_qkeras_layer_types(config: Mapping):
    for key in (config.get('LayerType') or {}):
        if key in _QKERAS_CLASSES:
            logger.warning("hls_config['LayerType'][%r] is ignored by hls4ml, which converts %s layers to %s nodes; "
                           "use hls_config['LayerType'][%r] or LayerName entries.", key, key, _QKERAS_CLASSES[key],
                           _QKERAS_CLASSES[key])


def _check_layers(layers, model) -> tuple[LayerInfo, ...] | None:
    if model is not None:
        raise invalid('model', type(model).__name__, 'no model: the config reader takes the layers as plain '
                      'descriptions. Pass layers=hwprune.keras.describe_layers(model)', TypeError)
    if layers is None:
        return None
    expected = 'LayerInfo descriptions (hwprune.keras.describe_layers(model) gives those of a Keras model)'
    if isinstance(layers, (str, bytes, LayerInfo)):  # not read letter by letter (or field by field)
        raise invalid('layers', layers, 'a list of ' + expected, TypeError)
    try:
        layers = tuple(layers)
    except TypeError:
        raise invalid('layers', layers, 'a list of ' + expected, TypeError) from None
    for info in layers:
        if not isinstance(info, LayerInfo):
            raise invalid('layers', info, 'LayerInfo descriptions (hwprune.keras.describe_layers(model) gives '
                          'those of a Keras model)', TypeError)
    return layers


def read_hls_config(hls_config, layers=None, io_type: str | None = None, *, model=None) -> HLSSettings:
    """Per-layer FPGA settings from an hls4ml config, resolved the way hls4ml resolves them.

    Args:
        hls_config: the config dict (``hls4ml.utils.config_from_keras_model``), a full hls4ml
            project config, or the path of a YAML file holding either. Never modified.
        layers: the prunable kernels of the model the config is for, as
            :class:`~hwprune.targets.base.LayerInfo` descriptions
            (:func:`hwprune.keras.describe_layers` reads them from a Keras model). With them, every
            layer gets settings (``LayerType`` entries, quantizer widths and the entries hls4ml
            copies onto the halves of a split SeparableConv included); without them, the layers
            named in ``LayerName`` do.
        io_type: ``'io_parallel'`` or ``'io_stream'``; default: the config's ``IOType`` or
            ``io_parallel``.
        model: not accepted (the reader imports no framework); raises a TypeError naming
            ``layers=``.

    Returns:
        :class:`HLSSettings` ``(layers, default)``.

    Raises:
        ValueError: an unknown strategy, a reuse factor < 1 or an unparsable precision, naming the
            layer and the value.

    Example:
        >>> read_hls_config({'Model': {'ReuseFactor': 2, 'Precision': 'fixed<16,6>'},
        ...                  'LayerName': {'fc1': {'Strategy': 'ResourceUnrolled'}}}).layers['fc1'].strategy
        'resource_unrolled'
        >>> read_hls_config({'Model': {'ReuseFactor': 2, 'Precision': 'fixed<16,6>'},
        ...                  'LayerType': {'Dense': {'ReuseFactor': 4}}},
        ...                 layers=[LayerInfo('fc1', 'dense', (16, 8), class_name='Dense')]).layers['fc1'].reuse_factor
        4
    """
    infos = _check_layers(layers, model)
    config = load_hls_config(hls_config)
    _warn_qkeras_layer_types(config)
    default = layer_settings(config, None, None, io_type)
    settings: dict[str, FPGALayerSettings] = {}
    if infos is not None:
        for info in infos:
            hls_class = hls_class_name(info.class_name, info.kind)
            split = None
            if info.part:  # a kernel of a layer hls4ml splits: its own node, with a copy of the parent's entry
                split, hls_class = (info.layer, hls_class, info.part), get_kind(info.kind).hls_class
            if hls_class in ('Conv1D', 'Conv2D') and all(k == 1 for k in info.kernel_shape[:-2]):
                # hls4ml turns 1x1 convolutions into PointwiseConv nodes; that class's entry comes first
                hls_class = ('Pointwise' + hls_class, hls_class)
            settings[info.name] = layer_settings(config, info.name, hls_class, io_type, info.weight_bits,
                                                 model_known=True, split=split)
    else:
        if config.get('LayerType'):
            logger.warning("hls_config['LayerType'] entries apply to layers by class; pass the layers so that hwprune "
                           'can resolve them (without them, unnamed layers get the Model settings).')
        for name in (config.get('LayerName') or {}):
            settings[str(name)] = layer_settings(config, str(name), None, io_type)
    return HLSSettings(settings, default)


def warn_unmentioned(hls_config: Mapping, layers) -> list[str]:
    """Layers a name-granularity config leaves out (the config is probably for another model).

    Logs a warning naming them and returns their names.

    Example:
        >>> warn_unmentioned({'LayerName': {'fc1': {}}}, [LayerInfo('fc2', 'dense', (4, 2))])
        ['fc2']
    """
    named = {str(k).lower() for k in (hls_config.get('LayerName') or {})}
    if not named:
        return []
    missing = list(dict.fromkeys((info.layer or info.name) for info in layers
                                 if (info.layer or info.name).lower() not in named))
    if missing:
        logger.warning("The hls4ml config has per-layer entries but none for %s; hwprune costs %s with the config's "
                       "model/type defaults, as hls4ml would. Is the config for this model?",
                       ', '.join(repr(m) for m in missing), 'it' if len(missing) == 1 else 'them')
    return missing


def target_from_hls_config(hls_config, layers=None, io_type: str | None = None, as_converted: bool = True,
                           strict: bool = False, *, model=None) -> FPGATarget:
    """An :class:`~hwprune.targets.fpga.FPGATarget` from an hls4ml config.

    Args:
        hls_config: dict or YAML path (see :func:`read_hls_config`).
        layers: the model's prunable kernels as :class:`~hwprune.targets.base.LayerInfo` (see
            :func:`read_hls_config`); with them every layer's reuse factor and strategy are checked
            now (warnings name the layer, the requested and the used RF) and a name-granularity
            config that leaves a layer out is reported.
        io_type: overrides the config's ``IOType``.
        as_converted: cost layers under the strategy :func:`hwprune.convert` emits (default), or
            under the user's strategy as plain hls4ml builds it.
        strict: raise for layers the config does not cover instead of using the model default.
        model: not accepted; see :func:`read_hls_config`.

    Example:
        >>> t = target_from_hls_config({'Model': {'ReuseFactor': 4, 'Strategy': 'Resource'}})
        >>> t.default.strategy
        'resource'
    """
    infos = _check_layers(layers, model)
    config = load_hls_config(hls_config)
    settings = read_hls_config(config, infos, io_type=io_type)
    target = FPGATarget(settings.layers, settings.default, as_converted=as_converted, strict=strict)
    if infos is not None:
        warn_unmentioned(config, infos)
        for info in infos:
            target.resolve(info)  # logs RF changes and pointless strategies once, up front
    return target


__all__ = ['HLSSettings', 'HLS_CLASS', 'HWPRUNE_KEY', 'HWPRUNE_OPTIONS', 'hls_class_name', 'hwprune_option',
           'layer_settings', 'load_hls_config', 'parse_precision_bits', 'read_hls_config', 'target_from_hls_config',
           'warn_unmentioned']
