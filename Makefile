# ionscreen: the two commands of the README.
#   make screen  -> creates .venv (pinned) and runs `snakemake --cores 8 screen_candidates`
#   make test    -> creates .venv if needed and runs the test suite (what CI runs)
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ionscreen-installed

export HF_HUB_OFFLINE := 1
export TQDM_DISABLE ?= 0
export PYTHONUNBUFFERED := 1

.PHONY: venv screen test lint clean-results

venv: $(STAMP)

# torch is installed first and alone: `torch==2.13.0` takes the local CPU wheel; any other
# request would pull GBs of CUDA packages. Re-runs only when the pins change (idempotent).
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), f"ionscreen needs Python 3.11, found {sys.version.split()[0]}"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -r requirements.txt -r requirements-dev.txt
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	touch $@

screen: $(STAMP)
	$(BIN)/snakemake --cores 8 screen_candidates

test: $(STAMP)
	$(BIN)/ruff check src tests workflow_scripts benchmarks
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests workflow_scripts benchmarks

clean-results:
	rm -rf results .snakemake
