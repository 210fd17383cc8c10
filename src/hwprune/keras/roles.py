"""What each Keras layer does to the channels of its input: one table of layer roles.

``strip`` (physical removal of dead units), the callback's dead-unit folding and the layer
registry all ask the same question of a layer - does channel ``c`` of its output depend on
channel ``c`` of its input only, and how - and they all read the answer here:

============  ==================================================================================
role          layers
============  ==================================================================================
input         ``InputLayer``
weight        Dense, Conv1D/2D/3D, SeparableConv1D/2D (mix channels through a kernel)
depthwise     DepthwiseConv1D/2D (channel ``c`` reads channel ``c`` through its own kernel)
bn            BatchNormalization (per-channel affine at inference)
elementwise   activations with an elementwise function, ReLU & co., dropout and noise layers,
              ``Identity``, ``ActivityRegularization``
pooling       max/average pooling, global pooling (per channel, over positions)
spatial       zero padding, up-sampling, cropping (per channel, but zero padding is not constant)
reshape       Flatten, Reshape
merge         Add, Subtract, Multiply, Average, Maximum, Minimum
concat        Concatenate
barrier       everything else (transposed convolutions, Softmax, PReLU, unknown layers): all its
              channels are kept and nothing is folded through it
============  ==================================================================================

Roles are resolved along the class MRO (a QKeras ``QDense`` is a ``Dense``); ``Activation`` and
QKeras ``QActivation`` are ``elementwise`` only when their function is (:func:`is_elementwise`,
the single rule for "acts on each element on its own"), else ``barrier``. Register a role for
your own layer class with :func:`register_role`.

Example:
    >>> from hwprune.keras.topology import keras
    >>> role_of(keras.layers.Activation('relu')), role_of(keras.layers.Activation('softmax'))
    ('elementwise', 'barrier')
    >>> role_of(keras.layers.Conv2DTranspose(2, 3))
    'barrier'
"""

from __future__ import annotations

import inspect

from .._validation import check_choice, invalid
from .topology import keras

ROLES = ('input', 'weight', 'depthwise', 'bn', 'elementwise', 'pooling', 'spatial', 'reshape', 'merge', 'concat',
         'barrier')
#: Roles whose output channel ``c`` depends on input channel ``c`` only and that hold no weights.
CHANNELWISE = ('elementwise', 'pooling', 'spatial')

# Activation functions that act on each element on its own (softmax & co. do not).
_ELEMENTWISE_FUNCTIONS = frozenset({
    'linear', 'relu', 'relu6', 'elu', 'selu', 'sigmoid', 'hard_sigmoid', 'tanh', 'softplus',
    'softsign', 'swish', 'silu', 'gelu', 'exponential', 'mish', 'hard_silu', 'hard_swish',
    'leaky_relu',
    # QKeras quantisation functions
    'binary_sigmoid', 'smooth_sigmoid', 'binary_tanh', 'hard_tanh', 'smooth_tanh',
})
# QKeras quantizers that map each element on its own, provided `alpha` is not 'auto'/'auto_po2'
# (those derive a scale from the whole tensor).
_ELEMENTWISE_QUANTIZERS = frozenset({
    'quantized_bits', 'quantized_relu', 'quantized_ulaw', 'quantized_tanh', 'quantized_sigmoid',
    'quantized_po2', 'quantized_relu_po2', 'quantized_hswish', 'binary',
})
_TRUSTED_MODULES = ('keras', 'tensorflow', 'tf_keras', 'qkeras')

_L = keras.layers
_TABLE: dict[type, str] = {}
# Classes of optional packages, by name (QKeras is not imported to read this table).
_BY_NAME = {'QActivation': 'elementwise'}


def register_role(cls: type, role: str) -> None:
    """Give a layer class (and its subclasses) a role.

    Args:
        cls: a Keras layer class.
        role: one of :data:`ROLES`.

    Example:
        >>> from hwprune.keras.topology import keras
        >>> class Scale(keras.layers.Layer):
        ...     def call(self, x):
        ...         return 2.0 * x
        >>> register_role(Scale, 'elementwise')
        >>> role_of(Scale())
        'elementwise'
    """
    if not isinstance(cls, type) or not issubclass(cls, keras.layers.Layer):
        raise invalid('cls', cls, 'a Keras Layer subclass', TypeError)
    _TABLE[cls] = check_choice('role', role, ROLES)


def class_role(cls: type) -> str:
    """The role of a layer class from the table (MRO order), without per-instance rules."""
    for klass in cls.__mro__:
        if klass in _TABLE:
            return _TABLE[klass]
    return _BY_NAME.get(cls.__name__, 'barrier')


