"""The Lake view in Chromium, inside the Airflow UI of a real deployment (the session's, see ``conftest.py``).

The lake holds every case of :mod:`tests.lake_view_data`: script in every rendered manifest field, a truncated
manifest, a partition folder with a bad name, a file ledger's epoch watermark, an hourly dataset gone stale, a
promoted dataset with per-rule quality, 120 partitions, and very long names. One browser serves the module; each
test has its own context (cookies, storage), logged in as the user it needs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import lake_view_data as data
from tests.servers.airflow import AirflowServer
from tests.ui.browser import CHROMIUM_ARGS, Screenshots


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def shots(tmp_path: Path) -> Screenshots:
    return Screenshots(tmp_path / "screenshots")


def open_as(browser: Any, airflow: AirflowServer, user: str = "admin", **context: Any) -> Any:
    """A new context logged in as ``user`` through the UI's login form; returns its page."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 900}, **context)
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{airflow.base_url}/")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(airflow.password(user))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{airflow.base_url}/")
    return page


def lake_in_ui(page: Any, airflow: AirflowServer) -> Any:
    """The Lake view in the UI's frame (Browse -> Lake), loaded."""
    page.goto(f"{airflow.base_url}/plugin/lake")
    frame = page.frame_locator("iframe")
    frame.locator("h1", has_text="Lake").wait_for()
    return frame


def frame_of(page: Any) -> Any:
    return next(f for f in page.frames if f != page.main_frame and "/zaloni/lake" in f.url)


#: The UI's background and text colours (its Chakra tokens, resolved by the browser) and whether it is dark.
UI_COLOURS = """(() => {
  const probe = document.createElement('div');
  probe.style.background = 'var(--chakra-colors-bg)';
  probe.style.color = 'var(--chakra-colors-fg)';
  document.body.appendChild(probe);
  const style = getComputedStyle(probe);
  const out = [document.documentElement.classList.contains('dark'), style.backgroundColor, style.color];
  probe.remove();
  return out;
})()"""
OUR_COLOURS = """[document.documentElement.classList.contains('dark'),
  getComputedStyle(document.body).backgroundColor, getComputedStyle(document.body).color]"""


@pytest.mark.timeout(240)
def test_script_in_any_manifest_field_never_runs(airflow: AirflowServer, browser: Any, shots: Screenshots) -> None:
    from playwright.sync_api import expect

    page = open_as(browser, airflow)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    with shots.on_failure(page):
        frame = lake_in_ui(page, airflow)
        row = frame.locator(f'tr[data-dataset="{data.HOSTILE.key}"]')
        expect(row).to_be_visible()
        for summary in row.locator("summary").all():
            summary.click()
        expect(row).to_contain_text('<img src=x onerror="window.top.__xss=1;alert(1)">')  # shown as text
        shots.take(page, "hostile-row")
        frame.get_by_role("link", name=f"{data.HOSTILE.system}/{data.HOSTILE.name}").click()
        section = frame.locator(f'section[data-dataset="{data.HOSTILE.key}"]')
        expect(section).to_contain_text("<script>window.top.__xss=2</script>")
        expect(section.locator("tr.partition")).to_have_count(1)
        for summary in section.locator("summary").all():
            summary.click()
        shots.take(page, "hostile-dataset-page")
        assert page.evaluate("window.__xss") is None and frame_of(page).evaluate("window.__xss") is None
        # The same pages opened on their own (no frame) and the JSON: nothing runs either.
        page.goto(f"{airflow.base_url}/zaloni/lake?q=xss")
        page.goto(f"{airflow.base_url}/zaloni/lake/datasets/{data.HOSTILE.key}")
        page.wait_for_timeout(500)
        assert page.evaluate("window.__xss") is None
        assert page.locator("img").count() == 0
    assert dialogs == []


