"""Lakes for the Lake view tests: real commits (and a real promotion), then the files a hostile or broken writer
would leave, edited in place the way anyone with write access to lake storage could.

Used by ``tests/test_lake_view.py`` (the API server app in-process) and ``tests/ui/test_lake_view_browser.py``
(a real deployment and Chromium).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from airflow_zaloni.lake import DatasetRef, Lake
from airflow_zaloni.lake.promote import promote
from tests.sources_for_tests import CounterSource

#: Script that would set a flag, open a dialog or both if any rendered value were inserted as HTML. The folder-name
#: variant has no '/' (a path segment cannot hold one).
XSS = '<img src=x onerror="window.top.__xss=1;alert(1)"><script>window.top.__xss=2</script>'
XSS_SEGMENT = "k=<img src=x onerror=window.top.__xss=3;alert(3)>"

ORDERS = DatasetRef("raw", "shop", "orders")
TRUSTED = DatasetRef("trusted", "shop", "orders")
TRUSTED_QUARANTINE = DatasetRef("trusted", "shop", "orders__quarantine")
HOSTILE = DatasetRef("raw", "xss", "hostile")
BROKEN = DatasetRef("raw", "broken", "events")
BROKEN_STATE = DatasetRef("raw", "broken", "state")
LEDGER = DatasetRef("landing", "files", "drops.files")
MANY = DatasetRef("refined", "history", "daily")
HOURLY = DatasetRef("raw", "shop", "hourly")
LONG = DatasetRef("raw", "a" * 60, "b" * 120)
RULES = [
    {"rule": "range", "column": "amount", "max": 2.5, "name": "amount_at_most_2_50"},
    {"rule": "not_null", "column": "name"},
    {"rule": "row_count", "min": 1},
]


@contextmanager
def view_client(root: Path | str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The Airflow API server app in-process (FastAPI test client), showing the lake at ``root``, uncached."""
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    monkeypatch.setenv("AIRFLOW__ZALONI__LAKE_ROOT", str(root))
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
    monkeypatch.setenv("AIRFLOW__ZALONI__LAKE_VIEW_CACHE_SECONDS", "0")
    with TestClient(create_app(), base_url="http://127.0.0.1") as client:
        yield client


def run_and_task_links(html: str) -> list[tuple[str, str]]:
    """The ``(class, href)`` of every link to a DAG run (``run``) or a task (``task``) on a Lake view page."""
    return re.findall(r'<a class="(run|task)" href="([^"]*)"', html)


def land(
    lake: Lake, ref: DatasetRef, partition: str, upper: int, *, run_id: str = "scheduled__2026-11-25", **extra: Any
) -> None:
    source = CounterSource(lower=None, upper=upper)
    with lake.transaction(run_id=run_id, try_number=1) as txn:
        writer = txn.writer(ref, partition, schema=source.schema, source=source.describe())
        writer.extra.update(extra)
        for batch in source.batches():
            writer.write_batch(batch)
        txn.set_watermark(ref, source.cursor)


def partition_dir(root: Path, ref: DatasetRef, partition: str) -> Path:
    return root / ref.zone / ref.system / ref.name / partition


def edit_json(path: Path, change: Any) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def fill(root: Path, *, partitions_of_many: int = 120) -> None:
    """Every case the Lake view must show: good, promoted with quality, hostile, broken, ledger, paged, long."""
    lake = Lake(str(root))
    task = {"dag_id": "zaloni_ui_orders", "task_id": "land_orders", "map_index": -1}
    land(lake, ORDERS, "dt=2026-11-25", 300, airflow=task)
    promoted_by = {"dag_id": "zaloni_ui_promote", "task_id": "promote_orders", "map_index": -1}
    promote(
        lake, source=ORDERS, partitions=["dt=2026-11-25"], target=TRUSTED, rules=RULES, run_id="promote__1",
        task=promoted_by,
    )  # fmt: skip

    # Hostile: every manifest and state field the view renders carries script. Written as a lake of the layout
    # before tables wrote it (files and manifests, not registered in the catalog): the view then reads its
    # partition folders, so a folder with a hostile name is listed and must be shown as an error, escaped. (A
    # table's partitions come from its snapshot, which a stray folder cannot enter.)
    files_only = Lake(str(root), catalog="none")
    land(files_only, HOSTILE, "dt=2026-11-25", 10, run_id=XSS, airflow={**task, "dag_id": XSS, "task_id": XSS})
    manifest = partition_dir(root, HOSTILE, "dt=2026-11-25") / "_manifest.json"

    def poison(m: dict[str, Any]) -> None:
        m["totals"]["files"] = XSS
        m["timings"]["written"] = XSS
        m["schema"]["fields"] = [{"name": XSS, "type": XSS}]
        m["source"] = {"incremental_column": XSS}
        rules = {XSS: {"rule": XSS, "action": XSS, "failed": XSS}}
        checks = {XSS: {"rule": XSS, "action": XSS, "passed": False}}
        m["extra"]["quality"] = {"rows_in": 10, "passed": 10, "quarantined": XSS, "rules": rules, "checks": checks}

    edit_json(manifest, poison)
    edit_json(root / HOSTILE.zone / HOSTILE.system / HOSTILE.name / "_state.json", lambda s: s.update(watermark=XSS))
    bad = partition_dir(root, HOSTILE, XSS_SEGMENT)
    bad.mkdir()
    (bad / "_manifest.json").write_text(manifest.read_text())

    # Broken: one truncated manifest next to a good partition; a dataset whose state file is cut short.
    land(lake, BROKEN, "dt=2026-11-24", 40)
    land(lake, BROKEN, "dt=2026-11-25", 50)
    cut = partition_dir(root, BROKEN, "dt=2026-11-25") / "_manifest.json"
    cut.write_text(cut.read_text()[:100])
    land(lake, BROKEN_STATE, "dt=2026-11-25", 5)
    state = root / BROKEN_STATE.zone / BROKEN_STATE.system / BROKEN_STATE.name / "_state.json"
    state.write_text(state.read_text()[:20])

    # A file ledger: its watermark is the newest file modification time (an epoch float).
    land(lake, LEDGER, "dt=2026-11-25", 3)
    ledger_state = root / LEDGER.zone / LEDGER.system / LEDGER.name / "_state.json"
    edit_json(ledger_state, lambda s: s.update(watermark=1764000000.25))  # 2025-11-24 16:00:00.25 UTC

    # An hourly schedule, last committed three hours ago: stale (two intervals), though younger than 2 days.
    hourly = {**task, "data_interval": ["2026-11-25T10:00:00+00:00", "2026-11-25T11:00:00+00:00"]}
    land(lake, HOURLY, "dt=2026-11-25T10-00-00Z", 7, airflow=hourly)
    three_hours_ago = time.time() - 3 * 3600
    hourly_state = root / HOURLY.zone / HOURLY.system / HOURLY.name / "_state.json"
    edit_json(hourly_state, lambda s: s["last_commit"].update(committed_at=three_hours_ago))

    # Many partitions (paging), in one commit per partition as a daily DAG would make them.
    for day in range(partitions_of_many):
        land(lake, MANY, f"dt=2026-{1 + day // 28:02d}-{1 + day % 28:02d}", 2, run_id=f"scheduled__{day:04d}")

    land(lake, LONG, "dt=2026-11-25", 1, run_id="manual__" + "r" * 150)
