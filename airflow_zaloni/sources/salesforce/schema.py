"""From an object's ``describe`` to the columns we query and their Arrow types.

Type mapping (Salesforce field ``type`` -> Arrow):

==============================================  ================================================
boolean                                         bool
int, long                                       int64
double                                          float64
currency, percent                               decimal128(precision, scale) from describe
date                                            date32
datetime                                        timestamp[ms, tz=UTC]
time                                            time32[ms]
multipicklist                                   list<string> (values split on ``;``)
id, reference, picklist, string, textarea, ...  string
base64                                          binary (only with ``include_base64`` and the REST API)
address, location (compound)                    flattened into their component columns
==============================================  ================================================

Whatever the chosen API cannot return is listed in :attr:`FieldPlan.skipped` with the reason; the source puts that
list in the manifest and the log, so no field disappears silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import pyarrow as pa

from airflow_zaloni.sources.base import SourceError

Api = Literal["rest", "bulk"]

#: Salesforce types carried as strings.
_STRING_TYPES = frozenset(
    {
        "id",
        "reference",
        "string",
        "picklist",
        "combobox",
        "textarea",
        "email",
        "phone",
        "url",
        "encryptedstring",
        "anyType",
        "complexvalue",
        "json",
        "datacategorygroupreference",
    }
)
#: Keys of a compound value in REST answers, used when describe lists no component fields for it.
_COMPOUND_KEYS = {
    "address": (
        "street",
        "city",
        "state",
        "stateCode",
        "postalCode",
        "country",
        "countryCode",
        "latitude",
        "longitude",
        "geocodeAccuracy",
    ),
    "location": ("latitude", "longitude"),
}
#: The incremental cursor candidates, best first.
CURSOR_FIELDS = ("SystemModstamp", "LastModifiedDate", "CreatedDate")


def arrow_type(sf_field: dict[str, Any]) -> pa.DataType:
    """The Arrow type of one describe field (see the module table)."""
    sf_type = sf_field.get("type", "string")
    if sf_type == "boolean":
        return pa.bool_()
    if sf_type in ("int", "long"):
        return pa.int64()
    if sf_type == "double":
        return pa.float64()
    if sf_type in ("currency", "percent"):
        precision = int(sf_field.get("precision") or 0)
        scale = int(sf_field.get("scale") or 0)
        if not 0 < precision <= 38 or scale > precision:
            precision = 38
        return pa.decimal128(precision, scale)
    if sf_type == "date":
        return pa.date32()
    if sf_type == "datetime":
        return pa.timestamp("ms", tz="UTC")
    if sf_type == "time":
        return pa.time32("ms")
    if sf_type == "multipicklist":
        return pa.list_(pa.string())
    if sf_type == "base64":
        return pa.binary()
    return pa.string()


@dataclass(frozen=True)
class Column:
    """One output column: ``soql`` is what the SELECT names, ``path`` where the value sits in a REST record."""

    name: str
    sf_type: str
    type: pa.DataType
    soql: str
    path: tuple[str, ...]


@dataclass
class FieldPlan:
    """What to SELECT, how each column is typed, and what was left out and why."""

    sobject: str
    api: Api
    columns: list[Column]
    skipped: list[dict[str, str]] = field(default_factory=list)
    flattened: dict[str, list[str]] = field(default_factory=dict)

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.type) for c in self.columns])

    @property
    def select_list(self) -> str:
        seen: dict[str, None] = {}
        for column in self.columns:
            seen.setdefault(column.soql, None)
        return ", ".join(seen)


def has_base64(describe: dict[str, Any], fields: list[str] | None) -> bool:
    """Whether the selection includes a base64 field (which only the REST API can return)."""
    by_name = {f["name"].lower(): f for f in describe.get("fields", [])}
    chosen = by_name.values() if fields is None else [by_name[n.lower()] for n in fields if n.lower() in by_name]
    return any(f.get("type") == "base64" for f in chosen)


def cursor_field(describe: dict[str, Any], requested: str | None = None) -> str | None:
    """The incremental cursor: ``requested`` if given (must be a date/datetime field), else the first of
    SystemModstamp, LastModifiedDate, CreatedDate that the object has; None if it has none."""
    by_name = {f["name"].lower(): f for f in describe.get("fields", [])}
    if requested:
        found = by_name.get(requested.lower())
        if found is None:
            raise SourceError(f"cursor_field {requested!r} is not a field of {describe.get('name')}")
        if found.get("type") not in ("datetime", "date"):
            raise SourceError(
                f"cursor_field {requested!r} of {describe.get('name')} is of type {found.get('type')}; "
                "an incremental cursor must be a date or datetime field"
            )
        return str(found["name"])
    for candidate in CURSOR_FIELDS:
        if candidate.lower() in by_name:
            return str(by_name[candidate.lower()]["name"])
    return None


def plan_fields(
    describe: dict[str, Any],
    fields: list[str] | None,
    *,
    api: Api,
    include_base64: bool = False,
    required: tuple[str, ...] = (),
) -> FieldPlan:
    """Choose the columns for ``fields`` (None: every field of the object) on the given API.

    ``required`` names fields the read needs whatever the user chose (the cursor, ``IsDeleted``); they are
    appended when missing. Unknown field names are an error naming the object and the field.
    """
    sobject = str(describe.get("name", "?"))
    all_fields: list[dict[str, Any]] = list(describe.get("fields", []))
    by_name = {f["name"].lower(): f for f in all_fields}
    components: dict[str, list[dict[str, Any]]] = {}
    for f in all_fields:
        if f.get("compoundFieldName"):
            components.setdefault(f["compoundFieldName"].lower(), []).append(f)

    if fields is None:
        wanted = all_fields
    else:
        unknown = [n for n in fields if n.lower() not in by_name]
        if unknown:
            raise SourceError(
                f"{sobject} has no field(s) {', '.join(map(repr, unknown))} (describe lists {len(all_fields)} "
                "fields; check the API names and the integration user's field-level security)"
            )
        wanted = [by_name[n.lower()] for n in fields]
    wanted = wanted + [by_name[n.lower()] for n in required if n.lower() in by_name]

    plan = FieldPlan(sobject=sobject, api=api, columns=[])
    taken: set[str] = set()

    def add(column: Column) -> None:
        if column.name.lower() not in taken:
            taken.add(column.name.lower())
            plan.columns.append(column)

    for f in wanted:
        name, sf_type = str(f["name"]), str(f.get("type", "string"))
        if sf_type in _COMPOUND_KEYS:
            parts = components.get(name.lower(), [])
            if parts:
                plan.flattened[name] = [str(p["name"]) for p in parts]
                for part in parts:
                    add(_column(part))
            elif api == "rest":
                keys = _COMPOUND_KEYS[sf_type]
                plan.flattened[name] = [f"{name}_{k}" for k in keys]
                for key in keys:
                    key_type = pa.float64() if key in ("latitude", "longitude") else pa.string()
                    add(
                        Column(
                            f"{name}_{key}",
                            "double" if key_type == pa.float64() else "string",
                            key_type,
                            name,
                            (name, key),
                        )
                    )
            else:
                plan.skipped.append(
                    _skip(f, "Bulk API 2.0 cannot query compound fields and describe lists no component fields for it")
                )
            continue
        if sf_type == "base64":
            if not include_base64:
                plan.skipped.append(_skip(f, "base64 field skipped (set include_base64=True to land it, REST API)"))
            elif api == "bulk":
                plan.skipped.append(_skip(f, "Bulk API 2.0 cannot return base64 fields (use api='rest')"))
            else:
                add(_column(f))
            continue
        add(_column(f))
    if not plan.columns:
        raise SourceError(f"{sobject}: no field left to query (skipped: {plan.skipped})")
    return plan


def _column(f: dict[str, Any]) -> Column:
    name = str(f["name"])
    return Column(name, str(f.get("type", "string")), arrow_type(f), name, (name,))


def _skip(f: dict[str, Any], reason: str) -> dict[str, str]:
    return {"field": str(f["name"]), "type": str(f.get("type")), "reason": reason}