def role_of(layer) -> str:
    """The role of a layer instance: :func:`class_role`, with ``Activation``/``QActivation``
    elementwise only when their function is."""
    role = class_role(type(layer))
    if role == 'elementwise':
        if isinstance(layer, _L.Activation) and not is_elementwise(layer.activation):
            return 'barrier'
        if type(layer).__name__ == 'QActivation' and not is_elementwise(getattr(layer, 'quantizer', None)):
            return 'barrier'
    return role


def is_elementwise(fn) -> bool:
    """Whether an activation function or QKeras quantizer acts on each element on its own.

    An allow-list: Keras/TensorFlow/QKeras functions known to be elementwise, and QKeras
    quantizers whose scale is not derived from the whole tensor. Anything else (softmax, a custom
    function) is not, so nothing is folded or removed through it.

    Example:
        >>> is_elementwise('relu'), is_elementwise('softmax'), is_elementwise(lambda x: x)
        (True, False, False)
    """
    if fn is None:
        return True
    if isinstance(fn, str):
        try:
            fn = keras.activations.get(fn)
        except (ValueError, TypeError):
            return False
    module = (getattr(type(fn), '__module__', '') or '').split('.')[0]
    if module == 'qkeras' and not inspect.isfunction(fn):
        return (type(fn).__name__ in _ELEMENTWISE_QUANTIZERS
                and not isinstance(getattr(fn, 'alpha', None), str))
    name = getattr(fn, '__name__', None)
    fn_module = (getattr(fn, '__module__', '') or '').split('.')[0]
    return name in _ELEMENTWISE_FUNCTIONS and fn_module in _TRUSTED_MODULES


def layer_quantizers(layer) -> list:
    """The QKeras quantizer objects a layer applies (kernel, bias, activation, ...)."""
    found = [value for name, value in vars(layer).items()
             if name.endswith('_quantizer_internal') and value is not None]
    if type(layer).__name__ == 'QActivation':
        found.append(getattr(layer, 'quantizer', None))
    return found


def quantizers_elementwise(layer, ignore: tuple = ()) -> bool:
    """True when every quantizer of ``layer`` (except ``<name>_quantizer`` in ``ignore``) is elementwise."""
    for name, value in vars(layer).items():
        if not name.endswith('_quantizer_internal') or value is None:
            continue
        if name[:-len('_quantizer_internal')] in ignore:
            continue
        if not is_elementwise(value):
            return False
    return True


def _optional(*names):
    return tuple(getattr(_L, n) for n in names if hasattr(_L, n))


_ROLE_TABLE = {
    'input': ('InputLayer',),
    'weight': ('Dense', 'Conv1D', 'Conv2D', 'Conv3D', 'SeparableConv1D', 'SeparableConv2D'),
    'depthwise': ('DepthwiseConv1D', 'DepthwiseConv2D'),
    'bn': ('BatchNormalization',),
    'elementwise': ('Activation', 'ReLU', 'LeakyReLU', 'ELU', 'ThresholdedReLU', 'Dropout', 'GaussianNoise',
                    'GaussianDropout', 'AlphaDropout', 'ActivityRegularization', 'Identity'),
    'pooling': ('MaxPooling1D', 'MaxPooling2D', 'MaxPooling3D', 'AveragePooling1D', 'AveragePooling2D',
                'AveragePooling3D', 'GlobalMaxPooling1D', 'GlobalMaxPooling2D', 'GlobalMaxPooling3D',
                'GlobalAveragePooling1D', 'GlobalAveragePooling2D', 'GlobalAveragePooling3D'),
    'spatial': ('ZeroPadding1D', 'ZeroPadding2D', 'ZeroPadding3D', 'UpSampling1D', 'UpSampling2D', 'UpSampling3D',
                'Cropping1D', 'Cropping2D', 'Cropping3D'),
    'reshape': ('Flatten', 'Reshape'),
    'merge': ('Add', 'Subtract', 'Multiply', 'Average', 'Maximum', 'Minimum'),
    'concat': ('Concatenate',),
    # subclasses of weight layers that compute something else (Keras 2's Conv2DTranspose is a Conv2D)
    'barrier': ('Conv1DTranspose', 'Conv2DTranspose', 'Conv3DTranspose'),
}
for _role, _names in _ROLE_TABLE.items():
    for _cls in _optional(*_names):  # classes a Keras generation lacks are skipped
        _TABLE[_cls] = _role


__all__ = ['CHANNELWISE', 'ROLES', 'class_role', 'is_elementwise', 'layer_quantizers', 'quantizers_elementwise',
           'register_role', 'role_of']
