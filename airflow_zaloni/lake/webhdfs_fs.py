"""``webhdfs://<conn_id>@/path`` for Airflow's ObjectStoragePath and for lake roots.

The HDFS provider defines the ``webhdfs`` connection type but registers no filesystem, so ``ObjectStoragePath``
refuses ``webhdfs://`` URLs. Airflow calls :func:`get_fs` (listed under ``filesystems`` in provider info) with the
user part of the URL as the connection id.
"""

from __future__ import annotations

from typing import Any

schemes = ["webhdfs"]


def get_fs(conn_id: str | None, storage_options: dict[str, Any] | None = None) -> Any:
    """An fsspec ``WebHDFS`` filesystem configured from the Airflow connection ``conn_id``."""
    from fsspec.implementations.webhdfs import WebHDFS

    options: dict[str, Any] = {}
    if conn_id:
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(conn_id)
        extra = conn.extra_dejson
        options = {
            "host": conn.host or "localhost",
            "port": conn.port or 9870,
            "user": conn.login or None,
            "use_https": bool(extra.get("use_ssl", False)),
            "kerberos": bool(extra.get("use_kerberos", False)),
        }
    options.update(storage_options or {})
    return WebHDFS(**options)
