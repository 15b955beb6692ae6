"""Mainframe records as a lake source: a data set's bytes + a COBOL copybook -> Arrow record batches."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pyarrow as pa

from airflow_zaloni.mainframe.reader import CopybookInput, DataInput, MainframeReader


class MainframeSource:
    """Decodes mainframe data (one or several files read as one) with a copybook and Cobrix reader options.

    After iteration it reports what the manifest records: ``records``, ``records_per_segment`` (when
    ``segment_field`` is set) and ``corrupt_values`` (values that could not be decoded, with
    ``generate_corrupt_fields=true``). The source is not incremental: ``cursor`` is always ``None``.

    :param stream_or_path: a path, a binary stream, bytes, or a list of them (``File_Id`` = position).
    :param copybook: copybook text or a path (or a list: Cobrix's ``copybooks``).
    :param options: Cobrix reader options (string values).
    :param name: a name for the data in ``describe()`` (a data set name, say); defaults to the path.
    :param byte_range: ``(start, end)``: only the records that start in this byte range of the file (one part of a
        fan-out, see :func:`~airflow_zaloni.mainframe.ranges.plan_byte_ranges`).
    """

    def __init__(
        self,
        stream_or_path: DataInput | Sequence[DataInput],
        copybook: CopybookInput | Sequence[CopybookInput],
        options: Mapping[str, Any] | None = None,
        *,
        name: str | None = None,
        byte_range: tuple[int, int] | None = None,
    ) -> None:
        self._data = stream_or_path
        self._copybook = copybook
        self._options = {str(k): str(v) for k, v in (options or {}).items()}
        self._name = name
        self._byte_range = byte_range
        self._reader: MainframeReader | None = None

    @property
    def reader(self) -> MainframeReader:
        if self._reader is None:
            self._reader = MainframeReader(self._copybook, self._options)
        return self._reader

    @property
    def schema(self) -> pa.Schema:
        return self.reader.schema

    def batches(self) -> Iterator[pa.RecordBatch]:
        if self._byte_range is None:
            return self.reader.read(self._data)
        start, end = self._byte_range
        return self.reader.read(self._data, start=start, end=end)

    @property
    def cursor(self) -> None:
        return None

    @property
    def records(self) -> int:
        return self._reader.records if self._reader else 0

    @property
    def records_per_segment(self) -> dict[str, int]:
        return dict(self._reader.records_per_segment) if self._reader else {}

    @property
    def corrupt_values(self) -> int:
        return self._reader.corrupt_values if self._reader else 0

    def describe(self) -> dict[str, Any]:
        if self._name is not None:
            what: Any = self._name
        elif isinstance(self._data, (str, bytes)) or hasattr(self._data, "__fspath__"):
            what = str(self._data) if not isinstance(self._data, bytes) else f"<{len(self._data)} bytes>"
        elif isinstance(self._data, (list, tuple)):
            what = [str(d) if not isinstance(d, bytes) else f"<{len(d)} bytes>" for d in self._data]
        else:
            what = str(getattr(self._data, "name", "<stream>"))
        return {
            "system": "mainframe",
            "data": what,
            "options": dict(self._options),
            "record_size": self.reader.copybook.record_size,
            **({"byte_range": list(self._byte_range)} if self._byte_range is not None else {}),
        }
