"""A short-lived cache of what the Lake view read from the manifests, one entry per lake root.

On HDFS or S3 every manifest is one remote read; without a cache each page load (and each page of a paged view)
would read them all again. Entries live ``ttl`` seconds; concurrent requests for the same root wait for one read
instead of each starting their own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class Entry(Generic[T]):
    value: T
    read_at: float  # wall clock, shown on the page
    read_mono: float  # monotonic, for the age (a changed ttl applies to entries already stored)


class TtlCache(Generic[T]):
    def __init__(self) -> None:
        self._entries: dict[str, Entry[T]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: str, ttl: float, read: Callable[[], T]) -> Entry[T]:
        """The cached entry of ``key`` if younger than ``ttl`` seconds, else a fresh ``read()`` (stored)."""
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            entry = self._entries.get(key)
            if entry is not None and time.monotonic() - entry.read_mono < ttl:
                return entry
            entry = Entry(read(), time.time(), time.monotonic())
            if ttl > 0:
                self._entries[key] = entry
            return entry

    def clear(self) -> None:
        with self._guard:
            self._entries.clear()
