"""Every example script runs to the end (slow: each trains a small model)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from stack import HGQ, REAL_QKERAS

EXAMPLES = Path(__file__).resolve().parent.parent / 'examples'
SCRIPTS = sorted(p.name for p in EXAMPLES.glob('*.py') if not p.name.startswith('_'))
AVAILABLE = {'qkeras': REAL_QKERAS, 'hgq': HGQ}


def requirement(script):
    """The stack a script declares it needs (a ``requires: <name>`` line in its docstring)."""
    for line in (EXAMPLES / script).read_text().splitlines()[:40]:
        if line.strip().startswith('requires:'):
            return line.split(':', 1)[1].strip()
    return None


@pytest.mark.slow
@pytest.mark.parametrize('script', SCRIPTS)
def test_example_runs(script, tmp_path):
    needs = requirement(script)
    if needs is not None and not AVAILABLE.get(needs, False):
        pytest.skip(f'{script} needs {needs} (the other stack)')
    result = subprocess.run([sys.executable, str(EXAMPLES / script)], cwd=tmp_path, capture_output=True, text=True,
                            env={**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '3', 'PYTHONPATH': str(EXAMPLES)}, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip()  # every example prints its report
