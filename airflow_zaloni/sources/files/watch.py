"""Is there something to ingest yet? The check behind ``FilePatternSensor`` and its trigger.

A folder is ready when at least ``min_files`` files match (old enough, not hidden, not the trigger file) and, if a
``trigger_file`` is named (``_SUCCESS``, ``READY``), that file exists: producers that write a batch of files and
then a marker are read only once the batch is complete.
"""

from __future__ import annotations

import posixpath
from dataclasses import asdict, dataclass
from typing import Any

from airflow_zaloni.sources.files.client import connect
from airflow_zaloni.sources.files.ingest import FileIngest


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

    def check(self) -> list[str] | None:
        """The matching relative paths when the folder is ready, else ``None``."""
        fs, folder = connect(self.source, self.conn_id)
        try:
            if self.trigger_file and fs.stat(posixpath.join(folder, self.trigger_file)) is None:
                return None
            selection = FileIngest(
                fs=fs,
                folder=folder,
                location=self.source,
                pattern=self.pattern,
                regex=self.regex,
                recursive=self.recursive,
                min_age=self.min_age,
                exclude=(self.trigger_file,) if self.trigger_file else (),
            )
            found = [f.relative for f in selection.select()]
        finally:
            fs.close()
        return found if len(found) >= self.min_files else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        what = self.regex or self.pattern
        marker = f" and {self.trigger_file}" if self.trigger_file else ""
        return f"{self.min_files}+ file(s) matching {what!r}{marker} in {self.source}"
