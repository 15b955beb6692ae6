"""MySQL and MariaDB: column types from the server's catalog, a session in UTC, and the ConnectorX fast path.

**Types from the catalog, never from values.** The result's columns are materialised as an empty temporary table
(``CREATE TEMPORARY TABLE ... AS SELECT * FROM (query) LIMIT 0``) whose ``SHOW FULL COLUMNS`` gives the server's own
column type for every result column, table column or expression alike: ``bigint(20) unsigned``, ``decimal(18,4)``,
``timestamp(6)``, and the collation, which tells text from binary. Both MySQL clients of ``MySqlHook`` (mysqlclient,
mysql-connector-python) see the same types: mysql-connector-python's cursor description has neither precision nor
scale, and no client's description tells a JSON column (``longtext`` with a binary collation) from a BLOB.

**Mapping decisions** (docs/warehouse.md, "MySQL and MariaDB types"):

* integers keep their width and sign (``BIGINT UNSIGNED`` is ``uint64``, so 18446744073709551615 fits);
  ``TINYINT(1)``/``BOOLEAN`` is ``int8`` (MySQL stores any small integer in it); ``YEAR`` is ``int16``; ``BIT(n)``
  is ``uint64``;
* ``DECIMAL(p,s)`` is ``decimal128(p,s)`` (``decimal256`` above 38 digits): precision and scale are kept;
* ``TIMESTAMP`` is ``timestamp[us, tz=UTC]``: every connection reads in the session time zone ``+00:00``, so the
  values are the stored UTC instants whatever the server's or the session's default zone; ``DATETIME`` is zone-less
  ``timestamp[us]``; ``DATE`` is ``date32``;
* ``TIME`` is ``duration[us]``: MySQL's TIME is a signed duration (-838:59:59 to 838:59:59), not a time of day;
* **zero dates** (``0000-00-00``, and dates with a zero month or day, which no calendar holds) land as NULL; their
  number per column is in the manifest (``extra.warehouse.zero_dates``) and a warning in the log -- never silent;
* ``CHAR``/``VARCHAR``/``TEXT``/``ENUM``/``SET``/``JSON`` are strings; ``BINARY``/``VARBINARY``/``BLOB`` are binary.

**The fast path.** ConnectorX reads the wire protocol in Rust straight into Arrow batches (``arrow_stream``, bounded
memory). It cannot hold every value the types above allow (zero dates, TIMESTAMP outside its range, TIME beyond a
day, DECIMAL beyond 28 digits), so the select list hands those over in forms it reads exactly: a decimal's unscaled
integer, TIME as microseconds, wide decimals as text, zero dates as NULL. The DB-API path reads the same select list,
so both engines land identical tables.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from airflow_zaloni.sources.base import SourceError
from airflow_zaloni.sources.warehouse.dialect import SqlDialect
from airflow_zaloni.sources.warehouse.schema import (
    INT64_DECIMAL_DIGITS,
    MAX_DECIMAL128_PRECISION,
    ColumnType,
    decimal_from_unscaled,
)

log = logging.getLogger(__name__)

#: DB-API driver packages (``type(conn).__module__``) of MySQL protocol clients.
MYSQL_DRIVERS = frozenset({"MySQLdb", "mysql", "pymysql"})

#: Every connection of a read runs in UTC, so TIMESTAMP values (stored as UTC instants) arrive unshifted.
SESSION_TIME_ZONE = "SET time_zone = '+00:00'"

#: The empty table whose columns describe a result.
PROBE_TABLE = "zaloni_probe"

#: Largest precision ConnectorX decodes as a decimal (rust_decimal's 28 digits); wider ones travel as text.
CONNECTORX_DECIMAL_DIGITS = 28
#: ConnectorX hands MySQL decimals over as decimal128(38, 10): a larger scale would be cut.
CONNECTORX_DECIMAL_SCALE = 10

#: Suffix of the flag column that marks a zero date in the row (read, counted and dropped).
ZERO_FLAG = "__zaloni_zero"

_INTEGERS = {
    "tinyint": (pa.int8(), pa.uint8()),
    "smallint": (pa.int16(), pa.uint16()),
    "mediumint": (pa.int32(), pa.uint32()),
    "int": (pa.int32(), pa.uint32()),
    "integer": (pa.int32(), pa.uint32()),
    "bigint": (pa.int64(), pa.uint64()),
}
_STRINGS = {"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set", "json"}
_STRINGS |= {"uuid", "inet4", "inet6"}  # MariaDB's own types, in their text form
_BINARIES = {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"}
_TYPE = re.compile(r"^\s*(\w+)\s*(?:\(([^)]*)\))?\s*(.*)$")


def _driver(conn: Any) -> str:
    return type(conn).__module__.split(".")[0]


def is_mysql(conn: Any) -> bool:
    return _driver(conn) in MYSQL_DRIVERS


# --------------------------------------------------------------------------------------------------- sessions


def prepare_session(conn: Any) -> None:
    """Tuple rows whatever cursor class the hook configured, and the session in UTC.

    ``MySqlHook`` with ``{"cursor": "dictcursor"}`` (or ``sscursor``, ``ssdictcursor``) makes every ``cursor()`` of
    the connection one of those; the reads pick their cursor class themselves (:func:`control_cursor`,
    :func:`streaming_cursor`), and the default cursor of the connection goes back to the plain, buffered one.
    """
    driver = _driver(conn)
    if driver == "MySQLdb":
        import MySQLdb.cursors

        conn.cursorclass = MySQLdb.cursors.Cursor
    elif driver == "pymysql":
        import pymysql.cursors

        conn.cursorclass = pymysql.cursors.Cursor
    cur = control_cursor(conn)
    try:
        cur.execute(SESSION_TIME_ZONE)
    finally:
        cur.close()


def control_cursor(conn: Any) -> Any:
    """A buffered tuple cursor: mysql-connector-python's default cursor is unbuffered, and a small query whose row
    is not fetched to the end fails the next one with "Unread result found"."""
    if _driver(conn) == "mysql":
        return conn.cursor(buffered=True, raw=False, dictionary=False)
    return conn.cursor()


def streaming_cursor(conn: Any) -> Any:
    """An unbuffered tuple cursor: the result stays on the server until ``fetchmany`` asks for it."""
    driver = _driver(conn)
    if driver == "mysql":
        return conn.cursor(buffered=False, raw=False, dictionary=False)
    import importlib

    return conn.cursor(importlib.import_module(f"{driver}.cursors").SSCursor)


def adapt_param(value: Any) -> Any:
    """A value as the server compares it: zoned datetimes as naive UTC (the session's zone); MariaDB before 11.5
    does not parse an offset in a datetime literal."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


# --------------------------------------------------------------------------------------------------- types


def column_types(
    conn: Any, from_sql: str, params: Sequence[Any] | dict[str, Any] | None, names: Sequence[str]
) -> list[ColumnType] | None:
    """The type of each result column from the server's catalog, or ``None`` when the probe table cannot be made
    (no ``CREATE TEMPORARY TABLES`` privilege): the caller falls back to values and says so in the manifest."""
    cur = control_cursor(conn)
    try:
        cur.execute(f"DROP TEMPORARY TABLE IF EXISTS {PROBE_TABLE}")
        probe = f"CREATE TEMPORARY TABLE {PROBE_TABLE} AS SELECT * FROM {from_sql} LIMIT 0"
        if params is None:
            cur.execute(probe)
        else:
            cur.execute(probe, params)
        cur.execute(f"SHOW FULL COLUMNS FROM {PROBE_TABLE}")
        catalog = {str(row[0]): (_text(row[1]), row[2]) for row in cur.fetchall()}
        cur.execute(f"DROP TEMPORARY TABLE IF EXISTS {PROBE_TABLE}")
    except Exception as exc:  # a driver error: privileges, a read-only server
        log.warning("cannot read the column types from the catalog (types are inferred from values): %s", exc)
        return None
    finally:
        with contextlib.suppress(Exception):
            cur.close()
    out = []
    for name in names:
        if name not in catalog:
            return None
        column_type, collation = catalog[name]
        out.append(mysql_column_type(name, column_type, collation))
    return out


#: MySQL protocol column type codes (``FIELD_TYPE``) and flags, as both clients report them.
_CODE_INTEGERS = {1: "tinyint", 2: "smallint", 9: "mediumint", 3: "int", 8: "bigint"}
_CODE_DECIMALS = frozenset({0, 246})
_CODE_OTHERS = {
    4: ("float", pa.float32()),
    5: ("double", pa.float64()),
    7: ("timestamp", pa.timestamp("us", tz="UTC")),
    10: ("date", pa.date32()),
    14: ("date", pa.date32()),
    11: ("time", pa.duration("us")),
    12: ("datetime", pa.timestamp("us")),
    13: ("year", pa.int16()),
    16: ("bit", pa.uint64()),
    245: ("json", pa.string()),
    247: ("enum", pa.string()),
}
_CODE_STRINGS = frozenset({15, 249, 250, 251, 252, 253, 254})
_CODE_SET = 248
UNSIGNED_FLAG, BINARY_FLAG, SET_FLAG = 32, 128, 2048
BINARY_CHARSET = 63


def description_types(description: Sequence[Any], flags: Sequence[int] | None) -> list[ColumnType]:
    """Column types from the cursor description's type codes and flags, when the catalog cannot be read.

    mysqlclient reports the flags apart (``description_flags``) and the length and scale of decimals;
    mysql-connector-python puts the flags and the character set in the description itself but no decimal precision.
    What the description cannot tell is ``None`` (typed from values, and named in the manifest): a decimal on
    mysql-connector-python, and on mysqlclient a string with the binary flag, which a BLOB and a ``_bin`` collated
    text (JSON on MariaDB) share.
    """
    out = []
    for i, d in enumerate(description):
        name, code = str(d[0]), int(d[1])
        flag = int(flags[i]) if flags is not None else int(d[7]) if len(d) > 7 and d[7] is not None else 0
        charset = int(d[8]) if len(d) > 8 and d[8] is not None else None
        unsigned = bool(flag & UNSIGNED_FLAG)
        if code in _CODE_INTEGERS:
            base = _CODE_INTEGERS[code]
            out.append(
                ColumnType(name, _INTEGERS[base][1 if unsigned else 0], base + (" unsigned" if unsigned else ""))
            )
        elif code in _CODE_DECIMALS:
            length, scale = d[3], d[5]
            if length is None or scale is None:
                out.append(ColumnType(name, None, "decimal"))
                continue
            precision = int(length) - (1 if scale else 0) - (0 if unsigned else 1)
            out.append(mysql_column_type(name, f"decimal({precision},{int(scale)})", None))
        elif code in _CODE_OTHERS:
            base, arrow_type = _CODE_OTHERS[code]
            out.append(ColumnType(name, arrow_type, base))
        elif code == _CODE_SET or flag & SET_FLAG:
            out.append(ColumnType(name, pa.string(), "set"))
        elif code in _CODE_STRINGS:
            if charset is not None:
                binary = charset == BINARY_CHARSET
            elif flag & BINARY_FLAG:
                out.append(ColumnType(name, None, "string or binary"))
                continue
            else:
                binary = False
            out.append(ColumnType(name, pa.binary() if binary else pa.string(), "binary" if binary else "string"))
        else:
            out.append(ColumnType(name, None, f"type code {code}"))
    return out


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes | bytearray) else str(value)


