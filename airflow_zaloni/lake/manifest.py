"""The ``_manifest.json`` of a partition: what was committed, by whom, from where, and how to check it.

Fields: ``dataset``, ``zone``, ``system``, ``name``, ``partition``, ``txn_id``, ``run_id``, ``try_number``,
``producer``, ``producer_version``, ``source`` (the source's own description), ``schema`` (fields with Arrow types,
and the exact Arrow schema as base64 IPC), ``files`` (each with ``path``, ``rows`` -- null for raw files --, ``bytes``
and ``sha256``), ``totals``, ``watermark`` (``before``/``after``), ``timings`` and ``extra`` (source-specific counts
and warnings).
"""

from __future__ import annotations

import base64
import time
from typing import Any

import pyarrow as pa

from airflow_zaloni.lake.paths import DatasetRef

MANIFEST_NAME = "_manifest.json"
STATE_NAME = "_state.json"
FORMAT_VERSION = 1


def schema_to_json(schema: pa.Schema | None) -> dict[str, Any] | None:
    if schema is None:
        return None
    return {
        "fields": [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema],
        "arrow": base64.b64encode(schema.serialize().to_pybytes()).decode("ascii"),
    }


def schema_from_json(data: dict[str, Any] | None) -> pa.Schema | None:
    if not data or "arrow" not in data:
        return None
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(data["arrow"])))


def build_manifest(
    *,
    ref: DatasetRef,
    partition: str,
    txn_id: str,
    run_id: str | None,
    try_number: int | None,
    producer: str,
    producer_version: str,
    files: list[dict[str, Any]],
    rows: int | None,
    schema: dict[str, Any] | None,
    source: dict[str, Any],
    extra: dict[str, Any],
    watermark_before: Any,
    watermark_after: Any,
    started: float,
) -> dict[str, Any]:
    now = time.time()
    return {
        "format_version": FORMAT_VERSION,
        "dataset": ref.key,
        "zone": ref.zone,
        "system": ref.system,
        "name": ref.name,
        "partition": partition,
        "txn_id": txn_id,
        "run_id": run_id,
        "try_number": try_number,
        "producer": producer,
        "producer_version": producer_version,
        "source": source,
        "schema": schema,
        "files": files,
        "totals": {"rows": rows, "bytes": sum(f["bytes"] for f in files), "files": len(files)},
        "watermark": {"before": watermark_before, "after": watermark_after},
        "timings": {"started": started, "written": now, "seconds": round(now - started, 3)},
        "extra": extra,
    }
