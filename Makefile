# Everything a fresh machine needs: `make demo` runs the main job, `make test` the test suite.
#
# Two stacks, each a virtual environment built from its pinned lock:
#   keras3 (default): Keras 3 on TensorFlow 2.21, HGQ2, docs and notebooks   -> .venv
#   keras2:           Keras 2 on TensorFlow 2.15, QKeras, tfmot (Python 3.11) -> .venv-keras2
# `make test` runs the suite on both; `make <target> STACK=keras2` runs any target on Keras 2.
PYTHON        ?= python3
PYTHON_KERAS2 ?= python3.11
STACK         ?= keras3

ifeq ($(STACK),keras2)
VENV       ?= .venv-keras2
VENV_PYTHON = $(PYTHON_KERAS2)
else ifeq ($(STACK),keras3)
VENV       ?= .venv
VENV_PYTHON = $(PYTHON)
else
$(error STACK must be keras3 or keras2, not '$(STACK)')
endif
PY    = $(VENV)/bin/python
LOCK  = requirements/$(STACK).lock
STAMP = $(VENV)/.installed
RUN   = TF_CPP_MIN_LOG_LEVEL=2 NO_MKDOCS_2_WARNING=1

.PHONY: venv demo test test-stack test-quick test-slow test-keras2 bench docs lock lock-keras3 lock-keras2 check-lock clean

# The lock is complete (every package pinned), so it is installed without resolving dependencies
# (tf_keras, in the keras3 lock, would otherwise pull the full `tensorflow` beside tensorflow-cpu).
$(STAMP): $(LOCK) pyproject.toml
	$(VENV_PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --no-deps -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(RUN) $(PY) -m hwprune.cli demo --output-dir hwprune_demo

# The whole suite on both stacks (what .ci/run runs).
test:
	$(MAKE) --no-print-directory test-stack STACK=keras3
	$(MAKE) --no-print-directory test-stack STACK=keras2

test-stack: $(STAMP)
	$(RUN) $(PY) -m pytest -q

test-quick: $(STAMP)
	$(RUN) $(PY) -m pytest -q -m "not slow"

test-slow: $(STAMP)
	$(RUN) $(PY) -m pytest -q -m slow

test-keras2:
	$(MAKE) --no-print-directory test-stack STACK=keras2

bench: $(STAMP)
	for b in bench/*.py; do $(RUN) $(PY) $$b || exit 1; done

# The documentation site (mkdocs, material theme, API reference from the docstrings, the notebooks
# of examples/ rendered) into build/site, warnings as errors (keras3 stack: it has the docs extra).
docs: $(STAMP)
	@$(PY) -c "import mkdocs, material, mkdocstrings, mkdocs_jupyter" 2>/dev/null || \
	  { echo "make docs needs the docs extra: $(PY) -m pip install -e '.[docs]'"; exit 1; }
	$(RUN) $(PY) -m mkdocs build --strict

# Regenerate the locks from requirements/*.in in throwaway environments.
lock: lock-keras3 lock-keras2

lock-keras3:
	rm -rf /tmp/hwprune-lock3 && $(PYTHON) -m venv /tmp/hwprune-lock3
	/tmp/hwprune-lock3/bin/pip install --quiet --upgrade pip
	/tmp/hwprune-lock3/bin/pip install --quiet -r requirements/keras3.in
	/tmp/hwprune-lock3/bin/pip install --quiet --no-deps -r requirements/keras3-nodeps.in
	{ echo "# Fully pinned default dev/CI environment (Keras 3 on TensorFlow, CPU), produced on Python 3.11 by"; \
	  echo "# 'pip freeze --all --exclude pip' after 'pip install -r requirements/keras3.in' and"; \
	  echo "# 'pip install --no-deps -r requirements/keras3-nodeps.in'. Installs unchanged on Python 3.11-3.13"; \
	  echo "# (make check-lock); make venv installs it with --no-deps. Regenerate with 'make lock-keras3'."; \
	  /tmp/hwprune-lock3/bin/pip freeze --all --exclude pip; } > requirements/keras3.lock

lock-keras2:
	rm -rf /tmp/hwprune-lock2 && $(PYTHON_KERAS2) -m venv /tmp/hwprune-lock2
	/tmp/hwprune-lock2/bin/pip install --quiet -r requirements/keras2.in
	{ echo "# Fully pinned Keras 2 / QKeras dev/CI environment (TensorFlow 2.15, Python 3.11), produced by 'pip freeze'"; \
	  echo "# from requirements/keras2.in. 'make venv STACK=keras2' installs exactly this; regenerate with 'make lock-keras2'."; \
	  /tmp/hwprune-lock2/bin/pip freeze; } > requirements/keras2.lock

# The keras3 lock resolves for Python 3.12 and 3.13 too (wheels only, nothing installed).
check-lock:
	for v in 3.12 3.13; do $(PYTHON) -m pip install --quiet --dry-run --no-deps --only-binary=:all: \
	  --python-version $$v --target /tmp/hwprune-check-lock -r requirements/keras3.lock || exit 1; done

clean:
	rm -rf .venv .venv-keras2 hwprune_demo build *.egg-info
