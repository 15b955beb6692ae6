"""Wait in the triggerer for files to arrive in a folder on any filesystem file ingest reads."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_zaloni.sources.base import SourceError
from airflow_zaloni.sources.files.watch import FileWatch


class FilePatternTrigger(BaseTrigger):
    """Fire ``{"status": "success", "files": [...]}`` once the folder is ready (see :class:`FileWatch`),
    ``{"status": "timeout"}`` at the deadline, or ``{"status": "error", "message": ...}`` when the server refuses
    the connection's credentials.

    :param watch: what to wait for, as :meth:`FileWatch.to_dict`.
    :param poll_interval: seconds between two listings.
    :param deadline: epoch seconds after which the trigger fires ``timeout``.
    """

    def __init__(self, *, watch: dict[str, Any], poll_interval: float = 60.0, deadline: float | None = None) -> None:
        super().__init__()
        self.watch = dict(watch)
        self.poll_interval = poll_interval
        self.deadline = deadline

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"watch": self.watch, "poll_interval": self.poll_interval, "deadline": self.deadline},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        watch = FileWatch(**self.watch)
        while True:
            try:
                # Listing is blocking I/O (paramiko, ftplib, requests): keep it off the triggerer's event loop.
                found = await asyncio.to_thread(watch.check)
            except SourceError as error:
                yield TriggerEvent({"status": "error", "message": str(error)})
                return
            if found is not None:
                yield TriggerEvent({"status": "success", "files": found})
                return
            if self.deadline is not None and time.time() >= self.deadline:
                yield TriggerEvent({"status": "timeout", "message": f"timed out waiting for {watch.describe()}"})
                return
            await asyncio.sleep(self.poll_interval)
