# Every command the project is run with; CI (.ci/run) calls `make lint` and `make test` too.

.DEFAULT_GOAL := all
.PHONY: help install dev test lint format all clean bench

VENV := .venv
BIN := $(VENV)/bin
# Written after a successful install; pip runs again only when pyproject.toml is newer.
STAMP := $(VENV)/.installed
# The interpreter that creates .venv: PYTHON=... when given, else the first of these that runs
# and is 3.11 or newer (a pyenv shim for a version that is not active does not run).
PYTHON_CANDIDATES := python3.12 python3
# Extra pytest arguments, e.g. `make test ARGS="-k health -x"`.
ARGS ?=

help: ## List the targets.
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

install: $(STAMP) ## Create .venv (if missing) and install the project with its test tools.

$(STAMP): pyproject.toml
	@if [ ! -x $(BIN)/python ]; then \
	  python="$(PYTHON)"; \
	  if [ -z "$$python" ]; then \
	    for candidate in $(PYTHON_CANDIDATES); do \
	      if $$candidate -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then \
	        python=$$candidate; break; \
	      fi; \
	    done; \
	  fi; \
	  if [ -z "$$python" ]; then \
	    echo "Python 3.11 or newer is needed: none of $(PYTHON_CANDIDATES) is; set PYTHON=..." >&2; \
	    exit 1; \
	  fi; \
	  echo "Creating $(VENV) with $$($$python --version)"; \
	  $$python -m venv $(VENV); \
	fi
	$(BIN)/python -m pip install --disable-pip-version-check -e '.[test]'
	@touch $@

dev: install ## Serve every function at http://127.0.0.1:8000 on an embedded Upstash stand-in.
	$(BIN)/python -m devtools.dev_server

# The bench extra (the peers it measures) on top of the project's install; again only when
# pyproject.toml is newer.
BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --disable-pip-version-check -e '.[test,bench]'
	@touch $@

bench: $(BENCH_STAMP) ## Benchmarks: cost, speed, growth, peers (BENCHMARKS.md); ARGS="--quick".
	$(BIN)/python -m devtools.bench $(ARGS)

test: install ## Run the tests (a private redis-server when installed, else fakeredis).
	$(BIN)/pytest $(ARGS)

lint: install ## ruff check, ruff format --check and mypy (strict).
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install ## Apply ruff's fixes and formatting.
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

all: lint test ## lint, then test.

clean: ## Remove caches and build output (keeps .venv; `rm -rf .venv` for a fresh install).
	rm -rf .build .serverless .pytest_cache .mypy_cache .ruff_cache
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -exec rm -rf {} +
