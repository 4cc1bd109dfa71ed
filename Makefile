# gradfit — two commands do all set-up on a fresh machine:
#   make run    create .venv, install gradfit and its dependencies, run the demo on bundled
#               real datasets (nothing else: no test tools, torch, dask or pyarrow)
#   make test   create .venv, install with the test extras ("dev"), run lint, types and the suite
# Each install leaves a stamp in the venv, remade when pyproject.toml changes: `make run` then
# `make test` in the same clone installs the test extras then; an install with the test extras
# also counts as the demo's install (it includes it), so `make run` after `make test` installs
# nothing.
PYTHON    ?= python3
VENV      ?= .venv
PY        := $(VENV)/bin/python
VENV_OK   := $(VENV)/.created
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test lint typecheck pytest clean

$(VENV_OK):
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "gradfit needs Python >= 3.11, found " + sys.version'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	touch $(VENV_OK)

$(RUN_STAMP): pyproject.toml | $(VENV_OK)
	$(PY) -m pip install --quiet -e .
	touch $(RUN_STAMP)

$(DEV_STAMP): pyproject.toml | $(VENV_OK)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(DEV_STAMP) $(RUN_STAMP)

run: $(RUN_STAMP)
	$(VENV)/bin/gradfit demo

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check src tests $(wildcard benchmarks) $(wildcard tools)
	$(VENV)/bin/ruff format --check src tests $(wildcard benchmarks) $(wildcard tools)

typecheck: $(DEV_STAMP)
	$(VENV)/bin/mypy

pytest: $(DEV_STAMP)
	$(VENV)/bin/pytest

test: lint typecheck pytest

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
