"""Runner for the Cobrix conformance suite (``../shared/conformance/cobrix``): decode each variant of each
``case.json`` and compare the rows value by value with what Cobrix produced (see the suite's SCHEMA.md).

Kept importable (not only a test module) so that the count can be printed: ``python -m tests.mainframe.conformance``.
"""

from __future__ import annotations

import base64
import decimal
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from airflow_zaloni.mainframe import MainframeReader, codepages, register_record_header_parser
from airflow_zaloni.mainframe.kernels import decode_float
from airflow_zaloni.mainframe.options import CODE_PAGE_CLASSES

REPO = Path(__file__).resolve().parents[2]


def conformance_dir() -> Path:
    """``$COBRIX_CONFORMANCE_DIR``, else ``shared/conformance/cobrix`` beside the checkout or beside one of its
    parents (a clean clone for CI may live elsewhere than the working copy), else the workplace's own copy."""
    env = os.environ.get("COBRIX_CONFORMANCE_DIR")
    if env:
        return Path(env)
    candidates = [parent / "shared" / "conformance" / "cobrix" for parent in REPO.resolve().parents]
    candidates.append(Path("/work/shared/conformance/cobrix"))
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[0]


@dataclass
class Variant:
    case: str
    folder: Path
    spec: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.case}/{self.spec['name']}"


def discover() -> list[Variant]:
    root = conformance_dir()
    out: list[Variant] = []
    if not root.is_dir():
        return out
    for case_json in sorted(root.glob("*/case.json")):
        case = json.loads(case_json.read_text(encoding="utf-8"))
        for spec in case["variants"]:
            out.append(Variant(case_json.parent.name, case_json.parent, spec))
    return out


# -- Scala test classes named by options, mapped to their documented byte semantics ---------------------------------


def _table_from_notes(notes: str) -> list[str]:
    """A 256-entry table from a notes text like ``4B=. 81..89=A..I``; every other byte is a space."""
    chars = [" "] * 256
    body = notes.split("table:", 1)[1].split("; every other byte", 1)[0]
    for tok in body.split():
        m = re.fullmatch(r"([0-9A-F]{2})\.\.([0-9A-F]{2})=(.)\.\.(.)", tok)
        if m:
            lo, hi = int(m.group(1), 16), int(m.group(2), 16)
            for i in range(hi - lo + 1):
                chars[lo + i] = chr(ord(m.group(3)) + i)
            continue
        m = re.fullmatch(r"([0-9A-F]{2})=(.+)", tok)
        if m:
            value = m.group(2)
            chars[int(m.group(1), 16)] = chr(int(value[2:], 16)) if value.startswith("U+") else value
    return chars


class FiveByteHeaderParser:
    """Cobrix's Test10CustomRDWParser as its notes describe it: 5-byte header, valid iff h[0] == 1,
    payload length little-endian in bytes 3..4."""

    header_length = 5

    def parse(self, header: bytes, file_offset: int) -> tuple[int, bool]:
        length = header[3] + 256 * header[4]
        if length == 0 or length > 100 * 1024 * 1024:
            raise ValueError(f"invalid record length {length}")
        return length, header[0] == 1


def register_scala_classes(variant: Variant) -> None:
    opts = variant.spec["options"]
    cls = opts.get("ebcdic_code_page_class")
    if cls:
        codepages.register(cls, _table_from_notes(variant.spec["notes"]))
        CODE_PAGE_CLASSES[cls] = cls
    parser = opts.get("record_header_parser")
    if parser:
        register_record_header_parser(parser, FiveByteHeaderParser)


# -- Our rows as Spark would print them --------------------------------------------------------------------------


def to_json_value(value: Any, typ: pa.DataType) -> Any:
    """Arrow value -> the JSON value Spark's toJSON writes (nulls in structs dropped by the caller)."""
    if value is None:
        return None
    if pa.types.is_struct(typ):
        return {f.name: to_json_value(value[f.name], f.type) for f in typ if value.get(f.name) is not None}
    if pa.types.is_list(typ):
        return [to_json_value(v, typ.value_type) for v in value]
    if pa.types.is_binary(typ) or pa.types.is_large_binary(typ):
        return base64.b64encode(value).decode()
    return value


