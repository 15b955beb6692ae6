"""Run DAGs for real in tests: ``dag.test()`` against the session's SQLite metadata DB."""

from __future__ import annotations

import os
import shutil
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def load_dag(dag_file: str | Path, dag_id: str | None = None) -> Any:
    """Copy ``dag_file`` into the session's dags folder and load it the way the DAG processor would."""
    from airflow.dag_processing.dagbag import DagBag

    dags_folder = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    src = Path(dag_file)
    if not src.is_absolute():
        src = REPO / src
    examples = REPO / "example_dags"
    if src.resolve().is_relative_to(examples):
        # An example DAG may import its siblings (demo_samples) and read data/ and jobs/: copy them all.
        shutil.copytree(examples, dags_folder, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
        target = dags_folder / src.resolve().relative_to(examples)
    else:
        target = dags_folder / src.name
        if src.resolve() != target.resolve():
            shutil.copy(src, target)
    if str(dags_folder) not in sys.path:  # as the DAG processor does for a bundle: siblings are importable
        sys.path.insert(0, str(dags_folder))
    bag = DagBag(dag_folder=str(target))
    if bag.import_errors:
        raise RuntimeError(f"DAG file {src} failed to import: {bag.import_errors}")
    if dag_id is None:
        if len(bag.dags) != 1:
            raise ValueError(f"{src} defines {sorted(bag.dags)}; name the dag_id to run")
        dag_id = next(iter(bag.dags))
    return bag.dags[dag_id]


def run_dag(
    dag_file: str | Path,
    *,
    dag_id: str | None = None,
    conf: dict[str, Any] | None = None,
    logical_date: datetime | None = None,
) -> Any:
    """Run a DAG file with ``dag.test()`` and return the DagRun (needs the ``airflow_db`` fixture)."""
    dag = load_dag(dag_file, dag_id)
    return dag.test(run_conf=conf, logical_date=logical_date)
