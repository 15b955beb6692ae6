"""One real Airflow deployment for every browser test of the session (starting one takes about a minute here).

Its lake is filled before the API server starts with every case the Lake view tests look at
(:mod:`tests.lake_view_data`); the browser test of the DAG run adds ``raw/warehouse/orders`` to it. Users of the
simple auth manager: ``admin``, ``viewer`` (read-only, which includes assets) and ``nobody`` (no role: no asset
access). The Lake view reads the lake on every request (no cache), so each test sees what is on disk.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import lake_view_data
from tests.servers.airflow import AirflowServer, running_airflow
from tests.ui.browser import find_chromium

DAG_FILE = Path(__file__).parent / "dags" / "zaloni_ui_orders.py"
ORDERS = 250
USERS = "admin:admin,viewer:viewer,nobody:"


@pytest.fixture(scope="session")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip("no system Chromium: install Debian's chromium package (apt-get install -y chromium)")
    pytest.importorskip("playwright", reason="playwright (the test extra) is not installed")
    return path


@pytest.fixture(scope="session")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite warehouse with one table of orders, the source the DAG lands."""
    path = tmp_path_factory.mktemp("warehouse") / "warehouse.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE orders (order_id INTEGER PRIMARY KEY, amount DECIMAL(10,2), status TEXT)")
        db.executemany(
            "INSERT INTO orders VALUES (?, ?, ?)",
            [(i, f"{i * 3 % 1000 / 10:.2f}", ("new", "shipped")[i % 2]) for i in range(1, ORDERS + 1)],
        )
    return path


@pytest.fixture(scope="session")
def airflow(tmp_path_factory: pytest.TempPathFactory, warehouse: Path) -> Iterator[AirflowServer]:
    base = tmp_path_factory.mktemp("deployment")
    dags = base / "dags"
    dags.mkdir()
    shutil.copy(DAG_FILE, dags)
    lake_view_data.fill(base / "lake")
    connection = json.dumps({"conn_type": "sqlite", "host": str(warehouse)})
    with running_airflow(
        base,
        dags,
        lake_root=base / "lake",
        extra_env={
            "AIRFLOW_CONN_ZALONI_UI_WAREHOUSE": connection,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": USERS,
            "AIRFLOW__ZALONI__LAKE_VIEW_CACHE_SECONDS": "0",
        },
    ) as server:
        yield server