def mysql_column_type(name: str, column_type: str, collation: Any) -> ColumnType:
    """The Arrow type of a MySQL column type as ``SHOW COLUMNS`` spells it (``decimal(18,4)``, ``int(10) unsigned``).

    ``collation`` is ``None`` for binary strings (``BINARY``, ``VARBINARY``, ``BLOB``).
    """
    match = _TYPE.match(column_type.lower())
    if not match:
        return _unmapped(name, column_type)
    base, args, rest = match.group(1), match.group(2) or "", match.group(3)
    unsigned = "unsigned" in rest
    if base in _INTEGERS:
        return ColumnType(name, _INTEGERS[base][1 if unsigned else 0], column_type)
    if base in ("decimal", "numeric", "dec", "fixed"):
        parts = [int(p) for p in args.split(",") if p.strip()] or [10]
        precision, scale = parts[0], parts[1] if len(parts) > 1 else 0
        decimal_type = (
            pa.decimal128(precision, scale)
            if precision <= MAX_DECIMAL128_PRECISION
            else pa.decimal256(precision, scale)
        )
        return ColumnType(name, decimal_type, column_type)
    if base == "float":
        return ColumnType(name, pa.float32(), column_type)
    if base in ("double", "real"):
        return ColumnType(name, pa.float64(), column_type)
    if base in ("bit", "year"):
        return ColumnType(name, pa.uint64() if base == "bit" else pa.int16(), column_type)
    if base == "date":
        return ColumnType(name, pa.date32(), column_type)
    if base == "datetime":
        return ColumnType(name, pa.timestamp("us"), column_type)
    if base == "timestamp":
        return ColumnType(name, pa.timestamp("us", tz="UTC"), column_type)
    if base == "time":
        return ColumnType(name, pa.duration("us"), column_type)
    if base in _BINARIES or (base in ("char", "varchar", "text") and collation is None):
        return ColumnType(name, pa.binary(), column_type)
    if base in _STRINGS:
        return ColumnType(name, pa.string(), column_type)
    return _unmapped(name, column_type)


