# Everything a fresh machine needs: `make demo` runs the main job, `make test` the test suite.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed

.PHONY: venv demo test test-quick test-slow bench lock clean

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m hwprune.cli demo --output-dir hwprune_demo

test: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m pytest -q

test-quick: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m pytest -q -m "not slow"

bench: $(STAMP)
	for b in bench/*.py; do TF_CPP_MIN_LOG_LEVEL=2 $(PY) $$b || exit 1; done

lock:
	$(PYTHON) -m venv /tmp/hwprune-lock && /tmp/hwprune-lock/bin/pip install -r requirements.in && \
	  { echo "# Fully pinned development/CI environment for Python 3.11, produced by 'pip freeze' from requirements.in."; \
	    echo "# 'make venv' installs exactly this; regenerate with 'make lock'."; /tmp/hwprune-lock/bin/pip freeze; } > requirements.lock

clean:
	rm -rf $(VENV) hwprune_demo build *.egg-info

# The documentation site (mkdocs, material theme, API reference from the docstrings, the notebooks
# of examples/ rendered) into build/site, warnings as errors. Needs the `docs` extra in .venv.
.PHONY: docs
docs: $(STAMP)
	@$(PY) -c "import mkdocs, material, mkdocstrings, mkdocs_jupyter" 2>/dev/null || \
	  { echo "make docs needs the docs extra: $(PY) -m pip install -e '.[docs]'"; exit 1; }
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict
