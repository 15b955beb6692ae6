"""Spark SQL with Apache Iceberg for tests: pyspark's own JVM in local mode with Iceberg's Spark runtime.

The jars (``iceberg-spark-runtime-4.0_2.13`` and ``org.xerial:sqlite-jdbc``, see ``hadoop/iceberg/pom.xml``) are
fetched with Maven by ``scripts/iceberg.sh jars`` (cached in ``~/.m2``; about 60 MB on a fresh machine). When Maven,
Java or pyspark is missing the fixture fails with the reason; it never skips.

One JVM serves the whole session (``local[1]``, no UI, on 127.0.0.1: about 12 s to start). Each test gets its own
``SparkSession.newSession()``, which shares the JVM but has its own SQL settings and catalogs, so two tests may
both name a catalog ``zaloni`` for two different catalog databases::

    def test_x(spark_iceberg):
        spark = spark_iceberg.session(spark_catalog_conf(catalog_properties, "zaloni"))
        spark.sql("SELECT * FROM zaloni.raw.files.orders")
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pyiceberg.types import (
    BinaryType,
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    FixedType,
    FloatType,
    IntegerType,
    ListType,
    LongType,
    MapType,
    StringType,
    StructType,
    TimestampType,
    TimestamptzType,
    UUIDType,
)

from airflow_zaloni.lake.table_catalog import CATALOG_NAME
from airflow_zaloni.lake.tables import PARTITION_COLUMN, table_name
from tests.servers.spark import FAST_JVM_OPTS

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "iceberg.sh"


def iceberg_jars() -> list[Path]:
    """The Iceberg runtime and SQLite JDBC jars (fetched with Maven on first use)."""
    try:
        done = subprocess.run(["bash", str(SCRIPT), "jars"], capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        pytest.fail("scripts/iceberg.sh jars did not finish in 900 s", pytrace=False)
    if done.returncode != 0:
        pytest.fail(f"scripts/iceberg.sh jars failed (exit {done.returncode}):\n{done.stderr[-4000:]}", pytrace=False)
    jars = sorted(Path(done.stdout.strip().splitlines()[-1]).glob("*.jar"))
    if not any(j.name.startswith("iceberg-spark-runtime") for j in jars):
        pytest.fail(f"scripts/iceberg.sh jars left no Iceberg runtime jar: {jars}", pytrace=False)
    return jars


@dataclass
class SparkIceberg:
    """The session's Spark (``spark``) with Iceberg on its classpath; :meth:`session` gives a test its own."""

    spark: Any
    jars: list[Path]

    def session(self, conf: Mapping[str, str]) -> Any:
        """A fresh ``SparkSession`` on the shared JVM with ``conf`` (e.g. a catalog) set."""
        session = self.spark.newSession()
        for key, value in conf.items():
            session.conf.set(key, value)
        return session


@pytest.fixture(scope="session")
def spark_iceberg() -> Iterator[SparkIceberg]:
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        pytest.fail(f"pyspark is not installed (the spark extra): {exc}", pytrace=False)
    jars = iceberg_jars()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    spark = (
        SparkSession.builder.master("local[1]")
        .appName("zaloni-iceberg-tests")
        .config("spark.jars", ",".join(str(j) for j in jars))
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.driver.extraJavaOptions", FAST_JVM_OPTS)
        .config("spark.sql.extensions", "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions")
        .getOrCreate()
    )
    try:
        yield SparkIceberg(spark=spark, jars=jars)
    finally:
        spark.stop()
        _stop_the_jvm()


def _stop_the_jvm() -> None:
    """End the JVM behind the stopped session: it would live on to the end of the test run, and py4j, cleaned up at
    interpreter exit, logs into closed streams ("--- Logging error ---" after pytest's summary)."""
    from pyspark import SparkContext

    gateway = SparkContext._gateway
    if gateway is None:
        return
    proc = getattr(gateway, "proc", None)
    gateway.shutdown()
    SparkContext._gateway = None
    SparkContext._jvm = None
    if proc is not None and proc.stdin is not None:
        proc.stdin.close()  # pyspark's JVM exits when its stdin closes
        proc.wait(timeout=60)


# -- checks shared by the engine tests ----------------------------------------------------------------------------
def spark_type(field_type: Any) -> str:
    """What Spark SQL calls an Iceberg type (``DataFrame.dtypes``; Iceberg's Spark type mapping)."""
    names = {
        IntegerType: "int",
        LongType: "bigint",
        DoubleType: "double",
        StringType: "string",
        BinaryType: "binary",
        DateType: "date",
        TimestampType: "timestamp_ntz",
        TimestamptzType: "timestamp",
        BooleanType: "boolean",
        FloatType: "float",
        FixedType: "binary",
        UUIDType: "string",
    }
    if isinstance(field_type, DecimalType):
        return f"decimal({field_type.precision},{field_type.scale})"
    if isinstance(field_type, ListType):
        return f"array<{spark_type(field_type.element_type)}>"
    if isinstance(field_type, MapType):
        return f"map<{spark_type(field_type.key_type)},{spark_type(field_type.value_type)}>"
    if isinstance(field_type, StructType):
        return "struct<" + ",".join(f"{f.name}:{spark_type(f.field_type)}" for f in field_type.fields) + ">"
    for kind, name in names.items():
        if isinstance(field_type, kind):
            return name
    raise AssertionError(f"no Spark type known for {field_type}: extend spark_type()")


def read_by_every_engine(lake: Any, ref: Any, spark: Any) -> None:
    """Spark SQL by name and a pyiceberg scan of the lake's table return what the lake's own reader returns, with
    the table's types, ``lake_partition`` filled from the partition metadata."""
    table = lake.table(ref)
    assert table is not None, f"{ref} is not a table"
    expected_types = [(f.name, spark_type(f.field_type)) for f in table.schema().fields]
    frame = spark.sql(f"SELECT * FROM {CATALOG_NAME}.{table_name(ref)}")
    assert frame.dtypes == expected_types, ref
    lake_rows = lake.read_table(ref)
    parts = [(p, len(lake.read_table(ref, p))) for p in lake.partitions(ref)]
    want = pa.concat_tables(
        [lake.read_table(ref, p).append_column(PARTITION_COLUMN, pa.array([p] * n, pa.string())) for p, n in parts]
    )
    assert lake_rows.num_rows == want.num_rows
    by_spark = frame.toArrow().cast(want.schema)
    by_pyiceberg = table.scan().to_arrow().cast(want.schema)
    key = [(f.name, "ascending") for f in want.schema if not (pa.types.is_nested(f.type) or pa.types.is_binary(f.type))]
    assert by_spark.sort_by(key).to_pylist() == want.sort_by(key).to_pylist(), ref
    assert by_pyiceberg.sort_by(key).to_pylist() == want.sort_by(key).to_pylist(), ref
