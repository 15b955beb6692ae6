# Two commands: `make demo` runs the end-to-end example lake DAG; `make test` runs ruff, mypy, the import-cycle
# check and pytest.
# Both create .venv on first use (uv; about 2-3 minutes cold, seconds warm) and install system packages when root.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
AIRFLOW_VERSION ?= 3.3.2
STAMP := $(VENV)/.installed
DEMO_HOME := $(CURDIR)/.demo
PYTEST_ARGS ?=

.PHONY: demo test lint venv system-deps test-system-deps clean hadoop-up hadoop-down hadoop-kerberos-up hadoop-kerberos-down

system-deps:
	@bash scripts/system-deps.sh

test-system-deps:
	@bash scripts/system-deps.sh --test

$(STAMP): pyproject.toml Makefile scripts/system-deps.sh
	@$(MAKE) --no-print-directory system-deps
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(BIN)/uv || $(BIN)/python -m pip install -q uv
	$(BIN)/uv pip install -p $(BIN)/python -q "apache-airflow==$(AIRFLOW_VERSION)" -e ".[test,spark,postgres,openlineage]"
	@# Byte-compile once: with PYTHONDONTWRITEBYTECODE set (as on CI machines) every process would otherwise
	@# recompile Airflow's imports, about 10 s per process here.
	@$(BIN)/python -m compileall -q -j 0 $(VENV)/lib >/dev/null 2>&1 || true
	@touch $(STAMP)

venv: $(STAMP)

LINT_DIRS := $(wildcard airflow_zaloni tests example_dags benchmarks scripts)

lint: $(STAMP)
	$(BIN)/ruff check $(LINT_DIRS)
	$(BIN)/ruff format --check $(LINT_DIRS)
	$(BIN)/mypy
	$(BIN)/python scripts/check_import_cycles.py airflow_zaloni

test: lint test-system-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

DEMO_ENV := AIRFLOW_HOME=$(DEMO_HOME) AIRFLOW__CORE__DAGS_FOLDER=$(CURDIR)/example_dags \
	AIRFLOW__CORE__LOAD_EXAMPLES=False AIRFLOW__ZALONI__LAKE_ROOT=$(DEMO_HOME)/lake SPARK_LOCAL_IP=127.0.0.1 \
	PATH=$(CURDIR)/$(BIN):$$PATH

demo: $(STAMP)
	@mkdir -p $(DEMO_HOME)
	$(DEMO_ENV) $(BIN)/airflow db migrate >/dev/null
	$(DEMO_ENV) $(BIN)/airflow dags test zaloni_lake_end_to_end
	$(BIN)/zaloni lake ls $(DEMO_HOME)/lake

# A real local Hadoop (HDFS HA + YARN HA + MapReduce) in .hadoop/: then `source .hadoop/env`
hadoop-up:
	@bash scripts/hadoop.sh up $(CURDIR)/.hadoop

hadoop-down:
	@bash scripts/hadoop.sh down $(CURDIR)/.hadoop

# The Kerberized variant (a MiniKdc, HDFS and one RM with SPNEGO) in .hadoop-kerberos/: `source .hadoop-kerberos/env`
hadoop-kerberos-up:
	@bash scripts/hadoop.sh up-kerberos $(CURDIR)/.hadoop-kerberos

hadoop-kerberos-down:
	@bash scripts/hadoop.sh down $(CURDIR)/.hadoop-kerberos

clean:
	rm -rf $(DEMO_HOME) .pytest_cache .mypy_cache .ruff_cache
