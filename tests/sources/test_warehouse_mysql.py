"""The warehouse source against a real MariaDB server, with both MySQL clients and both engines; no Airflow involved.

The server's sessions start in +02:00 (see tests/servers/mariadb.py), so TIMESTAMP columns would land shifted if
the read did not run in UTC.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from airflow_zaloni.lake import DatasetRef, Lake
from airflow_zaloni.sources.base import SourceError
from airflow_zaloni.sources.warehouse import WarehouseSource
from airflow_zaloni.sources.warehouse.merge import MergedSnapshot
from airflow_zaloni.sources.warehouse.mysql import connectorx_uri
from airflow_zaloni.sources.warehouse.splits import range_from_json
from tests.servers.mariadb import MariaDbServer, mariadb_server  # noqa: F401  (fixture)

pytestmark = pytest.mark.timeout(90)
UTC = dt.timezone.utc

#: (client, engine) pairs: every MySQL client MySqlHook offers, and ConnectorX on mysqlclient's control connection
READERS = [("mysqlclient", "dbapi"), ("mysqlclient", "connectorx"), ("mysql-connector-python", "dbapi")]

TYPED_COLUMNS = {
    "ti": ("tinyint", pa.int8()),
    "tu": ("tinyint unsigned", pa.uint8()),
    "sm": ("smallint", pa.int16()),
    "md": ("mediumint", pa.int32()),
    "iu": ("int unsigned", pa.uint32()),
    "bg": ("bigint", pa.int64()),
    "bu": ("bigint unsigned", pa.uint64()),
    "amount": ("decimal(18,4)", pa.decimal128(18, 4)),
    "wide": ("decimal(40,10)", pa.decimal256(40, 10)),
    "fine": ("decimal(18,12)", pa.decimal128(18, 12)),
    "f": ("float", pa.float32()),
    "db": ("double", pa.float64()),
    "bits": ("bit(8)", pa.uint64()),
    "vc": ("varchar(20)", pa.string()),
    "tx": ("text", pa.string()),
    "bl": ("blob", pa.binary()),
    "dd": ("date", pa.date32()),
    "dtm": ("datetime(6)", pa.timestamp("us")),
    "ts": ("timestamp(6) NULL", pa.timestamp("us", tz="UTC")),
    "tm": ("time(3)", pa.duration("us")),
    "yr": ("year", pa.int16()),
    "doc": ("json", pa.string()),
    "en": ("enum('a','b')", pa.string()),
    "st": ("set('x','y')", pa.string()),
}


def execute(server: MariaDbServer, *statements: str) -> None:
    conn: Any = server.connect()
    try:
        cur = conn.cursor()
        for statement in statements:
            cur.execute(statement)
        conn.commit()
    finally:
        conn.close()


def connector(server: MariaDbServer, client: str) -> Callable[[], Any]:
    if client == "mysql-connector-python":
        import mysql.connector

        return lambda: mysql.connector.connect(
            host=server.host, port=server.port, user=server.user, password=server.password, database=server.dbname
        )
    return lambda: server.connect()


def source(server: MariaDbServer, client: str = "mysqlclient", engine: str = "dbapi", **kwargs: Any) -> WarehouseSource:
    uri = connectorx_uri(server.host, server.port, server.user, server.password, server.dbname)
    return WarehouseSource(
        connect=connector(server, client),
        engine=engine,  # type: ignore[arg-type]
        connectorx_uri=uri if engine == "connectorx" else None,
        **kwargs,
    )


def rows_of(src: WarehouseSource) -> list[dict]:
    return pa.Table.from_batches(list(src.batches()), schema=src.schema).to_pylist()


@pytest.fixture(scope="module")
def my(mariadb_server: MariaDbServer) -> MariaDbServer:  # noqa: F811
    columns = ", ".join(f"`{name}` {decl}" for name, (decl, _) in TYPED_COLUMNS.items())
    execute(
        mariadb_server,
        "DROP TABLE IF EXISTS typed, events, customers, victims",
        f"CREATE TABLE typed (id int PRIMARY KEY, {columns})",
        # row 1 is NULL in every column: a NULL-first column must keep its type
        "INSERT INTO typed (id) VALUES (1)",
        # the session is in +02:00 (the server's default): '14:00:00' is 12:00 UTC
        "INSERT INTO typed VALUES (2, -128, 255, -32768, -8388608, 4294967295, -9223372036854775808, "
        "18446744073709551615, 99999999999999.9999, 123456789012345678901234567890.0123456789, "
        "-123456.789012345678, 1.5, -2.25, b'10000001', 'héllo', 'long text', x'00ff', '2024-02-29', "
        "'2024-01-01 12:00:00.123456', '2024-06-01 14:00:00.5', '-838:59:59', 2024, '{\"k\": [1, 2]}', 'b', 'x,y')",
        "INSERT INTO typed (id, amount, dd, dtm, ts) VALUES "
        "(3, -0.0001, '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00'), (4, 0, '2024-00-15', NULL, NULL)",
        "CREATE TABLE events (id bigint unsigned, kind varchar(10), updated_at timestamp(6) NULL)",
        "INSERT INTO events SELECT seq, IF(seq % 10 = 0, 'rare', 'common'), "
        "TIMESTAMP'2024-01-01 02:00:00' + INTERVAL seq MINUTE FROM seq_1_to_1000",
        "INSERT INTO events VALUES (NULL, 'no id', NULL), (5000, 'skewed', NULL)",
        "CREATE TABLE customers (id int PRIMARY KEY, tier varchar(10), updated_at timestamp NULL)",
        "INSERT INTO customers SELECT seq, 'bronze', '2026-11-01 02:00:00' FROM seq_1_to_5",
        "CREATE TABLE victims (id int)",
    )
    return mariadb_server


# ----------------------------------------------------------------------------------------------------- types


@pytest.mark.parametrize(("client", "engine"), READERS)
def test_mysql_types_come_from_the_server_not_from_the_values(my: MariaDbServer, client: str, engine: str) -> None:
    """Every type keeps width, sign, precision and zone -- with a first batch that is NULL in every column."""
    src = source(my, client, engine, table="typed", batch_rows=1)
    rows = sorted(rows_of(src), key=lambda r: r["id"])
    assert src.schema is not None
    assert {f.name: f.type for f in src.schema} == {"id": pa.int32(), **{n: t for n, (_, t) in TYPED_COLUMNS.items()}}
    assert all(v is None for k, v in rows[0].items() if k != "id")
    limits = rows[1]
    assert limits["bu"] == 18446744073709551615 and limits["iu"] == 4294967295 and limits["tu"] == 255
    assert limits["bg"] == -9223372036854775808 and limits["ti"] == -128
    assert limits["amount"] == decimal.Decimal("99999999999999.9999")
    assert limits["wide"] == decimal.Decimal("123456789012345678901234567890.0123456789")
    assert limits["fine"] == decimal.Decimal("-123456.789012345678")  # 12 places: beyond ConnectorX's 10
    assert limits["f"] == 1.5 and limits["db"] == -2.25 and limits["bits"] == 0b10000001
    assert limits["vc"] == "héllo" and limits["bl"] == b"\x00\xff" and limits["doc"] == '{"k": [1, 2]}'
    assert limits["dd"] == dt.date(2024, 2, 29)
    assert limits["dtm"] == dt.datetime(2024, 1, 1, 12, 0, 0, 123456)  # DATETIME: as written, no zone
    assert limits["ts"] == dt.datetime(2024, 6, 1, 12, 0, 0, 500000, tzinfo=UTC)  # TIMESTAMP: the UTC instant
    assert limits["tm"] == -dt.timedelta(hours=838, minutes=59, seconds=59)
    assert (limits["yr"], limits["en"], limits["st"]) == (2024, "b", "x,y")
    assert rows[2]["amount"] == decimal.Decimal("-0.0001")
    assert src.warnings == [
        "column 'dd': 2 zero date(s) (0000-00-00 or a zero month/day) landed as NULL",
        "column 'dtm': 1 zero date(s) (0000-00-00 or a zero month/day) landed as NULL",
        "column 'ts': 1 zero date(s) (0000-00-00 or a zero month/day) landed as NULL",
    ]
    assert src.stats["zero_dates"] == {"dd": 2, "dtm": 1, "ts": 1}
    assert "inferred_columns" not in src.stats
    assert src.stats["engine"] == engine


def test_all_readers_land_identical_tables(my: MariaDbServer) -> None:
    tables = [pa.Table.from_batches(list(source(my, c, e, table="typed").batches())) for c, e in READERS]
    for table in tables[1:]:
        assert table.sort_by("id").equals(tables[0].sort_by("id"))


def test_query_columns_are_typed_by_the_server_too(my: MariaDbServer) -> None:
    src = source(
        my,
        sql="SELECT id, id * 1.5 AS half, CAST(NULL AS SIGNED) AS nothing, CONCAT(kind, '!') AS loud FROM events",
        batch_rows=10,
    )
    rows_of(src)
    assert src.schema is not None
    assert src.schema.field("half").type == pa.decimal128(22, 1)  # what the server says the product holds
    assert pa.types.is_integer(src.schema.field("nothing").type)  # all NULL, yet typed
    assert src.schema.field("loud").type == pa.string()


# ------------------------------------------------------------------------------------------------- incremental


@pytest.mark.parametrize(("client", "engine"), READERS)
def test_second_incremental_run_reads_above_the_watermark(my: MariaDbServer, client: str, engine: str) -> None:
    """The defect: the second run failed with "has no declared type to compare the watermark with"."""
    first = source(my, client, engine, table="events", incremental_column="id", reconcile=True)
    assert len(rows_of(first)) == 1002 and first.cursor == 5000
    again = source(my, client, engine, table="events", incremental_column="id", watermark=995, reconcile=True)
    assert sorted(r["id"] for r in rows_of(again)) == [996, 997, 998, 999, 1000, 5000]
    assert again.stats["reconciled_count"] == 6


@pytest.mark.parametrize(("client", "engine"), READERS)
def test_timestamp_watermark_is_a_utc_instant(my: MariaDbServer, client: str, engine: str) -> None:
    first = source(my, client, engine, sql="SELECT * FROM events WHERE id <= 100", incremental_column="updated_at")
    rows_of(first)
    assert first.cursor == "2024-01-01T01:40:00.000000+00:00"  # written as 03:40 in +02:00
    later = source(
        my,
        client,
        engine,
        table="events",
        incremental_column="updated_at",
        watermark=first.cursor,
        lookback=dt.timedelta(minutes=5),
    )
    ids = sorted(r["id"] for r in rows_of(later))
    assert ids[:6] == [95, 96, 97, 98, 99, 100] and ids[-1] == 1000 and len(ids) == 906


def test_lastmodified_merge_keeps_the_latest_row_per_key(my: MariaDbServer, tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    ref = DatasetRef("raw", "warehouse", "customers")

    def run(partition: str) -> None:
        base = lake.state(ref).get("last_commit", {}).get("partitions")
        changes = source(my, table="customers", incremental_column="updated_at", watermark=lake.watermark(ref))
        merged = MergedSnapshot(changes, ["id"], (lambda: lake.iter_batches(ref, base[-1])) if base else None)
        with lake.transaction(run_id=partition) as txn:
            writer = txn.writer(ref, partition)
            for batch in merged.batches():
                writer.write_batch(batch)
            txn.set_watermark(ref, merged.cursor)

    run("dt=1")
    assert lake.watermark(ref) == "2026-11-01T00:00:00.000000+00:00"
    execute(
        my,
        "UPDATE customers SET tier = 'gold', updated_at = '2026-11-02 02:00:00' WHERE id = 2",
        "INSERT INTO customers VALUES (6, 'silver', '2026-11-02 02:00:00')",
    )
    try:
        run("dt=2")
    finally:
        execute(my, "DELETE FROM customers WHERE id = 6", "UPDATE customers SET tier = 'bronze' WHERE id = 2")
    snapshot = {r["id"]: r["tier"] for r in lake.read_table(ref, "dt=2").to_pylist()}
    assert snapshot == {1: "bronze", 2: "gold", 3: "bronze", 4: "bronze", 5: "bronze", 6: "silver"}
    assert lake.watermark(ref) == "2026-11-02T00:00:00.000000+00:00"


# ------------------------------------------------------------------------------------------------- splits


@pytest.mark.parametrize(("client", "engine"), READERS)
def test_splits_read_every_row_once_with_a_null_first_piece(my: MariaDbServer, client: str, engine: str) -> None:
    src = source(my, client, engine, table="events", split_column="id", num_splits=3, reconcile=True, batch_rows=50)
    rows = rows_of(src)
    ids = [r["id"] for r in rows]
    assert sorted(i for i in ids if i is not None) == [*range(1, 1001), 5000] and ids.count(None) == 1
    assert src.schema is not None and src.schema.field("updated_at").type == pa.timestamp("us", tz="UTC")
    assert src.stats["reconciled_count"] == 1002 and src.stats["pieces"] > 3


def test_split_on_a_timestamp_and_planned_parts(my: MariaDbServer) -> None:
    planner = source(my, table="events", split_column="updated_at", incremental_column="id", watermark=100)
    ranges = planner.plan_parts(4)
    assert len(ranges) == 4 and ranges[0]["type"] == "timestamptz"
    ids: list = []
    for part in ranges:
        reader = source(
            my, table="events", incremental_column="id", watermark=100, split_filter=[range_from_json(part)]
        )
        ids += [r["id"] for r in rows_of(reader)]
    assert sorted(ids) == [*range(101, 1001), 5000]


# ------------------------------------------------------------------------------------------------- parameters


@pytest.mark.parametrize(("client", "engine"), READERS)
def test_parameters_are_bound_never_formatted(my: MariaDbServer, client: str, engine: str) -> None:
    hostile = "x' OR '1'='1"
    by_kind = source(
        my, client, engine, sql="SELECT id, kind FROM events WHERE kind = %s AND id > %s", parameters=["rare", 500]
    )
    assert sorted(r["id"] for r in rows_of(by_kind)) == list(range(510, 1001, 10))
    injected = source(my, client, engine, sql="SELECT id FROM events WHERE kind = %s", parameters=[hostile])
    assert rows_of(injected) == []
    named = source(
        my,
        client,
        engine,
        sql="SELECT id, kind FROM events WHERE kind = %(kind)s AND kind NOT LIKE 'x%%'",
        parameters={"kind": "rare"},
        incremental_column="id",
        watermark=980,
        split_column="id",
        num_splits=2,
        reconcile=True,
    )
    assert sorted(r["id"] for r in rows_of(named)) == [990, 1000]


def test_hostile_identifiers_are_quoted_not_executed(my: MariaDbServer) -> None:
    with pytest.raises(SourceError, match="doesn't exist"):
        rows_of(source(my, table="events` ; DROP TABLE victims; --"))
    with pytest.raises(SourceError, match="Unknown column"):
        rows_of(source(my, table="events", columns=["id`, (SELECT 1); DROP TABLE victims; --"]))
    rows_of(source(my, table="victims"))  # still there


def test_wrong_password_is_a_clear_error_without_the_password(my: MariaDbServer) -> None:
    import MySQLdb

    def connect() -> Any:
        return MySQLdb.connect(**{**my.connect_kwargs(), "password": "not-the-password"})

    with pytest.raises(SourceError, match=r"cannot connect to the warehouse.*Access denied") as info:
        rows_of(WarehouseSource(connect=connect, table="events"))
    assert "not-the-password" not in str(info.value)


def test_connectorx_without_a_uri_is_a_clear_error(my: MariaDbServer) -> None:
    src = WarehouseSource(connect=lambda: my.connect(), table="events", engine="connectorx")
    with pytest.raises(SourceError, match=r"engine 'connectorx' needs .* a connectorx_uri"):
        rows_of(src)


@pytest.mark.parametrize("client", ["mysqlclient", "mysql-connector-python"])
def test_without_the_catalog_types_come_from_the_cursor_description(my: MariaDbServer, client: str) -> None:
    """A user who may not create temporary tables: type codes and flags still type the columns, NULL-first too."""
    execute(
        my,
        "DROP USER IF EXISTS 'reader'@'127.0.0.1'",
        "CREATE USER 'reader'@'127.0.0.1' IDENTIFIED BY 'reader-secret'",
        f"GRANT SELECT ON `{my.dbname}`.* TO 'reader'@'127.0.0.1'",
    )
    reader = MariaDbServer(my.host, my.port, "reader", "reader-secret", my.dbname, my.socket, my.base_dir)
    src = source(reader, client, table="typed", batch_rows=1)
    rows = sorted(rows_of(src), key=lambda r: r["id"])
    assert src.schema is not None
    types = {f.name: f.type for f in src.schema}
    for name in (
        "ti",
        "tu",
        "sm",
        "md",
        "iu",
        "bg",
        "bu",
        "f",
        "db",
        "bits",
        "dd",
        "dtm",
        "ts",
        "tm",
        "yr",
        "en",
        "st",
    ):
        assert types[name] == TYPED_COLUMNS[name][1], name
    assert rows[1]["bu"] == 18446744073709551615 and rows[1]["ts"] == dt.datetime(2024, 6, 1, 12, 0, 0, 500000, UTC)
    assert src.stats["zero_dates"] == {"dd": 2, "dtm": 1, "ts": 1}
    # what a description cannot tell is typed from values and named in the stats (and so in the manifest)
    if client == "mysqlclient":
        assert types["amount"] == pa.decimal128(18, 4) and types["vc"] == pa.string()
        assert src.stats["inferred_columns"] == ["bl", "doc"]  # BLOB and JSON share the binary flag
    else:
        assert types["bl"] == pa.binary() and types["doc"] == pa.string()
        assert src.stats["inferred_columns"] == ["amount", "wide", "fine"]  # no precision in its description


def test_every_mysql_type_lands_in_the_lake_and_reads_back_unchanged(my: MariaDbServer, tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    ref = DatasetRef("raw", "warehouse", "typed")
    src = source(my, engine="connectorx", table="typed")
    with lake.transaction(run_id="r") as txn:
        writer = txn.writer(ref, "dt=1")
        for batch in src.batches():
            writer.write_batch(batch)
    landed = lake.read_table(ref, "dt=1")
    assert src.schema is not None and landed.schema.equals(src.schema)
    direct = pa.Table.from_batches(list(source(my, table="typed").batches()))
    assert landed.sort_by("id").equals(direct.sort_by("id"))
