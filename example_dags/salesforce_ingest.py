"""Land Salesforce Accounts in the lake every day: only what changed since the last run, deleted ones included.

Needs a connection ``salesforce_default`` of type ``salesforce`` (Airflow's Salesforce provider: username,
password and security token, or a connected app's consumer key and secret). Without that connection the DAG is
skipped with a message that says so, instead of failing.

Each run reads the Accounts whose ``SystemModstamp`` is past the dataset's watermark (the REST API for a few
thousand, Bulk API 2.0 beyond ``bulk_threshold``), lands them in ``raw/salesforce/accounts/<partition>`` with their
``IsDeleted`` flag, and commits the new watermark with the data. It stops before the org's daily API requests pass
``max_api_share`` -- other integrations share that allowance -- and publishes nothing in that case.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, task

from airflow_zaloni.operators.salesforce import SalesforceToLakeOperator
from airflow_zaloni.utils.connections import require_connection

CONN_ID = "salesforce_default"

with DAG(
    dag_id="zaloni_salesforce_ingest",
    schedule="@daily",
    start_date=datetime(2026, 11, 1),
    catchup=False,
    params={"sobject": "Account"},
    tags=["zaloni", "dca", "salesforce"],
    doc_md=__doc__,
):

    @task
    def check_connection() -> str:
        """Skip the run, with a clear message, when no Salesforce connection is configured."""
        return require_connection(
            CONN_ID, "type 'salesforce' (username, password and security token, or a connected app's key and secret)"
        )

    land = SalesforceToLakeOperator(
        task_id="land_accounts",
        salesforce_conn_id=CONN_ID,
        sobject="{{ params.sobject }}",
        dataset="accounts",
        include_deleted=True,
        lookback=300,
        max_api_share=0.8,
    )

    check_connection() >> land
