"""The lake's storage operations on HDFS through WebHDFS, with the NameNode's own atomic primitives.

fsspec's generic calls are not enough for the commit protocol on HDFS:

* ``RENAME`` answers ``{"boolean": false}`` rather than an error when the source is missing or the destination's
  parent does not exist, and moves a folder *into* an existing destination folder. Renames here use the
  ``rename2`` form (``renameoptions=NONE`` or ``OVERWRITE``), which the NameNode carries out atomically and which
  fails with an exception naming the cause instead of doing nothing.
* fsspec creates every file with ``overwrite=true``, so a lock is not exclusive. :meth:`create_exclusive` writes a
  private temporary file (``CREATE`` with ``overwrite=false``) and renames it into place without ``OVERWRITE``:
  exactly one of several racing writers wins, and the lock appears complete or not at all.
* :meth:`write_atomic` replaces a small file with one ``RENAME`` with ``OVERWRITE``, so a reader always finds the
  old or the new ``_state.json``, never none.
* Files are written with one ``CREATE`` streamed to the DataNode
  (:class:`~airflow_zaloni.lake.webhdfs_fs.WebHDFSUpload`).

See the WebHDFS REST API (``op=RENAME&destination=...&renameoptions=...``) in Hadoop's documentation.
"""

from __future__ import annotations

import errno
import json
import uuid
from typing import IO, Any

from airflow_zaloni.lake.errors import LakeError
from airflow_zaloni.lake.storage import FsspecStorage
from airflow_zaloni.lake.webhdfs_fs import HAWebHDFS, StandbyError, WebHDFSUpload


class NameNodeStorage(FsspecStorage):
    """The commit protocol's operations on HDFS, whatever the client (WebHDFS REST or native RPC).

    A subclass gives the NameNode's primitives: :meth:`_info` (a file status, ``FileNotFoundError`` when absent),
    :meth:`_create_new` (a new file, failing if it exists) and :meth:`_rename` (``rename2``, with or without
    OVERWRITE, raising ``FileExistsError``/``FileNotFoundError`` as the client does; :meth:`_move` words them).
    """

    def _info(self, path: str) -> Any:
        raise NotImplementedError

    def _create_new(self, path: str, data: bytes) -> None:
        raise NotImplementedError

    def _rename(self, src: str, dst: str, *, overwrite: bool) -> None:
        raise NotImplementedError

    def _reason(self, exc: BaseException) -> str:
        """The NameNode's reason in a client's exception, for a message."""
        return str(exc)

    def _move(self, src: str, dst: str, *, overwrite: bool) -> None:
        """:meth:`_rename`, its failures naming the cause the same way whatever the client."""
        what = f"rename {src} -> {dst}"
        try:
            self._rename(src, dst, overwrite=overwrite)
        except FileExistsError as exc:
            raise FileExistsError(errno.EEXIST, f"{what}: the target exists ({self._reason(exc)})", dst) from exc
        except FileNotFoundError as exc:
            raise FileNotFoundError(
                errno.ENOENT,
                f"{what}: the source or the target's parent folder is missing ({self._reason(exc)})",
                src,
            ) from exc

    # fsspec's exists/isdir answer "no" on *any* error; during a NameNode failover that would make the journal skip
    # a rename and then delete the staged partition. Only "not found" means no here.
    def exists(self, path: str) -> bool:
        try:
            self._info(path)
        except FileNotFoundError:
            return False
        return True

    def rename(self, src: str, dst: str) -> None:
        """Rename ``src`` to ``dst`` in one NameNode ``rename2`` without OVERWRITE: fails, naming the cause, rather
        than merge into ``dst`` or do nothing."""
        self._move(src, dst, overwrite=False)

    def create_exclusive(self, path: str, data: bytes) -> bool:
        tmp = self._create_temporary(path, data)
        try:
            self._move(tmp, path, overwrite=False)
        except FileExistsError:
            self.remove(tmp)
            return False
        except BaseException:
            self.remove(tmp)
            raise
        return True

    def write_atomic(self, path: str, data: bytes) -> None:
        tmp = self._create_temporary(path, data)
        try:
            self._move(tmp, path, overwrite=True)
        except BaseException:
            self.remove(tmp)
            raise

    def _create_temporary(self, path: str, data: bytes) -> str:
        tmp = temporary_name(path)
        self._create_new(tmp, data)
        return tmp


class WebHDFSStorage(NameNodeStorage):
    """Storage of a ``webhdfs://`` lake root (an :class:`~airflow_zaloni.lake.webhdfs_fs.HAWebHDFS` filesystem)."""

    fs: HAWebHDFS

    def __init__(self, fs: HAWebHDFS, base: str) -> None:
        super().__init__(fs, base)
        self.protocol = "webhdfs"

    def isdir(self, path: str) -> bool:
        try:
            return bool(self._info(path)["type"] == "directory")
        except FileNotFoundError:
            return False

    def listdir(self, path: str) -> list[str]:
        try:
            entries = self.fs.ls(path, detail=False)
        except FileNotFoundError:
            return []
        return sorted(e.rstrip("/").rsplit("/", 1)[-1] for e in entries)

    def read_json(self, path: str) -> Any:
        # One OPEN of the whole file: fsspec's reader takes the size from one GETFILESTATUS and the bytes from later
        # OPENs, which may already see the file that a concurrent write_atomic put in its place (a torn read).
        try:
            response = self.fs._call("OPEN", path=path)
        except FileNotFoundError:
            return None
        return json.loads(response.content)

    def open_write(self, path: str) -> IO[bytes]:
        return WebHDFSUpload(self.fs, path, overwrite=True)  # type: ignore[return-value]

    def remove(self, path: str) -> None:
        # One DELETE; it answers {"boolean": false} when there was nothing to delete, which is what remove() wants.
        self.fs._call("DELETE", method="delete", path=path, recursive="true")

    # -- internals ---------------------------------------------------------------------------------------------
    def _info(self, path: str) -> Any:
        return self.fs.info(path)

    def _create_new(self, path: str, data: bytes) -> None:
        """A new small file; fails if ``path`` exists (every temporary name is unique, so that would be a bug).

        The bytes are at hand, so an upload that a failover interrupted (a standby NameNode) is simply sent again.
        """
        for attempt in range(3):
            try:
                with WebHDFSUpload(self.fs, path, overwrite=attempt > 0) as f:
                    f.write(data)
                return
            except StandbyError:
                if attempt == 2:
                    raise

    def _rename(self, src: str, dst: str, *, overwrite: bool) -> None:
        options = "OVERWRITE" if overwrite else "NONE"
        response = self.fs._call("RENAME", method="put", path=src, destination=dst, renameoptions=options)
        # rename2 answers 200 with an empty body; a NameNode that ignored renameoptions would answer the old
        # {"boolean": ...} form, whose false means nothing was renamed.
        if response.content.strip():
            try:
                done = response.json().get("boolean", True)
            except ValueError:
                done = True
            if done is False:
                raise LakeError(f"rename {src} -> {dst}: the NameNode did nothing (RENAME answered false)")


def temporary_name(path: str) -> str:
    """A unique name beside ``path`` for a file that is renamed onto it once complete."""
    folder, _, name = path.rpartition("/")
    return f"{folder}/_{name}.{uuid.uuid4().hex}.tmp"  # a leading _ keeps it hidden from pyarrow, Spark and Hive
