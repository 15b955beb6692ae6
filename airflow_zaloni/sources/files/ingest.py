"""File ingest into one lake transaction: select, decide against the ledger, land bytes, decode, record.

Airflow-free: give it a :class:`~airflow_zaloni.sources.files.client.FileSystem`, a folder and a transaction. The
operator (:class:`airflow_zaloni.operators.files.FileToLakeOperator`) only connects and calls :meth:`FileIngest.run`,
then applies the completion strategy with :func:`complete` once the transaction has committed.

What one run writes, all in the same transaction (so all or nothing):

* ``landing/<system>/<dataset>/<partition>/``: each file's bytes as received (sha256 computed while streaming);
* ``<zone>/<system>/<dataset>/<partition>/``: the decoded rows (not for ``format="binary"``);
* ``landing/<system>/<dataset>.files/<partition>/``: the ledger rows of those files (see :mod:`.ledger`);
* ``<zone>/<system>/<dataset>.rejected/<partition>/``: rows set aside by ``bad_rows="quarantine"``.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import logging
import os
import posixpath
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from airflow_zaloni.sources.base import SourceError
from airflow_zaloni.sources.files.client import FileSystem, FileVanishedError, RemoteFile, check_name, copy_stream
from airflow_zaloni.sources.files.formats import Decoded, FormatOptions, Rejected, decode, format_for
from airflow_zaloni.sources.files.ledger import (
    LEDGER_SCHEMA,
    LEDGER_SUFFIX,
    Ledger,
    LedgerEntry,
    entries_table,
    entry_from_row,
)
from airflow_zaloni.sources.files.ledger import landing_name as make_landing_name
from airflow_zaloni.sources.files.schema import Drift, conform, resolve

if TYPE_CHECKING:
    from airflow_zaloni.lake import DatasetRef, Lake, Transaction

log = logging.getLogger(__name__)

COMPLETION_STRATEGIES = ("leave", "move", "delete")
EMPTY_FILE_POLICIES = ("skip", "error", "land")
REJECTED_SUFFIX = ".rejected"
REJECTED_SCHEMA = pa.schema(
    [
        pa.field("file", pa.string()),
        pa.field("line", pa.int64()),
        pa.field("text", pa.string()),
        pa.field("reason", pa.string()),
    ]
)


@dataclass
class Landed:
    """A file of this run: where its bytes are readable locally, and its ledger entry."""

    entry: LedgerEntry
    local_path: str
    carried: bool = False
    decoded_rows: int = 0
    rejected: list[Rejected] = field(default_factory=list)


@dataclass
class IngestResult:
    """What a run did; ``completed`` lists the source files the completion strategy applies to."""

    landed: list[Landed] = field(default_factory=list)
    skipped: list[tuple[RemoteFile, str]] = field(default_factory=list)
    drift: list[Drift] = field(default_factory=list)
    rows: int = 0
    rejected_rows: int = 0
    deferred: int = 0

    @property
    def completed(self) -> list[RemoteFile]:
        """Source files safely in the lake: the new ones and those a previous run already committed."""
        fresh = [
            RemoteFile(x.entry.source, x.entry.path, x.entry.size, x.entry.mtime) for x in self.landed if not x.carried
        ]
        return fresh + [f for f, reason in self.skipped if reason.startswith(("already", "touched"))]

    def summary(self) -> dict[str, Any]:
        return {
            "files_ingested": sum(1 for x in self.landed if not x.carried),
            "files_carried_forward": sum(1 for x in self.landed if x.carried),
            "files_skipped": len(self.skipped),
            "files_left_for_next_run": self.deferred,
            "rows": self.rows,
            "rejected_rows": self.rejected_rows,
            "schema_drift": [d.to_json() for d in self.drift],
        }


@dataclass
class FileIngest:
    """One folder of one filesystem, ingested into one dataset.

    :param fs: where the files are.
    :param folder: the folder to list.
    :param pattern: glob on the path relative to ``folder`` (``*.csv``, ``2026/*/orders_*.csv.gz``).
    :param regex: a regular expression on the relative path instead of ``pattern`` (full match).
    :param recursive: list sub-folders too.
    :param min_age: skip files modified less than this many seconds ago (still being written).
    :param min_size: skip smaller files (bytes).
    :param max_size: skip larger files (bytes).
    :param max_files: land at most this many files per run, oldest first; the rest wait for the next run.
    :param exclude: relative paths (globs) never ingested, such as a trigger file ``_SUCCESS``; names starting with
        ``.`` or ``_`` (hidden, in-progress) are always excluded.
    :param options: how to decode the files.
    :param schema: the schema of the data (else inferred per file).
    :param schema_drift: ``fail``, ``union`` or ``string`` (see :mod:`.schema`).
    :param file_column: name of a column added with the source file of each row, or ``None``.
    :param on_vanished: ``fail`` or ``skip`` a file that is gone or changed size by the time it is read.
    :param empty_files: what a 0-byte file does: ``skip`` (default: left where it is, not recorded, looked at again
        next run, a log line names it), ``error`` (the run fails naming it, nothing is published) or ``land`` (its
        empty bytes go to landing and the ledger like any file, adding no rows).

    A run with nothing to land (the folder is empty, nothing matches, everything is in the lake already) is not
    an error: it publishes no partition in any zone, leaves the watermark and every earlier partition as they
    are, and reports ``files_ingested == 0``.
    """

    fs: FileSystem
    folder: str
    location: str
    pattern: str = "*"
    regex: str | None = None
    recursive: bool = False
    min_age: float = 0.0
    min_size: int = 0
    max_size: int | None = None
    max_files: int | None = None
    exclude: tuple[str, ...] = ()
    options: FormatOptions = field(default_factory=FormatOptions)
    schema: pa.Schema | None = None
    schema_drift: str = "fail"
    file_column: str | None = None
    on_vanished: str = "fail"
    empty_files: str = "skip"

    def __post_init__(self) -> None:
        if self.empty_files not in EMPTY_FILE_POLICIES:
            raise SourceError(
                f"unknown empty_files policy {self.empty_files!r}: expected one of {', '.join(EMPTY_FILE_POLICIES)}"
            )
        parts = self.pattern.split("/")
        if self.pattern.startswith("/") or ".." in parts:
            # It could never match (listed paths are relative and never hold ".."): say so instead of landing nothing.
            raise SourceError(
                f"pattern {self.pattern!r} must be relative to the source folder {self.folder!r} and may not climb "
                "out of it with '..'; point the source at the folder you mean instead"
            )

    # -- selecting ----------------------------------------------------------------------------------------------
    def matches(self, relative: str) -> bool:
        name = posixpath.basename(relative)
        if name.startswith((".", "_")) or any(fnmatch.fnmatchcase(relative, x) for x in self.exclude):
            return False
        if self.regex is not None:
            return re.fullmatch(self.regex, relative) is not None
        return fnmatch.fnmatchcase(relative, self.pattern)

    def select(self, now: float | None = None) -> list[RemoteFile]:
        """The files to consider, oldest first (by modification time, then path)."""
        now = time.time() if now is None else now
        chosen = []
        for f in self.fs.list(self.folder, recursive=self.recursive, accept=self.matches):
            if f.size < self.min_size or (self.max_size is not None and f.size > self.max_size):
                continue
            if self.min_age and now - f.mtime < self.min_age:
                log.info("Not yet: %s was modified %.0fs ago (min_age %ss)", f.relative, now - f.mtime, self.min_age)
                continue
            if f.size == 0 and self.empty_files != "land":  # after min_age: a file just created may still grow
                if self.empty_files == "error":
                    raise SourceError(
                        f"{f.path} is empty (0 bytes); set empty_files='skip' to leave such files alone or "
                        "'land' to keep them in landing and the ledger"
                    )
                log.warning("Skipped %s: it is empty (0 bytes; empty_files='skip')", f.path)
                continue
            chosen.append(f)
        return sorted(chosen, key=lambda f: (f.mtime, f.relative))

    def describe(self) -> dict[str, Any]:
        return {
            "system": "files",
            "name": self.location,
            "filesystem": self.fs.kind,
            "pattern": self.regex or self.pattern,
            "recursive": self.recursive,
            **self.options.describe(),
            "schema_drift": self.schema_drift,
        }

    # -- running ------------------------------------------------------------------------------------------------
    def run(
        self, txn: Transaction, lake: Lake, *, landing: DatasetRef, raw: DatasetRef | None, partition: str
    ) -> IngestResult:
        """Land this run's files into ``txn`` (``raw=None`` lands bytes only)."""
        from airflow_zaloni.lake import DatasetRef

        ledger_ref = DatasetRef(landing.zone, landing.system, landing.name + LEDGER_SUFFIX)
        # Touch the ledger's state first: its version now is what the commit checks, so two runs that read the same
        # ledger cannot both publish the same new file.
        txn.set_watermark(ledger_ref, None)
        ledger = Ledger(lake.read_table(ledger_ref) if lake.partitions(ledger_ref) else pa.table({}), partition)
        result = IngestResult()
        with tempfile.TemporaryDirectory(prefix="zaloni-files-") as spool:
            todo = self._decide(ledger, result)
            landed = self._land_new(txn, landing, partition, todo, spool, result)
            landed += self._carry_forward(txn, lake, landing, partition, ledger, landed, spool)
            result.landed = landed
            if raw is not None and landed:
                self._decode(txn, raw, partition, result)
            if landed or ledger.own:
                writer = txn.writer(ledger_ref, partition, schema=LEDGER_SCHEMA, source=self.describe())
                writer.write_table(entries_table(x.entry for x in landed))
                writer.extra.update(result.summary())
                newest = max((x.entry.mtime for x in landed), default=None)
                txn.set_watermark(ledger_ref, newest)
        return result

    def _decide(self, ledger: Ledger, result: IngestResult) -> list[tuple[RemoteFile, int]]:
        todo: list[tuple[RemoteFile, int]] = []
        for f in self.select():
            decision = ledger.decide(f)
            if decision.action == "hash":
                try:
                    decision = ledger.decide_by_hash(decision, self._sha256(f.path))
                except FileNotFoundError:
                    result.skipped.append((f, "vanished before it was read"))
                    continue
            if decision.action == "skip":
                result.skipped.append((f, decision.reason))
            else:
                todo.append((f, decision.version))
        if self.max_files is not None and len(todo) > self.max_files:
            result.deferred = len(todo) - self.max_files
            log.info("%d file(s) wait for the next run (max_files=%d)", result.deferred, self.max_files)
            todo = todo[: self.max_files]
        return todo

    def _sha256(self, path: str) -> str:
        digest = _Digest()
        with self.fs.open(path) as stream:
            copy_stream(stream, digest)
        return digest.sha256.hexdigest()

    def _land_new(
        self,
        txn: Transaction,
        landing: DatasetRef,
        partition: str,
        todo: list[tuple[RemoteFile, int]],
        spool: str,
        result: IngestResult,
    ) -> list[Landed]:
        landed: list[Landed] = []
        now = time.time()
        for f, version in todo:
            name = make_landing_name(f.relative)
            try:
                sha256, local = self._fetch(txn, landing, partition, f, name, spool)
            except FileVanishedError as err:
                # Only a file gone before its first byte can be skipped: one that changed mid-transfer has bytes in
                # the staging area already, so the run fails (publishing nothing) and the retry lands it whole.
                if self.on_vanished != "skip" or not err.before_read:
                    raise
                log.warning("Skipped: %s", err)
                result.skipped.append((f, "vanished before it was read"))
                continue
            entry = LedgerEntry(
                path=f.relative,
                source=f.path,
                size=f.size,
                mtime=f.mtime,
                sha256=sha256,
                version=version,
                landing_name=name,
                rows=None,
                rejected_rows=None,
                partition=partition,
                ingested_at=now,
            )
            landed.append(Landed(entry, local))
            log.info("Landed %s (%s bytes, version %d, sha256 %s)", f.path, f"{f.size:,}", version, sha256[:12])
        return landed

    def _fetch(
        self, txn: Transaction, landing: DatasetRef, partition: str, f: RemoteFile, name: str, spool: str
    ) -> tuple[str, str]:
        """Copy ``f`` into landing (hashing it) and return its sha256 and a local path to decode it from.

        A local file is decoded in place; a remote one is spooled to a local file in the same pass, so it is read
        from the server once. The size read must be the size listed, and a local file must not change meanwhile.
        """
        local = f.path if self.fs.kind == "local" else os.path.join(spool, f"{len(os.listdir(spool)):06d}")
        try:
            with self.fs.open(f.path) as stream, txn.open_file(landing, partition, name) as out:
                with open(local, "wb") if local != f.path else contextlib.nullcontext() as copy:
                    size = copy_stream(stream, out, copy)
                sha256 = out.sha256.hexdigest()
        except FileNotFoundError as err:
            raise FileVanishedError(f"{f.path}: the file vanished before it could be read", before_read=True) from err
        if size != f.size:
            raise FileVanishedError(
                f"{f.path}: listed with {f.size:,} bytes but {size:,} bytes were read: the file changed during the "
                "transfer (still being written? raise min_age)"
            )
        if self.fs.kind == "local":
            now = self.fs.stat(f.path)
            if now is None or (now.size, now.mtime) != (f.size, f.mtime):
                raise FileVanishedError(f"{f.path}: the file changed or vanished while it was read")
        return sha256, local

    def _carry_forward(
        self,
        txn: Transaction,
        lake: Lake,
        landing: DatasetRef,
        partition: str,
        ledger: Ledger,
        landed: list[Landed],
        spool: str,
    ) -> list[Landed]:
        """A re-run replaces its partition: files of it that are not listed again (archived, deleted since) are
        taken from their landing copy, so the partition keeps them and nothing is ingested twice."""
        fresh = {x.entry.path for x in landed}
        carried: list[Landed] = []
        base = lake.partition_path(landing, partition)
        for row in ledger.own:
            if row["path"] in fresh:
                continue
            entry = entry_from_row(row)
            local = os.path.join(spool, f"carried-{len(carried):06d}")
            with (
                lake.storage.open_read(f"{base}/{entry.landing_name}") as stream,
                txn.open_file(landing, partition, entry.landing_name) as out,
                open(local, "wb") as copy,
            ):
                copy_stream(stream, out, copy)
            if out.sha256.hexdigest() != entry.sha256:
                raise SourceError(f"{base}/{entry.landing_name}: landing copy does not match its sha256")
            carried.append(Landed(entry, local, carried=True))
            log.info("Carried forward %s (version %d) from the partition's landing copy", entry.path, entry.version)
        return carried

    def _decode(self, txn: Transaction, raw: DatasetRef, partition: str, result: IngestResult) -> None:
        landed = result.landed
        # An empty file (empty_files="land") has no header or footer to decode: it adds no rows and no columns.
        decodable = [x for x in landed if x.entry.size and format_for(x.entry.landing_name, self.options) != "binary"]
        if not decodable:
            return
        schemas = []
        for x in decodable:
            with _closing(decode(x.local_path, x.entry.path, self.options, self.schema)) as probe:
                schemas.append((x.entry.path, probe.schema))
        target, result.drift = resolve(schemas, self.schema_drift, self.schema)
        if self.file_column:
            target = target.append(pa.field(self.file_column, pa.string()))
        writer = txn.writer(raw, partition, schema=target, source=self.describe())
        rejected: list[Rejected] = []
        for x in decodable:
            with _closing(decode(x.local_path, x.entry.path, self.options, self.schema)) as decoded:
                for batch in decoded.batches:
                    if self.file_column:
                        batch = batch.append_column(self.file_column, pa.array([x.entry.path] * batch.num_rows))
                    writer.write_batch(conform(batch, target, x.entry.path))
                    x.decoded_rows += batch.num_rows
                x.rejected = decoded.rejected
            rejected += x.rejected
            x.entry = _with_counts(x.entry, x.decoded_rows, len(x.rejected))
        result.rows = sum(x.decoded_rows for x in decodable)
        result.rejected_rows = len(rejected)
        writer.extra.update(result.summary())
        writer.extra["files"] = [
            {
                "path": x.entry.path,
                "size": x.entry.size,
                "sha256": x.entry.sha256,
                "version": x.entry.version,
                "rows": x.decoded_rows,
                "rejected_rows": len(x.rejected),
                "carried_forward": x.carried,
            }
            for x in landed
        ]
        if self.options.bad_rows == "quarantine":
            from airflow_zaloni.lake import DatasetRef

            rejects_ref = DatasetRef(raw.zone, raw.system, raw.name + REJECTED_SUFFIX)
            rejects = txn.writer(rejects_ref, partition, schema=REJECTED_SCHEMA, source=self.describe())
            rejects.write_table(
                pa.Table.from_pylist(
                    [{"file": r.file, "line": r.line, "text": r.text, "reason": r.reason} for r in rejected],
                    schema=REJECTED_SCHEMA,
                )
            )
            if rejected:
                log.warning("%d row(s) set aside in %s %s", len(rejected), rejects_ref, partition)


class _Digest:
    """A write-only sink that only hashes."""

    def __init__(self) -> None:
        self.sha256 = hashlib.sha256()

    def write(self, data: Any) -> int:
        self.sha256.update(data)
        return len(data)


def _with_counts(entry: LedgerEntry, rows: int, rejected: int) -> LedgerEntry:
    from dataclasses import replace

    return replace(entry, rows=rows, rejected_rows=rejected)


@contextlib.contextmanager
def _closing(decoded: Decoded) -> Iterator[Decoded]:
    """Close a decoder's batch generator (and with it its file) even if it was not read to the end."""
    try:
        yield decoded
    finally:
        close = getattr(decoded.batches, "close", None)
        if close is not None:
            close()


def complete(fs: FileSystem, files: list[RemoteFile], strategy: str, archive: str | None, folder: str) -> list[str]:
    """Apply the completion strategy to source files that are safely committed; returns what was done."""
    validate_strategy(strategy, archive)
    done: list[str] = []
    if strategy == "leave":
        return done
    for f in files:
        try:
            if strategy == "delete":
                fs.delete(f.path)
                done.append(f"deleted {f.path}")
            else:
                assert archive is not None
                parts = [check_name(p, where="archive path") for p in f.relative.split("/")]
                target = posixpath.join(archive, *parts)
                fs.move(f.path, target)
                done.append(f"moved {f.path} -> {target}")
        except FileNotFoundError:
            done.append(f"already gone: {f.path}")  # a retry after a completed move: nothing left to do
    return done


def validate_strategy(strategy: str, archive: str | None) -> None:
    if strategy not in COMPLETION_STRATEGIES:
        raise SourceError(f"unknown completion strategy {strategy!r}: expected one of {COMPLETION_STRATEGIES}")
    if strategy == "move" and not archive:
        raise SourceError("completion='move' needs archive_folder")


__all__ = [
    "COMPLETION_STRATEGIES",
    "EMPTY_FILE_POLICIES",
    "FileIngest",
    "IngestResult",
    "complete",
    "validate_strategy",
]
