"""Hostile-user cases: no silent no-ops, every bad input named early, no surprise on import."""

import copy
import logging

import numpy as np
import pytest
import tensorflow as tf

import hwprune
from hwprune.targets import Energy, FPGALayerSettings, FPGATarget

from test_callback import data, dense_model, target

keras = tf.keras


# ------------------------------------------------------------------ silent no-ops


def test_a_polynomial_budget_without_decay_prunes_to_its_final_fraction():
    budget = hwprune.PolynomialBudget(final=0.2, begin=3, end=3)
    assert budget(2) == 1.0 and budget(3) == 0.2 and budget(9) == 0.2
    assert [s for s in range(6) if budget.should_prune(s)] == [3]
    x, y = data(128)
    cb = hwprune.HardwarePruning(target(), budget=hwprune.PolynomialBudget(final=0.3, begin=0, end=0), verbose=0)
    dense_model().fit(x, y, epochs=1, batch_size=64, callbacks=[cb], verbose=0)
    assert cb.usage()['DSP'] <= 0.3 * cb.initial_usage[0] + 1e-9


def test_a_budget_pruning_cannot_reduce_is_named(caplog):
    x, y = data(128)
    latency = FPGATarget(default=FPGALayerSettings(reuse_factor=2, strategy='latency'))
    with caplog.at_level(logging.WARNING, logger='hwprune'):
        cb = hwprune.HardwarePruning(latency, resources=['DSP', 'BRAM'], budget=0.5, verbose=0)
        dense_model().fit(x, y, epochs=1, callbacks=[cb], verbose=0)
    assert 'pruning cannot reduce BRAM' in caplog.text and 'BRAM ROM only under Resource' in caplog.text
    with pytest.raises(ValueError, match='a resource that pruning can reduce'):
        dense_model().fit(x, y, epochs=1, verbose=0,
                          callbacks=[hwprune.HardwarePruning(latency, resources='BRAM', verbose=0)])
    narrow = FPGATarget(default=FPGALayerSettings(reuse_factor=2, strategy='latency', weight_bits=6))
    with pytest.raises(ValueError, match='narrower than 9 bits'):
        dense_model().fit(x, y, epochs=1, verbose=0, callbacks=[hwprune.HardwarePruning(narrow, verbose=0)])
    with pytest.raises(ValueError, match='at least one above 0'):
        hwprune.HardwarePruning(target(), resources={'DSP': 0, 'BRAM': 0})


def test_a_second_fit_keeps_the_budget_of_the_first(caplog):
    x, y = data(256)
    model = dense_model()
    cb = hwprune.HardwarePruning(target(), budget=hwprune.ConstantBudget(0.5), verbose=0)
    model.fit(x, y, epochs=1, batch_size=64, callbacks=[cb], verbose=0)
    first = cb.initial_usage.copy()
    with caplog.at_level(logging.WARNING, logger='hwprune'):
        model.fit(x, y, epochs=1, batch_size=64, callbacks=[cb], verbose=0)
    assert np.array_equal(cb.initial_usage, first)  # not re-based on the pruned model
    assert 'already pruned this model' in caplog.text
    assert cb.usage()['DSP'] <= 0.5 * first[0] + 1e-9


# ------------------------------------------------------------------ wrong types, named early


@pytest.mark.parametrize('kwargs, error, match', [
    ({'resources': []}, ValueError, 'at least one resource name'),
    ({'resources': 5}, TypeError, 'a resource name'),
    ({'resources': {}}, TypeError, 'non-empty dict'),
    ({'monitor': 3}, TypeError, '`monitor`'),
    ({'layers': 'fc1'}, TypeError, r"a list of layer names, e.g. \['fc1'\]"),
    ({'restore_best': 'false'}, TypeError, '`restore_best`: expected True or False'),
    ({'regrowth': 'no'}, TypeError, '`regrowth`'),
    ({'protect_outputs': 1}, TypeError, '`protect_outputs`'),
    ({'fold_dead_units': None}, TypeError, '`fold_dead_units`'),
    ({'method': 'fastest'}, ValueError, '`method`'),
    ({'verbose': 'yes'}, TypeError, '`verbose`'),
])
def test_callback_arguments_are_checked_when_the_callback_is_made(kwargs, error, match):
    with pytest.raises(error, match=match):
        hwprune.HardwarePruning(target(), **kwargs)


def test_paths_of_the_wrong_kind_are_named(tmp_path):
    a_file = tmp_path / 'file.txt'
    a_file.write_text('x')
    with pytest.raises(ValueError, match='`log_dir`: expected a directory path'):
        hwprune.HardwarePruning(target(), log_dir=str(a_file))
    with pytest.raises(ValueError, match='`state_path`: expected a file path'):
        hwprune.HardwarePruning(target(), state_path=tmp_path)


def test_taylor_data_the_model_cannot_read_fails_before_training():
    x, y = data(64)
    model = dense_model()
    cb = hwprune.HardwarePruning(target(), importance='taylor', importance_data=(x[:, :8], y), verbose=0)
    with pytest.raises(ValueError, match='`importance_data`'):
        model.fit(x, y, epochs=1, callbacks=[cb], verbose=0)
    assert model.optimizer.iterations.numpy() == 0  # not a single training step


