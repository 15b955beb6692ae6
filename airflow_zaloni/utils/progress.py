"""Progress lines in the task log while data streams: rows, MB and rows/s every few seconds, and a final summary."""

from __future__ import annotations

import time
from typing import Any


class ProgressLogger:
    """Counts rows and bytes and logs a line at most every ``interval`` seconds.

    :param log: the logger of the task (``self.log`` in an operator).
    :param label: what is being moved, e.g. ``"warehouse/orders -> raw dt=2026-11-25"``.
    :param interval: seconds between progress lines.
    """

    def __init__(self, log: Any, label: str, *, interval: float = 5.0) -> None:
        self.log = log
        self.label = label
        self.interval = interval
        self.rows = 0
        self.bytes = 0
        self.started = time.monotonic()
        self._last = self.started

    def update(self, rows: int, nbytes: int = 0) -> None:
        self.rows += rows
        self.bytes += nbytes
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            self.log.info("%s: %s", self.label, self._figures(now))

    def done(self) -> str:
        """Log and return the final summary line."""
        line = f"{self.label}: done, {self._figures(time.monotonic())}"
        self.log.info(line)
        return line

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def _figures(self, now: float) -> str:
        seconds = max(now - self.started, 1e-9)
        return (
            f"{self.rows:,} rows, {self.bytes / 1e6:,.1f} MB in {seconds:,.1f} s "
            f"({self.rows / seconds:,.0f} rows/s, {self.bytes / 1e6 / seconds:,.1f} MB/s)"
        )
