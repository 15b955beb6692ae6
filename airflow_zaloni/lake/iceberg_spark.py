"""Spark configuration that reads the lake's Iceberg tables by name from the lake's own catalog database.

The lake registers its tables in a pyiceberg ``SqlCatalog`` (SQLite by default, PostgreSQL optionally). Iceberg's
Java ``JdbcCatalog`` reads the same database: pyiceberg creates its tables in the layout Java calls schema ``V1``
(``iceberg_tables`` with the ``iceberg_type`` column, ``iceberg_namespace_properties``), and Java detects that layout
by itself and alters nothing. Three settings matter:

* the Spark catalog must carry the **same name** as the pyiceberg catalog: both keep it in the ``catalog_name``
  column of every row, and each only sees its own rows;
* ``jdbc.init-catalog-tables=false``: the tables exist already; Spark never creates or changes them;
* ``cache-enabled=false``: Spark's Iceberg catalog otherwise keeps a loaded table for 30 s and would not see a
  commit the lake made in the meantime.

Spark needs the ``iceberg-spark-runtime`` jar of its Spark and Scala versions and the JDBC driver of the database
(``org.xerial:sqlite-jdbc`` or ``org.postgresql:postgresql``) on its classpath; ``scripts/iceberg.sh jars`` fetches
the ones the tests use.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from airflow_zaloni.lake.errors import LakeError

SPARK_CATALOG_CLASS = "org.apache.iceberg.spark.SparkCatalog"


def jdbc_url(sqlalchemy_url: str) -> tuple[str, dict[str, str]]:
    """The JDBC URL (and ``jdbc.user``/``jdbc.password`` properties) of a SqlCatalog's SQLAlchemy URL.

    ``sqlite:////abs/catalog.db`` -> ``jdbc:sqlite:/abs/catalog.db``;
    ``postgresql+psycopg://user:pw@host:5432/db`` -> ``jdbc:postgresql://host:5432/db`` with user and password.
    """
    from sqlalchemy.engine import make_url

    url = make_url(sqlalchemy_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        if not url.database or url.database == ":memory:":
            raise LakeError(f"catalog {sqlalchemy_url!r}: an in-memory SQLite catalog cannot be shared with Spark")
        return f"jdbc:sqlite:{url.database}", {}
    if backend in ("postgresql", "mysql"):
        host = url.host or "localhost"
        port = f":{url.port}" if url.port else ""
        query = "&".join(f"{k}={v}" for k, v in sorted(url.query.items()) if isinstance(v, str))
        props = {}
        if url.username:
            props["jdbc.user"] = url.username
        if url.password:
            props["jdbc.password"] = str(url.password)
        return f"jdbc:{backend}://{host}{port}/{url.database or ''}{'?' + query if query else ''}", props
    raise LakeError(f"catalog {sqlalchemy_url!r}: no JDBC URL is known for the {backend!r} database")


def spark_catalog_conf(
    catalog_properties: Mapping[str, str], name: str, *, hadoop_conf: Mapping[str, str] | None = None
) -> dict[str, str]:
    """``spark.sql.catalog.<name>.*`` settings for a Spark session to read a pyiceberg SqlCatalog's tables.

    :param catalog_properties: the pyiceberg catalog properties (``type: sql``, ``uri``, ``warehouse``), as the
        lake opens its catalog with them.
    :param name: the pyiceberg catalog's name, which Spark must use as well (see the module docstring).
    :param hadoop_conf: Hadoop settings for this catalog's file access only (Iceberg's
        ``spark.sql.catalog.<name>.hadoop.*``), e.g. the HA nameservice of an ``hdfs://`` lake when the Spark
        session was not started with that cluster's ``HADOOP_CONF_DIR``.

    The result holds the database password when the URI has one: set it on the session, never log it.
    """
    if catalog_properties.get("type", "sql") != "sql":
        raise LakeError(f"catalog type {catalog_properties.get('type')!r}: only SQL catalogs map to a JDBC catalog")
    uri = catalog_properties.get("uri")
    if not uri:
        raise LakeError("the catalog properties name no database ('uri')")
    url, credentials = jdbc_url(uri)
    warehouse = catalog_properties.get("warehouse") or ""
    parts = urlsplit(warehouse)
    if parts.scheme == "webhdfs" and not parts.hostname:
        # The files would be readable (Hadoop has a webhdfs:// filesystem), but not through a name that only Airflow
        # can resolve: the tables' metadata locations say webhdfs://<conn_id>@/..., which no JVM understands.
        raise LakeError(
            f"warehouse {warehouse!r} names an Airflow connection, which Spark cannot resolve: Spark reads the "
            "tables of lakes on local disk, hdfs:// or object stores"
        )
    if not warehouse:
        raise LakeError("the catalog properties name no warehouse location ('warehouse')")
    prefix = f"spark.sql.catalog.{name}"
    conf = {
        prefix: SPARK_CATALOG_CLASS,
        f"{prefix}.type": "jdbc",
        f"{prefix}.uri": url,
        f"{prefix}.warehouse": warehouse,
        f"{prefix}.jdbc.init-catalog-tables": "false",
        f"{prefix}.cache-enabled": "false",
    }
    conf.update({f"{prefix}.{key}": value for key, value in credentials.items()})
    conf.update({f"{prefix}.hadoop.{key}": value for key, value in (hadoop_conf or {}).items()})
    return conf
