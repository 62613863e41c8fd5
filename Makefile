# One entry point for everything. Each target creates .venv from the lock first when it is
# missing or stale (scripts/ensure-venv: uv when installable, pip otherwise).
#
#   make demo    validate the example connectors and show the DAGs Airflow builds from them
#   make test    the whole gate: ruff (lint + format), mypy, pytest
#   make bench   DAG-folder parse time for 10, 100 and 500 connector files

SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: venv demo test lint typecheck pytest bench schema lock clean

venv:
	@./scripts/ensure-venv

demo: venv
	@./scripts/demo

test: venv lint typecheck pytest

lint: venv
	$(VENV)/bin/ruff check src tests bench dags plugins
	$(VENV)/bin/ruff format --check src tests bench dags plugins

typecheck: venv
	$(VENV)/bin/mypy

pytest: venv
	$(PY) -m pytest $(PYTEST_ARGS)

bench: venv
	$(PY) bench/parse_time.py

schema: venv
	$(PY) -m saleslayer_airflow schema --output schema/connector.schema.json

lock: venv
	./scripts/lock

clean:
	rm -rf $(VENV) .airflow .demo .mypy_cache .ruff_cache
