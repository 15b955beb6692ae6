"""``SalesforceToLakeOperator``: one Salesforce object into the lake, incremental, within the org's API limits.

Thin glue: credentials come from Airflow's own ``SalesforceHook`` (simple-salesforce), the reading lives in
:mod:`airflow_zaloni.sources.salesforce`, the writing in the lake.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_zaloni.operators.base import LakeIngestOperator
from airflow_zaloni.sources.salesforce import BulkOptions, SalesforceClient, SalesforceSource
from airflow_zaloni.utils.tls import PinnedVerifySession, verify_setting

if TYPE_CHECKING:
    from airflow.sdk import Context
    from simple_salesforce import Salesforce


def _seconds(value: Any, name: str) -> dt.timedelta:
    if isinstance(value, dt.timedelta):
        return value
    try:
        return dt.timedelta(seconds=float(value or 0))
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be seconds or a timedelta, got {value!r}") from None


class SalesforceToLakeOperator(LakeIngestOperator):
    """Land a Salesforce object (standard or custom) in the lake through the REST API or Bulk API 2.0.

    The read streams in bounded memory: REST pages one at a time (never ``query_all``), or a Bulk API 2.0 query job
    whose CSV result pages are parsed into Arrow straight from the network. Before reading, the org's ``/limits``
    are checked: the task stops with a clear error -- and nothing is published -- rather than take the org past
    ``max_api_share`` of its daily API requests. Fields the chosen API cannot return are named in the manifest
    (``source.skipped_fields``) and the log.

    :param salesforce_conn_id: connection of type ``salesforce`` (Airflow's Salesforce provider). (templated)
    :param sobject: API name of the object, e.g. ``Account``, ``Opportunity``, ``Invoice__c``. (templated)
    :param fields: field API names to land (a list, or one comma-separated string); None lands every field of the
        object. (templated)
    :param where: SOQL condition ANDed to the query, without ``WHERE``. (templated)
    :param api: ``auto`` (Bulk API 2.0 from ``bulk_threshold`` expected records, else REST), ``rest`` or
        ``bulk``. (templated)
    :param bulk_threshold: expected record count from which ``api="auto"`` uses Bulk API 2.0.
    :param incremental: read only records changed since the last committed watermark.
    :param cursor_field: the incremental cursor (default SystemModstamp, else LastModifiedDate, else
        CreatedDate). (templated)
    :param lookback: seconds (or a timedelta) to re-read before the watermark, for records committed late.
    :param include_deleted: read deleted and archived records too (``queryAll``), with ``IsDeleted``.
    :param include_base64: land base64 (blob) fields as binary columns (REST only; one request per blob).
    :param max_api_share: share of the org's daily API requests (0..1] that may be in use before the task stops.
    :param bulk_max_wait: seconds a Bulk API 2.0 job may run before it is aborted.
    :param bulk_poll_interval: first delay between job status checks (grows to 30 s).
    :param page_size: records per REST page (200..2000).
    """

    template_fields: Sequence[str] = (
        *LakeIngestOperator.template_fields,
        "salesforce_conn_id",
        "sobject",
        "fields",
        "where",
        "api",
        "cursor_field",
    )
    default_system = "salesforce"
    ui_color = "#cce7f5"

    def __init__(
        self,
        *,
        sobject: str,
        salesforce_conn_id: str = "salesforce_default",
        fields: Sequence[str] | None = None,
        where: str | None = None,
        api: str = "auto",
        bulk_threshold: int = 50_000,
        incremental: bool = True,
        cursor_field: str | None = None,
        lookback: float | dt.timedelta = 0,
        include_deleted: bool = False,
        include_base64: bool = False,
        max_api_share: float = 0.8,
        bulk_max_wait: float = 3600.0,
        bulk_poll_interval: float = 2.0,
        page_size: int = 2000,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if "{{" not in api and api not in ("auto", "rest", "bulk"):
            raise ValueError(f"api must be 'auto', 'rest' or 'bulk', got {api!r}")
        if not 0 < max_api_share <= 1:
            raise ValueError(f"max_api_share must be in (0, 1], got {max_api_share!r}")
        self.salesforce_conn_id = salesforce_conn_id
        self.sobject = sobject
        self.fields: str | list[str] | None = fields if fields is None or isinstance(fields, str) else list(fields)
        self.where = where
        self.api = api
        self.bulk_threshold = bulk_threshold
        self.incremental = incremental
        self.cursor_field = cursor_field
        self.lookback = _seconds(lookback, "lookback")
        self.include_deleted = include_deleted
        self.include_base64 = include_base64
        self.max_api_share = max_api_share
        self.bulk_max_wait = bulk_max_wait
        self.bulk_poll_interval = bulk_poll_interval
        self.page_size = page_size

    def connect(self) -> Salesforce:
        """A fresh, authenticated simple-salesforce client from the connection (called again to re-authenticate)."""
        from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

        # The connection's "verify" extra (a CA bundle path, or false) is the session's, login included, and the
        # environment's REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE cannot override it (they still apply without one).
        extra = SalesforceHook.get_connection(self.salesforce_conn_id).extra_dejson
        session = PinnedVerifySession()
        session.verify = verify_setting(extra.get("verify"))
        sf = SalesforceHook(salesforce_conn_id=self.salesforce_conn_id, session=session).get_conn()
        _mask(sf.session_id)
        return sf

    def make_source(self, context: Context, watermark: Any) -> SalesforceSource:
        fields = self.fields
        if isinstance(fields, str):  # e.g. rendered from a template or a param
            fields = [name.strip() for name in fields.split(",") if name.strip()]
        client = SalesforceClient(self.connect, max_api_share=self.max_api_share)
        return SalesforceSource(
            client,
            self.sobject,
            fields=fields,
            where=self.where,
            api=self.api,  # type: ignore[arg-type]
            bulk_threshold=self.bulk_threshold,
            incremental=self.incremental,
            cursor_field=self.cursor_field,
            watermark=watermark if self.incremental else None,
            until=self.watermark_upper if self.incremental else None,
            lookback=self.lookback,
            include_deleted=self.include_deleted,
            include_base64=self.include_base64,
            page_size=self.page_size,
            bulk=BulkOptions(max_wait=self.bulk_max_wait, poll_initial=self.bulk_poll_interval),
        )


def _mask(secret: str | None) -> None:
    """Keep the access token out of task logs (Airflow masks connection passwords, not tokens handed back)."""
    if not secret:
        return
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - older Task SDK layout
        return
    mask_secret(secret)
