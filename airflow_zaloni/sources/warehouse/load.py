"""Out of the lake: Arrow batches into a database table, in one database transaction.

Modes:

* ``append`` -- insert the rows;
* ``replace`` -- ``DELETE`` every row, then insert, in the same transaction (readers see the old table until the
  commit, then the new one; ``TRUNCATE`` would lock readers out and is not transactional everywhere);
* ``upsert`` -- insert, or update the row with the same key: ``INSERT ... ON CONFLICT (key) DO UPDATE`` on
  PostgreSQL and SQLite (a unique constraint on the key must exist), delete-then-insert by key elsewhere.

On PostgreSQL (psycopg 3) rows travel by ``COPY ... FROM STDIN`` in CSV that pyarrow's C++ writer produces, batch
by batch; an upsert copies into a temporary table first and merges from there. Elsewhere ``executemany`` inserts
chunks of rows. Any failure rolls the transaction back: the table is as it was.
"""

from __future__ import annotations

import contextlib
import decimal
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import pyarrow as pa
import pyarrow.csv as pacsv

from airflow_zaloni.sources.base import SourceError
from airflow_zaloni.sources.warehouse import engines, mysql
from airflow_zaloni.sources.warehouse.dialect import SqlDialect

LoadMode = Literal["append", "replace", "upsert"]

#: Rows per ``executemany`` call on the generic path.
INSERT_CHUNK_ROWS = 10_000


@dataclass(frozen=True)
class _TypeNames:
    """What one family of databases calls the column type that holds each kind of Arrow value."""

    integers: dict[int, str]  # by bit width; wider ones are BIGINT
    unsigned: str  # appended to the integer type of an unsigned Arrow integer
    float32: str
    float64: str
    decimal: str  # followed by (precision,scale)
    timestamp: str
    zoned_timestamp: str
    time: str
    durations_as_time: bool  # else a duration is text
    binary: str
    key_binary: str  # a binary column of the primary key
    text: str
    key_text: str  # a text column of the primary key


_STANDARD = _TypeNames(
    integers={8: "SMALLINT", 16: "SMALLINT", 32: "INTEGER"},
    unsigned="",
    float32="REAL",
    float64="DOUBLE PRECISION",
    decimal="NUMERIC",
    timestamp="TIMESTAMP",
    zoned_timestamp="TIMESTAMP WITH TIME ZONE",
    time="TIME",
    durations_as_time=False,
    binary="BLOB",
    key_binary="BLOB",
    text="TEXT",
    key_text="TEXT",
)
_POSTGRES = replace(_STANDARD, binary="BYTEA", key_binary="BYTEA")
# MySQL/MariaDB: unsigned integers keep their range, timestamps their microseconds (zoned ones as UTC DATETIME(6):
# TIMESTAMP stops in 2038), durations are TIME, and a key column is bounded (MySQL indexes no unbounded TEXT/BLOB).
_MYSQL = _TypeNames(
    integers={8: "TINYINT", 16: "SMALLINT", 32: "INT"},
    unsigned=" UNSIGNED",
    float32="FLOAT",
    float64="DOUBLE",
    decimal="DECIMAL",
    timestamp="DATETIME(6)",
    zoned_timestamp="DATETIME(6)",
    time="TIME(6)",
    durations_as_time=True,
    binary="LONGBLOB",
    key_binary="VARBINARY(255)",
    text="LONGTEXT",
    key_text="VARCHAR(255)",
)


def sql_type(arrow_type: pa.DataType, dialect: SqlDialect, *, key: bool = False) -> str:
    """A column type for ``CREATE TABLE`` that holds ``arrow_type`` without loss (text when nothing fits).

    ``key``: the column is part of the primary key (MySQL indexes no unbounded TEXT: a key string is VARCHAR(255)).
    """
    if dialect.name == "mysql":
        names = _MYSQL
    else:
        names = _POSTGRES if dialect.name in ("postgresql", "postgres") else _STANDARD
    t = arrow_type
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    if pa.types.is_integer(t):
        integer = names.integers.get(t.bit_width, "BIGINT")
        return integer + names.unsigned if pa.types.is_unsigned_integer(t) else integer
    if pa.types.is_float32(t):
        return names.float32
    if pa.types.is_floating(t):
        return names.float64
    if pa.types.is_decimal(t):
        return f"{names.decimal}({t.precision},{t.scale})"
    if pa.types.is_date(t):
        return "DATE"
    if pa.types.is_timestamp(t):
        return names.zoned_timestamp if t.tz else names.timestamp
    if pa.types.is_time(t) or (names.durations_as_time and pa.types.is_duration(t)):
        return names.time
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return names.key_binary if key else names.binary
    return names.key_text if key else names.text


