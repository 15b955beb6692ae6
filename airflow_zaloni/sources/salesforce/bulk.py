"""Bulk API 2.0 query jobs: create, poll with bounded backoff, stream the CSV result pages into Arrow.

Results come in pages chained by the ``Sforce-Locator`` response header (the literal ``null`` ends the chain);
each page is parsed by Arrow's streaming CSV reader straight from the socket, so memory holds one CSV block and
one batch, whatever the job's size; a page that breaks off or ends short of its ``Sforce-NumberOfRecords`` is read
again, skipping the rows already delivered. A job that stays queued or in progress beyond ``max_wait`` is aborted. A job
that Salesforce fails because the query ran too long raises :class:`BulkJobError` with ``timed_out=True``, so the
caller can retry it in narrower date windows.
"""

from __future__ import annotations

import http.client
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import urllib3.exceptions

from airflow_zaloni.sources.base import SourceError
from airflow_zaloni.sources.salesforce.client import SalesforceClient
from airflow_zaloni.sources.salesforce.convert import strings_to_batch
from airflow_zaloni.sources.salesforce.errors import BulkJobError, SalesforceApiError
from airflow_zaloni.sources.salesforce.schema import FieldPlan

log = logging.getLogger(__name__)

#: What a page read raises when the connection breaks off (re-read) or the CSV is malformed (not).
_STREAM_ERRORS = (OSError, pa.ArrowInvalid, urllib3.exceptions.HTTPError, http.client.HTTPException)
_RUNNING = {"Open", "UploadComplete", "InProgress"}
#: Phrases of a Failed job's errorMessage that mean "the query took too long" (narrower windows may pass).
_TIMEOUT_HINTS = ("timeout", "timed out", "retried more than")


@dataclass(frozen=True)
class BulkOptions:
    """How to run a Bulk API 2.0 query job.

    :param max_wait: seconds a job may take to complete before it is aborted.
    :param poll_initial: first delay between two status checks; it grows by ``poll_factor`` up to ``poll_max``.
    :param page_records: ``maxRecords`` per result page.
    :param block_size: bytes of CSV that Arrow parses at a time (bounds memory together with ``page_records``).
    :param page_rereads: how often a result page that broke off mid-stream is read again (skipping the rows
        already delivered) before giving up.
    """

    max_wait: float = 3600.0
    poll_initial: float = 2.0
    poll_factor: float = 1.5
    poll_max: float = 30.0
    page_records: int = 250_000
    block_size: int = 1 << 20
    page_rereads: int = 3


def bulk_batches(
    client: SalesforceClient, soql: str, plan: FieldPlan, *, include_deleted: bool, options: BulkOptions = BulkOptions()
) -> Iterator[pa.RecordBatch]:
    """Run ``soql`` as a Bulk API 2.0 query job and yield its result as Arrow batches typed by ``plan``."""
    jobs = client.data_path("jobs/query")
    job: dict[str, Any] = client.request(
        "POST",
        jobs,
        what=f"create Bulk API 2.0 query job for {plan.sobject}",
        json={
            "operation": "queryAll" if include_deleted else "query",
            "query": soql,
            "contentType": "CSV",
            "columnDelimiter": "COMMA",
            "lineEnding": "LF",
        },
    ).json()
    job_id = str(job["id"])
    log.info("Bulk API 2.0 query job %s created for %s (%s)", job_id, plan.sobject, job.get("operation"))
    settled = False  # the job needs no abort: it completed, failed, or was aborted already
    try:
        try:
            _wait_for_job(client, job_id, plan.sobject, options)
        except BulkJobError:
            settled = True
            raise
        settled = True
        yield from _result_batches(client, job_id, plan, options)
        _delete_quietly(client, job_id)
    finally:
        if not settled:  # interrupted while the job runs (task killed, budget stop, network): do not leave it running
            _abort_quietly(client, job_id)


