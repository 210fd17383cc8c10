"""Prune a small CNN on the digits data set for a systolic array with column combining.

Column combining (Kung, McDanel, Zhang, ASPLOS 2019) packs sparse filter-matrix columns into
dense array columns; in every row of a packed column only the largest weight survives. The target
interleaves magnitude pruning, packing and conflict pruning with training under a budget of array
tiles (8x8 array, up to 4 columns combined, at most 0.5 conflicts per row). Runs in well under a
minute on 2 CPU cores:

    python examples/systolic_digits.py
"""

import logging
import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import tensorflow as tf  # noqa: E402

import hwprune  # noqa: E402
from _digits import trained_digits_cnn  # noqa: E402
from hwprune.targets import SystolicArray  # noqa: E402
from hwprune.targets.systolic import filter_matrix  # noqa: E402

logging.basicConfig(level=logging.INFO, format='%(message)s')
keras = tf.keras

model, x_train, x_test, y_train, y_test, accuracy_before = trained_digits_cnn()

array = SystolicArray(rows=8, cols=8, alpha=4, gamma=0.5)
before = hwprune.estimate(model, array)
print('\nBefore pruning (8x8 systolic array):')
print(before)

pruning = hwprune.HardwarePruning(array, resources=['tiles'],
                                  budget=hwprune.PolynomialBudget(final=0.35, begin=0, end=6),
                                  monitor='val_accuracy', tolerance=0.03, validation_data=(x_test, y_test))
model.fit(x_train, y_train, epochs=12, batch_size=64, validation_data=(x_test, y_test), callbacks=[pruning],
          verbose=0)
after = hwprune.estimate(model, array)
print('\nAfter column combining + conflict pruning:')
print(after)
print('\n' + after.compare(before))

# the deployable packing of one layer: which inputs each packed column multiplexes
packing = array.packings['conv2']
kernel = model.get_layer('conv2').kernel.numpy()
print(f"\nconv2: {filter_matrix(kernel).shape[1]} filter-matrix columns packed into {packing.columns} "
      f"(groups of {min(map(len, packing.groups))}-{max(map(len, packing.groups))} columns), "
      f"utilisation {packing.utilization:.2f}, {packing.tiles} tiles")
print(f'test accuracy {accuracy_before:.4f} -> {model.evaluate(x_test, y_test, verbose=0)[1]:.4f}')
