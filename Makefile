# The doors in: `make run` (the whole portal locally) and `make test` (the whole suite).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# The first interpreter that is Python >= 3.12 (Django 6.1 needs it); .python-version asks pyenv for 3.13.
SYSTEM_PYTHON := $(shell for p in python3 python3.13 python3.12; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null \
	&& { echo $$p; break; }; done)
FOUND_PYTHON := $(shell python3 --version 2>&1 || echo "no python3")

# Whether DEBUG came from outside (environment or command line), before the default below.
DEBUG_ORIGIN := $(origin DEBUG)
export DEBUG ?= 1

.PHONY: run test bench lint format install-dev check-python clean

check-python:
	@if [ -z "$(SYSTEM_PYTHON)" ]; then \
		echo "Python 3.12 or newer is needed (Django 6.1 requires it), but python3 is: $(FOUND_PYTHON)." >&2; \
		echo "Install Python 3.13 (with pyenv: 'pyenv install 3.13'; .python-version selects it) and retry." >&2; \
		exit 1; fi

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | check-python
	@test -x $(PY) || $(SYSTEM_PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

install-dev: $(VENV)/.installed-dev

# axe-core for the accessibility test, at the version package-lock.json pins. Without npm the
# test is skipped (and fails when REQUIRE_BROWSER is set, as CI does).
node_modules/.installed: package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --no-audit --no-fund && touch $@; \
	else echo "npm not found: the accessibility test will be skipped (it needs axe-core from npm)." >&2; fi

run: install-dev
	$(PY) -m devstack

test: install-dev node_modules/.installed
	$(PY) -m pytest $(PYTEST_ARGS)

# The production server and the deploy step before it (README, "Serving in production"). Both
# run with DEBUG off, as settings.py defaults it, unless DEBUG is given explicitly: the `?= 1`
# above is for run and test. No install step: production installs its packages when it builds.
PRODUCTION_ENV := $(if $(filter undefined,$(DEBUG_ORIGIN)),env -u DEBUG,env)
.PHONY: serve migrate
serve:
	$(PRODUCTION_ENV) $(PY) -m config.collectstatic
	exec $(PRODUCTION_ENV) $(VENV)/bin/gunicorn -c config/gunicorn.py config.wsgi

migrate:
	$(PRODUCTION_ENV) $(PY) manage.py migrate --noinput

bench: install-dev
	$(PY) -m bench.oidc_bench
	$(PY) -m bench.middleware_bench
	$(PY) -m bench.orders_bench $(BENCH_ARGS)
	$(PY) -m bench.uploads_bench $(BENCH_ARGS)

# Mixed traffic against the portal served as `make serve` serves it, then the checks that
# nothing was lost (README, "Load"). LOAD_ARGS: e.g. --seconds 10.
.PHONY: load
load: install-dev
	$(PY) -m bench.load $(LOAD_ARGS)

lint: install-dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: install-dev
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

clean:
	rm -rf .devstack test-output db.sqlite3 staticfiles .staticfiles
