"""Structure-aware (group-lasso) regularisation over a target's groups.

``lambda * sum_g sqrt(|g|) * ||w_g||_2`` summed over the pruning groups of every layer, with
``lambda`` held in a non-trainable ``tf.Variable`` so that it can change during training
without retracing (Keras 2 compiles Python floats into the train function).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from ..layouts import GroupLayout

#: Added under the square root so that the gradient stays finite at w_g = 0; subtracted back
#: so an all-zero group contributes exactly 0.
EPSILON = 1e-12


class GroupLasso:
    """Group lasso of one kernel over a layout (a zero-argument callable for ``add_loss``).

    Args:
        kernel: the kernel variable.
        layout: its pruning groups.
        strength: shared ``tf.Variable`` holding lambda.
    """

    def __init__(self, kernel: tf.Variable, layout: GroupLayout, strength: tf.Variable):
        self.kernel = kernel
        self.strength = strength
        ids = layout.ids.ravel()
        self.n_groups = layout.n_groups
        self.ids = tf.constant(np.where(ids >= 0, ids, layout.n_groups), dtype=tf.int32)
        self.scale = tf.constant(np.sqrt(np.maximum(layout.sizes(), 1)), dtype=kernel.dtype)

    def value(self, kernel=None):
        """The unscaled penalty ``sum_g sqrt(|g|) ||w_g||`` (a scalar tensor)."""
        kernel = self.kernel if kernel is None else kernel
        squares = tf.math.unsorted_segment_sum(tf.reshape(tf.square(kernel), [-1]), self.ids, self.n_groups + 1)
        norms = tf.sqrt(squares[: self.n_groups] + EPSILON) - np.sqrt(EPSILON)
        return tf.reduce_sum(self.scale * norms)

    def __call__(self):
        return tf.cast(self.strength, self.kernel.dtype) * self.value()


__all__ = ['EPSILON', 'GroupLasso']
