"""The example DAGs' own connections: they follow the demo directory and never override the user's."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]
CONN = "AIRFLOW_CONN_ZALONI_DEMO_WAREHOUSE"


@pytest.fixture
def demo_samples(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(REPO / "example_dags"))
    monkeypatch.delenv(CONN, raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_SPARK_LOCAL", raising=False)
    import demo_samples

    return demo_samples


def test_the_demo_warehouse_connection_follows_the_demo_directory(
    demo_samples: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two DAG runs in one process (tests, `airflow dags test` loops) with different demo directories: the
    # connection must name the warehouse file the grow task writes, not the first run's.
    for run in ("first", "second"):
        monkeypatch.setenv("ZALONI_DEMO_DIR", str(tmp_path / run))
        demo_samples.define_demo_connections()
        assert json.loads(os.environ[CONN])["host"] == str(tmp_path / run / "demo_warehouse.sqlite")
        assert demo_samples.warehouse_path() == tmp_path / run / "demo_warehouse.sqlite"  # where grow writes


@pytest.mark.parametrize(
    "theirs",
    [
        "sqlite:////data/warehouse.db",
        json.dumps({"conn_type": "sqlite", "host": "/data/warehouse.db"}),
        json.dumps({"conn_type": "sqlite", "host": "/data/warehouse.db", "extra": {"zaloni_demo": "no"}}),
    ],
)
def test_a_connection_the_user_defined_is_left_alone(
    demo_samples: ModuleType, theirs: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZALONI_DEMO_DIR", str(tmp_path))
    monkeypatch.setenv(CONN, theirs)
    demo_samples.define_demo_connections()
    assert os.environ[CONN] == theirs
