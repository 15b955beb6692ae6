"""The commit protocol: every write to the lake is atomic and idempotent.

Writers put files in a staging folder private to the attempt, ``<dataset>/_staging/<txn_id>/<partition>/`` (hidden
from pyarrow, Spark and Hive by the leading ``_``). Commit then:

1. closes every file and writes each partition's ``_manifest.json`` into its staging folder;
2. takes the commit lock of every dataset involved (sorted, so two transactions never deadlock);
3. checks that no other attempt committed those partitions or moved those watermarks since this attempt began
   (otherwise :class:`CommitConflictError`: of two racing attempts only one publishes);
4. writes the journal ``<root>/_zaloni/txn/<txn_id>.json``: the list of partition moves and state updates. Writing it
   is the commit point;
5. applies the journal: each old partition folder is renamed into ``_trash``, each staged folder renamed into place,
   then one Iceberg snapshot per table dataset is committed (zones raw/trusted/refined, see ``tables.py``: it
   replaces the partitions' files and its summary carries the transaction id and watermark), then the datasets'
   ``_state.json`` (watermark) files are replaced;
6. deletes the journal, the trash and the staging folder, and releases the locks.

A process killed before step 4 leaves only staging garbage, removed by the next attempt. A process killed during
step 5 leaves a journal that the next lake operation on the same root rolls forward (every step of the journal can be
repeated). A reader therefore sees each partition either as it was or as it is after the commit, never half-written;
between the two renames of step 5 the partition is briefly absent. A reader through an Iceberg table sees the
snapshot before or after the commit; between the publish and the snapshot commit (or until the roll-forward after a
kill there) the previous snapshot may name a replaced file that is gone: the lake's own readers plan again then.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import pyarrow as pa

from airflow_zaloni import __version__
from airflow_zaloni.lake import locks
from airflow_zaloni.lake.errors import CommitConflictError, LakeError
from airflow_zaloni.lake.handle import LakeHandle
from airflow_zaloni.lake.journal import JOURNAL_DIR, OWNER_NAME, apply_journal
from airflow_zaloni.lake.manifest import MANIFEST_NAME, build_manifest, schema_to_json
from airflow_zaloni.lake.paths import DatasetRef, validate_name, validate_partition
from airflow_zaloni.lake.tables import plan as tables_plan
from airflow_zaloni.lake.writer import LakeFileWriter, LakeWriter

#: The lake a transaction writes (the protocol keeps ``lake.py``, which makes transactions, out of this module).
LakeT = TypeVar("LakeT", bound=LakeHandle)
PARTS_DIR = "_parts"
LOCK_NAME = "_commit.lock"
_UNSET: Any = object()


@dataclass
class _Stage:
    """One partition of one dataset being written by the transaction."""

    ref: DatasetRef
    partition: str
    dir: str
    base_commit: str | None
    writer: LakeWriter | None = None
    files: list[LakeFileWriter] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    #: Part records of a fan-out commit (see :meth:`Transaction.prepare` and :meth:`Lake.commit_parts`).
    parts: list[dict[str, Any]] = field(default_factory=list)


class Transaction(Generic[LakeT]):
    """Writes to several datasets and partitions that are published together.

    Use as a context manager: leaving the block normally commits, an exception aborts (nothing is published and the
    staging folder is removed).
    """

    def __init__(
        self,
        lake: LakeT,
        *,
        run_id: str | None = None,
        try_number: int | None = None,
        producer: str | None = None,
        txn_id: str | None = None,
        shared: bool = False,
    ) -> None:
        self.lake = lake
        #: A shared transaction is written by several tasks (a fan-out); its staging outlives each of them.
        self.shared = shared
        self.run_id = run_id
        self.try_number = try_number
        self.producer = producer or "airflow_zaloni"
        self.txn_id = txn_id or f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:12]}"
        validate_name("transaction id", self.txn_id)
        self.started = time.time()
        self._stages: dict[tuple[DatasetRef, str], _Stage] = {}
        self._state_base: dict[DatasetRef, int] = {}
        self._watermarks: dict[DatasetRef, tuple[Any, Any]] = {}
        self._prepared_datasets: set[DatasetRef] = set()
        self.state = "open"
        self.summary: dict[str, Any] = {}

    # -- writing -------------------------------------------------------------------------------------------------
    def writer(
        self,
        ref: DatasetRef,
        partition: str,
        *,
        schema: pa.Schema | None = None,
        source: dict[str, Any] | None = None,
        file_prefix: str = "part",
        **options: Any,
    ) -> LakeWriter:
        """A :class:`LakeWriter` for ``partition`` of ``ref``; the partition is replaced as a whole at commit.

        ``file_prefix`` names the files (``<prefix>-<txn_id>-00000.parquet``...); each part of a fan-out uses its
        own, and a retried part first removes the files its earlier try left.
        """
        validate_name("file prefix", file_prefix)
        stage = self._stage(ref, partition)
        if stage.writer is not None:
            raise LakeError(f"{ref} {partition}: this transaction already has a writer for the partition")
        if self.shared:
            self._remove_part_files(stage, file_prefix)
        defaults = self.lake.writer_defaults()
        defaults.update(options)
        stage.writer = LakeWriter(
            storage=self.lake.storage,
            ref=ref,
            partition=partition,
            staging_dir=stage.dir,
            schema=schema,
            source=source,
            file_prefix=file_prefix,
            file_tag=self.txn_id,
            **defaults,
        )
        return stage.writer

    def open_file(self, ref: DatasetRef, partition: str, name: str) -> LakeFileWriter:
        """A binary stream for a file kept byte for byte (the landing zone); close it (or use ``with``)."""
        validate_name("file", name)
        stage = self._stage(ref, partition)
        if any(f.name == name for f in stage.files):
            raise LakeError(f"{ref} {partition}: file {name!r} is written twice in one transaction")
        writer = LakeFileWriter(self.lake.storage.open_write(f"{stage.dir}/{name}"), name=name)
        stage.files.append(writer)
        return writer

    def manifest_extra(self, ref: DatasetRef, partition: str) -> dict[str, Any]:
        """Extra manifest fields of a partition that has only raw files (writers have their own ``extra``)."""
        return self._stage(ref, partition).extra

    def set_watermark(self, ref: DatasetRef, after: Any, *, before: Any = _UNSET) -> None:
        """Record the watermark the data of ``ref`` reaches; it is published in the same commit as the data.

        The dataset's watermark only moves forward: a re-run that lands an older range leaves it where it is.
        """
        self._ensure_open()
        self._prepare_dataset(ref)
        if before is _UNSET:
            before = self.lake.watermark(ref)
        self._watermarks[ref] = (before, after)

    def watermark_before(self, ref: DatasetRef) -> Any:
        return self._watermarks.get(ref, (None, None))[0]

    # -- fan-out: prepare a part now, commit all parts later ----------------------------------------------------
    def prepare(self, part: str) -> dict[str, Any]:
        """Close this part's files and record them in staging without publishing anything.

        Several tasks (a mapped task, one per split or byte range) each write one part of the same shared
        transaction; :meth:`Lake.commit_parts` later publishes all parts in one commit. Preparing a part again
        (a retry) replaces its earlier record and files.
        """
        self._ensure_open()
        if not self.shared:
            raise LakeError("prepare() needs a shared transaction (Lake.transaction(shared=True, txn_id=...))")
        validate_name("part", part)
        storage = self.lake.storage
        summary = []
        for stage in self._stages.values():
            for f in stage.files:
                f.close()
            if stage.writer is not None:
                stage.writer.close()
            before, after = self._watermarks.get(stage.ref, (None, None))
            record = {
                "part": part,
                "run_id": self.run_id,
                "try_number": self.try_number,
                "files": _stage_files(stage),
                "rows": stage.writer.rows if stage.writer is not None else None,
                "schema": schema_to_json(stage.writer.schema if stage.writer is not None else None),
                "source": stage.writer.source if stage.writer is not None else {},
                "extra": {**stage.extra, **(stage.writer.extra if stage.writer is not None else {})},
                "watermark": {"before": before, "after": after} if stage.ref in self._watermarks else None,
            }
            storage.makedirs(f"{stage.dir}/{PARTS_DIR}")
            storage.write_atomic(f"{stage.dir}/{PARTS_DIR}/{part}.json", json.dumps(record, default=str).encode())
            summary.append({"dataset": stage.ref.key, "partition": stage.partition, "rows": record["rows"]})
        self.state = "prepared"
        return {"txn_id": self.txn_id, "part": part, "datasets": summary}

    def _remove_part_files(self, stage: _Stage, prefix: str) -> None:
        storage = self.lake.storage
        for name in storage.listdir(stage.dir):
            if name.startswith(f"{prefix}-"):
                storage.remove(f"{stage.dir}/{name}")

    def load_parts(self, ref: DatasetRef, partition: str, parts: list[str]) -> None:
        """Take the prepared parts of a shared transaction into this (committing) transaction."""
        stage = self._stage(ref, partition)
        storage = self.lake.storage
        found = {n[:-5] for n in storage.listdir(f"{stage.dir}/{PARTS_DIR}") if n.endswith(".json")}
        missing = sorted(set(parts) - found)
        if missing:
            raise LakeError(
                f"{ref} {partition}: parts {', '.join(missing)} of transaction {self.txn_id} were never prepared "
                f"(prepared: {', '.join(sorted(found)) or 'none'}); nothing is published"
            )
        stage.parts = [storage.read_json(f"{stage.dir}/{PARTS_DIR}/{p}.json") for p in sorted(parts)]
        keep = {f["path"] for record in stage.parts for f in record["files"]}
        for name in storage.listdir(stage.dir):  # files of parts that are no longer expected must not be published
            if not name.startswith(("_", ".")) and name not in keep:
                storage.remove(f"{stage.dir}/{name}")
        watermarks = [r["watermark"] for r in stage.parts if r.get("watermark")]
        if watermarks:
            afters = [w["after"] for w in watermarks if w["after"] is not None]
            befores = [w["before"] for w in watermarks]
            self.set_watermark(ref, max(afters) if afters else None, before=befores[0])

    # -- commit / abort ------------------------------------------------------------------------------------------
    def __enter__(self) -> Transaction[LakeT]:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self.state != "open":
            return
        if exc_type is None:
            self.commit()
        else:
            self.abort()

    def abort(self) -> None:
        """Discard everything written; nothing was published.

        A shared transaction removes only the files this task wrote: the other parts stay prepared.
        """
        if self.state != "open":
            return
        for stage in self._stages.values():
            if stage.writer is not None:
                stage.writer.abort()
                if self.shared:
                    self._remove_part_files(stage, stage.writer.file_prefix)
            for f in stage.files:
                f.close()
                if self.shared:
                    self.lake.storage.remove(f"{stage.dir}/{f.name}")
        if not self.shared:
            self._cleanup_staging()
        self.state = "aborted"

    def commit(self) -> dict[str, Any]:
        """Publish every partition and watermark of the transaction in one step; returns the summary."""
        self._ensure_open()
        if not self._stages and not self._watermarks:
            self.state = "committed"
            return self.summary
        storage = self.lake.storage
        try:
            manifests = self._write_manifests()
        except BaseException:
            self.abort()
            raise
        datasets = sorted({s.ref for s in self._stages.values()} | set(self._watermarks))
        held: list[str] = []
        try:
            for ref in datasets:
                lock = f"{self.lake.dataset_path(ref)}/{LOCK_NAME}"
                try:
                    locks.acquire(storage, lock, self.txn_id, wait=self.lake.lock_wait)
                except locks.LockHeld as exc:
                    owner = exc.owner
                    raise CommitConflictError(
                        f"{ref}: another attempt is committing this dataset right now (transaction "
                        f"{owner.get('txn_id')}, host {owner.get('host')}, pid {owner.get('pid')})"
                    ) from exc
                held.append(lock)
            self._check_conflicts()
            journal = self._journal(manifests)
            storage.makedirs(self.lake.storage.join(JOURNAL_DIR))
            storage.write_atomic(self._journal_path(), json.dumps(journal).encode())
            self.state = "committing"
            apply_journal(self.lake, journal)
            storage.remove(self._journal_path())
        except BaseException:
            if self.state == "open":
                self.abort()
            raise
        finally:
            for lock in held:
                locks.release(storage, lock, self.txn_id)
        self.state = "committed"
        self.summary = {
            "txn_id": self.txn_id,
            "datasets": [
                {
                    "dataset": m["dataset"],
                    "partition": m["partition"],
                    "rows": m["totals"]["rows"],
                    "bytes": m["totals"]["bytes"],
                    "files": m["totals"]["files"],
                    "watermark": m["watermark"]["after"],
                }
                for m in manifests.values()
            ],
        }
        return self.summary

    # -- internals -----------------------------------------------------------------------------------------------
    def _ensure_open(self) -> None:
        if self.state != "open":
            raise LakeError(f"transaction {self.txn_id} is {self.state}")

    def _stage(self, ref: DatasetRef, partition: str) -> _Stage:
        self._ensure_open()
        validate_partition(partition)
        key = (ref, partition)
        if key not in self._stages:
            self._prepare_dataset(ref)
            storage = self.lake.storage
            stage_dir = f"{self.lake.dataset_path(ref)}/_staging/{self.txn_id}/{partition}"
            try:
                storage.makedirs(stage_dir)
                owner = f"{self.lake.dataset_path(ref)}/_staging/{self.txn_id}/{OWNER_NAME}"
                if not storage.exists(owner):
                    record = {**locks.owner_record(self.txn_id), "shared": self.shared}
                    storage.write_atomic(owner, json.dumps(record).encode())
            except OSError as exc:
                raise LakeError(f"cannot write to the lake at {stage_dir}: {exc}") from exc
            current = self.lake.manifest(ref, partition)
            self._stages[key] = _Stage(ref, partition, stage_dir, current.get("txn_id") if current else None)
        return self._stages[key]

    def _prepare_dataset(self, ref: DatasetRef) -> None:
        """First touch of a dataset: finish or clean what killed attempts left, and note its state version."""
        if ref in self._prepared_datasets:
            return
        self.lake.recover()
        self.lake.clean_staging(ref, keep=self.txn_id)
        self._state_base[ref] = int(self.lake.state(ref).get("version", 0))
        self._prepared_datasets.add(ref)

    def _write_manifests(self) -> dict[tuple[DatasetRef, str], dict[str, Any]]:
        manifests: dict[tuple[DatasetRef, str], dict[str, Any]] = {}
        storage = self.lake.storage
        for key, stage in self._stages.items():
            for f in stage.files:
                f.close()
            if stage.writer is not None:
                stage.writer.close()
            before, after = self._watermarks.get(stage.ref, (None, None))
            if stage.parts:
                files = [f for record in stage.parts for f in record["files"]]
                rows = sum(r["rows"] or 0 for r in stage.parts)
                schema_json = next((r["schema"] for r in stage.parts if r["schema"]), None)
                source: dict[str, Any] = {"parts": [r["source"] for r in stage.parts]}
                extra = {"parts": {r["part"]: {"rows": r["rows"], **r["extra"]} for r in stage.parts}}
            else:
                files = _stage_files(stage)
                rows = stage.writer.rows if stage.writer is not None else None
                schema_json = schema_to_json(stage.writer.schema if stage.writer is not None else None)
                source = stage.writer.source if stage.writer is not None else stage.extra.pop("source", {})
                extra = {**stage.extra, **(stage.writer.extra if stage.writer is not None else {})}
            manifest = build_manifest(
                ref=stage.ref,
                partition=stage.partition,
                txn_id=self.txn_id,
                run_id=self.run_id,
                try_number=self.try_number,
                producer=self.producer,
                producer_version=__version__,
                files=files,
                rows=rows,
                schema=schema_json,
                source=source,
                extra=extra,
                watermark_before=before,
                watermark_after=after if stage.ref in self._watermarks else before,
                started=self.started,
            )
            storage.write_atomic(f"{stage.dir}/{MANIFEST_NAME}", json.dumps(manifest, indent=1, default=str).encode())
            manifests[key] = manifest
        return manifests

    def _check_conflicts(self) -> None:
        for stage in self._stages.values():
            current = self.lake.manifest(stage.ref, stage.partition)
            current_id = current.get("txn_id") if current else None
            if current_id != stage.base_commit:
                who = f"run {current.get('run_id')} try {current.get('try_number')}" if current else "another attempt"
                raise CommitConflictError(
                    f"{stage.ref} {stage.partition}: the partition was committed by {who} (transaction {current_id}) "
                    "while this attempt ran; this attempt publishes nothing"
                )
        for ref in self._watermarks:
            version = int(self.lake.state(ref).get("version", 0))
            if version != self._state_base.get(ref, 0):
                raise CommitConflictError(
                    f"{ref}: the dataset's watermark was moved by another commit while this attempt ran; "
                    "this attempt publishes nothing"
                )

    def _journal(self, manifests: dict[tuple[DatasetRef, str], dict[str, Any]]) -> dict[str, Any]:
        states: dict[str, dict[str, Any]] = {}
        for ref in sorted({s.ref for s in self._stages.values()} | set(self._watermarks)):
            state = dict(self.lake.state(ref))
            state["version"] = int(state.get("version", 0)) + 1
            if ref in self._watermarks:
                state["watermark"] = _forward(state.get("watermark"), self._watermarks[ref][1])
            state["last_commit"] = {
                "txn_id": self.txn_id,
                "run_id": self.run_id,
                "try_number": self.try_number,
                "committed_at": time.time(),
                "partitions": sorted(p for (r, p) in manifests if r == ref),
            }
            states[self.lake.dataset_path(ref)] = state
        tables = []
        for ref in sorted({s.ref for s in self._stages.values()}):
            entry = tables_plan(ref, self.lake.dataset_path(ref), [m for (r, _p), m in manifests.items() if r == ref])
            if entry is not None:
                tables.append(entry)
        return {
            "txn_id": self.txn_id,
            "owner": locks.owner_record(self.txn_id),
            "moves": [
                {"dataset": self.lake.dataset_path(s.ref), "partition": s.partition} for s in self._stages.values()
            ],
            "states": states,
            "tables": tables,
        }

    def _journal_path(self) -> str:
        return self.lake.storage.join(JOURNAL_DIR, f"{self.txn_id}.json")

    def _cleanup_staging(self) -> None:
        for ref in {s.ref for s in self._stages.values()}:
            self.lake.storage.remove(f"{self.lake.dataset_path(ref)}/_staging/{self.txn_id}")


def _stage_files(stage: _Stage) -> list[dict[str, Any]]:
    files: list[dict[str, Any]] = list(stage.writer.files) if stage.writer is not None else []
    files.extend({"path": f.name, "rows": None, "bytes": f.bytes, "sha256": f.sha256.hexdigest()} for f in stage.files)
    return files


def _forward(current: Any, new: Any) -> Any:
    """The watermark only moves forward; values of different types (a changed column) take the new one."""
    if new is None:
        return current
    if current is None:
        return new
    try:
        return new if new > current else current
    except TypeError:
        return new
