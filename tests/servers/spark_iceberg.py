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

import pytest

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
