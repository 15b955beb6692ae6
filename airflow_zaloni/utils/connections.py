"""Helpers for Airflow connections: skip work whose connection is missing, read boolean extras.

Skip, with a clear message, work that needs an Airflow connection nobody has configured yet.

Example DAGs of sources that cannot run without credentials (Salesforce, X, ...) call this in a first task, so a
fresh installation shows a skipped run that says which connection to add, rather than a failure::

    @task
    def check_connection() -> str:
        return require_connection("salesforce_default", "type 'salesforce', with a username and password")
"""

from __future__ import annotations

from typing import Any


def require_connection(conn_id: str, how: str) -> str:
    """Return ``conn_id`` if the connection exists; otherwise raise ``AirflowSkipException`` naming it and ``how``."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException, AirflowSkipException

    try:
        BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise AirflowSkipException(f"No Airflow connection {conn_id!r}: add one of {how} to run this.") from None
    return conn_id


_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0", ""})


def extra_flag(extra: dict[str, Any], key: str, default: bool, *, conn_id: str) -> bool:
    """A boolean from a connection's extras, given as a JSON boolean or as a string (``"False"`` is false).

    The Airflow UI and ``airflow connections add --conn-extra`` often store ``"True"``/``"False"`` strings, and
    ``bool("False")`` is true: an anything-but-boolean value is an error naming the connection and the key.
    """
    value = extra.get(key, default)
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower() if value is not None else ""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"connection {conn_id!r}: extra {key!r} must be true or false, not {value!r}")
