"""Accuracy vs DSPs on the jet task: hwprune and its peers from converged baselines, 3 seeds.

Protocol (the default run; docs/benchmarks.md has the results):

- Baseline: 16-64-32-32-5 (ReLU, softmax), Adam 1e-3, batch 256, trained 150 epochs from scratch
  per seed (converged: test accuracy is flat from about epoch 100; the epoch of peak validation
  accuracy is recorded). Baselines are cached in bench/results/baselines/, keyed by Keras
  generation, seed and epochs, so reruns reuse them.
- Every method starts from the same baseline (same seed) and gets the same 150 epochs of pruning
  and fine-tuning (Adam 1e-3, batch 256); dense-small trains narrower nets from scratch for
  300 epochs (baseline + fine-tuning).
- DSPs: ``hwprune.estimate(model, cfg).total['DSP']`` with cfg the hls4ml config (Vitis,
  ap_fixed<16,6>, Resource, RF r) costed as ``hwprune.convert`` emits it (Dense -> Latency: any RF
  zeros free a multiplier). Peers' kernels are copied into the plain jet model first.
- Budgets: DSP targets (RF 2: 640, 425, 320, 250, 212, 177; RF 4/8/16: the seed's factors 11.9x,
  7.9x, 5.8x and one looser point); 3 seeds; mean and spread.

Methods (``--methods``; a method missing from the running stack is skipped with a note):

  hwprune               the recommended call: HardwarePruning(cfg, budget=f, validation_data=(xv, yv)),
                        i.e. the library defaults (budget falling over 85 % of the epochs, group-lasso
                        strength measured from the gradients, importance |w_ij| x rms(x_i)^0.5 on xv x
                        ||W_next[j, :]||^0.5, how much the next layer reads the output)
  hwprune-1e-4          the old defaults ("before"): group lasso 1e-4, budget reaching f at epoch 50
  tfmot, tfmot-block    tensorflow-model-optimization prune_low_magnitude, PolynomialDecay to the sparsity
                        hwprune reached at the same target and seed (ending at 85 % of the epochs, every
                        100 steps); -block: block_size=(RF, 1), hls4ml's DSP groups (Keras 2 stack only)
  pquant-cs, pquant-pdp PQuant (pquant-ml) continuous sparsification and PDP (Keras 3 stack only)
  dense-small           narrower nets (32-16-16 ... 12-8-8) trained from scratch
  ablation              hwprune-in (importance without the output factor: |w_ij| x rms(x_i)^0.5, the previous
                        default), hwprune-l2 (importance by the weights alone, the default before importance='auto'),
                        hwprune-0.3 (group-lasso strength 0.3 x the gradients, the default before 0.18),
                        hwprune-mean (importance normalised by each layer's mean instead of its max: the
                        default before 'max'), hwprune-flat (also without the budget factor: 0.3 x the
                        gradients at every budget), hwprune-flat-end50, hwprune-1e-4-endauto, hwprune-3e-3,
                        hwprune-regrowth (and the two above): each lever alone (not in the default run;
                        all but hwprune-regrowth normalise by the mean, as the defaults did then; all
                        measure the strength at 0.3 x the gradients; every ablation but hwprune-in scores
                        the weights alone, importance='l2')

Every run's record is cached in bench/results/jet-runs/<stack>/ (``--rerun`` ignores the cache), so
an interrupted run continues and runs from the two stacks combine:

    python bench/jet.py                         # the protocol on this stack -> results/jet-<stack>.json,
                                                # then results/jet.json + jet_rf*.png from every jet-keras*.json
    python bench/jet.py --quick                 # smoke run (a minute or two)
    python bench/jet.py --methods hwprune --rf 2 --seeds 0 --out results/part.json
    python bench/jet.py --merge results/jet-keras3.json results/jet-keras2.json
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import time
from dataclasses import dataclass, field
from unittest import mock

import numpy as np

from _common import RESULTS, WIDTHS, EpochTimer, accuracy, hls_config, jet_model, keras, stack, table, write_json

import hwprune
import hwprune.keras.callback as hwprune_callback
import hwprune.importance as hwprune_importance
from hwprune.data import jet_task

N_WEIGHTS = 16 * 64 + 64 * 32 + 32 * 32 + 32 * 5
#: DSP targets per reuse factor (RF 2: 2128 DSPs unpruned; RF 4/8/16: 1064/532/266, the seed's
#: factors 11.9x, 7.9x, 5.8x are the last entries).
TARGETS = {2: [640, 425, 320, 250, 212, 177], 4: [133, 89], 8: [100, 67], 16: [67, 45]}
FEW_TARGETS = [425, 250, 177]   # hwprune-1e-4 at RF 2
ABLATION_TARGETS = [250, 177]
DENSE_WIDTHS = [(32, 16, 16), (24, 12, 12), (20, 10, 10), (16, 8, 8), (12, 8, 8)]
ALL_RFS = (2, 4, 8, 16)
#: PQuant continuous sparsification has no sparsity target: its mask penalty (threshold_decay)
#: decides where it lands. Interpolated from 150-epoch runs at seed 0 (1e-7: 1141 DSPs at RF 2, 1e-6: 1079,
#: 1e-5: 637, 1e-4: 134) to land near the RF 2 targets.
CS_DECAY = {640: 1e-5, 425: 1.8e-5, 250: 4e-5, 177: 6.5e-5}


@dataclass
class Method:
    name: str
    kind: str                      # hwprune | tfmot | pquant | dense
    options: dict = field(default_factory=dict)
    stacks: tuple = ('keras2', 'keras3')
    rfs: str = 'all'               # 'all' or 'first' (RF 2 only)
    targets: list | None = None    # at RF 2; None: TARGETS
    group: str = 'protocol'


METHODS = {m.name: m for m in [
    Method('hwprune', 'hwprune', {'regularization': 'auto', 'end': 'auto'}),
    # importance='activation' before it weighed each output by how much the next layer reads it:
    # |w_ij| x rms(x_i)^0.5 alone (the default of the previous protocol run)
    Method('hwprune-in', 'hwprune', {'regularization': 'auto', 'end': 'auto', 'output_exponent': 0.0},
           group='ablation'),
    # the defaults before importance='auto' (activation-weighted with validation data): weights alone.
    # Every ablation below pins importance='l2' too: they ran before that default.
    Method('hwprune-l2', 'hwprune', {'importance': 'l2', 'regularization': 'auto', 'end': 'auto'}, group='ablation'),
    # the ablation pins normalization='mean' (the default before 'max') and the strength ratio 0.3 (the
    # default before 0.18), so its cached runs stay what they were
    Method('hwprune-0.3', 'hwprune', {'importance': 'l2', 'regularization': 'auto', 'end': 'auto', 'ratio': 0.3}, group='ablation'),
    Method('hwprune-1e-4', 'hwprune', {'importance': 'l2', 'regularization': 1e-4, 'end': 50, 'normalization': 'mean'}, rfs='first',
           targets=FEW_TARGETS),
    Method('hwprune-mean', 'hwprune', {'importance': 'l2', 'regularization': 'auto', 'end': 'auto', 'normalization': 'mean', 'ratio': 0.3},
           group='ablation'),
    Method('hwprune-flat', 'hwprune', {'importance': 'l2', 'regularization': 'auto', 'end': 'auto', 'flat': True, 'normalization': 'mean', 'ratio': 0.3},
           group='ablation'),
    Method('tfmot', 'tfmot', {'block': False}, stacks=('keras2',)),
    Method('tfmot-block', 'tfmot', {'block': True}, stacks=('keras2',)),
    Method('pquant-cs', 'pquant', {'method': 'cs'}, stacks=('keras3',), rfs='first'),
    Method('pquant-pdp', 'pquant', {'method': 'pdp'}, stacks=('keras3',), rfs='first'),
    Method('dense-small', 'dense'),
    Method('hwprune-flat-end50', 'hwprune', {'importance': 'l2', 'regularization': 'auto', 'end': 50, 'flat': True, 'normalization': 'mean', 'ratio': 0.3},
           rfs='first', targets=ABLATION_TARGETS, group='ablation'),
    Method('hwprune-1e-4-endauto', 'hwprune', {'importance': 'l2', 'regularization': 1e-4, 'end': 'auto', 'normalization': 'mean'},
           rfs='first', targets=ABLATION_TARGETS, group='ablation'),
    Method('hwprune-3e-3', 'hwprune', {'importance': 'l2', 'regularization': 3e-3, 'end': 'auto', 'normalization': 'mean'}, rfs='first',
           targets=ABLATION_TARGETS, group='ablation'),
    Method('hwprune-regrowth', 'hwprune', {'importance': 'l2', 'regularization': 'auto', 'end': 'auto', 'regrowth': True, 'ratio': 0.3}, rfs='first',
           targets=ABLATION_TARGETS, group='ablation'),
]}
GROUPS = {'protocol': [m for m in METHODS if METHODS[m].group == 'protocol'],
          'ablation': ['hwprune-1e-4', 'hwprune-flat-end50', 'hwprune-1e-4-endauto', 'hwprune-flat', 'hwprune-3e-3',
                       'hwprune-mean', 'hwprune-regrowth', 'hwprune-0.3', 'hwprune-l2', 'hwprune-in', 'hwprune'],
          'all': list(METHODS)}


# ---------------------------------------------------------------------------------------- helpers
def kernels(model):
    return [np.asarray(layer.get_weights()[0]) for layer in model.layers if len(layer.get_weights()) == 2]


def sparsity(model) -> float:
    ks = kernels(model)
    return 1.0 - sum(np.count_nonzero(k) for k in ks) / sum(k.size for k in ks)


def alive(model) -> dict:
    """Live inputs and hidden units (a unit with a nonzero weight in and out) and nonzeros per layer."""
    ks = kernels(model)
    out = {'inputs': int(np.sum(np.any(ks[0] != 0, axis=1)))}
    out['hidden'] = [int(np.sum(np.any(ks[i] != 0, axis=0) & np.any(ks[i + 1] != 0, axis=1)))
                     for i in range(len(ks) - 1)]
    out['nnz'] = [int(np.count_nonzero(k)) for k in ks]
    return out


def costs(model, rf: int) -> dict:
    report = hwprune.estimate(model, hls_config(model, rf))
    out = {'DSP': float(report.total['DSP']), 'layers': {k: float(v['DSP']) for k, v in report.layers.items()}}
    try:  # what hwprune.convert would build: dead units stripped first (peers do not fold them)
        stripped = hwprune.strip(model)
        out['DSP_stripped'] = float(hwprune.estimate(stripped, hls_config(stripped, rf)).total['DSP'])
    except Exception as exc:  # noqa: BLE001 - informative column only
        out['DSP_stripped'] = None
        out['strip_error'] = f'{type(exc).__name__}: {exc}'
    return out


def plain_copy(weights, widths=WIDTHS):
    model = jet_model(0, widths=widths, compile=False)
    model.set_weights(weights)
    return model


# --------------------------------------------------------------------------------------- baselines
def baseline(task, seed: int, epochs: int, log=print):
    """The converged baseline of ``seed`` (trained once, cached); returns (model, info)."""
    root = os.path.join(RESULTS, 'baselines')
    os.makedirs(root, exist_ok=True)
    stem = os.path.join(root, f'{stack()}_seed{seed}_e{epochs}')
    model = jet_model(seed)
    if os.path.exists(stem + '.json') and os.path.exists(stem + '.weights.h5'):
        model.load_weights(stem + '.weights.h5')
        with open(stem + '.json') as handle:
            info = json.load(handle)
        return model, info
    log(f'training the {stack()} baseline, seed {seed}, {epochs} epochs ...')
    timer = EpochTimer()
    start = time.perf_counter()
    history = model.fit(task.x_train, task.y_train, epochs=epochs, batch_size=256, verbose=0,
                        validation_data=(task.x_val, task.y_val), callbacks=[timer]).history
    seconds = time.perf_counter() - start
    info = {'stack': stack(), 'seed': seed, 'epochs': epochs, 'accuracy': accuracy(model, task.x_test, task.y_test),
            'val_accuracy': float(history['val_accuracy'][-1]), 'seconds': seconds,
            'epoch_seconds': float(np.median(timer.seconds[1:] or timer.seconds)),
            **peaks(history), 'val_accuracy_history': [float(v) for v in history['val_accuracy']]}
    model.save_weights(stem + '.weights.h5')
    with open(stem + '.json', 'w') as handle:
        json.dump(info, handle, indent=1)
    log(f'  seed {seed}: test accuracy {info["accuracy"]:.4f}, validation accuracy peaked at epoch '
        f'{info["best_val_epoch"]}, {seconds:.0f} s')
    return model, info


def peaks(history, patience: int = 20) -> dict:
    """Epoch of peak validation accuracy, and where early stopping on val_loss (patience 20) would stop."""
    val_acc, val_loss = history['val_accuracy'], history['val_loss']
    best, best_epoch, wait, stop = np.inf, 0, 0, None
    for epoch, value in enumerate(val_loss, 1):
        if value < best - 1e-4:
            best, best_epoch, wait = value, epoch, 0
        else:
            wait += 1
            if wait >= patience and stop is None:
                stop = epoch
    return {'best_val_epoch': int(np.argmax(val_acc)) + 1, 'best_val_accuracy': float(np.max(val_acc)),
            'early_stopping': {'monitor': 'val_loss', 'patience': patience, 'best_epoch': best_epoch,
                               'stopped_at': stop}}


# ------------------------------------------------------------------------------------------ methods
def run_hwprune(base, task, rf, fraction, seed, options, args):
    model = jet_model(seed)
    model.set_weights(base.get_weights())
    cfg = hls_config(model, rf)
    end = options['end']
    if end == 'auto':
        budget = fraction                      # PolynomialBudget(final=fraction, end='auto')
    else:                                      # the old defaults: the budget reaches its end at epoch 50 of 150
        budget = hwprune.PolynomialBudget(final=fraction, end=max(1, int(round(args.epochs * end / 150))))
    kwargs = {} if options['regularization'] == 'auto' else {'regularization': options['regularization']}
    kwargs.update({k: options[k] for k in ('normalization', 'regrowth', 'importance') if k in options})
    kind = FlatStrength if options.get('flat') else hwprune.HardwarePruning
    cb = kind(cfg, budget=budget, validation_data=(task.x_val, task.y_val), verbose=0, **kwargs)
    timer = EpochTimer()
    # an ablation's strength ratio (regularization='auto' measures the strength when fit starts)
    ratio = options.get('ratio', hwprune_callback.REGULARIZATION_GRADIENT_RATIO)
    start = time.perf_counter()
    exponent = options.get('output_exponent', hwprune_importance.OUTPUT_EXPONENT)
    with mock.patch.object(hwprune_callback, 'REGULARIZATION_GRADIENT_RATIO', ratio), \
            mock.patch.object(hwprune_importance, 'OUTPUT_EXPONENT', exponent):
        model.fit(task.x_train, task.y_train, epochs=args.epochs, batch_size=256, verbose=0, callbacks=[cb, timer])
    seconds = time.perf_counter() - start
    # the strength used while the budget falls (regularization='auto': measured at the start of fit;
    # the variable itself is 0 after the budget's end, regularization_after_end=0)
    strength = getattr(cb, '_lambda', None)
    return model, seconds, timer, {'regularization_strength': None if strength is None else float(strength),
                                   'budget_factor': cb.budget_factor(),
                                   'budget_end': cb.schedule_for('DSP').end}


class FlatStrength(hwprune.HardwarePruning):
    """regularization='auto' without the budget factor: the full ratio x the gradients whatever the budget."""

    def budget_factor(self) -> float:
        return 1.0


def run_tfmot(base, task, rf, target_sparsity, seed, options, args):
    import tensorflow_model_optimization as tfmot
    model = jet_model(seed)
    model.set_weights(base.get_weights())
    steps = int(np.ceil(len(task.x_train) / 256))
    end_epoch = int(round(0.85 * args.epochs))    # as hwprune's end='auto'
    schedule = tfmot.sparsity.keras.PolynomialDecay(initial_sparsity=0.0, final_sparsity=float(target_sparsity),
                                                    begin_step=0, end_step=end_epoch * steps, frequency=100)

    def wrap(layer):
        if not isinstance(layer, keras.layers.Dense):
            return layer
        kwargs = {}
        # tfmot's block pooling fails when a block spans a whole kernel column (RF >= n_in):
        # those layers get plain magnitude pruning
        if options['block'] and layer.kernel.shape[0] > rf:
            kwargs['block_size'] = (rf, 1)
        return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule, **kwargs)

    pruned = keras.models.clone_model(model, clone_function=wrap)  # wraps the trained layers themselves
    pruned.compile(keras.optimizers.Adam(1e-3), 'sparse_categorical_crossentropy', metrics=['accuracy'])
    timer = EpochTimer()
    start = time.perf_counter()
    pruned.fit(task.x_train, task.y_train, epochs=args.epochs, batch_size=256, verbose=0,
               callbacks=[tfmot.sparsity.keras.UpdatePruningStep(), timer])
    seconds = time.perf_counter() - start
    stripped = tfmot.sparsity.keras.strip_pruning(pruned)
    return plain_copy(stripped.get_weights()), seconds, timer, {'target_sparsity': float(target_sparsity),
                                                                'end_epoch': end_epoch}


def run_pquant(base, task, rf, target, seed, options, args):
    """PQuant's own callback drives the schedule inside fit; pruning only (quantization off).

    Epochs: 85 % pruning (one round, no pretraining: the baseline is trained), 15 % fine-tuning with
    the hard mask. pdp: per-layer targets from PQuant's global magnitude threshold, ramp ending at
    the end of the pruning epochs (epsilon = 1 / pruning epochs). cs: mask penalty from CS_DECAY.
    """
    import pquant
    from pquant import add_compression_layers, cs_config, pdp_config
    from pquant.core.keras.layers import PQDense
    from pquant.core.keras.train import PQuantCallback

    main = int(round(0.85 * args.epochs))
    method = options['method']
    config = pdp_config() if method == 'pdp' else cs_config()
    config.quantization_parameters.enable_quantization = False
    tp = config.training_parameters
    tp.pretraining_epochs, tp.rounds, tp.epochs, tp.fine_tuning_epochs = 0, 1, main, args.epochs - main
    extra = {'pquant': getattr(pquant, '__version__', '?'), 'pruning_epochs': main}
    if method == 'pdp':
        s = 1.0 - target * rf / N_WEIGHTS
        config.pruning_parameters.sparsity = float(s)
        config.pruning_parameters.epsilon = 1.0 / main
        extra.update(sparsity=float(s), epsilon=1.0 / main)
    else:
        decay = CS_DECAY.get(target) if args.cs_decay is None else args.cs_decay
        if decay is None:
            raise ValueError(f'pquant-cs: no threshold_decay known for target {target}; pass --cs-decay')
        config.pruning_parameters.threshold_decay = float(decay)
        tp.rewind = args.cs_rewind
        extra.update(threshold_decay=float(decay), rewind=args.cs_rewind)

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((16,))
    h = inputs
    for i, w in enumerate(WIDTHS):
        h = keras.layers.Dense(w, activation='relu', name=f'fc{i + 1}')(h)
    functional = keras.Model(inputs, keras.layers.Dense(5, activation='softmax', name='output')(h))
    functional.set_weights(base.get_weights())
    model = add_compression_layers(functional, config)   # softmax dropped: the PQ model outputs logits
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=['accuracy'])
    cb = (_PDPGlobal if method == 'pdp' else PQuantCallback)(config, log_ebops=False, log_keep_ratio=False)
    timer = EpochTimer()
    start = time.perf_counter()
    model.fit(task.x_train, task.y_train, epochs=cb.total_epochs, batch_size=256, verbose=0, callbacks=[cb, timer])
    seconds = time.perf_counter() - start
    weights = []
    for layer in model.layers:
        if isinstance(layer, PQDense):   # after apply_final_compression: the masked kernels
            weights += [keras.ops.convert_to_numpy(layer._kernel), keras.ops.convert_to_numpy(layer._bias)]
    if method == 'pdp':
        extra['layer_sparsity'] = [float(1 - np.count_nonzero(w) / w.size) for w in weights[::2]]
    return plain_copy(weights), seconds, timer, extra


def _pquant_callback():
    from pquant.core.keras.train import PQuantCallback

    class PDPGlobal(PQuantCallback):
        """PQuant 0.1.0's pdp computes per-layer sparsities from one global magnitude threshold
        (``_pdp_setup`` sets ``pruning_layer.init_r``) but the PDP layer ramps ``_init_r``, the
        uniform config value: copy them over so the global allocation PQuant intends is used."""

        def on_train_begin(self, logs=None):
            super().on_train_begin(logs)
            for layer in self.model.layers:
                pruning = getattr(layer, 'pruning_layer', None)
                if pruning is not None and hasattr(pruning, 'init_r'):
                    pruning._init_r = float(np.asarray(pruning.init_r))

    return PDPGlobal


class _LazyPDP:
    def __call__(self, *args, **kwargs):
        return _pquant_callback()(*args, **kwargs)


_PDPGlobal = _LazyPDP()


def run_dense(task, widths, seed, args):
    model = jet_model(seed, widths=widths)
    timer = EpochTimer()
    start = time.perf_counter()
    history = model.fit(task.x_train, task.y_train, epochs=args.dense_epochs, batch_size=256, verbose=0,
                        validation_data=(task.x_val, task.y_val), callbacks=[timer]).history
    seconds = time.perf_counter() - start
    return model, seconds, timer, peaks(history)


# ------------------------------------------------------------------------------------------ running
def available(method: Method) -> tuple[bool, str]:
    if stack() not in method.stacks:
        return False, f'{method.name} runs on the {"/".join(method.stacks)} stack only (this is {stack()})'
    module = {'tfmot': 'tensorflow_model_optimization', 'pquant': 'pquant'}.get(method.kind)
    if module:
        try:
            __import__(module)
        except Exception as exc:  # noqa: BLE001 - any import failure means: skip it here
            return False, f'{method.name}: {module} does not import here ({type(exc).__name__}: {exc})'
    return True, ''


class Runner:
    def __init__(self, args):
        self.args = args
        self.task = jet_task()
        self.cache = os.path.join(RESULTS, 'jet-runs', stack())
        os.makedirs(self.cache, exist_ok=True)
        self.baselines = {}
        self.records = []

    def log(self, text):
        print(text, flush=True)

    def base(self, seed):
        if seed not in self.baselines:
            self.baselines[seed] = baseline(self.task, seed, self.args.baseline_epochs, self.log)
        return self.baselines[seed]

    def _cached(self, name, make):
        path = os.path.join(self.cache, name + '.json')
        if os.path.exists(path) and not self.args.rerun:
            with open(path) as handle:
                return json.load(handle)
        record = make()
        with open(path + '.tmp', 'w') as handle:
            json.dump(record, handle, indent=1)
        os.replace(path + '.tmp', path)
        return record

    def emit(self, record):
        self.records.append(record)
        r = record
        self.log(f"{r['stack']:>6} RF {r['rf']:>2}  {r['method']:<20} {str(r.get('target', '-')):>5}  seed {r['seed']}  "
                 f"DSP {r['DSP']:6.0f}  acc {r['accuracy']:.4f} ({r['accuracy_ratio']:.4f}x)  {r['seconds']:6.1f} s")

    def _tag(self):
        return f"b{self.args.baseline_epochs}_e{self.args.epochs}"

    def run_baselines(self, rfs, seeds):
        for seed in seeds:
            model, info = self.base(seed)
            for rf in rfs:
                c = costs(model, rf)
                self.emit({'stack': stack(), 'method': 'baseline', 'rf': rf, 'seed': seed, 'target': None,
                           'DSP': c['DSP'], 'DSP_stripped': c['DSP_stripped'], 'layers': c['layers'],
                           'accuracy': info['accuracy'], 'baseline_accuracy': info['accuracy'], 'accuracy_ratio': 1.0,
                           'sparsity': 0.0, 'seconds': info['seconds'], 'epochs': info['epochs'],
                           'best_val_epoch': info['best_val_epoch'], 'early_stopping': info['early_stopping']})

    def run_pruning(self, method: Method, rf: int, target: int, seed: int):
        base, info = self.base(seed)
        initial = float(hwprune.estimate(base, hls_config(base, rf)).total['DSP'])
        fraction = target / initial

        def make():
            if method.kind == 'hwprune':
                model, seconds, timer, extra = run_hwprune(base, self.task, rf, fraction, seed, method.options, self.args)
            elif method.kind == 'tfmot':
                target_sparsity, source = self.hwprune_sparsity(rf, target, seed)
                model, seconds, timer, extra = run_tfmot(base, self.task, rf, target_sparsity, seed, method.options,
                                                         self.args)
                extra['sparsity_from'] = source
            else:
                model, seconds, timer, extra = run_pquant(base, self.task, rf, target, seed, method.options, self.args)
            c = costs(model, rf)
            acc = accuracy(model, self.task.x_test, self.task.y_test)
            return {'stack': stack(), 'method': method.name, 'rf': rf, 'seed': seed, 'target': target,
                    'budget': fraction, 'DSP': c['DSP'], 'DSP_stripped': c['DSP_stripped'], 'layers': c['layers'],
                    'accuracy': acc, 'val_accuracy': accuracy(model, self.task.x_val, self.task.y_val),
                    'baseline_accuracy': info['accuracy'], 'accuracy_ratio': acc / info['accuracy'],
                    'sparsity': sparsity(model), 'alive': alive(model), 'seconds': seconds,
                    'epoch_seconds': float(np.median(timer.seconds)), 'epochs': self.args.epochs,
                    'baseline_epochs': self.args.baseline_epochs, **extra}

        name = f'{method.name}_rf{rf}_t{target}_s{seed}_{self._tag()}'
        if method.name == 'pquant-cs':  # where cs lands is decided by its mask penalty
            name += f"_d{self.args.cs_decay if self.args.cs_decay is not None else CS_DECAY.get(target):g}_{self.args.cs_rewind}"
        self.emit(self._cached(name, make))

    def hwprune_sparsity(self, rf, target, seed):
        """The sparsity hwprune reached at this target and seed (this stack's run first, then the other's);
        without one, the nonzeros that ``target`` DSPs hold (target x RF)."""
        name = f'hwprune_rf{rf}_t{target}_s{seed}_{self._tag()}.json'
        for st in (stack(), 'keras3', 'keras2'):
            path = os.path.join(RESULTS, 'jet-runs', st, name)
            if os.path.exists(path):
                with open(path) as handle:
                    return json.load(handle)['sparsity'], f'hwprune {st}'
        return 1.0 - target * rf / N_WEIGHTS, 'target x RF nonzeros'

    def run_dense(self, widths, seed, rfs):
        label = '-'.join(map(str, widths))

        def make():
            model, seconds, timer, extra = run_dense(self.task, widths, seed, self.args)
            return {'stack': stack(), 'method': 'dense-small', 'widths': label, 'seed': seed,
                    'accuracy': accuracy(model, self.task.x_test, self.task.y_test), 'seconds': seconds,
                    'epoch_seconds': float(np.median(timer.seconds[1:] or timer.seconds)),
                    'epochs': self.args.dense_epochs, 'costs': {str(rf): costs(model, rf) for rf in ALL_RFS}, **extra}

        record = self._cached(f'dense-small_{label}_s{seed}_e{self.args.dense_epochs}', make)
        _, info = self.base(seed)
        for rf in rfs:
            c = record['costs'][str(rf)]
            self.emit({k: v for k, v in record.items() if k != 'costs'} |
                      {'rf': rf, 'target': label, 'DSP': c['DSP'], 'DSP_stripped': c['DSP_stripped'],
                       'layers': c['layers'], 'baseline_accuracy': info['accuracy'],
                       'accuracy_ratio': record['accuracy'] / info['accuracy'], 'sparsity': 0.0})


def plan(args) -> list[tuple]:
    """(method, rf, target-or-widths, seed) in the order they run: RF 2 first, seeds inside targets."""
    jobs = []
    for i, rf in enumerate(args.rf):
        for name in args.methods:
            method = METHODS[name]
            if method.rfs == 'first' and rf != 2:
                continue
            if method.kind == 'dense':
                if i == 0:
                    jobs += [(method, None, widths, seed) for widths in args.widths for seed in args.seeds]
                continue
            if args.targets:
                targets = args.targets
            elif rf == 2 and method.targets is not None:
                targets = method.targets
            else:
                targets = TARGETS.get(rf)
                if targets is None:
                    raise SystemExit(f'no DSP targets for RF {rf}: pass --targets')
            jobs += [(method, rf, t, seed) for t in targets for seed in args.seeds]
    return jobs


# ------------------------------------------------------------------------------- summary and plots
def key(r):
    return (r['stack'], r['method'], r['rf'], str(r.get('target')), r['seed'])


def merge(files) -> dict:
    records, args = {}, []
    for path in files:
        with open(path) as handle:
            data = json.load(handle)
        for r in data['records']:
            records[key(r)] = r
        args.append({'file': path, 'args': data.get('args')})
    return {'records': sorted(records.values(), key=lambda r: (r['rf'], r['method'], r['stack'], str(r.get('target')),
                                                               r['seed'])), 'sources': args}


def aggregate(records) -> list[dict]:
    groups = {}
    for r in records:
        groups.setdefault((r['rf'], r['method'], r['stack'], str(r.get('target'))), []).append(r)
    both = {m for m in {r['method'] for r in records} if len({r['stack'] for r in records if r['method'] == m}) > 1}
    rows = []
    for (rf, method, st, target), rs in groups.items():
        acc = np.array([r['accuracy'] for r in rs])
        ratio = np.array([r['accuracy_ratio'] for r in rs])
        dsp = np.array([r['DSP'] for r in rs])
        stripped = [r.get('DSP_stripped') for r in rs]
        rows.append({'rf': rf, 'method': method, 'stack': st, 'label': f'{method} ({st})' if method in both else method,
                     'target': None if target == 'None' else target, 'seeds': sorted(r['seed'] for r in rs),
                     'DSP': float(dsp.mean()), 'DSP_sd': float(dsp.std(ddof=1)) if len(rs) > 1 else 0.0,
                     'DSP_stripped': float(np.mean(stripped)) if None not in stripped else None,
                     'accuracy': float(acc.mean()), 'accuracy_sd': float(acc.std(ddof=1)) if len(rs) > 1 else 0.0,
                     'ratio': float(ratio.mean()), 'ratio_min': float(ratio.min()),
                     'at_099': int(np.sum(ratio >= 0.99)), 'seconds': float(np.mean([r['seconds'] for r in rs])),
                     'epochs': max(r.get('epochs') or 0 for r in rs),
                     'best_val_epoch': [r.get('best_val_epoch') for r in rs] if method == 'baseline' else None})
    order = {m: i for i, m in enumerate(['baseline'] + list(METHODS))}
    rows.sort(key=lambda a: (a['rf'], order.get(a['method'], 99), a['stack'] != 'keras3', -a['DSP']))
    return rows


HEADER = ['RF', 'method', 'target', 'DSP', 'DSP sd', 'test acc', 'sd', 'x base', 'min x base', '>=0.99x', 'seeds',
          's (fit)']


def summary_table(rows) -> str:
    lines = [[a['rf'], a['label'], a['target'] or '-', round(a['DSP'], 1), round(a['DSP_sd'], 1), a['accuracy'],
              a['accuracy_sd'], a['ratio'], a['ratio_min'], f"{a['at_099']}/{len(a['seeds'])}", len(a['seeds']),
              round(a['seconds'], 1)] for a in rows]
    return table(HEADER, lines)


def fewest(rows) -> list[str]:
    out = []
    for rf in sorted({a['rf'] for a in rows}):
        base = [a for a in rows if a['rf'] == rf and a['method'] == 'baseline']
        if not base:
            continue
        initial = base[0]['DSP']
        for label in dict.fromkeys(a['label'] for a in rows if a['rf'] == rf and a['method'] != 'baseline'):
            ok = [a for a in rows if a['rf'] == rf and a['label'] == label and a['ratio'] >= 0.99]
            if ok:
                best = min(ok, key=lambda a: a['DSP'])
                out.append(f'RF {rf:>2} {label:<22} fewest DSPs at >= 0.99x baseline (mean of {len(best["seeds"])}): '
                           f'{best["DSP"]:.0f} ({initial / best["DSP"]:.1f}x fewer), {best["ratio"]:.4f}x, '
                           f'{best["at_099"]}/{len(best["seeds"])} seeds >= 0.99x')
            else:
                out.append(f'RF {rf:>2} {label:<22} never >= 0.99x baseline')
    return out


MARKERS = {'hwprune': 'o', 'hwprune-in': 'P', 'hwprune-l2': 'X', 'hwprune-0.3': 'd', 'hwprune-mean': 'p', 'hwprune-regrowth': '*', 'hwprune-1e-4': 'v', 'hwprune-flat': '8', 'hwprune-flat-end50': '<', 'tfmot': 'x', 'tfmot-block': '^', 'pquant-cs': 's', 'pquant-pdp': 'D',
           'dense-small': 'P', 'hwprune-1e-4-endauto': '>', 'hwprune-3e-3': 'h'}


def plot(rows, rf, path) -> str | None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    # the protocol's methods only: the ablation is in the tables
    pts = [a for a in rows if a['rf'] == rf and (a['method'] == 'baseline' or a['method'] not in METHODS
                                                  or METHODS[a['method']].group != 'ablation')]
    base = [a for a in pts if a['method'] == 'baseline']
    if not pts or not base:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    ref = next((a for a in base if a['stack'] == 'keras3'), base[0])
    ax.axhline(ref['accuracy'], color='0.4', lw=0.8, ls='-')
    ax.axhline(0.99 * ref['accuracy'], color='0.4', lw=0.8, ls='--')
    ax.text(0.01, 0.99 * ref['accuracy'], ' 0.99 x baseline', transform=ax.get_yaxis_transform(), ha='left',
            va='bottom', fontsize=8, color='0.3')
    for label in dict.fromkeys(a['label'] for a in pts if a['method'] != 'baseline'):
        series = sorted((a for a in pts if a['label'] == label), key=lambda a: a['DSP'])
        method = series[0]['method']
        ax.errorbar([a['DSP'] for a in series], [a['accuracy'] for a in series],
                    xerr=[a['DSP_sd'] for a in series], yerr=[a['accuracy_sd'] for a in series],
                    marker=MARKERS.get(method, 'o'), ms=5, capsize=2, lw=1.2 if method == 'hwprune' else 0.9,
                    ls='-' if method != 'dense-small' else ':', label=label)
    for a in base:
        ax.errorbar([a['DSP']], [a['accuracy']], yerr=[a['accuracy_sd']], marker='*', ms=11, color='k', capsize=2,
                    label=f'baseline ({a["stack"]}, {base[0]["seeds"].__len__()} seeds)' if len(base) > 1 else 'baseline')
    ax.set_xscale('log')
    ax.set_xlabel(f'DSPs at RF {rf} (as hwprune.convert emits; log scale)')
    ax.set_ylabel('test accuracy (mean, sd over seeds)')
    low = min(a['accuracy'] - a['accuracy_sd'] for a in pts)
    ax.set_ylim(max(low - 0.01, 0.0), ref['accuracy'] + 0.02)
    ax.grid(alpha=0.3, which='both')
    epochs = sorted({a['epochs'] for a in pts if a['method'] not in ('baseline', 'dense-small')})
    ax.set_title(f'jet task, RF {rf}: from the baseline ({"/".join(map(str, sorted({a["epochs"] for a in base})))} '
                 f'epochs), {"/".join(map(str, epochs))} epochs of pruning + fine-tuning each', fontsize=9)
    ax.legend(fontsize=7, loc='lower right')
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def dsp_sd(a) -> str:
    return f" ± {a['DSP_sd']:.0f}" if a['DSP_sd'] >= 1 else ''


def markdown(rows) -> str:
    """The summary as Markdown tables (docs/benchmarks.md is written from this)."""
    out = []
    for rf in sorted({a['rf'] for a in rows}):
        pts = [a for a in rows if a['rf'] == rf]
        base = [a for a in pts if a['method'] == 'baseline']
        out.append(f'### RF {rf}\n')
        for a in base:
            out.append(f"Baseline ({a['stack']}, seeds {a['seeds']}): {a['DSP']:.0f} DSPs, test accuracy "
                       f"{a['accuracy']:.4f} ± {a['accuracy_sd']:.4f}; validation accuracy peaked at epochs "
                       f"{a['best_val_epoch']} of {a['epochs']}.\n")
        out.append('| method | target | DSP | test accuracy (mean ± sd) | x baseline (mean, min) | seeds >= 0.99x | s (fit) |')
        out.append('|---|---|---|---|---|---|---|')
        for a in pts:
            if a['method'] == 'baseline':
                continue
            out.append(f"| {a['label']} | {a['target'] or '-'} | {a['DSP']:.0f}"
                       f"{dsp_sd(a)} | "
                       f"{a['accuracy']:.4f} ± {a['accuracy_sd']:.4f} | {a['ratio']:.3f}, {a['ratio_min']:.3f} | "
                       f"{a['at_099']}/{len(a['seeds'])} | {a['seconds']:.0f} |")
        out.append('')
    return '\n'.join(out)


#: Methods whose masks do not depend on the reuse factor (no DSP target of their own at RF > 2:
#: tfmot prunes single weights, PQuant learns single-weight masks). Their RF 2 runs are costed
#: at every other RF too, from the nonzeros per layer (``recosted``).
RF_FREE = ('tfmot', 'pquant-cs', 'pquant-pdp')


def recosted(records) -> list[dict]:
    """The RF 2 runs of :data:`RF_FREE` methods costed at RF 4, 8 and 16.

    A Dense layer converts to Latency, where the multiplier limit is ``ceil(nnz / RF)``
    (``hwprune.estimate`` counts the same way), so the same masks cost ``sum ceil(nnz_l / RF)``
    at any RF; target ``rf2-<target>`` names the run they come from."""
    out = []
    for r in records:
        if r['method'] not in RF_FREE or r['rf'] != 2 or 'alive' not in r:
            continue
        for rf in ALL_RFS[1:]:
            layers = {name: float(-(-n // rf)) for name, n in zip(r['layers'], r['alive']['nnz'])}
            out.append(r | {'rf': rf, 'target': f"rf2-{r['target']}", 'DSP': sum(layers.values()),
                            'DSP_stripped': None, 'layers': layers, 'recosted_from_rf': 2})
    return out


def report(records, out_json, png_stem, extra=None):
    records = records + recosted(records)
    rows = aggregate(records)
    print()
    print(summary_table(rows))
    print()
    for line in fewest(rows):
        print(line)
    with open(png_stem + '.md', 'w') as handle:
        handle.write(markdown(rows) + '\n' + '\n'.join(fewest(rows)) + '\n')
    pngs = [p for rf in sorted({a['rf'] for a in rows}) if (p := plot(rows, rf, f'{png_stem}_rf{rf}.png'))]
    for p in pngs:
        print(f'wrote {p}', file=sys.stderr)
    write_json('jet', {'protocol': __doc__.split('Methods')[0].strip(), 'summary': rows, 'records': records,
                       **(extra or {})}, out_json)


# ----------------------------------------------------------------------------------------------- main
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument('--methods', nargs='+', default=['protocol'],
                        help=f'method names or groups ({", ".join(GROUPS)}); default: protocol')
    parser.add_argument('--rf', type=int, nargs='+', default=list(ALL_RFS))
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--targets', type=int, nargs='+', help='DSP targets (default: per RF, see TARGETS)')
    parser.add_argument('--widths', nargs='+', help='dense-small widths, e.g. 16-8-8')
    parser.add_argument('--epochs', type=int, default=150, help='pruning + fine-tuning epochs of every method')
    parser.add_argument('--baseline-epochs', type=int, default=150)
    parser.add_argument('--dense-epochs', type=int, help='dense-small epochs (default: baseline + fine-tuning)')
    parser.add_argument('--cs-decay', type=float, help='pquant-cs threshold_decay (default: CS_DECAY per target)')
    parser.add_argument('--cs-rewind', default='never', choices=['never', 'post-training-stage'])
    parser.add_argument('--rerun', action='store_true', help='ignore cached run records')
    parser.add_argument('--quick', action='store_true', help='smoke run: RF 2, seed 0, two targets, few epochs')
    parser.add_argument('--out', help='JSON of this run (default: results/jet-<stack>.json)')
    parser.add_argument('--merge', nargs='+', metavar='JSON',
                        help='only combine these JSON files into results/jet.json and the PNGs (no training)')
    args = parser.parse_args(argv)

    if args.merge:
        merged = merge(args.merge)
        report(merged['records'], args.out or os.path.join(RESULTS, 'jet.json'),
               os.path.join(RESULTS, 'jet'), {'sources': merged['sources']})
        return

    names = []
    for m in args.methods:
        names += GROUPS.get(m, [m])
    unknown = [m for m in names if m not in METHODS]
    if unknown:
        parser.error(f'unknown methods {unknown}; known: {list(METHODS)} and groups {list(GROUPS)}')
    args.methods = list(dict.fromkeys(names))
    if args.quick:
        args.rf, args.seeds, args.epochs, args.baseline_epochs = [2], [0], 4, 4
        args.targets = args.targets or [425, 177]
        args.widths = args.widths or ['16-8-8']
    args.dense_epochs = args.dense_epochs or args.baseline_epochs + args.epochs
    args.widths = [tuple(int(v) for v in w.split('-')) for w in args.widths] if args.widths else DENSE_WIDTHS
    runnable = []
    for name in args.methods:
        ok, why = available(METHODS[name])
        if ok:
            runnable.append(name)
        else:
            print(f'note: skipping {why}', flush=True)
    args.methods = runnable
    default_out = args.out is None
    suffix = '-quick' if args.quick else ''
    out = args.out or os.path.join(RESULTS, f'jet-{stack()}{suffix}.json')

    runner = Runner(args)
    start = time.perf_counter()
    runner.run_baselines(args.rf, args.seeds)
    for method, rf, target, seed in plan(args):
        if method.kind == 'dense':
            runner.run_dense(target, seed, args.rf)
        else:
            runner.run_pruning(method, rf, target, seed)
    total = time.perf_counter() - start
    record_args = {k: (v if not isinstance(v, list) or not v or not isinstance(v[0], tuple) else
                       ['-'.join(map(str, w)) for w in v]) for k, v in vars(args).items()}
    write_json('jet', {'stack': stack(), 'args': record_args, 'wall_seconds': total, 'records': runner.records}, out)
    if default_out and not args.quick:  # combine with the other stack's default run, if there is one
        files = sorted(glob.glob(os.path.join(RESULTS, 'jet-keras[0-9].json')))
        print(f'combining {", ".join(os.path.basename(f) for f in files)}', flush=True)
        merged = merge(files)
        report(merged['records'], os.path.join(RESULTS, 'jet.json'), os.path.join(RESULTS, 'jet'),
               {'sources': merged['sources']})
    else:
        report(runner.records, os.path.splitext(out)[0] + '-summary.json', os.path.splitext(out)[0])


if __name__ == '__main__':
    main()
