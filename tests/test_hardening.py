"""Hostile-user cases: no silent no-ops, every bad input named early, no surprise on import.

The table of bad inputs (every entry point and the command line) is tests/test_bad_inputs.py;
the cases here are behaviours a table cannot express.
"""

import copy
import logging

import numpy as np
import pytest

import hwprune
from hwprune.targets import FPGALayerSettings, FPGATarget

from test_callback import data, dense_model, target


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


# ------------------------------------------------------------------ bad data, named before training


def test_taylor_data_the_model_cannot_read_fails_before_training():
    x, y = data(64)
    model = dense_model()
    cb = hwprune.HardwarePruning(target(), importance='taylor', importance_data=(x[:, :8], y), verbose=0)
    with pytest.raises(ValueError, match='`importance_data`'):
        model.fit(x, y, epochs=1, callbacks=[cb], verbose=0)
    assert model.optimizer.iterations.numpy() == 0  # not a single training step


# ------------------------------------------------------------------ convert


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
