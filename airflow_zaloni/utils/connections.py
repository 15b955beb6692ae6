"""Skip, with a clear message, work that needs an Airflow connection nobody has configured yet.

Example DAGs of sources that cannot run without credentials (Salesforce, X, ...) call this in a first task, so a
fresh installation shows a skipped run that says which connection to add, rather than a failure::

    @task
    def check_connection() -> str:
        return require_connection("salesforce_default", "type 'salesforce', with a username and password")
"""

from __future__ import annotations


def require_connection(conn_id: str, how: str) -> str:
    """Return ``conn_id`` if the connection exists; otherwise raise ``AirflowSkipException`` naming it and ``how``."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException, AirflowSkipException

    try:
        BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise AirflowSkipException(f"No Airflow connection {conn_id!r}: add one of {how} to run this.") from None
    return conn_id
