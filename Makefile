# Every command the project is run with; CI (.ci/run) calls `make lint` and `make test` too.

.DEFAULT_GOAL := all
.PHONY: help install dev dev-reset test test-py test-ts test-browser chromium lint format all clean bench load package report lock generate openapi fuzz
# A recipe that fails leaves no half-built target behind to look up to date next time.
.DELETE_ON_ERROR:

VENV := .venv
BIN := $(VENV)/bin
# Written after a successful install; pip runs again only when pyproject.toml or the lock is newer.
STAMP := $(VENV)/.installed
# The Lambda artifact's runtime dependencies, pinned with hashes (`make lock` writes it).
LOCK := requirements/lambda.lock
# The lock's pins without their hashes: the test environment runs the versions Lambda gets, and
# pip does not ask for a hash of every test tool.
CONSTRAINTS := $(VENV)/lambda-constraints.txt
# The interpreter that creates .venv: PYTHON=... when given, else the first of these that runs
# and is 3.11 or newer (a pyenv shim for a version that is not active does not run).
PYTHON_CANDIDATES := python3.12 python3
# Extra pytest arguments, e.g. `make test ARGS="-k health -x"`.
ARGS ?=

help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

install: $(STAMP) ## Create .venv (if missing) and install the project with its test tools.

$(BIN)/python:
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

$(STAMP): pyproject.toml $(LOCK) | $(BIN)/python
	sed -n 's/^\([A-Za-z0-9][A-Za-z0-9._-]*==[^ ;\\]*\).*/\1/p' $(LOCK) > $(CONSTRAINTS)
	$(BIN)/python -m pip install --disable-pip-version-check -c $(CONSTRAINTS) -e '.[test]'
	@touch $@

dev: install ## Serve every function at http://127.0.0.1:8000; data kept in .dev-data/.
	$(BIN)/python -m devtools.dev_server

dev-reset: ## Forget make dev's data and anonymous-token secret (rm -rf .dev-data).
	rm -rf .dev-data

# The bench extra (the peers it measures) on top of the project's install; again only when
# pyproject.toml is newer.
BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --disable-pip-version-check -e '.[test,bench]'
	@touch $@

bench: $(BENCH_STAMP) ## Benchmarks: cost, speed, growth, peers (BENCHMARKS.md); ARGS="--quick".
	$(BIN)/python -m devtools.bench $(ARGS)

load: install ## Load test on loopback: every route at 1-64 concurrent users (under 3 minutes); ARGS="--levels 1,8".
	$(BIN)/python -m devtools.load $(ARGS)

# --- The Lambda artifact ---------------------------------------------------------------------
# The pinned Serverless Framework v3 CLI (the community `osls` fork: v4 downloads a binary and
# wants a login at first run). Install scripts are skipped: packaging needs none of them.
OSLS := node_modules/.bin/osls
NPM_STAMP := node_modules/.installed
DEPS_STAMP := .build/deps.installed
ARTIFACT := .build/chat-store.zip
TEMPLATE := .serverless/cloudformation-template-update-stack.json
# Packaging resolves every ${param:...}; the required ones get placeholders, since the zip
# holds no configuration. A deploy gives the real values (docs/operations.md, "Deploying").
PACKAGE_STAGE ?= ci
PACKAGE_PARAMS := --param="upstashRedisRestUrl=https://packaging-only.invalid" \
	--param="upstashRedisRestToken=packaging-only"
export SLS_TELEMETRY_DISABLED := 1
export SLS_NOTIFICATIONS_MODE := off
SOURCES := $(shell find functions shared -type f \( -name '*.py' -o -name '*.lua' \) 2>/dev/null)

$(NPM_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "Node.js 20.19+ with npm is needed to package" >&2; exit 1; }
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

$(DEPS_STAMP): $(STAMP) $(LOCK) devtools/package.py
	$(BIN)/python -m devtools.package deps
	@touch $@

$(ARTIFACT): $(DEPS_STAMP) $(SOURCES) devtools/package.py
	$(BIN)/python -m devtools.package build

$(TEMPLATE): $(NPM_STAMP) $(ARTIFACT) serverless.yml serverless.functions.yml
	$(OSLS) package --stage $(PACKAGE_STAGE) $(PACKAGE_PARAMS)
	$(BIN)/python -m devtools.package check

package: $(TEMPLATE) ## Validate serverless.yml, build the Lambda zip (.build/) and its template (.serverless/).

report: $(TEMPLATE) ## The zip's size and each handler's cold import against its deps alone; ARGS="--compare".
	$(BIN)/python -m devtools.package report $(ARGS)

# uv resolves for Lambda's platform from any machine. Installed only for this target, and
# without the project: a pyproject.toml the old lock cannot satisfy must still be lockable.
LOCK_STAMP := $(VENV)/.installed-lock

$(LOCK_STAMP): | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check 'uv>=0.9,<1' 'packaging>=24'
	@touch $@

lock: $(LOCK_STAMP) ## Re-resolve requirements/lambda.lock from pyproject.toml; ARGS="--upgrade" moves every pin.
	$(BIN)/python -m devtools.package lock -- $(ARGS)

