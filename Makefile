# Two commands for a new user: `make demo` and `make test`. Both set themselves up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
FORGE := node_modules/@foundry-rs/forge-linux-amd64/bin/forge

.PHONY: demo test setup build lint typecheck forge-test pytest bench serve devnet-up devnet-down lock clean chaos

demo: setup build
	$(PY) -m tools.demo

test: setup build lint typecheck forge-test pytest

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

node_modules/.installed: package-lock.json
	@command -v npm >/dev/null || { echo "npm (Node 20+) is required: install Node.js, then re-run" >&2; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

build: node_modules/.installed
	cd contracts && ../$(FORGE) build --quiet

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup
	$(VENV)/bin/mypy settlement api devnet tests tools

forge-test: build
	cd contracts && FOUNDRY_PROFILE=$${FOUNDRY_PROFILE:-$(if $(CI),ci,default)} ../$(FORGE) test

pytest: setup build
	$(PY) -m pytest

bench: setup build
	$(PY) -m tools.bench

# One seeded fault simulation (tests/simulation): SEED and OPS pick the run, FAULTS (comma-separated) narrows the
# fault kinds; one summary line, exit 1 on a violation.
chaos: setup build
	$(PY) -m tests.simulation --seed $${SEED:-1} --ops $${OPS:-300} $${FAULTS:+--faults $$FAULTS}

# The API alone, on the persistent devnet (started if needed): SETTLEMENT_* settings apply.
serve: setup build
	$(PY) -m devnet up
	$(PY) -m api

devnet-up: setup build
	$(PY) -m devnet up

devnet-down: setup
	$(PY) -m devnet down

# Re-resolve the Python lock from pyproject in a throwaway venv.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --disable-pip-version-check -e ".[dev]"
	.lock-venv/bin/pip freeze --exclude-editable > requirements.lock
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) node_modules contracts/out contracts/cache .mypy_cache .ruff_cache
