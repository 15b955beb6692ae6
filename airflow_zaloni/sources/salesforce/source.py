"""SalesforceSource: any Salesforce object as Arrow batches, incremental, within the org's API limits.

Before the first batch the source reads ``/limits`` (API budget), ``describe`` (schema and field choice) and
``SELECT COUNT()`` (expected rows), then picks the REST API for small reads and Bulk API 2.0 for large ones unless
told which. Incremental reads filter on the cursor field (SystemModstamp, else LastModifiedDate, else CreatedDate)
from the last watermark minus a lookback up to the moment the read started; the largest cursor value read becomes
the new watermark, which the lake commits together with the data.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from airflow_zaloni.sources.base import SourceError
from airflow_zaloni.sources.salesforce.bulk import BulkOptions, bulk_batches
from airflow_zaloni.sources.salesforce.client import SalesforceClient
from airflow_zaloni.sources.salesforce.errors import BulkJobError, SalesforceApiError
from airflow_zaloni.sources.salesforce.rest import MAX_PAGE_SIZE, count_records, rest_batches, rest_query_pages
from airflow_zaloni.sources.salesforce.schema import Api, FieldPlan, cursor_field, has_base64, plan_fields

log = logging.getLogger(__name__)

ApiChoice = Literal["auto", "rest", "bulk"]

#: Expected record count from which ``api="auto"`` uses Bulk API 2.0.
DEFAULT_BULK_THRESHOLD = 50_000


class SalesforceSource:
    """Reads one Salesforce object (see the module docstring).

    :param client: a :class:`SalesforceClient` (it carries retries, re-authentication and the API budget).
    :param sobject: API name of the object, e.g. ``Account`` or ``Invoice__c``.
    :param fields: field API names to read; None reads every field of the object.
    :param where: extra SOQL condition ANDed to the query (without the ``WHERE`` keyword).
    :param api: ``"rest"``, ``"bulk"`` or ``"auto"`` (bulk from ``bulk_threshold`` expected records on).
    :param incremental: filter on the cursor field from ``watermark``; False reads everything every time.
    :param cursor_field: the cursor; default SystemModstamp, else LastModifiedDate, else CreatedDate.
    :param watermark: the cursor value the previous run reached (ISO 8601 text) or None for a first full read.
    :param until: inclusive upper bound of the cursor (a re-run replaying an earlier range); default: the moment
        the read starts, so that records changing during the read are left to the next run.
    :param lookback: how far before the watermark to start again, for records committed late.
    :param include_deleted: read deleted and archived records too (``queryAll``), with the ``IsDeleted`` column.
    :param include_base64: land base64 (blob) fields as binary columns; REST only, one extra request per blob.
    :param page_size: records per REST page (200..2000).
    :param bulk: options of Bulk API 2.0 jobs (wait, polling, page size).
    :param min_window: narrowest date window into which a timing-out bulk query is split before giving up.
    """

    def __init__(
        self,
        client: SalesforceClient,
        sobject: str,
        *,
        fields: list[str] | None = None,
        where: str | None = None,
        api: ApiChoice = "auto",
        bulk_threshold: int = DEFAULT_BULK_THRESHOLD,
        incremental: bool = True,
        cursor_field: str | None = None,
        watermark: str | None = None,
        until: str | None = None,
        lookback: timedelta = timedelta(0),
        include_deleted: bool = False,
        include_base64: bool = False,
        page_size: int = MAX_PAGE_SIZE,
        bulk: BulkOptions | None = None,
        min_window: timedelta = timedelta(hours=1),
    ) -> None:
        if api not in ("auto", "rest", "bulk"):
            raise ValueError(f"api must be 'auto', 'rest' or 'bulk', got {api!r}")
        if not sobject.replace("_", "").isalnum():
            raise ValueError(f"sobject must be an object API name such as Account or Invoice__c, got {sobject!r}")
        self.client = client
        self.sobject = sobject
        self.fields = list(fields) if fields else None
        self.where = where.strip() if where and where.strip() else None
        self.api_choice = api
        self.bulk_threshold = bulk_threshold
        self.incremental = incremental
        self.requested_cursor = cursor_field
        self.watermark = watermark
        self.until = until
        self.lookback = lookback
        self.include_deleted = include_deleted
        self.include_base64 = include_base64
        self.page_size = page_size
        self.bulk = bulk or BulkOptions()
        self.min_window = min_window
        self._prepared = False
        self._plan: FieldPlan | None = None
        self._cursor_field: str | None = None
        self._upper: datetime | None = None
        self._expected: int | None = None
        self._max_seen: datetime | None = None
        self._windows_used = 0

    # -- the Source protocol ----------------------------------------------------------------------------------

    @property
    def schema(self) -> pa.Schema:
        return self._prepare().schema

    @property
    def cursor(self) -> str | None:
        """The largest cursor value read (ISO 8601, UTC), or the previous watermark when nothing new was read."""
        if not self.incremental or self._cursor_field is None:
            return None
        if self._max_seen is None:
            return self.watermark
        return format_watermark(self._max_seen)

    def describe(self) -> dict[str, Any]:
        plan = self._prepare()
        return {
            "system": "salesforce",
            "object": self.sobject,
            "instance": str(self.client.sf.sf_instance),
            "api_version": self.client.api_version,
            "api": plan.api,
            "soql": self.soql(),
            "columns": len(plan.columns),
            "skipped_fields": plan.skipped,
            "flattened_fields": plan.flattened,
            "incremental": self.incremental and self._cursor_field is not None,
            "cursor_field": self._cursor_field,
            "watermark_before": self.watermark,
            "lookback_seconds": self.lookback.total_seconds(),
            "upper_bound": format_watermark(self._upper) if self._upper else None,
            "include_deleted": self.include_deleted,
            "expected_records": self._expected,
        }

    def batches(self) -> Iterator[pa.RecordBatch]:
        plan = self._prepare()
        if plan.api == "rest":
            stream = rest_batches(
                self.client, self.soql(), plan, include_deleted=self.include_deleted, page_size=self.page_size
            )
        else:
            stream = self._bulk_with_windows(plan)
        for batch in stream:
            self._track_cursor(batch)
            yield batch

    # -- planning ---------------------------------------------------------------------------------------------

    def _prepare(self) -> FieldPlan:
        if self._plan is not None:
            return self._plan
        limits = self.client.limits() if self.client.budget is not None else None
        if limits is not None:
            self.client.budget.check_limits(limits)  # type: ignore[union-attr]
        described = self.client.describe(self.sobject)
        if not described.get("queryable", True):
            raise SourceError(f"{self.sobject} is not queryable through the API (describe says queryable=false)")
        if self.incremental:
            self._cursor_field = cursor_field(described, self.requested_cursor)
            if self._cursor_field is None:
                log.warning(
                    "%s has none of SystemModstamp, LastModifiedDate, CreatedDate: reading it fully each run",
                    self.sobject,
                )
            now = datetime.now(timezone.utc).replace(microsecond=0)
            self._upper = parse_watermark(self.until) if self.until else now
        required = tuple(n for n in (self._cursor_field, "IsDeleted" if self.include_deleted else None) if n)
        try:
            self._expected = count_records(
                self.client, self.sobject, self._conditions(), include_deleted=self.include_deleted
            )
        except SalesforceApiError as exc:
            if exc.error_code != "QUERY_TIMEOUT":
                raise
            log.warning("COUNT() of %s timed out: treating it as a large object", self.sobject)
        api = self._choose_api(described, limits)
        plan = plan_fields(described, self.fields, api=api, include_base64=self.include_base64, required=required)
        for skipped in plan.skipped:
            log.warning(
                "%s.%s (%s) is not landed: %s", self.sobject, skipped["field"], skipped["type"], skipped["reason"]
            )
        for compound, parts in plan.flattened.items():
            log.info("%s.%s is flattened into %s", self.sobject, compound, ", ".join(parts))
        if limits is not None:
            self.client.budget.require(self._estimate_requests(api))  # type: ignore[union-attr]
        log.info(
            "Reading %s with the %s API: %s records expected, %d columns",
            self.sobject,
            api.upper(),
            "unknown" if self._expected is None else self._expected,
            len(plan.columns),
        )
        self._plan = plan
        return plan

    def _choose_api(self, described: dict[str, Any], limits: dict[str, Any] | None) -> Api:
        jobs = (limits or {}).get("DailyBulkV2QueryJobs")
        no_bulk_jobs = isinstance(jobs, dict) and int(jobs.get("Remaining", 1)) <= 0
        if self.api_choice == "bulk" and no_bulk_jobs:
            raise SourceError(
                f"no Bulk API 2.0 query jobs left today (DailyBulkV2QueryJobs {jobs}); use api='rest' or run later"
            )
        if self.api_choice != "auto":
            return self.api_choice
        if self.include_base64 and has_base64(described, self.fields):
            log.info("include_base64 with base64 fields on %s: using the REST API", self.sobject)
            return "rest"
        if no_bulk_jobs:
            log.warning("no Bulk API 2.0 query jobs left today on the org: reading %s with the REST API", self.sobject)
            return "rest"
        if self._expected is None or self._expected >= self.bulk_threshold:
            return "bulk"
        return "rest"

    def _estimate_requests(self, api: Api) -> int:
        expected = self._expected or 0
        if api == "rest":
            return -(-expected // self.page_size) + 1
        # create + a few status checks + delete, and one request per result page
        return 12 + -(-expected // self.bulk.page_records)

    # -- SOQL -------------------------------------------------------------------------------------------------

    def soql(self, window: tuple[datetime, datetime] | None = None) -> str:
        """The query this read runs (optionally restricted to the date window ``(lo, hi]``)."""
        plan = self._prepare()
        conditions = self._conditions(window)
        return f"SELECT {plan.select_list} FROM {self.sobject}" + (f" WHERE {conditions}" if conditions else "")

    def _conditions(self, window: tuple[datetime, datetime] | None = None) -> str | None:
        parts = [f"({self.where})"] if self.where else []
        field = self._cursor_field
        if field is not None:
            lower = self._lower_bound()
            if window is not None:
                parts += [f"{field} > {soql_datetime(window[0])}", f"{field} <= {soql_datetime(window[1])}"]
            else:
                if lower is not None:
                    parts.append(f"{field} > {soql_datetime(lower)}")
                if self._upper is not None:
                    parts.append(f"{field} <= {soql_datetime(self._upper)}")
        return " AND ".join(parts) or None

    def _lower_bound(self) -> datetime | None:
        if not self.incremental or self.watermark is None:
            return None
        return parse_watermark(self.watermark) - self.lookback

    # -- bulk with date windows -------------------------------------------------------------------------------

    def _bulk_with_windows(self, plan: FieldPlan) -> Iterator[pa.RecordBatch]:
        try:
            yield from bulk_batches(
                self.client, self.soql(), plan, include_deleted=self.include_deleted, options=self.bulk
            )
            return
        except BulkJobError as exc:
            if not exc.timed_out:
                raise
            window = self._full_window()
            if window is None:
                raise SourceError(
                    f"{exc}; cannot split the query into date windows: {self.sobject} has no "
                    "SystemModstamp/LastModifiedDate/CreatedDate cursor (or incremental=False)"
                ) from exc
            log.warning("%s; splitting %s into date windows on %s", exc, self.sobject, self._cursor_field)
        yield from self._windows(plan, *window)

    def _full_window(self) -> tuple[datetime, datetime] | None:
        if self._cursor_field is None or self._upper is None:
            return None
        lower = self._lower_bound()
        if lower is None:
            earliest = self._earliest_cursor()
            if earliest is None:
                return None
            lower = earliest - timedelta(seconds=1)
        return lower, self._upper

    def _earliest_cursor(self) -> datetime | None:
        field = self._cursor_field
        where = " AND ".join(p for p in (f"({self.where})" if self.where else "", f"{field} != null") if p)
        soql = f"SELECT {field} FROM {self.sobject} WHERE {where} ORDER BY {field} ASC LIMIT 1"
        page = next(
            rest_query_pages(
                self.client, soql, include_deleted=self.include_deleted, what=f"earliest {field} of {self.sobject}"
            )
        )
        records = page.get("records") or []
        return parse_watermark(records[0][field]) if records else None

    def _windows(self, plan: FieldPlan, lo: datetime, hi: datetime) -> Iterator[pa.RecordBatch]:
        """Bulk-query ``(lo, hi]``; on a query timeout split it in two halves, down to ``min_window``."""
        pending = [(lo, hi)]
        while pending:
            start, end = pending.pop(0)
            try:
                self._windows_used += 1
                yield from bulk_batches(
                    self.client, self.soql((start, end)), plan, include_deleted=self.include_deleted, options=self.bulk
                )
            except BulkJobError as exc:
                if not exc.timed_out or end - start <= self.min_window:
                    raise SourceError(
                        f"{exc} (window {soql_datetime(start)} .. {soql_datetime(end)}, min_window {self.min_window})"
                    ) from exc
                middle = (start + (end - start) / 2).replace(microsecond=0)
                log.warning(
                    "window %s .. %s timed out: splitting at %s",
                    soql_datetime(start),
                    soql_datetime(end),
                    soql_datetime(middle),
                )
                pending[:0] = [(start, middle), (middle, end)]

    # -- cursor -----------------------------------------------------------------------------------------------

    def _track_cursor(self, batch: pa.RecordBatch) -> None:
        if self._cursor_field is None or not self.incremental or batch.num_rows == 0:
            return
        top = pc.max(batch.column(self._cursor_field)).as_py()
        if isinstance(top, (datetime, date)):
            if not isinstance(top, datetime):
                top = datetime(top.year, top.month, top.day, tzinfo=timezone.utc)
            if self._max_seen is None or top > self._max_seen:
                self._max_seen = top


def soql_datetime(value: datetime) -> str:
    """A SOQL dateTime literal (UTC, whole seconds): ``2024-05-01T10:00:00Z``."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_watermark(value: datetime) -> str:
    """Watermark text: ISO 8601 in UTC with milliseconds, e.g. ``2024-05-01T10:00:00.000Z``."""
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_watermark(value: str) -> datetime:
    """Read a watermark or a Salesforce datetime (``...Z``, ``...+0000``, or a plain date) as an aware datetime."""
    text = value.strip()
    if len(text) == 10:
        text += "T00:00:00"
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise SourceError(f"watermark {value!r} is not an ISO 8601 date-time") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
