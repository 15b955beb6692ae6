"""Names and places in the lake: zones, dataset references and run partitions.

A dataset lives at ``<root>/<zone>/<system>/<name>/<partition>/``. Names are validated strictly because they become
path segments on HDFS and object stores: a name that could climb out of the lake (``..``, ``/``) or confuse a reader
(a leading ``_`` or ``.`` hides a path from pyarrow, Spark and Hive) is refused with a message that names it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_zaloni.lake.errors import LakeError

#: The zones in the order data moves through them.
ZONES: tuple[str, ...] = ("landing", "raw", "trusted", "refined")
#: Name suffix of the dataset that holds the rows a promotion quarantined (``<zone>/<system>/<name>__quarantine``).
QUARANTINE_SUFFIX = "__quarantine"

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}$")
_PARTITION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*=[A-Za-z0-9_.\-]+$")


def validate_name(kind: str, value: str) -> str:
    """Return ``value`` if it is a safe single path segment, else raise :class:`LakeError` naming it."""
    if not isinstance(value, str) or not value:
        raise LakeError(f"{kind} name must be a non-empty string, got {value!r}")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise LakeError(f"{kind} name {value!r} contains control characters")
    if "/" in value or "\\" in value:
        raise LakeError(f"{kind} name {value!r} must not contain '/' or '\\'")
    if value in (".", "..") or ".." in value:
        raise LakeError(f"{kind} name {value!r} must not contain '..'")
    if not _NAME_RE.match(value):
        raise LakeError(
            f"{kind} name {value!r} is not allowed: use letters, digits, '_', '-', '.', starting with a letter or digit"
        )
    return value


def validate_partition(value: str) -> str:
    """A partition is one ``key=value`` path segment (Hive style), so Spark and Hive read it as a column."""
    if not isinstance(value, str) or not _PARTITION_RE.match(value) or ".." in value:
        raise LakeError(f"partition {value!r} is not allowed: expected one 'key=value' segment such as 'dt=2026-11-25'")
    return value


@dataclass(frozen=True, order=True)
class DatasetRef:
    """One dataset of the lake: ``zone/system/name``."""

    zone: str
    system: str
    name: str

    def __post_init__(self) -> None:
        if self.zone not in ZONES:
            raise LakeError(f"zone {self.zone!r} is unknown: expected one of {', '.join(ZONES)}")
        validate_name("system", self.system)
        validate_name("dataset", self.name)

    @property
    def key(self) -> str:
        return f"{self.zone}/{self.system}/{self.name}"

    @classmethod
    def parse(cls, key: str) -> DatasetRef:
        parts = key.strip("/").split("/")
        if len(parts) != 3:
            raise LakeError(f"dataset {key!r} must be written as 'zone/system/name'")
        return cls(*parts)

    def with_zone(self, zone: str) -> DatasetRef:
        return DatasetRef(zone, self.system, self.name)

    @property
    def quarantine(self) -> DatasetRef:
        """Where the rows of this dataset that broke its rules go: same zone and system, ``<name>__quarantine``."""
        return DatasetRef(self.zone, self.system, self.name + QUARANTINE_SUFFIX)

    def __str__(self) -> str:
        return self.key


def partition_for_interval(start: datetime | None, end: datetime | None = None, *, run_id: str | None = None) -> str:
    """The partition a run writes, derived from its data interval so that a re-run replaces the same partition.

    A start at midnight UTC gives ``dt=YYYY-MM-DD`` (daily, weekly and monthly schedules); any other start gives
    ``dt=YYYY-MM-DDTHH-MM-SSZ`` (colons are not allowed in HDFS names). A run without a data interval (a manual or
    asset-triggered run) falls back to ``run=<run id>`` made safe for a path.
    """
    if start is None:
        if not run_id:
            raise LakeError("cannot derive a partition: the run has neither a data interval nor a run id")
        safe = re.sub(r"[^A-Za-z0-9_.\-]+", "-", run_id).strip("-.") or "run"
        return validate_partition(f"run={safe}")
    start_utc = start.astimezone(timezone.utc) if start.tzinfo else start.replace(tzinfo=timezone.utc)
    if start_utc.time() == datetime.min.time() and (end is None or (end - start) >= timedelta(days=1)):
        return f"dt={start_utc:%Y-%m-%d}"
    return f"dt={start_utc:%Y-%m-%dT%H-%M-%SZ}"


def partition_of_run(context: Mapping[str, Any]) -> str:
    """The partition an Airflow run writes by default: :func:`partition_for_interval` of its data interval, from
    the task's context (a plain mapping here, so the lake needs no Airflow)."""
    return partition_for_interval(
        context.get("data_interval_start"), context.get("data_interval_end"), run_id=context.get("run_id")
    )
