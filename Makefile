# ionscreen: the two commands of the README (docs/ has the rest).
#   make screen  -> creates .venv (pinned) and runs `snakemake --cores 8 screen_candidates`
#   make test    -> creates .venv if needed and runs the test suite (what CI runs)
#   make test-mace -> a second venv (.venv-mace) with ionscreen[mace] and no sevenn: MACE MD, labels
#                     and the md rule with a tiny random MACE model (make test runs it after pytest)
#   make test-slurm -> a real one-node SLURM on this machine runs the .test workflow (needs root)
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ionscreen-installed

export HF_HUB_OFFLINE := 1
export TQDM_DISABLE ?= 0
export PYTHONUNBUFFERED := 1

MACE_VENV := .venv-mace
MACE_STAMP := $(MACE_VENV)/.ionscreen-installed
SEVENN_STACK := ^(sevenn|e3nn|torch-geometric)==

.PHONY: venv screen test test-mace test-slurm lint docs clean-results

venv: $(STAMP)

# torch is installed first and alone: `torch==2.13.0` takes the local CPU wheel; any other
# request would pull GBs of CUDA packages. Re-runs only when the pins change (idempotent).
# momentfm pins numpy 1.25 and transformers 4.33 (clashing with kinisi): its stack comes from
# requirements-moment.txt and momentfm itself without dependencies. matminer 0.10.1 (the
# room-temperature model's descriptors) pins pandas<3 and wants pymongo for its database helpers,
# which ionscreen does not use: it too goes in without dependencies (its featurisers run on pandas 3:
# tests/roomtemp/test_roomtemp.py). pip check ignores exactly those known lines and fails on anything else.
$(STAMP): requirements.txt requirements-dev.txt requirements-moment.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), f"ionscreen needs Python 3.11, found {sys.version.split()[0]}"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -r requirements.txt -r requirements-dev.txt -r requirements-moment.txt
	$(BIN)/python -m pip install -q --no-deps momentfm==0.1.4 matminer==0.10.1
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	@out=$$($(BIN)/python -m pip check | grep -v '^momentfm 0.1.4 has requirement \(numpy\|transformers\|huggingface-hub\)==' \
	  | grep -v '^matminer 0.10.1 \(requires pymongo\|has requirement pandas<3\)' || true); \
	  if [ -n "$$out" ]; then echo "$$out"; exit 1; else echo "pip check: ok (momentfm's 3 and matminer's 2 known pins ignored)"; fi
	touch $@

screen: $(STAMP)
	$(BIN)/snakemake --cores 8 screen_candidates

test: $(STAMP)
	$(MAKE) lint
	$(MAKE) docs
	$(BIN)/python -m pytest
	$(MAKE) test-mace

# The MACE path in its own venv: the core package and the `mace` extra, without the SevenNet stack
# (mace-torch pins e3nn 0.4.4; sevenn needs e3nn >= 0.5). tests/mace_md/ runs only here.
$(MACE_STAMP): requirements.txt requirements-mace.txt requirements-dev.txt pyproject.toml
	test -x $(MACE_VENV)/bin/python || $(PYTHON) -m venv $(MACE_VENV)
	$(MACE_VENV)/bin/python -m pip install -q --upgrade pip
	$(MACE_VENV)/bin/python -m pip install -q torch==2.13.0
	grep -Ev '$(SEVENN_STACK)' requirements.txt > $(MACE_VENV)/requirements-core.txt
	$(MACE_VENV)/bin/python -m pip install -q -r $(MACE_VENV)/requirements-core.txt -r requirements-mace.txt -r requirements-dev.txt
	$(MACE_VENV)/bin/python -m pip install -q --no-deps --no-build-isolation -e .
	@! $(MACE_VENV)/bin/python -c 'import sevenn' 2>/dev/null || (echo "sevenn must not be in $(MACE_VENV)"; exit 1)
	touch $@

test-mace: $(MACE_STAMP)
	$(MACE_VENV)/bin/python -m pytest tests/mace_md -p no:cacheprovider

# A one-node SLURM on this machine (apt: slurm-wlm, munge), the .test workflow through the SLURM
# executor plugin, a scancel fault test; stops the daemons it started. Needs root. Not in `make test`.
test-slurm: $(STAMP)
	bash .ci/test-slurm

# ruff for the package, and what Snakemake users lint a workflow with: snakemake --lint (rules,
# paths, logs) and snakefmt --check (formatting; line length in pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check src tests workflow_scripts benchmarks
	$(BIN)/ruff format --check -q src tests workflow_scripts benchmarks
	$(BIN)/snakemake --lint -s Snakefile --configfile .test/config.yaml > /dev/null
	$(BIN)/snakefmt --check Snakefile rules/

# The documentation site (mkdocs.yml, docs/): --strict fails on a broken link or anchor.
docs: $(STAMP)
	$(BIN)/mkdocs build --strict -q

clean-results:
	rm -rf results .snakemake
