"""mkdocs hook: the notebooks live in examples/ (where users and the tests run them); the site
renders them from there, so there is one copy of each."""

from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ('tutorial.ipynb', 'targets.ipynb')


@event_priority(100)  # before mkdocs-jupyter looks for notebooks among the files
def on_files(files, config):
    for name in NOTEBOOKS:
        # a plain File, examples/<name> of the repository (mkdocs-jupyter rebuilds it from
        # src_dir + src_path); its page is examples/<name without .ipynb>/
        files.append(File(f'examples/{name}', str(ROOT), config['site_dir'], config['use_directory_urls']))
    return files
