"""Which software stack the suite runs on, for tests that need one of them.

The suite runs on both stacks (``make test``): Keras 3 (TensorFlow >= 2.16, HGQ2) and Keras 2
(TensorFlow 2.15, QKeras). QKeras tests skip on Keras 3, HGQ2 tests on Keras 2.
"""

import importlib.metadata
import importlib.util

import pytest

REAL_QKERAS = 'QKeras' in (importlib.metadata.packages_distributions().get('qkeras') or [])
HGQ = importlib.util.find_spec('hgq') is not None

requires_qkeras = pytest.mark.skipif(not REAL_QKERAS, reason='QKeras runs on the Keras 2 stack (make test-keras2)')
requires_hgq = pytest.mark.skipif(not HGQ, reason='HGQ2 runs on the Keras 3 stack (make test)')


def qkeras_module():
    """The QKeras package, or skip the calling test."""
    if not REAL_QKERAS:
        pytest.skip('QKeras runs on the Keras 2 stack (make test-keras2)')
    import qkeras
    return qkeras
