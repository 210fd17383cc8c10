"""Shared by the *_digits examples: the digits data (shipped with scikit-learn) and a small CNN
trained on it."""

import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import tensorflow as tf  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

keras = tf.keras


def digits_split():
    """``(x_train, x_test, y_train, y_test)``: 8x8x1 digit images in [0, 1], a fixed 75/25 split."""
    digits = load_digits()
    x = (digits.images / 16.0).astype('float32')[..., None]
    return train_test_split(x, digits.target, test_size=0.25, random_state=0)


def trained_digits_cnn(epochs: int = 10):
    """``(model, x_train, x_test, y_train, y_test, test_accuracy)`` for a Conv16-Conv32-Dense CNN."""
    x_train, x_test, y_train, y_test = digits_split()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.layers.Input((8, 8, 1)),
        keras.layers.Conv2D(16, 3, activation='relu', name='conv1'),
        keras.layers.Conv2D(32, 3, activation='relu', name='conv2'),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation='softmax', name='out'),
    ])
    model.compile(keras.optimizers.Adam(3e-3), 'sparse_categorical_crossentropy', metrics=['accuracy'])
    model.fit(x_train, y_train, epochs=epochs, batch_size=64, verbose=0)
    return model, x_train, x_test, y_train, y_test, model.evaluate(x_test, y_test, verbose=0)[1]
