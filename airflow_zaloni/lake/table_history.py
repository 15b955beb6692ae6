"""Keep a lake table's commit cost flat as its history grows: merged manifests and a bounded snapshot history.

Without this, every lake commit adds a manifest to the table (none are ever merged) and a snapshot to its metadata
(never expired), and pyiceberg copies and rewrites the whole metadata on each commit: a commit's cost grew with the
number of commits before it. Two Iceberg-standard table properties, set when the lake creates a table (and added to
a table created before them at its next commit), bound both:

- ``commit.manifest-merge.enabled`` / ``commit.manifest.min-count-to-merge``: a commit merges the table's manifests
  into one once there are :data:`MANIFESTS_TO_MERGE` of them (as Iceberg's Java ``MergingSnapshotProducer`` does for
  appends and overwrites alike);
- ``history.expire.min-snapshots-to-keep`` / ``history.expire.max-snapshot-age-ms``: each lake commit expires the
  snapshots that are both older than the age and not among the newest ones to keep (Iceberg's expiry rule). The
  lake sets 20 snapshots and no age: time travel reaches a table's last 20 commits. Raise either property on a
  table (``ALTER TABLE ... SET TBLPROPERTIES`` in Spark, ``Transaction.set_properties`` in pyiceberg) to keep more.

Expiring removes the snapshots from the table's metadata only: no data file is deleted (the lake deletes the files
a commit replaces itself, see ``transaction.py``); the expired snapshots' manifest lists are removed as well.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyiceberg.io import FileIO
    from pyiceberg.table import Transaction
    from pyiceberg.table.metadata import TableMetadata

#: Manifests a table has before a commit merges them into one.
MANIFESTS_TO_MERGE = 8
#: Snapshots a table keeps (the newest ones) when its properties say nothing else.
SNAPSHOTS_TO_KEEP = 20
MIN_SNAPSHOTS_TO_KEEP = "history.expire.min-snapshots-to-keep"
MAX_SNAPSHOT_AGE_MS = "history.expire.max-snapshot-age-ms"

#: Table properties of every lake table (see the module docstring).
HOUSEKEEPING_PROPERTIES = {
    "commit.manifest-merge.enabled": "true",
    "commit.manifest.min-count-to-merge": str(MANIFESTS_TO_MERGE),
    MIN_SNAPSHOTS_TO_KEEP: str(SNAPSHOTS_TO_KEEP),
    MAX_SNAPSHOT_AGE_MS: "0",
}


def merging_overwrite(tx: Transaction, metadata: TableMetadata, io: FileIO, properties: dict[str, str]) -> Any:
    """pyiceberg's overwrite snapshot producer, merging manifests as its merge-append does.

    pyiceberg 0.12 merges manifests only in ``merge_append``, which cannot delete files; a partition replace is an
    overwrite. Its manifest merge step (``_process_manifests``) is borrowed here: the same merge manager, fed with
    the overwrite's manifests, under the table's ``commit.manifest.*`` properties.
    """
    from pyiceberg.table import TableProperties as P
    from pyiceberg.table.snapshots import Operation
    from pyiceberg.table.update.snapshot import _MergeAppendFiles, _OverwriteFiles
    from pyiceberg.utils.properties import property_as_bool, property_as_int

    class _MergingOverwrite(_OverwriteFiles):
        _process_manifests = _MergeAppendFiles._process_manifests  # type: ignore[assignment]

    # as UpdateSnapshot.overwrite(): the first snapshot of a table is an append
    operation = Operation.OVERWRITE if metadata.snapshot_by_name("main") is not None else Operation.APPEND
    producer = _MergingOverwrite(operation, tx, io, snapshot_properties=properties)
    # the attributes _MergeAppendFiles.__init__ sets from the table properties, read by _process_manifests
    table_properties = metadata.properties
    producer._target_size_bytes = property_as_int(  # type: ignore[attr-defined]
        table_properties, P.MANIFEST_TARGET_SIZE_BYTES, P.MANIFEST_TARGET_SIZE_BYTES_DEFAULT
    )
    producer._min_count_to_merge = property_as_int(  # type: ignore[attr-defined]
        table_properties, P.MANIFEST_MIN_MERGE_COUNT, P.MANIFEST_MIN_MERGE_COUNT_DEFAULT
    )
    producer._merge_enabled = property_as_bool(  # type: ignore[attr-defined]
        table_properties, P.MANIFEST_MERGE_ENABLED, P.MANIFEST_MERGE_ENABLED_DEFAULT
    )
    return producer


def expired_snapshot_ids(metadata: Any, now_ms: int) -> list[int]:
    """Snapshots past the table's retention: older than the max age and not among the newest to keep."""
    properties = metadata.properties
    keep = int(properties.get(MIN_SNAPSHOTS_TO_KEEP, SNAPSHOTS_TO_KEEP))
    max_age = int(properties.get(MAX_SNAPSHOT_AGE_MS, 0))
    protected = {ref.snapshot_id for ref in metadata.refs.values()}  # branch heads and tags are never expired
    newest_first = sorted(metadata.snapshots, key=lambda s: (s.timestamp_ms, s.sequence_number or 0), reverse=True)
    return [
        s.snapshot_id
        for s in newest_first[max(keep, 1) :]
        if s.snapshot_id not in protected and s.timestamp_ms < now_ms - max_age
    ]


def expire_snapshots(tx: Transaction) -> list[str]:
    """Expire, in the commit's transaction, the snapshots past the retention; returns their manifest lists."""
    import time

    from pyiceberg.table.update.snapshot import ExpireSnapshots

    metadata = tx.table_metadata
    expired = expired_snapshot_ids(metadata, int(time.time() * 1000))
    if not expired:
        return []
    lists = [s.manifest_list for s in metadata.snapshots if s.snapshot_id in set(expired)]
    ExpireSnapshots(tx).by_ids(expired).commit()
    return lists
