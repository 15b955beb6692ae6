"""The package in the Airflow web UI, driven by a real browser against a real Airflow.

A fixture starts ``airflow api-server``, ``airflow scheduler`` and ``airflow dag-processor`` (LocalExecutor, SQLite,
simple auth manager) on 127.0.0.1; headless Chromium logs in as the generated admin, checks the ``mainframe``
connection form, triggers a DAG that lands a warehouse table into the lake, and reads the result in the Assets view
and in the provider's Lake view. Screenshots of every step go to the test's temporary folder.
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.servers.airflow import AirflowServer
from tests.ui.browser import Screenshots, chromium_page
from tests.ui.conftest import ORDERS

DAG_ID = "zaloni_ui_orders"


def login(page: Any, airflow: AirflowServer, user: str = "admin") -> None:
    page.goto(f"{airflow.base_url}/")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(airflow.password(user))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{airflow.base_url}/")


def task_logs(airflow: AirflowServer) -> str:
    return "\n".join(p.read_text(errors="replace")[-3000:] for p in (airflow.home / "logs").rglob("*.log"))


@pytest.mark.timeout(240)
def test_mainframe_form_trigger_and_lake_view_in_the_browser(
    airflow: AirflowServer, chromium: str, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    shots = Screenshots(tmp_path / "screenshots")
    with chromium_page(chromium) as page, shots.on_failure(page):
        login(page, airflow)
        shots.take(page, "home")

        # Trigger the DAG from its page, as a user would (the run goes on while the form is checked).
        airflow.wait_for("the DAG to be parsed", lambda: airflow.api("GET", f"/api/v2/dags/{DAG_ID}"), timeout=60)
        page.goto(f"{airflow.base_url}/dags/{DAG_ID}")
        page.get_by_role("button", name="Trigger").first.click()
        page.get_by_role("dialog").get_by_role("button", name="Trigger").click()
        page.wait_for_url(f"{airflow.base_url}/dags/{DAG_ID}/runs/**")
        run_page = page.url

        # The connection form of the `mainframe` type: standard fields relabelled, extra fields from provider info.
        page.goto(f"{airflow.base_url}/connections")
        page.get_by_role("button", name="Add Connection").click()
        page.get_by_role("combobox", name="Connection Type").fill("mainframe")
        page.keyboard.press("Enter")
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text("Mainframe (z/OS FTP/SFTP)")
        expect(dialog.get_by_label("User ID")).to_be_visible()
        expect(dialog.get_by_placeholder("zos.example.com")).to_be_visible()
        expect(dialog.get_by_placeholder("21 (FTP/FTPS) or 22 (SFTP)")).to_be_visible()
        expect(dialog.get_by_text("Schema", exact=True)).to_have_count(0)  # hidden: z/OS has no schema
        dialog.get_by_role("button", name="Extra Fields", exact=True).click()
        for label in (
            "Protocol",
            "Passive mode (FTP)",
            "Connect retry budget (seconds)",
            "Verify TLS certificate (FTPS)",
            "Private key (SFTP)",
            "Host public key (SFTP)",
            "Data set path template (SFTP)",
            "Folder of data set files (local)",
        ):
            expect(dialog.get_by_text(label, exact=True)).to_be_visible()
        expect(dialog).to_contain_text("ftp (z/OS FTP), ftps (explicit TLS), sftp (z/OS OpenSSH) or local (files).")
        shots.take(page, "mainframe-connection-form")

        # The run started from the UI lands the table (waited for through the REST API).
        run = airflow.wait_for("the triggered run to finish", lambda: finished_run(airflow), timeout=120)
        assert run["state"] == "success", f"run {run['dag_run_id']} {run['state']}\n{task_logs(airflow)}"
        assert (run["run_type"], run["triggered_by"], run["triggering_user_name"]) == ("manual", "ui", "admin")
        page.goto(run_page)
        expect(page.get_by_text("Success").first).to_be_visible()
        shots.take(page, "dag-run-success")

        # The dataset is an Asset with an event from the run.
        page.get_by_role("link", name="Assets").click()
        expect(page.get_by_role("link", name="zaloni/raw/warehouse/orders")).to_be_visible()
        shots.take(page, "assets")

        # The Lake view from the navigation: the page of the plugin, in the UI's iframe, with the UI's login cookie.
        page.get_by_role("button", name="Browse").click()
        entry = page.get_by_role("menuitem", name="Lake")
        icon = entry.locator("img")
        expect(icon).to_have_attribute("src", "/zaloni/static/lake.svg")
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=icon.element_handle())  # loaded
        shots.take(page, "browse-menu")
        entry.click()
        lake = page.frame_locator("iframe")
        row = lake.locator('tr[data-dataset="raw/warehouse/orders"]')
        expect(row).to_be_visible()
        cells = row.locator(":scope > td")
        expect(cells.nth(0)).to_have_text("warehouse/orders")
        expect(cells.nth(1)).to_have_text("1")  # partitions
        expect(cells.nth(2)).to_have_text(f"{ORDERS:,}")  # rows, from the manifest
        row.locator("summary", has_text="schema").click()
        for column in ("order_id", "amount", "status"):
            expect(row.locator("code", has_text=column)).to_be_visible()
        row.locator("summary", has_text="partitions").click()
        expect(row).to_contain_text(run["dag_run_id"])  # the partition was committed by the run the UI started
        shots.take(page, "lake-view")

        # The run id is a link to the DAG run in the UI (the whole window goes there, not the frame).
        row.get_by_role("link", name=run["dag_run_id"]).click()
        page.wait_for_url(f"{airflow.base_url}/dags/{DAG_ID}/runs/**")
        expect(page.get_by_text("Success").first).to_be_visible()
        assert run["dag_run_id"] in urllib.parse.unquote(page.url)
        # The dataset's page links each partition to the task instance that committed it.
        page.go_back()
        lake = page.frame_locator("iframe")
        lake.get_by_role("link", name="warehouse/orders", exact=True).click()
        lake.get_by_role("link", name=f"{DAG_ID}.land_orders").click()
        page.wait_for_url(f"{airflow.base_url}/dags/{DAG_ID}/runs/**/tasks/land_orders")
        expect(page.get_by_text("Success").first).to_be_visible()
        shots.take(page, "task-instance-from-lake-view")

    # The iframe got in with the UI's login cookie: without it the page is refused.
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{airflow.base_url}/zaloni/lake", timeout=30)
    assert refused.value.code in (401, 403)

    for shot in shots.paths:
        assert shot.stat().st_size > 10_000, f"{shot} looks empty"


def finished_run(airflow: AirflowServer) -> dict[str, Any] | None:
    runs = airflow.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns")["dag_runs"]
    assert len(runs) <= 1, f"expected only the run triggered from the UI, got {[r['dag_run_id'] for r in runs]}"
    if runs and runs[0]["state"] in ("success", "failed"):
        return dict(runs[0])
    return None
