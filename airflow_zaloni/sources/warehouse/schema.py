"""Arrow types for database columns, and Python rows to Arrow batches.

The type of a column comes, in order of preference, from

1. the PostgreSQL type OID and modifier in the cursor description (psycopg reports both, so ``numeric(12,2)``
   becomes ``decimal128(12, 2)``);
2. the declared type in the catalog (SQLite's ``PRAGMA table_info``, or any textual type name), read by affinity
   rules;
3. MySQL/MariaDB's catalog (:mod:`.mysql`);
4. the Python values of the first batch (any other DB-API driver, and expression columns of SQLite), recorded in the
   manifest (``extra.warehouse.inferred_columns``) because a NULL-only first batch cannot tell.

A column whose type cannot be told lands as **string** and the reason is returned as a warning, which the operator
logs and records in the manifest: a column is never dropped.

Documented mapping decisions:

* PostgreSQL ``numeric`` without precision and scale can hold 131072 digits before the point and 16383 after, which
  no Arrow decimal holds; it lands as **string** in PostgreSQL's exact text form (lossless, no warning), so a reader
  casts it to the decimal it knows fits.
* ``timestamp with time zone`` is ``timestamp[us, tz=UTC]``; ``timestamp`` without zone stays zone-less.
* ``json``/``jsonb``, ``uuid``, ``xml`` are strings; ``bytea``/``BLOB`` are binary.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import re
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from airflow_zaloni.sources.base import SourceError

#: PostgreSQL built-in type OIDs (pg_type.oid) and the Arrow type each maps to; numeric is handled apart.
PG_OID_TYPES: dict[int, pa.DataType] = {
    16: pa.bool_(),
    17: pa.binary(),
    18: pa.string(),  # "char"
    19: pa.string(),  # name
    20: pa.int64(),
    21: pa.int16(),
    23: pa.int32(),
    25: pa.string(),
    26: pa.int64(),  # oid (unsigned 32 bit)
    114: pa.string(),  # json
    142: pa.string(),  # xml
    700: pa.float32(),
    701: pa.float64(),
    1042: pa.string(),  # bpchar
    1043: pa.string(),  # varchar
    1082: pa.date32(),
    1083: pa.time64("us"),
    1114: pa.timestamp("us"),
    1184: pa.timestamp("us", tz="UTC"),
    2950: pa.string(),  # uuid
    3802: pa.string(),  # jsonb
}
PG_NUMERIC_OID = 1700
PG_JSON_OIDS = frozenset({114, 3802})

#: Largest precision an Arrow decimal128 holds.
MAX_DECIMAL128_PRECISION = 38

#: Largest precision whose unscaled values always fit a signed 64-bit integer.
INT64_DECIMAL_DIGITS = 18


@dataclass(frozen=True)
class ColumnType:
    """The Arrow type chosen for one result column, and why.

    :param name: column name as the database reports it.
    :param arrow_type: the Arrow type, or ``None`` when it is to be inferred from the first values.
    :param db_type: the database's own type name or code, for the manifest.
    :param warning: set when the type was not understood and the column lands as string.
    :param json_text: values are parsed JSON (psycopg) that must be serialised back to text.
    """

    name: str
    arrow_type: pa.DataType | None
    db_type: str
    warning: str | None = None
    json_text: bool = False


def pg_column_type(name: str, oid: int, precision: int | None, scale: int | None, type_name: str) -> ColumnType:
    """The Arrow type of a PostgreSQL column from its type OID and (for numeric) precision and scale."""
    if oid == PG_NUMERIC_OID:
        if precision and precision <= MAX_DECIMAL128_PRECISION:
            return ColumnType(name, pa.decimal128(precision, scale or 0), f"numeric({precision},{scale or 0})")
        if precision:
            return ColumnType(name, pa.decimal256(precision, scale or 0), f"numeric({precision},{scale or 0})")
        return ColumnType(name, pa.string(), "numeric")
    arrow_type = PG_OID_TYPES.get(oid)
    if arrow_type is None:
        return ColumnType(
            name,
            pa.string(),
            type_name,
            warning=f"column {name!r}: PostgreSQL type {type_name} (oid {oid}) has no Arrow mapping; landed as string",
        )
    return ColumnType(name, arrow_type, type_name, json_text=oid in PG_JSON_OIDS)


_DECIMAL_DECL = re.compile(r"(?:DECIMAL|NUMERIC|NUMBER)\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)", re.IGNORECASE)


def declared_column_type(name: str, declared: str | None) -> ColumnType:
    """The Arrow type for a declared column type name (SQLite's ``PRAGMA table_info``, or any catalog's text).

    Follows SQLite's affinity rules (https://sqlite.org/datatype3.html#determination_of_column_affinity) with the
    common date, time and boolean names recognised first. ``None`` as the Arrow type means "infer from values"
    (expression columns have no declared type).
    """
    decl = (declared or "").strip()
    upper = decl.upper()
    if not decl:
        return ColumnType(name, None, "")
    if match := _DECIMAL_DECL.search(decl):
        precision, scale = int(match.group(1)), int(match.group(2) or 0)
        if 0 < precision <= MAX_DECIMAL128_PRECISION and scale <= precision:
            return ColumnType(name, pa.decimal128(precision, scale), decl)
    checks: list[tuple[Callable[[str], bool], pa.DataType]] = [
        (lambda u: u.startswith("BOOL"), pa.bool_()),
        (lambda u: "TIMESTAMP" in u and ("ZONE" in u or "TZ" in u), pa.timestamp("us", tz="UTC")),
        (lambda u: "TIMESTAMP" in u or "DATETIME" in u, pa.timestamp("us")),
        (lambda u: u == "DATE", pa.date32()),
        (lambda u: u.startswith("TIME"), pa.time64("us")),
        (lambda u: "INT" in u, pa.int64()),
        (lambda u: any(k in u for k in ("CHAR", "CLOB", "TEXT", "JSON", "UUID")), pa.string()),
        (lambda u: "BLOB" in u or "BINARY" in u or "BYTEA" in u, pa.binary()),
        (lambda u: any(k in u for k in ("REAL", "FLOA", "DOUB")), pa.float64()),
    ]
    for matches, arrow_type in checks:
        if matches(upper):
            return ColumnType(name, arrow_type, decl)
    # NUMERIC affinity without usable precision: values may be integers or reals; let them decide.
    return ColumnType(name, None, decl)


def _json_text(value: Any) -> Any:
    return value if value is None or isinstance(value, str) else json.dumps(value)


def _text(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list | dict):
        return json.dumps(value, default=str)
    return str(value)


def _infer_type(name: str, values: Sequence[Any]) -> tuple[pa.DataType, str | None]:
    """The type of a column with no declared type, from its first values."""
    sample = [v for v in values if v is not None]
    if not sample:
        return pa.string(), f"column {name!r}: no type information and only NULLs in the first batch; landed as string"
    if all(isinstance(v, bool) for v in sample):
        return pa.bool_(), None
    if all(isinstance(v, int) and not isinstance(v, bool) for v in sample):
        return pa.int64(), None
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in sample):
        return pa.float64(), None
    if all(isinstance(v, uuid.UUID) for v in sample):
        return pa.string(), None
    try:
        inferred = pa.array(sample).type
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        inferred = None
    if inferred is None or pa.types.is_nested(inferred) or pa.types.is_null(inferred):
        kind = type(sample[0]).__name__
        return pa.string(), f"column {name!r}: values of Python type {kind} have no Arrow mapping; landed as string"
    if pa.types.is_decimal(inferred):
        # The first batch's widest value fixes precision; keep headroom so later batches fit.
        scale = max(0, inferred.scale)
        return pa.decimal128(MAX_DECIMAL128_PRECISION, min(scale, MAX_DECIMAL128_PRECISION)), None
    if pa.types.is_large_string(inferred):
        return pa.string(), None
    return inferred, None


class BatchBuilder:
    """Turns lists of DB-API rows into record batches of one fixed schema.

    The schema is fixed by the column types; columns typed ``None`` are inferred from the first batch. Each column
    tries a direct conversion and, for values stored loosely (SQLite dates as text, booleans as 0/1, decimals as
    floats), a conversion through the values' own type followed by an Arrow cast. A value that fits neither raises
    :class:`SourceError` naming the column and the row number.
    """

    def __init__(self, columns: Sequence[ColumnType]) -> None:
        self.columns = list(columns)
        self.warnings: list[str] = [c.warning for c in self.columns if c.warning]
        #: columns whose type came from the first batch's values (no type from the driver or the catalog)
        self.inferred: list[str] = [c.name for c in self.columns if c.arrow_type is None]
        self._schema: pa.Schema | None = None
        # parallel readers share one builder: the first batch of any of them fixes the inferred types for all
        self._lock = threading.Lock()
        if all(c.arrow_type is not None for c in self.columns):
            self._schema = pa.schema([pa.field(c.name, c.arrow_type) for c in self.columns])

    @property
    def schema(self) -> pa.Schema | None:
        """The batch schema, ``None`` until the first batch when some column type is inferred."""
        return self._schema

    def _fix_schema(self, by_column: Sequence[Sequence[Any]]) -> pa.Schema:
        with self._lock:
            if self._schema is not None:
                return self._schema
            return self._infer_schema(by_column)

    def _infer_schema(self, by_column: Sequence[Sequence[Any]]) -> pa.Schema:
        fields = []
        for i, col in enumerate(self.columns):
            arrow_type = col.arrow_type
            if arrow_type is None:
                arrow_type, warning = _infer_type(col.name, by_column[i] if by_column else [])
                if warning:
                    self.warnings.append(warning)
                self.columns[i] = ColumnType(col.name, arrow_type, col.db_type, warning, col.json_text)
            fields.append(pa.field(col.name, arrow_type))
        self._schema = pa.schema(fields)
        return self._schema

    def build(self, rows: Sequence[Sequence[Any]], first_row_number: int = 0) -> pa.RecordBatch:
        """One batch from rows; ``first_row_number`` (0-based within the result) is only for error messages."""
        by_column: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [[] for _ in self.columns]
        schema = self._schema or self._fix_schema(by_column if rows else [])
        arrays = [
            self._convert(col, field.type, values, first_row_number)
            for col, field, values in zip(self.columns, schema, by_column, strict=True)
        ]
        return pa.RecordBatch.from_arrays(arrays, schema=schema)

    def _convert(self, col: ColumnType, arrow_type: pa.DataType, values: Sequence[Any], first_row: int) -> pa.Array:
        if col.json_text:
            values = [_json_text(v) for v in values]
        elif pa.types.is_string(arrow_type) and (col.warning or col.arrow_type is None or _has_non_str(values)):
            values = [_text(v) for v in values]
        try:
            return pa.array(values, type=arrow_type)
        except (pa.ArrowException, TypeError, ValueError, OverflowError, decimal.InvalidOperation) as direct_error:
            try:
                loose = pa.array([_loose(v) for v in values])
                return loose.cast(arrow_type)
            except (pa.ArrowException, TypeError, ValueError, OverflowError):
                pass
            bad = _first_bad_value(values, arrow_type)
            where = f"row {first_row + bad[0] + 1}" if bad else f"rows {first_row + 1}-{first_row + len(values)}"
            shown = repr(bad[1])[:80] if bad else ""
            raise SourceError(
                f"column {col.name!r} ({col.db_type or 'untyped'}), {where}: value {shown} does not fit "
                f"Arrow type {arrow_type}: {direct_error}"
            ) from direct_error


def _has_non_str(values: Sequence[Any]) -> bool:
    return any(v is not None and not isinstance(v, str) for v in values[:16])


def _loose(value: Any) -> Any:
    """A value in a form Arrow can cast from (Decimal and text as text)."""
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


def _first_bad_value(values: Sequence[Any], arrow_type: pa.DataType) -> tuple[int, Any] | None:
    for i, v in enumerate(values):
        try:
            pa.array([v], type=arrow_type)
        except (pa.ArrowException, TypeError, ValueError, OverflowError, decimal.InvalidOperation):
            try:
                pa.array([_loose(v)]).cast(arrow_type)
            except (pa.ArrowException, TypeError, ValueError, OverflowError):
                return i, v
    return None


def decimal_from_unscaled(values: pa.Array, decimal_type: pa.Decimal128Type) -> pa.Array:
    """A decimal128 array whose unscaled values are the int64 ``values`` (no parsing, no rounding)."""
    ints = values.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    # allocated from Arrow's memory pool, like the other buffers of the batch
    data = pa.allocate_buffer(len(ints) * 16)
    wide = np.frombuffer(data, dtype=np.int64).reshape(-1, 2)
    wide[:, 0] = ints
    wide[:, 1] = ints >> 63  # sign extension into the high 64 bits (little-endian two's complement)
    validity = pa.array(values.is_valid()).buffers()[1] if values.null_count else None
    return pa.Array.from_buffers(decimal_type, len(ints), [validity, data], null_count=values.null_count)
