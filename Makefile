# Two commands for a new user: `make demo` and `make test`. Both set themselves up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
FORGE := node_modules/@foundry-rs/forge-linux-amd64/bin/forge

.PHONY: demo test setup build browser artifacts lint typecheck forge-test pytest bench serve devnet-up devnet-down lock clean chaos

demo: setup build
	$(PY) -m tools.demo

test: setup build lint typecheck forge-test pytest

setup: $(VENV)/.installed node_modules/.installed

# Each setup step says what it does first: a first run takes a minute or two, never in silence.
$(VENV)/.installed: requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (set PYTHON=python3.11)")'
	@echo "== setup: creating the Python virtualenv $(VENV)"
	$(PYTHON) -m venv $(VENV)
	@echo "== setup: installing the locked Python packages (requirements.lock, about 80 packages)"
	PYTHONUNBUFFERED=1 $(PY) -m pip install --disable-pip-version-check --progress-bar off -r requirements.lock | grep --line-buffered -E '^(Collecting|Successfully installed|ERROR)' | sed 's/^/   /'; test $${PIPESTATUS[0]} -eq 0
	@echo "== setup: installing this project into the virtualenv (editable)"
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

node_modules/.installed: package-lock.json
	@command -v npm >/dev/null || { echo "npm (Node 20+) is required: install Node.js, then re-run" >&2; exit 1; }
	@echo "== setup: installing anvil, forge, cast, solc-js and OpenZeppelin from npm (package-lock.json)"
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# forge's output, then the packaged copy the wheel ships (settlement/chain/contracts/*.json).
build: node_modules/.installed $(VENV)/.installed
	@echo "== build: compiling the contracts (forge, solc-js)"
	cd contracts && ../$(FORGE) build --quiet
	$(PY) -m tools.contract_artifacts

artifacts: build

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup
	$(VENV)/bin/mypy settlement tests tools

forge-test: build
	cd contracts && FOUNDRY_PROFILE=$${FOUNDRY_PROFILE:-$(if $(CI),ci,default)} ../$(FORGE) test

pytest: setup build browser
	$(PY) -m pytest

# The dashboard's browser tests drive Debian's chromium (never a downloaded browser build).
# Installed here when missing and possible (root with apt-get); otherwise those tests are
# skipped with a message (and fail in CI, where .ci/run installs it).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "== setup: installing chromium (Debian package) for the dashboard's browser tests"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "== chromium is not installed: the dashboard's browser tests will be skipped (apt-get install chromium)"; \
	  fi; }

bench: setup build
	$(PY) -m tools.bench

# One seeded fault simulation (tests/simulation): SEED and OPS pick the run, FAULTS (comma-separated) narrows the
# fault kinds; one summary line, exit 1 on a violation.
chaos: setup build
	$(PY) -m tests.simulation --seed $${SEED:-1} --ops $${OPS:-300} $${FAULTS:+--faults $$FAULTS}

# The API alone, on the persistent devnet (started if needed): SETTLEMENT_* settings apply.
serve: setup build
	$(PY) -m settlement.devnet up
	$(PY) -m settlement.api

devnet-up: setup build
	$(PY) -m settlement.devnet up

devnet-down: setup
	$(PY) -m settlement.devnet down

# Re-resolve the Python lock from pyproject in a throwaway venv.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --disable-pip-version-check -e ".[dev]"
	.lock-venv/bin/pip freeze --exclude-editable > requirements.lock
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) node_modules contracts/out contracts/cache .mypy_cache .ruff_cache build dist *.egg-info
