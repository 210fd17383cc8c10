"""The ``hwprune`` command line.

    hwprune demo [--output-dir DIR] [--quick] [--no-plots]   train -> prune -> strip -> convert -> report
    hwprune run JOB.yaml [--no-plots]                        the same pipeline for your job file
    hwprune report MODEL CONFIG.yaml [--json] [--plot PNG]   resource estimate of a saved Keras model under
                                                             an hls4ml config (--plot: per-layer bars)

``demo`` and ``run`` write PNG pictures beside ``summary.json`` unless ``--no-plots``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys



def _setup_logging(verbose: int) -> None:
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format='%(message)s')
    logging.getLogger('hwprune').setLevel(level)


def _report(args) -> int:
    import yaml
    import tensorflow as tf

    from .keras import estimate
    custom = {}
    try:
        from qkeras.utils import _add_supported_quantized_objects
        _add_supported_quantized_objects(custom)
    except ImportError:  # QKeras is optional
        pass
    model = tf.keras.models.load_model(args.model, custom_objects=custom, compile=False)
    with open(args.config) as handle:
        cfg = yaml.safe_load(handle)
    report = estimate(model, cfg)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report)
    if args.plot:
        from .plots import layer_resources
        layer_resources(report, path=args.plot)
        logging.getLogger('hwprune').info('Picture: %s', args.plot)
    return 0


def _run(args, job) -> int:
    from .pipeline import format_summary, run_job
    summary = run_job(job)
    print(format_summary(summary))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='hwprune', description='Hardware-aware pruning for hls4ml.')
    parser.add_argument('-v', '--verbose', action='count', default=1, help='more logging (-vv for debug)')
    parser.add_argument('-q', '--quiet', action='store_true', help='only warnings and the result')
    sub = parser.add_subparsers(dest='command', required=True)
    demo = sub.add_parser('demo', help='run the built-in train -> prune -> convert -> report job')
    demo.add_argument('--output-dir', default='hwprune_demo')
    demo.add_argument('--quick', action='store_true', help='small data and few epochs (a smoke run)')
    demo.add_argument('--no-compile', action='store_true', help='skip the C simulation (no g++ needed)')
    demo.add_argument('--no-plots', action='store_true', help='write no PNG pictures')
    run = sub.add_parser('run', help='run a pruning job from a YAML file')
    run.add_argument('job')
    run.add_argument('--no-plots', action='store_true', help='write no PNG pictures (overrides the job)')
    report = sub.add_parser('report', help='resource estimate of a saved model under an hls4ml config')
    report.add_argument('model')
    report.add_argument('config')
    report.add_argument('--json', action='store_true')
    report.add_argument('--plot', metavar='PNG', help='also draw the per-layer use into this PNG file')
    args = parser.parse_args(argv)
    _setup_logging(0 if args.quiet else args.verbose)
    if args.command == 'report':
        return _report(args)
    if args.command == 'run':
        from .pipeline import load_job
        job = load_job(args.job)
        if args.no_plots:
            job['plots'] = False
        return _run(args, job)
    job = {'output_dir': args.output_dir, 'compile': not args.no_compile, 'plots': not args.no_plots}
    if args.quick:
        job.update({'data': {'n_samples': 10000}, 'training': {'epochs': 10},
                    'pruning': {'end': 4, 'epochs': 8}})
    return _run(args, job)


if __name__ == '__main__':  # pragma: no cover
    sys.exit(main())