def _table_columns(conn: Any, dialect: SqlDialect, table: str) -> list[str] | None:
    """The columns of ``table``, or ``None`` when it does not exist."""
    cur = engines.cursor(conn)
    try:
        cur.execute(f"SELECT * FROM {dialect.quote_table(table)} WHERE 1 = 0")
        return [d[0] for d in cur.description]
    except Exception:
        with contextlib.suppress(Exception):
            conn.rollback()
        return None
    finally:
        with contextlib.suppress(Exception):
            cur.close()


def load_batches(
    conn: Any,
    dialect: SqlDialect,
    table: str,
    schema: pa.Schema,
    batches: Iterable[pa.RecordBatch],
    *,
    mode: LoadMode = "append",
    key: Sequence[str] = (),
    create_table: bool = True,
) -> int:
    """Load ``batches`` (all of ``schema``) into ``table`` in one transaction; returns the rows loaded."""
    if mode not in ("append", "replace", "upsert"):
        raise SourceError(f"unknown load mode {mode!r}")
    if mode == "upsert" and not key:
        raise SourceError("upsert needs key columns")
    missing_key = [k for k in key if k not in schema.names]
    if missing_key:
        raise SourceError(f"key column(s) {missing_key} are not in the dataset's columns {schema.names}")
    engines.plain_rows(conn)  # tuple rows whatever the hook's cursor class; MySQL sessions in UTC
    with contextlib.suppress(Exception):
        conn.autocommit = False
    q = dialect.quote_identifier
    target = dialect.quote_table(table)
    existing = _table_columns(conn, dialect, table)
    if existing is None:
        if not create_table:
            raise SourceError(f"table {table!r} does not exist (create_table is off)")
        columns_sql = ", ".join(
            f"{q(f.name)} {sql_type(f.type, dialect, key=mode == 'upsert' and f.name in key)}" for f in schema
        )
        primary = f", PRIMARY KEY ({', '.join(q(k) for k in key)})" if mode == "upsert" else ""
        _execute(conn, f"CREATE TABLE {target} ({columns_sql}{primary})")
    else:
        absent = [n for n in schema.names if n not in existing]
        if absent:
            raise SourceError(f"table {table!r} has no column(s) {absent} (it has {existing})")
    load = _Load(conn, dialect, target, schema, mode, key)
    try:
        if mode == "replace":
            _execute(conn, f"DELETE FROM {target}")
        rows = _copy_postgres(load, batches) if engines.driver_of(conn) == "psycopg" else _insert_many(load, batches)
        conn.commit()
    except Exception as exc:
        with contextlib.suppress(Exception):
            conn.rollback()
        if isinstance(exc, SourceError):
            raise
        raise SourceError(f"loading {table!r} ({mode}) failed after {load.sent} rows, rolled back: {exc}") from exc
    return rows


def _execute(conn: Any, sql: str, params: Sequence[Any] | None = None) -> None:
    cur = engines.cursor(conn)
    try:
        if params is None:
            cur.execute(sql)
        else:
            cur.execute(sql, params)
    finally:
        cur.close()


@dataclass
class _Load:
    """One load, as both ways of moving its rows (COPY on PostgreSQL, ``executemany`` elsewhere) need it."""

    conn: Any
    dialect: SqlDialect
    target: str  # the table, quoted
    schema: pa.Schema
    mode: LoadMode
    key: Sequence[str]
    sent: int = 0  # rows handed to the database so far: what an error says was rolled back

    @property
    def columns(self) -> str:
        """The dataset's columns, quoted, for a column list."""
        return ", ".join(self.dialect.quote_identifier(n) for n in self.schema.names)

    def upsert_tail(self) -> str:
        """``ON CONFLICT (key) DO UPDATE`` (PostgreSQL, SQLite): the new values replace the old row's (``DO NOTHING``
        when every column is key)."""
        q = self.dialect.quote_identifier
        updates = [n for n in self.schema.names if n not in self.key]
        action = (
            "DO NOTHING" if not updates else "DO UPDATE SET " + ", ".join(f"{q(n)} = excluded.{q(n)}" for n in updates)
        )
        return f" ON CONFLICT ({', '.join(q(k) for k in self.key)}) {action}"


