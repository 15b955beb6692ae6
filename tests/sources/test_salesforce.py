"""SalesforceSource against a local HTTPS server that answers as Salesforce's REST and Bulk API 2.0 do."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import requests
import trustme
from simple_salesforce import Salesforce

from airflow_zaloni.sources.base import Source, SourceError
from airflow_zaloni.sources.salesforce import (
    ApiBudgetExceeded,
    BulkJobError,
    BulkOptions,
    SalesforceApiError,
    SalesforceClient,
    SalesforceSource,
)
from airflow_zaloni.utils.retry import RetryPolicy
from tests.servers.salesforce import (
    FakeOrg,
    SalesforceServer,
    account_fields,
    make_account,
    salesforce_server,
    sf_field,
)

pytestmark = pytest.mark.timeout(60)

FAST_RETRY = RetryPolicy(budget=5.0, initial=0.01, maximum=0.05, jitter=0.0)
FAST_BULK = BulkOptions(max_wait=5.0, poll_initial=0.01, poll_max=0.02, page_records=1000)
BASE = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)


def stamp(minutes: int) -> str:
    return (BASE + dt.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


@pytest.fixture
def org() -> FakeOrg:
    org = FakeOrg()
    org.add_object("Account", fields=account_fields(), records=[make_account(i) for i in range(4500)])
    return org


@pytest.fixture
def server(tmp_path: Path, org: FakeOrg) -> Iterator[SalesforceServer]:
    with salesforce_server(tmp_path, org) as srv:
        yield srv


def client_for(server: SalesforceServer, **kwargs: Any) -> SalesforceClient:
    kwargs.setdefault("retry", FAST_RETRY)
    kwargs.setdefault("concurrency_wait", FAST_RETRY)
    return SalesforceClient(server.connect, **kwargs)


def read(source: SalesforceSource) -> pa.Table:
    batches = list(source.batches())
    return pa.Table.from_batches(batches, schema=source.schema)


def prepare(src: SalesforceSource) -> pa.Schema:
    """Run the checks and look-ups a source makes before its first batch."""
    return src.schema


def source(
    server: SalesforceServer, sobject: str = "Account", *, client: SalesforceClient | None = None, **kwargs: Any
) -> SalesforceSource:
    kwargs.setdefault("bulk", FAST_BULK)
    return SalesforceSource(client or client_for(server), sobject, **kwargs)


# -- reading: REST and Bulk give the same, well-typed table --------------------------------------------------------


def test_rest_pages_through_next_records_url_with_mapped_types(server: SalesforceServer, org: FakeOrg) -> None:
    src = source(server, api="rest", incremental=False)
    assert isinstance(src, Source)
    table = read(src)

    assert table.num_rows == 4500
    assert org.count("GET", "/query/01g") == 2  # the first page, then two nextRecordsUrl pages
    schema = table.schema
    assert schema.field("AnnualRevenue").type == pa.decimal128(18, 2)
    assert schema.field("Discount__c").type == pa.decimal128(5, 2)
    assert schema.field("NumberOfEmployees").type == pa.int64()
    assert schema.field("Rating__c").type == pa.float64()
    assert schema.field("IsActive__c").type == pa.bool_()
    assert schema.field("FoundedOn__c").type == pa.date32()
    assert schema.field("OpensAt__c").type == pa.time32("ms")
    assert schema.field("SystemModstamp").type == pa.timestamp("ms", tz="UTC")
    assert schema.field("Industries__c").type == pa.list_(pa.string())
    row = table.slice(7, 1).to_pylist()[0]
    assert row["Id"] == "001D00000000000007"
    assert row["AnnualRevenue"] == Decimal("1007.25")
    assert row["Industries__c"] == ["Energy", "Retail"]
    assert row["OpensAt__c"] == dt.time(9, 30)
    assert row["FoundedOn__c"] == dt.date(1999, 12, 31)
    assert row["SystemModstamp"] == BASE + dt.timedelta(minutes=7)
    assert row["IsActive__c"] is False


def test_describe_lists_skipped_and_flattened_fields(server: SalesforceServer) -> None:
    src = source(server, api="rest")
    described = src.describe()
    names = src.schema.names

    assert "Logo__c" not in names and "BillingAddress" not in names
    assert {"BillingStreet", "BillingCity", "BillingPostalCode", "BillingCountry"} <= set(names)
    assert described["skipped_fields"] == [
        {
            "field": "Logo__c",
            "type": "base64",
            "reason": "base64 field skipped (set include_base64=True to land it, REST API)",
        }
    ]
    assert described["flattened_fields"]["BillingAddress"][0] == "BillingStreet"
    assert described["expected_records"] == 4500


def test_bulk_job_pages_results_by_locator_and_matches_rest(server: SalesforceServer, org: FakeOrg) -> None:
    rest = read(source(server, api="rest", incremental=False))
    bulk = read(source(server, api="bulk", incremental=False))

    assert org.count("POST", "/jobs/query") == 1
    assert org.count("GET", "/results") == 5  # 4500 records, maxRecords=1000
    assert org.count("DELETE", "/jobs/query/") == 1  # the finished job is cleaned up
    assert bulk.equals(rest)


def test_auto_picks_rest_for_small_and_bulk_for_large_reads(server: SalesforceServer, org: FakeOrg) -> None:
    assert read(source(server, bulk_threshold=5000)).num_rows == 4500
    assert org.count("POST", "/jobs/query") == 0

    small = source(server, bulk_threshold=4000)
    assert read(small).num_rows == 4500
    assert small.describe()["api"] == "bulk"
    assert org.count("POST", "/jobs/query") == 1


def test_only_chosen_fields_plus_the_cursor_are_selected(server: SalesforceServer) -> None:
    src = source(server, fields=["Id", "Name"], api="rest")
    table = read(src)
    assert table.column_names == ["Id", "Name", "SystemModstamp"]
    assert src.soql().startswith("SELECT Id, Name, SystemModstamp FROM Account WHERE SystemModstamp <= ")


def test_unknown_field_is_named(server: SalesforceServer) -> None:
    with pytest.raises(SourceError, match=r"Account has no field\(s\) 'Revenue__c'"):
        prepare(source(server, fields=["Id", "Revenue__c"]))


# -- incremental -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("api", ["rest", "bulk"])
def test_incremental_reads_after_the_watermark_and_reports_the_new_one(server: SalesforceServer, api: str) -> None:
    src = source(server, api=api, watermark="2024-01-04T10:00:00.000Z")  # minute 4920 is after the last record
    assert read(src).num_rows == 0
    assert src.cursor == "2024-01-04T10:00:00.000Z"  # nothing new: the watermark stays

    src = source(server, api=api, watermark=stamp(4000)[:19] + "Z")
    table = read(src)
    assert table.num_rows == 499  # minutes 4001..4499
    assert src.cursor == "2024-01-04T02:59:00.000Z"  # minute 4499

    with_lookback = source(server, api=api, watermark=stamp(4000)[:19] + "Z", lookback=dt.timedelta(minutes=10))
    assert read(with_lookback).num_rows == 509


def test_cursor_falls_back_to_last_modified_then_created_date(tmp_path: Path) -> None:
    org = FakeOrg()
    no_stamp = [f for f in account_fields() if f["name"] != "SystemModstamp"]
    created_only = [f for f in no_stamp if f["name"] != "LastModifiedDate"]
    org.add_object("Note__c", fields=no_stamp, records=[make_account(i) for i in range(10)])
    org.add_object("Log__c", fields=created_only, records=[make_account(i) for i in range(10)])
    org.add_object(
        "Plain__c", fields=[sf_field("Id", "id"), sf_field("Name", "string")], records=[{"Id": "a", "Name": "x"}]
    )
    with salesforce_server(tmp_path, org) as srv:
        note = source(srv, "Note__c", watermark=stamp(5)[:19] + "Z")
        assert read(note).num_rows == 4
        assert note.describe()["cursor_field"] == "LastModifiedDate"
        log = source(srv, "Log__c", watermark=stamp(5)[:19] + "Z")
        assert read(log).num_rows == 4
        assert log.describe()["cursor_field"] == "CreatedDate"
        plain = source(srv, "Plain__c", watermark="2024-01-01T00:00:00Z")
        assert read(plain).num_rows == 1
        assert plain.cursor is None  # not incremental: no watermark to commit


@pytest.mark.parametrize("api", ["rest", "bulk"])
def test_include_deleted_reads_query_all_with_is_deleted(server: SalesforceServer, org: FakeOrg, api: str) -> None:
    records = org.objects["account"].records
    for i in (3, 4, 5):
        records[i]["IsDeleted"] = True  # type: ignore[index]

    live = read(source(server, api=api, incremental=False))
    everything = read(source(server, api=api, incremental=False, include_deleted=True))

    assert live.num_rows == 4497
    assert everything.num_rows == 4500
    deleted = everything.filter(everything["IsDeleted"]).column("Id").to_pylist()
    assert deleted == ["001D00000000000003", "001D00000000000004", "001D00000000000005"]
    path = "/queryAll/" if api == "rest" else "/jobs/query"
    assert org.count("GET" if api == "rest" else "POST", path) >= 1


# -- base64 and compound fields --------------------------------------------------------------------------------------


def test_base64_is_landed_by_option_over_rest_and_listed_when_bulk_cannot(tmp_path: Path) -> None:
    org = FakeOrg()
    fields = [
        sf_field("Id", "id"),
        sf_field("Name", "string"),
        sf_field("Body", "base64"),
        sf_field("SystemModstamp", "datetime"),
    ]
    records = [
        {
            "Id": f"015D{i:014d}",
            "Name": f"doc{i}",
            "Body": bytes([i]) * (i + 1) if i % 2 else None,
            "SystemModstamp": stamp(i),
        }
        for i in range(5)
    ]
    org.add_object("Document", fields=fields, records=records)
    with salesforce_server(tmp_path, org) as srv:
        rest = source(srv, "Document", include_base64=True)
        table = read(rest)
        assert rest.describe()["api"] == "rest"  # auto: only REST can return blobs
        assert table.column("Body").to_pylist() == [None, b"\x01\x01", None, b"\x03" * 4, None]
        assert org.count("GET", "/Body") == 2  # one GET per blob

        bulk = source(srv, "Document", include_base64=True, api="bulk")
        assert "Body" not in read(bulk).column_names
        assert (
            bulk.describe()["skipped_fields"][0]["reason"] == "Bulk API 2.0 cannot return base64 fields "
            "(use api='rest')"
        )


def test_compound_location_without_components_is_flattened_over_rest(tmp_path: Path) -> None:
    org = FakeOrg()
    fields = [sf_field("Id", "id"), sf_field("Site__c", "location")]
    records = [{"Id": "a01", "Site__c": {"latitude": 48.85, "longitude": 2.35}}, {"Id": "a02", "Site__c": None}]
    org.add_object("Store__c", fields=fields, records=records)
    with salesforce_server(tmp_path, org) as srv:
        table = read(source(srv, "Store__c", api="rest"))
        assert table.column_names == ["Id", "Site__c_latitude", "Site__c_longitude"]
        assert table.column("Site__c_latitude").to_pylist() == [48.85, None]
        bulk = source(srv, "Store__c", api="bulk")
        assert read(bulk).column_names == ["Id"]
        assert bulk.describe()["skipped_fields"][0]["field"] == "Site__c"


# -- bad data --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("api", ["rest", "bulk"])
def test_a_value_that_does_not_convert_names_record_field_and_value(
    server: SalesforceServer, org: FakeOrg, api: str
) -> None:
    org.objects["account"].records[2500]["NumberOfEmployees"] = "twelve"  # type: ignore[index]
    with pytest.raises(
        SourceError,
        match=r"Account record 2501: field 'NumberOfEmployees' \(int -> int64\) has "
        r"the value 'twelve'",
    ):
        read(source(server, api=api, incremental=False))


def test_object_that_is_not_queryable_is_refused(tmp_path: Path) -> None:
    org = FakeOrg()
    org.add_object("Secret__c", fields=[sf_field("Id", "id")], records=[], queryable=False)
    with salesforce_server(tmp_path, org) as srv, pytest.raises(SourceError, match="not queryable"):
        prepare(source(srv, "Secret__c"))


# -- API budget ------------------------------------------------------------------------------------------------------


def test_budget_refuses_to_start_past_the_configured_share(server: SalesforceServer, org: FakeOrg) -> None:
    org.daily_api_max, org.api_used = 1000, 850
    with pytest.raises(
        ApiBudgetExceeded,
        match=r"used 85\d of its 1000 daily API requests; the configured limit is 80% \(800\)\. "
        r"Stopped before starting",
    ):
        prepare(source(server, client=client_for(server, max_api_share=0.8)))
    assert org.count("GET", "/query/") == 0


def test_budget_counts_the_requests_the_read_needs(server: SalesforceServer, org: FakeOrg) -> None:
    org.daily_api_max, org.api_used = 1000, 795  # 3 REST pages would cross 800
    with pytest.raises(ApiBudgetExceeded, match="this read needs about 4 more"):
        prepare(source(server, api="rest", client=client_for(server, max_api_share=0.8)))


def test_budget_stops_mid_read_when_the_org_fills_up(server: SalesforceServer, org: FakeOrg) -> None:
    org.daily_api_max = 1000
    src = source(server, api="rest", page_size=200, client=client_for(server, max_api_share=0.8))  # 23 pages
    batches = src.batches()
    next(batches)
    org.api_used = 900  # other integrations used the org meanwhile
    with pytest.raises(ApiBudgetExceeded, match="Stopped while reading"):
        list(batches)


# -- retries, concurrency, sessions ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"),
    [(503, "SERVER_UNAVAILABLE"), (400, "UNABLE_TO_LOCK_ROW"), (400, "QUERY_TIMEOUT"), (500, "UNKNOWN_EXCEPTION")],
)
def test_transient_errors_are_retried(server: SalesforceServer, org: FakeOrg, status: int, code: str) -> None:
    org.fail("GET", "/query/01g", status, code, "try again", times=2)
    assert read(source(server, api="rest", incremental=False)).num_rows == 4500
    assert org.count("GET", "/query/01g") == 4


def test_retries_give_up_with_the_salesforce_error(server: SalesforceServer, org: FakeOrg) -> None:
    org.fail("GET", "/describe", 503, "SERVER_UNAVAILABLE", "maintenance", times=1000)
    client = client_for(server, retry=RetryPolicy(budget=0.3, initial=0.05, maximum=0.05, jitter=0.0))
    with pytest.raises(
        SalesforceApiError,
        match=r"describe Account: HTTP 503 SERVER_UNAVAILABLE: maintenance "
        r"\(gave up after \d+ attempts",
    ):
        prepare(source(server, client=client))


def test_concurrency_limit_is_waited_out(server: SalesforceServer, org: FakeOrg) -> None:
    org.fail("POST", "/jobs/query", 403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded.", times=3)
    assert read(source(server, api="bulk", incremental=False)).num_rows == 4500
    assert org.count("POST", "/jobs/query") == 4


def test_daily_limit_exceeded_is_not_retried(server: SalesforceServer, org: FakeOrg) -> None:
    org.fail("GET", "/describe", 403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", times=5)
    with pytest.raises(SalesforceApiError, match="REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded"):
        prepare(source(server))
    assert org.count("GET", "/describe") == 1


def test_expired_session_is_renewed_once(server: SalesforceServer, org: FakeOrg) -> None:
    client = client_for(server)
    # The session expires in the middle of the read: the request for the second page (a nextRecordsUrl, which
    # ends in "-2000") is refused as Salesforce refuses an expired session. Injected on that request rather than
    # timed from the test, because the source fetches the next page while the current one is converted.
    org.fail("GET", "-2000", 401, "INVALID_SESSION_ID", "Session expired or invalid")
    batches = list(source(server, api="rest", incremental=False, client=client).batches())
    assert sum(b.num_rows for b in batches) == 4500
    assert client.reauthentications == 1
    assert org.count("POST", "/oauth2/token") == 2


def test_fixed_session_that_expired_is_a_clear_error(server: SalesforceServer, org: FakeOrg) -> None:
    import requests

    token = org.issue_token()
    session = requests.Session()
    session.verify, session.trust_env = server.ca_path, False

    def fixed() -> Salesforce:
        return Salesforce(instance_url=server.instance_url, session_id=token, session=session, version="59.0")

    client = SalesforceClient(fixed, retry=FAST_RETRY)
    org.expire_sessions()
    with pytest.raises(SalesforceApiError, match=r"INVALID_SESSION_ID.*still refused after re-authenticating"):
        prepare(source(server, client=client))
    assert client.reauthentications == 1


# -- bulk job life ---------------------------------------------------------------------------------------------------


def test_stuck_bulk_job_is_aborted_after_the_bounded_wait(server: SalesforceServer, org: FakeOrg) -> None:
    org.bulk_stuck = True
    options = BulkOptions(max_wait=0.3, poll_initial=0.02, poll_max=0.05)
    with pytest.raises(BulkJobError, match=r"still InProgress after 0s \(max_wait 0s\); aborted it"):
        read(source(server, api="bulk", bulk=options))
    assert [job.state for job in org.jobs.values()] == ["Aborted"]


def test_failed_bulk_job_reports_salesforce_message(server: SalesforceServer, org: FakeOrg) -> None:
    src = source(server, api="bulk", incremental=False)
    prepare(src)
    org.fail("GET", "/results", 400, "INVALIDSTATUS", "job data expired", times=1)
    with pytest.raises(SalesforceApiError, match=r"results page 1 of Bulk API 2\.0 job .*: HTTP 400 INVALIDSTATUS"):
        read(src)


def test_bulk_query_timeout_is_split_into_date_windows(server: SalesforceServer, org: FakeOrg) -> None:
    org.bulk_timeout_above = 1200
    src = source(server, api="bulk", min_window=dt.timedelta(minutes=1))
    table = read(src)

    ids = table.column("Id").to_pylist()
    assert len(ids) == 4500 and len(set(ids)) == 4500
    assert src.cursor == "2024-01-04T02:59:00.000Z"
    states = [job.state for job in org.jobs.values()]  # finished jobs were deleted; failed ones stay
    assert states and set(states) == {"Failed"}


def test_bulk_timeout_narrower_than_min_window_gives_up(server: SalesforceServer, org: FakeOrg) -> None:
    org.bulk_timeout_above = 10
    with pytest.raises(SourceError, match=r"QUERY_TIMEOUT.*min_window 1 day"):
        read(source(server, api="bulk", min_window=dt.timedelta(days=1)))


@pytest.mark.parametrize("cleanly", [False, True], ids=["connection-drops", "body-ends-short"])
def test_results_page_broken_off_mid_stream_is_read_again_without_duplicates(
    server: SalesforceServer, org: FakeOrg, cleanly: bool
) -> None:
    org.break_results_after, org.break_results_times, org.break_results_cleanly = 150_000, 1, cleanly
    options = BulkOptions(max_wait=5.0, poll_initial=0.01, page_records=4000, block_size=64 << 10)
    table = read(source(server, api="bulk", incremental=False, bulk=options))
    ids = table.column("Id").to_pylist()
    assert len(ids) == 4500 and len(set(ids)) == 4500
    assert org.count("GET", "/results") == 3  # page 1 twice, page 2 once


def test_count_that_times_out_means_large_and_is_not_retried(server: SalesforceServer, org: FakeOrg) -> None:
    org.fail("GET", "/query/", 400, "QUERY_TIMEOUT", "Your query request was running for too long.", times=1)
    src = source(server, incremental=False)
    assert read(src).num_rows == 4500
    assert src.describe()["api"] == "bulk"
    assert src.describe()["expected_records"] is None
    assert org.count("GET", "/v59.0/query/") == 1  # the COUNT() was asked once, then the bulk job ran


def test_no_bulk_jobs_left_today(server: SalesforceServer, org: FakeOrg) -> None:
    org.bulk_jobs_left_today = 0
    auto = source(server, bulk_threshold=10, client=client_for(server, max_api_share=1.0))
    assert read(auto).num_rows == 4500
    assert auto.describe()["api"] == "rest"
    with pytest.raises(SourceError, match=r"no Bulk API 2\.0 query jobs left today"):
        prepare(source(server, api="bulk", client=client_for(server, max_api_share=1.0)))


# -- TLS: a certificate problem is not a network blip (issue 18) ------------------------------------------------------


def fixed_session_client(server: SalesforceServer, verify: str, **kwargs: Any) -> SalesforceClient:
    """A client on a simple-salesforce session whose CA setting is ``verify`` (trust_env left on, as by default)."""

    def connect() -> Salesforce:
        session = requests.Session()
        session.verify = verify
        return Salesforce(
            instance_url=server.instance_url, session_id=server.org.issue_token(), session=session, version="59.0"
        )

    return SalesforceClient(connect, retry=kwargs.get("retry", FAST_RETRY), concurrency_wait=FAST_RETRY)


def test_a_certificate_failure_fails_at_once_naming_host_and_problem(server: SalesforceServer, tmp_path: Path) -> None:
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    client = fixed_session_client(server, str(other_ca), retry=RetryPolicy(budget=3.0, initial=0.01, maximum=0.05))
    host = server.instance_url.removeprefix("https://")
    with pytest.raises(SourceError, match=rf"TLS with {host} failed: certificate verify failed: unable to get local"):
        client.limits()
    assert client.requests_sent == 1  # not retried: another attempt cannot cure a certificate


def test_the_sessions_ca_wins_over_ca_bundle_variables(
    server: SalesforceServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other_ca))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(other_ca))
    client = fixed_session_client(server, server.ca_path)
    assert "DailyApiRequests" in client.limits()
