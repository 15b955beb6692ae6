"""How the Lake view words what the manifests hold: times, ages, watermarks, staleness, quality and UI links.

Pure functions over :class:`~airflow_zaloni.lake.catalog.DatasetSummary` values, without Airflow, so each rule is
tested on its own. The page shows every time as UTC text that the browser rewrites in the UI's time zone (see
``static/lake.js``); these functions hand it the ISO instant.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any
from urllib.parse import quote

from airflow_zaloni.lake.catalog import DatasetSummary, PartitionSummary
from airflow_zaloni.lake.quality import RuleError, parse_duration

#: A float watermark between these instants (1973..2286) is read as seconds since the epoch when the dataset is a
#: file ledger (its cursor is the newest file modification time); anywhere else a number is an id or a value.
_EPOCH_RANGE = (1e8, 1e10)
LEDGER_SUFFIX = ".files"
_TEMPORAL_TYPES = ("timestamp", "date")


def instant(ts: Any) -> dict[str, str] | None:
    """A Unix timestamp as ``{"iso": ..., "utc": ...}`` for a ``<time>`` element, or None when there is none."""
    if ts is None or ts == "" or isinstance(ts, bool):
        return None
    try:
        seconds = float(ts)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(seconds):
        return None
    try:
        when = dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None
    return {"iso": when.isoformat().replace("+00:00", "Z"), "utc": when.strftime("%Y-%m-%d %H:%M:%S UTC")}


def _parse_iso(text: str) -> dt.datetime | None:
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        try:
            day = dt.date.fromisoformat(text.strip())
        except ValueError:
            return None
        when = dt.datetime.combine(day, dt.time())
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def watermark(d: DatasetSummary) -> dict[str, Any]:
    """The dataset's watermark as ``{"kind": "time"|"id"|"value"|"none", "text": ..., "iso": ...}``.

    A time is a file ledger's newest modification time (an epoch float), or a value of a timestamp/date
    incremental column (its type read from the latest schema), or an ISO timestamp string; an integer is an id and
    is shown as it is (no thousands separators: ids are copied into queries).
    """
    value = d.watermark
    if value is None:
        return {"kind": "none", "text": "-"}
    column = d.source.get("incremental_column") if isinstance(d.source, dict) else None
    column_type = next((str(f.get("type", "")) for f in d.schema if f.get("name") == column), "") if column else ""
    temporal_column = column_type.startswith(_TEMPORAL_TYPES)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if (d.name.endswith(LEDGER_SUFFIX) or (isinstance(value, float) and temporal_column)) and (
            _EPOCH_RANGE[0] < float(value) < _EPOCH_RANGE[1]
        ):
            at = instant(value)
            if at:
                return {"kind": "time", "text": at["utc"], "iso": at["iso"], "raw": str(value)}
        return {"kind": "id", "text": str(value)}
    if isinstance(value, str):
        when = _parse_iso(value) if (temporal_column or "-" in value) else None
        if when is not None and (temporal_column or len(value) >= 10):
            at = instant(when.timestamp())
            if at:
                return {"kind": "time", "text": at["utc"], "iso": at["iso"], "raw": value}
        return {"kind": "id" if column else "value", "text": value}
    return {"kind": "value", "text": str(value)}


def _count(n: int, unit: str) -> str:
    return f"{n} {unit}{'' if n == 1 else 's'}"


_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60))


def age(seconds: float | None) -> str:
    """``'3 days 4 hours ago'``: units spelled out (never ``m``, which reads as minutes or months)."""
    if seconds is None:
        return "-"
    left = int(max(0.0, float(seconds)))
    if left < 60:
        return "just now"
    for i, (unit, size) in enumerate(_UNITS):
        if left >= size:
            text = _count(left // size, unit)
            if i + 1 < len(_UNITS):
                smaller, smaller_size = _UNITS[i + 1]
                rest = (left % size) // smaller_size
                if rest:
                    text += " " + _count(rest, smaller)
            return text + " ago"
    return "just now"  # pragma: no cover - left >= 60 always matches minutes


def duration_text(seconds: float) -> str:
    """``172800`` -> ``'2 days'`` (a whole number of the largest unit that divides it)."""
    for unit, size in _UNITS:
        if seconds >= size and seconds % size == 0:
            return _count(int(seconds // size), unit)
    return f"{seconds / 3600:.1f} hours" if seconds >= 3600 else f"{seconds:.0f} seconds"


def schedule_interval(d: DatasetSummary) -> float | None:
    """Seconds between the data interval start and end of the latest partition's run, when the task recorded it."""
    for p in reversed(d.partitions):
        interval = (p.task or {}).get("data_interval") if isinstance(p.task, dict) else None
        if isinstance(interval, (list, tuple)) and len(interval) == 2:
            start, end = (_parse_iso(str(x)) for x in interval)
            if start is not None and end is not None and end > start:
                return (end - start).total_seconds()
        return None
    return None


