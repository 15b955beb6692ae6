"""Short-lived locks that keep two attempts from publishing the same partition at once.

A lock is a small JSON file created exclusively. It names its owner (host, pid, transaction) so that a lock left
by a killed process can be broken: at once when the owner ran on this host and its pid is gone, otherwise after
``stale_after`` seconds (another edge node's process cannot be probed).
"""

from __future__ import annotations

import json
import os
import socket
import time
from typing import Any

from airflow_zaloni.lake.storage import Storage

DEFAULT_STALE_AFTER = 600.0


def owner_record(txn_id: str) -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid(), "txn_id": txn_id, "created": time.time()}


def owner_is_alive(owner: dict[str, Any] | None, *, stale_after: float = DEFAULT_STALE_AFTER) -> bool:
    """Whether the process that wrote ``owner`` may still be working."""
    if not owner:
        return False
    if owner.get("host") == socket.gethostname():
        pid = int(owner.get("pid", -1))
        if pid == os.getpid():
            return True
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return _is_running(pid)
    return (time.time() - float(owner.get("created", 0))) < stale_after


def _is_running(pid: int) -> bool:
    """A killed child that its parent has not reaped yet is a zombie: it exists but will never work again."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
        return state not in (b"Z", b"X")
    except (OSError, IndexError):
        return True


class LockHeld(Exception):
    def __init__(self, path: str, owner: dict[str, Any] | None) -> None:
        self.path = path
        self.owner = owner or {}
        super().__init__(f"{path} is held by {self.owner}")


def acquire(
    storage: Storage, path: str, txn_id: str, *, stale_after: float = DEFAULT_STALE_AFTER, wait: float = 0.0
) -> None:
    """Take the lock at ``path``; a stale lock is broken and taken.

    A lock held by a live owner is waited for up to ``wait`` seconds (a publish holds it for milliseconds, so
    concurrent commits to one dataset queue up instead of failing), then :class:`LockHeld` is raised.
    """
    record = json.dumps(owner_record(txn_id)).encode()
    deadline = time.monotonic() + wait
    delay = 0.01
    while True:
        if storage.create_exclusive(path, record):
            return
        owner = storage.read_json(path)
        if owner and owner.get("txn_id") == txn_id:
            return  # re-entrant: recovery of our own journal
        if not owner_is_alive(owner, stale_after=stale_after):
            storage.remove(path)
            continue
        if time.monotonic() >= deadline:
            raise LockHeld(path, owner)
        time.sleep(delay)
        delay = min(delay * 2, 0.25)


def release(storage: Storage, path: str, txn_id: str) -> None:
    owner = storage.read_json(path)
    if owner is None or owner.get("txn_id") == txn_id:
        storage.remove(path)
