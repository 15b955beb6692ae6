"""Public hooks of airflow-zaloni, imported lazily so one import does not pull in every source's libraries."""

from __future__ import annotations

from airflow_zaloni.utils.lazy import lazy_getattr

# Public name -> module that defines it. One line per class.
_EXPORTS: dict[str, str] = {
    "TwitterHook": "airflow_zaloni.hooks.twitter",
    "MainframeHook": "airflow_zaloni.hooks.mainframe",
    "YarnHook": "airflow_zaloni.hooks.yarn",
    "SparkMasterRestHook": "airflow_zaloni.hooks.spark",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
