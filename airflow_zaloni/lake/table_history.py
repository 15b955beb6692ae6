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

Expiring removes the snapshots from the table's metadata, and then the files only they named: their manifest lists
and the manifests no kept snapshot names (merged or rewritten since). No data file is deleted (the lake deletes the
files a commit replaces itself, see ``transaction.py``).

A roll-forward of a journal must recognise a transaction that the table holds already (``tables.py``), also once
its snapshot expired -- by the lake's retention or by an engine's ``expire_snapshots`` -- and also after an engine's
commits on top of it. The snapshot summaries cannot say so then; the table property ``zaloni.txn-ids``
(:data:`TXN_IDS`) can: each lake commit records its transaction id there, in the same Iceberg commit as its
snapshot, and the property keeps the last :data:`TXN_IDS_TO_KEEP`.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyiceberg.io import FileIO
    from pyiceberg.table import Transaction
    from pyiceberg.table.metadata import TableMetadata

log = logging.getLogger(__name__)

#: Manifests a table has before a commit merges them into one.
MANIFESTS_TO_MERGE = 8
#: Snapshots a table keeps (the newest ones) when its properties say nothing else.
SNAPSHOTS_TO_KEEP = 20
MIN_SNAPSHOTS_TO_KEEP = "history.expire.min-snapshots-to-keep"
MAX_SNAPSHOT_AGE_MS = "history.expire.max-snapshot-age-ms"

#: Table property: the ids of the table's last lake transactions, a JSON list, newest last.
TXN_IDS = "zaloni.txn-ids"
#: Transaction ids :data:`TXN_IDS` keeps: far more than the commits that can come between a table commit and the
#: roll-forward of its journal (the next lake operation, or ``stale_after`` later when its writer ran on another host).
TXN_IDS_TO_KEEP = 100

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
    the overwrite's manifests, under the table's ``commit.manifest.*`` properties. The producer's ``merged_away``
    lists, after the commit, the manifests it wrote and merged at once (pyiceberg leaves them behind).
    """
    from pyiceberg.table import TableProperties as P
    from pyiceberg.table.snapshots import Operation
    from pyiceberg.table.update.snapshot import _MergeAppendFiles, _OverwriteFiles
    from pyiceberg.utils.properties import property_as_bool, property_as_int

    class _MergingOverwrite(_OverwriteFiles):
        #: Manifests this commit wrote and then merged into another: no snapshot ever names them.
        merged_away: list[str] = []

        def _process_manifests(self, manifests: list[Any]) -> list[Any]:
            merged = _MergeAppendFiles._process_manifests(self, manifests)  # type: ignore[arg-type]
            named = {m.manifest_path for m in merged}
            self.merged_away = [
                m.manifest_path
                for m in manifests
                if m.added_snapshot_id == self._snapshot_id and m.manifest_path not in named
            ]
            return merged

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


def recorded_txn_ids(properties: dict[str, str]) -> list[str]:
    """The transaction ids :data:`TXN_IDS` holds (oldest first)."""
    try:
        ids = json.loads(properties.get(TXN_IDS) or "[]")
    except ValueError:
        return []
    return [str(i) for i in ids] if isinstance(ids, list) else []


def commit_properties(properties: dict[str, str], txn_id: str) -> dict[str, str]:
    """The table properties a lake commit sets: ``txn_id`` recorded, and housekeeping a table created before it
    lacks (its manifests merge and its history is bounded from then on)."""
    missing = {k: v for k, v in HOUSEKEEPING_PROPERTIES.items() if k not in properties}
    ids = [i for i in recorded_txn_ids(properties) if i != txn_id] + [txn_id]
    return {**missing, TXN_IDS: json.dumps(ids[-TXN_IDS_TO_KEEP:])}


def expire_snapshots(tx: Transaction, io: FileIO) -> list[str]:
    """Expire, in the commit's transaction, the snapshots past the retention; returns the files nothing will name
    once the transaction committed (the expired snapshots' manifest lists and the manifests only they named)."""
    import time

    from pyiceberg.table.update.snapshot import ExpireSnapshots

    metadata = tx.table_metadata
    expired = set(expired_snapshot_ids(metadata, int(time.time() * 1000)))
    if not expired:
        return []
    gone = [s for s in metadata.snapshots if s.snapshot_id in expired]
    kept = [s for s in metadata.snapshots if s.snapshot_id not in expired]
    try:
        unnamed = {m.manifest_path for s in gone for m in s.manifests(io)}
        for snapshot in _naming_every_kept_manifest(kept, metadata):
            unnamed -= {m.manifest_path for m in snapshot.manifests(io)}
    except Exception as exc:  # a manifest list that cannot be read: leave its manifests, expire anyway
        log.warning("%s: the manifests of expired snapshots stay (cannot list them: %s)", metadata.location, exc)
        unnamed = set()
    ExpireSnapshots(tx).by_ids(sorted(expired)).commit()
    return [s.manifest_list for s in gone] + sorted(unnamed)


def _naming_every_kept_manifest(kept: list[Any], metadata: Any) -> list[Any]:
    """The kept snapshots whose manifests are all the kept snapshots' manifests.

    In a linear history (only the ``main`` branch, every kept snapshot an ancestor of its head) that is the oldest
    kept one: a snapshot names its parent's manifests or new ones (new names), never a manifest that its parent
    dropped. Otherwise (tags, branches, a rollback) every kept snapshot is read.
    """
    by_id = {s.snapshot_id: s for s in kept}
    head = metadata.refs.get("main")
    chain: list[Any] = []
    snapshot_id = head.snapshot_id if head is not None else None
    while snapshot_id in by_id:
        chain.append(by_id[snapshot_id])
        snapshot_id = by_id[snapshot_id].parent_snapshot_id
    if set(metadata.refs) <= {"main"} and len(chain) == len(kept):
        return chain[-1:]
    return kept
