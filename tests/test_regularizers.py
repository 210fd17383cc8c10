import numpy as np
import pytest
import tensorflow as tf

from hwprune.keras.regularizers import GroupLasso
from hwprune.layouts import GroupLayout, bram_layout, dsp_layout, input_layout, neuron_layout, unstructured_layout


@pytest.mark.parametrize('layout', [dsp_layout('dense', (6, 4), 3), bram_layout('dense', (6, 4), 2, 16),
                                    neuron_layout('dense', (6, 4)), input_layout('dense', (6, 4)),
                                    unstructured_layout('dense', (6, 4)),
                                    # weights in no group (-1) add nothing; groups of unequal sizes
                                    GroupLayout(np.array([[0, 0, -1, 1], [2, -1, 1, 1], [3, 3, 3, -1],
                                                          [-1, 4, 4, 0], [5, -1, -1, 5], [2, 2, 3, 4]]), 6)])
def test_group_lasso_value_and_gradient(layout):
    rng = np.random.default_rng(0)
    kernel = tf.Variable(rng.normal(size=(6, 4)).astype('float32'))
    reg = GroupLasso(kernel, layout, tf.Variable(0.5))
    k = kernel.numpy().astype(np.float64)
    expected = np.sum(np.sqrt(layout.sizes()) * np.sqrt(layout.reduce(k * k)))
    assert float(reg.value()) == pytest.approx(expected, rel=1e-5)
    assert float(reg()) == pytest.approx(0.5 * expected, rel=1e-5)
    with tf.GradientTape() as tape:
        loss = reg()
    grad = tape.gradient(loss, kernel).numpy()
    norms = np.sqrt(layout.reduce(k * k))
    member = layout.ids >= 0
    manual = np.where(member, 0.5 * np.sqrt(layout.sizes())[layout.ids] * k / norms[layout.ids], 0.0)
    np.testing.assert_allclose(grad, manual, rtol=1e-4)
    zero = tf.zeros_like(kernel)
    assert float(reg.value(zero)) == 0.0
