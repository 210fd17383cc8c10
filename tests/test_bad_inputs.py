"""One table of bad inputs over every public entry point and the command line.

Each case is an input a user can plausibly get wrong. The library must refuse it with an error of
the right type whose message names the argument and shows the value received (the format of
``hwprune._validation.invalid``: "Invalid value for argument `x`: expected .... Received: x=..."),
before any work is done where it can (construction, the start of ``fit``, the start of a
conversion). Command-line cases must end with exit status 2 and one ``hwprune ...: error:`` line on
stderr (argparse's own mistakes: its usage line and one error line), never a traceback.
docs/errors.md says what is checked where.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np
import pytest
import tensorflow as tf

import hwprune
from hwprune.budgets import deserialize
from hwprune.cli import main as cli_main
from hwprune.hls import pin_auto_precisions
from hwprune.targets import Energy, FPGALayerSettings, FPGATarget, PIMArray, SystolicArray
from hwprune.targets.hls_config import load_hls_config, parse_precision_bits, read_hls_config, target_from_hls_config

from test_callback import data, dense_model, target

keras = tf.keras
NAN = float('nan')
CFG = {'Model': {'ReuseFactor': 2, 'Strategy': 'Resource', 'Precision': 'ap_fixed<16,6>'}}


class Case(NamedTuple):
    id: str
    run: Callable[[Path], Any]  # called in tmp_path (also the working directory)
    error: type
    argument: str  # must appear in the message (library cases: with its backticks)
    value: str  # must appear in the message, as the user wrote it (repr); {tmp} stands for tmp_path
    expected: str = ''  # and, where it matters, what the message says is expected


class CommandLineError(Exception):
    """Raised by :func:`cli` with the one error line, once exit status and stderr are checked."""


# ------------------------------------------------------------------ helpers


def fit(callback, model=None):
    """One epoch of one batch: enough for any check made when fit starts or at the first epoch end."""
    x, y = data(64)
    model = model if model is not None else dense_model()
    model.fit(x, y, epochs=1, batch_size=64, callbacks=[callback], verbose=0)


def cb(*args, **kwargs):
    kwargs.setdefault('verbose', 0)
    return hwprune.HardwarePruning(*args, **kwargs)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def a_file(tmp: Path) -> str:
    return str(write(tmp / 'file.txt', 'x'))


def wider_model():
    """The test model with other widths (fc1 40 instead of 32)."""
    model = keras.Sequential([keras.layers.Dense(40, activation='relu', input_shape=(16,), name='fc1'),
                              keras.layers.Dense(16, activation='relu', name='fc2'),
                              keras.layers.Dense(5, activation='softmax', name='out')])
    model.compile('adam', 'sparse_categorical_crossentropy')
    return model


def state_of_another_model(tmp: Path) -> None:
    path = tmp / 'state.npz'
    fit(cb(target(), budget=hwprune.ConstantBudget(0.5), state_path=path), model=wider_model())
    fit(cb(target(), budget=hwprune.ConstantBudget(0.5), state_path=path))


def convert(tmp: Path, hls_config=None, **kwargs):
    pytest.importorskip('hls4ml')
    kwargs.setdefault('output_dir', str(tmp / 'prj'))
    return hwprune.convert(dense_model(), CFG if hls_config is None else hls_config, **kwargs)


class MyDense(keras.layers.Dense):
    """A private subclass, so that a registration that slipped through would not touch Dense."""


def cli(*args: str, files: dict[str, str] | None = None) -> Callable[[Path], None]:
    """A command line run in-process in tmp_path: exit status 2, one error line and no traceback,
    then :class:`CommandLineError` carrying that line for the table's checks."""

    def run(tmp: Path) -> None:
        for name, text in (files or {}).items():
            write(tmp / name, text)
        err, out = io.StringIO(), io.StringIO()
        level = logging.getLogger('hwprune').level
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
                try:
                    status = cli_main(list(args))
                except SystemExit as e:  # argparse's own errors
                    status = e.code
        finally:
            logging.getLogger('hwprune').setLevel(level)
        stderr = err.getvalue()
        assert status == 2, (status, stderr[-2000:])
        assert 'Traceback' not in stderr, stderr[-2000:]
        errors = [line for line in stderr.splitlines() if line.startswith('hwprune') and ': error: ' in line]
        others = [line for line in stderr.splitlines() if line.strip() and line not in errors]
        assert len(errors) == 1 and all(line.startswith('usage:') for line in others), stderr[-2000:]
        raise CommandLineError(errors[0])

    return run


JOB = 'data: {n_samples: 200}\ntraining: {epochs: 0}\n'  # a job that gets past data and training at once


