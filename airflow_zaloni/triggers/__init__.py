"""Public triggers of airflow-zaloni, imported lazily so one import does not pull in every source's libraries."""

from __future__ import annotations

from airflow_zaloni.utils.lazy import lazy_getattr

# Public name -> module that defines it. One line per class.
_EXPORTS: dict[str, str] = {
    "FilePatternTrigger": "airflow_zaloni.triggers.files",
    "SparkDriverTrigger": "airflow_zaloni.triggers.spark",
    "YarnApplicationTrigger": "airflow_zaloni.triggers.yarn",
    "LakeDatasetTrigger": "airflow_zaloni.triggers.lake",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
