"""The Lake view of the provider's plugin, served by a real Airflow API server app (FastAPI test client)."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_zaloni.lake import DatasetRef, Lake
from tests.sources_for_tests import CounterSource


def fill(root: Path) -> None:
    lake = Lake(str(root))
    for ref, upper in (
        (DatasetRef("raw", "warehouse", "orders"), 300),
        (DatasetRef("trusted", "warehouse", "orders"), 280),
    ):
        source = CounterSource(lower=None, upper=upper)
        with lake.transaction(run_id="scheduled__2026-11-25", try_number=1) as txn:
            writer = txn.writer(ref, "dt=2026-11-25", schema=source.schema, source=source.describe())
            for batch in source.batches():
                writer.write_batch(batch)
            txn.set_watermark(ref, source.cursor)
    quarantine = DatasetRef("trusted", "warehouse", "orders__quarantine")
    source = CounterSource(lower=None, upper=20)
    with lake.transaction(run_id="scheduled__2026-11-25", try_number=1) as txn:
        writer = txn.writer(quarantine, "dt=2026-11-25", schema=source.schema)
        for batch in source.batches():
            writer.write_batch(batch)


@pytest.fixture
def client(airflow_db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    root = tmp_path / "lake"
    fill(root)
    monkeypatch.setenv("AIRFLOW__ZALONI__LAKE_ROOT", str(root))
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
    with TestClient(create_app(), base_url="http://127.0.0.1") as c:
        yield c


def test_the_api_server_mounts_the_lake_view_and_lists_it_in_the_ui(client) -> None:
    page = client.get("/zaloni/lake")
    assert page.status_code == 200, page.text
    html = page.text
    assert 'data-dataset="raw/warehouse/orders"' in html and 'data-dataset="trusted/warehouse/orders"' in html
    assert ">300<" in html and ">280<" in html  # rows read from the manifests
    assert ">20<" in html  # quarantined rows shown next to the trusted dataset
    data = client.get("/zaloni/api/datasets").json()
    by_key = {d["dataset"]: d for d in data["datasets"]}
    assert by_key["raw/warehouse/orders"]["rows"] == 300
    assert by_key["trusted/warehouse/orders"]["quarantined_rows"] == 20
    assert by_key["raw/warehouse/orders"]["schema"][2]["type"] == "decimal128(12, 2)"
    plugins = client.get("/api/v2/plugins").json()["plugins"]
    ours = next(p for p in plugins if p["name"] == "zaloni_lake")
    assert ours["external_views"][0]["href"] == "/zaloni/lake"


def test_names_from_the_lake_are_escaped_in_the_page() -> None:
    from airflow_zaloni.lake.catalog import DatasetSummary
    from airflow_zaloni.plugins.lake_page import render

    evil = DatasetSummary("raw", "s", "n", [], 0, 0, None, None, "<script>alert(1)</script>")
    assert "<script>" not in render("/lake", [evil])
