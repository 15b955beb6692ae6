"""The parts of Airflow's runtime context that job operators use, for tests that drive ``execute`` by hand.

Used where a test must play a worker dying between two tries (which ``dag.test()`` cannot do): the task state store
outlives the operator object, exactly as Airflow's does between tries.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any


class TaskStateStore:
    """Airflow's ``task_state_store`` (``get``/``set`` of JSON values, kept across tries of one task instance)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any, **_: Any) -> None:
        self.values[key] = value


class TaskInstance:
    """What job operators call on ``context["ti"]``: ``xcom_push``, ``try_number``, ``map_index``."""

    def __init__(self, try_number: int = 1) -> None:
        self.try_number = try_number
        self.map_index = -1
        self.xcoms: dict[str, Any] = {}
        self.stats_tags: dict[str, str] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


def make_context(store: TaskStateStore | None = None, *, try_number: int = 1, run_id: str = "manual__t1") -> dict:
    return {
        "ti": TaskInstance(try_number),
        "task_state_store": store if store is not None else TaskStateStore(),
        "run_id": run_id,
        "data_interval_start": datetime(2026, 11, 25, tzinfo=timezone.utc),
        "data_interval_end": datetime(2026, 11, 26, tzinfo=timezone.utc),
    }
