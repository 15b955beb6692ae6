"""Which Iceberg catalog holds a lake's tables, and how to open it (pyiceberg ``load_catalog`` properties).

The embedded default needs nothing: a pyiceberg SQL catalog on SQLite.

- For a local lake root the catalog is ``<root>/_zaloni/catalog.db``: the lake is self-contained (copy or move the
  folder and its tables come along; a test's temporary lake has its own catalog).
- For a remote root (``s3://``, ``webhdfs://``, ...) a SQLite file cannot live in the store (SQLite needs a local
  filesystem with locks). The default is then ``$AIRFLOW_HOME/zaloni/catalogs/<digest of the root>.db`` on the local
  disk, with a warning: Airflow workers on several machines need a shared catalog (set ``[zaloni] catalog_uri``).

Settings select a shared catalog instead (``[zaloni]`` section, or ``Lake(..., catalog={...})`` in Python):

- ``catalog_type``: ``sql`` (SQLite or PostgreSQL through SQLAlchemy), ``rest``, ``hive``, ``glue``, or ``none``
  (no tables: the lake is files with manifests only, the layout before tables);
- ``catalog_uri``: ``postgresql+psycopg://user:pw@host/db``, ``http://rest-catalog:8181``, ``thrift://hms:9083``;
- ``catalog_warehouse``: the warehouse location (defaults to the lake root);
- ``catalog_conn_id``: an Airflow connection that describes the catalog instead (a ``postgres`` connection gives a
  SQL catalog on that database; ``http``/``https`` a REST catalog at its host, password as the bearer token;
  ``hive_metastore`` a Hive Metastore; ``aws`` a Glue catalog with that connection's credentials; any connection's
  extra may add pyiceberg catalog properties).

The tables' FileIO reaches the lake's store with the lake's own connection (:func:`file_io_properties`).
"""

from __future__ import annotations

import hashlib
import logging
import os
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from airflow_zaloni.lake.errors import LakeError
from airflow_zaloni.utils.retry import RetryError, RetryPolicy, retry_call

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

    from airflow_zaloni.lake.handle import LakeHandle as Lake

log = logging.getLogger(__name__)

#: The name the lake's catalog is opened under (also the Spark catalog name the docs use).
CATALOG_NAME = "zaloni"
#: ``catalog_type`` that turns tables off.
NO_CATALOG = "none"
#: Remote roots whose machine-local catalog was warned about (once per process).
_WARNED: set[str] = set()
#: Catalog types pyiceberg knows that a lake may use.
CATALOG_TYPES = ("sql", "rest", "hive", "glue", NO_CATALOG)


def _setting(option: str) -> str:
    """``[zaloni] <option>``, without importing Airflow into a process that does not use it.

    Importing Airflow's configuration costs seconds; a plain Python process (the ``zaloni`` CLI, a script) reads the
    ``AIRFLOW__ZALONI__*`` environment variable, and Airflow's configuration only when Airflow is already loaded or
    the ``airflow.cfg`` mentions the option.
    """
    env = os.environ.get(f"AIRFLOW__ZALONI__{option.upper()}")
    if env is not None:
        return env.strip()
    import sys

    if "airflow.configuration" not in sys.modules and "airflow.sdk.configuration" not in sys.modules:
        home = os.environ.get("AIRFLOW_HOME") or os.path.join(os.path.expanduser("~"), "airflow")
        cfg = os.environ.get("AIRFLOW_CONFIG") or os.path.join(home, "airflow.cfg")
        try:
            with open(cfg, encoding="utf-8", errors="replace") as f:
                if option not in f.read():
                    return ""
        except OSError:
            return ""
    from airflow_zaloni.conf_section import get

    return get(option).strip()


def is_local_root(root: str) -> bool:
    scheme = urlsplit(root).scheme
    return scheme in ("", "file") or len(scheme) == 1


#: ``py-io-impl`` of the tables of a lake on HDFS (a class path: pyiceberg imports it in the catalog's process).
LAKE_FILE_IO = "airflow_zaloni.lake.iceberg_io.LakeFileIO"


def file_io_impl(root: str) -> str | None:
    """The pyiceberg FileIO class (``py-io-impl``) for a lake root, or ``None`` for pyiceberg's default.

    pyiceberg's own IOs reach ``file://`` and ``s3://`` (PyArrowFileIO); WebHDFS and ``hdfs://`` roots go through the
    lake's own fsspec filesystem (:class:`airflow_zaloni.lake.iceberg_io.LakeFileIO`).
    """
    if urlsplit(root).scheme in ("webhdfs", "swebhdfs", "hdfs"):
        return LAKE_FILE_IO
    return None


