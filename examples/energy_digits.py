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

import hwprune  # noqa: E402
from _digits import trained_digits_cnn  # noqa: E402
from hwprune.keras.activations import measure_activation_sparsity  # noqa: E402
from hwprune.targets import Energy  # noqa: E402

logging.basicConfig(level=logging.INFO, format='%(message)s')
keras = tf.keras

model, x_train, x_test, y_train, y_test, accuracy_before = trained_digits_cnn()

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
