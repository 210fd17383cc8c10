"""The importance default on tasks other than the jet task: importance='auto' against 'l2', 3 seeds.

``importance='auto'`` (the default with validation data) scores each weight by ``|w_ij| x
rms(x_i)^0.5 x ||W_next[j, :]||^0.5``; it was chosen on the jet task (docs/benchmarks.md), so this
script measures it on two tasks it was not tuned on, against the weights alone
(``importance='l2'``) and against ``'auto'`` without the output factor (``auto-in``:
``OUTPUT_EXPONENT = 0``, the default before it), everything else the recommended call:

- ``digits``: ``sklearn.datasets.load_digits`` (8x8 images, shipped with scikit-learn), a
  Conv16-Conv32-Dense CNN (4936 DSPs at RF 2), batch 32; budgets 5 % and 2.5 % of the DSPs.
- ``synth``: ``make_classification(30000, 32 features, 20 informative, 8 classes, random_state=7)``,
  a 32-64-32-32-8 MLP (2688 DSPs at RF 2), batch 256; budgets 12 % and 8 %.

Per seed: the baseline trains ``--epochs`` (100) from scratch (cached in
``results/baselines/``), then each setting prunes a copy of it for the same number of epochs
(``HardwarePruning(cfg, budget=f, importance=..., validation_data=(xv, yv))``, hls4ml config Vitis,
``ap_fixed<16,6>``, Resource, RF 2). Reported: test accuracy over the seed's baseline, mean of the
seeds, and the differences auto - l2 and auto - auto-in per seed.

    python bench/tasks.py                        # both tasks, 3 seeds -> results/tasks.json
    python bench/tasks.py --quick                # smoke run: seed 0, 3 epochs (a minute)
"""

from __future__ import annotations

import argparse
import os
import time
from unittest import mock

import numpy as np

from _common import RESULTS, accuracy, hls_config, keras, stack, table, write_json

import hwprune
import hwprune.importance as hwprune_importance
from hwprune.data import _split, digits_task

TASKS = {'digits': (0.05, 0.025), 'synth': (0.12, 0.08)}
#: setting -> (importance, OUTPUT_EXPONENT)
IMPORTANCES = {'l2': ('l2', hwprune_importance.OUTPUT_EXPONENT), 'auto-in': ('auto', 0.0),
               'auto': ('auto', hwprune_importance.OUTPUT_EXPONENT)}


def load(name):
    if name == 'digits':
        return digits_task(), 32
    from sklearn.datasets import make_classification
    x, y = make_classification(n_samples=30000, n_features=32, n_informative=20, n_redundant=4, n_classes=8,
                               n_clusters_per_class=2, class_sep=1.0, random_state=7)
    return _split(x, y, 8, 'synth'), 256


def build(name, seed):
    keras.utils.set_random_seed(seed)
    if name == 'digits':
        layers = [keras.layers.Input((8, 8, 1)), keras.layers.Conv2D(16, 3, activation='relu', name='conv1'),
                  keras.layers.Conv2D(32, 3, activation='relu', name='conv2'), keras.layers.Flatten(),
                  keras.layers.Dense(10, activation='softmax', name='out')]
    else:
        layers = ([keras.layers.Input((32,))] +
                  [keras.layers.Dense(w, activation='relu', name=f'fc{i + 1}') for i, w in enumerate((64, 32, 32))] +
                  [keras.layers.Dense(8, activation='softmax', name='out')])
    model = keras.Sequential(layers)
    model.compile(keras.optimizers.Adam(1e-3), 'sparse_categorical_crossentropy', metrics=['accuracy'])
    return model


def baseline(name, task, batch, seed, epochs):
    model = build(name, seed)
    path = os.path.join(RESULTS, 'baselines', f'tasks-{name}_{stack()}_seed{seed}_e{epochs}.weights.h5')
    if os.path.exists(path):
        model.load_weights(path)
    else:
        model.fit(task.x_train, task.y_train, epochs=epochs, batch_size=batch, verbose=0)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        model.save_weights(path)
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--tasks', nargs='+', default=list(TASKS), choices=list(TASKS))
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    parser.add_argument('--epochs', type=int, default=100)
    parser.add_argument('--quick', action='store_true', help='seed 0, 3 epochs: a smoke run')
    parser.add_argument('--out')
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.epochs = [0], 3
        args.out = args.out or os.path.join(RESULTS, 'tasks-quick.json')
    records = []
    for name in args.tasks:
        task, batch = load(name)
        for seed in args.seeds:
            base = baseline(name, task, batch, seed, args.epochs)
            cfg = hls_config(base, 2)
            base_accuracy = accuracy(base, task.x_test, task.y_test)
            initial = float(hwprune.estimate(base, cfg).total['DSP'])
            for fraction in TASKS[name]:
                for importance, (method, exponent) in IMPORTANCES.items():
                    model = build(name, seed)
                    model.set_weights(base.get_weights())
                    pruning = hwprune.HardwarePruning(cfg, budget=fraction, importance=method,
                                                      validation_data=(task.x_val, task.y_val), verbose=0)
                    start = time.perf_counter()
                    with mock.patch.object(hwprune_importance, 'OUTPUT_EXPONENT', exponent):
                        model.fit(task.x_train, task.y_train, epochs=args.epochs, batch_size=batch, verbose=0,
                                  callbacks=[pruning])
                    record = {'task': name, 'seed': seed, 'fraction': fraction, 'importance': importance,
                              'stack': stack(), 'DSP_initial': initial,
                              'DSP': float(hwprune.estimate(model, cfg).total['DSP']),
                              'baseline_accuracy': base_accuracy, 'accuracy': accuracy(model, task.x_test, task.y_test),
                              'seconds': time.perf_counter() - start}
                    record['ratio'] = record['accuracy'] / base_accuracy
                    records.append(record)
                    print(f"{name} seed {seed} {fraction:g} {importance}: {record['DSP']:.0f} DSPs, "
                          f"{record['ratio']:.4f}x baseline", flush=True)
    rows = []
    for name in args.tasks:
        for fraction in TASKS[name]:
            by = {imp: [r for r in records if r['task'] == name and r['fraction'] == fraction
                        and r['importance'] == imp] for imp in IMPORTANCES}
            rows.append([name, f'{fraction:g}', f"{np.mean([r['DSP'] for r in by['auto']]):.0f}",
                         *(f"{np.mean([r['ratio'] for r in by[imp]]):.4f}" for imp in IMPORTANCES),
                         *(' '.join(f"{a['ratio'] - b['ratio']:+.4f}" for a, b in zip(by['auto'], by[other]))
                           for other in ('l2', 'auto-in'))])
    print(table(['task', 'budget', 'DSPs', *(f'x baseline {imp}' for imp in IMPORTANCES), 'auto - l2 per seed',
                 'auto - auto-in per seed'], rows))
    write_json('tasks', {'stack': stack(), 'args': vars(args), 'records': records, 'table': rows}, args.out)


if __name__ == '__main__':
    main()
