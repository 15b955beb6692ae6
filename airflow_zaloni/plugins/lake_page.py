"""HTML and JSON of the Lake view: datasets by zone, a page per dataset with its partitions, both paged.

The HTML comes from Jinja2 templates (``templates/``) with autoescaping on for every template, so any value from
the lake -- dataset and partition names, run ids, rule names, error texts -- is escaped by construction; nothing is
marked safe. What the templates get is built here from :class:`DatasetSummary` values: sizes and counts worded,
times as instants for the browser to show in the UI's time zone, secrets redacted, links into the Airflow UI.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import quote, urlencode

from airflow_zaloni.lake.catalog import DatasetSummary, PartitionSummary
from airflow_zaloni.lake.paths import ZONES
from airflow_zaloni.plugins import lake_format
from airflow_zaloni.plugins.redaction import redact
from airflow_zaloni.utils.formatting import human_size

#: Partitions shown in a dataset's row on the main page (the dataset's own page shows them all, paged).
LATEST_PARTITIONS = 5


@dataclass(frozen=True)
class ViewSettings:
    """What the pages need to know about where they are and how to judge freshness.

    :param own_path: path of the plugin's app (``/zaloni`` behind the API server's root path).
    :param ui_path: path of the Airflow UI (its ``[api] base_url`` path, ``""`` at the root).
    :param stale_after: default seconds after which a dataset without a known schedule is stale.
    :param page_size: datasets per page, and partitions per page of a dataset.
    """

    own_path: str = "/zaloni"
    ui_path: str = ""
    stale_after: float = 2 * 86400
    page_size: int = 50


@dataclass(frozen=True)
class Paging:
    page: int
    pages: int
    total: int
    first: int  # 1-based number of the first item shown (0 when none)
    last: int


def page_of(items: list[Any], page: int, size: int) -> tuple[list[Any], Paging]:
    size = max(1, size)
    pages = max(1, math.ceil(len(items) / size))
    page = min(max(1, page), pages)
    chunk = items[(page - 1) * size : page * size]
    first = (page - 1) * size + 1 if chunk else 0
    return chunk, Paging(page, pages, len(items), first, first + len(chunk) - 1 if chunk else 0)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _count(value: Any) -> str:
    """``1234`` -> ``'1,234'``; a value that is not a number (a hand-edited manifest) as text, escaped."""
    if value is None:
        return "-"
    return f"{value:,}" if _is_number(value) else str(value)


@cache
def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("airflow_zaloni.plugins", "templates"),
        autoescape=True,  # every template, whatever its name: values are escaped unless a template says otherwise
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["count"] = _count
    env.filters["size"] = lambda n: human_size(n) if _is_number(n) else _count(n)
    return env


def dataset_href(settings: ViewSettings, key: str, **query: Any) -> str:
    href = f"{settings.own_path}/lake/datasets/{'/'.join(quote(part, safe='') for part in key.split('/'))}"
    query = {k: v for k, v in query.items() if v not in (None, "", 1)}
    return f"{href}?{urlencode(query)}" if query else href


def partition_view(p: PartitionSummary, settings: ViewSettings) -> dict[str, Any]:
    task = p.task if isinstance(p.task, dict) else {}
    return {
        "partition": str(p.partition),
        "rows": p.rows,
        "bytes": p.bytes,
        "files": p.files,
        "committed": lake_format.instant(p.committed_at),
        "run_id": "" if p.run_id is None else str(p.run_id),
        "task_id": str(task.get("task_id") or ""),
        "dag_id": str(task.get("dag_id") or ""),
        "links": lake_format.ui_links(settings.ui_path, p),
        "quality": lake_format.quality(p),
    }


def dataset_view(d: DatasetSummary, settings: ViewSettings, *, now: float) -> dict[str, Any]:
    threshold, reason = lake_format.stale_after(d, settings.stale_after)
    age = None if d.last_commit is None else max(0.0, now - float(d.last_commit))
    latest = d.partitions[-1] if d.partitions else None
    return {
        "key": d.key,
        "zone": d.zone,
        "system": d.system,
        "name": d.name,
        "href": dataset_href(settings, d.key),
        "partition_count": len(d.partitions),
        "rows": d.rows,
        "bytes": d.bytes,
        "last_commit": lake_format.instant(d.last_commit),
        "age": lake_format.age(age),
        "stale": age is not None and age > threshold,
        "stale_reason": reason,
        "quarantined": d.quarantined_rows,
        "watermark": lake_format.watermark(d),
        "schema": [{"name": str(f.get("name", "")), "type": str(f.get("type", ""))} for f in d.schema],
        "latest": [partition_view(p, settings) for p in reversed(d.partitions[-LATEST_PARTITIONS:])],
        "quality": lake_format.quality(latest) if latest is not None else None,
        "errors": [redact(e) for e in d.errors],
        # The Iceberg table the dataset is read through (name, current snapshot and its time), or why it is files.
        "table": None
        if d.table is None
        else {
            "name": str(d.table.get("table", "")),
            "snapshot_id": str(d.table.get("snapshot_id", "")),
            "committed": lake_format.instant((d.table.get("timestamp_ms") or 0) / 1000 or None),
        },
        "files_only": redact(d.files_only) if d.files_only else None,
    }


def _filtered(datasets: list[DatasetSummary], zone: str | None, q: str | None) -> list[DatasetSummary]:
    needle = (q or "").strip().lower()
    return [d for d in datasets if (not zone or d.zone == zone) and (not needle or needle in d.key.lower())]


def render_lake(
    root: str,
    datasets: list[DatasetSummary],
    *,
    settings: ViewSettings,
    error: str = "",
    zone: str | None = None,
    q: str | None = None,
    page: int = 1,
    read_at: float | None = None,
) -> str:
    """The main page: one page of datasets (after the zone and name filters), grouped by zone."""
    now = time.time()
    shown, paging = page_of(_filtered(datasets, zone, q), page, settings.page_size)
    views = [dataset_view(d, settings, now=now) for d in shown]
    sections = [(z, [v for v in views if v["zone"] == z]) for z in ZONES]

    def href(**changes: Any) -> str:
        query = {"zone": zone, "q": q, "page": page, **changes}
        query = {k: v for k, v in query.items() if v not in (None, "", 1)}
        return f"{settings.own_path}/lake" + (f"?{urlencode(query)}" if query else "")

    return str(
        _environment()
        .get_template("lake.html")
        .render(
            settings=settings,
            root=redact(root),
            error=redact(error) if error else "",
            sections=[(z, rows) for z, rows in sections if rows],
            zones=ZONES,
            zone=zone or "",
            q=q or "",
            paging=paging,
            prev_href=href(page=paging.page - 1) if paging.page > 1 else "",
            next_href=href(page=paging.page + 1) if paging.page < paging.pages else "",
            with_errors=sum(1 for d in datasets if d.errors),
            lake_total=len(datasets),
            read_at=lake_format.instant(read_at),
        )
    )


def render_dataset(
    root: str, d: DatasetSummary, *, settings: ViewSettings, page: int = 1, read_at: float | None = None
) -> str:
    """The page of one dataset: its summary, schema and one page of partitions (newest first) with quality."""
    view = dataset_view(d, settings, now=time.time())
    shown, paging = page_of(list(reversed(d.partitions)), page, settings.page_size)
    return str(
        _environment()
        .get_template("dataset.html")
        .render(
            settings=settings,
            root=redact(root),
            d=view,
            partitions=[partition_view(p, settings) for p in shown],
            paging=paging,
            prev_href=dataset_href(settings, d.key, page=paging.page - 1) if paging.page > 1 else "",
            next_href=dataset_href(settings, d.key, page=paging.page + 1) if paging.page < paging.pages else "",
            read_at=lake_format.instant(read_at),
        )
    )


def render_missing(root: str, key: str, *, settings: ViewSettings) -> str:
    template = _environment().get_template("missing.html")
    return str(template.render(settings=settings, root=redact(root), key=key, read_at=None))


def as_json(d: DatasetSummary, *, partitions: list[PartitionSummary] | None = None) -> dict[str, Any]:
    """A dataset for the JSON API: the summary without its partition list (``partition_count`` instead), errors
    redacted, and the partitions given (one page of them, or the latest few)."""
    data = d.as_dict()
    data.pop("partitions")
    data["partition_count"] = len(d.partitions)
    data["errors"] = [redact(e) for e in d.errors]
    chosen = list(reversed(d.partitions[-LATEST_PARTITIONS:])) if partitions is None else partitions
    data["partitions"] = [{**p.__dict__, "quality": lake_format.quality(p)} for p in chosen]
    data["watermark_view"] = lake_format.watermark(d)
    return data


def icon(*, dark: bool = False) -> str:
    """The SVG icon of the "Lake" navigation entry: a stack of data over waves, in the UI's nav icon colours."""
    stroke = "#cbd5e0" if dark else "#2d3748"
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="24" height="24" fill="none" '
        f'stroke="{stroke}" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round">'
        '<ellipse cx="12" cy="5" rx="7" ry="2.5"/><path d="M5 5v6c0 1.4 3.1 2.5 7 2.5s7-1.1 7-2.5V5"/>'
        '<path d="M2 17c2 0 2-1.5 4-1.5s2 1.5 4 1.5 2-1.5 4-1.5 2 1.5 4 1.5 2-1.5 4-1.5"/>'
        '<path d="M2 21c2 0 2-1.5 4-1.5s2 1.5 4 1.5 2-1.5 4-1.5 2 1.5 4 1.5 2-1.5 4-1.5"/></svg>'
    )
