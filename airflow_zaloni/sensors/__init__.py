"""Public sensors of airflow-zaloni, imported lazily so one import does not pull in every source's libraries."""

from __future__ import annotations

from airflow_zaloni.utils.lazy import lazy_getattr

# Public name -> module that defines it. One line per class.
_EXPORTS: dict[str, str] = {
    "FilePatternSensor": "airflow_zaloni.sensors.files",
    "SparkDriverSensor": "airflow_zaloni.sensors.spark",
    "YarnApplicationSensor": "airflow_zaloni.sensors.yarn",
    "LakeDatasetSensor": "airflow_zaloni.sensors.lake",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
