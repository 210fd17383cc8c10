"""hwprune vs tfmot magnitude pruning vs the baseline on the fixed jet task, per reuse factor.

From one trained baseline (16-64-32-32-5, 30 epochs, Adam 1e-3, batch 256), every method prunes
and fine-tunes with the same epochs; the budget sweep draws the accuracy-vs-DSP frontier.

Methods:
  hwprune                    HardwarePruning, DSP budget, hls4ml config (RF r, Resource, ap_fixed<16,6>)
                             as hwprune.convert emits it: Dense -> Latency, any RF zeros free a multiplier
  hwprune-unrolled           the same with the strategy pinned to resource_unrolled: a multiplier is freed
                             only with all its RF weights (DSP groups), weights in a BRAM ROM
  hwprune-unrolled-DSP+BRAM  resource_unrolled with DSP and BRAM budgets
  tfmot                      prune_low_magnitude, PolynomialDecay to the sparsity `hwprune` reached
  tfmot-block                the same with block_size=(RF, 1): blocks aligned to hls4ml's DSP groups

Every model is costed both ways: DSP as converted (Latency) and DSP/BRAM under resource_unrolled.

    python bench/jet.py [--quick] [--rf 2 4 8 16] [--fractions 0.6 0.4 0.27 0.18] [--out ...]
"""

from __future__ import annotations

import argparse
import copy
import os
import time

import numpy as np

from _common import RESULTS, accuracy, hls_config, jet_model, keras, table, write_json

import hwprune
from hwprune.data import jet_task


def unrolled_config(cfg):
    cfg = copy.deepcopy(cfg)
    for layer in cfg['LayerName'].values():
        layer['Strategy'] = 'resource_unrolled'
        layer['hwprune'] = {'pin_strategy': True}
    return cfg


def cost(model, cfg, unrolled: bool):
    report = hwprune.estimate(model, unrolled_config(cfg) if unrolled else cfg)
    return report.total['DSP'], report.total['BRAM']


def sparsity(model) -> float:
    kernels = [l.kernel.numpy() for l in model.layers if hasattr(l, 'kernel')]
    return 1.0 - sum(np.count_nonzero(k) for k in kernels) / sum(k.size for k in kernels)


def run_hwprune(base_weights, task, rf, fraction, resources, args, unrolled=False):
    model = jet_model()
    model.set_weights(base_weights)
    cfg = hls_config(model, rf)
    prune_cfg = unrolled_config(cfg) if unrolled else cfg
    if args.update == 'step':  # every 100 optimizer steps, as tfmot prunes below
        steps = int(np.ceil(len(task.x_train) / 256))
        budget = hwprune.PolynomialBudget(final=fraction, begin=0, end=args.end * steps, frequency=100)
    else:
        budget = hwprune.PolynomialBudget(final=fraction, begin=0, end=args.end)
    cb = hwprune.HardwarePruning(prune_cfg, resources=resources, budget=budget, update=args.update,
                                 regularization=args.regularization, verbose=0)
    start = time.perf_counter()
    model.fit(task.x_train, task.y_train, epochs=args.epochs, batch_size=256, verbose=0, callbacks=[cb])
    return model, cfg, time.perf_counter() - start