#: Schemes pyiceberg's own FileIOs reach (PyArrowFileIO / FsspecFileIO).
PYICEBERG_SCHEMES = frozenset({"", "file", "s3", "s3a", "s3n", "gs", "gcs", "abfs", "abfss", "oss"})


def has_file_io(root: str) -> bool:
    """Whether the tables of a lake at ``root`` can be written: pyiceberg's IO or the hook reaches the store."""
    return is_local_root(root) or urlsplit(root).scheme in PYICEBERG_SCHEMES or file_io_impl(root) is not None


def file_io_properties(lake: Lake) -> dict[str, str]:
    """FileIO properties of the lake's tables: the lake connection's credentials and the IO for its root."""
    props: dict[str, str] = {}
    if urlsplit(lake.root).scheme in ("s3", "s3a", "s3n"):
        if lake.conn_id:
            from airflow_zaloni.lake.connection import iceberg_io_properties

            props.update(iceberg_io_properties(lake.conn_id))
        else:
            props.update(_s3_properties_from_storage_options(lake.storage_options))
    impl = file_io_impl(lake.root)
    if impl:
        props["py-io-impl"] = impl
    props["zaloni.lake-root"] = lake.root
    props["zaloni.lake-conn-id"] = lake.conn_id or ""
    return props


def _s3_properties_from_storage_options(options: dict[str, Any]) -> dict[str, str]:
    """pyiceberg S3 FileIO properties for s3fs storage options given in code (a lake without a connection)."""
    names = {"key": "s3.access-key-id", "secret": "s3.secret-access-key", "token": "s3.session-token"}
    props = {names[k]: str(v) for k, v in options.items() if k in names and v}
    endpoint = options.get("endpoint_url") or (options.get("client_kwargs") or {}).get("endpoint_url")
    if endpoint:
        props["s3.endpoint"] = str(endpoint)
        props["s3.force-virtual-addressing"] = "false"
    region = (options.get("client_kwargs") or {}).get("region_name")
    if region:
        props["s3.region"] = str(region)
    return props


def _embedded_sqlite(lake: Lake) -> str:
    if lake.storage.protocol == "file":
        folder = lake.storage.join("_zaloni")
    else:
        home = os.environ.get("AIRFLOW_HOME") or os.path.join(os.path.expanduser("~"), "airflow")
        folder = os.path.join(home, "zaloni", "catalogs")
        digest = hashlib.sha256(lake.root.encode()).hexdigest()[:16]
        if lake.root in _WARNED:
            os.makedirs(folder, exist_ok=True)
            return f"sqlite:///{folder}/{digest}.db"
        _WARNED.add(lake.root)
        log.warning(
            "lake %s: its Iceberg tables are registered in a SQLite catalog on this machine (%s/%s.db); workers on "
            "several machines need a shared catalog: set [zaloni] catalog_uri",
            lake.root,
            folder,
            digest,
        )
        os.makedirs(folder, exist_ok=True)
        return f"sqlite:///{folder}/{digest}.db"
    os.makedirs(folder, exist_ok=True)
    return f"sqlite:///{folder}/catalog.db"


def _warehouse(lake: Lake) -> str:
    if lake.storage.protocol == "file":
        return f"file://{lake.storage.base}"
    return lake.root.rstrip("/")


def _connection_properties(conn_id: str) -> dict[str, str]:
    """pyiceberg catalog properties described by an Airflow connection."""
    from airflow_zaloni.lake.connection import _connection

    conn = _connection(conn_id)
    conn_type = (conn.conn_type or "").lower()
    extra = {str(k): str(v) for k, v in (conn.extra_dejson or {}).items()}
    props: dict[str, str] = {}
    if conn_type in ("postgres", "postgresql"):
        user = quote(conn.login or "", safe="")
        password = f":{quote(conn.password, safe='')}" if conn.password else ""
        auth = f"{user}{password}@" if user else ""
        props = {
            "type": "sql",
            "uri": f"postgresql+psycopg://{auth}{conn.host or 'localhost'}:{conn.port or 5432}/{conn.schema or ''}",
        }
    elif conn_type in ("http", "https", "iceberg", "rest"):
        scheme = "https" if conn_type == "https" else "http"
        host = conn.host or ""
        uri = host if "://" in host else f"{scheme}://{host}{':' + str(conn.port) if conn.port else ''}"
        props = {"type": "rest", "uri": uri}
        if conn.password:
            props["token"] = conn.password
    elif conn_type in ("hive_metastore", "hivemetastore", "hive"):
        props = {"type": "hive", "uri": f"thrift://{conn.host}:{conn.port or 9083}"}
    elif conn_type in ("aws", "s3"):
        from airflow_zaloni.lake.connection import aws_iceberg_properties

        # the connection's endpoint_url is its S3 endpoint: a Glue endpoint goes into the extra (glue.endpoint)
        glue = aws_iceberg_properties(conn_id, "glue")
        props = {"type": "glue", **{k: v for k, v in glue.items() if k != "glue.endpoint"}}
    elif "type" not in extra:
        raise LakeError(
            f"catalog connection {conn_id!r} has type {conn.conn_type!r}: use a postgres, http(s), hive_metastore or "
            "aws connection, or put the pyiceberg catalog 'type' (and its properties) into the connection's extra"
        )
    props.update(extra)
    return props