def _unmapped(name: str, column_type: str) -> ColumnType:
    # spatial types and the like: the server's text form (the select list casts them)
    return ColumnType(
        name,
        pa.string(),
        column_type,
        warning=f"column {name!r}: MySQL type {column_type} has no Arrow mapping; landed as string",
    )


# --------------------------------------------------------------------------------------------------- select list


@dataclass(frozen=True)
class ReadColumn:
    """How one column travels: the SQL expression read, and how its Arrow array becomes the column's type."""

    column: ColumnType
    expression: str
    #: the expression reads a decimal's unscaled integer (``x * 10^scale``)
    unscaled: bool = False
    #: the expression reads TIME as microseconds
    micros: bool = False
    #: the name of the flag column that marks zero dates, when the column is a date
    zero_flag: str | None = None


def _is_temporal_date(arrow_type: pa.DataType) -> bool:
    return pa.types.is_date(arrow_type) or pa.types.is_timestamp(arrow_type)


def read_columns(
    columns: Sequence[ColumnType], dialect: SqlDialect, qualifier: str, *, arrow: bool
) -> list[ReadColumn]:
    """The select list of a MySQL read (``arrow`` for ConnectorX, which needs more in forms it can decode)."""
    out = []
    for i, col in enumerate(columns):
        name = dialect.quote_identifier(col.name)
        ident = f"{qualifier}.{name}"
        arrow_type = col.arrow_type
        if arrow_type is None:
            out.append(ReadColumn(col, f"{ident} AS {name}"))
        elif _is_temporal_date(arrow_type):
            zero = f"(MONTH({ident}) = 0 OR DAYOFMONTH({ident}) = 0)"
            flag = f"c{i}{ZERO_FLAG}"
            out.append(
                ReadColumn(
                    col,
                    f"IF({zero}, NULL, {ident}) AS {name}, {zero} AS {dialect.quote_identifier(flag)}",
                    zero_flag=flag,
                )
            )
        elif pa.types.is_duration(arrow_type):
            out.append(ReadColumn(col, f"CAST(TIME_TO_SEC({ident}) * 1000000 AS SIGNED) AS {name}", micros=True))
        elif pa.types.is_unsigned_integer(arrow_type) and col.db_type.lower().startswith("bit"):
            out.append(ReadColumn(col, f"CAST({ident} AS UNSIGNED) AS {name}"))
        elif pa.types.is_decimal(arrow_type) and arrow:
            if arrow_type.precision <= CONNECTORX_DECIMAL_DIGITS and arrow_type.scale <= CONNECTORX_DECIMAL_SCALE:
                out.append(ReadColumn(col, f"{ident} AS {name}"))  # decimal128(38, 10) from ConnectorX, rescaled
            elif arrow_type.precision <= INT64_DECIMAL_DIGITS:
                out.append(
                    ReadColumn(col, f"CAST({ident} * {10**arrow_type.scale} AS SIGNED) AS {name}", unscaled=True)
                )
            else:
                out.append(ReadColumn(col, f"CAST({ident} AS CHAR) AS {name}"))
        elif col.warning or col.db_type.lower().startswith("set"):
            # mysql-connector-python hands a SET over as a Python set: the server's text form is 'x,y' for all
            out.append(ReadColumn(col, f"CAST({ident} AS CHAR) AS {name}"))
        else:
            out.append(ReadColumn(col, f"{ident} AS {name}"))
    return out


