"""The ledger of ingested files: what makes every file land exactly once.

It is a small Parquet dataset of its own (``<zone>/<system>/<dataset>.files``), partitioned like the data and written
in the same transaction, so partition ``dt=X`` of the ledger lists exactly the files whose rows are in partition
``dt=X`` of the data: a commit publishes both or neither, and a re-run that replaces the data partition replaces its
ledger partition too.

A file is identified by its path relative to the listed folder. It is new when the ledger has never seen that path; it
is the same file (skipped) when size and modification time match the last version, or, if only the time moved, when
its sha256 does; otherwise it is a new version. Unlike a listing that remembers the newest timestamp it saw, a file
that arrives with an old modification time is still ingested.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import pyarrow as pa

from airflow_zaloni.sources.files.client import RemoteFile

LEDGER_SUFFIX = ".files"

LEDGER_SCHEMA = pa.schema(
    [
        pa.field("path", pa.string(), nullable=False),
        pa.field("source", pa.string()),
        pa.field("size", pa.int64(), nullable=False),
        pa.field("mtime", pa.float64(), nullable=False),
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("version", pa.int32(), nullable=False),
        pa.field("landing_name", pa.string(), nullable=False),
        pa.field("rows", pa.int64()),
        pa.field("rejected_rows", pa.int64()),
        pa.field("partition", pa.string(), nullable=False),
        pa.field("ingested_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}$")
_COMPOUND_EXT = re.compile(r"((?:\.[A-Za-z0-9]{1,8}){1,2})$")


def landing_name(relative: str) -> str:
    """A lake-safe file name for a file at ``relative`` (``/``-separated) in the listed folder.

    A name that is already safe is kept. Any other (sub-folders, blanks, ``..``, a drive letter, control or
    non-ASCII characters) is reduced to letters, digits, ``_``, ``-`` and ``.``, and given an 8-character hash of the
    original so that two different files never share a name; the extension (``.csv.gz``) stays at the end, because
    it tells the format.
    """
    if _SAFE_NAME.match(relative) and ".." not in relative:
        return relative
    match = _COMPOUND_EXT.search(relative.rsplit("/", 1)[-1])
    ext = match.group(1) if match else ""
    stem = relative[: len(relative) - len(ext)] if ext else relative
    safe = re.sub(r"[^A-Za-z0-9_.\-]+", "_", stem)
    safe = re.sub(r"\.{2,}", ".", safe).strip("._-")[:150] or "file"
    digest = hashlib.sha256(relative.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{safe}-{digest}{ext}"


@dataclass(frozen=True)
class LedgerEntry:
    """One version of one ingested file."""

    path: str
    source: str
    size: int
    mtime: float
    sha256: str
    version: int
    landing_name: str
    rows: int | None
    rejected_rows: int | None
    partition: str
    ingested_at: float
    """Seconds since the epoch (UTC)."""


def entries_table(entries: Iterable[LedgerEntry]) -> pa.Table:
    rows = [asdict(e) for e in entries]
    columns = {}
    for f in LEDGER_SCHEMA:
        values = [r[f.name] for r in rows]
        if f.name == "ingested_at":
            # From integers: converting Python datetimes with a time zone makes pyarrow import pandas (seconds).
            micros = pa.array([round(v * 1_000_000) for v in values], pa.int64())
            columns[f.name] = micros.cast(f.type)
        else:
            columns[f.name] = pa.array(values, f.type)
    return pa.Table.from_pydict(columns, schema=LEDGER_SCHEMA)


def entry_from_row(row: dict[str, Any]) -> LedgerEntry:
    """A ledger row as read back from Parquet (``ingested_at`` comes back as a datetime)."""
    values = {k: row[k] for k in LedgerEntry.__dataclass_fields__}
    stamp = values["ingested_at"]
    values["ingested_at"] = stamp.timestamp() if hasattr(stamp, "timestamp") else float(stamp)
    return LedgerEntry(**values)


@dataclass(frozen=True)
class Decision:
    """What to do with a listed file: ``ingest`` (a new file or version) or ``skip`` (already in the lake)."""

    file: RemoteFile
    action: str
    version: int
    reason: str
    known_sha256: str | None = None


class Ledger:
    """The committed ledger, seen from the partition a run is about to write.

    Entries of that partition itself are set apart: the run replaces the partition, so its files are not "already
    ingested" for it; they are either listed again or carried forward from their landing copy.
    """

    def __init__(self, table: pa.Table, partition: str) -> None:
        self.partition = partition
        self.latest: dict[str, dict[str, Any]] = {}
        self.own: list[dict[str, Any]] = []
        for row in table.to_pylist() if table.num_columns else []:
            if row["partition"] == partition:
                self.own.append(row)
                continue
            current = self.latest.get(row["path"])
            if current is None or row["version"] > current["version"]:
                self.latest[row["path"]] = row

    def decide(self, file: RemoteFile) -> Decision:
        """Decide from size and modification time; a changed time alone needs :meth:`decide_by_hash`."""
        last = self.latest.get(file.relative)
        if last is None:
            return Decision(file, "ingest", 1, "new file")
        if last["size"] == file.size and last["mtime"] == file.mtime:
            return Decision(file, "skip", last["version"], f"already ingested as version {last['version']}")
        if last["size"] != file.size:
            return Decision(file, "ingest", last["version"] + 1, "size changed")
        return Decision(file, "hash", last["version"] + 1, "modification time changed", last["sha256"])

    def decide_by_hash(self, decision: Decision, sha256: str) -> Decision:
        if sha256 == decision.known_sha256:
            return Decision(decision.file, "skip", decision.version - 1, "touched, same content")
        return Decision(decision.file, "ingest", decision.version, "content changed")

    def __len__(self) -> int:
        return len(self.latest)
