"""hls4ml 1.3's Keras frontends, as hwprune meets them: which parser reads a model, and two gaps.

* **Which parser.** hls4ml 1.3 picks its Keras-2 or Keras-3 parser by the version of the *installed*
  ``keras`` package, not by the model (``hls4ml/converters/__init__.py``, ``utils/config.py``): with
  Keras 3 installed, a ``tf_keras`` (Keras 2) model goes to the Keras-3 parser and fails
  (``'Node' object has no attribute 'arguments'``). :func:`frontend_for` makes hls4ml read such a
  model with its Keras-2 parser; :func:`hwprune.convert` uses it, and so can a user's own
  ``hls4ml.utils.config_from_keras_model`` call.
* **SeparableConv under Keras 3.** hls4ml 1.3's Keras-3 ``ConvHandler`` reads ``layer.kernel``, which
  a Keras 3 SeparableConv does not have (``depthwise_kernel``, ``pointwise_kernel``):
  :func:`register_fixes` registers a handler that reads the depthwise kernel there. It changes
  nothing that converted before.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import logging

logger = logging.getLogger(__name__)


def _installed_keras():
    try:
        return importlib.import_module('keras')
    except ImportError:  # pragma: no cover - hls4ml needs a keras to convert Keras models anyway
        return None


def _keras3_installed() -> bool:
    """Whether the installed ``keras`` distribution is Keras 3 (read from its metadata: importing
    Keras would import its backend)."""
    try:
        return int(importlib.metadata.version('keras').split('.')[0]) >= 3
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return False


def keras2_model_on_keras3(model) -> bool:
    """Whether ``model`` is a Keras 2 (``tf_keras``) model while the installed ``keras`` is Keras 3."""
    if not _keras3_installed():
        return False
    return any((klass.__module__ or '').startswith('tf_keras') for klass in type(model).__mro__)


@contextlib.contextmanager
def frontend_for(model):
    """Within this context hls4ml reads ``model`` with the parser of the model's Keras generation.

    Example::

        with hwprune.hls.frontend_for(tf_keras_model):
            cfg = hls4ml.utils.config_from_keras_model(tf_keras_model, granularity='name')
    """
    if not keras2_model_on_keras3(model):
        yield
        return
    keras = _installed_keras()
    tf_keras = importlib.import_module('tf_keras')
    saved = keras.__version__
    keras.__version__ = tf_keras.__version__  # hls4ml compares this string to choose its parser
    logger.debug('hls4ml reads %r with its Keras-2 parser (tf_keras %s).', getattr(model, 'name', model),
                 tf_keras.__version__)
    try:
        yield
    finally:
        keras.__version__ = saved


_REGISTERED = False


def register_fixes() -> bool:
    """Register the Keras 3 SeparableConv handler with hls4ml (idempotent); False if not needed."""
    global _REGISTERED
    if _REGISTERED:
        return True
    if not _keras3_installed():
        return False
    try:
        from hls4ml.converters.keras_v3.conv import ConvHandler
    except ImportError:  # pragma: no cover - hls4ml without its Keras-3 frontend
        return False

    class SeparableConvHandler(ConvHandler):
        """hls4ml 1.3's ConvHandler, reading a Keras 3 SeparableConv's depthwise kernel as its kernel."""

        handles = ('keras.src.layers.convolutional.separable_conv1d.SeparableConv1D',
                   'keras.src.layers.convolutional.separable_conv2d.SeparableConv2D')

        def load_weight(self, layer, key):
            if key == 'kernel' and not hasattr(layer, 'kernel') and hasattr(layer, 'depthwise_kernel'):
                key = 'depthwise_kernel'
            return super().load_weight(layer, key)

    _REGISTERED = True
    logger.debug('hwprune: registered a Keras 3 SeparableConv handler with hls4ml.')
    return True


__all__ = ['frontend_for', 'keras2_model_on_keras3', 'register_fixes']
