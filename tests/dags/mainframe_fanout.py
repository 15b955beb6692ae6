"""Mainframe fan-out: a fixed-length and a VB file, each cut into byte ranges, decoded by mapped tasks and committed
once; beside each, the same file landed by one task, to compare. Files and options come from the environment
(``ZALONI_TEST_FANOUT_DIR`` holds ``FIXED.DAT``, ``VB.DAT`` and ``customers.cpy``)."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG

from airflow_zaloni.operators.commit import LakeCommitOperator
from airflow_zaloni.operators.mainframe import MainframeSplitPlanOperator, MainframeToLakeOperator

FOLDER = Path(os.environ.get("ZALONI_TEST_FANOUT_DIR", "/nonexistent"))
COPYBOOK = str(FOLDER / "customers.cpy")
FILES = {
    "fixed": ("FIXED.DAT", {"record_format": "F", "generate_record_id": "true"}),
    "vb": (
        "VB.DAT",
        {"record_format": "VB", "is_rdw_big_endian": "true", "is_bdw_big_endian": "true", "generate_record_id": "true"},
    ),
}

with DAG("mainframe_fanout", schedule="@daily", start_date=datetime(2026, 1, 1), catchup=False):
    for kind, (name, options) in FILES.items():
        path = str(FOLDER / name)
        plan = MainframeSplitPlanOperator(
            task_id=f"plan_{kind}", path=path, copybook=COPYBOOK, options=options, num_parts=3
        )
        parts = MainframeToLakeOperator.partial(
            task_id=f"{kind}_part", path=path, copybook=COPYBOOK, options=options, dataset=f"{kind}_fanned", fanout=True
        ).expand(byte_range=plan.output)
        parts >> LakeCommitOperator(
            task_id=f"commit_{kind}", parts_task_id=f"{kind}_part", dataset=f"{kind}_fanned", system="mainframe"
        )
        MainframeToLakeOperator(
            task_id=f"{kind}_whole", path=path, copybook=COPYBOOK, options=options, dataset=f"{kind}_whole"
        )
