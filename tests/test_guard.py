"""The accuracy guard (``hwprune.guard``) and the saved state (``hwprune.state``), without TensorFlow."""

import numpy as np
import pytest

from hwprune.guard import AccuracyGuard, Snapshot, default_mode
from hwprune.state import load_state, save_state


def test_baseline_from_the_first_epoch_before_pruning():
    guard = AccuracyGuard('val_accuracy', tolerance=0.1)
    assert guard.observe(0.8, 10.0, [1.0], lambda: 'a', pruned=False).within
    assert guard.baseline == 0.8
    with pytest.raises(ValueError, match='baseline measured before pruning'):
        AccuracyGuard('val_accuracy').observe(0.8, 10.0, [1.0], lambda: 'a', pruned=True)


def test_stop_freezes_at_the_last_fractions_within_tolerance_and_keeps_the_cheapest():
    guard = AccuracyGuard('val_accuracy', tolerance=0.05, baseline=0.9)
    guard.start(Snapshot(np.inf, None, [1.0], 'start'))
    assert guard.observe(0.89, 50.0, [0.5], lambda: 'at50').within
    assert guard.observe(0.87, 40.0, [0.4], lambda: 'at40').within
    verdict = guard.observe(0.70, 20.0, [0.2], lambda: 'at20')
    assert not verdict.within and verdict.froze and verdict.restore is None
    assert guard.frozen.tolist() == [0.4]
    assert guard.apply_freeze(np.array([0.1])).tolist() == [0.4]
    assert guard.best.payload == 'at40'
    assert not guard.observe(0.71, 20.0, [0.2], lambda: 'again').froze  # frozen once
    assert guard.final(restore_best=True).payload == 'at40'
    assert guard.final(restore_best=False) is None


def test_rollback_returns_to_the_last_state_within_tolerance():
    guard = AccuracyGuard('val_loss', tolerance=0.1, action='rollback', baseline=1.0)
    assert guard.mode == 'min' and default_mode('val_accuracy') == 'max'
    assert guard.observe(1.05, 30.0, [0.6], lambda: 'ok').within
    verdict = guard.observe(1.5, 10.0, [0.3], lambda: 'bad')
    assert verdict.within and verdict.restore.payload == 'ok'
    assert guard.final(restore_best=True) is None  # the restored state is within tolerance


def test_snapshots_are_taken_only_when_needed():
    taken = []
    guard = AccuracyGuard('acc', baseline=1.0, tolerance=0.0)
    guard.observe(0.5, 1.0, [1.0], lambda: taken.append(1))
    assert taken == []


def test_guard_validates_arguments():
    with pytest.raises(TypeError, match='monitor'):
        AccuracyGuard(3)
    with pytest.raises(ValueError, match='guard'):
        AccuracyGuard('acc', action='undo')
    with pytest.raises(ValueError, match='mode'):
        AccuracyGuard('acc', mode='up')


def test_state_file_round_trip(tmp_path):
    path = tmp_path / 'run' / 'state.npz'
    state = {'layers': ['a', 'b'], 'masks': [np.ones((2, 2)), np.zeros(3)], 'keeps': [np.ones(4, bool), np.ones(3, bool)],
             'dead_inputs': [np.zeros(2, bool), np.ones(1, bool)], 'initial_usage': np.array([4.0, 1.0]),
             'pruning_steps': 2, 'baseline': None, 'frozen': None, 'history': [{'step': 0}], 'epoch': 5}
    save_state(path, state)
    loaded = load_state(path)
    assert loaded['layers'] == ['a', 'b'] and loaded['epoch'] == 5 and loaded['initial_usage'] == [4.0, 1.0]
    assert np.array_equal(loaded['dead_inputs'][1], [True])
    assert not list(tmp_path.joinpath('run').glob('*.tmp.npz'))


def test_state_files_that_are_not_states_are_named(tmp_path):
    bad = tmp_path / 'bad.npz'
    bad.write_bytes(b'not a zip file')
    with pytest.raises(ValueError, match='a state file written by hwprune'):
        load_state(bad)
    with pytest.raises(FileNotFoundError, match='an existing state file'):
        load_state(tmp_path / 'missing.npz')
    with pytest.raises(ValueError, match='it names a directory'):
        save_state(tmp_path, {'layers': []})
