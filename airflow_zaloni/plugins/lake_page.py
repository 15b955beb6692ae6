"""HTML of the Lake view: datasets by zone, with partitions, rows, bytes, freshness, schema and quarantine counts.

Plain server-rendered HTML (no build step): every value from the lake is escaped, since dataset names and manifest
fields come from outside.
"""

from __future__ import annotations

from html import escape
from typing import Any

from airflow_zaloni.lake.catalog import DatasetSummary
from airflow_zaloni.lake.paths import ZONES
from airflow_zaloni.utils.formatting import human_size, utc_time

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:16px;color:#1b1f24}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:18px 0 6px;text-transform:capitalize}
.root{color:#57606a;font-size:13px;margin-bottom:12px}
table{border-collapse:collapse;width:100%;font-size:13px} th,td{padding:4px 8px;border-bottom:1px solid #d0d7de;
text-align:left;vertical-align:top} th{background:#f6f8fa;white-space:nowrap} .n{text-align:right}
td.n{font-variant-numeric:tabular-nums;white-space:nowrap} tr.dataset:hover>td{background:#f6f8fa}
details summary{cursor:pointer;color:#0969da;white-space:nowrap} details[open]{margin-bottom:6px}
details table{width:auto;margin:4px 0 0 12px} details code,.t{white-space:nowrap}
.stale{color:#cf222e} .fresh{color:#1a7f37} .q{color:#9a6700} code{font-size:12px}
@media (prefers-color-scheme:dark){body{background:#1a202c;color:#e2e8f0} .root{color:#a0aec0}
th,tr.dataset:hover>td{background:#2d3748} th,td{border-color:#4a5568} details summary{color:#63b3ed}
.stale{color:#fc8181} .fresh{color:#68d391} .q{color:#f6e05e}}
"""


def _age(seconds: float | None, stale_after: float) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            text = f"{seconds / size:.1f} {unit} ago"
            break
    else:
        text = f"{seconds:.0f} s ago"
    css = "stale" if seconds > stale_after else "fresh"
    return f'<span class="{css}">{escape(text)}</span>'


def _dataset_row(d: DatasetSummary, stale_after: float) -> str:
    schema = "".join(
        f"<tr><td><code>{escape(f['name'])}</code></td><td><code>{escape(f['type'])}</code></td></tr>" for f in d.schema
    )
    parts = "".join(
        f"<tr><td><code>{escape(p.partition)}</code></td><td class=n>{'' if p.rows is None else f'{p.rows:,}'}</td>"
        f"<td class=n>{human_size(p.bytes)}</td><td class=n>{p.files}</td><td class=t>{utc_time(p.committed_at)}</td>"
        f"<td><code>{escape(str(p.run_id or ''))}</code></td></tr>"
        for p in reversed(d.partitions)
    )
    quarantine = "" if d.quarantined_rows is None else f'<span class="q">{d.quarantined_rows:,}</span>'
    rows = "-" if d.rows is None else f"{d.rows:,}"  # raw files (landing) have no row count
    return (
        f'<tr class="dataset" data-dataset="{escape(d.key)}"><td><b>{escape(d.system)}/{escape(d.name)}</b></td>'
        f"<td class=n>{len(d.partitions)}</td><td class=n>{rows}</td><td class=n>{human_size(d.bytes)}</td>"
        f"<td class=t>{utc_time(d.last_commit)}</td><td class=t>{_age(d.freshness_seconds, stale_after)}</td>"
        f"<td class=n>{quarantine}</td><td>{escape('' if d.watermark is None else str(d.watermark))}</td>"
        f"<td><details><summary>schema ({len(d.schema)})</summary><table>{schema}</table></details>"
        f"<details><summary>partitions ({len(d.partitions)})</summary><table><tr><th>partition</th>"
        f'<th class="n">rows</th><th class="n">size</th><th class="n">files</th><th>committed</th><th>run</th></tr>'
        f"{parts}</table></details></td></tr>"
    )


def render(root: str, datasets: list[DatasetSummary], *, stale_after: float = 2 * 86400, error: str = "") -> str:
    """The whole page."""
    sections = []
    for zone in ZONES:
        rows = [d for d in datasets if d.zone == zone]
        if not rows:
            continue
        body = "".join(_dataset_row(d, stale_after) for d in rows)
        sections.append(
            f'<h2 id="zone-{zone}">{zone}</h2><table><tr><th>dataset</th><th class="n">partitions</th>'
            f'<th class="n">rows</th><th class="n">size</th><th>last commit</th><th>freshness</th>'
            f'<th class="n">quarantined</th><th>watermark</th><th>details</th></tr>{body}</table>'
        )
    if error:
        sections.insert(0, f'<p class="stale">{escape(error)}</p>')
    if not datasets and not error:
        sections.append("<p>The lake is empty: no dataset has been committed yet.</p>")
    return (
        "<!doctype html><html><head><meta charset=utf-8><meta name=viewport content='width=device-width'>"
        f"<title>Lake</title><style>{_STYLE}</style></head>"
        f'<body><h1>Lake</h1><div class="root">root <code>{escape(root)}</code> &middot; '
        f"{len(datasets)} dataset(s)</div>{''.join(sections)}</body></html>"
    )


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


def as_json(datasets: list[DatasetSummary]) -> list[dict[str, Any]]:
    return [d.as_dict() for d in datasets]