def batch_rows(batches: list[pa.RecordBatch], schema: pa.Schema) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for b in batches:
        for r in b.to_pylist():
            rows.append({f.name: to_json_value(r[f.name], f.type) for f in schema if r[f.name] is not None})
    return rows


# -- Comparison --------------------------------------------------------------------------------------------------


def _parse_expected(path: Path, fmt: str) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8").replace("\r\n", "\n")
    loads = lambda s: json.loads(s, parse_float=decimal.Decimal)  # noqa: E731
    if fmt == "jsonl":
        # split on LF only: rows may hold U+0085 or U+2028, which str.splitlines() would split on
        return [loads(line) for line in text.split("\n") if line.strip()]
    if fmt == "json_array":
        return loads(text)
    if fmt == "json_objects_concatenated":
        dec = json.JSONDecoder(parse_float=decimal.Decimal)
        out, pos = [], 0
        while True:
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if pos >= len(text):
                return out
            obj, pos = dec.raw_decode(text, pos)
            out.append(obj)
    raise ValueError(f"unknown expected_format {fmt}")


def same(ours: Any, expected: Any, path: str = "") -> str | None:
    """None when equal by value, else a description of the first difference."""
    if isinstance(expected, dict):
        if not isinstance(ours, dict):
            return f"{path}: expected an object, got {ours!r}"
        if set(ours) != set(expected):
            missing, extra = sorted(set(expected) - set(ours)), sorted(set(ours) - set(expected))
            return f"{path}: keys differ: missing {missing}, extra {extra}"
        for k in expected:
            d = same(ours[k], expected[k], f"{path}.{k}")
            if d:
                return d
        return None
    if isinstance(expected, list):
        if not isinstance(ours, list) or len(ours) != len(expected):
            return f"{path}: expected {expected!r}, got {ours!r}"
        for i, (a, b) in enumerate(zip(ours, expected)):
            d = same(a, b, f"{path}[{i}]")
            if d:
                return d
        return None
    if isinstance(expected, bool) or expected is None or isinstance(expected, str):
        return None if ours == expected else f"{path}: expected {expected!r}, got {ours!r}"
    # Numbers: exact for integers and decimals; floats as Java prints them (float32 or float64 precision).
    if isinstance(ours, float):
        e = float(expected)
        if ours == e or math.isclose(ours, e, rel_tol=1e-6, abs_tol=1e-30):
            return None
        return f"{path}: expected {expected}, got {ours!r}"
    if isinstance(ours, (int, decimal.Decimal)) and not isinstance(ours, bool):
        return (
            None if decimal.Decimal(ours) == decimal.Decimal(expected) else f"{path}: expected {expected}, got {ours}"
        )
    return f"{path}: expected {expected!r}, got {ours!r}"


def _sort_key(row: dict[str, Any], col: str) -> tuple[int, Any]:
    value: Any = row
    for part in col.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return (0, 0) if value is None else (1, value)


def _directive(notes: str, name: str) -> str | None:
    m = re.search(rf"{name}=([^\s]+?)\.(\s|$)", notes)
    return m.group(1) if m else None


def _float_vectors(variant: Variant) -> None:
    vectors = json.loads((variant.folder / variant.spec["expected"]).read_text())
    for v in vectors:
        fmt = ("ibm" if v["format"] == "IBM" else "ieee754") + ("_little_endian" if v["endianness"] == "little" else "")
        raw = np.frombuffer(bytes.fromhex(v["hex"]), dtype=np.uint8).reshape(1, -1)
        got = float(decode_float(raw, double=v["usage"] == "COMP-2", fmt=fmt)[0])
        assert abs(got - v["expected"]) < v["abs_tol"], f"{v}: got {got}"