@pytest.mark.timeout(240)
def test_a_broken_manifest_is_shown_on_its_dataset_and_the_rest_of_the_lake_reads(
    airflow: AirflowServer, browser: Any, shots: Screenshots
) -> None:
    from playwright.sync_api import expect

    page = open_as(browser, airflow)
    with shots.on_failure(page):
        frame = lake_in_ui(page, airflow)
        broken = frame.locator(f'tr[data-dataset="{data.BROKEN.key}"]')
        expect(broken.get_by_role("alert")).to_contain_text("partition 'dt=2026-11-25' skipped")
        expect(broken.locator(":scope > td").nth(2)).to_have_text("40")  # rows of the good partition
        expect(frame.locator(f'tr[data-dataset="{data.BROKEN_STATE.key}"]').get_by_role("alert")).to_be_visible()
        expect(frame.locator(f'tr[data-dataset="{data.HOSTILE.key}"]').get_by_role("alert")).to_contain_text(
            "expected one 'key=value' segment"
        )
        expect(frame.locator(f'tr[data-dataset="{data.ORDERS.key}"]').get_by_role("alert")).to_have_count(0)
        expect(frame.locator(f'tr[data-dataset="{data.ORDERS.key}"] > td').nth(2)).to_have_text("300")
        shots.take(page, "broken-datasets")


@pytest.mark.timeout(240)
def test_only_users_allowed_to_read_assets_see_the_lake(airflow: AirflowServer, browser: Any) -> None:
    nobody = open_as(browser, airflow, "nobody")  # logged in, but no role: no asset access
    for path in ("/zaloni/lake", "/zaloni/api/datasets", f"/zaloni/lake/datasets/{data.ORDERS.key}"):
        answer = nobody.goto(f"{airflow.base_url}{path}")
        assert answer is not None and answer.status == 403, path
    viewer = open_as(browser, airflow, "viewer")  # the read-only role reads assets
    answer = viewer.goto(f"{airflow.base_url}/zaloni/lake")
    assert answer is not None and answer.status == 200
    for path in ("/zaloni/docs", "/zaloni/redoc", "/zaloni/openapi.json"):  # no docs, logged in or not
        answer = viewer.goto(f"{airflow.base_url}{path}")
        assert answer is not None and answer.status == 404, path


@pytest.mark.timeout(240)
def test_partitions_are_paged_and_run_times_quality_and_freshness_are_readable(
    airflow: AirflowServer, browser: Any, shots: Screenshots
) -> None:
    from playwright.sync_api import expect

    page = open_as(browser, airflow)
    # The UI keeps the user's time zone in localStorage; the Lake view shows its times in it.
    page.evaluate("localStorage.setItem('timezone', JSON.stringify('Asia/Tokyo'))")
    with shots.on_failure(page):
        frame = lake_in_ui(page, airflow)
        ledger = frame.locator(f'tr[data-dataset="{data.LEDGER.key}"]')
        expect(ledger.locator("td.wm-cell time")).to_have_text("2025-11-25 01:00:00 GMT+9")  # epoch 1764000000.25
        hourly = frame.locator(f'tr[data-dataset="{data.HOURLY.key}"]')
        expect(hourly.locator(".stale")).to_have_text(re.compile(r"^3 hours( \d+ minutes?)? ago$"))  # > 2 intervals
        expect(hourly.locator(".stale")).to_have_attribute("title", "stale after 2 schedule intervals (2 hours)")
        orders = frame.locator(f'tr[data-dataset="{data.ORDERS.key}"]')
        expect(orders.locator(".fresh")).to_have_attribute("title", "stale after 2 days ([zaloni] stale_after)")
        expect(orders.locator("td.wm-cell code")).to_have_text("300")  # an id, as it is
        trusted = frame.locator(f'tr[data-dataset="{data.TRUSTED.key}"]')
        expect(trusted.locator(".verdict")).to_have_text("1 of 3 rule(s) failed")
        expect(trusted.locator('li[data-rule="amount_at_most_2_50"]')).to_contain_text("50 row(s) failed")
        expect(trusted.locator('li[data-rule="row_count"]')).to_contain_text("passed")
        shots.take(page, "times-quality-freshness")

        frame.get_by_role("link", name=f"{data.MANY.system}/{data.MANY.name}").click()
        section = frame.locator(f'section[data-dataset="{data.MANY.key}"]')
        expect(section.locator("tr.partition")).to_have_count(50)
        expect(section.locator("tr.partition").first).to_have_attribute("data-partition", "dt=2026-05-08")
        section.get_by_role("link", name="next").click()
        expect(section.locator(".pager")).to_contain_text("partitions 51-100 of 120 (page 2 of 3)")
        expect(section.locator("tr.partition")).to_have_count(50)
        committed = section.locator("tr.partition time").first
        expect(committed).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d GMT\+9$"))
        shots.take(page, "paged-partitions")


