# calbridge — everything a fresh machine needs comes from these targets.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: setup test demo serve lint clean

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

test: setup
	$(PY) -m ruff check .
	$(PY) -m pytest

demo: setup
	$(PY) -m calbridge.demo

serve: setup
	$(PY) -m calbridge.host.stack

lint: setup
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache
