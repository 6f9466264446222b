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

# Debian packages, pinned: Apertium's output is part of the benchmark hash (spec: engines).
# The second group (close-language pairs, issue #14, and the tools their pipelines run: cg3,
# apertium-separable, apertium-anaphora) serves routes a spec names; v1.1 uses none of them.
# hunspell-sw: the Swahili word list of char_noise rules v2; hunspell-ar: the Arabic dictionary of
# char_noise rules v2.1 (attacks/lexicons.py).
APT_PINS := apertium=3.8.3-1+b2 lttoolbox=3.7.1-1+b2 apertium-lex-tools=0.4.2-2 \
	apertium-eng-spa=0.8.1-2 apertium-fr-es=0.9.4-1 \
	apertium-eng-cat=1.0.1-5 apertium-es-pt=1.1.6-1 apertium-spa-cat=2.2.0-3 apertium-es-gl=1.0.9-3 \
	apertium-fra-cat=1.10.0-1 apertium-oci-fra=1.0.0-1 apertium-mkd-bul=0.2.1-2 apertium-bel-rus=0.2.1-2 \
	apertium-rus-ukr=0.2.1-4 apertium-urd-hin=0.1.0~r64379-4 \
	cg3=1.3.9-1+b2 libcg3-1=1.3.9-1+b2 apertium-separable=0.6.1-1+b1 apertium-anaphora=1.1.1-1+b1 \
	hunspell-sw=1:7.5.0-1 hunspell-ar=3.2-1.2
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Apertium (rule-based MT for the back-translation family) comes from Debian, not PyPI.
# Installs (or moves to) the pinned versions; a mirror without them is an apt error.
system-deps:
	@missing=""; for pin in $(APT_PINS); do \
	  [ "$$(dpkg-query -W -f '$${Package}=$${Version}' $${pin%%=*} 2>/dev/null)" = "$$pin" ] || missing="$$missing $$pin"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --allow-downgrades $$missing; \
	fi

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

venv: $(BIN)/.installed

# The tests include the adaptive attacks, so TextAttack is installed first and required.
test: venv system-deps textattack
	XNLI_ROBUST_REQUIRE_TEXTATTACK=1 $(BIN)/python -m pytest -q

test-slow: venv system-deps textattack
	XNLI_ROBUST_REQUIRE_TEXTATTACK=1 $(BIN)/python -m pytest -q -m slow

# The main job with no arguments: the direct reference adapter on the lite benchmark.
bench: venv system-deps
	$(BIN)/xnli-robust bench

# TextAttack for `xnli-robust attack` and the baselines.  Its dependencies come from the
# `textattack` extra; TextAttack itself is installed (hash-pinned, --no-deps) into a folder
# outside site-packages, because its metadata requires flair, which requires transformers<5:
# `pip check` stays clean and nothing downgrades transformers (attacks/textattack_compat.py).
TEXTATTACK_DIR := $(VENV)/textattack-0.3.11

$(TEXTATTACK_DIR)/.installed: $(BIN)/.installed requirements/textattack.txt
	$(BIN)/pip install --quiet -e '.[textattack]'
	rm -rf $(TEXTATTACK_DIR)
	$(BIN)/pip install --quiet --no-deps --require-hashes --target $(TEXTATTACK_DIR) -r requirements/textattack.txt
	touch $@

textattack: $(TEXTATTACK_DIR)/.installed

clean:
	rm -rf $(VENV) build *.egg-info
