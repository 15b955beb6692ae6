"""Engines read the lake's Iceberg tables by name: Spark SQL (Iceberg's Spark runtime over a JdbcCatalog on the
same SQLite file the lake's pyiceberg SqlCatalog writes) and pyiceberg's own scan, rows and types exact.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyiceberg.catalog import load_catalog
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import IdentityTransform
from pyiceberg.types import (
    BinaryType,
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    IntegerType,
    LongType,
    NestedField,
    StringType,
    TimestampType,
    TimestamptzType,
)

from airflow_zaloni.lake import DatasetRef, Lake
from airflow_zaloni.lake.errors import LakeError
from airflow_zaloni.lake.iceberg_spark import jdbc_url, spark_catalog_conf
from airflow_zaloni.lake.table_catalog import CATALOG_NAME, catalog_properties
from airflow_zaloni.lake.table_history import SNAPSHOTS_TO_KEEP
from airflow_zaloni.lake.tables import PARTITION_COLUMN, table_name
from tests.airflow_helpers import run_dag
from tests.servers.spark_iceberg import read_by_every_engine

UTC = dt.timezone.utc

#: Iceberg type -> what Spark SQL must call the column (``DataFrame.dtypes``).
COLUMNS: list[tuple[str, Any, str]] = [
    ("i", IntegerType(), "int"),
    ("l", LongType(), "bigint"),
    ("d", DoubleType(), "double"),
    ("amount", DecimalType(18, 2), "decimal(18,2)"),
    ("s", StringType(), "string"),
    ("raw", BinaryType(), "binary"),
    ("day", DateType(), "date"),
    ("ts", TimestampType(), "timestamp_ntz"),
    ("tstz", TimestamptzType(), "timestamp"),
    ("flag", BooleanType(), "boolean"),
    ("lake_partition", StringType(), "string"),
]

ARROW_SCHEMA = pa.schema(
    [
        ("i", pa.int32()),
        ("l", pa.int64()),
        ("d", pa.float64()),
        ("amount", pa.decimal128(18, 2)),
        ("s", pa.string()),
        ("raw", pa.binary()),
        ("day", pa.date32()),
        ("ts", pa.timestamp("us")),
        ("tstz", pa.timestamp("us", tz="UTC")),
        ("flag", pa.bool_()),
        ("lake_partition", pa.string()),
    ]
)


def rows(partition: str, start: int, count: int) -> list[dict[str, Any]]:
    out = []
    for n in range(start, start + count):
        null = n % 5 == 0  # every fifth row is all nulls but for its key and partition
        out.append(
            {
                "i": n,
                "l": None if null else n * 10_000_000_000,
                "d": None if null else n / 7,
                "amount": None if null else Decimal(n * 1234567) / 100,
                "s": None if null else f"ü-{n}-€",
                "raw": None if null else bytes([n % 256, 0, 255]),
                "day": None if null else dt.date(2026, 1, 1) + dt.timedelta(days=n),
                "ts": None if null else dt.datetime(2026, 3, 29, 1, 30) + dt.timedelta(minutes=n, microseconds=n),
                "tstz": None if null else dt.datetime(2026, 10, 25, 0, 59, 59, 999999, tzinfo=UTC) + dt.timedelta(n),
                "flag": None if null else n % 2 == 0,
                "lake_partition": partition,
            }
        )
    return out


def iceberg_schema() -> Schema:
    return Schema(*(NestedField(i + 1, name, typ, required=False) for i, (name, typ, _) in enumerate(COLUMNS)))


def make_catalog(tmp_path: Path, name: str = "zaloni") -> tuple[Any, dict[str, str]]:
    """A pyiceberg SqlCatalog on SQLite, as the lake opens its embedded one."""
    props = {"type": "sql", "uri": f"sqlite:///{tmp_path}/_zaloni/catalog.db", "warehouse": f"file://{tmp_path}"}
    (tmp_path / "_zaloni").mkdir(exist_ok=True)
    return load_catalog(name, **props), props


def spark_rows(frame: Any) -> list[dict[str, Any]]:
    """Spark's rows as Arrow-typed Python values (through ``toArrow``: timestamps stay in UTC, not local time)."""
    table = frame.toArrow()
    return table.cast(pa.schema([ARROW_SCHEMA.field(n) for n in table.schema.names])).to_pylist()  # type: ignore[no-any-return]


