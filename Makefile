# Set-up and everyday commands. Every target creates a virtual environment on first use, one per
# Python version: .venv/3.11, .venv/3.13, ... Another interpreter: make test PYTHON=python3.13
# (a command on PATH or a path, e.g. PYTHON=$(pyenv root)/versions/3.13.0/bin/python3.13).
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
PYVER  := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
ifeq ($(PYVER),)
$(error PYTHON=$(PYTHON) does not run; give an interpreter, e.g. make test PYTHON=python3.13)
endif
VENV   := .venv/$(PYVER)
BIN    := $(VENV)/bin
# Numba's cache keyed by the sources (bayesfm/_numba_cache.py): compiled code never outlives
# the source it came from, even when a kernel calls one defined in another file
export NUMBA_CACHE_DIR ?= $(CURDIR)/.numba-cache/$(shell $(PYTHON) bayesfm/_numba_cache.py . | xargs basename)

.PHONY: demo test test-fast docs bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,notebooks,docs]"
	touch $@ $(VENV)/.installed

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,bench]"
	touch $@ $(VENV)/.installed $(VENV)/.installed-test

## demo: install the package and run a small end-to-end fit (RMSE and a predictive interval)
demo: $(VENV)/.installed
	$(BIN)/python -m bayesfm.demo

## test: install with the test extras, lint, run the whole test suite (notebooks included), build the docs
test: $(VENV)/.installed-test
	$(BIN)/python -m ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	$(BIN)/python -m mkdocs build --strict --site-dir build/site

## docs: build the documentation site into build/site, warnings as errors
docs: $(VENV)/.installed-test
	$(BIN)/python -m mkdocs build --strict --site-dir build/site

## test-fast: lint and the unit tests only (no statistical-correctness or dataset tests)
test-fast: $(VENV)/.installed-test
	$(BIN)/python -m ruff check .
	$(BIN)/python -m pytest -m "not statistical and not dataset and not notebook" $(PYTEST_ARGS)

## bench: bayesfm against myFM on MovieLens-100k and a9a (needs BAYESFM_DATA)
bench: $(VENV)/.installed-bench
	$(BIN)/python benchmarks/bench_regression.py
	$(BIN)/python benchmarks/bench_classification.py
	$(BIN)/python benchmarks/bench_relational.py

clean:
	rm -rf .venv build dist *.egg-info .pytest_cache .numba-cache
