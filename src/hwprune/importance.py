"""Group importance scores, from weights (and gradients or input activations), per group of a layout.

Scores are non-negative. ``'activation'`` weighs each weight by how loud the input it reads is:
the score of weight ``w_ij`` (input ``i``, output ``j``) is ``|w_ij| * rms(x_i) ** 0.5``
(:data:`ACTIVATION_EXPONENT`), so a weight that multiplies an input that is nearly always small
counts for less than an equal weight on a loud input (the output changes by ``w_ij * x_i``, not by
``w_ij``; Wanda's score is ``|w| * rms(x)``, whose full exponent measured no better than magnitude
on the jet benchmark - see docs/benchmarks.md). Where the next layer is known, each weight is also
weighed by how much its output is read: ``* ||W_next[j, :]|| ** 0.5`` (:data:`OUTPUT_EXPONENT`),
the norm of the next layer's weights on output ``j`` (a unit the next layer barely reads is worth
little however large its own weights).

For a selection across layers (one global knapsack) scores are normalised per layer so that a
layer with large weights does not win by scale alone. The callback divides by each layer's
largest score (``'max'``); dividing by the mean over all groups (``'mean'``, pruned groups
included) would lift a layer's survivors by how much of it is already pruned.

Example:
    >>> import numpy as np
    >>> from hwprune.layouts import dsp_layout
    >>> w = np.array([[3.0, 0.0], [4.0, 1.0]])          # Dense kernel (2 in, 2 out)
    >>> group_importance(w, dsp_layout('dense', w.shape, 2), 'l2')
    array([5., 1.])
"""

from __future__ import annotations

import numpy as np

from ._validation import check_array, invalid
from .layouts import GroupLayout

METHODS = ('l1', 'l2', 'taylor', 'activation')

#: ``'activation'`` scores ``|w_ij| * rms(x_i) ** ACTIVATION_EXPONENT`` (Wanda's is 1).
ACTIVATION_EXPONENT = 0.5
#: ... ``* output_norm_j ** OUTPUT_EXPONENT`` where the next layer's weights on output ``j`` are known.
OUTPUT_EXPONENT = 0.5
NORMALIZATIONS = ('mean', 'max', 'sum', 'none')


