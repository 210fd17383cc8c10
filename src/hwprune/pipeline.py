"""The train -> prune -> strip -> convert -> report job, driven by a dict or a YAML file.

``hwprune demo`` runs :data:`DEFAULT_JOB`; ``hwprune run job.yaml`` runs yours. Every key is
optional; missing keys take the defaults below.

Example job (YAML)::

    data: {source: synthetic, n_samples: 60000}     # or {source: csv, path: jets.csv}
    model: {layers: [64, 32, 32], activation: relu}  # or {path: my_model.keras}
    training: {epochs: 80, batch_size: 256, learning_rate: 0.001, seed: 0}
    hls: {reuse_factor: 2, strategy: Resource, precision: 'ap_fixed<16,6>', backend: Vitis,
          io_type: io_parallel, config: null}        # config: path to your own hls4ml YAML
    pruning: {resources: [DSP], final: 0.12, begin: 0, end: auto, epochs: 80,
              regularization: auto, monitor: null, tolerance: 0.01}
    output_dir: hwprune_demo
    compile: true                                     # build the C simulation (needs g++)
    plots: true                                       # PNG pictures beside summary.json (needs matplotlib)

With ``plots`` (the default) the job writes, beside ``summary.json``: ``resources.png`` (per-layer
use before and after, :func:`hwprune.plots.layer_resources`), ``budget.png`` (use and budget per
epoch, :func:`hwprune.plots.budget_history`) and ``mask_<layer>.png`` (the largest layer's
surviving groups, :func:`hwprune.keras.model_mask_map`); their paths are in ``summary['plots']``.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import time
from typing import Any, Mapping

import numpy as np

from ._validation import invalid

logger = logging.getLogger(__name__)

DEFAULT_JOB: dict[str, Any] = {
    'data': {'source': 'synthetic', 'n_samples': 60000, 'path': None},
    'model': {'path': None, 'layers': [64, 32, 32], 'activation': 'relu'},
    'training': {'epochs': 80, 'batch_size': 256, 'learning_rate': 1e-3, 'seed': 0},
    'hls': {'config': None, 'reuse_factor': 2, 'strategy': 'Resource', 'precision': 'ap_fixed<16,6>',
            'backend': 'Vitis', 'io_type': 'io_parallel', 'part': 'xcvu13p-flga2577-2-e'},
    # the library's defaults: a budget falling to `final` over 85 % of the epochs ('auto'), group
    # lasso scaled to the gradients on the validation data ('auto'), weights scored with their inputs'
    # RMS on the validation data and how much the next layer reads their outputs ('auto': 'activation')
    'pruning': {'resources': ['DSP'], 'final': 0.12, 'begin': 0, 'end': 'auto', 'epochs': 80, 'power': 3,
                'regularization': 'auto', 'importance': 'auto', 'monitor': None, 'tolerance': 0.01},
    'output_dir': 'hwprune_demo',
    'compile': True,
    'plots': True,
}


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _string_or_none(value) -> bool:
    return value is None or isinstance(value, str)


#: Keys whose values are not of the default's type: what they accept, and how that reads.
_EITHER = {('pruning', 'final'): (lambda v: isinstance(v, Mapping) or _number(v),
                                  'a fraction or a dict {resource: fraction}'),
           ('pruning', 'end'): (lambda v: v == 'auto' or (isinstance(v, int) and not isinstance(v, bool)),
                                "an epoch number or 'auto'"),
           ('pruning', 'regularization'): (lambda v: v == 'auto' or _number(v), "a number >= 0 or 'auto'"),
           ('pruning', 'monitor'): (_string_or_none, 'a metric name or null'),
           ('model', 'path'): (_string_or_none, 'a path or null'),
           ('data', 'path'): (_string_or_none, 'a path or null'),
           ('hls', 'config'): (_string_or_none, 'a path or null')}


#: Integer keys with a lower bound.
_MINIMUM = {('training', 'epochs'): 0, ('training', 'batch_size'): 1, ('pruning', 'epochs'): 1,
            ('pruning', 'begin'): 0}


def _check_value(where: tuple, value, default):
    """A job value of the default's type (ints for ints, numbers for floats...), named when it is not."""
    name = 'job' + ''.join(f'[{k!r}]' for k in where)
    if where in _EITHER:
        accepts, expected = _EITHER[where]
        if not accepts(value):
            raise invalid(name, value, expected)
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise invalid(name, value, 'true or false')
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid(name, value, 'an integer')
        if where in _MINIMUM and value < _MINIMUM[where]:
            raise invalid(name, value, f'an integer >= {_MINIMUM[where]}')
    elif isinstance(default, float):
        if not _number(value):
            raise invalid(name, value, 'a number')
    elif isinstance(default, str):
        if not isinstance(value, str):
            raise invalid(name, value, 'a string')
    elif isinstance(default, list):
        if not isinstance(value, (list, tuple)) or not value:
            raise invalid(name, value, 'a non-empty list')
    return value


