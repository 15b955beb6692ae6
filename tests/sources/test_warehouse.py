"""The warehouse source against a real PostgreSQL server (both engines) and SQLite; no Airflow involved."""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import json
import sqlite3
import uuid
from pathlib import Path

import psycopg
import pyarrow as pa
import pytest

from airflow_zaloni.lake import DatasetRef, Lake
from airflow_zaloni.sources.base import SourceError
from airflow_zaloni.sources.warehouse import POSTGRES, SQLITE, WarehouseSource
from airflow_zaloni.sources.warehouse.merge import MergedSnapshot
from airflow_zaloni.sources.warehouse.splits import range_from_json
from tests.servers.postgres import PostgresServer, postgres_server  # noqa: F401  (fixture)

pytestmark = pytest.mark.timeout(60)
ENGINES = ["adbc", "dbapi"]


def rows_of(source: WarehouseSource) -> list[dict]:
    return pa.Table.from_batches(list(source.batches()), schema=source.schema).to_pylist()


@pytest.fixture(scope="module")
def pg(postgres_server: PostgresServer) -> PostgresServer:  # noqa: F811
    """The server with the tables these tests read (made once)."""
    with psycopg.connect(postgres_server.uri, autocommit=True) as conn:
        conn.execute(
            """
            DROP TABLE IF EXISTS typed, events, victims;
            CREATE TABLE typed (
                id bigint PRIMARY KEY, small smallint, amount numeric(12,2), exact numeric, ratio double precision,
                name text, code varchar(8), ts timestamp, tstz timestamptz, day date, flag boolean, raw bytea,
                doc jsonb, plain_json json, uid uuid, span interval, tags int[]
            );
            INSERT INTO typed VALUES
              (1, 7, 12345.67, 3.14159265358979323846264338327950288419716939937510, 0.5, 'a', 'x',
               '2024-03-01 10:00:00', '2024-03-01 10:00:00+02', '2024-03-01', true, '\\x00ff', '{"k": [1, 2]}',
               '{"a":1}', '6b8b4567-0000-4000-8000-000000000001', '1 day 02:00:00', '{1,2}'),
              (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
            CREATE TABLE events (id bigint, kind text, updated_at timestamptz);
            INSERT INTO events SELECT i, CASE WHEN i % 10 = 0 THEN 'rare' ELSE 'common' END,
                   timestamptz '2024-01-01 00:00:00+00' + i * interval '1 minute'
              FROM generate_series(1, 1000) i;
            INSERT INTO events VALUES (NULL, 'no id', NULL), (5000, 'skewed', NULL);
            CREATE TABLE victims (id int);
            """
        )
    return postgres_server


def pg_source(server: PostgresServer, **kwargs) -> WarehouseSource:
    return WarehouseSource(connect=functools.partial(psycopg.connect, server.uri), dialect=POSTGRES, **kwargs)


# ----------------------------------------------------------------------------------------------------- types


@pytest.mark.parametrize("engine", ENGINES)
def test_postgres_types_map_to_arrow_and_unknown_types_land_as_text(pg: PostgresServer, engine: str) -> None:
    source = pg_source(pg, table="typed", engine=engine)
    rows = rows_of(source)
    schema = source.schema
    assert schema is not None
    assert schema.field("id").type == pa.int64()
    assert schema.field("small").type == pa.int16()
    assert schema.field("amount").type == pa.decimal128(12, 2)
    assert schema.field("exact").type == pa.string()  # unconstrained numeric: exact text, by decision
    assert schema.field("ts").type == pa.timestamp("us")
    assert schema.field("tstz").type == pa.timestamp("us", tz="UTC")
    assert schema.field("day").type == pa.date32()
    assert schema.field("raw").type == pa.binary()
    for text_column in ("name", "code", "doc", "plain_json", "uid", "span", "tags"):
        assert schema.field(text_column).type == pa.string(), text_column
    first, second = sorted(rows, key=lambda r: r["id"])
    assert first["amount"] == decimal.Decimal("12345.67")
    assert first["exact"] == "3.14159265358979323846264338327950288419716939937510"
    assert first["ts"] == dt.datetime(2024, 3, 1, 10, 0)
    assert first["tstz"] == dt.datetime(2024, 3, 1, 8, 0, tzinfo=dt.timezone.utc)
    assert first["raw"] == b"\x00\xff"
    assert first["doc"] == '{"k": [1, 2]}' and first["plain_json"] == '{"a":1}'
    assert first["uid"] == str(uuid.UUID("6b8b4567-0000-4000-8000-000000000001"))
    assert first["span"] == "1 day 02:00:00" and first["tags"] == "{1,2}"  # PostgreSQL's own text form
    assert all(v is None for k, v in second.items() if k != "id")
    assert len(source.warnings) == 2
    assert any("'span'" in w and "interval" in w for w in source.warnings)
    assert any("'tags'" in w and "integer[]" in w for w in source.warnings)
    assert source.stats["engine"] == engine


