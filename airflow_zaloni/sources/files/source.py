"""One local file as a :class:`~airflow_zaloni.sources.base.Source`, for code that wants the plain source contract
(``LakeIngestOperator.land``, tests, notebooks) rather than the exactly-once folder ingest of :mod:`.ingest`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from airflow_zaloni.sources.files.formats import FormatOptions, Rejected, decode


class FileSource:
    """Decode ``path`` (CSV, JSON Lines, fixed-width, Parquet, Avro, ORC; compressed or not) in bounded memory.

    :param path: a local file.
    :param options: how to read it (format, delimiter, encoding, ...).
    :param schema: the schema to read it with; inferred from the file when not given.
    """

    def __init__(self, path: str, options: FormatOptions | None = None, *, schema: pa.Schema | None = None) -> None:
        self.path = path
        self.options = options or FormatOptions(format="auto")
        self._given = schema
        self._schema: pa.Schema | None = schema
        self.rejected: list[Rejected] = []

    @property
    def schema(self) -> pa.Schema | None:
        return self._schema

    def batches(self) -> Iterator[pa.RecordBatch]:
        decoded = decode(self.path, self.path, self.options, self._given)
        self._schema = decoded.schema
        yield from decoded.batches
        self.rejected = decoded.rejected

    @property
    def cursor(self) -> Any:
        return None

    def describe(self) -> dict[str, Any]:
        return {"system": "files", "name": self.path, **self.options.describe()}


def read_csv(path: str, **options: Any) -> FileSource:
    """A :class:`FileSource` for a CSV file; ``options`` are :class:`FormatOptions` fields."""
    return FileSource(path, FormatOptions(format="csv", **options))


def read_jsonl(path: str, **options: Any) -> FileSource:
    """A :class:`FileSource` for a JSON Lines file; ``options`` are :class:`FormatOptions` fields."""
    return FileSource(path, FormatOptions(format="jsonl", **options))
