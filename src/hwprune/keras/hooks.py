"""How hwprune plugs into Keras training: the one module that touches Keras's training internals.

The callback needs four things Keras has no public API for, all here so that a new Keras
generation is taught in one place (the graph is read in :mod:`hwprune.keras.topology`):

* a mask applied after every optimizer update: the kernel variable's *constraint*, which every
  Keras 2 optimizer (new and legacy, under any ``tf.distribute`` strategy) applies right after
  its update (:func:`set_constraint`);
* a penalty term in the loss that can be removed again (:func:`add_penalty`, :func:`remove_penalty`);
* train/test functions retraced so they pick both up (:func:`retrace`);
* the number of optimizer steps one ``on_train_batch_begin`` call covers (:func:`steps_per_call`).
"""

from __future__ import annotations

from .topology import keras


def components(variable) -> tuple:
    """The per-device variables behind a (possibly distributed) variable."""
    values = getattr(variable, 'values', None)
    return tuple(values) if values is not None else (variable,)


def get_constraint(variable):
    """The constraint the optimizer applies to ``variable`` after each update (``None``: none)."""
    return getattr(variable, '_constraint', None)


def set_constraint(variable, constraint) -> None:
    """Make the optimizer apply ``constraint`` to ``variable`` (every replica) after each update."""
    for v in components(variable):
        v._constraint = constraint


def add_penalty(layer, penalty) -> None:
    """Add ``penalty()`` (a zero-argument callable returning a scalar tensor) to the training loss."""
    layer.add_loss(penalty)


def remove_penalty(layer, penalty) -> None:
    """Remove a penalty added with :func:`add_penalty`."""
    # Keras 2 stores ``functools.partial(_tag_callable, penalty)`` for each callable loss.
    layer._callable_losses[:] = [c for c in layer._callable_losses
                                 if c is not penalty and getattr(c, 'args', (None,))[0] is not penalty]


def retrace(model) -> None:
    """Rebuild the model's train function (and drop its test function) so that constraints and
    penalties installed since an earlier ``fit`` take effect."""
    model.train_function = model.make_train_function(force=True)
    model.test_function = None


def release(model) -> None:
    """Drop the traced train/test functions (they hold the constraints and penalties)."""
    model.train_function = None
    model.test_function = None


def steps_per_call(model) -> int:
    """Optimizer steps one ``on_train_batch_begin`` call covers (``steps_per_execution``)."""
    spe = getattr(model, '_steps_per_execution', None)
    return int(spe.numpy()) if spe is not None else 1


def data_loss(model, y, prediction):
    """The model's compiled loss (without regularisation terms) on one batch."""
    return model.compiled_loss(y, prediction)


__all__ = ['add_penalty', 'components', 'data_loss', 'get_constraint', 'keras', 'release', 'remove_penalty',
           'retrace', 'set_constraint', 'steps_per_call']
