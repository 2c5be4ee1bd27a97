# Two commands for a fresh machine: `make run` (the dashboard) and `make test` (every check).
# Both build .venv from the pinned requirements on first use and skip that work afterwards.

VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check --require-virtualenv -q

.DEFAULT_GOAL := help
.PHONY: help run serve account test lint format lock clean

help:
	@echo "make run    start the dashboard (and the LeadPing sandbox when LEADPING_API_KEY is unset)"
	@echo "make serve  production: migrate, collectstatic, then gunicorn (README, Running in production)"
	@echo "make account create a login (asks for a username and password)"
	@echo "make test   ruff check, ruff format --check and the whole pytest suite"
	@echo "make format apply ruff's fixes and formatting"
	@echo "make lock   re-pin requirements/*.txt from pyproject.toml"
	@echo "make bench  the upstream budget's benchmark (docs/benchmarks.md; BENCH_ARGS=--single)"
	@echo "make clean  remove .venv, collected static files and caches"

run: $(VENV)/.base-installed
	$(PY) manage.py rundesk

# A login, on a fresh clone too: .venv and the tables are made first.
account: $(VENV)/.base-installed
	$(PY) manage.py migrate --noinput -v 0
	$(PY) manage.py createsuperuser

# Production: the settings come from the environment (README, "Running in production").
serve: $(VENV)/.base-installed
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput
	exec $(VENV)/bin/gunicorn -c leadping_web/gunicorn.conf.py leadping_web.wsgi

# With REDIS_URL set (the cross-process tests), the tests write and clear keys under a
# prefix of their own, never a running desk's.
test: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	REDIS_KEY_PREFIX="$${REDIS_KEY_PREFIX:-desk}-test-$$$$" $(VENV)/bin/pytest $(PYTEST_ARGS)

# The upstream-budget benchmark: sandbox + gunicorn in a temp dir, one table (docs/benchmarks.md).
.PHONY: bench
bench: $(VENV)/.base-installed
	$(PY) -m bench.run $(BENCH_ARGS)

format: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

lock: $(VENV)/.dev-installed
	$(PIP) install uv
	$(VENV)/bin/uv pip compile pyproject.toml --universal --python-version 3.12 -o requirements/base.txt
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --universal --python-version 3.12 -o requirements/dev.txt

$(VENV)/.base-installed: requirements/base.txt | $(PY)
	$(PIP) install -r requirements/base.txt
	@touch $@

$(VENV)/.dev-installed: requirements/dev.txt | $(PY)
	$(PIP) install -r requirements/dev.txt
	@touch $@ $(VENV)/.base-installed

# Django 6.1 needs Python 3.12 or newer: take $PYTHON if given (and only it), else the first
# suitable one.
$(PY):
	@set -e; found=""; \
	if [ -n "$${PYTHON:-}" ]; then \
	  if ! command -v "$$PYTHON" >/dev/null 2>&1; then \
	    echo "error: PYTHON=$$PYTHON: no such program." >&2; exit 1; fi; \
	  if ! "$$PYTHON" -c 'import sys, venv; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then \
	    echo "error: PYTHON=$$PYTHON is $$("$$PYTHON" --version 2>&1 | head -1); LeadPing Event Desk needs 3.12 or newer." >&2; \
	    exit 1; fi; \
	fi; \
	for candidate in $${PYTHON:-} python3.13 python3.12 python3.14 python3 \
	    $$HOME/.pyenv/versions/3.13*/bin/python3 $$HOME/.pyenv/versions/3.12*/bin/python3 \
	    /usr/local/bin/python3.13 /usr/bin/python3.13 /usr/bin/python3.12; do \
	  if command -v "$$candidate" >/dev/null 2>&1 && \
	     "$$candidate" -c 'import sys, venv; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then \
	    found="$$candidate"; break; fi; \
	done; \
	if [ -z "$$found" ]; then \
	  echo "error: LeadPing Event Desk needs Python 3.12 or newer (3.13 recommended)." >&2; \
	  echo "       Install one, or point PYTHON=/path/to/python3.13 at it, then run make again." >&2; \
	  exit 1; fi; \
	echo "Creating $(VENV) with $$("$$found" --version) ($$found)"; \
	"$$found" -m venv $(VENV)

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