def catalog_properties(lake: Lake) -> dict[str, str]:
    """pyiceberg ``load_catalog`` properties of the lake's catalog (without FileIO properties).

    ``{"type": "none"}`` means the lake has no tables. Precedence: ``Lake(catalog=...)``, then the ``[zaloni]``
    settings, then the embedded SQLite catalog.
    """
    given = lake.catalog_settings
    if isinstance(given, str):
        given = {"type": given}
    if given is not None:
        props = {str(k): str(v) for k, v in given.items()}
    else:
        props = {}
        conn_id = _setting("catalog_conn_id")
        if conn_id:
            props.update(_connection_properties(conn_id))
        for option, key in (("catalog_type", "type"), ("catalog_uri", "uri"), ("catalog_warehouse", "warehouse")):
            value = _setting(option)
            if value:
                props[key] = value
    kind = props.get("type", "sql").lower()
    if kind not in CATALOG_TYPES:
        raise LakeError(f"catalog type {kind!r} is unknown: expected one of {', '.join(CATALOG_TYPES)}")
    props["type"] = kind
    if kind == NO_CATALOG:
        return props
    if kind == "sql" and not props.get("uri"):
        props["uri"] = _embedded_sqlite(lake)
    props.setdefault("warehouse", _warehouse(lake))
    return props


def open_catalog(lake: Lake) -> Catalog | None:
    """The lake's pyiceberg catalog, or ``None`` when the lake has no tables (``catalog_type = none``)."""
    props = catalog_properties(lake)
    if props["type"] == NO_CATALOG:
        return None
    if not has_file_io(lake.root):
        log.warning(
            "lake %s: no Iceberg FileIO reaches this filesystem (%s://): its datasets stay files with manifests",
            lake.root,
            urlsplit(lake.root).scheme,
        )
        return None
    props = {**props, **file_io_properties(lake)}
    if props["type"] == "sql" and props["uri"].startswith("sqlite"):
        # Tables are created on first commit; SQLite needs its schema made once (idempotent).
        props.setdefault("init_catalog_tables", "true")
    try:
        return retry_call(
            lambda: _load_catalog(props),
            CATALOG_TABLES_RACE,
            retry_on=(_CatalogTablesCreatedMeanwhile,),
            what=f"opening the Iceberg catalog of lake {lake.root}",
        )
    except Exception as exc:
        # past the retry budget: the database's own error, not the retry's
        cause = (exc.last.__cause__ or exc.last) if isinstance(exc, RetryError) else exc
        where = _without_password(props.get("uri", props["type"]))
        message = str(cause).replace(props.get("uri", "") or "\0", where)
        raise LakeError(f"lake {lake.root}: the Iceberg catalog at {where} cannot be opened: {message}") from exc


#: How long opening a SQL catalog waits out other processes creating its tables at the same moment.
CATALOG_TABLES_RACE = RetryPolicy(budget=30, initial=0.05, maximum=1.0)


class _CatalogTablesCreatedMeanwhile(Exception):
    """Another process created the SQL catalog's tables between this one's look and its CREATE TABLE."""


def _load_catalog(props: dict[str, str]) -> Catalog:
    """pyiceberg's ``load_catalog``; a SQL catalog's table creation that lost a race is told apart.

    pyiceberg creates a new SQL catalog's tables when it finds them missing (look, then CREATE TABLE): processes
    opening a fresh catalog together -- the first tasks of a new lake, on two workers -- all find them missing and
    all but one then fail ("table iceberg_tables already exists" from SQLite; from PostgreSQL "already exists" or a
    duplicate key of its type catalog). Opened again, the tables are there.
    """
    from pyiceberg.catalog import load_catalog

    try:
        return load_catalog(CATALOG_NAME, **props)
    except Exception as exc:
        text = str(exc)
        if props["type"] == "sql" and ("already exists" in text or "duplicate key value" in text):
            raise _CatalogTablesCreatedMeanwhile("another process was creating its tables") from exc
        raise


def _without_password(uri: str) -> str:
    """A catalog URI fit for a message: ``postgresql+psycopg://user:***@host/db``."""
    parts = urlsplit(uri)
    if parts.password:
        return uri.replace(f":{parts.password}@", ":***@", 1)
    return uri