# --------------------------------------------------------------------------------------------------- PostgreSQL


def _csv_ready(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Binary columns as PostgreSQL's hex escape (``\\x..``), which CSV COPY reads into bytea."""
    if not any(pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type) for f in batch.schema):
        return batch
    arrays = []
    for array in batch.columns:
        if pa.types.is_binary(array.type) or pa.types.is_large_binary(array.type):
            array = pa.array([None if v is None else "\\x" + v.hex() for v in array.to_pylist()], pa.string())
        arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def _copy_postgres(load: _Load, batches: Iterable[pa.RecordBatch]) -> int:
    conn, target, schema, cols = load.conn, load.target, load.schema, load.columns
    copy_into = target
    if load.mode == "upsert":
        copy_into = load.dialect.quote_identifier("zaloni_load")
        _execute(conn, f"CREATE TEMPORARY TABLE {copy_into} (LIKE {target} INCLUDING DEFAULTS) ON COMMIT DROP")
    options = pacsv.WriteOptions(include_header=False, quoting_style="all_valid")
    with conn.cursor() as cur, cur.copy(f"COPY {copy_into} ({cols}) FROM STDIN (FORMAT csv)") as copy:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            buffer = io.BytesIO()
            pacsv.write_csv(_csv_ready(batch.select(schema.names)), buffer, options)
            copy.write(buffer.getbuffer())
            load.sent += batch.num_rows
    if load.mode == "upsert":
        _execute(conn, f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {copy_into}{load.upsert_tail()}")
    return load.sent


# --------------------------------------------------------------------------------------------------- any DB-API


def _python_rows(batch: pa.RecordBatch, sqlite: bool, mysql_session: bool = False) -> list[tuple[Any, ...]]:
    columns = [c.to_pylist() for c in batch.columns]
    if sqlite:
        # sqlite3 cannot bind Decimal; its text form keeps every digit (NUMERIC affinity converts it on insert)
        columns = [[str(v) if isinstance(v, decimal.Decimal) else v for v in col] for col in columns]
    if mysql_session:
        # zoned timestamps as naive UTC: the session is in UTC, and MariaDB before 11.5 parses no offset
        columns = [
            [mysql.adapt_param(v) for v in col] if pa.types.is_timestamp(f.type) and f.type.tz else col
            for col, f in zip(columns, batch.schema)
        ]
    return list(zip(*columns))


def _insert_many(load: _Load, batches: Iterable[pa.RecordBatch]) -> int:
    conn, dialect, target, schema, key = load.conn, load.dialect, load.target, load.schema, load.key
    sqlite = engines.driver_of(conn) == "sqlite3"
    on_mysql = mysql.is_mysql(conn)
    marks = ", ".join([dialect.placeholder] * len(schema.names))
    insert = f"INSERT INTO {target} ({load.columns}) VALUES ({marks})"
    delete = None
    if load.mode == "upsert":
        if sqlite:
            insert += load.upsert_tail()
        else:
            q = dialect.quote_identifier
            delete = f"DELETE FROM {target} WHERE " + " AND ".join(f"{q(k)} = {dialect.placeholder}" for k in key)
    cur = engines.cursor(conn)
    try:
        for batch in batches:
            for offset in range(0, batch.num_rows, INSERT_CHUNK_ROWS):
                chunk = batch.slice(offset, INSERT_CHUNK_ROWS).select(schema.names)
                if delete is not None:
                    cur.executemany(delete, _python_rows(chunk.select(list(key)), sqlite, on_mysql))
                cur.executemany(insert, _python_rows(chunk, sqlite, on_mysql))
                load.sent += chunk.num_rows
    finally:
        cur.close()
    return load.sent