def run_tfmot(base_weights, task, rf, target_sparsity, block, args):
    import tensorflow_model_optimization as tfmot
    model = jet_model()
    model.set_weights(base_weights)
    steps = int(np.ceil(len(task.x_train) / 256))
    schedule = tfmot.sparsity.keras.PolynomialDecay(initial_sparsity=0.0, final_sparsity=float(target_sparsity),
                                                    begin_step=0, end_step=args.end * steps, frequency=100)

    def wrap(layer):
        if not isinstance(layer, keras.layers.Dense):
            return layer
        kwargs = {}
        # tfmot's block pooling fails when a block spans a whole kernel column (RF >= n_in):
        # those layers get plain magnitude pruning
        if block and layer.kernel.shape[0] > rf:
            kwargs['block_size'] = (rf, 1)
        return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule, **kwargs)

    pruned = keras.models.clone_model(model, clone_function=wrap)  # wraps the trained layers themselves
    pruned.compile(keras.optimizers.Adam(1e-3), 'sparse_categorical_crossentropy', metrics=['accuracy'])
    start = time.perf_counter()
    pruned.fit(task.x_train, task.y_train, epochs=args.epochs, batch_size=256, verbose=0,
               callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    seconds = time.perf_counter() - start
    return tfmot.sparsity.keras.strip_pruning(pruned), seconds


HEADER = ['RF', 'method', 'budget', 'test acc', 'acc/base', 'DSP (converted)', 'DSP (unrolled)', 'BRAM (unrolled)',
          'sparsity', 'seconds']


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rf', type=int, nargs='+', default=[2, 4, 8, 16])
    parser.add_argument('--fractions', type=float, nargs='+', default=[0.6, 0.4, 0.27, 0.18],
                        help='DSP budgets swept at the first RF (the others get --point)')
    parser.add_argument('--point', type=float, default=0.27, help='budget used at the other RFs')
    parser.add_argument('--epochs', type=int, default=50, help='pruning + fine-tuning epochs')
    parser.add_argument('--end', type=int, default=20, help='epoch at which the budget reaches its final value')
    parser.add_argument('--baseline-epochs', type=int, default=30)
    parser.add_argument('--regularization', type=float, default=1e-3,
                        help='group-lasso strength (1e-3 measured best on this task: 0.933 vs 0.903 with 0 at ~595 DSPs)')
    parser.add_argument('--update', choices=['epoch', 'step'], default='epoch')
    parser.add_argument('--quick', action='store_true', help='RF 2, two budgets, few epochs (smoke run)')
    parser.add_argument('--out', default=os.path.join(RESULTS, 'jet.json'))
    args = parser.parse_args(argv)
    if args.quick:
        args.rf, args.fractions, args.epochs, args.end, args.baseline_epochs = [2], [0.4, 0.27], 6, 3, 5
    task = jet_task()

    base = jet_model()
    start = time.perf_counter()
    base.fit(task.x_train, task.y_train, epochs=args.baseline_epochs, batch_size=256, verbose=0)
    baseline_seconds = time.perf_counter() - start
    base_weights = base.get_weights()
    base_acc = accuracy(base, task.x_test, task.y_test)
    rows, records = [], []

    def record(rf, method, fraction, model, cfg, seconds):
        dsp, bram = cost(model, cfg, unrolled=False)
        dsp_u, bram_u = cost(model, cfg, unrolled=True)
        acc = accuracy(model, task.x_test, task.y_test)
        rec = {'rf': rf, 'method': method, 'budget': fraction, 'accuracy': acc, 'accuracy_ratio': acc / base_acc,
               'DSP': dsp, 'BRAM': bram, 'DSP_unrolled': dsp_u, 'BRAM_unrolled': bram_u,
               'sparsity': sparsity(model), 'seconds': seconds}
        records.append(rec)
        rows.append([rf, method, fraction if fraction is not None else '-', acc, acc / base_acc, dsp, dsp_u, bram_u,
                     rec['sparsity'], seconds])
        print(table(HEADER, rows[-1:]).splitlines()[-1], flush=True)

    for i, rf in enumerate(args.rf):
        cfg = hls_config(base, rf)
        record(rf, 'baseline', None, base, cfg, baseline_seconds)
        for fraction in (args.fractions if i == 0 else [args.point]):
            model, cfg, seconds = run_hwprune(base_weights, task, rf, fraction, ['DSP'], args)
            record(rf, 'hwprune', fraction, model, cfg, seconds)
            target = sparsity(model)
            for method, resources in (('hwprune-unrolled', ['DSP']), ('hwprune-unrolled-DSP+BRAM', ['DSP', 'BRAM'])):
                model2, _, seconds2 = run_hwprune(base_weights, task, rf, fraction, resources, args, unrolled=True)
                record(rf, method, fraction, model2, cfg, seconds2)
            for block in (False, True):
                tf_model, tf_seconds = run_tfmot(base_weights, task, rf, target, block, args)
                record(rf, 'tfmot-block' if block else 'tfmot', fraction, tf_model, cfg, tf_seconds)

    print()
    print(table(HEADER, rows))
    _plot(records, args.rf[0], os.path.splitext(args.out)[0] + '.png')
    write_json('jet', {'baseline_accuracy': base_acc, 'records': records, 'args': vars(args)}, args.out)


def _plot(records, rf, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, key, title in ((axes[0], 'DSP', 'as hwprune.convert emits (Latency for Dense)'),
                           (axes[1], 'DSP_unrolled', 'resource_unrolled (DSP freed with all RF weights)')):
        for method, marker in (('hwprune', 'o'), ('hwprune-unrolled', 'D'), ('hwprune-unrolled-DSP+BRAM', 's'),
                               ('tfmot', 'x'), ('tfmot-block', '^'), ('baseline', '*')):
            pts = sorted((r[key], r['accuracy']) for r in records if r['rf'] == rf and r['method'] == method)
            if pts:
                ax.plot(*zip(*pts), marker=marker, label=method)
        ax.set_xlabel(f'DSP at RF {rf}')
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel('test accuracy')
    axes[0].legend()
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)


if __name__ == '__main__':
    main()
