"""Read a stream once and copy every byte to a sink on the way: download, land and decode in one pass.

An ingest that keeps the original bytes (the landing zone) and decodes them (the raw zone) would otherwise download
twice or spool to local disk. ``tee_reader(source, sink)`` returns a buffered, peekable reader (decoders peek at
magic numbers) whose every byte read from ``source`` is written to ``sink`` exactly once, in order; :func:`drain`
finishes the copy when the consumer stops before the end (trailing bytes after the last record).
"""

from __future__ import annotations

import io
from typing import IO, Any

__all__ = ["TeeRaw", "drain", "tee_reader"]

DEFAULT_BUFFER = 1 << 20


class TeeRaw(io.RawIOBase):
    """Raw stream over ``source`` (anything with ``read`` or ``readinto``) that writes what it reads to ``sink``."""

    def __init__(self, source: Any, sink: Any, *, name: str | None = None) -> None:
        super().__init__()
        self._source = source
        self._write = sink.write
        self._name = name or str(getattr(source, "name", "<stream>"))
        self.bytes = 0

    @property
    def name(self) -> str:
        return self._name

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        readinto = getattr(self._source, "readinto", None)
        if readinto is not None:
            n = readinto(view)
        else:
            data = self._source.read(len(view))
            n = len(data)
            view[:n] = data
        if n:
            self._write(view[:n])
            self.bytes += n
        return n or 0


def tee_reader(
    source: Any, sink: Any, *, name: str | None = None, buffer_size: int = DEFAULT_BUFFER
) -> io.BufferedReader:
    """A buffered reader over ``source`` that copies every byte it pulls to ``sink`` (any object with ``write``)."""
    return io.BufferedReader(TeeRaw(source, sink, name=name), buffer_size=buffer_size)


def drain(reader: IO[bytes], chunk: int = DEFAULT_BUFFER) -> int:
    """Read ``reader`` to its end (so a tee copies the rest); returns the bytes read here."""
    total = 0
    while data := reader.read(chunk):
        total += len(data)
    return total
