"""The pruning step over numpy arrays (``hwprune.pruning.Pruner``): no TensorFlow involved."""

import subprocess
import sys

import numpy as np
import pytest

from hwprune.layouts import neuron_layout, unstructured_layout
from hwprune.pruning import (PrunedLayer, Pruner, dead_units, input_mask, output_mask, sparsity, unread_units)
from hwprune.targets.base import LayerInfo, LayerModel, Target
from hwprune.targets.fpga import FPGALayerSettings, FPGATarget


class Params(Target):
    """One group per weight, each costs 1 'params' and 2 'bits'."""

    name = 'params'
    resources = ('params', 'bits')

    def build_layer_model(self, info, resources):
        layout = unstructured_layout(info.kind, info.kernel_shape)
        costs = {'params': np.ones(layout.n_groups), 'bits': np.full(layout.n_groups, 2.0)}
        return LayerModel(info, layout, np.stack([costs[r] for r in resources], axis=1), resources)


class NoWeights(Params):
    name = 'noweights'
    supports_weighted = False


def layer(target, name, shape, resources=('params',), **kwargs):
    info = LayerInfo(name, 'dense', shape)
    return PrunedLayer(info, target.layer_model(info, resources), **kwargs)


def test_core_modules_import_no_tensorflow():
    code = ("import sys, hwprune.pruning, hwprune.guard, hwprune.state, hwprune.kinds, hwprune.targets.hls_config; "
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == 'False'


def test_step_keeps_the_largest_weights_within_capacity():
    target = Params()
    pruner = Pruner(target, [layer(target, 'a', (3, 2))], protect_outputs=False, normalization='none')
    kernel = np.array([[5.0, -1.0], [0.5, 4.0], [-3.0, 2.0]])
    result = pruner.step([kernel], capacity=[3])
    assert np.array_equal(result.masks[0] != 0, np.abs(kernel) >= 3.0)
    assert pruner.layers[0].keep.sum() == 3
    assert pruner.usage([kernel * result.masks[0]]).tolist() == [[3.0]]


def test_activation_importance_keeps_the_weights_on_loud_inputs():
    """Equal weights: the step keeps those reading the loud input; a layer without measured inputs
    (None) is scored by its weights."""
    target = Params()
    pruner = Pruner(target, [layer(target, 'a', (2, 2)), layer(target, 'b', (2, 2))], protect_outputs=False,
                    importance='activation', normalization='none')
    kernels = [np.ones((2, 2)), np.array([[1.0, 1.0], [3.0, 3.0]])]
    result = pruner.step(kernels, capacity=[4], input_rms=[np.array([0.01, 100.0]), None])
    assert result.masks[0].tolist() == [[0.0, 0.0], [1.0, 1.0]]     # input 1 is the loud one
    assert result.masks[1].tolist() == [[0.0, 0.0], [1.0, 1.0]]     # by magnitude
    with pytest.raises(ValueError, match='`input_rms`'):
        pruner.step(kernels, capacity=[4])
    with pytest.raises(ValueError, match='`input_rms`.*one entry per layer'):
        pruner.step(kernels, capacity=[4], input_rms=[None])
    by_weights = Pruner(target, [layer(target, 'a', (2, 2))], protect_outputs=False, importance='l2')
    with pytest.raises(ValueError, match="`input_rms`.*None for importance='l2'"):
        by_weights.step([np.ones((2, 2))], capacity=[2], input_rms=[np.ones(2)])


def test_activation_importance_of_a_producer_counts_how_much_its_consumer_reads():
    """Equal weights and inputs in 'a': the step keeps the unit its consumer 'b' reads most; without
    the link (the consumer unknown), 'a' is scored by its inputs alone and the knapsack cannot tell."""
    target = Params()

    def pruner(links):
        return Pruner(target, [layer(target, 'a', (2, 2)), layer(target, 'b', (2, 1))], links, protect_outputs=False,
                      importance='activation', normalization='max')

    kernels = [np.ones((2, 2)), np.array([[0.1], [2.0]])]           # b reads a's unit 1 twenty times harder
    rms = [np.ones(2), np.ones(2)]
    linked = pruner([(0, 1)])
    result = linked.step(kernels, capacity=[3], input_rms=rms)
    assert result.masks[0].tolist() == [[0.0, 1.0], [0.0, 1.0]]     # unit 1 of 'a' kept, unit 0 pruned
    assert result.masks[1].tolist() == [[0.0], [1.0]]                # and b's weight reading it
    _, scores = linked._live_scores(kernels, [None, None], [np.zeros(2, bool)] * 2, input_rms=rms)
    np.testing.assert_allclose(scores[0], np.sqrt([0.1, 2.0, 0.1, 2.0]) / np.sqrt(2.0))   # one group per weight, row-major
    _, unlinked = pruner([])._live_scores(kernels, [None, None], [np.zeros(2, bool)] * 2, input_rms=rms)
    np.testing.assert_allclose(unlinked[0], np.ones(4))


def test_step_without_regrowth_never_revives_a_pruned_group():
    target = Params()
    pruner = Pruner(target, [layer(target, 'a', (2, 2))], protect_outputs=False)
    first = pruner.step([np.array([[1.0, 2.0], [3.0, 4.0]])], capacity=[2]).masks[0]
    # the pruned weights are large now (as if trained back), but stay pruned
    second = pruner.step([np.array([[9.0, 9.0], [3.0, 4.0]]) * first], capacity=[4]).masks[0]
    assert np.array_equal(second, first)
    regrow = Pruner(target, [layer(target, 'a', (2, 2))], protect_outputs=False, regrowth=True)
    regrow.step([np.array([[1.0, 2.0], [3.0, 4.0]])], capacity=[2])
    assert regrow.step([np.array([[9.0, 9.0], [3.0, 4.0]])], capacity=[2]).masks[0].tolist() == [[1, 1], [0, 0]]


def test_dead_units_release_their_consumers_budget_and_are_folded():
    """Unit 0 of ``a`` loses every weight: ``b``'s weight reading it is worth nothing and the fold
    hook is asked for exactly that unit; its consumer weight is masked."""
    target = Params()
    a, b = layer(target, 'a', (2, 3)), layer(target, 'b', (3, 1))
    pruner = Pruner(target, [a, b], links=[(0, 1)], protect_outputs=False, normalization='none')
    ka = np.array([[0.01, 5.0, 4.0], [0.01, 5.0, 4.0]])  # unit 0 of `a` is weak
    kb = np.array([[2.0], [8.0], [7.0]])
    calls = []

    def fold(p, c, units):
        calls.append((p, c, units.tolist()))
        return True

    result = pruner.step([ka, kb], capacity=[6], fold=fold)
    assert calls == [(0, 1, [True, False, False])]
    assert result.masks[0].tolist() == [[0, 1, 1], [0, 1, 1]]
    assert result.masks[1].ravel().tolist() == [0, 1, 1]  # row 0 reads the folded constant
    assert b.dead_inputs.tolist() == [True, False, False]
    assert result.rounds == 2


def test_units_dead_after_a_fold_are_folded_in_turn(monkeypatch):
    """Unit 0 of ``b`` keeps one weight, reading ``a``'s dead unit 0: once that is folded, ``b``'s
    unit 0 emits a constant too and is folded into ``c`` in the same step."""
    import hwprune.pruning as pruning
    monkeypatch.setattr(pruning, 'DEAD_UNIT_ROUNDS', 1)  # no second selection round to find it
    target = Params()
    a, b, c = layer(target, 'a', (2, 2)), layer(target, 'b', (2, 2)), layer(target, 'c', (2, 1))
    pruner = Pruner(target, [a, b, c], links=[(0, 1), (1, 2)], protect_outputs=False, normalization='none')
    ka = np.array([[0.01, 5.0], [0.01, 5.0]])
    kb = np.array([[9.0, 0.02], [0.02, 5.0]])
    kc = np.array([[3.0], [4.0]])
    calls = []

    def fold(p, c, units):
        calls.append((p, c, units.tolist()))
        return True

    result = pruner.step([ka, kb, kc], capacity=[6], fold=fold)
    assert calls == [(0, 1, [True, False]), (1, 2, [True, False])]
    assert result.masks[1].tolist() == [[0, 0], [0, 1]]
    assert result.masks[2].ravel().tolist() == [0, 1]
    assert c.dead_inputs.tolist() == [True, False]


def test_selection_rounds_keep_the_best_one(monkeypatch):
    """When the rounds move freed budget around without settling, the step keeps the round whose
    groups are worth most, and drops what units nobody reads still hold."""
    import hwprune.pruning as pruning
    target = Params()
    a, b = layer(target, 'a', (2, 3)), layer(target, 'b', (3, 1))
    pruner = Pruner(target, [a, b], links=[(0, 1)], protect_outputs=False, normalization='none')
    worths = []
    real = pruning.Pruner._worth

    def spy(self, scores, masks):
        worths.append(real(self, scores, masks))
        return worths[-1]

    monkeypatch.setattr(pruning.Pruner, '_worth', spy)
    ka = np.array([[1.0, 1.0, 8.0], [1.0, 1.0, 8.0]])
    kb = np.array([[5.0], [5.0], [0.01]])
    result = pruner.step([ka, kb], capacity=[5])
    used = sum(float(np.sum(np.abs(k) * (m != 0))) for k, m in zip([ka, kb], result.masks))
    assert used == pytest.approx(max(worths))
    for m, following in ((result.masks[0], result.masks[1]), ):
        assert np.array_equal(np.any(m != 0, axis=0), np.any(following != 0, axis=1))  # no unit unread


def test_unfoldable_dead_units_keep_their_consumer_weights():
    target = Params()
    a, b = layer(target, 'a', (2, 3)), layer(target, 'b', (3, 1))
    pruner = Pruner(target, [a, b], links=[(0, 1)], protect_outputs=False, normalization='none')
    result = pruner.step([np.array([[0.01, 5.0, 4.0], [0.01, 5.0, 4.0]]), np.array([[2.0], [8.0], [7.0]])],
                         capacity=[6], fold=lambda p, c, units: False)
    assert not b.dead_inputs.any()
    assert result.masks[0][:, 0].tolist() == [0, 0]      # unit 0 of `a` is still pruned
    assert result.masks[1].ravel().tolist() == [0, 1, 1]  # pruned by selection, not by a fold


def test_unread_units_are_pruned_whole():
    target = Params()
    a, b = layer(target, 'a', (2, 3)), layer(target, 'b', (3, 1))
    pruner = Pruner(target, [a, b], links=[(0, 1)], protect_outputs=False, normalization='none')
    ka = np.array([[1.0, 1.0, 8.0], [1.0, 1.0, 8.0]])
    kb = np.array([[5.0], [5.0], [0.01]])         # nobody reads unit 2 of `a` once kb[2] goes
    result = pruner.step([ka, kb], capacity=[5])
    assert not result.masks[1][2].any()
    assert not result.masks[0][:, 2].any()         # unit 2's large weights hold no budget


def test_protect_outputs_keeps_a_path_to_every_output_unit():
    target = Params()
    a, b = layer(target, 'a', (2, 2)), layer(target, 'b', (2, 3), is_output=True)
    pruner = Pruner(target, [a, b], links=[(0, 1)], normalization='none')
    ka = np.array([[1.0, 0.2], [1.0, 0.1]])
    kb = np.array([[9.0, 0.3, 0.1], [0.2, 0.2, 0.1]])
    masks = pruner.step([ka, kb], capacity=[4]).masks
    assert all(masks[1][:, j].any() for j in range(3))          # every class keeps a weight
    reads = np.flatnonzero(masks[1].any(axis=1))
    assert all(masks[0][:, unit].any() for unit in reads)        # ... and what it reads is alive


class UnitsOfB(Params):
    """Layer 'b' in one group per output unit (it reads all its inputs in one group), others per weight."""

    name = 'units-of-b'

    def build_layer_model(self, info, resources):
        if info.name != 'b':
            return super().build_layer_model(info, resources)
        layout = neuron_layout(info.kind, info.kernel_shape)
        return LayerModel(info, layout, np.ones((layout.n_groups, len(resources))), resources)


def test_a_protected_path_goes_on_through_the_largest_weight_of_a_group():
    """The output b is one group reading both units of a; b reads a's unit 1 five hundred times
    harder than unit 0, so the path to b's output goes through unit 1 although a's larger weights
    are on unit 0."""
    target = UnitsOfB()
    a, b = layer(target, 'a', (2, 2)), layer(target, 'b', (2, 1), is_output=True)
    pruner = Pruner(target, [a, b], links=[(0, 1)], normalization='none')
    ka = np.array([[1.2, 0.1], [1.2, 0.1]])
    kb = np.array([[0.01], [5.0]])
    masks = pruner.step([ka, kb], capacity=[2]).masks               # b's group and one weight of a
    assert masks[1].all()
    assert masks[0].tolist() == [[0.0, 1.0], [0.0, 0.0]]


def test_weighted_resources_are_one_constraint():
    target = Params()
    layers = [layer(target, 'a', (2, 2), resources=('params', 'bits'))]
    pruner = Pruner(target, layers, protect_outputs=False, weights={'params': 1.0, 'bits': 1.0})
    assert pruner.constrained == ('weighted',) and pruner.reported == ('weighted', 'params', 'bits')
    kernel = np.array([[4.0, 3.0], [2.0, 1.0]])
    masks = pruner.step([kernel], capacity=[6]).masks  # each weight costs 1 + 2
    assert (masks[0] != 0).sum() == 2
    assert pruner.usage([kernel * masks[0]]).tolist() == [[6.0, 2.0, 4.0]]


def test_weighted_resources_are_refused_once_by_targets_that_cannot_select_them():
    target = NoWeights()
    with pytest.raises(TypeError, match="target 'noweights' does not support weighted resource dicts"):
        Pruner(target, [layer(target, 'a', (2, 2), resources=('params', 'bits'))], weights={'params': 1, 'bits': 1})


def test_fpga_latency_step_meets_the_dsp_budget():
    target = FPGATarget(default=FPGALayerSettings(reuse_factor=2, strategy='latency'))
    rng = np.random.default_rng(0)
    infos = [LayerInfo('fc1', 'dense', (16, 8)), LayerInfo('fc2', 'dense', (8, 4))]
    layers = [PrunedLayer(i, target.layer_model(i, ('DSP',)), is_output=i.name == 'fc2') for i in infos]
    pruner = Pruner(target, layers, links=[(0, 1)])
    kernels = [rng.normal(size=i.kernel_shape) for i in infos]
    initial = pruner.usage(kernels).sum(axis=0)
    masks = pruner.step(kernels, capacity=0.3 * initial).masks
    assert pruner.usage([k * m for k, m in zip(kernels, masks)]).sum() <= 0.3 * initial[0] + 1e-9


def test_step_validates_its_inputs():
    target = Params()
    pruner = Pruner(target, [layer(target, 'a', (2, 2))])
    with pytest.raises(ValueError, match='kernel shape'):
        pruner.step([np.ones((3, 2))], capacity=[1])
    with pytest.raises(ValueError, match='NaN or inf'):
        pruner.step([np.array([[np.nan, 1.0], [1.0, 1.0]])], capacity=[1])
    with pytest.raises(ValueError, match='one value per constrained resource'):
        pruner.step([np.ones((2, 2))], capacity=[1, 2])
    taylor = Pruner(target, [layer(target, 'a', (2, 2))], importance='taylor')
    with pytest.raises(ValueError, match='gradients'):
        taylor.step([np.ones((2, 2))], capacity=[1])
    with pytest.raises(ValueError, match='links'):
        Pruner(target, [layer(target, 'a', (2, 2))], links=[(0, 0)])


def test_state_round_trip_and_mismatch():
    target = Params()
    pruner = Pruner(target, [layer(target, 'a', (2, 2))], protect_outputs=False)
    pruner.step([np.array([[1.0, 2.0], [3.0, 4.0]])], capacity=[2])
    state = pruner.get_state()
    other = Pruner(target, [layer(target, 'a', (2, 2))])
    other.set_state(state)
    assert np.array_equal(other.layers[0].keep, pruner.layers[0].keep)
    with pytest.raises(ValueError, match='another model'):
        Pruner(target, [layer(target, 'a', (3, 2))]).set_state(state)
    with pytest.raises(ValueError, match='layers'):
        Pruner(target, [layer(target, 'b', (2, 2))]).set_state(state)


def test_mask_helpers():
    mask = np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    assert dead_units(mask).tolist() == [False, True, False]
    assert unread_units(mask.T).tolist() == [False, True, False]
    assert output_mask((2, 3), np.array([False, True, False])).tolist() == [[1, 0, 1], [1, 0, 1]]
    assert input_mask((2, 3), np.array([True, False])).tolist() == [[0, 0, 0], [1, 1, 1]]
    assert sparsity([mask]) == pytest.approx(0.5)
    neuron = PrunedLayer(LayerInfo('dw', 'depthwise2d', (3, 3, 4, 1)),
                         LayerModel(LayerInfo('dw', 'depthwise2d', (3, 3, 4, 1)),
                                    neuron_layout('depthwise2d', (3, 3, 4, 1)), np.ones(4), ('params',)))
    assert neuron.n_units == 4 and neuron.dead_inputs.shape == (4,)
