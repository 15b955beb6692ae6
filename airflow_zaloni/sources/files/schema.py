"""Schema drift between the files of one ingest: detect it, record it, resolve it by policy.

Policies:

* ``fail``: every file must have the columns and types of the first (or of the schema given); an error names the
  file and each difference.
* ``union``: the result has every column of every file; a file without a column gets nulls; a type that changed is
  widened where Arrow can (``int32`` -> ``int64``, ``int64`` -> ``double``, ``null`` -> anything), else the ingest
  fails naming the column.
* ``string``: like ``union``, but a column whose type differs between files becomes text in all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from airflow_zaloni.sources.base import SourceError

DRIFT_POLICIES = ("fail", "union", "string")


@dataclass(frozen=True)
class Drift:
    """How one file's columns differ from the reference (the first file, or the given schema)."""

    file: str
    added: tuple[str, ...]
    missing: tuple[str, ...]
    changed: tuple[tuple[str, str, str], ...]  # (column, reference type, file type)

    def __bool__(self) -> bool:
        return bool(self.added or self.missing or self.changed)

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "added": list(self.added),
            "missing": list(self.missing),
            "changed": [{"column": c, "from": a, "to": b} for c, a, b in self.changed],
        }

    def describe(self) -> str:
        parts = []
        if self.added:
            parts.append(f"new columns {list(self.added)}")
        if self.missing:
            parts.append(f"missing columns {list(self.missing)}")
        for column, before, after in self.changed:
            parts.append(f"column {column!r} is {after}, was {before}")
        return "; ".join(parts)


def compare(reference: pa.Schema, schema: pa.Schema, file: str) -> Drift:
    ref_names, names = set(reference.names), set(schema.names)
    changed = tuple(
        (f.name, str(reference.field(f.name).type), str(f.type))
        for f in schema
        if f.name in ref_names and not f.type.equals(reference.field(f.name).type)
    )
    return Drift(
        file=file,
        added=tuple(n for n in schema.names if n not in ref_names),
        missing=tuple(n for n in reference.names if n not in names),
        changed=changed,
    )


def resolve(
    schemas: Sequence[tuple[str, pa.Schema]], policy: str, given: pa.Schema | None
) -> tuple[pa.Schema, list[Drift]]:
    """The schema every file is cast to, and the drift of each file against the reference."""
    if policy not in DRIFT_POLICIES:
        raise SourceError(f"unknown schema drift policy {policy!r}: expected one of {', '.join(DRIFT_POLICIES)}")
    if not schemas:
        return given or pa.schema([]), []
    reference = given if given is not None else schemas[0][1]
    drifts = [d for d in (compare(reference, schema, file) for file, schema in schemas) if d]
    if policy == "fail":
        if drifts:
            detail = "; ".join(f"{d.file}: {d.describe()}" for d in drifts)
            raise SourceError(f"schema drift between files (schema_drift='fail'): {detail}")
        return reference, drifts
    all_schemas = [reference] + [s for _, s in schemas]
    if policy == "string":
        conflicting = {c for d in drifts for c, _, _ in d.changed}
        all_schemas = [_as_string(s, conflicting) for s in all_schemas]
    try:
        target = pa.unify_schemas(all_schemas, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
        detail = "; ".join(f"{d.file}: {d.describe()}" for d in drifts if d.changed)
        raise SourceError(
            f"schema drift cannot be unified ({detail}); use schema_drift='string' or give a schema: {err}"
        ) from err
    return target, drifts


def _as_string(schema: pa.Schema, columns: set[str]) -> pa.Schema:
    return pa.schema([pa.field(f.name, pa.string()) if f.name in columns else f for f in schema])


def conform(batch: pa.RecordBatch, target: pa.Schema, file: str) -> pa.RecordBatch:
    """Reorder, add null columns, and cast ``batch`` to ``target``; errors name the file and the column."""
    if batch.schema.equals(target, check_metadata=False):
        return batch
    columns = []
    for field in target:
        index = batch.schema.get_field_index(field.name)
        if index < 0:
            columns.append(pa.nulls(batch.num_rows, field.type))
            continue
        column = batch.column(index)
        if not column.type.equals(field.type):
            try:
                column = column.cast(field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as err:
                raise SourceError(f"{file}: column {field.name!r} cannot be read as {field.type}: {err}") from err
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=target)
