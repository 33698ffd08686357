# Two commands: `make run` sets up and runs the booth, `make test` sets up and runs the tests.
# Setup is stamp-based: a second run does no reinstall work.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export STYLEBOOTH_DATA_DIR ?= $(CURDIR)/data
export STYLEBOOTH_MODEL_DIR ?= $(STYLEBOOTH_DATA_DIR)/models
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test test-unit bench lint typecheck models system-deps clean

run: $(VENV)/.installed-run models
	$(BIN)/stylebooth db upgrade
	$(BIN)/stylebooth serve

test: $(VENV)/.installed-test models system-deps typecheck
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q --durations=30

# The unit tier alone: no models, no shared data kit, no browser (works on a fresh clone).
test-unit: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q tests/unit

bench: $(VENV)/.installed-test models
	$(BIN)/python -m benchmarks.run

lint: $(VENV)/.installed-test typecheck
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy over kiosk/, render/, export/, db/ and benchmarks/ (the list is in pyproject.toml).
typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

models: $(VENV)/.installed-run
	$(BIN)/stylebooth models fetch

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install --quiet -c constraints.txt -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $@ $(VENV)/.installed-run

# Debian packages the tests use: Chromium for the browser tests, poppler for PDF renders,
# PostgreSQL for the scale-out tier (a throwaway cluster per run: tests/support/postgres.py).
system-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium chromium-driver"; \
	command -v pdftoppm >/dev/null || missing="$$missing poppler-utils"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	{ command -v cupsd >/dev/null && [ -e /usr/lib/cups/backend/cups-pdf ]; } || missing="$$missing cups cups-client printer-driver-cups-pdf"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing fonts-dejavu-core; \
	fi

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
