"""Is every string in this Arrow data valid UTF-8? Arrow's ``string`` type promises it, but not every producer
keeps the promise: pyarrow's JSON reader and Parquet files written elsewhere can hold raw bytes that only fail much
later, when a reader turns them into text (``UnicodeDecodeError``).

:func:`first_invalid_string` is the cheap check (Arrow's own full validation, in C++) with a slow path that runs
only when it fails, to say where: which column and which row. File ingest runs it on every batch it decodes and
``zaloni lake verify`` on every committed Parquet file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO

import pyarrow as pa
import pyarrow.parquet as pq


@dataclass(frozen=True)
class InvalidString:
    """Where the first invalid string is: column name, 0-based row (``None`` inside a nested column), its bytes."""

    column: str
    row: int | None
    value: bytes | None

    def describe(self, first_row: int = 0) -> str:
        """``column 'v', row 2: invalid UTF-8 in a string column (b'caf\\xe9')`` (rows counted from 1)."""
        where = f"column {self.column!r}" + (f", row {first_row + self.row + 1}" if self.row is not None else "")
        shown = f" ({self.value[:60]!r})" if self.value is not None else ""
        return f"{where}: invalid UTF-8 in a string column{shown}"


def _has_text(type_: pa.DataType) -> bool:
    if pa.types.is_string(type_) or pa.types.is_large_string(type_) or pa.types.is_string_view(type_):
        return True
    return any(_has_text(type_.field(i).type) for i in range(type_.num_fields))


def first_invalid_string(data: pa.RecordBatch | pa.Table) -> InvalidString | None:
    """The first string that is not valid UTF-8 in ``data``, or ``None`` when all are valid."""
    try:
        data.validate(full=True)
        return None
    except pa.ArrowInvalid:
        pass
    for name, column in zip(data.schema.names, data.columns, strict=True):
        if not _has_text(column.type):
            continue
        try:
            column.validate(full=True)
            continue
        except pa.ArrowInvalid:
            pass
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            return InvalidString(name, None, None)  # nested: the column is named, the row is not worth finding
        chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
        offset = 0
        binary = pa.large_binary() if pa.types.is_large_string(column.type) else pa.binary()
        for chunk in chunks:
            for row, value in enumerate(chunk.view(binary).to_pylist()):
                if value is not None:
                    try:
                        value.decode("utf-8")
                    except UnicodeDecodeError:
                        return InvalidString(name, offset + row, value)
            offset += len(chunk)
        return InvalidString(name, None, None)
    return None


def parquet_text_problem(stream: IO[bytes]) -> str | None:
    """Read the string columns of a Parquet file and describe its first invalid string, or return ``None``."""
    parquet = pq.ParquetFile(stream)
    columns = [f.name for f in parquet.schema_arrow if _has_text(f.type)]
    if not columns:
        return None
    rows = 0
    for batch in parquet.iter_batches(columns=columns):
        bad = first_invalid_string(batch)
        if bad is not None:
            return bad.describe(rows)
        rows += batch.num_rows
    return None
