"""The few filesystem operations the lake needs, on the local disk or any fsspec filesystem.

The commit protocol relies on three of them: an exclusive create (for locks), a directory rename that does not
merge into an existing target, and an atomic small-file replace (write a temporary name, then rename). The local
implementation uses ``os`` directly because fsspec's local ``mv`` would move a directory *into* an existing one.
On HDFS (WebHDFS) rename is atomic as well; on object stores it is a copy, which the journal makes safe to repeat
(see ``transaction.py``).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import uuid
from typing import IO, Any


class Storage:
    """Local-disk operations (the embedded default)."""

    protocol = "file"

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/") or "/"

    def join(self, *parts: str) -> str:
        return "/".join([self.base, *parts])

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def isdir(self, path: str) -> bool:
        return os.path.isdir(path)

    def listdir(self, path: str) -> list[str]:
        """Names (not paths) in a folder; empty when the folder does not exist."""
        try:
            return sorted(os.listdir(path))
        except FileNotFoundError:
            return []

    def makedirs(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)

    def open_write(self, path: str) -> IO[bytes]:
        return open(path, "wb", buffering=1 << 20)

    def open_read(self, path: str) -> IO[bytes]:
        return open(path, "rb", buffering=1 << 20)

    def size(self, path: str) -> int:
        return os.path.getsize(path)

    def create_exclusive(self, path: str, data: bytes) -> bool:
        """Create ``path`` with ``data`` only if it does not exist; ``False`` if it does.

        The content is written to a private temporary file first and then hard-linked into place, so the file
        appears complete or not at all: a process killed half-way can never leave an empty lock behind. The parent
        folder is created when missing: a dataset's first commit may lock it before anything else was written there
        (a file ingest with nothing to land only moves the ledger's state).
        """
        tmp = f"{path}.{uuid.uuid4().hex}.tmp"
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        finally:
            os.remove(tmp)
        return True

    def rename(self, src: str, dst: str) -> None:
        """Rename ``src`` to ``dst``; fails rather than merge if ``dst`` exists."""
        if os.path.exists(dst):
            raise FileExistsError(errno.EEXIST, "rename target exists", dst)
        os.rename(src, dst)

    def publish(self, staged: str, target: str, trash: str) -> None:
        """Put the staged partition folder in place of ``target`` (the old one goes to ``trash``).

        Called by the journal's roll-forward, so it must be repeatable after a crash at any point: with atomic
        renames, a staged folder that is gone was published.
        """
        if self.exists(staged):
            if self.exists(target):
                self.makedirs(trash.rsplit("/", 1)[0])
                self.rename(target, trash)
            self.rename(staged, target)
            self.fsync_dir(target.rsplit("/", 1)[0])

    def retire(self, target: str) -> None:
        """Delete what a replaced commit left in a published partition (nothing where publish renames folders)."""

    def remove(self, path: str) -> None:
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
        except FileNotFoundError:
            pass

    def mtime(self, path: str) -> float:
        return os.path.getmtime(path)

    def fsync_dir(self, path: str) -> None:
        """Make a rename durable: POSIX needs the parent folder synced, not only the file."""
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def write_atomic(self, path: str, data: bytes) -> None:
        """Replace ``path`` with ``data`` in one step (readers see the old or the new file, never a torn one)."""
        tmp = f"{path}.{uuid.uuid4().hex}.tmp"
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        self.fsync_dir(os.path.dirname(path))

    def read_json(self, path: str) -> Any:
        try:
            with open(path, "rb") as f:
                return json.loads(f.read())
        except FileNotFoundError:
            return None

    def arrow_filesystem(self) -> Any:
        import pyarrow.fs as pafs

        return pafs.LocalFileSystem()


class FsspecStorage(Storage):
    """The same operations on any fsspec filesystem (WebHDFS, S3, GCS, SFTP, memory, ...)."""

    def __init__(self, fs: Any, base: str) -> None:
        super().__init__(base)
        self.fs = fs
        self.protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]

    def exists(self, path: str) -> bool:
        return bool(self.fs.exists(path))

    def isdir(self, path: str) -> bool:
        return bool(self.fs.isdir(path))

    def listdir(self, path: str) -> list[str]:
        try:
            entries = self.fs.ls(path, detail=False)
        except (FileNotFoundError, OSError):
            return []
        return sorted(e.rstrip("/").rsplit("/", 1)[-1] for e in entries)

    def makedirs(self, path: str) -> None:
        self.fs.makedirs(path, exist_ok=True)

    def open_write(self, path: str) -> IO[bytes]:
        return self.fs.open(path, "wb")  # type: ignore[no-any-return]

    def open_read(self, path: str) -> IO[bytes]:
        return self.fs.open(path, "rb")  # type: ignore[no-any-return]

    def size(self, path: str) -> int:
        return int(self.fs.size(path))

    def create_exclusive(self, path: str, data: bytes) -> bool:
        # Object stores and WebHDFS through fsspec have no portable O_EXCL: create, then read back our own token. Two
        # writers racing inside this window are rare (locks are held for the short publish step only) and the
        # conflict check on the partition's commit id still stops the loser from publishing over the winner.
        if self.fs.exists(path):
            return False
        with self.fs.open(path, "wb") as f:
            f.write(data)
        with self.fs.open(path, "rb") as f:
            return bool(f.read() == data)

    def rename(self, src: str, dst: str) -> None:
        if self.fs.exists(dst):
            raise FileExistsError(errno.EEXIST, "rename target exists", dst)
        self.fs.mv(src, dst, recursive=True)

    def remove(self, path: str) -> None:
        try:
            if self.fs.exists(path):
                self.fs.rm(path, recursive=True)
        except FileNotFoundError:
            pass

    def mtime(self, path: str) -> float:
        info = self.fs.info(path)
        for key in ("mtime", "modificationTime", "LastModified", "last_modified", "created"):
            value = info.get(key)
            if value is None:
                continue
            if hasattr(value, "timestamp"):
                return float(value.timestamp())
            value = float(value)
            return value / 1000.0 if value > 1e11 else value  # WebHDFS reports milliseconds
        return 0.0

    def fsync_dir(self, path: str) -> None:
        return None

    def write_atomic(self, path: str, data: bytes) -> None:
        tmp = f"{path}.{uuid.uuid4().hex}.tmp"
        with self.fs.open(tmp, "wb") as f:
            f.write(data)
        if self.fs.exists(path):
            self.fs.rm(path)
        self.fs.mv(tmp, path)

    def read_json(self, path: str) -> Any:
        try:
            with self.fs.open(path, "rb") as f:
                return json.loads(f.read())
        except FileNotFoundError:
            return None

    def arrow_filesystem(self) -> Any:
        import pyarrow.fs as pafs

        return pafs.PyFileSystem(pafs.FSSpecHandler(self.fs))
