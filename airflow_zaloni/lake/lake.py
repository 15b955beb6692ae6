"""The lake: a root URI holding datasets by zone, read through manifests and written through transactions."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from airflow_zaloni.lake import locks
from airflow_zaloni.lake.errors import LakeError
from airflow_zaloni.lake.journal import JOURNAL_DIR, OWNER_NAME, apply_journal
from airflow_zaloni.lake.manifest import MANIFEST_NAME, STATE_NAME, schema_from_json
from airflow_zaloni.lake.paths import ZONES, DatasetRef, validate_partition
from airflow_zaloni.lake.storage import Storage
from airflow_zaloni.lake.storage_open import open_storage, with_connection
from airflow_zaloni.lake.transaction import Transaction
from airflow_zaloni.lake.writer import DEFAULT_MAX_ROWS_PER_FILE, DEFAULT_ROW_GROUP_BYTES, DEFAULT_ROW_GROUP_ROWS
from airflow_zaloni.utils.arrow_text import parquet_text_problem

_UNOPENED: Any = object()
#: How often a reader plans a table scan again when a file of the snapshot it planned was replaced meanwhile.
_REPLANS = 3


class Lake:
    """A lake rooted at ``root``: a path, ``file://``, ``webhdfs://<conn_id>@/path`` or any fsspec URL.

    :param root: root of the lake.
    :param storage_options: options for the fsspec filesystem of the root (they win over the connection's).
    :param conn_id: Airflow connection with the credentials and endpoint of the root's filesystem (an ``aws``
        connection for ``s3://`` roots; see :mod:`airflow_zaloni.lake.connection`). Needs Airflow.
    :param row_group_rows: rows per Parquet row group of the writers made by this lake's transactions.
    :param row_group_bytes: in-memory bytes after which a writer closes a row group (whichever comes first).
    :param max_rows_per_file: rows per Parquet file before a writer starts the next file.
    :param lock_wait: seconds a commit waits for another commit of the same dataset to finish publishing.
    :param catalog: the Iceberg catalog of the lake's tables (pyiceberg ``load_catalog`` properties such as
        ``{"type": "sql", "uri": "postgresql+psycopg://..."}``, or ``"none"`` for a lake without tables); default:
        the ``[zaloni] catalog_*`` settings, else an embedded SQLite catalog (:mod:`airflow_zaloni.lake.table_catalog`).
    :param stale_after: seconds after which the staging folder or lock of an attempt on another host counts as
        abandoned (on this host a dead pid is recognised at once).
    """

    def __init__(
        self,
        root: str,
        *,
        storage_options: dict[str, Any] | None = None,
        conn_id: str | None = None,
        row_group_rows: int = DEFAULT_ROW_GROUP_ROWS,
        row_group_bytes: int = DEFAULT_ROW_GROUP_BYTES,
        max_rows_per_file: int = DEFAULT_MAX_ROWS_PER_FILE,
        stale_after: float = locks.DEFAULT_STALE_AFTER,
        shared_stale_after: float = 86400.0,
        lock_wait: float = 60.0,
        catalog: dict[str, Any] | str | None = None,
    ) -> None:
        self.root = root
        #: The Iceberg catalog of the lake's tables: pyiceberg catalog properties, ``"none"`` for no tables, or
        #: ``None`` for the ``[zaloni] catalog_*`` settings / the embedded SQLite catalog (see table_catalog.py).
        self.catalog_settings = catalog
        self._catalog: Any = _UNOPENED
        #: The lake's Airflow connection (``None``: the filesystem's own defaults); tables reach the store with it.
        self.conn_id = conn_id or None
        #: The fsspec options of the root's filesystem (with the connection's credentials: never log them).
        self.storage_options: dict[str, Any] = with_connection(root, self.conn_id, storage_options)
        self.storage: Storage = open_storage(root, self.storage_options)
        self.row_group_rows = row_group_rows
        self.row_group_bytes = row_group_bytes
        self.max_rows_per_file = max_rows_per_file
        self.stale_after = stale_after
        self.shared_stale_after = shared_stale_after
        self.lock_wait = lock_wait

    def __repr__(self) -> str:
        return f"Lake({self.root!r})"

    # -- places ----------------------------------------------------------------------------------------------------
    def dataset_path(self, ref: DatasetRef) -> str:
        return self.storage.join(ref.zone, ref.system, ref.name)

    def partition_path(self, ref: DatasetRef, partition: str) -> str:
        return f"{self.dataset_path(ref)}/{validate_partition(partition)}"

    def uri(self, ref: DatasetRef, partition: str | None = None) -> str:
        """A URI of the dataset (or partition) for lineage and Asset events."""
        path = self.dataset_path(ref) if partition is None else self.partition_path(ref, partition)
        return (
            f"{self.storage.protocol}://{path}"
            if self.storage.protocol == "file"
            else f"{self.root.rstrip('/')}/{ref.key}"
        )

    def writer_defaults(self) -> dict[str, Any]:
        return {
            "row_group_rows": self.row_group_rows,
            "row_group_bytes": self.row_group_bytes,
            "max_rows_per_file": self.max_rows_per_file,
        }

    # -- tables ----------------------------------------------------------------------------------------------------
    def table_catalog(self) -> Any:
        """The pyiceberg catalog of this lake's tables (opened once), or ``None`` for a lake without tables."""
        if self._catalog is _UNOPENED:
            from airflow_zaloni.lake.table_catalog import open_catalog

            self._catalog = open_catalog(self)
        return self._catalog

    def close(self) -> None:
        """Release what the lake holds open: its catalog's database connections (a SQLite catalog keeps its file
        open, so a lake on a removable mount cannot be unmounted while it lives). The lake opens them again if used."""
        engine = getattr(self._catalog, "engine", None)
        if engine is not None:
            engine.dispose()
        self._catalog = _UNOPENED

    def table(self, ref: DatasetRef) -> Any:
        """The Iceberg table of ``ref`` (pyiceberg ``Table``), or ``None`` when ``ref`` is not a table."""
        from airflow_zaloni.lake.tables import load_table

        return load_table(self, ref)

    def _table_files(
        self, ref: DatasetRef, *, partition: str | None = None, snapshot_id: int | None = None
    ) -> dict[str, list[dict[str, Any]]] | None:
        """Partition -> files of the table's snapshot, or ``None`` when ``ref`` is a file dataset."""
        from airflow_zaloni.lake.tables import is_table_zone, table_files

        if not is_table_zone(ref):
            if snapshot_id is not None:
                raise LakeError(f"{ref} is not a table (zone {ref.zone} keeps files): it has no snapshots")
            return None
        table = self.table(ref)
        if table is None:
            if snapshot_id is not None:
                raise LakeError(f"{ref} is not an Iceberg table: it has no snapshot {snapshot_id}")
            return None
        return table_files(self, table, snapshot_id=snapshot_id, partition=partition)

    # -- writing ---------------------------------------------------------------------------------------------------
    def transaction(self, **kwargs: Any) -> Transaction[Lake]:
        """A new :class:`Transaction` (``run_id``, ``try_number``, ``producer``, ``txn_id``)."""
        self.check_writable()
        return Transaction(self, **kwargs)

    def commit_parts(
        self,
        txn_id: str,
        targets: list[tuple[DatasetRef, str]],
        parts: list[str],
        *,
        run_id: str | None = None,
        try_number: int | None = None,
        producer: str | None = None,
    ) -> dict[str, Any]:
        """Publish, in one commit, the parts that several tasks prepared in the shared transaction ``txn_id``.

        Every part named in ``parts`` must have been prepared for every ``(dataset, partition)`` target, otherwise
        nothing is published and the error names the missing parts. Files of parts not named are discarded.
        """
        txn = Transaction(self, txn_id=txn_id, shared=True, run_id=run_id, try_number=try_number, producer=producer)
        for ref, partition in targets:
            txn.load_parts(ref, partition, parts)
        summary = txn.commit()
        for ref, partition in targets:
            self.storage.remove(f"{self.partition_path(ref, partition)}/_parts")
        return summary

    def check_writable(self) -> None:
        """Fail early, naming the root, when the lake cannot be written."""
        try:
            self.storage.makedirs(self.storage.base)
            probe = self.storage.join(f"_zaloni_probe_{time.time_ns()}")
            with self.storage.open_write(probe) as f:
                f.write(b"")
            self.storage.remove(probe)
        except (OSError, PermissionError) as exc:
            raise LakeError(f"lake root {self.root!r} is not writable: {exc}") from exc

    # -- recovery ----------------------------------------------------------------------------------------------------
    def recover(self) -> list[str]:
        """Roll forward the commits of killed attempts; returns their transaction ids."""
        done: list[str] = []
        journal_dir = self.storage.join(JOURNAL_DIR)
        for name in self.storage.listdir(journal_dir):
            if not name.endswith(".json"):
                continue
            path = f"{journal_dir}/{name}"
            journal = self.storage.read_json(path)
            if not journal or locks.owner_is_alive(journal.get("owner"), stale_after=self.stale_after):
                continue
            txn_id = journal["txn_id"]
            datasets = sorted({m["dataset"] for m in journal["moves"]} | set(journal["states"]))
            held: list[str] = []
            try:
                for dataset in datasets:
                    lock = f"{dataset}/_commit.lock"
                    locks.acquire(self.storage, lock, txn_id, stale_after=self.stale_after)
                    held.append(lock)
                if self.storage.exists(path):
                    apply_journal(self, journal)
                    self.storage.remove(path)
                    done.append(txn_id)
            except locks.LockHeld:
                continue
            finally:
                for lock in held:
                    locks.release(self.storage, lock, txn_id)
        return done

    def clean_staging(self, ref: DatasetRef, *, keep: str | None = None) -> list[str]:
        """Remove staging and trash folders of dead attempts on ``ref``; returns what was removed."""
        pending = {n[:-5] for n in self.storage.listdir(self.storage.join(JOURNAL_DIR)) if n.endswith(".json")}
        removed = []
        base = self.dataset_path(ref)
        for area in ("_staging", "_trash"):
            for txn_id in self.storage.listdir(f"{base}/{area}"):
                if txn_id == keep or txn_id in pending:
                    continue
                folder = f"{base}/{area}/{txn_id}"
                owner = self.storage.read_json(f"{folder}/{OWNER_NAME}") if area == "_staging" else None
                if area == "_staging" and owner is None:
                    # The owner record is written right after the folder is made; without it, go by age.
                    try:
                        owner = {"host": "?", "created": self.storage.mtime(folder)}
                    except (OSError, FileNotFoundError):
                        owner = None
                # A fan-out's staging is written by tasks that come and go: it is abandoned only after a day.
                stale_after = self.shared_stale_after if owner and owner.get("shared") else self.stale_after
                if area == "_staging" and locks.owner_is_alive(
                    {**owner, "host": "?"} if owner and owner.get("shared") else owner, stale_after=stale_after
                ):
                    continue
                self.storage.remove(folder)
                removed.append(folder)
        return removed

    # -- reading ---------------------------------------------------------------------------------------------------
    def state(self, ref: DatasetRef) -> dict[str, Any]:
        return self.storage.read_json(f"{self.dataset_path(ref)}/{STATE_NAME}") or {}

    def watermark(self, ref: DatasetRef) -> Any:
        """The watermark of the last commit of ``ref`` (``None`` before the first incremental commit)."""
        self.recover()
        return self.state(ref).get("watermark")

    def incremental_window(self, ref: DatasetRef, partition: str) -> tuple[Any, Any]:
        """Lower (exclusive) and upper (inclusive, or ``None`` for open) bounds of an incremental run.

        A first run of an interval reads from the dataset's watermark onwards. A re-run of an interval that was
        already committed replays the range that commit covered -- from its ``watermark.before`` -- so it lands the
        same rows again (replacing its partition) instead of nothing, and never rows that later partitions hold.
        For the most recent commit the range stays open, so late rows are not lost.
        """
        self.recover()
        state = self.state(ref)
        manifest = self.manifest(ref, partition)
        if manifest is None:
            return state.get("watermark"), None
        before = manifest["watermark"]["before"]
        last = state.get("last_commit", {})
        if last.get("txn_id") == manifest.get("txn_id"):
            return before, None
        return before, manifest["watermark"]["after"]

    def manifest(self, ref: DatasetRef, partition: str) -> dict[str, Any] | None:
        data = self.storage.read_json(f"{self.partition_path(ref, partition)}/{MANIFEST_NAME}")
        return data if isinstance(data, dict) else None

    def manifest_partitions(self, ref: DatasetRef) -> list[str]:
        """Partitions of ``ref`` that have a manifest in the lake's folders, sorted (whatever the table says)."""
        base = self.dataset_path(ref)
        return [
            name
            for name in self.storage.listdir(base)
            if "=" in name and not name.startswith(("_", ".")) and self.storage.exists(f"{base}/{name}/{MANIFEST_NAME}")
        ]

    def partitions(self, ref: DatasetRef, *, snapshot_id: int | None = None) -> list[str]:
        """Committed partitions of ``ref``, sorted: those of its table's snapshot (the current one, or
        ``snapshot_id``) for a table, else those with a manifest."""
        files = self._table_files(ref, snapshot_id=snapshot_id)
        if files is None:
            return self.manifest_partitions(ref)
        return sorted(files)

    def datasets(self, zone: str | None = None) -> list[DatasetRef]:
        refs = []
        for z in ZONES if zone is None else (zone,):
            for system in self.storage.listdir(self.storage.join(z)):
                if system.startswith(("_", ".")):
                    continue
                for name in self.storage.listdir(self.storage.join(z, system)):
                    if name.startswith(("_", ".")):
                        continue
                    try:
                        refs.append(DatasetRef(z, system, name))
                    except LakeError:
                        continue
        return refs

    def schema(self, ref: DatasetRef, partition: str | None = None) -> pa.Schema | None:
        parts = [partition] if partition else list(reversed(self.partitions(ref)))
        for p in parts:
            manifest = self.manifest(ref, p)
            if manifest and manifest.get("schema"):
                return schema_from_json(manifest["schema"])
        return None

    def data_files(self, ref: DatasetRef, partition: str, *, snapshot_id: int | None = None) -> list[str]:
        """Paths of the Parquet files of ``partition``: from the table's snapshot for a table, else from the
        partition's manifest (what a commit published).

        For the current snapshot every path is checked to exist (see :meth:`_read_planned`), so an engine handed
        these paths (DuckDB, Spark) never meets a file that a concurrent commit replaced. An earlier
        ``snapshot_id`` lists its files as they were, gone or not.
        """
        if snapshot_id is not None:
            return self._partition_files(ref, partition, snapshot_id)
        return list(self._read_planned(ref, partition, None, self._present))

    def _present(self, paths: list[str]) -> list[str]:
        """``paths``, once each is there; ``FileNotFoundError`` (plan again) when one is not."""
        for path in paths:
            if not self.storage.exists(path):
                raise FileNotFoundError(path)
        return paths

    def _partition_files(self, ref: DatasetRef, partition: str, snapshot_id: int | None) -> list[str]:
        files = self._table_files(ref, partition=partition, snapshot_id=snapshot_id)
        if files is not None:
            if partition not in files:
                raise LakeError(f"{ref} has no committed partition {partition!r} in its table")
            return [f["path"] for f in files[partition]]
        return self._manifest_files(ref, partition)

    def _manifest_files(self, ref: DatasetRef, partition: str) -> list[str]:
        manifest = self.manifest(ref, partition)
        if manifest is None:
            raise LakeError(f"{ref} has no committed partition {partition!r}")
        base = self.partition_path(ref, partition)
        return [f"{base}/{f['path']}" for f in manifest["files"] if f.get("rows") is not None]

    def _planned_files(
        self, ref: DatasetRef, partition: str | None, snapshot_id: int | None, *, manifests: bool = False
    ) -> list[str]:
        if manifests:  # the commit record of each partition folder (absent while a publish replaces it)
            return [
                path
                for p in ([partition] if partition else self.manifest_partitions(ref))
                if self.manifest(ref, p) is not None
                for path in self._manifest_files(ref, p)
            ]
        return [
            path
            for p in ([partition] if partition else self.partitions(ref, snapshot_id=snapshot_id))
            for path in self._partition_files(ref, p, snapshot_id)
        ]

    def _read_planned(self, ref: DatasetRef, partition: str | None, snapshot_id: int | None, read: Any) -> Any:
        """Run ``read(paths)`` on the planned files; plan again when a commit replaced a file meanwhile.

        A table's snapshot is committed right after the partition's folder is published: in between, the current
        snapshot names the replaced files. A reader plans again a few times; if the snapshot still names a missing
        file (the commit was killed there and waits for its roll-forward), it reads what the partitions' manifests
        say -- each partition whole as it was, whole as it is, or absent, as readers of the files always saw it.
        """
        for attempt in range(_REPLANS + 1):
            paths = self._planned_files(ref, partition, snapshot_id)
            try:
                return read(paths)
            except FileNotFoundError:
                if snapshot_id is not None:
                    raise
                if attempt < _REPLANS:
                    time.sleep(0.2 * (attempt + 1))
        return read(self._planned_files(ref, partition, None, manifests=True))

    def iter_batches(
        self,
        ref: DatasetRef,
        partition: str | None = None,
        *,
        columns: list[str] | None = None,
        batch_size: int = 65536,
        snapshot_id: int | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """Committed rows of ``ref`` (one partition or all), batch by batch in bounded memory.

        Files are read as written (the exact Arrow types); which files is the table's business for a table.
        """
        # a file replaced by a concurrent commit shows up before any row is handed out (then: plan again)
        for path in self._read_planned(ref, partition, snapshot_id, self._present):
            with self.storage.open_read(path) as f:
                yield from pq.ParquetFile(f).iter_batches(batch_size=batch_size, columns=columns)

    def read_table(
        self,
        ref: DatasetRef,
        partition: str | None = None,
        *,
        columns: list[str] | None = None,
        snapshot_id: int | None = None,
    ) -> pa.Table:
        """Committed rows of ``ref`` as one table (for small data and tests; use :meth:`iter_batches` otherwise)."""

        def read(paths: list[str]) -> list[pa.Table]:
            tables = []
            for path in paths:
                with self.storage.open_read(path) as f:
                    tables.append(pq.read_table(f, columns=columns))
            return tables

        tables = self._read_planned(ref, partition, snapshot_id, read)
        if not tables:
            schema = self.schema(ref, partition)
            if schema is None:
                return pa.table({})
            return schema.empty_table() if columns is None else schema.empty_table().select(columns)
        return pa.concat_tables(tables, promote_options="permissive")

    # -- checking ----------------------------------------------------------------------------------------------------
    def verify(self, refs: list[DatasetRef] | None = None, *, snapshot_id: int | None = None) -> list[str]:
        """Re-read every committed file and compare size and sha256 with its manifest, check that the string
        columns of its Parquet files are valid UTF-8, and that a table's snapshot and the manifests name the same
        files; returns the problems. ``snapshot_id`` checks that snapshot of the (one) table in ``refs`` instead."""
        problems: list[str] = []
        for ref in refs if refs is not None else self.datasets():
            table_files = self._table_files(ref, snapshot_id=snapshot_id)
            partitions = self.manifest_partitions(ref) if table_files is None else list(table_files)
            if table_files is not None and snapshot_id is None:
                problems.extend(self._catalog_disagreements(ref, table_files))
            for partition in partitions:
                manifest = self.manifest(ref, partition) or {}
                base = self.partition_path(ref, partition)
                entries = list(manifest.get("files", []))
                if table_files is not None:
                    listed = {f"{base}/{e['path']}" for e in entries}
                    # files of an older snapshot that today's manifest no longer lists: size from the table
                    entries.extend(
                        {"path": f["path"][len(base) + 1 :], "bytes": f["bytes"], "sha256": None}
                        for f in table_files.get(partition, [])
                        if f["path"] not in listed
                    )
                for entry in entries:
                    problem = self._check_file(f"{base}/{entry['path']}", entry, ref, partition)
                    if problem:
                        problems.append(problem)
        return problems

    def _catalog_disagreements(self, ref: DatasetRef, table_files: dict[str, list[dict[str, Any]]]) -> list[str]:
        """Where the table's current snapshot and the partitions' manifests name different data files."""
        problems = []
        in_manifests = {}
        for partition in self.manifest_partitions(ref):
            manifest = self.manifest(ref, partition) or {}
            base = self.partition_path(ref, partition)
            names = {f"{base}/{f['path']}" for f in manifest.get("files", []) if f.get("rows") is not None}
            if names:
                in_manifests[partition] = names
        for partition in sorted(set(in_manifests) | set(table_files)):
            in_table = {f["path"] for f in table_files.get(partition, [])}
            listed = in_manifests.get(partition, set())
            if in_table != listed:
                only_table = sorted(p.rsplit("/", 1)[-1] for p in in_table - listed)
                only_manifest = sorted(p.rsplit("/", 1)[-1] for p in listed - in_table)
                problems.append(
                    f"{ref} {partition}: the table's snapshot and the manifest disagree (only in the table: "
                    f"{only_table or 'none'}; only in the manifest: {only_manifest or 'none'})"
                )
        return problems

    def _check_file(self, path: str, entry: dict[str, Any], ref: DatasetRef, partition: str) -> str | None:
        try:
            digest = hashlib.sha256()
            size = 0
            with self.storage.open_read(path) as f:
                while chunk := f.read(8 << 20):
                    digest.update(chunk)
                    size += len(chunk)
        except FileNotFoundError:
            return f"{path}: missing (listed in {ref} {partition})"
        if size != entry["bytes"]:
            return f"{path}: size {size} bytes, manifest says {entry['bytes']}"
        if entry.get("sha256") and digest.hexdigest() != entry["sha256"]:
            return f"{path}: sha256 {digest.hexdigest()} does not match the manifest"
        if path.endswith(".parquet"):
            # Intact bytes can still hold strings that are not UTF-8 (a producer broke Arrow's promise).
            with self.storage.open_read(path) as f:
                text_problem = parquet_text_problem(f)
            if text_problem is not None:
                return f"{path}: {text_problem}"
        return None


def dumps_manifest(manifest: dict[str, Any]) -> str:
    return json.dumps(manifest, indent=2, default=str)
