"""Opening a lake's Iceberg catalog: many processes at once on a new lake, on SQLite and on PostgreSQL."""

from __future__ import annotations

import multiprocessing
import uuid
from pathlib import Path
from typing import Any

import pytest

from airflow_zaloni.lake import Lake
from tests.servers.postgres import PostgresServer, postgres_server  # noqa: F401  (fixture)

PROCESSES = 8


def open_at_once(root: str, catalog: dict[str, str] | None, barrier: Any) -> str:
    import pyiceberg.catalog.sql  # noqa: F401  (imported before the start line, so all open it in the same instant)

    lake = Lake(root, catalog=catalog)
    barrier.wait()
    return type(lake.table_catalog()).__name__


def new_catalog(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, str] | None:
    """The embedded SQLite catalog of a new lake (None), or a SQL catalog on a new, empty PostgreSQL database."""
    if kind == "sqlite":
        return None
    import psycopg

    server: PostgresServer = request.getfixturevalue("postgres_server")
    dbname = f"catalog_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server.uri, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {dbname}")
    return {
        "type": "sql",
        "uri": f"postgresql+psycopg://{server.user}:{server.password}@{server.host}:{server.port}/{dbname}",
    }


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_processes_opening_a_new_catalog_together_all_get_it(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The first tasks of a new lake, on several workers, open its catalog at the same moment: each finds the
    catalog's tables missing and creates them; none may fail because another one was quicker (seen as 'table
    iceberg_tables already exists' failing one of the two first tasks of a DAG run on two edge workers)."""
    ctx = multiprocessing.get_context("spawn")
    for attempt in range(3):  # three new catalogs: the race is lost in most rounds without the retry, not in all
        root = str(tmp_path / f"lake{attempt}")
        catalog = new_catalog(kind, tmp_path, request)
        with ctx.Manager() as manager:
            barrier = manager.Barrier(PROCESSES)
            with ctx.Pool(PROCESSES) as pool:
                opened = pool.starmap(open_at_once, [(root, catalog, barrier)] * PROCESSES)
        assert opened == ["SqlCatalog"] * PROCESSES
        assert Lake(root, catalog=catalog).table_catalog().list_namespaces() == []


def test_a_catalog_that_refuses_the_login_is_named_without_its_password(
    tmp_path: Path,
    postgres_server: PostgresServer,  # noqa: F811
) -> None:
    from airflow_zaloni.lake import LakeError

    server = postgres_server
    uri = f"postgresql+psycopg://{server.user}:wrong-{server.password}@{server.host}:{server.port}/{server.dbname}"
    lake = Lake(str(tmp_path / "lake"), catalog={"type": "sql", "uri": uri})
    with pytest.raises(LakeError) as raised:
        lake.table_catalog()
    message = str(raised.value)
    assert f"postgresql+psycopg://{server.user}:***@{server.host}:{server.port}/{server.dbname}" in message
    assert "password authentication failed" in message and f"wrong-{server.password}" not in message
