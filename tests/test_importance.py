import numpy as np
import pytest

from hwprune.importance import group_importance, normalize
from hwprune.layouts import dsp_layout, neuron_layout


def test_l1_l2_taylor_per_group():
    kernel = np.array([[1.0, -2.0], [-3.0, 4.0], [0.0, 1.0]])  # 3 inputs, 2 neurons
    layout = neuron_layout('dense', kernel.shape)
    np.testing.assert_allclose(group_importance(kernel, layout, 'l1'), [4.0, 7.0])
    np.testing.assert_allclose(group_importance(kernel, layout, 'l2'), [np.sqrt(10), np.sqrt(21)])
    grad = np.array([[1.0, 0.0], [1.0, 0.5], [2.0, -1.0]])
    np.testing.assert_allclose(group_importance(kernel, layout, 'taylor', grad), [4.0, 3.0])


def test_dsp_groups_follow_transposed_order():
    kernel = np.arange(1.0, 7.0).reshape(3, 2)  # W.T rows: [1,3,5], [2,4,6]
    scores = group_importance(kernel, dsp_layout('dense', kernel.shape, 3), 'l1')
    np.testing.assert_allclose(scores, [9.0, 12.0])


def test_normalize():
    np.testing.assert_allclose(normalize([2.0, 6.0], 'max'), [1 / 3, 1.0])
    np.testing.assert_allclose(normalize([2.0, 6.0], 'sum'), [0.25, 0.75])
    np.testing.assert_allclose(normalize([0.0, 0.0], 'mean'), [0.0, 0.0])
    np.testing.assert_allclose(normalize([2.0, 6.0], 'none'), [2.0, 6.0])


@pytest.mark.parametrize('call,argument', [
    (lambda: group_importance(np.ones((2, 2)), neuron_layout('dense', (2, 2)), 'l3'), 'method'),
    (lambda: group_importance(np.ones((2, 2)), neuron_layout('dense', (2, 2)), 'taylor'), 'gradient'),
    (lambda: group_importance(np.ones((2, 3)), neuron_layout('dense', (2, 2))), 'kernel'),
    (lambda: group_importance(np.full((2, 2), np.nan), neuron_layout('dense', (2, 2))), 'kernel'),
    (lambda: normalize([1.0, -1.0]), 'scores'),
    (lambda: normalize([1.0], 'median'), 'normalization'),
])
def test_bad_input(call, argument):
    with pytest.raises((ValueError, TypeError), match=f'`{argument}`.*Received'):
        call()


def test_max_normalization_does_not_lift_a_thinned_layer():
    """The survivors of a layer score the same under 'max' however many of its groups are pruned
    already (zeros); under 'mean' they rise with the pruned share, holding budget in thin layers."""
    survivors = np.array([0.5, 1.0, 2.0])
    thinned = np.concatenate([survivors, np.zeros(27)])
    assert np.allclose(normalize(thinned, 'max')[:3], normalize(survivors, 'max'))
    assert np.allclose(normalize(thinned, 'mean')[:3], 10 * normalize(survivors, 'mean'))


def test_the_pruner_normalises_by_the_max_by_default():
    import inspect
    from hwprune.pruning import Pruner
    assert inspect.signature(Pruner).parameters['normalization'].default == 'max'
