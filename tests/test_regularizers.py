import numpy as np
import pytest
import tensorflow as tf

from hwprune.keras.regularizers import GroupLasso
from hwprune.layouts import bram_layout, dsp_layout, input_layout, neuron_layout, unstructured_layout


@pytest.mark.parametrize('layout', [dsp_layout('dense', (6, 4), 3), bram_layout('dense', (6, 4), 2, 16),
                                    neuron_layout('dense', (6, 4)), input_layout('dense', (6, 4)),
                                    unstructured_layout('dense', (6, 4))])
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
    manual = 0.5 * np.sqrt(layout.sizes())[layout.ids] * k / norms[layout.ids]
    np.testing.assert_allclose(grad, manual, rtol=1e-4)
    zero = tf.zeros_like(kernel)
    assert float(reg.value(zero)) == 0.0