def select_list(read: Sequence[ReadColumn]) -> str:
    return ", ".join(r.expression for r in read)


def wire_types(read: Sequence[ReadColumn]) -> list[ColumnType]:
    """The columns as they come over the wire (for the DB-API batch builder): flags and rewritten forms included."""
    out: list[ColumnType] = []
    for r in read:
        col = r.column
        if r.micros:
            out.append(ColumnType(col.name, pa.duration("us"), col.db_type))
        else:
            out.append(col)
        if r.zero_flag:
            out.append(ColumnType(r.zero_flag, pa.int8(), "zero-date flag"))
    return out


class ZeroDates:
    """Counts the zero dates of each column as batches pass, and drops the flag columns."""

    def __init__(self, read: Sequence[ReadColumn]) -> None:
        self.flags = {r.zero_flag: r.column.name for r in read if r.zero_flag}
        self.counts: dict[str, int] = {}

    def strip(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        if not self.flags:
            return batch
        keep = []
        for i, name in enumerate(batch.schema.names):
            if name in self.flags:
                found = pc.sum(batch.column(i)).as_py() or 0
                if found:
                    column = self.flags[name]
                    self.counts[column] = self.counts.get(column, 0) + int(found)
            else:
                keep.append(i)
        return batch.select(keep)

    def warnings(self) -> list[str]:
        return [
            f"column {name!r}: {n} zero date(s) (0000-00-00 or a zero month/day) landed as NULL"
            for name, n in sorted(self.counts.items())
        ]


# --------------------------------------------------------------------------------------------------- ConnectorX


def connectorx_available() -> bool:
    try:
        import connectorx  # noqa: F401
    except ImportError:
        return False
    return True


def connectorx_uri(host: str, port: int | None, user: str | None, password: str | None, database: str | None) -> str:
    """A ConnectorX ``mysql://`` URI with every part percent-encoded."""
    quote = urllib.parse.quote
    auth = quote(user or "", safe="") + (f":{quote(password, safe='')}" if password else "")
    return f"mysql://{auth}@{host}:{port or 3306}/{quote(database or '', safe='')}"


def literal(conn: Any) -> Callable[[Any], str]:
    """The client library's own quoting of a value as an SQL literal (mysqlclient's ``literal``), for ConnectorX,
    which takes no bind parameters."""
    if _driver(conn) != "MySQLdb":
        raise SourceError("inlined literals need a mysqlclient connection")

    def quote(value: Any) -> str:
        out = conn.literal(adapt_param(value))
        return out.decode() if isinstance(out, bytes) else str(out)

    return quote


def connectorx_batches(uri: str, sql: str, read: Sequence[ReadColumn], batch_rows: int) -> Iterator[pa.RecordBatch]:
    """Stream a parameterless query through ConnectorX (``arrow_stream``), cast to the target types."""
    import connectorx as cx

    try:
        reader = cx.read_sql(
            uri, sql, return_type="arrow_stream", batch_size=batch_rows, pre_execution_query=[SESSION_TIME_ZONE]
        )
        for batch in reader:
            yield _cast(batch, read)
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except SourceError:
        raise
    except BaseException as exc:  # ConnectorX reports decoding failures as Rust panics (a BaseException)
        raise SourceError(f"ConnectorX read failed: {str(exc)[:500]}") from exc


def _cast(batch: pa.RecordBatch, read: Sequence[ReadColumn]) -> pa.RecordBatch:
    arrays, names = [], []
    position = 0
    for r in read:
        array = batch.column(position)
        position += 1
        target = r.column.arrow_type
        assert target is not None
        if r.unscaled:
            array = decimal_from_unscaled(array.cast(pa.int64()), target)
        elif r.micros:
            array = array.cast(pa.int64()).cast(pa.duration("us"))
        elif array.type != target:
            array = array.cast(target)
        arrays.append(array)
        names.append(r.column.name)
        if r.zero_flag:
            arrays.append(batch.column(position).cast(pa.int8()))
            names.append(r.zero_flag)
            position += 1
    return pa.RecordBatch.from_arrays(arrays, names=names)
