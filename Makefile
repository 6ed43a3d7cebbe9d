# Thin wrappers around the project's console entry points. Each target sets up the
# virtual environment in .venv first (once; again when pyproject.toml changes).
#   make export      train if needed, convert, verify, write models/
#   make test        the test suite
#   make train       train the default models (ARGS="--arch gru" etc. to change)
#   make bench       the full benchmark report (benchmarks/reports/)
#   make bench-edge  the TensorFlow-free part of the report (runs on a Raspberry Pi)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
ARGS ?=

.PHONY: setup setup-edge train export test bench bench-edge clean

setup: $(VENV)/.installed-dev
setup-edge: $(VENV)/.installed-edge

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed-dev: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@ $(VENV)/.installed-edge

$(VENV)/.installed-edge: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e .
	touch $@

train: setup
	$(PY) -m training $(ARGS)

export: setup
	$(PY) -m export $(ARGS)

test: setup
	$(PY) -m pytest $(ARGS)

bench: setup
	$(PY) -m benchmarks $(ARGS)

bench-edge: setup-edge
	$(PY) -m benchmarks --edge-only $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
