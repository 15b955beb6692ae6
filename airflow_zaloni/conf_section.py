"""Reading one option of the ``[zaloni]`` configuration section: a leaf module (it imports nothing of the package),
so the lake can read its settings without an import cycle through :mod:`airflow_zaloni.config`."""

from __future__ import annotations

from typing import Any


def airflow_conf() -> Any:
    try:
        from airflow.sdk.configuration import conf
    except ImportError:  # pragma: no cover - Airflow < 3.1
        from airflow.configuration import conf  # type: ignore[no-redef]
    return conf


def get(option: str, fallback: str = "") -> str:
    try:
        return str(airflow_conf().get("zaloni", option, fallback=fallback) or fallback)
    except Exception:  # Airflow not configured (a plain Python process): use the default
        return fallback
