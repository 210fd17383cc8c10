"""Test-suite settings.

Property tests are derandomized by default, so that CI runs the same examples every time and a
red build always reproduces. Explore new random examples locally with
``HYPOTHESIS_PROFILE=explore make test`` (or ``pytest``).
"""

import os

from hypothesis import settings

settings.register_profile('ci', derandomize=True, print_blob=True)
settings.register_profile('explore', derandomize=False, print_blob=True)
settings.load_profile(os.environ.get('HYPOTHESIS_PROFILE', 'ci'))
