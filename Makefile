# The README's commands. Everything installs into .venv from requirements*.txt.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Tests, demo and benchmark run on an embedded PostgreSQL unless
# HICCUP_TEST_POSTGRES_URL names a server (see the README).

.PHONY: install demo test lint soak bench clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

demo: install
	$(PY) scripts/demo.py

test: install
	$(PY) -m pytest

# Fleet-scale figures (minutes; the fleets are kept in bench/data): see
# docs/benchmark.md.
bench: install
	$(PY) bench/bench.py

# Random histories of reports, updates, retries and resets for several
# minutes (HICCUP_SOAK_EXAMPLES histories, default 800); prints how many ran.
soak: install
	HICCUP_SOAK=1 $(PY) -m pytest -q -s tests/test_stateful.py

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf var .pytest_cache .ruff_cache .hypothesis