def merge_job(job: Mapping[str, Any] | None) -> dict[str, Any]:
    """Defaults overlaid with ``job`` (one level deep); unknown keys and values of the wrong type
    are errors that name the key."""
    merged = copy.deepcopy(DEFAULT_JOB)
    if job is not None and not isinstance(job, Mapping):
        raise invalid('job', job, 'a mapping of job sections')
    for key, value in (job or {}).items():
        if key not in merged:
            raise invalid('job', key, 'keys among ' + ', '.join(merged))
        if isinstance(merged[key], dict):
            if not isinstance(value, Mapping):
                raise invalid(f'job[{key!r}]', value, 'a mapping')
            unknown = set(value) - set(merged[key])
            if unknown:
                raise invalid(f'job[{key!r}]', sorted(unknown), 'keys among ' + ', '.join(merged[key]))
            for sub, item in value.items():
                merged[key][sub] = _check_value((key, sub), item, DEFAULT_JOB[key][sub])
        else:
            merged[key] = _check_value((key,), value, DEFAULT_JOB[key])
    return merged


def load_job(path: str) -> dict[str, Any]:
    """Read a YAML job file and merge it with the defaults."""
    import yaml

    from .targets.hls_config import yaml_problem
    if not os.path.isfile(path):
        raise invalid('job', path, 'the path of an existing YAML job file', FileNotFoundError)
    with open(path) as handle:
        try:
            job = yaml.safe_load(handle) or {}
        except yaml.YAMLError as e:
            raise invalid('job', path, f'a readable YAML file ({yaml_problem(e)})') from None
    if not isinstance(job, Mapping):
        raise invalid('job', path, 'a YAML mapping')
    return merge_job(job)


def _build_model(spec, n_features, n_classes, learning_rate):
    from .keras.topology import keras
    if spec.get('path'):
        model = load_model(spec['path'])
    else:
        layers = [keras.layers.Input((n_features,), name='features')]
        for i, width in enumerate(spec['layers']):
            layers.append(keras.layers.Dense(int(width), activation=spec['activation'], name=f'fc{i + 1}'))
        layers.append(keras.layers.Dense(n_classes, activation='softmax', name='output'))
        model = keras.Sequential(layers, name='jet_tagger')
    model.compile(keras.optimizers.Adam(learning_rate), 'sparse_categorical_crossentropy', metrics=['accuracy'])
    return model


def load_model(path: str):
    """A saved Keras model (``.keras``/``.h5``), with QKeras or HGQ2 layers when those are installed."""
    from .keras.topology import keras
    if not os.path.exists(path):
        raise invalid('model', path, 'the path of a saved Keras model', FileNotFoundError)
    custom: dict = {}
    try:
        from .keras.quantized import REAL_QKERAS
        if REAL_QKERAS:
            from qkeras.utils import _add_supported_quantized_objects
            _add_supported_quantized_objects(custom)
        else:
            import importlib.util
            if importlib.util.find_spec('hgq') is not None:
                import hgq  # noqa: F401 - registers HGQ2's layers for deserialisation
    except ImportError:  # optional quantization libraries
        pass
    try:
        return keras.models.load_model(path, custom_objects=custom, compile=False)
    except (OSError, ValueError, TypeError) as e:
        raise invalid('model', path, f'a Keras model file this Keras can load ({type(e).__name__}: '
                      f'{str(e).splitlines()[0] if str(e) else e})') from None


