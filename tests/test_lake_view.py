"""The Lake view of the provider's plugin, served by a real Airflow API server app (FastAPI test client).

The browser tests (``tests/ui/test_lake_view_browser.py``) look at the same pages in Chromium; these check what the
server answers: escaping, errors per dataset, no writes from a read, redaction, no docs, paging, the cache, and the
wording of watermarks, ages and staleness.
"""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest

from airflow_zaloni.lake import Lake
from airflow_zaloni.lake.catalog import DatasetSummary, PartitionSummary
from airflow_zaloni.plugins import lake_format
from tests import lake_view_data as data


@pytest.fixture(scope="module")
def lake_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lake-view") / "lake"
    data.fill(root)
    return root


@pytest.fixture
def client(airflow_db, lake_dir: Path, monkeypatch: pytest.MonkeyPatch):
    with data.view_client(lake_dir, monkeypatch) as c:
        yield c


def row_of(html: str, key: str) -> str:
    """The HTML of one dataset's row (up to the next row or the end of its zone's table)."""
    start = html.index(f'data-dataset="{key}"')
    ends = [i for i in (html.find('<tr class="dataset"', start), html.find("</tbody>", start)) if i >= 0]
    return html[start : min(ends)]


def test_the_api_server_mounts_the_lake_view_and_lists_it_in_the_ui(client) -> None:
    page = client.get("/zaloni/lake")
    assert page.status_code == 200, page.text
    html = page.text
    orders = row_of(html, data.ORDERS.key)
    assert ">300<" in orders  # rows read from the manifest
    trusted = row_of(html, data.TRUSTED.key)
    assert '<span class="q">' in trusted  # quarantined rows next to the trusted dataset
    body = client.get("/zaloni/api/datasets", params={"per_page": 100}).json()
    by_key = {d["dataset"]: d for d in body["datasets"]}
    assert by_key[data.ORDERS.key]["rows"] == 300
    assert (
        by_key[data.TRUSTED.key]["quarantined_rows"]
        == by_key[data.TRUSTED.key]["partitions"][0]["quality"]["quarantined"]
    )
    assert by_key[data.ORDERS.key]["schema"][2]["type"] == "decimal128(12, 2)"
    # read through the Iceberg catalog: the table and its current snapshot; the hostile dataset is files only
    assert by_key[data.ORDERS.key]["table"]["table"] == "raw.shop.orders"
    assert by_key[data.ORDERS.key]["table"]["snapshot_id"] > 0 and by_key[data.HOSTILE.key]["table"] is None
    page = client.get(f"/zaloni/lake/datasets/{data.ORDERS.key}").text
    assert f"snapshot <code>{by_key[data.ORDERS.key]['table']['snapshot_id']}</code>" in page
    plugins = client.get("/api/v2/plugins").json()["plugins"]
    ours = next(p for p in plugins if p["name"] == "zaloni_lake")
    assert ours["external_views"][0]["href"] == "/zaloni/lake"


def test_ingested_and_promoted_partitions_link_to_their_run_and_task(client) -> None:
    for ref, dag_id, run_id, task_id in (
        (data.ORDERS, "zaloni_ui_orders", "scheduled__2026-11-25", "land_orders"),
        (data.TRUSTED, "zaloni_ui_promote", "promote__1", "promote_orders"),
        (data.TRUSTED_QUARANTINE, "zaloni_ui_promote", "promote__1", "promote_orders"),
    ):
        page = client.get(f"/zaloni/lake/datasets/{ref.key}")
        assert page.status_code == 200, page.text
        run = f"/dags/{dag_id}/runs/{run_id}"
        assert data.run_and_task_links(page.text) == [("run", run), ("task", f"{run}/tasks/{task_id}")], ref


def test_every_value_from_a_hostile_manifest_is_escaped(client) -> None:
    html = (
        client.get("/zaloni/lake", params={"q": "xss"}).text
        + client.get(f"/zaloni/lake/datasets/{data.HOSTILE.key}").text
    )
    assert "<img" not in html and "<script>window" not in html
    assert html.count("&lt;img src=x onerror=") >= 8  # run, dag, task, files, schema, rules, watermark, bad folder
    answer = client.get("/zaloni/lake")
    assert answer.headers["content-security-policy"].startswith("default-src 'none'; script-src 'self'")