def catalog_layout(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return sorted(r[0] for r in conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table'"))


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_spark_sql_reads_a_pyiceberg_table_by_name_with_exact_types(spark_iceberg: Any, tmp_path: Path) -> None:
    catalog, props = make_catalog(tmp_path)
    catalog.create_namespace(("raw", "files"))
    spec = PartitionSpec(
        PartitionField(source_id=len(COLUMNS), field_id=1000, transform=IdentityTransform(), name="lake_partition")
    )
    table = catalog.create_table(("raw", "files", "orders"), schema=iceberg_schema(), partition_spec=spec)
    expected = rows("dt=2026-11-25", 0, 40) + rows("dt=2026-11-26", 100, 25)
    table.append(pa.Table.from_pylist(expected, schema=ARROW_SCHEMA))
    layout = catalog_layout(tmp_path / "_zaloni" / "catalog.db")

    spark = spark_iceberg.session(spark_catalog_conf(props, "zaloni"))
    frame = spark.sql("SELECT * FROM zaloni.raw.files.orders ORDER BY i")
    assert frame.dtypes == [(name, spark_type) for name, _, spark_type in COLUMNS]
    assert spark_rows(frame) == expected
    assert [tuple(r) for r in spark.sql("SHOW TABLES IN zaloni.raw.files").collect()] == [
        ("raw.files", "orders", False)
    ]
    # partition pruning by name: only the asked-for partition's rows
    one = spark.sql("SELECT count(*) FROM zaloni.raw.files.orders WHERE lake_partition = 'dt=2026-11-26'")
    assert one.collect()[0][0] == 25

    # Spark left the catalog database as pyiceberg made it, and pyiceberg goes on committing; Spark sees the new
    # snapshot at once (no 30 s table cache).
    assert catalog_layout(tmp_path / "_zaloni" / "catalog.db") == layout
    table.overwrite(pa.Table.from_pylist(rows("dt=2026-11-25", 500, 3), schema=ARROW_SCHEMA))
    assert [r["i"] for r in spark_rows(spark.sql("SELECT * FROM zaloni.raw.files.orders ORDER BY i"))] == [
        500,
        501,
        502,
    ]
    assert load_catalog("zaloni", **props).load_table(("raw", "files", "orders")).scan().to_arrow().num_rows == 3


def test_spark_catalog_conf_maps_the_lake_catalog_to_a_jdbc_catalog(tmp_path: Path) -> None:
    props = {"type": "sql", "uri": f"sqlite:///{tmp_path}/_zaloni/catalog.db", "warehouse": f"file://{tmp_path}"}
    assert spark_catalog_conf(props, "zaloni") == {
        "spark.sql.catalog.zaloni": "org.apache.iceberg.spark.SparkCatalog",
        "spark.sql.catalog.zaloni.type": "jdbc",
        "spark.sql.catalog.zaloni.uri": f"jdbc:sqlite:{tmp_path}/_zaloni/catalog.db",
        "spark.sql.catalog.zaloni.warehouse": f"file://{tmp_path}",
        "spark.sql.catalog.zaloni.jdbc.init-catalog-tables": "false",
        "spark.sql.catalog.zaloni.cache-enabled": "false",
    }
    assert jdbc_url("postgresql+psycopg://lake:s%40cret@db.example:5433/catalog?sslmode=require") == (
        "jdbc:postgresql://db.example:5433/catalog?sslmode=require",
        {"jdbc.user": "lake", "jdbc.password": "s@cret"},
    )
    with pytest.raises(LakeError, match="in-memory SQLite"):
        jdbc_url("sqlite://")
    with pytest.raises(LakeError, match="Airflow connection"):
        spark_catalog_conf({**props, "warehouse": "webhdfs://webhdfs_default@/lake"}, "zaloni")


# -- tables the lake commits ------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_spark_and_pyiceberg_read_the_tables_a_lake_commits(spark_iceberg: Any, tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    ref = DatasetRef("raw", "files", "orders")
    schema = ARROW_SCHEMA.remove(ARROW_SCHEMA.get_field_index(PARTITION_COLUMN))

    def ingest(partition: str, start: int, count: int) -> None:
        data = pa.Table.from_pylist(rows(partition, start, count), schema=ARROW_SCHEMA).drop_columns(PARTITION_COLUMN)
        with lake.transaction(run_id=f"{partition}-{start}") as txn:
            txn.writer(ref, partition, schema=schema).write_table(data)

    ingest("dt=2026-11-25", 0, 40)
    ingest("dt=2026-11-26", 100, 25)
    # the partition column is not in the lake's Parquet files: readers take it from the table's metadata
    files = [f for f in (tmp_path / "lake" / "raw" / "files" / "orders").rglob("*.parquet") if "_" not in f.name[:1]]
    assert files and all(PARTITION_COLUMN not in pq.read_schema(f).names for f in files)

    spark = spark_iceberg.session(spark_catalog_conf(catalog_properties(lake), CATALOG_NAME))
    frame = spark.sql("SELECT * FROM zaloni.raw.files.orders ORDER BY i")
    assert frame.dtypes == [(name, spark_type) for name, _, spark_type in COLUMNS]
    assert spark_rows(frame) == rows("dt=2026-11-25", 0, 40) + rows("dt=2026-11-26", 100, 25)
    read_by_every_engine(lake, ref, spark)

    ingest("dt=2026-11-25", 1000, 2)  # a re-run replaces its partition: Spark sees the new snapshot at once
    assert [r["i"] for r in spark_rows(spark.sql("SELECT * FROM zaloni.raw.files.orders ORDER BY i"))] == [
        *range(100, 125),
        1000,
        1001,
    ]
    read_by_every_engine(lake, ref, spark)

    # a longer history than the table keeps: Spark reads the merged manifests and the expired history too
    for n in range(SNAPSHOTS_TO_KEEP + 5):
        ingest(f"dt=2026-12-{1 + n:02d}", 2000 + n, 1)
    assert [r["i"] for r in spark_rows(spark.sql("SELECT * FROM zaloni.raw.files.orders ORDER BY i"))] == [
        *range(100, 125),
        1000,
        1001,
        *range(2000, 2000 + SNAPSHOTS_TO_KEEP + 5),
    ]
    snapshots = spark.sql("SELECT snapshot_id FROM zaloni.raw.files.orders.snapshots").count()
    assert snapshots == SNAPSHOTS_TO_KEEP
    read_by_every_engine(lake, ref, spark)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_spark_and_pyiceberg_read_the_demo_tables_by_name(
    spark_iceberg: Any, airflow_db: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "lake"
    monkeypatch.setenv("AIRFLOW__ZALONI__LAKE_ROOT", str(root))
    monkeypatch.setenv("ZALONI_DEMO_DIR", str(tmp_path / "samples"))
    monkeypatch.delenv("AIRFLOW_CONN_ZALONI_DEMO_WAREHOUSE", raising=False)
    dag_run = run_dag("example_dags/lake_end_to_end.py", logical_date=dt.datetime(2026, 11, 26, tzinfo=UTC))
    assert dag_run.state == "success"

    lake = Lake(str(root))
    spark = spark_iceberg.session(spark_catalog_conf(catalog_properties(lake), CATALOG_NAME))
    tables = [ref for ref in lake.datasets() if ref.zone != "landing"]
    assert {ref.key for ref in tables} == {
        "raw/drop/orders",
        "raw/mainframe/customers",
        "raw/warehouse/orders",
        "trusted/drop/orders",
        "trusted/drop/orders__quarantine",
        "trusted/warehouse/orders",
        "trusted/warehouse/orders__quarantine",
        "refined/sales/customer_revenue",
    }
    listed = {
        f"{r.namespace}.{r.tableName}"
        for zone in ("raw", "trusted", "refined")
        for system in {ref.system for ref in tables if ref.zone == zone}
        for r in spark.sql(f"SHOW TABLES IN {CATALOG_NAME}.{zone}.{system}").collect()
    }
    assert listed == {table_name(ref) for ref in tables}
    for ref in tables:
        read_by_every_engine(lake, ref, spark)
