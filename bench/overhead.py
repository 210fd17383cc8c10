"""Seconds per epoch of ``fit`` with HardwarePruning over plain ``fit``, in the same run.

The callback prunes at every epoch (importance + knapsack + masks, DSP and BRAM budgets) with the
group-lasso term on at the strength ``regularization='auto'`` measures (the library defaults with
``validation_data``); the task is the fixed jet task. Target: <= 1.15x.

    python bench/overhead.py [--epochs 6] [--repeats 3] [--out bench/results/overhead-<stack>.json]
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from _common import RESULTS, EpochTimer, hls_config, jet_model, stack, table, write_json

import hwprune
from hwprune.data import jet_task


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--epochs', type=int, default=6)
    parser.add_argument('--repeats', type=int, default=3, help='alternating plain/hwprune runs')
    parser.add_argument('--rf', type=int, default=2)
    parser.add_argument('--quick', action='store_true')
    parser.add_argument('--out')
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.repeats = 3, 1
    task = jet_task()
    rows, plain_all, pruned_all = [], [], []
    for repeat in range(args.repeats):
        for mode in ('plain', 'hwprune'):
            model = jet_model(seed=repeat)
            timer = EpochTimer()
            callbacks = [timer]
            if mode == 'hwprune':
                cfg = hls_config(model, args.rf)
                budget = hwprune.PolynomialBudget(final=0.3, begin=0, end=args.epochs - 1, frequency=1)
                callbacks.insert(0, hwprune.HardwarePruning(cfg, resources=['DSP', 'BRAM'], budget=budget,
                                                            validation_data=(task.x_val, task.y_val), verbose=0))
            model.fit(task.x_train, task.y_train, epochs=args.epochs, batch_size=256,
                      validation_data=(task.x_val, task.y_val), callbacks=callbacks, verbose=0)
            per_epoch = float(np.median(timer.seconds[1:]))  # epoch 0 includes tracing
            (plain_all if mode == 'plain' else pruned_all).append(per_epoch)
            rows.append([repeat, mode, per_epoch])
    ratio = float(np.median(pruned_all) / np.median(plain_all))
    print(table(['repeat', 'mode', 's/epoch (median, epoch 0 excluded)'], rows))
    print(f'overhead ({stack()}): {ratio:.3f}x  (target <= 1.15x)')
    write_json('overhead', {'stack': stack(), 'rows': rows, 'plain_s_per_epoch': plain_all, 'hwprune_s_per_epoch': pruned_all,
                            'ratio': ratio, 'epochs': args.epochs, 'reuse_factor': args.rf},
               args.out or os.path.join(RESULTS, f'overhead-{stack()}.json'))


if __name__ == '__main__':
    main()
