"""The ``[zaloni]`` configuration section, read lazily (never at import time)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_zaloni.conf_section import airflow_conf as _conf  # noqa: F401  (the Lake view reads [api] with it)
from airflow_zaloni.conf_section import get

if TYPE_CHECKING:
    from airflow_zaloni.lake import Lake


def lake_root() -> str:
    """``[zaloni] lake_root``, defaulting to a ``lake`` folder in ``$AIRFLOW_HOME``."""
    root = get("lake_root")
    if root:
        return root
    home = os.environ.get("AIRFLOW_HOME") or os.path.join(os.path.expanduser("~"), "airflow")
    return os.path.join(home, "lake")


def lake_conn_id(root: str | None = None, conn_id: str | None = None) -> str | None:
    """The Airflow connection of the lake at ``root``: ``conn_id`` if given, else ``[zaloni] lake_conn_id``.

    The configured connection applies to every root that is not a local path (``s3://``, ``webhdfs:///``, ...), so
    one setting serves the configured lake and any other bucket an operator names; a local root takes none.
    """
    if conn_id:
        return conn_id
    scheme = urlsplit(root or lake_root()).scheme
    if scheme in ("", "file") or len(scheme) == 1:  # a path (or a Windows drive letter)
        return None
    return get("lake_conn_id") or None


def open_lake(root: str | None = None, conn_id: str | None = None, **options: Any) -> Lake:
    """The :class:`~airflow_zaloni.lake.Lake` at ``root`` (default ``[zaloni] lake_root``) through its connection."""
    from airflow_zaloni.lake import Lake

    root = root or lake_root()
    return Lake(root, conn_id=lake_conn_id(root, conn_id), **options)


def writer_options() -> dict[str, int]:
    return {
        "row_group_rows": int(get("row_group_rows", "1000000")),
        "row_group_bytes": int(get("row_group_bytes", str(16 * 1024 * 1024))),
        "max_rows_per_file": int(get("max_rows_per_file", "10000000")),
    }


def open_writing_lake(root: str | None = None, conn_id: str | None = None) -> Lake:
    """:func:`open_lake` with the writer's ``[zaloni]`` options: row group rows and bytes, rows per file."""
    return open_lake(root, conn_id, **writer_options())


def progress_interval() -> float:
    return float(get("progress_interval_seconds", "5"))
