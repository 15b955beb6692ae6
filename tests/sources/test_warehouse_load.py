"""Loading Arrow batches into tables: append, replace in one transaction, upsert; COPY on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import decimal
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pytest

from airflow_zaloni.sources.base import SourceError
from airflow_zaloni.sources.warehouse import POSTGRES, SQLITE, SqlDialect, WarehouseSource
from airflow_zaloni.sources.warehouse.load import load_batches
from tests.servers.postgres import PostgresServer, postgres_server  # noqa: F401  (fixture)

pytestmark = pytest.mark.timeout(60)

SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("name", pa.string()),
        ("amount", pa.decimal128(12, 2)),
        ("at", pa.timestamp("us", tz="UTC")),
        ("day", pa.date32()),
        ("ok", pa.bool_()),
        ("raw", pa.binary()),
    ]
)


def batch(ids: range, name: str = "n") -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist(
        [
            {
                "id": i,
                "name": None if i % 7 == 0 else ("" if i % 5 == 0 else f'{name} "{i}", x\ny'),
                "amount": decimal.Decimal(i) / 100,
                "at": dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=i),
                "day": dt.date(2024, 1, 1),
                "ok": i % 2 == 0,
                "raw": bytes([i % 256, 0]),
            }
            for i in ids
        ],
        schema=SCHEMA,
    )


Connect = Callable[[], Any]


@pytest.fixture(params=["postgres", "sqlite"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Connect, SqlDialect]]:
    if request.param == "sqlite":
        db = tmp_path / "t.db"
        yield (lambda: sqlite3.connect(db)), SQLITE
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    with psycopg.connect(server.uri, autocommit=True) as conn:
        conn.execute('DROP TABLE IF EXISTS "out"')
    yield (lambda: psycopg.connect(server.uri)), POSTGRES


def table_rows(connect: Connect, dialect: SqlDialect) -> list[dict]:
    source = WarehouseSource(connect=connect, table="out", dialect=dialect)
    return sorted(pa.Table.from_batches(list(source.batches())).to_pylist(), key=lambda r: r["id"])


def load(connect: Connect, dialect: SqlDialect, batches: list[pa.RecordBatch], **kwargs: Any) -> int:
    conn = connect()
    try:
        return load_batches(conn, dialect, "out", SCHEMA, iter(batches), **kwargs)
    finally:
        conn.close()


def test_append_creates_the_table_and_round_trips_every_type(target: tuple[Connect, SqlDialect]) -> None:
    connect, dialect = target
    assert load(connect, dialect, [batch(range(1, 40)), batch(range(40, 60))]) == 59
    rows = table_rows(connect, dialect)
    assert rows == batch(range(1, 60)).to_pylist()  # NULL and '' stay apart, quotes and newlines survive
    assert load(connect, dialect, [batch(range(60, 61))]) == 1
    assert len(table_rows(connect, dialect)) == 60


def test_replace_swaps_all_rows_and_a_failure_leaves_the_old_table(target: tuple[Connect, SqlDialect]) -> None:
    connect, dialect = target
    load(connect, dialect, [batch(range(1, 11))])
    load(connect, dialect, [batch(range(100, 103))], mode="replace")
    assert [r["id"] for r in table_rows(connect, dialect)] == [100, 101, 102]
    broken = pa.RecordBatch.from_pylist([{"id": 1, "name": "x"}])  # columns missing from the schema

    def failing() -> Iterator[pa.RecordBatch]:
        yield batch(range(200, 210))
        yield broken  # fails mid-load, after the DELETE and the first rows

    conn = connect()
    with pytest.raises(SourceError, match=r"loading 'out' \(replace\) failed after 10 rows, rolled back"):
        load_batches(conn, dialect, "out", SCHEMA, failing(), mode="replace")
    conn.close()
    assert [r["id"] for r in table_rows(connect, dialect)] == [100, 101, 102]


def test_upsert_updates_rows_with_the_same_key_and_inserts_the_rest(target: tuple[Connect, SqlDialect]) -> None:
    connect, dialect = target
    load(connect, dialect, [batch(range(1, 6), "old")], mode="upsert", key=["id"])
    assert load(connect, dialect, [batch(range(4, 9), "new")], mode="upsert", key=["id"]) == 5
    rows = table_rows(connect, dialect)
    assert [r["id"] for r in rows] == list(range(1, 9))
    assert [r["name"] for r in rows][:3] == [f'old "{i}", x\ny' for i in (1, 2, 3)]
    assert rows[3]["name"] == 'new "4", x\ny'


def test_hostile_table_name_is_quoted(target: tuple[Connect, SqlDialect]) -> None:
    connect, dialect = target
    conn = connect()
    evil = 'out"; DROP TABLE "keep"; --'
    try:
        cur = conn.cursor()
        cur.execute('CREATE TABLE "keep" (id integer)')
        conn.commit()
        load_batches(conn, dialect, evil, SCHEMA, iter([batch(range(1, 3))]))
        cur = conn.cursor()
        cur.execute(f"SELECT count(*) FROM {dialect.quote_table(evil)}")
        assert cur.fetchone() == (2,)
        cur.execute('SELECT count(*) FROM "keep"')  # still there
        assert cur.fetchone() == (0,)
    finally:
        conn.close()


def test_missing_column_in_existing_table_is_named(target: tuple[Connect, SqlDialect]) -> None:
    connect, dialect = target
    conn = connect()
    cur = conn.cursor()
    cur.execute('CREATE TABLE "out" (id bigint, name text)')
    conn.commit()
    with pytest.raises(SourceError, match=r"table 'out' has no column\(s\) \['amount', 'at', 'day', 'ok', 'raw'\]"):
        load_batches(conn, dialect, "out", SCHEMA, iter([batch(range(1, 2))]))
    conn.close()
