"""Every example script runs to the end (slow: each trains a small model)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / 'examples'
SCRIPTS = sorted(p.name for p in EXAMPLES.glob('*.py') if not p.name.startswith('_'))


@pytest.mark.slow
@pytest.mark.parametrize('script', SCRIPTS)
def test_example_runs(script, tmp_path):
    result = subprocess.run([sys.executable, str(EXAMPLES / script)], cwd=tmp_path, capture_output=True, text=True,
                            env={**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '3', 'PYTHONPATH': str(EXAMPLES)}, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip()  # every example prints its report
