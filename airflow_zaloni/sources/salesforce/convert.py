"""Salesforce values to Arrow arrays, for REST JSON pages and Bulk API 2.0 CSV pages alike.

Both APIs deliver values as text at heart (REST numbers are parsed with ``parse_float=str`` so that currency keeps
every digit), so one set of vectorised string-to-type conversions serves both. A value that does not convert is
reported with the object, field, record number and the value itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from airflow_zaloni.sources.base import SourceError
from airflow_zaloni.sources.salesforce.schema import Column, FieldPlan


def rest_page_to_batch(records: Sequence[dict[str, Any]], plan: FieldPlan, first_record: int) -> pa.RecordBatch:
    """Turn one REST query page (a list of records) into a batch of the plan's schema.

    ``first_record`` is the 1-based number of the page's first record in the whole read (for error messages).
    """
    arrays = []
    for column in plan.columns:
        if len(column.path) == 1:
            key = column.path[0]
            values = [record.get(key) for record in records]
        else:
            values = [_dig(record, column.path) for record in records]
        arrays.append(_rest_array(values, column, plan, first_record))
    return pa.RecordBatch.from_arrays(arrays, schema=plan.schema)


def strings_to_batch(table: pa.RecordBatch | pa.Table, plan: FieldPlan, first_record: int) -> pa.RecordBatch:
    """Turn a batch of string columns (a Bulk CSV page) into a batch of the plan's schema."""
    arrays = []
    for column in plan.columns:
        try:
            raw = table.column(column.name)
        except KeyError:
            raise SourceError(
                f"{plan.sobject}: Bulk API result has no column {column.name!r} (columns: {table.column_names})"
            ) from None
        if isinstance(raw, pa.ChunkedArray):
            raw = raw.combine_chunks()
        arrays.append(from_strings(raw, column, plan, first_record))
    return pa.RecordBatch.from_arrays(arrays, schema=plan.schema)


def from_strings(values: pa.Array, column: Column, plan: FieldPlan, first_record: int) -> pa.Array:
    """Convert a string array to the column's type; a bad value raises :class:`SourceError` naming it."""
    try:
        return _convert(values, column.type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise _bad_value(values, column, plan, first_record, exc) from exc


def _convert(values: pa.Array, target: pa.DataType) -> pa.Array:
    if pa.types.is_string(target):
        return values.cast(pa.string())
    if pa.types.is_time32(target):
        # Arrow has no string->time cast: read "HH:MM:SS.sssZ" as a time of 1970-01-01 UTC.
        stamped = pc.binary_join_element_wise("1970-01-01T", values, "")
        return pc.cast(pc.cast(stamped, pa.timestamp("ms", tz="UTC")), target)
    if pa.types.is_list(target):
        return pc.split_pattern(values, ";").cast(target)
    if pa.types.is_boolean(target):
        return pc.cast(pc.utf8_lower(values), target)
    return pc.cast(values, target)


def _rest_array(values: list[Any], column: Column, plan: FieldPlan, first_record: int) -> pa.Array:
    target = column.type
    if pa.types.is_boolean(target) or pa.types.is_binary(target) or pa.types.is_integer(target):
        try:  # JSON already has these types: hand the values over as they are
            return pa.array(values, type=target)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
            pass  # a value of another type: the text path below names it
    # Everything else goes through text: JSON numbers arrive as str (parse_float=str) or int.
    try:
        texts = pa.array(values, type=pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        texts = pa.array([v if v is None or type(v) is str else _text(v) for v in values], type=pa.string())
    return from_strings(texts, column, plan, first_record)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _dig(record: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = record.get(path[0])
    for key in path[1:]:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _bad_value(values: pa.Array, column: Column, plan: FieldPlan, first_record: int, exc: Exception) -> SourceError:
    """Find the first value of ``values`` that does not convert and describe it."""
    for offset, scalar in enumerate(values.to_pylist()):
        if scalar is None:
            continue
        try:
            _convert(pa.array([scalar], pa.string()), column.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return SourceError(
                f"{plan.sobject} record {first_record + offset}: field {column.name!r} "
                f"({column.sf_type} -> {column.type}) has the value {scalar!r}, which does not convert: {exc}"
            )
    return SourceError(f"{plan.sobject}: field {column.name!r} ({column.sf_type} -> {column.type}): {exc}")
