"""SalesforceToLakeOperator through Airflow's SalesforceHook against the local HTTPS Salesforce server."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from airflow_zaloni.lake import DatasetRef, Lake
from airflow_zaloni.operators.salesforce import SalesforceToLakeOperator
from airflow_zaloni.sources.base import SourceError
from airflow_zaloni.sources.salesforce import ApiBudgetExceeded
from tests.servers.salesforce import (
    API_VERSION,
    CLIENT_ID,
    CLIENT_SECRET,
    PASSWORD,
    USERNAME,
    FakeOrg,
    SalesforceServer,
    account_fields,
    hook_domain,
    make_account,
    salesforce_server,
)

pytestmark = pytest.mark.timeout(90)

REPO = Path(__file__).resolve().parents[2]
DAY1 = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
ACCOUNTS = DatasetRef("raw", "salesforce", "accounts")


def stamp(minutes: int) -> str:
    base = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    return (base + dt.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def connection(server: SalesforceServer) -> str:
    """A ``salesforce`` connection as a user writes it: OAuth username-password flow of a connected app."""
    extra = {
        "consumer_key": CLIENT_ID,
        "consumer_secret": CLIENT_SECRET,
        "domain": hook_domain(server.instance_url),
        "version": API_VERSION,
    }
    return json.dumps({"conn_type": "salesforce", "login": USERNAME, "password": PASSWORD, "extra": extra})


@pytest.fixture
def org() -> FakeOrg:
    org = FakeOrg()
    org.add_object("Account", fields=account_fields(), records=[make_account(i) for i in range(300)])
    return org


@pytest.fixture
def server(tmp_path: Path, org: FakeOrg, monkeypatch: pytest.MonkeyPatch) -> Iterator[SalesforceServer]:
    with salesforce_server(tmp_path, org) as srv:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", srv.ca_path)  # SalesforceHook's session trusts the test CA
        monkeypatch.setenv("AIRFLOW_CONN_SF_TEST", connection(srv))
        yield srv


def operator(lake_root: Path, **kwargs: Any) -> SalesforceToLakeOperator:
    return SalesforceToLakeOperator(
        task_id="land",
        salesforce_conn_id="sf_test",
        sobject="Account",
        dataset="accounts",
        lake_root=str(lake_root),
        bulk_poll_interval=0.01,
        **kwargs,
    )


def run(op: SalesforceToLakeOperator, day: dt.datetime = DAY1) -> dict[str, Any]:
    context = {
        "data_interval_start": day,
        "data_interval_end": day + dt.timedelta(days=1),
        "run_id": f"r{day:%d}",
        "ti": None,
    }
    return op.execute(context)  # type: ignore[arg-type]


def test_lands_incrementally_with_deleted_records_and_lookback(
    server: SalesforceServer, org: FakeOrg, lake_root: Path
) -> None:
    op = operator(lake_root, include_deleted=True, lookback=300)
    assert op.outlets[0].uri == "zaloni://lake/raw/salesforce/accounts"
    first = run(op)
    assert first["rows"] == 300
    assert first["watermark"] == "2024-01-01T04:59:00.000Z"  # minute 299

    records = org.objects["account"].records
    records[10]["SystemModstamp"] = stamp(1000)  # type: ignore[index]
    records[11].update(IsDeleted=True, SystemModstamp=stamp(1001))  # type: ignore[union-attr]
    second = run(operator(lake_root, include_deleted=True, lookback=300), DAY1 + dt.timedelta(days=1))

    lake = Lake(str(lake_root))
    table = lake.read_table(ACCOUNTS, partition=second["partition"])
    # minutes 295..299 again (5-minute lookback), plus the two changed records; the deleted one is flagged
    assert sorted(table.column("Id").to_pylist()) == sorted(
        [f"001D{i:014d}" for i in (10, 11, 295, 296, 297, 298, 299)]
    )
    assert table.filter(table["IsDeleted"]).column("Id").to_pylist() == ["001D00000000000011"]
    assert second["watermark"] == "2024-01-01T16:41:00.000Z"  # minute 1001
    manifest = lake.manifest(ACCOUNTS, second["partition"])
    assert manifest is not None
    source = manifest["source"]
    assert source["skipped_fields"][0]["field"] == "Logo__c"
    assert source["watermark_before"] == "2024-01-01T04:59:00.000Z"


def test_bulk_api_through_the_hook(server: SalesforceServer, org: FakeOrg, lake_root: Path) -> None:
    summary = run(operator(lake_root, api="bulk", fields="Id, Name,AnnualRevenue"))
    assert summary["rows"] == 300
    assert org.count("POST", "/jobs/query") == 1
    table = Lake(str(lake_root)).read_table(ACCOUNTS)
    assert table.column_names == ["Id", "Name", "AnnualRevenue", "SystemModstamp"]


def test_over_budget_publishes_nothing_and_keeps_the_watermark(
    server: SalesforceServer, org: FakeOrg, lake_root: Path
) -> None:
    run(operator(lake_root))
    lake = Lake(str(lake_root))
    before = lake.watermark(ACCOUNTS)
    org.objects["account"].records[0]["SystemModstamp"] = stamp(5000)  # type: ignore[index]
    org.daily_api_max, org.api_used = 1000, 900
    with pytest.raises(ApiBudgetExceeded, match="nothing was published"):
        run(operator(lake_root, max_api_share=0.8), DAY1 + dt.timedelta(days=1))
    assert lake.partitions(ACCOUNTS) == ["dt=2026-11-01"]
    assert lake.watermark(ACCOUNTS) == before


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="api must be 'auto', 'rest' or 'bulk'"):
        SalesforceToLakeOperator(task_id="t", sobject="Account", dataset="a", api="soap")
    with pytest.raises(ValueError, match=r"max_api_share must be in \(0, 1\]"):
        SalesforceToLakeOperator(task_id="t", sobject="Account", dataset="a", max_api_share=1.5)


def test_example_dag_is_skipped_without_a_connection(airflow_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.airflow_helpers import run_dag

    monkeypatch.delenv("AIRFLOW_CONN_SALESFORCE_DEFAULT", raising=False)
    dag_run = run_dag(REPO / "example_dags" / "salesforce_ingest.py")
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert states == {"check_connection": "skipped", "land_accounts": "skipped"}


def test_example_dag_lands_accounts_with_a_connection(
    airflow_db: Path, tmp_path: Path, server: SalesforceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.airflow_helpers import run_dag

    lake_root = tmp_path / "example-lake"
    monkeypatch.setenv("AIRFLOW__ZALONI__LAKE_ROOT", str(lake_root))
    monkeypatch.setenv("AIRFLOW_CONN_SALESFORCE_DEFAULT", connection(server))
    dag_run = run_dag(REPO / "example_dags" / "salesforce_ingest.py")
    assert {ti.task_id: ti.state for ti in dag_run.get_task_instances()} == {
        "check_connection": "success",
        "land_accounts": "success",
    }
    assert Lake(str(lake_root)).read_table(ACCOUNTS).num_rows == 300


def test_missing_connection_skips_with_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.exceptions import AirflowSkipException

    from airflow_zaloni.utils.connections import require_connection

    monkeypatch.delenv("AIRFLOW_CONN_SALESFORCE_DEFAULT", raising=False)
    with pytest.raises(AirflowSkipException, match="No Airflow connection 'salesforce_default': add one of type"):
        require_connection("salesforce_default", "type 'salesforce'")


def test_the_connections_verify_extra_is_the_ca_and_a_bad_certificate_fails_at_once(
    server: SalesforceServer, lake_root: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    # The environment points elsewhere; the connection's own CA bundle is what the login and every call use.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other_ca))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(other_ca))
    conn = json.loads(connection(server))
    conn["extra"]["verify"] = server.ca_path
    monkeypatch.setenv("AIRFLOW_CONN_SF_TEST", json.dumps(conn))
    assert run(operator(lake_root))["rows"] == 300
    conn["extra"]["verify"] = str(other_ca)
    monkeypatch.setenv("AIRFLOW_CONN_SF_TEST", json.dumps(conn))
    host = server.instance_url.removeprefix("https://")
    with pytest.raises(SourceError, match=rf"TLS with {host} failed: certificate verify failed"):
        run(operator(lake_root), DAY1 + dt.timedelta(days=1))
