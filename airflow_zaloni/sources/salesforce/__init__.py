"""Salesforce as a source: REST and Bulk API 2.0 reads into Arrow, incremental, within the org's API limits."""

from airflow_zaloni.sources.salesforce.bulk import BulkOptions
from airflow_zaloni.sources.salesforce.client import ApiBudget, SalesforceClient
from airflow_zaloni.sources.salesforce.errors import (
    ApiBudgetExceeded,
    BulkJobError,
    ConcurrencyLimitError,
    SalesforceApiError,
    SessionExpiredError,
    TransientApiError,
)
from airflow_zaloni.sources.salesforce.schema import arrow_type, plan_fields
from airflow_zaloni.sources.salesforce.source import SalesforceSource

__all__ = [
    "ApiBudget",
    "ApiBudgetExceeded",
    "BulkJobError",
    "BulkOptions",
    "ConcurrencyLimitError",
    "SalesforceApiError",
    "SalesforceClient",
    "SalesforceSource",
    "SessionExpiredError",
    "TransientApiError",
    "arrow_type",
    "plan_fields",
]
