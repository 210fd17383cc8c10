"""``convert``: hls4ml's Keras conversion with hwprune's stripping and exact multiplier limits.

:func:`convert` strips the Keras model (dead neurons/filters/channels physically removed by
:func:`hwprune.keras.strip.strip`, layer names kept so the hls4ml config still applies), then calls
``hls4ml.converters.convert_from_keras_model`` with hwprune's passes registered
(:mod:`hwprune.hls.passes`): strategies that honour zeros, firmware zeros counted exactly, and the
exact ``multiplier_limit`` of every Dense/Conv layer in ``firmware/parameters.h``.

Example:
    >>> import hls4ml, hwprune  # doctest: +SKIP
    >>> cfg = hls4ml.utils.config_from_keras_model(model, granularity='name')  # doctest: +SKIP
    >>> hls_model = hwprune.convert(model, cfg, output_dir='prj', backend='Vitis')  # doctest: +SKIP
    >>> hls_model.compile()  # doctest: +SKIP
    >>> y = hls_model.predict(x)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from typing import Any

from .._validation import check_bool, check_number, invalid
from . import frontends as _frontends
from . import passes as _passes
from .config import load_hls_config, read_hls_config

logger = logging.getLogger(__name__)

_SKIPPED_BY_HLS4ML = ('Dropout',)


class ConversionError(RuntimeError):
    """hls4ml could not convert the model; the message names the layer (when known) and the cause."""


def _keras_model(model):
    from ..keras import topology

    return topology.check_model(model)


def _hls4ml_layer_names(model) -> list[str]:
    """Names hls4ml gives the model's layers (split activations such as ``fc1_relu`` included).

    Raises :class:`ConversionError` naming the first layer whose class hls4ml does not support.
    """
    from ..keras.topology import KERAS3

    with _frontends.frontend_for(model):
        if KERAS3:
            return _keras3_layer_names(model)
        return _keras2_layer_names(model)


def _keras3_layer_names(model) -> list[str]:
    from hls4ml.converters.keras_v3_to_hls import parse_keras_v3_model

    try:
        layer_list, *_ = parse_keras_v3_model(model, allow_da_fallback=False)
    except ValueError as e:
        culprit = next((layer for layer in model.layers if type(layer).__name__ in str(e)), None)
        if culprit is not None and 'not found in registry' in str(e):
            raise ConversionError(f'hls4ml cannot convert layer {culprit.name!r}: its class {type(culprit).__name__!r} '
                                  'is not supported by hls4ml (Keras 3 converter).') from e
        raise ConversionError(f'hls4ml could not parse model {model.name!r}: {type(e).__name__}: {e}') from e
    except Exception as e:  # noqa: BLE001 - hls4ml raises bare exceptions; re-raised typed
        raise ConversionError(f'hls4ml could not parse model {model.name!r}: {type(e).__name__}: {e}') from e
    return [layer['name'] for layer in layer_list] + [layer.name for layer in model.layers]


def _keras2_layer_names(model) -> list[str]:
    from hls4ml.converters import get_supported_keras_layers
    from hls4ml.converters.keras_v2_to_hls import KerasModelReader, parse_keras_model

    arch = json.loads(model.to_json())
    layers = arch['config']['layers'] if isinstance(arch['config'], dict) else arch['config']
    supported = set(get_supported_keras_layers()) | set(_SKIPPED_BY_HLS4ML)
    for layer in layers:
        if layer['class_name'] not in supported:
            raise ConversionError(f"hls4ml cannot convert layer {layer['config'].get('name')!r}: its class "
                                  f"{layer['class_name']!r} is not supported by hls4ml (Keras v2 converter).")
    try:
        layer_list, *_ = parse_keras_model(arch, KerasModelReader(model))
    except Exception as e:  # noqa: BLE001 - hls4ml raises bare Exception; re-raised typed below
        raise ConversionError(f'hls4ml could not parse model {model.name!r}: {type(e).__name__}: {e}') from e
    names = [layer['name'] for layer in layer_list]
    return names + [layer.name for layer in model.layers]


def check_config_layers(model, hls_config: dict, strict: bool = False) -> list[str]:
    """Names in ``hls_config['LayerName']`` that match no layer of ``model`` (case-insensitive).

    hls4ml silently ignores such entries, which usually means the config was written for another
    model. Logs a warning naming them, or raises ValueError if ``strict``.

    Example:
        >>> check_config_layers(model, {'LayerName': {'fc9': {}}})   # doctest: +SKIP
        ['fc9']
    """
    from ..keras.registry import specs_for

    known = {name.lower() for name in _hls4ml_layer_names(model)}
    split = {(layer.name + spec.suffix).lower(): layer.name for layer in model.layers for spec in specs_for(layer)
             if spec.suffix}
    names = [name for name in (hls_config.get('LayerName') or {}) if str(name).lower() not in known]
    for name in [n for n in names if str(n).lower() in split]:
        logger.warning("hls_config['LayerName'][%r] configures a layer hls4ml makes by splitting %r; hls4ml copies the "
                       "entry of %r over it, whose keys win (its Precision 'depthwise'/'pointwise' set the kernels' "
                       'types); keys only this entry sets still apply.', name, split[str(name).lower()],
                       split[str(name).lower()])
    unknown = [name for name in names if str(name).lower() not in split]
    if unknown:
        if strict:
            raise invalid("hls_config['LayerName']", unknown, f'names of layers of model {model.name!r} (is the config '
                          'for another model?)')
        logger.warning("hls_config['LayerName'] names layers that model %r does not have: %s. hls4ml ignores them; "
                       'is the config for another model?', model.name, ', '.join(repr(n) for n in unknown))
    return unknown


def _note_unprunable(model) -> None:
    from ..keras.registry import is_prunable

    for layer in model.layers:
        if not is_prunable(layer) and layer.weights and type(layer).__name__ not in ('BatchNormalization',
                                                                                         'QBatchNormalization'):
            logger.info('Layer %r (%s): hwprune has no layout for it; it is passed to hls4ml untouched.', layer.name,
                        type(layer).__name__)


def _warn_auto_logits(model, config) -> None:
    """hls4ml widens 'auto' result types layer by layer; logits that wide break its stable softmax."""
    uses_softmax = any('softmax' in str(getattr(layer, 'activation', '')).lower() or
                       type(layer).__name__ == 'Softmax' for layer in model.layers)
    autos = [name for name, entry in (config.get('LayerName') or {}).items()
             if isinstance(entry, dict) and isinstance(entry.get('Precision'), dict)
             and entry['Precision'].get('result') == 'auto' and 'softmax' not in str(name).lower()]
    if uses_softmax and autos:
        logger.warning("hls_config gives %d layers an 'auto' result precision and the model has a softmax: hls4ml 1.3 "
                       'widens such types layer by layer and its stable softmax can then output the same value for '
                       'every class. hwprune.hls.pin_auto_precisions(cfg) pins them to the model precision.', len(autos))


def convert(model, hls_config, *, strip_model: bool = True, atol: float = 0.0, strict: bool = False,
            **hls4ml_kwargs: Any):
    """Convert a (pruned) Keras/QKeras model with hls4ml: stripped, zero-honouring, exact limits.

    Args:
        model: a built Keras model (Sequential or functional, Keras, QKeras or HGQ2 layers). Never
            modified.
        hls_config: the hls4ml config (``hls4ml.utils.config_from_keras_model``), a full hls4ml
            project config, or a YAML path. Never modified (hwprune works on a deep copy).
        strip_model: remove dead neurons/filters/channels first (:func:`hwprune.keras.strip.strip`).
        atol: weights with ``|w| <= atol`` count as zero when stripping.
        strict: raise instead of warning when ``hls_config['LayerName']`` names layers the model
            does not have.
        **hls4ml_kwargs: hls4ml's own arguments (``output_dir``, ``project_name``, ``backend``,
            ``part``, ``io_type``, ``clock_period``, ...). ``io_type`` and ``backend`` default to
            the config's ``IOType``/``Backend`` when it has them.

    Returns:
        the hls4ml ``ModelGraph``; each Dense/Conv node carries ``hwprune_multiplier_limit`` (the
        limit written to ``firmware/parameters.h``) and ``hwprune_strategy``.

    Raises:
        ConversionError: hls4ml cannot convert the model (the message names the layer and cause).
        ValueError: an invalid hls4ml config (unknown strategy, reuse factor < 1, unparsable
            precision), or with ``strict``, a config for another model.

    Example:
        >>> hls_model = hwprune.convert(model, cfg, output_dir='prj', io_type='io_stream')  # doctest: +SKIP
        >>> hls_model.graph['fc1'].get_attr('hwprune_multiplier_limit')  # doctest: +SKIP
        12
    """
    import hls4ml

    _keras_model(model)
    atol = check_number('atol', atol, minimum=0.0)
    strip_model = check_bool('strip_model', strip_model)
    strict = check_bool('strict', strict)
    config = load_hls_config({} if hls_config is None else hls_config)
    kwargs = dict(hls4ml_kwargs)
    for key in ('hls_config', 'model'):
        if key in kwargs:
            raise invalid(key, kwargs[key], f'no {key!r} keyword (pass it positionally)', TypeError)
    config_io_type, config_backend = config.pop('IOType', None), config.pop('Backend', None)
    io_type = kwargs.setdefault('io_type', config_io_type or 'io_parallel')
    backend = kwargs.setdefault('backend', config_backend or 'Vivado')

    _check_output_dir(kwargs.get('output_dir', 'my-hls-test'))
    check_config_layers(model, config, strict=strict)
    from ..keras.layers import describe_layers

    read_hls_config(config, describe_layers(model), io_type=io_type)  # validates strategies, RFs, precisions
    _warn_auto_logits(model, config)
    _note_unprunable(model)

    try:
        backend_obj = hls4ml.backends.get_backend(backend)
    except KeyError:
        raise invalid('backend', backend, 'an hls4ml backend: ' + ', '.join(hls4ml.backends.get_available_backends())
                      ) from None
    if not isinstance(backend_obj, hls4ml.backends.VivadoBackend):
        logger.warning('Backend %r is not Vivado/Vitis: hwprune strips the model but its passes do not apply.',
                       backend)
    _passes.enable_passes(config)
    for name in _passes.PASS_NAMES:
        if not _passes.pass_selected(config, name):
            logger.info('hwprune pass %r is deselected by the hls config.', name)

    if strip_model:
        from ..keras.strip import strip

        converted = strip(model, atol=atol)
    else:
        converted = model
    token = _passes.KERAS_STRIPPED.set(bool(strip_model))
    try:
        with _frontends.frontend_for(converted):
            hls_model = hls4ml.converters.convert_from_keras_model(converted, hls_config=config, **kwargs)
    except Exception as e:  # noqa: BLE001 - hls4ml raises bare Exception; re-raised typed
        raise ConversionError(_describe(model, config, e)) from e
    finally:
        _passes.KERAS_STRIPPED.reset(token)
    _log_summary(hls_model)
    return hls_model


def _check_output_dir(output_dir) -> None:
    """hls4ml writes the project when the model is compiled; a path it cannot write fails there with a
    raw OSError, so check it now."""
    try:
        path = os.fspath(output_dir)
    except TypeError:
        raise invalid('output_dir', output_dir, 'a directory path', TypeError) from None
    if os.path.exists(path) and not os.path.isdir(path):
        raise invalid('output_dir', path, 'a directory path (it names a file)')
    try:
        os.makedirs(path, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path, prefix='.hwprune-write-check-')
        probe.close()
    except OSError as e:
        raise invalid('output_dir', path, f'a directory hls4ml can write the project to ({e.strerror or e})') from None


def _config_strings(entry):
    if isinstance(entry, dict):
        for value in entry.values():
            yield from _config_strings(value)
    elif isinstance(entry, (list, tuple)):
        for value in entry:
            yield from _config_strings(value)
    elif isinstance(entry, str) and len(entry) > 2:
        yield entry


def _describe(model, hls_config: dict, error: Exception) -> str:
    """hls4ml's error with the layer it concerns: a layer named in the message, else the
    ``LayerName`` entry holding a value the message quotes (e.g. an unparsable precision)."""
    text = str(error)
    culprit = next((layer.name for layer in model.layers
                    if any(f'{q}{layer.name}{q}' in text for q in ("'", '"'))
                    or f' {layer.name} ' in f' {text} '), None)
    if culprit is None:  # a distinctive config value (a type such as 'bogus<3>', or a quoted one)
        culprit = next((name for name, entry in (hls_config.get('LayerName') or {}).items()
                        if any(('<' in value and value in text) or f"'{value}'" in text
                               for value in _config_strings(entry))), None)
    where = f' at layer {culprit!r}' if culprit else ''
    return f'hls4ml could not convert model {model.name!r}{where}: {type(error).__name__}: {text}'


def _log_summary(hls_model) -> None:
    for node in hls_model.graph.values():
        if _passes.node_kind(node) is None:
            continue
        logger.info('Layer %r: strategy %s, ReuseFactor %s, multiplier_limit %s.', node.name,
                    node.get_attr('strategy'), node.get_attr('reuse_factor'), node.get_attr(_passes.LIMIT_ATTR))


__all__ = ['ConversionError', 'check_config_layers', 'convert']
