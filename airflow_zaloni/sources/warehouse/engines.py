"""How rows leave the database: a DB-API cursor (any driver) or ADBC's binary COPY (PostgreSQL protocol).

An engine opens its own connection(s) from the source's connection factory and yields record batches of the
target schema for one query. The control queries (type probe, bounds, counts) always go through the DB-API
connection; only the bulk read differs.

Why ADBC and not our own binary COPY decoder: both read PostgreSQL's binary COPY stream, but ADBC decodes it in
C++ into Arrow buffers while psycopg decodes row by row in Python; measured on the same table, ADBC is the faster
(``benchmarks/warehouse.py --engines`` prints both). ADBC only streams a query that has no bind parameters (with
parameters it materialises the whole result), so on this path values are inlined as literals quoted by psycopg
(``psycopg.sql.Literal``, libpq's own quoting) -- never by string formatting.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pyarrow as pa

from airflow_zaloni.sources.base import SourceError
from airflow_zaloni.sources.warehouse import mysql
from airflow_zaloni.sources.warehouse.dialect import SqlDialect
from airflow_zaloni.sources.warehouse.query import Bound, QueryPlan
from airflow_zaloni.sources.warehouse.schema import (
    INT64_DECIMAL_DIGITS,
    BatchBuilder,
    ColumnType,
    decimal_from_unscaled,
    declared_column_type,
    pg_column_type,
)

log = logging.getLogger(__name__)

ConnectionFactory = Callable[[], Any]


def driver_of(conn: Any) -> str:
    """The DB-API driver package of a connection: ``psycopg``, ``psycopg2``, ``sqlite3``, ..."""
    return type(conn).__module__.split(".")[0]


def is_postgres(conn: Any) -> bool:
    return driver_of(conn) in ("psycopg", "psycopg2")


def adbc_available() -> bool:
    try:
        import adbc_driver_postgresql.dbapi  # noqa: F401
    except ImportError:
        return False
    return True


def plain_rows(conn: Any) -> None:
    """Make the connection return rows as tuples, whatever row factory the hook configured (a PostgresHook or a
    MySqlHook with ``{"cursor": "dictcursor"}`` in its extra returns dicts); MySQL sessions also switch to UTC."""
    driver = driver_of(conn)
    if mysql.is_mysql(conn):
        mysql.prepare_session(conn)
    elif driver == "psycopg":
        from psycopg.rows import tuple_row

        conn.row_factory = tuple_row
    elif driver == "psycopg2":
        conn.cursor_factory = None
    elif driver == "sqlite3":
        conn.row_factory = None


def cursor(conn: Any) -> Any:
    """A cursor for a small query whose rows are all fetched (mysql-connector-python's must be buffered)."""
    return mysql.control_cursor(conn) if mysql.is_mysql(conn) else conn.cursor()


def execute(cur: Any, sql: str, params: Bound) -> None:
    """Execute with parameters only when there are some: without, drivers do no ``%`` processing at all."""
    if params is None:
        cur.execute(sql)
    else:
        cur.execute(sql, params)


def adapt_params(conn: Any, params: Bound) -> Bound:
    """Bound values as the driver must see them (MySQL: zoned datetimes as naive UTC)."""
    if params is None or not mysql.is_mysql(conn):
        return params
    if isinstance(params, dict):
        return {k: mysql.adapt_param(v) for k, v in params.items()}
    return [mysql.adapt_param(v) for v in params]


def close_quietly(conn: Any) -> None:
    with contextlib.suppress(Exception):
        conn.close()


# --------------------------------------------------------------------------------------------------- column types


def column_types(conn: Any, plan: QueryPlan) -> list[ColumnType]:
    """The Arrow type of each result column, from the driver's description and the catalog.

    A column typed ``None`` has its type inferred from the first values (:class:`BatchBuilder` records it).
    """
    probe_sql, probe_params = plan.probe()
    cur = cursor(conn)
    try:
        execute(cur, probe_sql, adapt_params(conn, probe_params))
        description = cur.description
        flags = getattr(cur, "description_flags", None)  # mysqlclient reports the column flags apart
        with contextlib.suppress(Exception):
            cur.fetchall()
    finally:
        with contextlib.suppress(Exception):
            cur.close()
    if description is None:
        raise SourceError("the query returns no result set (is it a SELECT?)")
    names = [d[0] if isinstance(d[0], str) else bytes(d[0]).decode() for d in description]
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise SourceError(f"the query returns duplicate column names {dupes}; alias them apart")
    if is_postgres(conn):
        return _pg_column_types(conn, description)
    if driver_of(conn) == "sqlite3" and plan.table is not None:
        declared = _sqlite_declared_types(conn, plan.table)
        return [declared_column_type(n, declared.get(n)) for n in names]
    if mysql.is_mysql(conn):
        from_sql, params = plan.source_sql()
        catalog = mysql.column_types(conn, from_sql, adapt_params(conn, params), names)
        return catalog if catalog is not None else mysql.description_types(description, flags)
    return [ColumnType(n, None, "") for n in names]


def _pg_column_types(conn: Any, description: Sequence[Any]) -> list[ColumnType]:
    oids = [int(d[1]) for d in description]
    names = _pg_type_names(conn, sorted(set(oids)))
    out = []
    for d, oid in zip(description, oids, strict=True):
        precision, scale = getattr(d, "precision", None), getattr(d, "scale", None)
        out.append(pg_column_type(d[0], oid, precision, scale, names.get(oid, str(oid))))
    return out


def _pg_type_names(conn: Any, oids: list[int]) -> dict[int, str]:
    cur = conn.cursor()
    try:
        cur.execute("SELECT oid::int8, format_type(oid, NULL) FROM pg_catalog.pg_type WHERE oid = ANY(%s)", (oids,))
        return {int(oid): name for oid, name in cur.fetchall()}
    finally:
        cur.close()


def _sqlite_declared_types(conn: Any, table: str) -> dict[str, str]:
    parts = table.split(".")
    schema, name = (parts[0], ".".join(parts[1:])) if len(parts) > 1 else ("main", table)
    cur = conn.cursor()
    try:
        cur.execute("SELECT name, type FROM pragma_table_info(?, ?)", (name, schema))
        return {n: t for n, t in cur.fetchall()}
    finally:
        cur.close()


# --------------------------------------------------------------------------------------------------- DB-API engine


def dbapi_batches(
    conn: Any,
    sql: str,
    params: Bound,
    builder: BatchBuilder,
    batch_rows: int,
) -> Iterator[pa.RecordBatch]:
    """Stream a query with ``fetchmany``; PostgreSQL through a server-side (named) cursor so the server, not the
    client, holds the result."""
    named = is_postgres(conn)
    cur = conn.cursor(name="zaloni_extract") if named else _streaming_cursor(conn)
    if named:
        cur.itersize = batch_rows
    elif hasattr(cur, "arraysize"):
        cur.arraysize = batch_rows
    try:
        execute(cur, sql, adapt_params(conn, params))
        done = 0
        while True:
            rows = cur.fetchmany(batch_rows)
            if not rows:
                break
            yield builder.build(rows, done)
            done += len(rows)
    finally:
        with contextlib.suppress(Exception):
            cur.close()


def _streaming_cursor(conn: Any) -> Any:
    """A cursor that leaves the result on the server where the driver's default cursor would buffer all of it.

    MySQL drivers (mysqlclient, PyMySQL) read the whole result into client memory unless asked for their
    unbuffered ``SSCursor`` (mysql-connector-python for an unbuffered cursor); sqlite3, pyodbc, oracledb and most
    others fetch as ``fetchmany`` asks.
    """
    if mysql.is_mysql(conn):
        return mysql.streaming_cursor(conn)
    return conn.cursor()


# --------------------------------------------------------------------------------------------------- ADBC engine


def adbc_conninfo(conn: Any) -> str:
    """A libpq connection string for ADBC with the same parameters (and password) as a psycopg 3 connection.

    The connection is made by the Airflow hook, so SSL options, IAM tokens and the like carry over.
    """
    import psycopg.conninfo

    return str(psycopg.conninfo.make_conninfo(conn.info.dsn, password=conn.info.password))


#: ADBC batch size hint. The driver's own 16 MB made batches whose copies (decoded, cast, queued, buffered by the
#: writer) held 60 MB more at peak; the writer coalesces batches into row groups anyway, so smaller costs nothing.
ADBC_BATCH_BYTES = 4 << 20


def pg_select_list(columns: Sequence[ColumnType], dialect: SqlDialect, qualifier: str, *, adbc: bool = False) -> str:
    """The PostgreSQL select list.

    String-typed columns (json, uuid, unconstrained numeric, unknown types) are cast to ``text`` by the server, so
    both engines land PostgreSQL's own text form. For ADBC, ``numeric(p,s)`` with ``p <= 18`` travels as its
    unscaled integer (``(x * 10^s)::int8``, exact): ADBC would decode it to text and the cast to decimal would parse
    it again, about a third of the read time on a table with one numeric column.
    """
    items = []
    for col in columns:
        name = dialect.quote_identifier(col.name)
        ident = f"{qualifier}.{name}"
        arrow_type = col.arrow_type
        if arrow_type is not None and pa.types.is_string(arrow_type):
            items.append(f"{ident}::text AS {name}")
        elif adbc and arrow_type is not None and _scaled_int64(arrow_type):
            items.append(f"({ident} * {10**arrow_type.scale})::int8 AS {name}")
        else:
            items.append(ident)
    return ", ".join(items)


def _scaled_int64(arrow_type: pa.DataType) -> bool:
    return pa.types.is_decimal128(arrow_type) and arrow_type.precision <= INT64_DECIMAL_DIGITS


def adbc_batches(
    adbc_conn: Any, sql: str, schema: pa.Schema, batch_bytes: int | None = None
) -> Iterator[pa.RecordBatch]:
    """Stream a parameterless query through ADBC (binary COPY under the hood), cast to the target schema.

    ``batch_bytes`` is the driver's batch size hint in bytes of COPY data (default :data:`ADBC_BATCH_BYTES`).
    """
    cur = adbc_conn.cursor()
    try:
        cur.adbc_statement.set_options(
            **{"adbc.postgresql.batch_size_hint_bytes": str(batch_bytes or ADBC_BATCH_BYTES)}
        )
        cur.execute(sql)
        reader = cur.fetch_record_batch()
        for batch in reader:
            yield _cast_batch(batch, schema)
    finally:
        with contextlib.suppress(Exception):
            cur.close()


def _cast_batch(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    arrays = []
    for array, field in zip(batch.columns, schema, strict=True):
        if isinstance(array.type, pa.ExtensionType) or isinstance(array, pa.ExtensionArray):
            array = array.storage
        if pa.types.is_int64(array.type) and _scaled_int64(field.type):
            array = decimal_from_unscaled(array, field.type)
        elif array.type != field.type:
            array = array.cast(field.type)
        arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def pg_literal(conn: Any) -> Callable[[Any], str]:
    """psycopg's quoting of a value as an SQL literal, for the parameterless ADBC queries."""
    from psycopg import sql

    def literal(value: Any) -> str:
        return str(sql.Literal(value).as_string(conn))

    return literal
