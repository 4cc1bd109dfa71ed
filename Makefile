# gradfit — two commands do all set-up on a fresh machine:
#   make run    create .venv, install, run the demo on bundled real datasets
#   make test   create .venv, install with test tools, run lint, types and the whole suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck pytest clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "gradfit needs Python >= 3.11, found " + sys.version'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/gradfit demo

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests $(wildcard benchmarks) $(wildcard tools)
	$(VENV)/bin/ruff format --check src tests $(wildcard benchmarks) $(wildcard tools)

typecheck: $(STAMP)
	$(VENV)/bin/mypy

pytest: $(STAMP)
	$(VENV)/bin/pytest

test: lint typecheck pytest

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