def _hls_config(model, hls):
    import hls4ml
    if hls.get('config'):
        from .targets.hls_config import load_hls_config
        return load_hls_config(hls['config'])
    cfg = hls4ml.utils.config_from_keras_model(model, granularity='name', backend=hls['backend'],
                                               default_precision=hls['precision'],
                                               default_reuse_factor=int(hls['reuse_factor']))
    cfg['Model']['Strategy'] = hls['strategy']
    for layer in cfg.get('LayerName', {}).values():
        layer['Strategy'] = hls['strategy']
        layer['ReuseFactor'] = int(hls['reuse_factor'])
    # hls4ml's widened 'auto' logits break its stable softmax in C simulation
    from .hls.config import pin_auto_precisions
    return pin_auto_precisions(cfg, hls['precision'])


def run_job(job: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Run a job (see the module docstring); returns a JSON-native summary and writes it to
    ``<output_dir>/summary.json``. Progress goes to the ``hwprune`` logger."""
    job = merge_job(job)
    from . import PolynomialBudget
    from .data import jet_task
    from .keras import HardwarePruning, estimate
    from .keras.topology import keras
    out_dir = os.path.abspath(job['output_dir'])
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise invalid("job['output_dir']", job['output_dir'], 'a directory path (it names a file)')
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise invalid("job['output_dir']", job['output_dir'], f'a directory it can write ({e.strerror or e})') from None
    d, t, h, p = job['data'], job['training'], job['hls'], job['pruning']
    timings = {}

    task = jet_task(n_samples=int(d['n_samples']), source=d['source'], path=d['path'])
    keras.utils.set_random_seed(int(t['seed']))
    model = _build_model(job['model'], task.x_train.shape[1], task.n_classes, float(t['learning_rate']))
    start = time.time()
    if not job['model'].get('path') and int(t['epochs']) > 0:
        logger.info('Training the baseline for %d epochs...', t['epochs'])
        model.fit(task.x_train, task.y_train, epochs=int(t['epochs']), batch_size=int(t['batch_size']),
                  validation_data=(task.x_val, task.y_val), verbose=0)
    timings['train'] = time.time() - start
    baseline_accuracy = float(model.evaluate(task.x_test, task.y_test, verbose=0, return_dict=True)['accuracy'])
    cfg = _hls_config(model, h)
    before = estimate(model, cfg, as_converted=False)  # what plain hls4ml would build from the baseline

    def schedule(final):
        end = p['end'] if p['end'] == 'auto' else int(p['end'])
        return PolynomialBudget(final=float(final), begin=int(p['begin']), end=end, power=float(p['power']))

    # one final fraction for every resource, or {resource: fraction}
    budget = ({r: schedule(f) for r, f in p['final'].items()} if isinstance(p['final'], Mapping)
              else schedule(p['final']))
    # the job always prunes from epoch 0: a state left in the output directory by an earlier run is
    # of another run (the callback would resume its masks), so this run starts without it
    state_path = os.path.join(out_dir, 'pruning_state.npz')
    if os.path.exists(state_path):
        logger.info('Removing the pruning state of an earlier run: %s', state_path)
        os.remove(state_path)
    pruning = HardwarePruning(cfg, resources=list(p['resources']), budget=budget, importance=p['importance'],
                              regularization=p['regularization'] if p['regularization'] == 'auto'
                              else float(p['regularization']), monitor=p['monitor'],
                              tolerance=float(p['tolerance']), validation_data=(task.x_val, task.y_val),
                              state_path=state_path)
    logger.info('Pruning to %s of the initial %s over %d epochs...', p['final'], '+'.join(p['resources']), p['epochs'])
    start = time.time()
    fit_history = model.fit(task.x_train, task.y_train, epochs=int(p['epochs']), batch_size=int(t['batch_size']),
                            validation_data=(task.x_val, task.y_val), callbacks=[pruning], verbose=0)
    timings['prune'] = time.time() - start
    after = estimate(model, cfg)
    pruned_accuracy = float(model.evaluate(task.x_test, task.y_test, verbose=0, return_dict=True)['accuracy'])
    model.save(os.path.join(out_dir, 'pruned_model.keras'))

    summary: dict[str, Any] = {
        'baseline_accuracy': baseline_accuracy, 'pruned_accuracy': pruned_accuracy,
        'resources_before': before.total, 'resources_after': after.total,
        'report_before': before.to_dict(), 'report_after': after.to_dict(), 'seconds': timings,
        'output_dir': out_dir,
    }
    if job['plots']:
        summary['plots'] = write_plots(out_dir, before, after, pruning, fit_history, model, cfg)
    from .hls.convert import convert
    from .keras.strip import strip
    stripped = strip(model)
    summary['stripped_layers'] = {l.name: int(l.kernel.shape[-1]) for l in stripped.layers if hasattr(l, 'kernel')}
    hls_dir = os.path.join(out_dir, 'hls_project')
    start = time.time()
    hls_model = convert(model, cfg, output_dir=hls_dir, backend=h['backend'], io_type=h['io_type'], part=h['part'])
    timings['convert'] = time.time() - start
    summary['hls_project'] = hls_dir
    if job['compile']:
        start = time.time()
        hls_model.compile()
        timings['compile'] = time.time() - start
        x_test = np.ascontiguousarray(task.x_test)
        hls_pred = np.asarray(hls_model.predict(x_test)).reshape(len(x_test), -1)
        keras_pred = model.predict(x_test, verbose=0)
        summary['csim_accuracy'] = float(np.mean(np.argmax(hls_pred, axis=1) == task.y_test))
        summary['csim_keras_agreement'] = float(np.mean(np.argmax(hls_pred, axis=1) == np.argmax(keras_pred, axis=1)))
    with open(os.path.join(out_dir, 'summary.json'), 'w') as handle:
        json.dump(summary, handle, indent=2)
    summary['report_before_obj'], summary['report_after_obj'] = before, after
    return summary


def write_plots(out_dir: str, before, after, pruning=None, fit_history=None, model=None, hls_config=None) -> dict:
    """The job's pictures as PNG files in ``out_dir``; returns ``{name: path}`` (empty, with a
    warning, when matplotlib is not installed)."""
    try:
        from . import plots
        import matplotlib  # noqa: F401
    except ImportError:
        logger.warning('matplotlib is not installed: no pictures (pip install matplotlib, or run with plots: false).')
        return {}
    paths = {'resources': os.path.join(out_dir, 'resources.png')}
    plots.layer_resources(after, before, path=paths['resources'])
    if pruning is not None and (pruning.history or fit_history is not None):
        paths['budget'] = os.path.join(out_dir, 'budget.png')
        plots.budget_history(pruning, fit_history, path=paths['budget'])
    if model is not None and hls_config is not None and before.layers:
        largest = max(before.layers, key=lambda name: before.layers[name].get('params', 0.0))
        paths['mask'] = os.path.join(out_dir, f'mask_{largest}.png')
        from .keras.pictures import model_mask_map

        model_mask_map(model, hls_config, largest, path=paths['mask'])
    return paths


def format_summary(summary: Mapping[str, Any]) -> str:
    """Human-readable text of a :func:`run_job` summary."""
    lines = ['Resources (estimate): baseline as plain hls4ml builds it -> pruned as hwprune.convert emits it',
             summary['report_after_obj'].compare(summary['report_before_obj']), '',
             f"Test accuracy   baseline Keras: {summary['baseline_accuracy']:.4f}",
             f"                pruned Keras:   {summary['pruned_accuracy']:.4f}"]
    if 'csim_accuracy' in summary:
        lines.append(f"                pruned C simulation (hls4ml): {summary['csim_accuracy']:.4f} "
                     f"(agrees with Keras on {100 * summary['csim_keras_agreement']:.2f}% of samples)")
    lines.append('Layer widths after strip: ' + ', '.join(f'{k}={v}' for k, v in summary['stripped_layers'].items()))
    lines.append('Seconds: ' + ', '.join(f'{k} {v:.1f}' for k, v in summary['seconds'].items()))
    lines.append(f"HLS project: {summary['hls_project']}")
    if summary.get('plots'):
        lines.append('Pictures: ' + ', '.join(summary['plots'].values()))
    lines.append(f"Summary JSON: {os.path.join(summary['output_dir'], 'summary.json')}")
    return '\n'.join(lines)


__all__ = ['DEFAULT_JOB', 'format_summary', 'load_job', 'load_model', 'merge_job', 'run_job', 'write_plots']