def test_a_broken_manifest_or_state_is_an_error_of_its_dataset_only(client) -> None:
    page = client.get("/zaloni/lake")
    assert page.status_code == 200
    broken = row_of(page.text, data.BROKEN.key)
    assert "partition &#39;dt=2026-11-25&#39; skipped: its manifest cannot be read" in broken
    assert ">1<" in broken and ">40<" in broken  # the good partition still counts
    assert "Expecting" in row_of(page.text, data.BROKEN_STATE.key) or "Unterminated" in row_of(
        page.text, data.BROKEN_STATE.key
    )
    hostile = row_of(page.text, data.HOSTILE.key)
    assert "is not allowed: expected one &#39;key=value&#39; segment" in hostile  # the folder with a bad name
    assert ">300<" in row_of(page.text, data.ORDERS.key)  # the others are untouched
    answer = client.get("/zaloni/api/datasets", params={"per_page": 100})
    assert answer.status_code == 200
    by_key = {d["dataset"]: d for d in answer.json()["datasets"]}
    assert by_key[data.BROKEN.key]["rows"] == 40 and len(by_key[data.BROKEN.key]["errors"]) == 1
    assert by_key[data.BROKEN_STATE.key]["errors"] and not by_key[data.ORDERS.key]["errors"]


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


def test_a_read_never_writes_and_leaves_an_interrupted_commit_to_the_next_writer(
    airflow_db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written before the fix: every GET ran ``lake.recover()``, took the dataset's commit lock and wrote."""
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    root = tmp_path / "lake"
    lake = Lake(str(root))
    data.land(lake, data.ORDERS, "dt=2026-11-25", 30)
    dead = subprocess.Popen(["true"])
    dead.wait()
    journal = {
        "txn_id": "killed-after-commit-point",
        "owner": {"host": socket.gethostname(), "pid": dead.pid},
        "moves": [],
        "states": {  # as a commit writes it: the next version of the dataset's state
            lake.dataset_path(data.ORDERS): {
                "version": lake.state(data.ORDERS)["version"] + 1,
                "watermark": 999,
                "last_commit": {"committed_at": 1.0},
            }
        },
    }
    (root / "_zaloni" / "txn").mkdir(parents=True, exist_ok=True)
    (root / "_zaloni" / "txn" / "killed-after-commit-point.json").write_text(json.dumps(journal))
    before = snapshot(root)
    monkeypatch.setenv("AIRFLOW__ZALONI__LAKE_ROOT", str(root))
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
    with TestClient(create_app(), base_url="http://127.0.0.1") as c:
        for path in ("/zaloni/lake", "/zaloni/api/datasets", f"/zaloni/lake/datasets/{data.ORDERS.key}"):
            assert c.get(path).status_code == 200
    assert snapshot(root) == before
    assert lake.watermark(data.ORDERS) == 999  # a writer's read rolls the commit forward, as before


def test_credentials_in_the_lake_root_are_redacted_also_in_error_texts(
    airflow_db, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    with socket.socket() as s:  # a port nobody listens on: the FTP lake cannot be reached
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("AIRFLOW__ZALONI__LAKE_ROOT", f"ftp://lakeuser:Pw-4-lake-s3cret@127.0.0.1:{port}/lake")
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
    with TestClient(create_app(), base_url="http://127.0.0.1") as c:
        page = c.get("/zaloni/lake")
        api = c.get("/zaloni/api/datasets")
    assert page.status_code == 503 and api.status_code == 503
    for text in (page.text, api.text):
        assert "Pw-4-lake-s3cret" not in text
        assert f"ftp://lakeuser:***@127.0.0.1:{port}/lake" in text
    assert "cannot read the lake" in api.json()["error"]


def test_short_passwords_are_cut_from_urls_the_masker_would_skip() -> None:
    from airflow_zaloni.plugins.redaction import redact

    assert redact("failed on s3://key:pw@bucket/x and sftp://u:p@h:22/") == "failed on s3://key:***@bucket/x and " + (
        "sftp://u:***@h:22/"
    )


def test_the_app_has_no_docs_and_refuses_data_without_a_login(airflow_db, lake_dir: Path, monkeypatch) -> None:
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    monkeypatch.setenv("AIRFLOW__ZALONI__LAKE_ROOT", str(lake_dir))
    monkeypatch.delenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", raising=False)
    with TestClient(create_app(), base_url="http://127.0.0.1") as c:
        for path in ("/zaloni/docs", "/zaloni/redoc", "/zaloni/openapi.json"):
            assert c.get(path).status_code == 404, path
        for path in ("/zaloni/lake", "/zaloni/api/datasets", f"/zaloni/lake/datasets/{data.ORDERS.key}"):
            assert c.get(path).status_code in (401, 403), path
        assert c.get("/zaloni/static/lake.js").status_code == 200  # no data in it


def test_partitions_and_datasets_are_paged(client, monkeypatch: pytest.MonkeyPatch) -> None:
    page = client.get(f"/zaloni/lake/datasets/{data.MANY.key}").text
    assert page.count('class="partition"') == 50
    assert "partitions 1-50 of 120 (page 1 of 3)" in page and 'rel="next"' in page
    last = client.get(f"/zaloni/lake/datasets/{data.MANY.key}", params={"page": 3}).text
    assert last.count('class="partition"') == 20 and 'data-partition="dt=2026-01-01"' in last
    main = client.get("/zaloni/lake").text
    assert row_of(main, data.MANY.key).count("<code>dt=") == 5  # only the latest partitions inline
    monkeypatch.setenv("AIRFLOW__ZALONI__LAKE_VIEW_PAGE_SIZE", "3")
    first = client.get("/zaloni/lake").text
    assert first.count('class="dataset"') == 3 and 'rel="next"' in first
    api = client.get("/zaloni/api/datasets", params={"page": 2}).json()
    assert api["page"] == 2 and len(api["datasets"]) == 3 and api["total"] >= 9


def test_what_was_read_is_reused_for_a_short_time(airflow_db, tmp_path: Path, monkeypatch) -> None:
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    root = tmp_path / "lake"
    lake = Lake(str(root))
    data.land(lake, data.ORDERS, "dt=2026-11-25", 30)
    monkeypatch.setenv("AIRFLOW__ZALONI__LAKE_ROOT", str(root))
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
    monkeypatch.setenv("AIRFLOW__ZALONI__LAKE_VIEW_CACHE_SECONDS", "600")
    with TestClient(create_app(), base_url="http://127.0.0.1") as c:
        assert c.get("/zaloni/api/datasets").json()["total"] == 1
        data.land(lake, data.HOURLY, "dt=2026-11-25", 3)
        assert c.get("/zaloni/api/datasets").json()["total"] == 1  # the cached read
        monkeypatch.setenv("AIRFLOW__ZALONI__LAKE_VIEW_CACHE_SECONDS", "0")
        assert c.get("/zaloni/api/datasets").json()["total"] == 2


def summary(name: str = "orders", watermark=None, **kwargs) -> DatasetSummary:
    return DatasetSummary("raw", "s", name, kwargs.pop("partitions", []), 0, 0, None, None, watermark, **kwargs)


def test_watermarks_read_as_times_or_ids() -> None:
    ledger = lake_format.watermark(summary("drops.files", 1764000000.25))
    assert ledger["kind"] == "time" and ledger["text"] == "2025-11-24 16:00:00 UTC"
    assert lake_format.watermark(summary(watermark=1764000000)) == {"kind": "id", "text": "1764000000"}
    stamp = lake_format.watermark(summary(watermark="2026-11-25 10:30:00+01:00"))
    assert stamp["kind"] == "time" and stamp["iso"] == "2026-11-25T09:30:00Z"
    schema = [{"name": "updated", "type": "timestamp[us, tz=UTC]"}]
    typed = summary(watermark=1764000000.5, schema=schema, source={"incremental_column": "updated"})
    assert lake_format.watermark(typed)["kind"] == "time"
    assert lake_format.watermark(summary(watermark="A-17", source={"incremental_column": "code"}))["kind"] == "id"


def test_ages_spell_their_units() -> None:
    assert lake_format.age(30) == "just now"
    assert lake_format.age(5 * 60 + 10) == "5 minutes ago"
    assert lake_format.age(3600 + 120) == "1 hour 2 minutes ago"
    assert lake_format.age(2 * 86400 + 3 * 3600 + 59) == "2 days 3 hours ago"


def test_staleness_follows_the_schedule_or_the_setting() -> None:
    hourly = PartitionSummary(
        "dt=x", 1, 1, 1, None, "r", task={"data_interval": ["2026-11-25T10:00:00+00:00", "2026-11-25T11:00:00Z"]}
    )
    assert lake_format.stale_after(summary(partitions=[hourly]), 86400)[0] == 7200
    assert lake_format.stale_after(summary(), 86400) == (86400, "stale after 1 day ([zaloni] stale_after)")
    assert lake_format.parse_stale_after("36h") == 36 * 3600
    assert lake_format.parse_stale_after("soon") == 2 * 86400


def test_links_go_to_the_run_and_the_mapped_task() -> None:
    p = PartitionSummary("dt=x", 1, 1, 1, None, "manual__2026-12-04T10:00:00+00:00", task=None)
    assert lake_format.ui_links("", p) == {}
    p.task = {"dag_id": "d/x", "task_id": "t", "map_index": 3}
    assert lake_format.ui_links("/airflow", p) == {
        "run": "/airflow/dags/d%2Fx/runs/manual__2026-12-04T10%3A00%3A00%2B00%3A00",
        "task": "/airflow/dags/d%2Fx/runs/manual__2026-12-04T10%3A00%3A00%2B00%3A00/tasks/t/mapped/3",
    }