def group_importance(kernel, layout: GroupLayout, method: str = 'l2', gradient=None, input_rms=None,
                     output_norm=None) -> np.ndarray:
    """Importance of every group of ``layout`` for the weights ``kernel``.

    Args:
        kernel: the layer's kernel (numpy array of the layout's shape).
        layout: the group layout.
        method: ``'l1'`` (sum of |w|), ``'l2'`` (Euclidean norm of the group), ``'taylor'``
            (first-order Taylor, ``sum |w * dL/dw|`` over the group; needs ``gradient``, e.g.
            averaged over a few batches), or ``'activation'`` (the Euclidean norm of
            ``w_ij * rms(x_i) ** 0.5 * output_norm_j ** 0.5``; needs ``input_rms``).
        gradient: array of the kernel's shape, required for ``'taylor'``.
        input_rms: root mean square of each input channel the kernel reads (kernel axis -2: a
            Dense layer's inputs, a convolution's input channels, shared by its taps), required for
            ``'activation'``.
        output_norm: for ``'activation'``, per output unit (kernel axis -1) the L2 norm of the
            weights that read it in the next layer (:func:`output_norms`); ``None``: outputs alike.

    Returns:
        float64 array of shape ``(layout.n_groups,)``.

    Example:
        >>> from hwprune.layouts import dsp_layout
        >>> w = np.array([[1.0, 1.0], [1.0, 1.0]])
        >>> layout = dsp_layout('dense', w.shape, 1)       # one group per weight
        >>> group_importance(w, layout, 'activation', input_rms=[4.0, 0.0])  # groups: W.T order
        array([2., 0., 2., 0.])
        >>> group_importance(w, layout, 'activation', input_rms=[4.0, 0.0], output_norm=[1.0, 4.0])
        array([2., 0., 4., 0.])
    """
    if not isinstance(method, str) or method.lower() not in METHODS:
        raise invalid('method', method, 'one of ' + ', '.join(repr(m) for m in METHODS))
    method = method.lower()
    for argument, value in (('input_rms', input_rms), ('output_norm', output_norm)):
        if value is not None and method != 'activation':
            raise invalid(argument, np.shape(value), f"None for method={method!r} (only 'activation' reads it)")
    kernel = check_array('kernel', kernel)
    if kernel.shape != layout.shape:
        raise invalid('kernel', kernel.shape, f'an array of the layout shape {layout.shape}')
    if method == 'l1':
        return layout.reduce(np.abs(kernel))
    if method == 'l2':
        return np.sqrt(layout.reduce(kernel * kernel))
    if method == 'activation':
        if input_rms is None:
            raise invalid('input_rms', None, "the RMS of each input channel (method='activation' needs input data)")
        rms = check_array('input_rms', input_rms, ndim=(1,), nonnegative=True)
        if kernel.ndim < 2 or rms.shape[0] != kernel.shape[-2]:
            raise invalid('input_rms', rms.shape, f'one value per input channel (kernel axis -2 of {kernel.shape})')
        scaled = kernel * (rms ** ACTIVATION_EXPONENT)[:, None]
        if output_norm is not None:
            out = check_array('output_norm', output_norm, ndim=(1,), nonnegative=True)
            if out.shape[0] != kernel.shape[-1]:
                raise invalid('output_norm', out.shape, f'one value per output unit (kernel axis -1 of {kernel.shape})')
            scaled = scaled * out ** OUTPUT_EXPONENT
        return np.sqrt(layout.reduce(scaled * scaled))
    if gradient is None:
        raise invalid('gradient', None, "an array of the kernel's shape (method='taylor' needs gradients)")
    gradient = check_array('gradient', gradient)
    if gradient.shape != kernel.shape:
        raise invalid('gradient', gradient.shape, f'an array of the kernel shape {kernel.shape}')
    return layout.reduce(np.abs(kernel * gradient))


def output_norms(consumer_kernel) -> np.ndarray:
    """Per input channel of ``consumer_kernel`` (axis -2: the outputs of the layer it reads), the
    L2 norm of the weights reading it: how much of that output the consumer uses.

    Example:
        >>> output_norms(np.array([[3.0, 4.0], [0.0, 0.0]]))
        array([5., 0.])
    """
    kernel = check_array('consumer_kernel', consumer_kernel)
    if kernel.ndim < 2:
        raise invalid('consumer_kernel', kernel.shape, 'a kernel with input channels on axis -2')
    moved = np.moveaxis(kernel, -2, 0).reshape(kernel.shape[-2], -1)
    return np.sqrt(np.sum(moved * moved, axis=1))


def normalize(scores, how: str = 'mean') -> np.ndarray:
    """Scale one layer's scores so layers compare: divide by their mean, max or sum.

    Example:
        >>> normalize([1.0, 3.0], 'mean')
        array([0.5, 1.5])
    """
    if not isinstance(how, str) or how.lower() not in NORMALIZATIONS:
        raise invalid('normalization', how, 'one of ' + ', '.join(repr(m) for m in NORMALIZATIONS))
    scores = check_array('scores', scores, ndim=(1,), nonnegative=True)
    how = how.lower()
    if how == 'none' or scores.size == 0:
        return scores
    scale = {'mean': np.mean, 'max': np.max, 'sum': np.sum}[how](scores)
    return scores / scale if scale > 0 else scores


__all__ = ['ACTIVATION_EXPONENT', 'METHODS', 'NORMALIZATIONS', 'OUTPUT_EXPONENT', 'group_importance', 'normalize',
           'output_norms']
