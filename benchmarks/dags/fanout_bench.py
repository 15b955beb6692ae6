"""The DAG of ``benchmarks/fanout.py``: a mainframe file cut into byte ranges, then a SQLite table cut into
split-column ranges, each fanned out over mapped tasks and committed once.

The benchmark writes the inputs and passes their place in the environment: ``ZALONI_BENCH_DIR`` holds
``BIG.DAT``, ``customers.cpy``, ``options.json`` and ``warehouse.sqlite`` (table ``orders``); ``ZALONI_BENCH_PARTS``
is the number of parts of each fan-out. The two fan-outs run one after the other so that each is timed alone.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG

from airflow_zaloni.operators.commit import LakeCommitOperator
from airflow_zaloni.operators.mainframe import MainframeSplitPlanOperator, MainframeToLakeOperator
from airflow_zaloni.operators.warehouse import SqlSplitPlanOperator, SqlToLakeOperator

FOLDER = Path(os.environ.get("ZALONI_BENCH_DIR", "/nonexistent"))
PARTS = int(os.environ.get("ZALONI_BENCH_PARTS", "4"))
OPTIONS_FILE = FOLDER / "options.json"
OPTIONS = json.loads(OPTIONS_FILE.read_text()) if OPTIONS_FILE.exists() else {}
DATA = str(FOLDER / "BIG.DAT")
COPYBOOK = str(FOLDER / "customers.cpy")
CONN_ID = "zaloni_bench_sqlite"

os.environ.setdefault(
    f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps({"conn_type": "sqlite", "host": str(FOLDER / "warehouse.sqlite")})
)

with DAG("zaloni_fanout_bench", schedule=None, start_date=datetime(2026, 1, 1), catchup=False, max_active_tasks=8):
    mf_plan = MainframeSplitPlanOperator(
        task_id="mf_plan", path=DATA, copybook=COPYBOOK, options=OPTIONS, num_parts=PARTS
    )
    mf_parts = MainframeToLakeOperator.partial(
        task_id="mf_part", path=DATA, copybook=COPYBOOK, options=OPTIONS, dataset="bench_big", fanout=True
    ).expand(byte_range=mf_plan.output)
    mf_commit = LakeCommitOperator(
        task_id="mf_commit", parts_task_id="mf_part", dataset="bench_big", system="mainframe"
    )

    sql_plan = SqlSplitPlanOperator(
        task_id="sql_plan",
        conn_id=CONN_ID,
        table="orders",
        split_column="order_id",
        num_parts=PARTS,
        dataset="bench_orders",
    )
    sql_parts = SqlToLakeOperator.partial(
        task_id="sql_part", conn_id=CONN_ID, table="orders", dataset="bench_orders", fanout=True
    ).expand(split=sql_plan.output)
    sql_commit = LakeCommitOperator(
        task_id="sql_commit", parts_task_id="sql_part", dataset="bench_orders", system="warehouse"
    )

    mf_parts >> mf_commit >> sql_plan
    sql_parts >> sql_commit