# ------------------------------------------------------------------ the table

CASES = [
    # --- HardwarePruning(...): checked when the callback is made
    Case('callback-target-int', lambda t: cb(3), TypeError, '`target`', '=3'),
    Case('callback-target-missing-yaml', lambda t: cb('missing.yml'), FileNotFoundError, '`hls_config`',
         "'missing.yml'"),
    Case('callback-target-malformed-yaml', lambda t: cb(str(write(t / 'cfg.yml', 'Model: [1, 2'))), ValueError,
         '`hls_config`', 'cfg.yml'),
    Case('callback-resources-empty', lambda t: cb(target(), resources=[]), ValueError, '`resources`', '=[]',
         'at least one resource name'),
    Case('callback-resources-int', lambda t: cb(target(), resources=5), TypeError, '`resources`', '=5',
         'a resource name'),
    Case('callback-resources-empty-dict', lambda t: cb(target(), resources={}), TypeError, '`resources`', '={}',
         'non-empty dict'),
    Case('callback-resources-unknown', lambda t: cb(target(), resources='LUT'), ValueError, '`resources`', "'LUT'"),
    Case('callback-resources-unknown-hls-config', lambda t: cb(CFG, resources=['DSP', 'LUT']), ValueError,
         '`resources`', "'LUT'"),
    Case('callback-resources-negative-weight', lambda t: cb(target(), resources={'DSP': -1}), ValueError,
         "`resources['DSP']`", '-1'),
    Case('callback-resources-zero-weights', lambda t: cb(target(), resources={'DSP': 0, 'BRAM': 0}), ValueError,
         '`resources`', "{'DSP': 0, 'BRAM': 0}"),
    Case('callback-budget-zero', lambda t: cb(target(), budget=0), ValueError, '`budget`', '=0'),
    Case('callback-budget-above-one', lambda t: cb(target(), budget=1.5), ValueError, '`budget`', '=1.5'),
    Case('callback-budget-nan', lambda t: cb(target(), budget=NAN), ValueError, '`budget`', '=nan'),
    Case('callback-budget-string', lambda t: cb(target(), budget='half'), TypeError, '`budget`', "'half'"),
    Case('callback-budget-bool', lambda t: cb(target(), budget=True), TypeError, '`budget`', '=True'),
    Case('callback-budget-dict-other-resources', lambda t: cb(target(), resources=['DSP'], budget={'BRAM': 0.5}),
         ValueError, '`budget`', "{'BRAM': 0.5}"),
    Case('callback-budget-serialized-unknown-class',
         lambda t: cb(target(), budget={'class_name': 'Linear', 'config': {}}),
         ValueError, '`config`', "'Linear'"),
    Case('callback-budget-serialized-unknown-key',
         lambda t: cb(target(), budget={'class_name': 'ConstantBudget', 'config': {'fractio': 0.5}}),
         TypeError, '`config`', "'fractio'"),
    Case('callback-regularization-negative', lambda t: cb(target(), regularization=-1), ValueError,
         '`regularization`', '-1'),
    Case('callback-regularization-word', lambda t: cb(target(), regularization='strong'), ValueError,
         '`regularization`', "'strong'"),
    Case('callback-regularization-nan', lambda t: cb(target(), regularization=NAN), ValueError, '`regularization`',
         '=nan'),
    Case('callback-regularization-after-end', lambda t: cb(target(), regularization_after_end=-0.5), ValueError,
         '`regularization_after_end`', '-0.5'),
    Case('callback-update', lambda t: cb(target(), update='batch'), ValueError, '`update`', "'batch'"),
    Case('callback-importance', lambda t: cb(target(), importance='l3'), ValueError, '`importance`', "'l3'"),
    Case('callback-normalization', lambda t: cb(target(), normalization='z'), ValueError, '`normalization`', "'z'"),
    Case('callback-taylor-without-data', lambda t: cb(target(), importance='taylor'), ValueError,
         '`importance_data`', '=None'),
    Case('callback-importance-data-array',
         lambda t: cb(target(), importance='taylor', importance_data=np.zeros((4, 16))),
         TypeError, '`importance_data`', '(4, 16)'),
    Case('callback-importance-batches', lambda t: cb(target(), importance_batches=0), ValueError,
         '`importance_batches`', '=0'),
    Case('callback-method', lambda t: cb(target(), method='fastest'), ValueError, '`method`', "'fastest'"),
    Case('callback-regrowth-string', lambda t: cb(target(), regrowth='no'), TypeError, '`regrowth`', "'no'"),
    Case('callback-monitor-int', lambda t: cb(target(), monitor=3), TypeError, '`monitor`', '=3'),
    Case('callback-mode', lambda t: cb(target(), monitor='val_loss', mode='up'), ValueError, '`mode`', "'up'"),
    Case('callback-tolerance', lambda t: cb(target(), tolerance=-0.1), ValueError, '`tolerance`', '-0.1'),
    Case('callback-guard', lambda t: cb(target(), guard='panic'), ValueError, '`guard`', "'panic'"),
    Case('callback-restore-best-string', lambda t: cb(target(), restore_best='false'), TypeError, '`restore_best`',
         "'false'", '`restore_best`: expected True or False'),
    Case('callback-baseline-string', lambda t: cb(target(), baseline='0.9'), TypeError, '`baseline`', "'0.9'"),
    Case('callback-validation-data-array', lambda t: cb(target(), validation_data=np.zeros((8, 16))), TypeError,
         '`validation_data`', '(8, 16)'),
    Case('callback-log-dir-names-a-file', lambda t: cb(target(), log_dir=a_file(t)), ValueError, '`log_dir`',
         'file.txt', '`log_dir`: expected a directory path'),
    Case('callback-log-dir-int', lambda t: cb(target(), log_dir=5), TypeError, '`log_dir`', '=5'),
    Case('callback-state-path-names-a-directory', lambda t: cb(target(), state_path=t), ValueError, '`state_path`',
         "'{tmp}'", '`state_path`: expected a file path'),
    Case('callback-layers-string', lambda t: cb(target(), layers='fc1'), TypeError, '`layers`', "'fc1'",
         "a list of layer names, e.g. ['fc1']"),
    Case('callback-layers-int', lambda t: cb(target(), layers=5), TypeError, '`layers`', '=5'),
    Case('callback-layers-of-ints', lambda t: cb(target(), layers=[1]), TypeError, '`layers`', '=1'),
    Case('callback-protect-outputs-int', lambda t: cb(target(), protect_outputs=1), TypeError, '`protect_outputs`',
         '=1'),
    Case('callback-fold-dead-units-none', lambda t: cb(target(), fold_dead_units=None), TypeError,
         '`fold_dead_units`', '=None'),
    Case('callback-verbose-string', lambda t: cb(target(), verbose='yes'), TypeError, '`verbose`', "'yes'"),
    Case('callback-verbose-negative', lambda t: cb(target(), verbose=-1), ValueError, '`verbose`', '=-1'),
    Case('callback-regularization-strength-setter',
         lambda t: setattr(cb(target()), 'regularization_strength', -1), ValueError, '`regularization_strength`', '-1'),

    # --- HardwarePruning: checked when fit starts (they need the model) or at the first epoch end
    Case('fit-layers-unknown', lambda t: fit(cb(target(), layers=['fc9'])), ValueError, '`layers`', "'fc9'"),
    Case('fit-importance-data-wrong-width',
         lambda t: fit(cb(target(), importance='taylor', importance_data=(data(64)[0][:, :8], data(64)[1]))),
         ValueError, '`importance_data`', '(64, 8)'),
    Case('fit-validation-data-wrong-width',
         lambda t: fit(cb(target(), validation_data=(np.zeros((32, 7), 'float32'), np.zeros(32)))),
         ValueError, '`validation_data`', '(32, 7)'),
    Case('fit-monitor-without-baseline', lambda t: fit(cb(target(), monitor='val_accuracy')), ValueError,
         '`baseline`', "monitor='val_accuracy'"),
    Case('fit-monitor-not-in-logs', lambda t: fit(cb(target(), monitor='val_acc', baseline=0.5)), ValueError,
         '`monitor`', "'val_acc'"),
    Case('fit-strict-target-missing-layer',
         lambda t: fit(cb(FPGATarget({'fc1': FPGALayerSettings(reuse_factor=2)}, strict=True))), ValueError,
         '`layer`', "'fc2'"),
    Case('fit-state-of-another-model', state_of_another_model, ValueError, '`state_path`', 'state.npz',
         'another model'),
    Case('fit-state-not-a-state', lambda t: fit(cb(target(), state_path=write(t / 's.npz', 'garbage'))), ValueError,
         '`state_path`', 's.npz', 'a state file written by hwprune'),
    Case('load-state-missing', lambda t: hwprune.HardwarePruning.load_state(t / 'none.npz'), FileNotFoundError,
         '`state_path`', 'none.npz'),

    # --- budgets
    Case('polynomial-final-zero', lambda t: hwprune.PolynomialBudget(final=0), ValueError, '`final`', '=0'),
    Case('polynomial-final-above-one', lambda t: hwprune.PolynomialBudget(final=2), ValueError, '`final`', '=2'),
    Case('polynomial-final-string', lambda t: hwprune.PolynomialBudget(final='0.1'), TypeError, '`final`', "'0.1'"),
    Case('polynomial-initial-below-final', lambda t: hwprune.PolynomialBudget(final=0.5, initial=0.2), ValueError,
         '`initial`', '=0.2'),
    Case('polynomial-begin-negative', lambda t: hwprune.PolynomialBudget(final=0.1, begin=-1), ValueError, '`begin`',
         '=-1'),
    Case('polynomial-end-before-begin', lambda t: hwprune.PolynomialBudget(final=0.1, begin=5, end=2), ValueError,
         '`end`', '=2'),
    Case('polynomial-end-never', lambda t: hwprune.PolynomialBudget(final=0.1, end=-1), ValueError, '`end`', '=-1'),
    Case('polynomial-end-word', lambda t: hwprune.PolynomialBudget(final=0.1, end='later'), TypeError, '`end`',
         "'later'"),
    Case('polynomial-end-float', lambda t: hwprune.PolynomialBudget(final=0.1, end=10.0), TypeError, '`end`', '=10.0'),
    Case('polynomial-frequency-zero', lambda t: hwprune.PolynomialBudget(final=0.1, frequency=0), ValueError,
         '`frequency`', '=0'),
    Case('polynomial-power-zero', lambda t: hwprune.PolynomialBudget(final=0.1, power=0), ValueError, '`power`', '=0'),
    Case('polynomial-resolve-zero-steps', lambda t: hwprune.PolynomialBudget(final=0.1, end='auto').resolve(0),
         ValueError, '`total_steps`', '=0'),
    Case('polynomial-auto-unresolved', lambda t: hwprune.PolynomialBudget(final=0.1, end='auto')(3), RuntimeError,
         '`end`', "'auto'"),
    Case('polynomial-from-config-unknown-key',
         lambda t: hwprune.PolynomialBudget.from_config({'final': 0.1, 'ends': 3}),
         TypeError, '`config`', "'ends'"),
    Case('polynomial-from-config-missing-key', lambda t: hwprune.PolynomialBudget.from_config({'end': 3}), TypeError,
         '`config`', "{'end': 3}"),
    Case('constant-zero', lambda t: hwprune.ConstantBudget(0), ValueError, '`fraction`', '=0'),
    Case('constant-nan', lambda t: hwprune.ConstantBudget(NAN), ValueError, '`fraction`', '=nan'),
    Case('constant-end-auto', lambda t: hwprune.ConstantBudget(0.5, end='auto'), ValueError, '`end`', "'auto'"),
    Case('constant-frequency-zero', lambda t: hwprune.ConstantBudget(0.5, frequency=0), ValueError, '`frequency`',
         '=0'),
    Case('constant-begin-string', lambda t: hwprune.ConstantBudget(0.5, begin='0'), TypeError, '`begin`', "'0'"),
    Case('deserialize-not-a-schedule', lambda t: deserialize({'name': 'PolynomialBudget'}), ValueError, '`config`',
         "'PolynomialBudget'"),

    # --- estimate / strip
    Case('estimate-not-a-model', lambda t: hwprune.estimate('model.h5', CFG), TypeError, '`model`', "'model.h5'"),
    Case('estimate-unbuilt-model',
         lambda t: hwprune.estimate(keras.Sequential([keras.layers.Dense(3)], name='unbuilt'), CFG), ValueError,
         '`model`', "'unbuilt'"),
    Case('estimate-config-int', lambda t: hwprune.estimate(dense_model(), 5), TypeError, '`hls_config`', '=5'),
    Case('estimate-config-missing-yaml', lambda t: hwprune.estimate(dense_model(), 'missing.yml'), FileNotFoundError,
         '`hls_config`', "'missing.yml'"),
    Case('estimate-resources-unknown', lambda t: hwprune.estimate(dense_model(), CFG, resources=['LUT']), ValueError,
         '`resources`', "'LUT'"),
    Case('estimate-layers-string', lambda t: hwprune.estimate(dense_model(), CFG, layers='fc1'), TypeError,
         '`layers`', "'fc1'"),
    Case('estimate-layers-unknown', lambda t: hwprune.estimate(dense_model(), CFG, layers=['fc9']), ValueError,
         '`layers`', "'fc9'"),
    Case('estimate-as-converted-string', lambda t: hwprune.estimate(dense_model(), CFG, as_converted='false'),
         TypeError, '`as_converted`', "'false'"),
    Case('estimate-config-reuse-factor-zero', lambda t: hwprune.estimate(dense_model(), {'Model': {'ReuseFactor': 0}}),
         ValueError, "`hls_config['Model']['ReuseFactor']`", '=0'),
    Case('estimate-config-strategy-unknown',
         lambda t: hwprune.estimate(dense_model(), {'Model': {'ReuseFactor': 2, 'Strategy': 'Fast'}}), ValueError,
         "`hls_config['Model']['Strategy']`", "'Fast'"),
    Case('estimate-config-precision-unparsable',
         lambda t: hwprune.estimate(dense_model(), {'Model': {'ReuseFactor': 2, 'Precision': 'fixed16'}}), ValueError,
         "`hls_config['Model']['Precision']`", "'fixed16'"),
    Case('strip-not-a-model', lambda t: hwprune.strip([1, 2]), TypeError, '`model`', '[1, 2]'),
    Case('strip-atol-negative', lambda t: hwprune.strip(dense_model(), atol=-1), ValueError, '`atol`', '-1'),
    Case('strip-atol-string', lambda t: hwprune.strip(dense_model(), atol='0'), TypeError, '`atol`', "'0'"),

    # --- convert (checked before hls4ml writes anything)
    Case('convert-output-dir-names-a-file', lambda t: convert(t, output_dir=a_file(t)), ValueError, '`output_dir`',
         'file.txt', '`output_dir`: expected a directory path'),
    Case('convert-output-dir-under-a-file', lambda t: convert(t, output_dir=os.path.join(a_file(t), 'sub')),
         ValueError, '`output_dir`', 'sub', '`output_dir`: expected a directory hls4ml can write'),
    Case('convert-output-dir-int', lambda t: convert(t, output_dir=5), TypeError, '`output_dir`', '=5'),
    Case('convert-strip-model-string', lambda t: convert(t, strip_model='no'), TypeError, '`strip_model`', "'no'"),
    Case('convert-not-a-model', lambda t: hwprune.convert('model.keras', CFG, output_dir=str(t / 'p')), TypeError,
         '`model`', "'model.keras'"),
    Case('convert-config-list', lambda t: convert(t, [CFG]), TypeError, '`hls_config`', '[{'),
    Case('convert-config-strategy-unknown', lambda t: convert(t, {'Model': {**CFG['Model'], 'Strategy': 'Unrolled'}}),
         ValueError, "`hls_config['Model']['Strategy']`", "'Unrolled'"),
    Case('convert-config-for-another-model', lambda t: convert(t, {**CFG, 'LayerName': {'fc9': {}}}, strict=True),
         ValueError, "`hls_config['LayerName']`", "['fc9']"),
    Case('convert-backend-unknown', lambda t: convert(t, backend='Quartus9'), ValueError, '`backend`', "'Quartus9'"),
    Case('convert-io-type-unknown', lambda t: convert(t, io_type='stream'), ValueError, '`io_type`', "'stream'"),

    # --- solve_knapsack
    Case('knapsack-lengths', lambda t: hwprune.solve_knapsack([1, 2, 3], [1, 2], 3), ValueError, '`costs`', '[1, 2]'),
    Case('knapsack-negative-cost', lambda t: hwprune.solve_knapsack([1, 2], [1, -2], 3), ValueError, '`costs`',
         '[1, -2]'),
    Case('knapsack-nan-value', lambda t: hwprune.solve_knapsack([1, NAN], [1, 2], 3), ValueError, '`values`',
         '[1, nan]'),
    Case('knapsack-capacity-per-resource', lambda t: hwprune.solve_knapsack([1, 2], [[1, 1], [2, 2]], [3, 3, 3]),
         ValueError, '`capacity`', '[3, 3, 3]'),
    Case('knapsack-capacity-negative', lambda t: hwprune.solve_knapsack([1, 2], [1, 2], -1), ValueError,
         '`capacity`', '=-1'),
    Case('knapsack-strings', lambda t: hwprune.solve_knapsack(['a', 'b'], [1, 2], 3), TypeError, '`values`',
         "['a', 'b']"),
    Case('knapsack-method', lambda t: hwprune.solve_knapsack([1, 2], [1, 2], 3, method='fast'), ValueError,
         '`method`', "'fast'"),
    Case('knapsack-time-limit-zero', lambda t: hwprune.solve_knapsack([1, 2], [1, 2], 3, time_limit=0), ValueError,
         '`time_limit`', '=0'),

    # --- FPGA target
    Case('fpga-settings-reuse-factor-zero', lambda t: FPGALayerSettings(reuse_factor=0), ValueError,
         '`reuse_factor`', '=0'),
    Case('fpga-settings-reuse-factor-float', lambda t: FPGALayerSettings(reuse_factor=2.5), TypeError,
         '`reuse_factor`', '=2.5'),
    Case('fpga-settings-strategy-unrolled', lambda t: FPGALayerSettings(strategy='Unrolled'), ValueError,
         '`strategy`', "'Unrolled'"),
    Case('fpga-settings-precision-as-weight-bits', lambda t: FPGALayerSettings(weight_bits='ap_fixed<16,6>'),
         TypeError, '`weight_bits`', "'ap_fixed<16,6>'"),
    Case('fpga-settings-weight-bits-zero', lambda t: FPGALayerSettings(weight_bits=0), ValueError, '`weight_bits`',
         '=0'),
    Case('fpga-settings-io-type', lambda t: FPGALayerSettings(io_type='stream'), ValueError, '`io_type`', "'stream'"),
    Case('fpga-settings-pinned-string', lambda t: FPGALayerSettings(pinned='yes'), TypeError, '`pinned`', "'yes'"),
    Case('fpga-settings-parallelization-zero', lambda t: FPGALayerSettings(parallelization_factor=0), ValueError,
         '`parallelization_factor`', '=0'),
    Case('fpga-target-as-converted-string', lambda t: FPGATarget(as_converted='false'), TypeError, '`as_converted`',
         "'false'"),
    Case('fpga-target-strict-string', lambda t: FPGATarget(strict='yes'), TypeError, '`strict`', "'yes'"),
    Case('fpga-target-layers-list', lambda t: FPGATarget(layers=['fc1']), TypeError, '`layers`', "['fc1']"),
    Case('fpga-target-layer-settings-dict', lambda t: FPGATarget(layers={'fc1': {'reuse_factor': 2}}), TypeError,
         "`layers['fc1']`", "{'reuse_factor': 2}"),
    Case('fpga-target-default-dict', lambda t: FPGATarget(default={'reuse_factor': 2}), TypeError, '`default`',
         "{'reuse_factor': 2}"),

    # --- other targets
    Case('energy-sparsity-list', lambda t: Energy(activation_sparsity=[0.5, 0.2]), TypeError,
         '`activation_sparsity`', '[0.5, 0.2]', 'default_sparsity'),
    Case('energy-sparsity-string', lambda t: Energy(activation_sparsity='fc1'), TypeError, '`activation_sparsity`',
         "'fc1'"),
    Case('energy-sparsity-above-one', lambda t: Energy(activation_sparsity={'fc1': 1.5}), ValueError,
         "`activation_sparsity['fc1']`", '1.5'),
    Case('energy-zero-gating-string', lambda t: Energy(zero_gating='no'), TypeError, '`zero_gating`', "'no'",
         '`zero_gating`: expected True or False'),
    Case('energy-level-costs-unknown-level', lambda t: Energy(level_costs={'L9': 1.0}), ValueError, '`level_costs`',
         "'L9'"),
    Case('energy-granularity', lambda t: Energy(granularity='group'), ValueError, '`granularity`', "'group'"),
    Case('systolic-rows-zero', lambda t: SystolicArray(rows=0, cols=8), ValueError, '`rows`', '=0'),
    Case('systolic-alpha-string', lambda t: SystolicArray(rows=8, cols=8, alpha='8'), TypeError, '`alpha`', "'8'"),
    Case('systolic-gamma-negative', lambda t: SystolicArray(rows=8, cols=8, gamma=-1), ValueError, '`gamma`', '-1'),
    Case('systolic-resources-of-another-target', lambda t: cb(SystolicArray(rows=8, cols=8), resources='DSP'),
         ValueError, '`resources`', "'DSP'"),
    Case('pim-mapping', lambda t: PIMArray(rows=8, cols=8, mapping='sdk2'), ValueError, '`mapping`', "'sdk2'"),
    Case('pim-weight-wider-than-array', lambda t: PIMArray(rows=8, cols=2, weight_bits=8), ValueError,
         '`weight_bits`', '=8'),
    Case('pim-rows-zero', lambda t: PIMArray(rows=0, cols=8), ValueError, '`rows`', '=0'),

    # --- hls4ml config readers
    Case('read-hls-config-model-keyword', lambda t: read_hls_config(CFG, model=dense_model()), TypeError, '`model`',
         'Sequential'),
    Case('read-hls-config-layers-string', lambda t: read_hls_config(CFG, layers='fc1'), TypeError, '`layers`', "'fc1'"),
    Case('read-hls-config-reuse-factor-word', lambda t: read_hls_config({'Model': {'ReuseFactor': 'two'}}), ValueError,
         "`hls_config['Model']['ReuseFactor']`", "'two'"),
    Case('read-hls-config-layer-name-list', lambda t: read_hls_config({'LayerName': ['fc1']}), ValueError,
         "`hls_config['LayerName']`", "['fc1']"),
    Case('read-hls-config-io-type', lambda t: read_hls_config(CFG, io_type='stream'), ValueError, '`io_type`',
         "'stream'"),
    Case('read-hls-config-hwprune-option-unknown', lambda t: read_hls_config({'Model': {'hwprune': {'pin': True}}}),
         ValueError, "`hls_config['Model']['hwprune']`", "{'pin': True}"),
    Case('read-hls-config-pin-strategy-string',
         lambda t: read_hls_config({'Model': {'hwprune': {'pin_strategy': 'yes'}}}),
         ValueError, "hwprune['pin_strategy']", "'yes'"),
    Case('load-hls-config-list', lambda t: load_hls_config([1]), TypeError, '`hls_config`', '[1]'),
    Case('load-hls-config-yaml-list', lambda t: load_hls_config(str(write(t / 'c.yml', '- 1\n'))), ValueError,
         '`hls_config`', 'c.yml'),
    Case('target-from-hls-config-strict-string', lambda t: target_from_hls_config(CFG, strict='no'), TypeError,
         '`strict`', "'no'"),
    Case('parse-precision', lambda t: parse_precision_bits('fixed<a,b>'), ValueError, '`precision`', "'fixed<a,b>'"),
    Case('pin-auto-precisions-auto', lambda t: pin_auto_precisions({'Model': {}}, precision='auto'), ValueError,
         '`precision`', "'auto'"),

    # --- Report and register_layer
    Case('report-layers-not-numbers', lambda t: hwprune.Report({'fc1': 3}), TypeError, "`layers['fc1']`", '=3'),
    Case('report-value-string', lambda t: hwprune.Report({'fc1': {'DSP': 'many'}}), TypeError,
         "`layers['fc1']['DSP']`", "'many'"),
    Case('report-from-dict-without-layers', lambda t: hwprune.Report.from_dict({'total': {}}), ValueError, '`data`',
         "{'total': {}}"),
    Case('report-unknown-resource', lambda t: hwprune.Report({'fc1': {'DSP': 1.0}})['LUT'], KeyError, '`resource`',
         "'LUT'"),
    Case('report-compare-dict', lambda t: hwprune.Report({'fc1': {'DSP': 1.0}}).compare({'fc1': {'DSP': 2.0}}),
         TypeError, '`before`', "{'fc1': {'DSP': 2.0}}"),
    Case('report-to-dataframe-details-string', lambda t: hwprune.Report({'fc1': {'DSP': 1.0}}).to_dataframe('no'),
         TypeError, '`details`', "'no'"),
    Case('comparison-to-dataframe-total-string',
         lambda t: hwprune.Report({'fc1': {'DSP': 1.0}}).compare(hwprune.Report({'fc1': {'DSP': 2.0}})).to_dataframe(
             total='false'), TypeError, '`total`', "'false'"),
    Case('register-layer-class-name', lambda t: hwprune.register_layer('Dense', kind='dense'), TypeError, '`cls`',
         "'Dense'"),
    Case('register-layer-kind', lambda t: hwprune.register_layer(MyDense, kind='dense3'), ValueError, '`kind`',
         "'dense3'"),
    Case('register-layer-kernel-not-a-name', lambda t: hwprune.register_layer(MyDense, kind='dense', kernel=3),
         TypeError, '`kernel`', '=3'),

    # --- the command line: exit status 2, one line, no traceback
    Case('cli-unknown-command', cli('frobnicate'), CommandLineError, 'command', "'frobnicate'"),
    Case('cli-job-missing', cli('run', 'missing.yaml'), CommandLineError, '`job`', "'missing.yaml'",
         '`job`: expected the path of an existing YAML job file'),
    Case('cli-job-malformed-yaml', cli('run', 'job.yaml', files={'job.yaml': 'pruning: [1, 2'}), CommandLineError,
         '`job`', "'job.yaml'", '`job`: expected a readable YAML file'),
    Case('cli-job-not-a-mapping', cli('run', 'job.yaml', files={'job.yaml': '- a list'}), CommandLineError, '`job`',
         "'job.yaml'", 'a YAML mapping'),
    Case('cli-job-unknown-section', cli('run', 'job.yaml', files={'job.yaml': 'trainig: {epochs: 3}'}),
         CommandLineError, '`job`', "'trainig'", '`job`: expected keys among'),
    Case('cli-job-unknown-key', cli('run', 'job.yaml', files={'job.yaml': 'training: {epoks: 3}'}), CommandLineError,
         "`job['training']`", "'epoks'"),
    Case('cli-job-epochs-not-an-integer', cli('run', 'job.yaml', files={'job.yaml': 'training: {epochs: ten}'}),
         CommandLineError, "`job['training']['epochs']`", "'ten'", 'expected an integer'),
    Case('cli-job-epochs-negative', cli('run', 'job.yaml', files={'job.yaml': 'training: {epochs: -3}'}),
         CommandLineError, "`job['training']['epochs']`", '=-3'),
    Case('cli-job-end-word', cli('run', 'job.yaml', files={'job.yaml': 'pruning: {end: soon}'}), CommandLineError,
         "`job['pruning']['end']`", "'soon'", "expected an epoch number or 'auto'"),
    Case('cli-job-boolean-string', cli('run', 'job.yaml', files={'job.yaml': 'compile: "no"'}), CommandLineError,
         "`job['compile']`", "'no'"),
    Case('cli-job-output-dir-names-a-file',
         cli('run', 'job.yaml', files={'job.yaml': 'output_dir: out.txt\n', 'out.txt': 'x'}), CommandLineError,
         "`job['output_dir']`", "'out.txt'"),
    Case('cli-job-csv-missing', cli('run', 'job.yaml', files={'job.yaml': 'data: {source: csv, path: jets.csv}\n'}),
         CommandLineError, '`path`', "'jets.csv'"),
    Case('cli-job-hls-config-missing', cli('run', 'job.yaml', files={'job.yaml': JOB + 'hls: {config: cfg.yml}\n'}),
         CommandLineError, '`hls_config`', "'cfg.yml'"),
    Case('cli-job-resource-unknown',
         cli('run', 'job.yaml', files={'job.yaml': JOB + 'pruning: {resources: [LUT]}\n'}), CommandLineError,
         '`resources`', "'LUT'"),
    Case('cli-report-model-missing', cli('report', 'missing.keras', 'cfg.yml', files={'cfg.yml': 'Model: {}'}),
         CommandLineError, '`model`', "'missing.keras'", '`model`: expected the path of a saved Keras model'),
    Case('cli-report-model-not-a-model',
         cli('report', 'bad.keras', 'cfg.yml', files={'cfg.yml': 'Model: {}', 'bad.keras': 'garbage'}),
         CommandLineError, '`model`', "'bad.keras'"),
    Case('cli-report-config-missing', cli('report', 'model.keras', 'missing.yml'), CommandLineError, '`hls_config`',
         "'missing.yml'"),
    Case('cli-report-config-malformed', cli('report', 'model.keras', 'cfg.yml', files={'cfg.yml': 'Model: [1, 2'}),
         CommandLineError, '`hls_config`', "'cfg.yml'"),
]