@pytest.mark.timeout(240)
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_lake_view_follows_the_ui_theme_and_fits_1400_pixels(
    airflow: AirflowServer, browser: Any, shots: Screenshots, scheme: str
) -> None:
    from playwright.sync_api import expect

    page = open_as(browser, airflow, color_scheme=scheme)
    with shots.on_failure(page):
        lake_in_ui(page, airflow)
        frame = frame_of(page)
        html = page.frame_locator("iframe").locator("html")  # (the page's CSP forbids wait_for_function's eval)
        expect(html).to_have_attribute("style", re.compile("--chakra-colors-bg:"))
        ui, ours = page.evaluate(UI_COLOURS), frame.evaluate(OUR_COLOURS)
        assert ui[0] is (scheme == "dark")
        assert ours == ui, f"the Lake view {ours} does not follow the UI {ui}"
        # Every details element open, long names and run ids included: nothing wider than the frame.
        frame.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        widths = frame.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert widths[0] <= widths[1], f"the Lake view overflows its frame: {widths}"
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        shots.take(page, f"theme-{scheme}")
        # Switched while the page is open (the UI follows the system's scheme): the Lake view follows at once.
        other = "light" if scheme == "dark" else "dark"
        page.emulate_media(color_scheme=other)
        expect(html).to_have_class(re.compile(rf"\b{other}\b"))
        ui, ours = page.evaluate(UI_COLOURS), frame.evaluate(OUR_COLOURS)
        assert ui[0] is (other == "dark") and ours == ui, f"after the switch: {ours} vs the UI {ui}"
        frame.goto(f"{airflow.base_url}/zaloni/lake/datasets/{data.LONG.key}")
        frame.wait_for_load_state()
        widths = frame.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert widths[0] <= widths[1], f"the dataset page overflows its frame: {widths}"


@pytest.fixture(scope="module")
def ftp_lake_server(airflow: AirflowServer) -> Iterator[tuple[str, str]]:
    """A second API server of the same deployment whose lake root is an FTP URL with a password (nobody listens
    on its port, so reading fails and the error quotes the root)."""
    from tests.servers.airflow import free_port

    port, ftp_port = free_port(), free_port()
    secret = "Lake-Pw-0f-ftp-user"
    base_url = f"http://127.0.0.1:{port}"
    airflow.start(
        "api-server-ftp-lake",
        "api-server",
        extra_env={
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": base_url,
            "AIRFLOW__ZALONI__LAKE_ROOT": f"ftp://lakeuser:{secret}@127.0.0.1:{ftp_port}/lake",
        },
    )
    airflow.wait_for("the second API server", lambda: _answers(f"{base_url}/api/v2/monitor/health"), timeout=120)
    yield base_url, secret


def _answers(url: str) -> bool:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as answer:
        return bool(answer.status == 200)


@pytest.mark.timeout(240)
def test_the_password_of_the_lake_root_is_never_shown(
    airflow: AirflowServer, browser: Any, shots: Screenshots, ftp_lake_server: tuple[str, str]
) -> None:
    from playwright.sync_api import expect

    base_url, secret = ftp_lake_server
    page = open_as(browser, airflow)  # the JWT secret is shared: the login holds for the second server too
    with shots.on_failure(page):
        answer = page.goto(f"{base_url}/zaloni/lake")
        assert answer is not None and answer.status == 503
        expect(page.get_by_role("alert")).to_contain_text("cannot read the lake at ftp://lakeuser:***@127.0.0.1:")
        expect(page.locator(".root code")).to_contain_text("ftp://lakeuser:***@127.0.0.1:")
        shots.take(page, "redacted-root")
        assert secret not in page.content()
        api = page.goto(f"{base_url}/zaloni/api/datasets")
        assert api is not None and api.status == 503 and secret not in api.text()
