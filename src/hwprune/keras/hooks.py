"""How hwprune plugs into Keras training: the one module that touches Keras's training internals.

The callback needs four things Keras has no common public API for, all here so that each Keras
generation is taught in one place (the graph is read in :mod:`hwprune.keras.topology`):

* a mask applied after every optimizer update: the kernel variable's *constraint*, which every
  optimizer (Keras 2 new and legacy, Keras 3) applies right after its update, under any
  ``tf.distribute`` strategy (:func:`set_constraint`);
* a penalty term in the loss that can be removed again (:func:`add_penalty`,
  :func:`remove_penalty`): a callable loss of the layer in Keras 2, the kernel's regularizer in
  Keras 3 (whose ``add_loss`` takes no callables);
* train/test functions retraced so they pick both up (:func:`retrace`);
* the number of optimizer steps one ``on_train_batch_begin`` call covers (:func:`steps_per_call`).

hwprune's training side runs on the TensorFlow backend (:func:`check_backend`).
"""

from __future__ import annotations

from .._validation import invalid
from .topology import KERAS3, KERAS_NAME, keras


def check_backend() -> None:
    """Raise unless Keras runs on TensorFlow (the callback's masks, penalty and logs use it)."""
    if KERAS3:
        backend = keras.backend.backend()
        if backend != 'tensorflow':
            raise invalid('KERAS_BACKEND', backend, f"'tensorflow': HardwarePruning trains with {KERAS_NAME} on the "
                          'TensorFlow backend only (its masks, penalty strength and TensorBoard logs are TensorFlow '
                          'variables); estimate, strip and convert work on any backend', RuntimeError)


def components(variable) -> tuple:
    """The per-device variables behind a (possibly distributed) Keras 2 variable."""
    values = getattr(variable, 'values', None)
    return tuple(values) if values is not None else (variable,)


def get_constraint(variable):
    """The constraint the optimizer applies to ``variable`` after each update (``None``: none)."""
    if KERAS3:
        return variable.constraint
    return getattr(components(variable)[0], '_constraint', None)


def set_constraint(variable, constraint) -> None:
    """Make the optimizer apply ``constraint`` to ``variable`` (every replica) after each update."""
    if KERAS3:
        variable.constraint = constraint
        return
    for v in components(variable):
        v._constraint = constraint


def add_penalty(layer, variable, penalty) -> None:
    """Add ``penalty(value of variable)`` to the training loss (a callable returning a scalar tensor).

    Keras 3: the variable's regularizer (chained after the user's own, kept in ``penalty.previous``);
    Keras 2: a callable loss of the layer.
    """
    if KERAS3:
        previous = variable.regularizer
        penalty.previous = previous
        variable.regularizer = penalty if previous is None else _Chained(previous, penalty)
        return
    layer.add_loss(lambda: penalty(variable))
    penalty.keras2_loss = layer._callable_losses[-1]


def remove_penalty(layer, variable, penalty) -> None:
    """Remove a penalty added with :func:`add_penalty`."""
    if KERAS3:
        variable.regularizer = getattr(penalty, 'previous', None)
        return
    added = getattr(penalty, 'keras2_loss', None)
    layer._callable_losses[:] = [c for c in layer._callable_losses if c is not added]


class _Chained:
    """The user's regularizer plus hwprune's penalty (Keras 3 keeps one regularizer per variable)."""

    def __init__(self, first, second):
        self.first, self.second = first, second

    def __call__(self, value):
        return self.first(value) + self.second(value)


def retrace(model) -> None:
    """Rebuild the model's train function (and drop its test function) so that constraints and
    penalties installed since an earlier ``fit`` take effect."""
    model.train_function = None
    model.make_train_function(force=True)
    model.test_function = None


class _WithLogs:
    """A train function whose logs also hold ``values`` (a dict the callback keeps current), so that
    the epoch logs carry hwprune's values whatever the order of the callbacks."""

    def __init__(self, function, values: dict):
        self.function = function
        self.values = values

    def __call__(self, *args, **kwargs):
        logs = self.function(*args, **kwargs)
        if isinstance(logs, dict):
            logs = dict(logs)
            logs.update(self.values)
        return logs

    def __getattr__(self, name):
        return getattr(self.function, name)


def add_logs(model, values: dict) -> None:
    """Add ``values`` to the logs of every training step of the current ``fit`` (call after :func:`retrace`)."""
    if model.train_function is not None and not isinstance(model.train_function, _WithLogs):
        model.train_function = _WithLogs(model.train_function, values)


def release(model) -> None:
    """Drop the traced train/test functions (they hold the constraints and penalties)."""
    model.train_function = None
    model.test_function = None


def steps_per_call(model) -> int:
    """Optimizer steps one ``on_train_batch_begin`` call covers (``steps_per_execution``)."""
    if KERAS3:
        return int(getattr(model, 'steps_per_execution', 1) or 1)
    spe = getattr(model, '_steps_per_execution', None)
    return int(spe.numpy()) if spe is not None else 1


def data_loss(model, y, prediction):
    """The model's compiled loss (without regularisation terms) on one batch."""
    if KERAS3:
        return model._compile_loss(y, prediction)
    return model.compiled_loss(y, prediction)


__all__ = ['add_logs', 'add_penalty', 'check_backend', 'components', 'data_loss', 'get_constraint', 'keras', 'release',
           'remove_penalty', 'retrace', 'set_constraint', 'steps_per_call']
