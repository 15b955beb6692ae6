"""What the commit protocol and the tables need of a lake: a small protocol, so that ``transaction.py``,
``journal.py`` and ``tables.py`` never import ``lake.py`` (which imports them): no import cycle, even for type checks.
"""

from __future__ import annotations

from typing import Any, Protocol

from airflow_zaloni.lake.paths import DatasetRef
from airflow_zaloni.lake.storage import Storage


class LakeHandle(Protocol):
    """The parts of :class:`~airflow_zaloni.lake.lake.Lake` that transactions, journals and tables use."""

    root: str
    conn_id: str | None
    storage: Storage
    storage_options: dict[str, Any]
    catalog_settings: dict[str, Any] | str | None
    lock_wait: float

    def dataset_path(self, ref: DatasetRef) -> str: ...

    def partition_path(self, ref: DatasetRef, partition: str) -> str: ...

    def manifest(self, ref: DatasetRef, partition: str) -> dict[str, Any] | None: ...

    def manifest_partitions(self, ref: DatasetRef) -> list[str]: ...

    def state(self, ref: DatasetRef) -> dict[str, Any]: ...

    def watermark(self, ref: DatasetRef) -> Any: ...

    def recover(self) -> list[str]: ...

    def clean_staging(self, ref: DatasetRef, *, keep: str | None = None) -> list[str]: ...

    def writer_defaults(self) -> dict[str, Any]: ...

    def table_catalog(self) -> Any: ...
