"""The ``hwprune`` command line.

    hwprune demo [--output-dir DIR] [--quick] [--no-plots]   train -> prune -> strip -> convert -> report
    hwprune run JOB.yaml [--no-plots]                        the same pipeline for your job file
    hwprune report MODEL CONFIG.yaml [--json] [--plot PNG]   resource estimate of a saved Keras model under
                                                             an hls4ml config (--plot: per-layer bars)

A mistake in what you give (a missing file, malformed YAML, an unknown key, a value of the wrong
type) ends the command with one ``hwprune <command>: error: ...`` line on stderr and exit status
2; ``hwprune --debug <command> ...`` shows the full traceback instead. ``python -m hwprune`` is
the same command.

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
    from .keras import estimate
    from .pipeline import load_model
    from .targets.hls_config import load_hls_config

    cfg = load_hls_config(args.config)
    model = load_model(args.model)
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


def _user_errors() -> tuple:
    errors = [ValueError, TypeError, FileNotFoundError, PermissionError, IsADirectoryError, ImportError]
    try:
        import yaml
        errors.append(yaml.YAMLError)
    except ImportError:  # pragma: no cover - PyYAML is a dependency
        pass
    return tuple(errors)


_USER_ERRORS = _user_errors()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='hwprune', description='Hardware-aware pruning for hls4ml.')
    parser.add_argument('-v', '--verbose', action='count', default=1, help='more logging (-vv for debug)')
    parser.add_argument('-q', '--quiet', action='store_true', help='only warnings and the result')
    parser.add_argument('--debug', action='store_true',
                        help="show the full traceback of an error instead of one 'hwprune ...: error:' line")
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
    try:
        return _dispatch(args)
    except Exception as error:  # noqa: BLE001 - sorted below: the user's mistakes get one line
        if args.debug or (not isinstance(error, _USER_ERRORS) and type(error).__name__ != 'ConversionError'):
            raise
        # what the user gave is wrong (or hls4ml cannot convert it): one line, exit status 2 as argparse
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f'hwprune {args.command}: error: {message}', file=sys.stderr)
        logging.getLogger('hwprune').debug('traceback', exc_info=True)
        return 2


def _dispatch(args) -> int:
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
        job.update({'data': {'n_samples': 10000}, 'training': {'epochs': 10}, 'pruning': {'epochs': 8}})
    return _run(args, job)


if __name__ == '__main__':  # pragma: no cover
    sys.exit(main())
