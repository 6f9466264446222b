# One entry point for users and CI.  `make test` builds a fresh virtual environment with
# everything pinned (torch 2.13.0 CPU) and runs the test suite offline.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA ?= $(abspath ../shared/data)
export XNLI_ROBUST_DATA ?= $(DATA)
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export NLTK_DATA ?= $(DATA)/nltk_data

.PHONY: venv system-deps test test-slow bench textattack clean

APT_PACKAGES := apertium apertium-eng-spa apertium-fr-es
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Apertium (rule-based MT for the back-translation family) comes from Debian, not PyPI.
system-deps:
	@if ! command -v apertium >/dev/null || ! dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(APT_PACKAGES); \
	fi

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

venv: $(BIN)/.installed

test: venv system-deps
	$(BIN)/python -m pytest -q

test-slow: venv system-deps
	$(BIN)/python -m pytest -q -m slow

# The main job with no arguments: the direct reference adapter on the lite benchmark.
bench: venv system-deps
	$(BIN)/xnli-robust bench

# Optional: TextAttack for the throughput comparison (and, later, adaptive attacks).
textattack: venv
	$(BIN)/pip install --quiet -e '.[textattack]'
	$(BIN)/pip install --quiet --no-deps textattack==0.3.11

clean:
	rm -rf $(VENV) build *.egg-info
