"""SqlToLakeOperator and LakeToSqlOperator on a real MariaDB server through MySqlHook, with every client and cursor
option the hook documents, and the real lake."""

from __future__ import annotations

import decimal
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from airflow_zaloni.lake import DatasetRef, Lake
from airflow_zaloni.operators.warehouse import LakeToSqlOperator, SqlToLakeOperator
from airflow_zaloni.sources.base import SourceError
from airflow_zaloni.sources.warehouse import WarehouseSource
from tests.airflow_helpers import run_dag
from tests.servers.mariadb import MariaDbServer, mariadb_server  # noqa: F401  (fixture)

pytestmark = pytest.mark.timeout(120)

#: MySqlHook extras: its cursor classes and its two clients
HOOK_OPTIONS = [
    {},
    {"cursor": "dictcursor"},
    {"cursor": "sscursor"},
    {"cursor": "ssdictcursor"},
    {"client": "mysql-connector-python"},
]


def context(day: int) -> dict[str, Any]:
    start = datetime(2026, 11, day, tzinfo=timezone.utc)
    return {"data_interval_start": start, "data_interval_end": start + timedelta(days=1), "run_id": f"r{day}"}


def execute(server: MariaDbServer, *statements: str) -> None:
    conn: Any = server.connect()
    try:
        cur = conn.cursor()
        for statement in statements:
            cur.execute(statement)
        conn.commit()
    finally:
        conn.close()


@pytest.fixture
def my(mariadb_server: MariaDbServer, monkeypatch: pytest.MonkeyPatch) -> MariaDbServer:  # noqa: F811
    monkeypatch.setenv("AIRFLOW_CONN_MY", mariadb_server.airflow_conn_uri())
    return mariadb_server


@pytest.mark.parametrize("extra", HOOK_OPTIONS, ids=lambda e: "-".join(e.values()) or "default")
def test_every_hook_option_lands_incremental_split_reconciled_runs(
    my: MariaDbServer, lake_root: Path, monkeypatch: pytest.MonkeyPatch, extra: dict[str, str]
) -> None:
    """The defects: dictcursor failed reconcile (KeyError 0) and splits; mysql-connector-python "Unread result"."""
    table = "orders_" + ("_".join(extra.values()).replace("-", "_") or "default")
    execute(
        my,
        f"DROP TABLE IF EXISTS {table}",
        f"CREATE TABLE {table} (id bigint unsigned PRIMARY KEY, amount decimal(18,4), at timestamp(6) NULL)",
        f"INSERT INTO {table} SELECT seq, seq * 1.5, TIMESTAMP'2026-11-01 02:00:00' + INTERVAL seq HOUR "
        "FROM seq_1_to_100",
    )
    monkeypatch.setenv("AIRFLOW_CONN_MY", my.airflow_conn_uri(**extra))

    def run(day: int) -> dict[str, Any]:
        return SqlToLakeOperator(
            task_id="t",
            conn_id="my",
            table=table,
            dataset=table,
            lake_root=str(lake_root),
            incremental_column="id",
            split_column="id",
            num_splits=2,
            reconcile=True,
        ).execute(context(day))  # type: ignore[arg-type]

    assert run(1)["rows"] == 100
    execute(my, f"INSERT INTO {table} SELECT seq, seq, NOW() FROM seq_101_to_130")
    second = run(2)
    assert second["rows"] == 30 and second["watermark"] == 130
    lake = Lake(str(lake_root))
    ref = DatasetRef("raw", "warehouse", table)
    landed = lake.read_table(ref, "dt=2026-11-02")
    assert sorted(landed["id"].to_pylist()) == list(range(101, 131))
    assert landed.schema.field("amount").type == pa.decimal128(18, 4)
    assert landed.schema.field("at").type == pa.timestamp("us", tz="UTC")
    manifest = lake.manifest(ref, "dt=2026-11-02")
    assert manifest is not None
    stats = manifest["extra"]["warehouse"]
    assert stats["reconciled_count"] == 30
    # the fast path needs mysqlclient's connection for its control queries; the other client reads through itself
    assert stats["engine"] == ("dbapi" if extra.get("client") else "connectorx")
    assert "password" not in json.dumps(manifest) and my.password not in json.dumps(manifest)


