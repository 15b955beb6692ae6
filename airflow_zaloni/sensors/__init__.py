"""Public sensors of airflow-zaloni, imported lazily so one import does not pull in every source's libraries."""

from __future__ import annotations

import importlib
from typing import Any

# Public name -> module that defines it. One line per class.
_EXPORTS: dict[str, str] = {
    "FilePatternSensor": "airflow_zaloni.sensors.files",
    "SparkDriverSensor": "airflow_zaloni.sensors.spark",
    "YarnApplicationSensor": "airflow_zaloni.sensors.yarn",
    "LakeDatasetSensor": "airflow_zaloni.sensors.lake",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
