import numpy as np
import pytest

from hwprune.importance import group_importance, normalize, output_norms
from hwprune.layouts import dsp_layout, neuron_layout


def test_l1_l2_taylor_per_group():
    kernel = np.array([[1.0, -2.0], [-3.0, 4.0], [0.0, 1.0]])  # 3 inputs, 2 neurons
    layout = neuron_layout('dense', kernel.shape)
    np.testing.assert_allclose(group_importance(kernel, layout, 'l1'), [4.0, 7.0])
    np.testing.assert_allclose(group_importance(kernel, layout, 'l2'), [np.sqrt(10), np.sqrt(21)])
    grad = np.array([[1.0, 0.0], [1.0, 0.5], [2.0, -1.0]])
    np.testing.assert_allclose(group_importance(kernel, layout, 'taylor', grad), [4.0, 3.0])


def test_activation_importance_weighs_each_weight_by_its_input():
    """A weight reading a silent input ranks below an equal weight reading a loud one; the weight
    counts by the square root of the input's RMS (ACTIVATION_EXPONENT)."""
    from hwprune.importance import ACTIVATION_EXPONENT
    assert ACTIVATION_EXPONENT == 0.5
    kernel = np.array([[1.0, 1.0], [1.0, 1.0], [-2.0, 0.0]])   # 3 inputs, 2 outputs
    per_weight = dsp_layout('dense', kernel.shape, 1)
    scores = group_importance(kernel, per_weight, 'activation', input_rms=[4.0, 0.01, 1.0]).reshape(2, 3)
    # groups enumerate W.T (output-major): output 0 reads inputs 0, 1, 2
    np.testing.assert_allclose(scores, [[2.0, 0.1, 2.0], [2.0, 0.1, 0.0]])
    assert scores[0, 1] < scores[0, 0]
    # a group sums the squares of its scaled weights
    neuron = neuron_layout('dense', kernel.shape)
    np.testing.assert_allclose(group_importance(kernel, neuron, 'activation', input_rms=[4.0, 0.0, 1.0]),
                               [np.sqrt(4 + 0 + 4), np.sqrt(4)])
    # all inputs at RMS 1: the plain L2 norm
    np.testing.assert_allclose(group_importance(kernel, neuron, 'activation', input_rms=np.ones(3)),
                               group_importance(kernel, neuron, 'l2'))


def test_activation_importance_of_a_convolution_shares_a_channel_over_its_taps():
    kernel = np.ones((3, 3, 2, 4))                            # 3x3 taps, 2 input channels, 4 filters
    layout = neuron_layout('conv2d', kernel.shape)            # one group per filter
    scores = group_importance(kernel, layout, 'activation', input_rms=[9.0, 0.0])
    np.testing.assert_allclose(scores, np.sqrt(9 * 3.0 ** 2) * np.ones(4))


def test_activation_importance_weighs_each_output_by_how_much_the_next_layer_reads_it():
    """An output the next layer barely reads is worth little; by the square root of the norm of
    the next layer's weights on it (OUTPUT_EXPONENT)."""
    from hwprune.importance import OUTPUT_EXPONENT
    assert OUTPUT_EXPONENT == 0.5
    kernel = np.ones((2, 3))                                  # 2 inputs, 3 outputs
    neuron = neuron_layout('dense', kernel.shape)
    reads = output_norms(np.array([[3.0, 4.0], [0.0, 0.0], [0.0, 0.25]]))   # the next layer: 3 inputs
    np.testing.assert_allclose(reads, [5.0, 0.0, 0.25])
    scores = group_importance(kernel, neuron, 'activation', input_rms=[1.0, 1.0], output_norm=reads)
    np.testing.assert_allclose(scores, np.sqrt(2.0) * np.sqrt([5.0, 0.0, 0.25]))
    # per weight: input and output factors multiply
    per_weight = dsp_layout('dense', kernel.shape, 1)
    got = group_importance(kernel, per_weight, 'activation', input_rms=[4.0, 1.0], output_norm=reads).reshape(3, 2)
    np.testing.assert_allclose(got, np.sqrt([[4.0 * 5.0, 5.0], [0.0, 0.0], [4.0 * 0.25, 0.25]]))
    # the next layer a convolution: a channel's norm over every tap and filter reading it
    np.testing.assert_allclose(output_norms(np.ones((3, 3, 2, 4))), [6.0, 6.0])
    with pytest.raises(ValueError, match='`output_norm`.*one value per output unit'):
        group_importance(kernel, neuron, 'activation', input_rms=[1.0, 1.0], output_norm=[1.0, 1.0])
    with pytest.raises(ValueError, match='`output_norm`'):
        group_importance(kernel, neuron, 'activation', input_rms=[1.0, 1.0], output_norm=[1.0, -1.0, 1.0])
    with pytest.raises(ValueError, match='`consumer_kernel`'):
        output_norms(np.ones(3))


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
    (lambda: group_importance(np.ones((2, 2)), neuron_layout('dense', (2, 2)), 'activation'), 'input_rms'),
    (lambda: group_importance(np.ones((2, 2)), neuron_layout('dense', (2, 2)), 'activation', input_rms=[1.0]),
     'input_rms'),
    (lambda: group_importance(np.ones((2, 2)), neuron_layout('dense', (2, 2)), 'activation',
                              input_rms=[1.0, -1.0]), 'input_rms'),
    (lambda: group_importance(np.ones((2, 2)), neuron_layout('dense', (2, 2)), 'l2', input_rms=[1.0, 1.0]),
     'input_rms'),
    (lambda: group_importance(np.ones((2, 2)), neuron_layout('dense', (2, 2)), 'l1', output_norm=[1.0, 1.0]),
     'output_norm'),
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
