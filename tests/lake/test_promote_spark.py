"""The Spark engine of promotion, run for real with ``spark-submit --master local[1]``, against the DuckDB engine.

One JVM start (20-30 s on a quiet machine) covers rules, quarantine and change capture; the Spark output is then
committed with ``publish_spark_output`` and must equal what the single-node engine publishes from the same input.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from airflow_zaloni.lake import DatasetRef, Lake
from airflow_zaloni.lake.promote import QualityError, promote, publish_spark_output, spark_spec
from tests.lake.test_promote import CDC, D1, D2, SF_RAW, SNAP, accounts, land

REPO = Path(__file__).resolve().parents[2]
SPARK_SUBMIT = Path(sys.executable).with_name("spark-submit")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(300),
    pytest.mark.skipif(not SPARK_SUBMIT.exists(), reason="pyspark's spark-submit is not installed"),
]
RULES = [{"rule": "regex", "column": "Name", "pattern": "^[A-Z][0-9]$", "name": "name_format"}]


def spark_submit(spec: dict[str, Any], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(spec))
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_LOCAL_IP": "127.0.0.1",
    }
    return subprocess.run(
        [
            str(SPARK_SUBMIT),
            "--master",
            "local[1]",
            "--conf",
            "spark.ui.enabled=false",
            "--conf",
            "spark.sql.shuffle.partitions=2",
            str(REPO / "airflow_zaloni/lake/promote_spark.py"),
            f"@{spec_file}",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )


def rows(lake: Lake, ref: DatasetRef, partition: str) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True, default=str) for r in lake.read_table(ref, partition).to_pylist())


def test_spark_job_publishes_what_the_duckdb_engine_publishes(lake_root: Path, tmp_path: Path) -> None:
    lake = Lake(str(lake_root))
    land(lake, SF_RAW, D1, accounts(("a", "A1", 10, False), ("b", "B1", 10, False), ("c", "C1", 10, False)))
    land(
        lake,
        SF_RAW,
        D2,
        accounts(
            ("a", "A3", 20, False), ("a", "A2", 15, False), ("b", "B2", 30, False), ("b", "B3", 30, False),
            ("c", None, 40, True), ("d", "D1", 5, False), (None, "N1", 7, False), ("e", "bad name", 9, False),
        ),
    )  # fmt: skip
    promote(lake, source=SF_RAW, partitions=[D1], target=SNAP, rules=RULES, cdc=CDC)
    duck = DatasetRef("trusted", "salesforce", "AccountDuck")
    promote(lake, source=SF_RAW, partitions=[D1], target=duck, rules=RULES, cdc=CDC)

    spec = spark_spec(
        lake, source=SF_RAW, partitions=[D2], target=SNAP, rules=RULES, cdc=CDC, output=str(tmp_path / "out")
    )
    assert spec["base"]["partition"] == D1 and spec["partitions"][0]["paths"][0].startswith("file://")
    done = spark_submit(spec, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    task = {"dag_id": "promote_on_spark", "task_id": "publish", "map_index": -1}
    report = publish_spark_output(lake, spec, task=task)
    expected = promote(lake, source=SF_RAW, partitions=[D2], target=duck, rules=RULES, cdc=CDC)

    assert rows(lake, SNAP, D2) == rows(lake, duck, D2)
    assert [json.loads(r)["Id"] for r in rows(lake, SNAP, D2)] == ["a", "b", "d"]
    quarantine = DatasetRef("trusted", "salesforce", "Account__quarantine")
    assert rows(lake, quarantine, D2) == rows(lake, DatasetRef("trusted", "salesforce", "AccountDuck__quarantine"), D2)
    for key in ("rows_in", "passed", "quarantined", "failed_by_rule", "cdc_counts"):
        assert report[key] == expected[key], key
    assert lake.manifest(SNAP, D2)["extra"]["quality"]["engine"] == "spark"
    # the task that published, for the Lake view's run and task links (as an ingest records it)
    assert lake.manifest(SNAP, D2)["extra"]["airflow"] == lake.manifest(quarantine, D2)["extra"]["airflow"] == task
    assert lake.verify([SNAP, quarantine]) == []

    # A report with a broken threshold publishes nothing.
    (tmp_path / "out" / "report" / "part-00000").write_text(json.dumps({**report, "failures": ["x: too many"]}))
    before = lake.manifest(SNAP, D2)
    with pytest.raises(QualityError, match="x: too many"):
        publish_spark_output(lake, spec)
    assert lake.manifest(SNAP, D2) == before
