# semsearch — two commands on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
CONFIG ?= config/default.toml
PYTEST_ARGS ?=

.PHONY: run test lint typecheck unit proto check-proto bench clean

$(STAMP): pyproject.toml clients/python/pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "semsearch needs Python 3.11, got " + sys.version' 
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e clients/python -e '.[dev]'
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

run: $(STAMP)
	$(BIN)/semsearch serve --config $(CONFIG)

proto: $(STAMP)
	$(BIN)/python scripts/gen_protos.py

PY_DIRS := server tests scripts $(wildcard bench) $(wildcard clients/python)

# Contracts may not break against the previous commit (buf FILE rules). A deliberate break is made
# visible by running with BREAKING_AGAINST set to the last commit the break is allowed against.
BREAKING_AGAINST ?= HEAD~1

lint: $(STAMP) $(NODE_STAMP)
	node_modules/.bin/buf lint
	@if git rev-parse -q --verify '$(BREAKING_AGAINST)^{commit}' >/dev/null; then \
		echo "buf breaking --against .git#ref=$(BREAKING_AGAINST)"; \
		node_modules/.bin/buf breaking --against '.git#ref=$(BREAKING_AGAINST)'; \
	else echo "buf breaking: no commit $(BREAKING_AGAINST) in this clone (shallow?); skipped"; fi
	$(BIN)/ruff check $(PY_DIRS)
	$(BIN)/ruff format --check $(PY_DIRS)

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) $(NODE_STAMP) lint typecheck
	$(BIN)/python scripts/gen_protos.py --check
	PATH="$(CURDIR)/node_modules/.bin:$$PATH" $(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