def test_both_engines_land_identical_tables(pg: PostgresServer) -> None:
    tables = [pa.Table.from_batches(list(pg_source(pg, table="typed", engine=e).batches())) for e in ENGINES]
    assert tables[0].sort_by("id").equals(tables[1].sort_by("id"))


def test_decimal_edge_values_agree_on_both_engines(pg: PostgresServer) -> None:
    """ADBC reads numeric(p<=18, s) as scaled integers; the decimals must be exactly what the dbapi engine reads."""
    with psycopg.connect(pg.uri, autocommit=True) as conn:
        conn.execute(
            """
            DROP TABLE IF EXISTS decimals;
            CREATE TABLE decimals (id int, a numeric(12,2), b numeric(18,0), c numeric(18,18), d numeric(20,4));
            INSERT INTO decimals VALUES
              (1, -0.01, -999999999999999999, -0.999999999999999999, -9999999999999999.9999),
              (2, 0, 0, 0, 0),
              (3, 9999999999.99, 999999999999999999, 0.000000000000000001, 1.5),
              (4, NULL, NULL, NULL, NULL);
            """
        )
    tables = [pa.Table.from_batches(list(pg_source(pg, table="decimals", engine=e).batches())) for e in ENGINES]
    assert tables[0].sort_by("id").equals(tables[1].sort_by("id"))
    rows = tables[0].sort_by("id").to_pylist()
    assert rows[0]["a"] == decimal.Decimal("-0.01") and rows[0]["b"] == -999999999999999999
    assert rows[2]["c"] == decimal.Decimal("1E-18") and rows[3]["a"] is None
    assert tables[0].schema.field("d").type == pa.decimal128(20, 4)


def test_sqlite_declared_types_and_loosely_stored_values(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TABLE t (id INTEGER, price DECIMAL(10,2), name TEXT, at TIMESTAMP, day DATE, ok BOOLEAN, "
            "blob BLOB, score REAL, anything)"
        )
        conn.execute("INSERT INTO t VALUES (1, 9.99, 'x', '2024-01-02 03:04:05', '2024-01-02', 1, x'01', 1.5, 3)")
        conn.execute("INSERT INTO t VALUES (2, NULL, NULL, NULL, NULL, 0, NULL, NULL, 4)")
    source = WarehouseSource(connect=lambda: sqlite3.connect(db), table="t", dialect=SQLITE)
    rows = rows_of(source)
    schema = source.schema
    assert schema is not None
    assert [f.type for f in schema] == [
        pa.int64(),
        pa.decimal128(10, 2),
        pa.string(),
        pa.timestamp("us"),
        pa.date32(),
        pa.bool_(),
        pa.binary(),
        pa.float64(),
        pa.int64(),  # no declared type: inferred from the values
    ]
    assert rows[0] == {
        "id": 1,
        "price": decimal.Decimal("9.99"),
        "name": "x",
        "at": dt.datetime(2024, 1, 2, 3, 4, 5),
        "day": dt.date(2024, 1, 2),
        "ok": True,
        "blob": b"\x01",
        "score": 1.5,
        "anything": 3,
    }
    assert rows[1]["ok"] is False


def test_sqlite_value_that_does_not_fit_its_declared_type_names_column_and_row(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id INTEGER, day DATE)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(1, "2024-01-01"), (2, "2024-01-02"), (3, "not a date")])
    source = WarehouseSource(connect=lambda: sqlite3.connect(db), table="t")
    with pytest.raises(SourceError, match=r"column 'day' \(DATE\), row 3: value 'not a date'"):
        rows_of(source)


@pytest.mark.parametrize("engine", ENGINES)
def test_connection_with_dict_rows_still_reads(pg: PostgresServer, engine: str) -> None:
    """A PostgresHook with ``{"cursor": "dictcursor"}`` hands out connections whose rows are dicts."""
    from psycopg.rows import dict_row

    source = WarehouseSource(
        connect=lambda: psycopg.connect(pg.uri, row_factory=dict_row),
        table="events",
        split_column="id",
        num_splits=2,
        incremental_column="id",
        watermark=995,
        reconcile=True,
        engine=engine,  # type: ignore[arg-type]
    )
    assert sorted(r["id"] for r in rows_of(source)) == [996, 997, 998, 999, 1000, 5000]


