"""The ``[zaloni]`` configuration section, read lazily (never at import time)."""

from __future__ import annotations

import os
from typing import Any


def _conf() -> Any:
    try:
        from airflow.sdk.configuration import conf
    except ImportError:  # pragma: no cover - Airflow < 3.1
        from airflow.configuration import conf  # type: ignore[no-redef]
    return conf


def get(option: str, fallback: str = "") -> str:
    try:
        return str(_conf().get("zaloni", option, fallback=fallback) or fallback)
    except Exception:  # Airflow not configured (a plain Python process): use the default
        return fallback


def lake_root() -> str:
    """``[zaloni] lake_root``, defaulting to a ``lake`` folder in ``$AIRFLOW_HOME``."""
    root = get("lake_root")
    if root:
        return root
    home = os.environ.get("AIRFLOW_HOME") or os.path.join(os.path.expanduser("~"), "airflow")
    return os.path.join(home, "lake")


def writer_options() -> dict[str, int]:
    return {
        "row_group_rows": int(get("row_group_rows", "1000000")),
        "row_group_bytes": int(get("row_group_bytes", str(16 * 1024 * 1024))),
        "max_rows_per_file": int(get("max_rows_per_file", "10000000")),
    }


def progress_interval() -> float:
    return float(get("progress_interval_seconds", "5"))
