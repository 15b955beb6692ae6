"""LakeWriter: streams record batches into Parquet files in a transaction's staging folder.

Memory stays bounded whatever the input size: batches are buffered only until a row group is full (by rows or by
bytes, whichever comes first) and then written; files roll over after ``max_rows_per_file`` rows. Coalescing matters
because ``ParquetWriter.write_batch`` makes one row group per batch: small batches would give bloated, slow files.
Every byte written passes through a SHA-256 so the manifest can record each file's digest without a re-read.
"""

from __future__ import annotations

import hashlib
import time
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from airflow_zaloni.lake.errors import LakeError
from airflow_zaloni.lake.paths import DatasetRef
from airflow_zaloni.lake.storage import Storage

DEFAULT_ROW_GROUP_ROWS = 1_000_000
DEFAULT_ROW_GROUP_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_ROWS_PER_FILE = 10_000_000


class HashingWriter:
    """A write-only file object that hashes and counts what passes through it."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.sha256 = hashlib.sha256()
        self.bytes = 0
        self.closed = False

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.sha256.update(view)
        self._raw.write(view)
        self.bytes += view.nbytes
        return view.nbytes

    def tell(self) -> int:
        return self.bytes

    def flush(self) -> None:
        self._raw.flush()

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readable(self) -> bool:
        return False

    def close(self) -> None:
        if not self.closed:
            self._raw.flush()
            fileno = getattr(self._raw, "fileno", None)
            if fileno is not None:
                try:
                    import os

                    os.fsync(fileno())
                except (OSError, ValueError):
                    pass
            self._raw.close()
            self.closed = True

    def __enter__(self) -> HashingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LakeWriter:
    """Writes one partition of one dataset inside a :class:`~airflow_zaloni.lake.transaction.Transaction`.

    Use :meth:`write_batch` (or :meth:`write_table`) any number of times; the transaction closes the writer and
    publishes its files at commit. ``extra`` holds additional manifest fields (counts, warnings, options).
    """

    def __init__(
        self,
        *,
        storage: Storage,
        ref: DatasetRef,
        partition: str,
        staging_dir: str,
        schema: pa.Schema | None = None,
        source: dict[str, Any] | None = None,
        row_group_rows: int = DEFAULT_ROW_GROUP_ROWS,
        row_group_bytes: int = DEFAULT_ROW_GROUP_BYTES,
        max_rows_per_file: int = DEFAULT_MAX_ROWS_PER_FILE,
        compression: str = "zstd",
        file_prefix: str = "part",
        file_tag: str | None = None,
    ) -> None:
        if row_group_rows <= 0 or max_rows_per_file <= 0 or row_group_bytes <= 0:
            raise LakeError("row_group_rows, row_group_bytes and max_rows_per_file must be positive")
        self.storage = storage
        self.ref = ref
        self.partition = partition
        self.staging_dir = staging_dir
        self.schema = schema
        self.source = source or {}
        self.row_group_rows = row_group_rows
        self.row_group_bytes = row_group_bytes
        self.max_rows_per_file = max(max_rows_per_file, 1)
        self.compression = compression
        self.file_prefix = file_prefix
        #: Part of every file name that is unique to the transaction (its id): Iceberg tables track data files by
        #: path, so a re-run of a partition must never publish a file under a name an earlier commit used.
        self.file_tag = file_tag
        self.extra: dict[str, Any] = {}
        self.files: list[dict[str, Any]] = []
        self.rows = 0
        self.started = time.time()
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self._pending_bytes = 0
        self._file: HashingWriter | None = None
        self._pq: pq.ParquetWriter | None = None
        self._file_rows = 0
        self.closed = False

    # -- public API ---------------------------------------------------------------------------------------------
    def write_batch(self, batch: pa.RecordBatch) -> None:
        if self.closed:
            raise LakeError(f"writer for {self.ref} {self.partition} is closed")
        batch = self._conform(batch)
        if batch.num_rows == 0:
            return
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        self._pending_bytes += batch.nbytes
        if self._pending_rows >= self.row_group_rows or self._pending_bytes >= self.row_group_bytes:
            self._flush()

    def write_table(self, table: pa.Table) -> None:
        for batch in table.to_batches():
            self.write_batch(batch)

    @property
    def bytes_written(self) -> int:
        return sum(f["bytes"] for f in self.files) + (self._file.bytes if self._file else 0)

    def close(self) -> None:
        """Flush what is buffered and close the open file (called by the transaction before it publishes)."""
        if self.closed:
            return
        self._flush()
        if self._pq is None and not self.files and self.schema is not None:
            # An empty result still publishes one empty file, so readers see the schema of the partition.
            self._open_file()
        self._close_file()
        self.closed = True

    def abort(self) -> None:
        """Close quietly after a failure; the transaction removes the staging folder."""
        try:
            if self._pq is not None:
                self._pq.close()
            if self._file is not None:
                self._file.close()
        except Exception:  # the data is discarded anyway; the original error is what matters
            pass
        self._pq = self._file = None
        self.closed = True

    # -- internals ----------------------------------------------------------------------------------------------
    def _conform(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        if self.schema is None:
            self.schema = batch.schema
            return batch
        if batch.schema.equals(self.schema, check_metadata=False):
            return batch
        if batch.schema.names != self.schema.names:
            missing = [n for n in self.schema.names if n not in batch.schema.names]
            added = [n for n in batch.schema.names if n not in self.schema.names]
            raise LakeError(
                f"{self.ref} {self.partition}: batch columns differ from the dataset schema "
                f"(missing {missing}, unexpected {added})"
            )
        try:
            return batch.cast(self.schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            diffs = [
                f"{f.name}: {f.type} -> {g.type}"
                for f, g in zip(batch.schema, self.schema)
                if not f.type.equals(g.type)
            ]
            raise LakeError(
                f"{self.ref} {self.partition}: batch does not fit the schema ({'; '.join(diffs)}): {exc}"
            ) from exc

    def _flush(self) -> None:
        if not self._pending:
            return
        table = pa.Table.from_batches(self._pending, schema=self.schema)
        self._pending, self._pending_rows, self._pending_bytes = [], 0, 0
        offset = 0
        while offset < table.num_rows:
            if self._pq is None:
                self._open_file()
            room = self.max_rows_per_file - self._file_rows
            chunk = table.slice(offset, room)
            assert self._pq is not None
            self._pq.write_table(chunk, row_group_size=self.row_group_rows)
            self._file_rows += chunk.num_rows
            self.rows += chunk.num_rows
            offset += chunk.num_rows
            if self._file_rows >= self.max_rows_per_file:
                self._close_file()

    def _open_file(self) -> None:
        tag = f"{self.file_tag}-" if self.file_tag else ""
        name = f"{self.file_prefix}-{tag}{len(self.files):05d}.parquet"
        path = f"{self.staging_dir}/{name}"
        self._file = HashingWriter(self.storage.open_write(path))
        assert self.schema is not None
        self._pq = pq.ParquetWriter(pa.PythonFile(self._file, mode="w"), self.schema, compression=self.compression)
        self._file_rows = 0
        self._name = name

    def _close_file(self) -> None:
        if self._pq is None or self._file is None:
            return
        self._pq.close()
        self._file.close()
        self.files.append(
            {
                "path": self._name,
                "rows": self._file_rows,
                "bytes": self._file.bytes,
                "sha256": self._file.sha256.hexdigest(),
            }
        )
        self._pq = None
        self._file = None


class LakeFileWriter(HashingWriter):
    """Raw bytes kept exactly as received (the landing zone), hashed while streaming."""

    def __init__(self, raw: IO[bytes], *, name: str) -> None:
        super().__init__(raw)
        self.name = name
