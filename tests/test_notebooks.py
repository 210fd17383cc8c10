"""The notebooks in examples/ run top to bottom from a clean kernel of this Python (slow: they train).

They are committed without outputs; here each is executed with nbclient in a fresh kernel, from an
empty working directory and with ``TMPDIR`` pointing into pytest's temporary directory, and must
leave both as they found them.
"""

import base64
import os
import re
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip('nbformat', reason="notebook tests need the 'notebook' extra (nbformat)")
nbclient = pytest.importorskip('nbclient', reason="notebook tests need the 'notebook' extra (nbclient)")
pytest.importorskip('ipykernel', reason="notebook tests need the 'notebook' extra (ipykernel)")

EXAMPLES = Path(__file__).resolve().parent.parent / 'examples'
NOTEBOOKS = sorted(p.name for p in EXAMPLES.glob('*.ipynb'))


def test_notebooks_are_committed_without_outputs():
    assert {'tutorial.ipynb', 'targets.ipynb'} <= set(NOTEBOOKS)
    for name in NOTEBOOKS:
        nb = nbformat.read(EXAMPLES / name, as_version=4)
        nbformat.validate(nb)
        assert nb.metadata['kernelspec']['name'] == 'python3'
        for cell in nb.cells:
            if cell.cell_type == 'code':
                assert cell.outputs == [] and cell.execution_count is None, f'{name}: outputs committed'


def _run(name, tmp_path, monkeypatch):
    nb = nbformat.read(EXAMPLES / name, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell('import sys; print("KERNEL", sys.executable)'))
    cwd, tmp = tmp_path / 'cwd', tmp_path / 'tmp'
    cwd.mkdir()
    tmp.mkdir()
    monkeypatch.setenv('TMPDIR', str(tmp))  # tempfile.mkdtemp() in the kernel lands here
    monkeypatch.delenv('MPLBACKEND', raising=False)  # the kernel's own (inline) backend, as for a user
    for var in ('OMP_NUM_THREADS', 'TF_NUM_INTRAOP_THREADS', 'TF_NUM_INTEROP_THREADS'):
        monkeypatch.setenv(var, '1')
    monkeypatch.setenv('TF_CPP_MIN_LOG_LEVEL', '3')
    client = nbclient.NotebookClient(nb, timeout=900, kernel_name='python3', resources={'metadata': {'path': str(cwd)}})
    client.execute()
    assert list(cwd.iterdir()) == [], 'the notebook wrote into its working directory'
    assert list(tmp.iterdir()) == [], 'the notebook left files in its temporary directory'
    outputs = [o for cell in nb.cells if cell.cell_type == 'code' for o in cell.outputs]
    text = ''.join(o.get('text', '') for o in outputs if o.output_type == 'stream')
    assert f'KERNEL {sys.executable}' in text or f'KERNEL {os.path.realpath(sys.executable)}' in text
    return outputs, text


def _images(outputs):
    return [base64.b64decode(o.data['image/png']) for o in outputs
            if o.output_type in ('display_data', 'execute_result') and 'image/png' in o.data]


def _html(outputs):
    return ''.join(o.data.get('text/html', '') for o in outputs if o.output_type in ('display_data', 'execute_result'))


@pytest.mark.slow
def test_tutorial_runs_and_shows_reports_pictures_and_the_c_simulation(tmp_path, monkeypatch):
    outputs, text = _run('tutorial.ipynb', tmp_path, monkeypatch)
    images = _images(outputs)
    assert len(images) >= 6 and all(png[:4] == b'\x89PNG' for png in images)
    page = _html(outputs)
    assert 'class="hwprune-report"' in page and 'class="hwprune-comparison"' in page
    assert 'class="dataframe"' in page  # comparison.to_dataframe()
    assert 'hwprune_DSP:' in text and 'hwprune_DSP_budget:' in text  # progress in Keras's epoch lines
    agreement = float(re.search(r'agrees with Keras on ([\d.]+)%', text).group(1))
    assert agreement > 95.0
    accuracy = float(re.search(r'pruned Keras\s+([\d.]+)', text).group(1))
    assert accuracy > 0.75


@pytest.mark.slow
def test_targets_notebook_runs_and_shows_each_target(tmp_path, monkeypatch):
    outputs, text = _run('targets.ipynb', tmp_path, monkeypatch)
    assert len(_images(outputs)) >= 4
    page = _html(outputs)
    assert 'on systolic' in page and 'on pim' in page and 'on energy' in page
    assert text.count('test accuracy after pruning') == 3
