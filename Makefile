# One entry point for everything. Each target creates .venv from the lock first when it is
# missing or stale (scripts/ensure-venv: uv when installable, pip otherwise).
#
#   make demo    validate the example connectors and show the DAGs Airflow builds from them
#   make test    the whole gate: ruff (lint + format), mypy, pytest
#   make bench   DAG-folder parse time for 10, 100 and 500 connector files
#   make bench-pipeline  issue 12's benchmark: floor, split, three DAG runs, dlt, side by side
#                (BENCH_ARGS="--rows 100000 --json out.json"; creates .bench/dlt-venv with dlt)
#   make cluster a distributed Airflow to look at: CeleryExecutor, Redis, PostgreSQL, S3 (moto),
#                two workers, generated connector DAGs (CLUSTER_ARGS="--trigger"); Ctrl-C stops it

SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: venv demo test lint typecheck pytest bench bench-pipeline schema lock clean cluster

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

# The dlt job of ../shared/bench runs in a venv of its own, as its README asks: dlt is no
# dependency of the project.
DLT_VENV ?= .bench/dlt-venv

bench-pipeline: venv
	@mkdir -p .bench && echo '*' > .bench/.gitignore
	@$(DLT_VENV)/bin/python -c 'import dlt' 2>/dev/null || { \
		echo "creating $(DLT_VENV) with dlt[parquet] 1.31 (the benchmark's peer job)"; \
		python3 -m venv $(DLT_VENV) && $(DLT_VENV)/bin/pip install -q 'dlt[parquet]==1.31.0'; }
	$(PY) bench/pipeline.py --dlt-python $(DLT_VENV)/bin/python $(BENCH_ARGS)

schema: venv
	$(PY) -m saleslayer_airflow schema --output schema/connector.schema.json

lock: venv
	./scripts/lock

cluster: venv
	@./scripts/cluster $(CLUSTER_ARGS)

clean:
	rm -rf $(VENV) .airflow .demo .mypy_cache .ruff_cache
