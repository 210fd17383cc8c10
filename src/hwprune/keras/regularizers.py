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
    """Group lasso of one kernel over a layout: ``penalty(kernel value)`` (the value defaults to the
    variable's), installed as a loss term by :func:`hwprune.keras.hooks.add_penalty`.

    Args:
        kernel: the kernel variable.
        layout: its pruning groups.
        strength: shared ``tf.Variable`` holding lambda.
    """

    def __init__(self, kernel: tf.Variable, layout: GroupLayout, strength: tf.Variable):
        self.kernel = kernel
        self.strength = strength
        self.n_groups = layout.n_groups
        sizes = layout.sizes()
        self.scale = np.sqrt(np.maximum(sizes, 1)).astype(np.asarray(kernel.numpy()).dtype)
        ids = layout.ids.ravel()
        if layout.n_groups == ids.size and np.array_equal(ids, np.arange(ids.size)):
            self.index = None  # one weight per group, in kernel order: no gather needed
        else:
            # (n_groups, largest group) indices into the flat kernel; padding points at an appended 0
            width = int(sizes.max()) if sizes.size else 1
            index = np.full((layout.n_groups, width), ids.size, dtype=np.int64)
            members = np.flatnonzero(ids >= 0)
            order = members[np.argsort(ids[members], kind='stable')]
            starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
            slot = np.arange(order.size) - np.repeat(starts, sizes)
            index[ids[order], slot] = order
            self.index = tf.constant(index, dtype=tf.int32)

    def value(self, kernel=None):
        """The unscaled penalty ``sum_g sqrt(|g|) ||w_g||`` (a scalar tensor)."""
        kernel = self.kernel if kernel is None else kernel
        flat = tf.reshape(tf.convert_to_tensor(kernel), [-1])
        if self.index is None:
            squares = tf.square(flat)
        else:
            padded = tf.concat([flat, tf.zeros([1], flat.dtype)], axis=0)
            squares = tf.reduce_sum(tf.square(tf.gather(padded, self.index)), axis=1)
        norms = tf.sqrt(squares + EPSILON) - np.sqrt(EPSILON)
        return tf.reduce_sum(self.scale * norms)

    def __call__(self, kernel=None):
        """``lambda * value(kernel)``; ``kernel`` defaults to the variable (Keras 3 passes its value)."""
        value = self.value(kernel)
        return tf.cast(self.strength, value.dtype) * value


__all__ = ['EPSILON', 'GroupLasso']