def _wait_for_job(client: SalesforceClient, job_id: str, sobject: str, options: BulkOptions) -> dict[str, Any]:
    path = client.data_path(f"jobs/query/{job_id}")
    started = time.monotonic()
    delay = options.poll_initial
    while True:
        info: dict[str, Any] = client.get_json(path, what=f"status of Bulk API 2.0 job {job_id}")
        state = str(info.get("state"))
        if state == "JobComplete":
            log.info("Bulk API 2.0 job %s complete: %s records", job_id, info.get("numberRecordsProcessed"))
            return info
        if state in ("Failed", "Aborted"):
            message = str(info.get("errorMessage") or "no errorMessage given")
            raise BulkJobError(
                f"Bulk API 2.0 query job {job_id} on {sobject} ended {state}: {message}",
                job_id=job_id,
                state=state,
                timed_out=any(h in message.lower() for h in _TIMEOUT_HINTS),
            )
        if state not in _RUNNING:
            raise BulkJobError(f"Bulk API 2.0 job {job_id}: unknown state {state!r}", job_id=job_id, state=state)
        waited = time.monotonic() - started
        if waited >= options.max_wait:
            _abort_quietly(client, job_id)
            raise BulkJobError(
                f"Bulk API 2.0 query job {job_id} on {sobject} still {state} after {waited:.0f}s "
                f"(max_wait {options.max_wait:.0f}s); aborted it. Narrow the query or raise the wait.",
                job_id=job_id,
                state=state,
            )
        time.sleep(min(delay, max(options.max_wait - waited, 0.0)))
        delay = min(delay * options.poll_factor, options.poll_max)


def _result_batches(
    client: SalesforceClient, job_id: str, plan: FieldPlan, options: BulkOptions
) -> Iterator[pa.RecordBatch]:
    path = client.data_path(f"jobs/query/{job_id}/results")
    names = [c.name for c in plan.columns]
    locator: str | None = None
    record_no = 1
    page = 1
    while True:
        params: dict[str, Any] = {"maxRecords": options.page_records}
        if locator:
            params["locator"] = locator
        delivered = 0
        for attempt in range(options.page_rereads + 1):
            response = client.request(
                "GET",
                path,
                params=params,
                stream=True,
                headers={"Accept": "text/csv"},
                what=f"results page {page} of Bulk API 2.0 job {job_id}",
            )
            try:
                seen = 0
                for raw in _csv_batches(response, names, options):
                    # After a re-read, skip the rows that were already delivered from this page.
                    fresh = raw.slice(max(0, delivered - seen)) if seen < delivered else raw
                    seen += raw.num_rows
                    if fresh.num_rows:
                        yield strings_to_batch(fresh, plan, record_no)
                        record_no += fresh.num_rows
                        delivered += fresh.num_rows
                announced = response.headers.get("Sforce-NumberOfRecords", "")
                if announced.isdigit() and int(announced) != delivered:
                    # A body that ends cleanly but short (a proxy, a dropped stream) must not lose rows silently.
                    raise ConnectionError(f"page ended after {delivered} of {announced} records")
                next_locator = response.headers.get("Sforce-Locator")
                break
            except _STREAM_ERRORS as exc:
                # A dropped connection, a body cut short (often mid-line, so also a CSV error): read the page again.
                if attempt == options.page_rereads:
                    raise SourceError(
                        f"Bulk API 2.0 job {job_id}, results page {page} (locator {locator or 'first'}): "
                        f"cannot read the CSV after record {record_no - 1}: {exc}"
                    ) from exc
                log.warning(
                    "results page %d of job %s broke off after %d rows (%s); reading it again",
                    page,
                    job_id,
                    delivered,
                    exc,
                )
            finally:
                response.close()
        if not next_locator or next_locator == "null":
            return
        locator, page = next_locator, page + 1


def _csv_batches(response: Any, names: list[str], options: BulkOptions) -> Iterator[pa.RecordBatch]:
    response.raw.decode_content = True  # gunzip on the fly when Salesforce compresses the page
    reader = pa_csv.open_csv(
        response.raw,
        read_options=pa_csv.ReadOptions(block_size=options.block_size),
        parse_options=pa_csv.ParseOptions(newlines_in_values=True),
        convert_options=pa_csv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )
    yield from reader


def _abort_quietly(client: SalesforceClient, job_id: str) -> None:
    try:
        client.request(
            "PATCH",
            client.data_path(f"jobs/query/{job_id}"),
            json={"state": "Aborted"},
            what=f"abort Bulk API 2.0 job {job_id}",
        )
        log.warning("Bulk API 2.0 job %s aborted", job_id)
    except (SalesforceApiError, SourceError) as exc:
        log.warning("could not abort Bulk API 2.0 job %s: %s", job_id, exc)


def _delete_quietly(client: SalesforceClient, job_id: str) -> None:
    try:
        client.request("DELETE", client.data_path(f"jobs/query/{job_id}"), what=f"delete Bulk API 2.0 job {job_id}")
    except (SalesforceApiError, SourceError) as exc:
        log.info("could not delete finished Bulk API 2.0 job %s (Salesforce removes it after 7 days): %s", job_id, exc)
