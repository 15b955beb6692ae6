"""Incremental state: which column types can carry a watermark, and how a watermark is kept as JSON.

A watermark is stored in the lake as a plain JSON value whose order is the column's order (see :func:`encode`), so
the lake's rule "a watermark only moves forward" holds by comparing stored values.
"""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import pyarrow as pa

from airflow_zaloni.sources.base import SourceError


def watermark_tag(arrow_type: pa.DataType) -> str | None:
    """The watermark type tag of an Arrow type, or ``None`` when values of that type cannot be a watermark."""
    if pa.types.is_integer(arrow_type):
        return "int"
    if pa.types.is_decimal(arrow_type):
        return "decimal"
    if pa.types.is_floating(arrow_type):
        return "float"
    if pa.types.is_date(arrow_type):
        return "date"
    if pa.types.is_timestamp(arrow_type):
        return "timestamptz" if arrow_type.tz else "timestamp"
    return None


def require_comparable(column: str, arrow_type: pa.DataType, db_type: str, role: str = "incremental") -> str:
    """The tag of an incremental (or split) column, or a :class:`SourceError` saying why it cannot be one."""
    tag = watermark_tag(arrow_type)
    if tag is None:
        raise SourceError(
            f"{role} column {column!r} has type {db_type or arrow_type} ({arrow_type}), which cannot be "
            f"compared; use an integer, decimal, float, date or timestamp column"
        )
    return tag


def encode(tag: str, value: Any) -> Any:
    """The JSON form of a watermark value, chosen so that JSON values of one column compare as the column does.

    The lake moves a watermark only forward by comparing stored values, so the form must order correctly:
    integers stay integers, floats and decimals are JSON numbers (a decimal watermark is exact to about 15
    significant digits), dates are ``YYYY-MM-DD`` and timestamps ISO 8601 with microseconds -- in UTC for columns
    with a time zone -- whose text order is their time order.
    """
    if tag in ("timestamp", "timestamptz"):
        if tag == "timestamptz":
            value = value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)
        return value.isoformat(timespec="microseconds")
    if tag == "date":
        return value.isoformat()
    if tag == "int":
        return int(value)
    return float(value)


def decode(column: str, tag: str, stored: Any) -> Any:
    """The Python value of a stored watermark for ``column`` (of type ``tag``), checked to fit the column."""
    try:
        if tag == "int" and isinstance(stored, int) and not isinstance(stored, bool):
            return stored
        if tag in ("float", "decimal") and isinstance(stored, int | float) and not isinstance(stored, bool):
            return decimal.Decimal(repr(stored)) if tag == "decimal" else float(stored)
        if tag == "date" and isinstance(stored, str):
            return dt.date.fromisoformat(stored)
        if tag in ("timestamp", "timestamptz") and isinstance(stored, str):
            value = dt.datetime.fromisoformat(stored)
            if tag == "timestamptz" and value.tzinfo is None:
                value = value.replace(tzinfo=dt.timezone.utc)
            if tag == "timestamp" and value.tzinfo is not None:
                value = value.replace(tzinfo=None)
            return value
    except ValueError:
        pass
    raise SourceError(
        f"the dataset's stored watermark {stored!r} does not fit incremental column {column!r} ({tag}); "
        "was the incremental column changed? Land into a new dataset or reset its watermark"
    )


def apply_lookback(value: Any, lookback: Any) -> Any:
    """The lower bound of the next read: the watermark moved back by ``lookback``.

    ``lookback`` is a :class:`datetime.timedelta` (or seconds) for dates and timestamps, a number for numeric
    columns. Rows in the lookback window are read again: in append mode they land again, in merge mode they
    replace their earlier versions.
    """
    if lookback is None or lookback == 0:
        return value
    if isinstance(value, dt.date | dt.datetime):
        delta = lookback if isinstance(lookback, dt.timedelta) else dt.timedelta(seconds=float(lookback))
        return value - delta
    if isinstance(lookback, dt.timedelta):
        raise SourceError(f"a time lookback ({lookback}) cannot apply to the numeric watermark {value!r}")
    if isinstance(value, decimal.Decimal):
        return value - decimal.Decimal(str(lookback))
    return value - type(value)(lookback)


def arrow_max(values: pa.ChunkedArray | pa.Array) -> Any:
    """The largest non-null value of an Arrow column as a Python value, ``None`` if there is none."""
    import pyarrow.compute as pc

    result = pc.max(values)
    return result.as_py() if result.is_valid else None


__all__ = ["apply_lookback", "arrow_max", "decode", "encode", "require_comparable", "watermark_tag"]
