# calbridge — everything a fresh machine needs comes from these targets.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# The suite runs on every core (CI has two); a test module stays on one worker so its
# servers start once.
TEST_WORKERS ?= auto
CHROMIUM := /usr/bin/chromium
# apt-get needs root: CI runs as root, a developer's machine may need sudo.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: setup test demo serve bench lint package clean

setup: $(VENV)/.installed node_modules/.installed .venv-infra/.installed $(CHROMIUM)

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PIP) install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

# The IaC scanner pins packages the project's own venv must not be held back by.
.venv-infra/.installed: requirements-infra.txt
	$(PYTHON) -m venv .venv-infra
	.venv-infra/bin/pip install --quiet --disable-pip-version-check -r requirements-infra.txt
	touch $@

# The status page's browser test drives Debian's Chromium through Playwright; nothing
# downloads a browser build of its own. Present already: nothing to do.
$(CHROMIUM):
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium \
	  || ($(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y --no-install-recommends chromium)

node_modules/.installed: package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

test: setup
	$(PY) -m ruff check .
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

demo: setup
	$(PY) -m calbridge.demo

serve: setup
	$(PY) -m calbridge.host.stack

# BENCH_ARGS="--save now.json --baseline before.json" compares with an earlier run.
bench: setup
	$(PY) bench/sync_bench.py $(BENCH_ARGS)
	$(PY) bench/caldav_bench.py

# The zip `az functionapp deployment source config-zip` publishes (see infra/README.md).
package:
	$(PYTHON) infra/package.py calbridge.zip

lint: setup
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) .venv-infra .venv-vdirsyncer node_modules .pytest_cache .ruff_cache