def test_dbapi_engine_streams_in_bounded_batches(pg: PostgresServer) -> None:
    source = pg_source(pg, table="events", engine="dbapi", batch_rows=100)
    sizes = [b.num_rows for b in source.batches()]
    assert sum(sizes) == 1002
    assert max(sizes) == 100 and len(sizes) == 11


# ------------------------------------------------------------------------------------------------- incremental


@pytest.mark.parametrize("engine", ENGINES)
def test_incremental_reads_above_the_watermark_and_moves_it_to_the_largest_value(
    pg: PostgresServer, engine: str
) -> None:
    first = pg_source(pg, table="events", incremental_column="id", engine=engine)
    assert len(rows_of(first)) == 1002  # first run: everything, NULL ids included
    assert first.cursor == 5000
    assert first.stats["incremental_nulls"] == 1
    again = pg_source(pg, table="events", incremental_column="id", watermark=990, engine=engine)
    ids = sorted(r["id"] for r in rows_of(again))
    assert ids == [*range(991, 1001), 5000]  # NULL ids are not above any watermark
    assert again.cursor == 5000
    nothing = pg_source(pg, table="events", incremental_column="id", watermark=5000, engine=engine)
    assert rows_of(nothing) == []
    assert nothing.cursor == 5000  # unchanged
    assert nothing.schema is not None and nothing.schema.names == ["id", "kind", "updated_at"]


def test_timestamp_watermark_round_trips_with_lookback(pg: PostgresServer) -> None:
    first = pg_source(pg, sql="SELECT id, updated_at FROM events WHERE id <= 100", incremental_column="updated_at")
    rows_of(first)
    assert first.cursor == "2024-01-01T01:40:00.000000+00:00"
    later = pg_source(
        pg, table="events", incremental_column="updated_at", watermark=first.cursor, lookback=dt.timedelta(minutes=5)
    )
    ids = sorted(r["id"] for r in rows_of(later))
    assert ids[:6] == [95, 96, 97, 98, 99, 100]  # five minutes back, inclusive
    assert ids[-1] == 1000 and len(ids) == 906
    assert later.cursor == "2024-01-01T16:40:00.000000+00:00"


@pytest.mark.parametrize("column", ["kind", "id_json"])
def test_incomparable_incremental_column_is_refused_before_reading(pg: PostgresServer, column: str) -> None:
    source = pg_source(
        pg, sql="SELECT id, kind, to_jsonb(id) AS id_json FROM events", incremental_column=column, watermark=None
    )
    with pytest.raises(SourceError, match=f"incremental column '{column}' has type .* cannot be compared"):
        rows_of(source)


def test_watermark_of_another_column_type_is_refused(pg: PostgresServer) -> None:
    source = pg_source(pg, table="events", incremental_column="updated_at", watermark=990)
    with pytest.raises(SourceError, match="stored watermark 990 does not fit incremental column 'updated_at'"):
        rows_of(source)


# ------------------------------------------------------------------------------------------------- splits


@pytest.mark.parametrize("engine", ENGINES)
def test_parallel_splits_read_every_row_exactly_once_with_nulls_and_skew(pg: PostgresServer, engine: str) -> None:
    source = pg_source(pg, table="events", split_column="id", num_splits=3, engine=engine, reconcile=True)
    ids = [r["id"] for r in rows_of(source)]
    assert len(ids) == 1002
    assert sorted(i for i in ids if i is not None) == [*range(1, 1001), 5000]
    assert ids.count(None) == 1
    assert source.stats["pieces"] > 3  # more pieces than connections: skew is shared out
    assert source.stats["reconciled_count"] == 1002


def test_splits_with_boundary_query_and_incremental_predicate(pg: PostgresServer) -> None:
    source = pg_source(
        pg,
        table="events",
        split_column="id",
        num_splits=2,
        boundary_sql="SELECT 900, 1000",
        incremental_column="id",
        watermark=899,
        engine="dbapi",
    )
    ids = sorted(r["id"] for r in rows_of(source))
    assert ids == [*range(900, 1001), 5000]  # 5000 is above the boundary query's MAX: the last piece is open
    assert source.cursor == 5000


