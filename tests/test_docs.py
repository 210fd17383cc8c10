"""The documentation site builds with warnings as errors, and documents every public name.

``mkdocs build --strict`` fails on a broken link, a docstring griffe cannot parse or a
cross-reference that resolves nowhere, so a broken reference fails the test suite too. Skipped when
the ``docs`` extra (mkdocs, mkdocs-material, mkdocstrings[python], mkdocs-jupyter) is not installed.
"""

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
for _module in ('mkdocs', 'material', 'mkdocstrings', 'mkdocstrings_handlers.python', 'mkdocs_jupyter'):
    pytest.importorskip(_module, reason=f"the docs build needs the 'docs' extra ({_module} is not installed)")


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp('site')
    result = subprocess.run([sys.executable, '-m', 'mkdocs', 'build', '--strict', '--site-dir', str(out)],
                            cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env={**os.environ, 'NO_MKDOCS_2_WARNING': '1'})
    assert result.returncode == 0, result.stderr[-5000:]
    return out


def _anchors(site: Path) -> set:
    ids = set()
    for page in (site / 'api').rglob('index.html'):
        ids.update(re.findall(r'id="(hwprune\.[\w.]+)"', page.read_text()))
    return ids


def _qualified(module_name: str, name: str) -> str:
    obj = getattr(importlib.import_module(module_name), name)
    if type(obj).__name__ == 'module' and callable(getattr(obj, name, None)):
        obj = getattr(obj, name)  # hwprune.keras.strip: the submodule shadows the function once imported
    if type(obj).__name__ == 'module':
        return obj.__name__
    return f'{obj.__module__}.{obj.__qualname__}'


def test_every_public_name_has_an_api_entry(site):
    import hwprune
    anchors = _anchors(site)
    public = {name: 'hwprune' for name in hwprune.__all__ if not name.startswith('__')}
    for module in ('hwprune.plots', 'hwprune.report', 'hwprune.budgets', 'hwprune.knapsack', 'hwprune.data',
                   'hwprune.targets', 'hwprune.hls', 'hwprune.keras'):
        for name in importlib.import_module(module).__all__:
            if callable(getattr(importlib.import_module(module), name)):
                public.setdefault(name if module == 'hwprune' else f'{module}:{name}', module)
    missing = []
    for key, module in public.items():
        name = key.split(':')[-1]
        if _qualified(module, name) not in anchors:
            missing.append(f'{module}.{name} ({_qualified(module, name)})')
    assert not missing, 'no API entry for: ' + ', '.join(missing)


def test_pages_tutorial_and_install(site):
    tutorial = (site / 'examples' / 'tutorial' / 'index.html').read_text()
    assert 'HardwarePruning' in tutorial and 'model_mask_map' in tutorial
    assert (site / 'examples' / 'targets' / 'index.html').is_file()
    install = (site / 'install' / 'index.html').read_text()
    assert "hwprune[keras,hls]" in install and "hwprune[qkeras,hls]" in install and 'make demo' in install
    for page in ('concepts', 'callback', 'strip', 'hls', 'knapsack', 'targets', 'benchmarks', 'pictures', 'errors'):
        assert (site / page / 'index.html').is_file(), page
    report = (site / 'api' / 'report' / 'index.html').read_text()
    assert ':class:' not in report  # Sphinx roles dropped
    assert '<span class="gp">&gt;&gt;&gt; </span>' in report  # doctests highlighted as code
