"""The lake: zones and dataset paths, the Parquet writer, the commit protocol, manifests and watermarks.

Airflow-free: everything here imports and runs without Airflow (except ``webhdfs://<conn_id>@`` roots, which read an
Airflow connection).
"""

from __future__ import annotations

from airflow_zaloni.lake.errors import CommitConflictError, LakeError
from airflow_zaloni.lake.lake import Lake
from airflow_zaloni.lake.manifest import MANIFEST_NAME, STATE_NAME
from airflow_zaloni.lake.paths import (
    ZONES,
    DatasetRef,
    partition_for_interval,
    partition_of_run,
    validate_name,
    validate_partition,
)
from airflow_zaloni.lake.transaction import Transaction
from airflow_zaloni.lake.writer import LakeFileWriter, LakeWriter

__all__ = [
    "MANIFEST_NAME",
    "STATE_NAME",
    "ZONES",
    "CommitConflictError",
    "DatasetRef",
    "Lake",
    "LakeError",
    "LakeFileWriter",
    "LakeWriter",
    "Transaction",
    "partition_for_interval",
    "partition_of_run",
    "validate_name",
    "validate_partition",
]