def test_planned_parts_for_separate_tasks_cover_every_row_once(pg: PostgresServer) -> None:
    """What a fan-out does: plan ranges as JSON (an XCom), then each task reads only its own range."""
    planner = pg_source(pg, table="events", split_column="updated_at", incremental_column="id", watermark=100)
    ranges = planner.plan_parts(4)
    assert len(ranges) == 4 and ranges[0]["or_null"] and ranges[0]["type"] == "timestamptz"
    assert json.loads(json.dumps(ranges)) == ranges
    ids: list = []
    for part in ranges:
        reader = pg_source(
            pg, table="events", incremental_column="id", watermark=100, split_filter=[range_from_json(part)]
        )
        ids += [r["id"] for r in rows_of(reader)]
    assert sorted(ids) == [*range(101, 1001), 5000]  # 5000 has a NULL updated_at: the first range takes it


def test_sqlite_splits_use_one_connection_per_thread(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id INTEGER, v TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, str(i)) for i in range(1, 501)] + [(None, "n")])
    source = WarehouseSource(connect=lambda: sqlite3.connect(db), table="t", split_column="id", num_splits=4)
    ids = [r["id"] for r in rows_of(source)]
    assert sorted(i for i in ids if i is not None) == list(range(1, 501)) and ids.count(None) == 1
    # a query's columns have no declared type: the first batch of any thread fixes the inferred types for all
    query = WarehouseSource(
        connect=lambda: sqlite3.connect(db), sql="SELECT id, id * 0.5 AS half FROM t", split_column="id", num_splits=3
    )
    rows = rows_of(query)
    assert query.schema is not None and query.schema.field("half").type == pa.float64() and len(rows) == 501


# ------------------------------------------------------------------------------------------------- reconciliation


def test_reconciliation_mismatch_fails_and_lands_nothing(tmp_path: Path) -> None:
    """Rows that change between the count and the read (here a function that hides a row on its second pass)."""
    db = tmp_path / "w.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id INTEGER)")
        conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(10)])
    calls = {"n": 0}

    def visible(row_id: int) -> bool:
        calls["n"] += 1
        return not (calls["n"] > 10 and row_id == 3)  # the second pass (the read) no longer sees row 3

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(db)
        conn.create_function("visible", 1, visible)
        return conn

    lake = Lake(str(tmp_path / "lake"))
    ref = DatasetRef("raw", "warehouse", "t")
    source = WarehouseSource(connect=connect, sql="SELECT id FROM t WHERE visible(id)", reconcile=True)
    with pytest.raises(SourceError, match=r"read 9 rows but COUNT.* is 10"), lake.transaction(run_id="r1") as txn:
        writer = txn.writer(ref, "dt=2024-01-01")
        for batch in source.batches():
            writer.write_batch(batch)
    assert lake.partitions(ref) == []


# ------------------------------------------------------------------------------------------------- faults