def test_an_unknown_client_is_a_clear_error(
    my: MariaDbServer, lake_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MY", my.airflow_conn_uri(client="pymysql"))
    op = SqlToLakeOperator(task_id="t", conn_id="my", table="nothing", dataset="nothing", lake_root=str(lake_root))
    with pytest.raises(SourceError, match="cannot connect to the warehouse: Unknown MySQL client name"):
        op.execute(context(1))  # type: ignore[arg-type]


def test_lake_to_mariadb_round_trips_unsigned_decimals_and_instants(
    my: MariaDbServer, lake_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    execute(
        my,
        "DROP TABLE IF EXISTS src, dst",
        "CREATE TABLE src (id bigint unsigned PRIMARY KEY, code varchar(10), amount decimal(18,4), "
        "at timestamp(6) NULL, span time)",
        "INSERT INTO src VALUES (18446744073709551615, 'max', 99999999999999.9999, '2026-11-01 14:00:00', '-01:00:00'),"
        " (1, 'one', -0.0001, '2026-11-01 02:00:00.5', '838:59:59'), (2, NULL, NULL, NULL, NULL)",
        "CREATE TABLE dst (id bigint unsigned PRIMARY KEY, code varchar(10), amount decimal(18,4), "
        "at timestamp(6) NULL, span time)",
        "INSERT INTO dst VALUES (1, 'stale', 0, NULL, NULL), (7, 'kept', 7, NULL, NULL)",
    )
    SqlToLakeOperator(task_id="t", conn_id="my", table="src", dataset="src", lake_root=str(lake_root)).execute(
        context(1)  # type: ignore[arg-type]
    )
    for mode, table in (("upsert", "dst"), ("replace", "created")):
        out = LakeToSqlOperator(
            task_id="o", conn_id="my", table=table, dataset="src", lake_root=str(lake_root), mode=mode, key="id"
        ).execute({})  # type: ignore[arg-type]
        assert out["rows"] == 3

    def read(table: str) -> list[dict]:
        src = WarehouseSource(connect=lambda: my.connect(), table=table)
        return sorted(pa.Table.from_batches(list(src.batches())).to_pylist(), key=lambda r: r["id"])

    expected = read("src")
    assert expected[2]["amount"] == decimal.Decimal("99999999999999.9999")
    assert expected[0]["at"] == datetime(2026, 11, 1, 0, 0, 0, 500000, tzinfo=timezone.utc)  # written in +02:00
    dst = read("dst")
    assert [r["id"] for r in dst] == [1, 2, 7, 18446744073709551615]
    assert [r for r in dst if r["id"] != 7] == expected
    created = read("created")  # made by the load: zoned instants kept as UTC DATETIME(6)
    assert [{**r, "at": r["at"] and r["at"].replace(tzinfo=timezone.utc)} for r in created] == expected


def test_parameters_from_dag_run_conf_are_bound_not_executed(
    my: MariaDbServer, lake_root: Path, monkeypatch: pytest.MonkeyPatch, airflow_db: Path, tmp_path: Path
) -> None:
    """The defect: a templated ``sql`` with ``'x' OR '1'='1'`` from conf returned every row."""
    execute(
        my,
        "DROP TABLE IF EXISTS notes",
        "CREATE TABLE notes (id int, note varchar(20))",
        "INSERT INTO notes VALUES (1, 'a'), (2, 'b'), (3, 'x')",
    )
    monkeypatch.setenv("AIRFLOW__ZALONI__LAKE_ROOT", str(lake_root))
    dag_file = tmp_path / "warehouse_params.py"
    dag_file.write_text(
        "from datetime import datetime\n"
        "from airflow.sdk import DAG\n"
        "from airflow_zaloni.operators.warehouse import SqlToLakeOperator\n"
        "with DAG('warehouse_params', schedule=None, start_date=datetime(2026, 1, 1)):\n"
        "    SqlToLakeOperator(task_id='land', conn_id='my', dataset='notes',\n"
        "        sql='SELECT id, note FROM notes WHERE note = %s', parameters=[\"{{ dag_run.conf['note'] }}\"])\n"
    )
    lake = Lake(str(lake_root))
    ref = DatasetRef("raw", "warehouse", "notes")
    run = run_dag(dag_file, conf={"note": "x' OR '1'='1"})
    assert run.state == "success"
    assert lake.read_table(ref).num_rows == 0  # bound as one value: no note is spelled like that
    manifest = lake.manifest(ref, lake.partitions(ref)[0])
    assert manifest is not None and manifest["source"]["parameters"] == ["\"x' OR '1'='1\""]
    run = run_dag(dag_file, conf={"note": "x"}, logical_date=datetime(2026, 11, 2, tzinfo=timezone.utc))
    assert run.state == "success"
    assert lake.read_table(ref)["id"].to_pylist() == [3]


def test_fanout_parts_on_mapped_tasks_are_published_by_one_commit(
    my: MariaDbServer, lake_root: Path, monkeypatch: pytest.MonkeyPatch, airflow_db: Path, tmp_path: Path
) -> None:
    execute(
        my,
        "DROP TABLE IF EXISTS fanout",
        "CREATE TABLE fanout (id int, at timestamp NULL)",
        "INSERT INTO fanout SELECT seq, TIMESTAMP'2026-11-01 02:00:00' + INTERVAL seq MINUTE FROM seq_1_to_100",
        "INSERT INTO fanout VALUES (NULL, NULL)",
    )
    monkeypatch.setenv("AIRFLOW__ZALONI__LAKE_ROOT", str(lake_root))
    dag_file = tmp_path / "warehouse_mysql_fanout.py"
    dag_file.write_text(
        "from datetime import datetime\n"
        "from airflow.sdk import DAG\n"
        "from airflow_zaloni.operators.commit import LakeCommitOperator\n"
        "from airflow_zaloni.operators.warehouse import SqlSplitPlanOperator, SqlToLakeOperator\n"
        "with DAG('warehouse_mysql_fanout', schedule=None, start_date=datetime(2026, 1, 1)):\n"
        "    plan = SqlSplitPlanOperator(task_id='plan', conn_id='my', table='fanout', split_column='at',\n"
        "        num_parts=3, dataset='fanout', incremental_column='id')\n"
        "    parts = SqlToLakeOperator.partial(task_id='part', conn_id='my', table='fanout', dataset='fanout',\n"
        "        incremental_column='id', reconcile=True, fanout=True).expand(split=plan.output)\n"
        "    parts >> LakeCommitOperator(task_id='commit', parts_task_id='part', dataset='fanout',\n"
        "        system='warehouse')\n"
    )
    run = run_dag(dag_file)
    assert run.state == "success"
    lake = Lake(str(lake_root))
    ref = DatasetRef("raw", "warehouse", "fanout")
    (partition,) = lake.partitions(ref)
    table = lake.read_table(ref)
    ids = table["id"].to_pylist()
    assert sorted(i for i in ids if i is not None) == list(range(1, 101)) and ids.count(None) == 1
    assert table.schema.field("at").type == pa.timestamp("us", tz="UTC")
    manifest = lake.manifest(ref, partition)
    assert manifest is not None and len(manifest["extra"]["parts"]) == 3
    assert lake.watermark(ref) == 100