def stale_after(d: DatasetSummary, default: float) -> tuple[float, str]:
    """Seconds after which the dataset is stale, and why: two of its schedule's intervals, else ``default``."""
    interval = schedule_interval(d)
    if interval:
        return 2 * interval, f"stale after 2 schedule intervals ({duration_text(2 * interval)})"
    return default, f"stale after {duration_text(default)} ([zaloni] stale_after)"


def parse_stale_after(text: str, fallback: float = 2 * 86400) -> float:
    """``[zaloni] stale_after`` (``"2d"``, ``"36h"``, seconds); a value that cannot be read falls back."""
    try:
        seconds = parse_duration(text or fallback, "[zaloni] stale_after")
    except RuleError:
        return fallback
    return seconds or fallback


def quality(p: PartitionSummary) -> dict[str, Any] | None:
    """Per-rule results of a promoted partition: ``{"rows_in", "quarantined", "rules": [...], "failed": n}``.

    Each rule is ``{"name", "rule", "action", "failed" (rows), "passed" (bool)}``; dataset checks (row count,
    freshness) carry ``passed`` from the check itself.
    """
    q = p.quality
    if not isinstance(q, dict):
        return None
    rules: list[dict[str, Any]] = []
    for name, r in (q.get("rules") or {}).items():
        if isinstance(r, dict):
            failed = r.get("failed") or 0
            rules.append(
                {"name": str(name), "rule": r.get("rule"), "action": r.get("action"), "failed": failed,
                 "passed": not failed}
            )  # fmt: skip
    for name, c in (q.get("checks") or {}).items():
        if isinstance(c, dict):
            rules.append(
                {"name": str(name), "rule": c.get("rule"), "action": c.get("action"), "failed": None,
                 "passed": bool(c.get("passed"))}
            )  # fmt: skip
    return {
        "rows_in": q.get("rows_in"),
        "passed_rows": q.get("passed"),
        "quarantined": q.get("quarantined"),
        "rules": rules,
        "failing": sum(1 for r in rules if not r["passed"]),
    }


def ui_links(base_path: str, p: PartitionSummary) -> dict[str, str]:
    """Links into the Airflow UI for the run and task that committed ``p`` (only what the manifest names)."""
    task = p.task if isinstance(p.task, dict) else {}
    dag_id, task_id, run_id = task.get("dag_id"), task.get("task_id"), p.run_id
    links: dict[str, str] = {}
    if not (isinstance(dag_id, str) and dag_id and isinstance(run_id, str) and run_id):
        return links
    run = f"{base_path}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"
    links["run"] = run
    if isinstance(task_id, str) and task_id:
        links["task"] = f"{run}/tasks/{quote(task_id, safe='')}"
        map_index = task.get("map_index")
        if isinstance(map_index, int) and not isinstance(map_index, bool) and map_index >= 0:
            links["task"] += f"/mapped/{map_index}"
    return links