test: install package ## Build the artifact, then run the tests (redis-server if installed, else fakeredis), then test-ts and test-browser.
	$(BIN)/pytest $(ARGS)
	$(MAKE) test-ts
	$(MAKE) test-browser

# The quick loop: the artifact's tests skip without a zip, and fail while it is older than the
# work tree (`make package`).
test-py: install ## pytest alone, on the installed .venv: no packaging, no TypeScript, no browser; ARGS as for test.
	$(BIN)/pytest $(ARGS)

# --- The TypeScript client (clients/typescript) ------------------------------------------------
# Installed from its package-lock.json, again only when package.json or the lock changes.
TS_CLIENT := clients/typescript
TS_STAMP := $(TS_CLIENT)/node_modules/.installed

$(TS_STAMP): $(TS_CLIENT)/package.json $(TS_CLIENT)/package-lock.json
	@command -v npm >/dev/null || { echo "Node.js 20+ with npm is needed for the TypeScript client" >&2; exit 1; }
	npm ci --prefix $(TS_CLIENT) --no-audit --no-fund --loglevel=error
	@touch $@

test-ts: install $(TS_STAMP) ## TypeScript client: types up to date, build, unit and integration tests with coverage.
	npm --prefix $(TS_CLIENT) test

# --- The Next.js example and its browser tests (examples/nextjs) -------------------------------
# Installed from its package-lock.json like the client; the client is a `file:` dependency, so
# its dist/ is built first. The tests drive Debian's Chromium (CHROMIUM_PATH=... for another);
# Playwright never downloads a browser.
NEXT_APP := examples/nextjs
NEXT_STAMP := $(NEXT_APP)/node_modules/.installed
CHROMIUM_PATH ?= /usr/bin/chromium
export CHROMIUM_PATH
export NEXT_TELEMETRY_DISABLED := 1

$(NEXT_STAMP): $(NEXT_APP)/package.json $(NEXT_APP)/package-lock.json
	@command -v npm >/dev/null || { echo "Node.js 20.9+ with npm is needed for the Next.js example" >&2; exit 1; }
	npm ci --prefix $(NEXT_APP) --no-audit --no-fund --loglevel=error
	@touch $@

chromium: ## Install Debian's chromium for the browser tests if missing (sudo when not root).
	@if [ -x "$(CHROMIUM_PATH)" ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null; then \
	  echo "The browser tests need Chromium at $(CHROMIUM_PATH): install it, or set CHROMIUM_PATH=..." >&2; exit 1; \
	fi; \
	if [ "$$(id -u)" = 0 ]; then sudo=; \
	elif command -v sudo >/dev/null; then sudo=sudo; \
	else echo "Installing chromium needs root: run 'apt-get install -y --no-install-recommends chromium' as root" >&2; exit 1; fi; \
	echo "Installing Debian's chromium for the browser tests"; \
	$$sudo apt-get update && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; \
	[ -x "$(CHROMIUM_PATH)" ] || { echo "chromium was installed but $(CHROMIUM_PATH) is still missing; set CHROMIUM_PATH=..." >&2; exit 1; }

test-browser: install $(TS_STAMP) $(NEXT_STAMP) chromium ## Next.js example: build it, then real-browser tests (Chromium) against next start and the local API.
	npm --prefix $(TS_CLIENT) run build
	npm --prefix $(NEXT_APP) run build
	npm --prefix $(NEXT_APP) run test:browser

# Examples per operation for `make fuzz` (`make test` runs 50): FUZZ_EXAMPLES=2000 make fuzz for longer.
FUZZ_EXAMPLES ?= 500

fuzz: install ## Schemathesis, every check and the stateful links, with FUZZ_EXAMPLES (500) examples per operation.
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest tests/api/test_schemathesis.py $(ARGS)

generate: install $(TS_STAMP) ## Regenerate what the declarations in functions/ give: openapi.json, serverless.functions.yml, the TS types (tests fail while any is stale).
	$(BIN)/python -m devtools.openapi > openapi.json.tmp
	mv openapi.json.tmp openapi.json
	$(BIN)/python -m devtools.serverless_functions > serverless.functions.yml.tmp
	mv serverless.functions.yml.tmp serverless.functions.yml
	npm --prefix clients/typescript run generate

openapi: generate ## The same as generate (its older name).

lint: install ## ruff check, ruff format --check and mypy (strict).
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install ## Apply ruff's fixes and formatting.
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

all: lint test ## lint, then test.

clean: ## Remove caches, build output and node_modules (keeps .venv; `rm -rf .venv` for a fresh install).
	rm -rf .build .serverless node_modules .pytest_cache .mypy_cache .ruff_cache
	rm -rf $(TS_CLIENT)/node_modules $(TS_CLIENT)/dist $(TS_CLIENT)/build
	rm -rf $(NEXT_APP)/node_modules $(NEXT_APP)/.next $(NEXT_APP)/test-results
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -exec rm -rf {} +
