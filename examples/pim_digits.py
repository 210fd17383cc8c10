"""Prune a small CNN on the digits data set for a PIM crossbar (VW-SDK cycles, VWC-SDK channels).

The target costs every layer in computing cycles of a 64x64 crossbar under the best of im2col,
square (SDK) and rectangular (VW-SDK) parallel windows, and prunes whole input channels so that
the network's total cycles fit the budget with the least importance lost. Runs in well under a
minute on 2 CPU cores:

    python examples/pim_digits.py
"""

import logging
import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import hwprune  # noqa: E402
from _digits import trained_digits_cnn  # noqa: E402
from hwprune.targets import PIMArray  # noqa: E402

logging.basicConfig(level=logging.INFO, format='%(message)s')
keras = tf.keras

model, x_train, x_test, y_train, y_test, accuracy_before = trained_digits_cnn()

pim = PIMArray(rows=64, cols=64, weight_bits=1, cell_bits=1)
before = hwprune.estimate(model, pim)
print('\nBefore pruning (cycles per inference on a 64x64 crossbar):')
print(before)

pruning = hwprune.HardwarePruning(pim, resources=['cycles'],
                                  budget=hwprune.PolynomialBudget(final=0.45, begin=0, end=6),
                                  monitor='val_accuracy', tolerance=0.03, validation_data=(x_test, y_test))
model.fit(x_train, y_train, epochs=12, batch_size=64, validation_data=(x_test, y_test), callbacks=[pruning],
          verbose=0)
after = hwprune.estimate(model, pim)
print('\nAfter pruning input channels:')
print(after)
print('\n' + after.compare(before))

stripped = hwprune.strip(model)
final = hwprune.estimate(stripped, pim)
print('\nAfter hwprune.strip (the producers of pruned channels lose their filters too):')
print(final.compare(before))
agree = np.mean(np.argmax(stripped.predict(x_test, verbose=0), 1) == np.argmax(model.predict(x_test, verbose=0), 1))
print(f'\ntest accuracy {accuracy_before:.4f} -> {model.evaluate(x_test, y_test, verbose=0)[1]:.4f}; '
      f'stripped model agrees with the pruned one on {100 * agree:.1f}% of the test set')