def test_wrong_password_is_a_clear_error_without_the_password(pg: PostgresServer) -> None:
    bad = pg.uri.replace(pg.password, "not-the-password")
    source = WarehouseSource(connect=functools.partial(psycopg.connect, bad), table="events")
    with pytest.raises(SourceError, match=r"cannot connect to the warehouse.*password authentication failed") as info:
        rows_of(source)
    assert "not-the-password" not in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"table": "no_such_table"}, 'relation "no_such_table" does not exist'),
        ({"table": "events", "columns": ["id", "nope"]}, 'column "nope" does not exist'),
        ({"table": "events", "incremental_column": "nope"}, "incremental column 'nope' is not among the columns"),
        ({"table": "events", "incremental_column": 'id" > 0; DROP TABLE victims; --'}, "is not among the columns"),
        ({"table": "events", "split_column": "nope", "num_splits": 2}, "split column 'nope' is not among"),
    ],
)
def test_missing_table_or_column_names_it(pg: PostgresServer, kwargs: dict, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        rows_of(pg_source(pg, **kwargs))


def test_hostile_identifiers_are_quoted_not_executed(pg: PostgresServer) -> None:
    evil = 'events" ; DROP TABLE victims; --'
    with pytest.raises(SourceError, match="does not exist"):
        rows_of(pg_source(pg, table=evil))
    with pytest.raises(SourceError, match="does not exist"):
        rows_of(pg_source(pg, table="events", columns=['id", (SELECT 1); DROP TABLE victims; --']))
    with psycopg.connect(pg.uri) as conn:
        assert conn.execute("SELECT to_regclass('victims')").fetchone() == ("victims",)
    assert POSTGRES.quote_table('s."x') == '"s"."""x"'
    assert POSTGRES.quote_identifier('a"b') == '"a""b"'


@pytest.mark.parametrize("engine", ENGINES)
def test_connection_lost_mid_stream_publishes_nothing_and_the_retry_lands_once(
    pg: PostgresServer, engine: str, tmp_path: Path
) -> None:
    lake = Lake(str(tmp_path / "lake"))
    ref = DatasetRef("raw", "warehouse", "events")
    partition = "dt=2024-01-01"
    # ADBC reads ahead what the socket holds: the table must outgrow that for the cut to land mid-stream
    table, expected_rows, top = ("events", 1002, 5000) if engine == "dbapi" else ("big", 300_000, 300_000)
    if table == "big":
        with psycopg.connect(pg.uri, autocommit=True) as conn:
            # 30 MB of COPY data: far more than the socket buffers can hold, so the cut lands mid-transfer
            conn.execute(
                "CREATE TABLE IF NOT EXISTS big AS "
                "SELECT i AS id, repeat('x', 100) AS pad FROM generate_series(1, 300000) i"
            )

    def attempt(try_number: int, kill_after_first_batch: bool) -> None:
        source = pg_source(pg, table=table, incremental_column="id", engine=engine, batch_rows=100, batch_bytes=100_000)
        with lake.transaction(run_id="run", try_number=try_number) as txn:
            writer = txn.writer(ref, partition)
            for i, batch in enumerate(source.batches()):
                writer.write_batch(batch)
                if i == 0 and kill_after_first_batch:
                    with psycopg.connect(pg.uri, autocommit=True) as admin:
                        killed = admin.execute(
                            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                            "AND backend_type = 'client backend'"
                        ).fetchone()
                        assert killed and killed[0] >= 1
            txn.set_watermark(ref, source.cursor)

    with pytest.raises(SourceError, match=r"(?s)failed after [0-9]+ rows: .*(terminat|closed the connection)"):
        attempt(1, kill_after_first_batch=True)
    assert lake.partitions(ref) == [] and lake.watermark(ref) is None
    attempt(2, kill_after_first_batch=False)
    landed = lake.read_table(ref, partition)
    assert landed.num_rows == expected_rows
    assert len(set(landed["id"].to_pylist())) == expected_rows  # every row once (NULL counted once too)
    assert lake.watermark(ref) == top


def test_empty_result_has_schema_and_no_batches(pg: PostgresServer) -> None:
    source = pg_source(pg, sql="SELECT id, updated_at FROM events WHERE false")
    assert list(source.batches()) == []
    assert source.schema is not None and source.schema.names == ["id", "updated_at"]
    assert source.cursor is None


# ------------------------------------------------------------------------------------------------- merge


def test_merge_snapshot_keeps_the_latest_row_per_key(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE c (id INTEGER, name TEXT, version INTEGER)")
        conn.executemany("INSERT INTO c VALUES (?, ?, ?)", [(1, "a", 1), (2, "b", 2), (3, "c", 3)])
    lake = Lake(str(tmp_path / "lake"))
    ref = DatasetRef("raw", "warehouse", "c")

    def run(partition: str) -> None:
        base = lake.state(ref).get("last_commit", {}).get("partitions")
        changes = WarehouseSource(
            connect=lambda: sqlite3.connect(db), table="c", incremental_column="version", watermark=lake.watermark(ref)
        )
        previous = (lambda: lake.iter_batches(ref, base[-1])) if base else None
        merged = MergedSnapshot(changes, ["id"], previous)
        with lake.transaction(run_id=partition) as txn:
            writer = txn.writer(ref, partition)
            for batch in merged.batches():
                writer.write_batch(batch)
            txn.set_watermark(ref, merged.cursor)

    run("dt=1")
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE c SET name = 'B', version = 4 WHERE id = 2")
        conn.execute("INSERT INTO c VALUES (4, 'd', 5)")
    run("dt=2")
    snapshot = sorted(lake.read_table(ref, "dt=2").to_pylist(), key=lambda r: r["id"])
    assert snapshot == [
        {"id": 1, "name": "a", "version": 1},
        {"id": 2, "name": "B", "version": 4},
        {"id": 3, "name": "c", "version": 3},
        {"id": 4, "name": "d", "version": 5},
    ]
    assert lake.read_table(ref, "dt=1").num_rows == 3  # the earlier snapshot is untouched
    assert lake.watermark(ref) == 5


def test_sqlite_query_columns_are_inferred_and_named_in_the_stats(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id INTEGER, v TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(1, "a"), (2, "b")])
    declared = WarehouseSource(connect=lambda: sqlite3.connect(db), table="t")
    rows_of(declared)
    assert "inferred_columns" not in declared.stats
    query = WarehouseSource(
        connect=lambda: sqlite3.connect(db), sql="SELECT id, v FROM t WHERE v = ?", parameters=["b"]
    )
    assert rows_of(query) == [{"id": 2, "v": "b"}]
    assert query.stats["inferred_columns"] == ["id", "v"]