@pytest.mark.parametrize('case', CASES, ids=[case.id for case in CASES])
def test_a_bad_input_is_named(case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(case.error) as caught:
        case.run(tmp_path)
    message = caught.value.args[0] if caught.value.args else str(caught.value)
    assert '\n' not in message.strip() and '\x1b' not in message, message  # one line, as the CLI prints it
    assert case.argument in message, message
    assert case.expected in message, message
    assert case.value.replace('{tmp}', str(tmp_path)) in message, message


def test_the_table_covers_every_public_entry_point():
    assert len(CASES) >= 55 and len({case.id for case in CASES}) == len(CASES)
    prefixes = {case.id.split('-')[0] for case in CASES}
    assert {'callback', 'fit', 'polynomial', 'constant', 'estimate', 'strip', 'convert', 'knapsack', 'fpga', 'energy',
            'systolic', 'pim', 'read', 'report', 'register', 'cli'} <= prefixes


# ------------------------------------------------------------------ the command line as a program


def _program(tmp_path, *args):
    return subprocess.run([sys.executable, '-m', 'hwprune', *args], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '3'}, timeout=300)


def test_python_dash_m_hwprune_reports_one_line_and_debug_the_traceback(tmp_path):
    plain = _program(tmp_path, 'run', 'missing.yaml')
    assert plain.returncode == 2 and 'Traceback' not in plain.stderr, plain.stderr[-2000:]
    assert plain.stderr.strip().splitlines() == [
        "hwprune run: error: Invalid value for argument `job`: expected the path of an existing YAML job file. "
        "Received: job='missing.yaml'"]
    debug = _program(tmp_path, '--debug', 'run', 'missing.yaml')
    assert debug.returncode != 0 and 'Traceback (most recent call last)' in debug.stderr, debug.stderr[-2000:]
    assert debug.stderr.strip().splitlines()[-1].startswith('FileNotFoundError: Invalid value for argument `job`')
