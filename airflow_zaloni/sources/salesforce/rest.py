"""REST API reads: ``/query`` (or ``/queryAll``) paged through ``nextRecordsUrl``, a page at a time.

This is what ``simple_salesforce.Salesforce.query_all`` does too, except that it keeps every record of every page
in one list; here each page becomes an Arrow batch and is let go, while the next page is already being fetched.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pyarrow as pa

from airflow_zaloni.sources.salesforce.client import SalesforceClient
from airflow_zaloni.sources.salesforce.convert import rest_page_to_batch
from airflow_zaloni.sources.salesforce.schema import FieldPlan
from airflow_zaloni.utils.prefetch import prefetch

log = logging.getLogger(__name__)

#: Records per REST page Salesforce sends at most (``Sforce-Query-Options: batchSize``, 200..2000).
MAX_PAGE_SIZE = 2000


def rest_query_pages(
    client: SalesforceClient,
    soql: str,
    *,
    include_deleted: bool,
    page_size: int = MAX_PAGE_SIZE,
    what: str = "REST query",
) -> Iterator[dict]:
    """Yield the decoded pages of a SOQL query (numbers kept as text to preserve every digit)."""
    path = client.data_path("queryAll/" if include_deleted else "query/")
    params: dict[str, str] | None = {"q": soql}
    headers = {"Sforce-Query-Options": f"batchSize={max(200, min(page_size, MAX_PAGE_SIZE))}"}
    number = 1
    while True:
        response = client.request("GET", path, params=params, headers=headers, what=f"{what}, page {number}")
        page: dict = json.loads(response.content, parse_float=str)
        del response
        yield page
        next_url = page.get("nextRecordsUrl")
        if page.get("done", True) or not next_url:
            return
        path, params, number = next_url, None, number + 1


def count_records(client: SalesforceClient, sobject: str, where: str | None, *, include_deleted: bool) -> int:
    """``SELECT COUNT() FROM sobject [WHERE ...]``: the number of records a read would return.

    A ``QUERY_TIMEOUT`` is not retried here: an object too large to count is large, which is all the caller needs.
    """
    soql = f"SELECT COUNT() FROM {sobject}" + (f" WHERE {where}" if where else "")
    page = client.get_json(
        client.data_path("queryAll/" if include_deleted else "query/"),
        params={"q": soql},
        what=f"count {sobject}",
        retry_query_timeout=False,
    )
    return int(page["totalSize"])


def rest_batches(
    client: SalesforceClient, soql: str, plan: FieldPlan, *, include_deleted: bool, page_size: int = MAX_PAGE_SIZE
) -> Iterator[pa.RecordBatch]:
    """Yield one Arrow batch per REST page of ``soql``, typed by ``plan``."""
    base64_columns = [c.path[0] for c in plan.columns if c.sf_type == "base64"]
    record_no = 1
    pages = rest_query_pages(
        client, soql, include_deleted=include_deleted, page_size=page_size, what=f"REST query of {plan.sobject}"
    )
    # The next page is fetched in a background thread while this one is converted: network time and conversion
    # overlap, and at most three pages are in memory.
    for page in prefetch(pages, depth=1):
        records = page.get("records", [])
        if not records:
            continue
        for name in base64_columns:
            _fetch_blobs(client, records, name, plan.sobject)
        yield rest_page_to_batch(records, plan, record_no)
        record_no += len(records)


def _fetch_blobs(client: SalesforceClient, records: list[dict], name: str, sobject: str) -> None:
    """Replace the blob URLs that a query returns for a base64 field by the blobs' bytes (one GET each)."""
    for record in records:
        url = record.get(name)
        if isinstance(url, str) and url:
            record[name] = client.request("GET", url, what=f"GET {sobject}.{name} blob").content
