"""The small digits CNN the target tests train with the callback (data shipped with scikit-learn)."""


def digits_model(n: int = 600):
    """``(model, x, y)``: Conv8-Conv16-Dense on the first ``n`` digits, compiled, not trained."""
    import tensorflow as tf
    from sklearn.datasets import load_digits
    keras = tf.keras
    digits = load_digits()
    x = (digits.images / 16.0).astype('float32')[..., None][:n]
    y = digits.target[:n]
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Input((8, 8, 1)),
                              keras.layers.Conv2D(8, 3, activation='relu', name='conv1'),
                              keras.layers.Conv2D(16, 3, activation='relu', name='conv2'),
                              keras.layers.Flatten(), keras.layers.Dense(10, activation='softmax', name='out')])
    model.compile('adam', 'sparse_categorical_crossentropy', metrics=['accuracy'])
    return model, x, y
