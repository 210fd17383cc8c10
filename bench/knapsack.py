"""Benchmark of hwprune's multi-dimensional 0/1 knapsack solver.

Random instances (values uniform in [0, 1), costs uniform integers 1..100, or floats in
[1, 100) with ``--costs float``, capacity 40 % of each resource's total cost) with 1e3, 1e4, 1e5
items x 1-3 resources and 1e6 items x 1-2 resources; every method that is affordable at that
size (the MILP methods only up to ``n * R <= hwprune.knapsack.AUTO_EXACT_MAX``). Prints a table
and writes JSON.

Usage::

    python bench/knapsack.py            # full run, about 2 minutes on 2 cores
    python bench/knapsack.py --quick    # smoke run, about 10 seconds

Targets: ``auto`` solves 1e5 x 2 in <= 1 s with gap <= 0.01 % to the LP bound, 1e6 x 1 in <= 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import scipy

from hwprune import knapsack
from hwprune.knapsack import solve_knapsack

SIZES = [(1_000, 1), (1_000, 2), (1_000, 3), (10_000, 1), (10_000, 2), (10_000, 3),
         (100_000, 1), (100_000, 2), (100_000, 3), (1_000_000, 1), (1_000_000, 2)]
QUICK_SIZES = [(1_000, 1), (1_000, 2), (10_000, 1), (100_000, 2)]
METHODS = ('exact', 'pulp', 'greedy', 'lp', 'auto')
MILP_METHODS = ('exact', 'pulp')
TARGETS = {(100_000, 2): (1.0, 0.01), (1_000_000, 1): (2.0, None)}   # seconds, gap % for 'auto'


def instance(n, n_res, seed, costs='int'):
    """A random instance; the same (n, n_res, seed, costs) always gives the same numbers."""
    rng = np.random.default_rng([seed, n, n_res])
    values = rng.random(n)
    if costs == 'int':
        cost = rng.integers(1, 101, (n, n_res)).astype(np.float64)
    else:
        cost = rng.uniform(1.0, 100.0, (n, n_res))
    return values, cost, 0.4 * cost.sum(axis=0)


def run(sizes, repeat, time_limit, seed, costs):
    rows = []
    for n, n_res in sizes:
        values, cost, capacity = instance(n, n_res, seed, costs)
        for method in METHODS:
            row = dict(n=n, R=n_res, method=method)
            if method in MILP_METHODS and n * n_res > knapsack.AUTO_EXACT_MAX:
                row.update(skipped=f'n*R > {knapsack.AUTO_EXACT_MAX}')
                rows.append(row)
                print(_line(row), flush=True)
                continue
            times, result = [], None
            for _ in range(1 if method in MILP_METHODS else repeat):
                start = time.perf_counter()
                result = solve_knapsack(values, cost, capacity, method=method, time_limit=time_limit)
                times.append(time.perf_counter() - start)
            used = cost.T @ result.selected
            assert np.all(used <= capacity * (1 + 1e-9)), 'infeasible selection'
            row.update(used=result.method, seconds=statistics.median(times), value=result.value,
                       upper_bound=result.upper_bound, gap_percent=100.0 * result.gap, optimal=result.optimal,
                       runs=len(times))
            rows.append(row)
            print(_line(row), flush=True)
    return rows


HEADER = f'{"n":>9} {"R":>2} {"method":<7} {"used":<8} {"seconds":>8} {"value":>16} {"gap %":>10} {"optimal":>7}'


def _line(row):
    if 'skipped' in row:
        return f'{row["n"]:>9} {row["R"]:>2} {row["method"]:<7} {"-":<8} {"skipped (" + row["skipped"] + ")":>43}'
    return (f'{row["n"]:>9} {row["R"]:>2} {row["method"]:<7} {row["used"]:<8} {row["seconds"]:>8.3f} '
            f'{row["value"]:>16.6f} {row["gap_percent"]:>10.6f} {str(row["optimal"]):>7}')


def check_targets(rows):
    lines = []
    for (n, n_res), (limit, gap) in TARGETS.items():
        row = next((r for r in rows if r['n'] == n and r['R'] == n_res and r['method'] == 'auto'), None)
        if row is None:
            continue
        ok = row['seconds'] <= limit and (gap is None or row['gap_percent'] <= gap)
        want = f'<= {limit:g} s' + (f', gap <= {gap:g} %' if gap is not None else '')
        lines.append(f'target auto {n:.0e} x {n_res} ({want}): {row["seconds"]:.3f} s, gap '
                     f'{row["gap_percent"]:.6f} % -> {"met" if ok else "MISSED"}')
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--quick', action='store_true', help='a few small sizes only (smoke run)')
    parser.add_argument('--out', default='bench/results/knapsack.json', help='JSON output path')
    parser.add_argument('--repeat', type=int, default=None,
                        help='runs per fast method, the median is reported (default 3, 1 with --quick)')
    parser.add_argument('--time-limit', type=float, default=None,
                        help='time limit of the MILP methods in seconds (default 10, 1 with --quick)')
    parser.add_argument('--seed', type=int, default=2024)
    parser.add_argument('--costs', choices=('int', 'float'), default='int', help='integer or float costs')
    args = parser.parse_args(argv)

    sizes = QUICK_SIZES if args.quick else SIZES
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    if args.time_limit is None:
        args.time_limit = 1.0 if args.quick else 10.0
    print(f'hwprune knapsack benchmark: seed {args.seed}, {args.costs} costs, median of {args.repeat} runs '
          f'(1 for exact/pulp, time limit {args.time_limit:g} s); gap = (LP bound - value) / LP bound')
    print(HEADER)
    rows = run(sizes, args.repeat, args.time_limit, args.seed, args.costs)
    for line in check_targets(rows):
        print(line)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = dict(seed=args.seed, costs=args.costs, repeat=args.repeat, time_limit=args.time_limit, quick=args.quick,
                python=sys.version.split()[0], numpy=np.__version__, scipy=scipy.__version__,
                platform=platform.platform(), cpus=os.cpu_count(), date=time.strftime('%Y-%m-%d %H:%M:%S'))
    out.write_text(json.dumps(dict(meta=meta, results=rows, targets=check_targets(rows)), indent=2) + '\n')
    print(f'wrote {out}')


if __name__ == '__main__':
    main()