def test_energy_arguments():
    with pytest.raises(TypeError, match='`activation_sparsity`.*default_sparsity'):
        Energy(activation_sparsity=[0.5, 0.2])
    with pytest.raises(TypeError, match='`activation_sparsity`'):
        Energy(activation_sparsity='fc1')
    with pytest.raises(TypeError, match='`zero_gating`: expected True or False'):
        Energy(zero_gating='no')
    with pytest.raises(TypeError, match='`as_converted`'):
        FPGATarget(as_converted='false')
    with pytest.raises(TypeError, match='`pinned`'):
        FPGALayerSettings(pinned='yes')


def test_state_from_another_model_or_not_a_state_is_named(tmp_path):
    x, y = data(128)
    path = tmp_path / 'state.npz'
    model = dense_model()
    model.fit(x, y, epochs=1, verbose=0, callbacks=[hwprune.HardwarePruning(target(), state_path=path, verbose=0)])
    wider = keras.Sequential([keras.layers.Dense(40, activation='relu', input_shape=(16,), name='fc1'),
                              keras.layers.Dense(16, activation='relu', name='fc2'),
                              keras.layers.Dense(5, activation='softmax', name='out')])
    wider.compile('adam', 'sparse_categorical_crossentropy')
    with pytest.raises(ValueError, match="another model"):
        wider.fit(x, y, epochs=1, verbose=0, callbacks=[hwprune.HardwarePruning(target(), state_path=path, verbose=0)])
    path.write_bytes(b'garbage')
    with pytest.raises(ValueError, match='a state file written by hwprune'):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[hwprune.HardwarePruning(target(), state_path=path, verbose=0)])


# ------------------------------------------------------------------ convert


def test_convert_names_an_output_dir_it_cannot_write(tmp_path):
    pytest.importorskip('hls4ml')
    import hls4ml
    model = dense_model()
    cfg = hls4ml.utils.config_from_keras_model(model, granularity='name')
    a_file = tmp_path / 'file.txt'
    a_file.write_text('x')
    with pytest.raises(ValueError, match='`output_dir`: expected a directory path'):
        hwprune.convert(model, cfg, output_dir=str(a_file))
    with pytest.raises(ValueError, match='`output_dir`: expected a directory hls4ml can write'):
        hwprune.convert(model, cfg, output_dir=str(a_file / 'sub'))
    with pytest.raises(TypeError, match='`strip_model`'):
        hwprune.convert(model, cfg, strip_model='no', output_dir=str(tmp_path / 'p'))


def test_importing_hwprune_leaves_plain_hls4ml_conversions_alone(tmp_path):
    """A plain conversion of an unpruned Resource model after ``import hwprune`` is hls4ml's own."""
    hls4ml = pytest.importorskip('hls4ml')
    model = dense_model()
    cfg = hls4ml.utils.config_from_keras_model(model, granularity='name', default_reuse_factor=2)
    for entry in cfg['LayerName'].values():
        entry['Strategy'] = 'Resource'
    plain = hls4ml.converters.convert_from_keras_model(model, hls_config=copy.deepcopy(cfg),
                                                       output_dir=str(tmp_path / 'plain'))
    assert all(plain.graph[n].get_attr('strategy') == 'resource' for n in ('fc1', 'fc2', 'out'))
    ours = hwprune.convert(model, cfg, output_dir=str(tmp_path / 'ours'))
    assert ours.graph['fc1'].get_attr('strategy') == 'latency'  # hwprune.convert still chooses
    assert 'hwprune' not in cfg['Model']  # and never writes into the user's config


# ------------------------------------------------------------------ the command line


@pytest.mark.parametrize('files, args, match', [
    ({}, ['run', 'missing.yaml'], "`job`: expected the path of an existing YAML job file"),
    ({'job.yaml': 'pruning: [1, 2'}, ['run', 'job.yaml'], '`job`: expected a readable YAML file'),
    ({'job.yaml': 'trainig: {epochs: 3}'}, ['run', 'job.yaml'], '`job`: expected keys among'),
    ({'job.yaml': 'training: {epochs: ten}'}, ['run', 'job.yaml'], r"`job\['training'\]\['epochs'\]`: expected an integer"),
    ({'job.yaml': 'pruning: {end: soon}'}, ['run', 'job.yaml'], "expected an epoch number or 'auto'"),
    ({'job.yaml': '- a list'}, ['run', 'job.yaml'], 'a YAML mapping'),
    ({'cfg.yml': 'Model: {ReuseFactor: 2}'}, ['report', 'missing.keras', 'cfg.yml'],
     '`model`: expected the path of a saved Keras model'),
    ({}, ['report', 'model.keras', 'missing.yml'], '`hls_config`'),
])
def test_command_line_errors_are_one_line(tmp_path, files, args, match):
    import re
    import subprocess
    import sys
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    result = subprocess.run([sys.executable, '-m', 'hwprune.cli', *args], cwd=tmp_path, capture_output=True, text=True,
                            env={**__import__('os').environ, 'TF_CPP_MIN_LOG_LEVEL': '3'}, timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith('hwprune ')]
    assert len(errors) == 1 and 'Traceback' not in result.stderr, result.stderr[-2000:]
    assert re.search(match, errors[0]), errors[0]