def _spark_type(t: pa.DataType) -> Any:
    if pa.types.is_struct(t):
        return {"type": "struct", "fields": [{"name": f.name, "type": _spark_type(f.type)} for f in t]}
    if pa.types.is_list(t):
        return {"type": "array", "elementType": _spark_type(t.value_type)}
    if pa.types.is_decimal(t):
        return f"decimal({t.precision},{t.scale})"
    return {
        pa.int32(): "integer",
        pa.int64(): "long",
        pa.string(): "string",
        pa.float32(): "float",
        pa.float64(): "double",
        pa.binary(): "binary",
    }[t]


def _strip_schema(s: Any) -> Any:
    if isinstance(s, dict):
        if s.get("type") == "struct":
            return {
                "type": "struct",
                "fields": [{"name": f["name"], "type": _strip_schema(f["type"])} for f in s["fields"]],
            }
        if s.get("type") == "array":
            return {"type": "array", "elementType": _strip_schema(s["elementType"])}
    return s


def _check_schema(variant: Variant, schema: pa.Schema, drop: list[str]) -> None:
    name = variant.spec.get("expected_schema")
    if not name or not name.endswith(".json"):
        return
    text = (variant.folder / name).read_text(encoding="utf-8")
    counter = iter(range(10**6))
    text = re.sub(r"\[redacted\]", lambda _: f'"_redacted_{next(counter)}" : 0', text)
    expected = _strip_schema(json.loads(text))
    ours = {
        "type": "struct",
        "fields": [{"name": f.name, "type": _spark_type(f.type)} for f in schema if f.name not in drop],
    }
    if ours != expected:
        o, e = ours["fields"], expected["fields"]
        diffs = [(a, b) for a, b in zip(o, e) if a != b]
        raise AssertionError(f"schema differs ({len(o)} vs {len(e)} fields): first {diffs[:3]}")


def run_variant(variant: Variant) -> None:
    spec = variant.spec
    if spec["expected_format"] == "vectors":
        _float_vectors(variant)
        return
    register_scala_classes(variant)
    notes = spec.get("notes") or ""
    reader = MainframeReader([str(variant.folder / c) for c in spec["copybooks"]], spec["options"])
    drop = (_directive(notes, "DROP_COLUMNS") or "").split(",")
    drop = [d for d in drop if d]
    _check_schema(variant, reader.schema, drop)
    if "SCHEMA_ONLY." in notes:
        return
    batches = list(reader.read([str(variant.folder / d) for d in spec["data"]]))
    rows = batch_rows(batches, reader.schema)
    for row in rows:
        for d in drop:
            row.pop(d, None)
    count = _directive(notes, "ASSERT_COUNT")
    if count is not None:
        assert len(rows) == int(count), f"expected {count} rows, got {len(rows)}"
    if not spec.get("expected"):
        return
    if spec.get("null_fill_zero"):
        numeric = [
            f.name
            for f in reader.schema
            if pa.types.is_integer(f.type) or pa.types.is_floating(f.type) or pa.types.is_decimal(f.type)
        ]
        for row in rows:
            for name in numeric:
                row.setdefault(name, 0)
        # Keep schema key order for the comparison of key sets (dict order is irrelevant to `same`).
    for col in reversed(spec.get("order_by") or []):
        rows.sort(key=lambda r, c=col: _sort_key(r, c))
    expected = _parse_expected(variant.folder / spec["expected"], spec["expected_format"])
    if spec.get("take") is not None:
        rows = rows[: spec["take"]]
    else:
        pass
    assert len(rows) == len(expected), f"expected {len(expected)} rows, got {len(rows)}"
    for i, (ours, exp) in enumerate(zip(rows, expected)):
        diff = same(ours, exp)
        assert diff is None, f"row {i}: {diff}"


if __name__ == "__main__":
    import traceback

    ok = 0
    variants = discover()
    for v in variants:
        try:
            run_variant(v)
            ok += 1
            print("PASS", v.id)
        except Exception as exc:
            print("FAIL", v.id, type(exc).__name__, str(exc)[:400])
            if os.environ.get("TRACE"):
                traceback.print_exc()
    print(f"{ok}/{len(variants)} variants pass")
