"""Kernel masks that stay enforced after every optimizer update.

The mask is a non-trainable ``tf.Variable``; it is applied through the kernel variable's
*constraint*, which every Keras 2 optimizer (new and legacy, under any ``tf.distribute``
strategy) applies right after its update. So masked weights are exactly zero after every
step, whatever momentum or Adam moments would otherwise add back, and no per-batch Python hook
is needed. The user's own kernel constraint, if any, still runs first.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from . import hooks


class MaskConstraint:
    """``constraint(w) = user_constraint(w) * mask`` (a plain callable, never serialised)."""

    def __init__(self, mask: tf.Variable, inner=None):
        self.mask = mask
        self.inner = inner

    def __call__(self, w):
        if self.inner is not None:
            w = self.inner(w)
        return w * tf.cast(self.mask, w.dtype)


class KernelMask:
    """A mask bound to one kernel variable.

    Args:
        kernel: the layer's kernel ``tf.Variable``.
        name: used for the mask variable's name.
    """

    def __init__(self, kernel, name: str):
        self.kernel = kernel
        self.dtype = np.asarray(kernel.numpy()).dtype
        with tf.init_scope():
            self.mask = tf.Variable(np.ones(tuple(kernel.shape), self.dtype), trainable=False,
                                    name=f'hwprune_mask_{name}', synchronization=tf.VariableSynchronization.ON_WRITE,
                                    aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self._installed = False
        self._saved = None
        self._keep = np.ones(tuple(kernel.shape), self.dtype)

    def install(self) -> None:
        """Make the optimizer apply the mask after each update (idempotent)."""
        if self._installed:
            return
        self._installed = True
        self._saved = hooks.get_constraint(self.kernel)
        hooks.set_constraint(self.kernel, MaskConstraint(self.mask, self._saved))

    def uninstall(self) -> None:
        """Give the kernel its own constraint back."""
        if not self._installed:
            return
        hooks.set_constraint(self.kernel, self._saved)
        self._installed, self._saved = False, None

    def set(self, mask: np.ndarray, hold: bool = True, zero: bool = True) -> None:
        """Set the mask (kernel-shaped 0/1 array) and zero the masked weights now.

        ``hold=False`` lets the optimizer move the masked weights again until the next ``set``
        (soft pruning: pruned weights may grow back and win their place again); the mask itself
        (:meth:`numpy`, :meth:`apply`) is still ``mask``. ``zero=False`` leaves the weights as they
        are (restoring a state whose weights were saved with it)."""
        self._keep = np.asarray(mask, dtype=self.dtype)
        self.mask.assign(self._keep if hold else np.ones_like(self._keep))
        if zero:
            self.apply()

    def apply(self) -> None:
        """Zero the masked weights now."""
        self.kernel.assign(self.kernel.numpy() * self._keep)

    def numpy(self) -> np.ndarray:
        return self._keep.copy()


__all__ = ['KernelMask', 'MaskConstraint']
