"""Is there something to ingest yet? The check behind ``FilePatternSensor`` and its trigger.

A folder is ready when at least ``min_files`` files match (old enough, not hidden, not the trigger file) and, if a
``trigger_file`` is named (``_SUCCESS``, ``READY``), that file exists: producers that write a batch of files and
then a marker are read only once the batch is complete.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from datetime import timedelta
from typing import Any

from airflow_zaloni.sources.files.client import FileSystem, connect
from airflow_zaloni.sources.files.ingest import FileIngest


def seconds(value: float | timedelta) -> float:
    """An age given as seconds or as a ``timedelta``, in seconds."""
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


@dataclass(frozen=True)
class FileWatch:
    """What to wait for; a plain value so that a trigger can serialize it (``asdict``)."""

    source: str
    conn_id: str | None = None
    pattern: str = "*"
    regex: str | None = None
    recursive: bool = False
    min_files: int = 1
    min_age: float = 0.0
    trigger_file: str | None = None
    exclude: Sequence[str] = ()  # globs of relative paths never counted (an archive folder inside the drop)

    def __post_init__(self) -> None:
        # a task's list or a trigger's deserialized list: one immutable value however the watch was made
        object.__setattr__(self, "exclude", tuple(self.exclude))

    @classmethod
    def of(cls, task: Any) -> FileWatch:
        """The watch that ``task``'s attributes of the same names describe: ``FilePatternSensor`` and
        ``FileToLakeOperator`` take the same folder, pattern and trigger-file parameters, so that the sensor waits
        for the files the operator lands. An attribute the task lacks keeps its default."""
        given: dict[str, Any] = {f.name: getattr(task, f.name) for f in fields(cls) if hasattr(task, f.name)}
        return cls(**given)

    def selection(self, fs: FileSystem, folder: str, *, exclude: Sequence[str] = (), **settings: Any) -> FileIngest:
        """The files of ``folder`` on ``fs`` that match, old enough, never the trigger file nor the watch's or
        the given ``exclude``; as a :class:`FileIngest` that ``settings`` (its other fields) complete for landing
        them."""
        exclude = (*self.exclude, *exclude, *([self.trigger_file] if self.trigger_file else []))
        return FileIngest(
            fs=fs,
            folder=folder,
            location=self.source,
            pattern=self.pattern,
            regex=self.regex,
            recursive=self.recursive,
            min_age=self.min_age,
            exclude=exclude,
            **settings,
        )

    def check(self) -> list[str] | None:
        """The matching relative paths when the folder is ready, else ``None``."""
        fs, folder = connect(self.source, self.conn_id)
        try:
            if self.trigger_file and fs.stat(posixpath.join(folder, self.trigger_file)) is None:
                return None
            found = [f.relative for f in self.selection(fs, folder).select()]
        finally:
            fs.close()
        return found if len(found) >= self.min_files else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        what = self.regex or self.pattern
        marker = f" and {self.trigger_file}" if self.trigger_file else ""
        return f"{self.min_files}+ file(s) matching {what!r}{marker} in {self.source}"
