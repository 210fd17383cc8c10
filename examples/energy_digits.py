"""Energy-aware pruning of a small CNN on the digits data set (Eyeriss-style energy model).

Each layer's energy counts MACs and the data movement of weights, input activations and partial
sums through DRAM (200x a MAC), the global buffer (6x), the array (2x) and register files (1x).
Zero input activations are skipped (zero gating), with the input sparsity of every layer measured
on sample data first. The knapsack keeps the most important weights within the energy budget, and
``energy_priority`` makes the most energy-hungry layers give up weights first. Runs in well under
a minute on 2 CPU cores:

    python examples/energy_digits.py
"""

import logging
import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import tensorflow as tf  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

import hwprune  # noqa: E402
from hwprune.keras.activations import measure_activation_sparsity  # noqa: E402
from hwprune.targets import Energy  # noqa: E402

logging.basicConfig(level=logging.INFO, format='%(message)s')
keras = tf.keras

digits = load_digits()
x = (digits.images / 16.0).astype('float32')[..., None]
x_train, x_test, y_train, y_test = train_test_split(x, digits.target, test_size=0.25, random_state=0)

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
model.fit(x_train, y_train, epochs=10, batch_size=64, verbose=0)
accuracy_before = model.evaluate(x_test, y_test, verbose=0)[1]

sparsity = measure_activation_sparsity(model, x_train[:500])
print('\nInput-activation sparsity per layer:', {k: round(v, 3) for k, v in sparsity.items()})
energy = Energy(activation_sparsity=sparsity, zero_gating=True, energy_priority=1.0)
before = hwprune.estimate(model, energy)
print('\nBefore pruning (energy in units of one MAC):')
print(before)

pruning = hwprune.HardwarePruning(energy, resources=['energy'],
                                  budget=hwprune.PolynomialBudget(final=0.45, begin=0, end=6),
                                  monitor='val_accuracy', tolerance=0.03, validation_data=(x_test, y_test),
                                  method='greedy')
model.fit(x_train, y_train, epochs=12, batch_size=64, validation_data=(x_test, y_test), callbacks=[pruning],
          verbose=0)
# pruning changes the activations: measure their sparsity again for the final report
energy_after = Energy.from_config({**energy.get_config(),
                                   'activation_sparsity': measure_activation_sparsity(model, x_train[:500])})
after = hwprune.estimate(model, energy_after)
print(f"\nBudget {pruning.history[-1]['capacity'][0]:.4g}, met during training: "
      f"{pruning.history[-1]['usage']['energy']:.4g} (with the sparsity measured before pruning)")
print('\nAfter energy-aware pruning (activation sparsity measured again):')
print(after)
print('\n' + after.compare(before))
print(f'\ntest accuracy {accuracy_before:.4f} -> {model.evaluate(x_test, y_test, verbose=0)[1]:.4f}')
