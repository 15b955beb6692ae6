"""Object-store semantics of the lake's storage (S3 and S3-compatible stores, GCS, Azure Blob).

An object store has no folders and no rename: a "folder" is a key prefix, and moving it is a copy of every object
followed by a delete, which a process can be killed in the middle of. fsspec's ``mv(recursive=True)`` even fails on
S3 (it asks for a CopyObject of the prefix itself: "The specified key does not exist"). What the store does give:
a PUT is atomic (an object is there whole or not at all) and, on S3, a conditional PUT (``If-None-Match: *``)
creates an object only if it does not exist.

So on an object store:

- **The manifest is the commit record, written last.** Publishing a staged partition (:meth:`publish`, step 5 of
  the commit protocol in ``transaction.py``) copies every staged object into place beside the old ones (the lake's
  file names carry the transaction id, so none is overwritten) and then replaces ``_manifest.json`` in one PUT; the
  Iceberg table's snapshot is committed next, and only then are the replaced objects deleted (:meth:`retire`), so
  the previous snapshot stays readable until the new one is current. Readers that go through manifests or the
  table -- ``Lake.partitions``, ``Lake.read_table``/``iter_batches``, ``LakeDatasetSensor``, promotion,
  ``LakeToSqlOperator``, ``zaloni lake``, pyiceberg and Spark by table name -- therefore see a partition whole as it
  was or whole as it is now; never a mix. (Where a staged name is already taken, e.g. a landing file received again
  under the same name, the old manifest and objects are deleted first and the partition is absent for the moment
  of the copy.) A tool that lists the prefix itself (pyarrow reading ``s3://.../dt=.../`` directly) can see old and
  new objects together: read such lakes through the manifests or the Iceberg tables.
- **Every step repeats.** The staged manifest is removed only after the published one is in place, so while it
  exists the journal's roll-forward does the whole publish again (from deleting the target on); once it is gone
  only the staging leftovers are removed. A publish killed at any point completes on the next lake operation and
  never makes a later one fail.
- Small files (``_state.json``, journals, owner records) are single PUTs, locks are conditional PUTs, and listings
  are never cached (other processes write the lake).
"""

from __future__ import annotations

import errno
from typing import Any

from airflow_zaloni.lake.manifest import MANIFEST_NAME
from airflow_zaloni.lake.storage import FsspecStorage

#: fsspec protocols of object stores (no rename, atomic PUT).
OBJECT_STORE_PROTOCOLS = frozenset({"s3", "s3a", "s3n", "gs", "gcs", "abfs", "abfss", "az", "adl", "oss", "r2"})


def is_object_store(fs: Any) -> bool:
    protocols = {fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)
    return bool(protocols & OBJECT_STORE_PROTOCOLS)


class ObjectStorage(FsspecStorage):
    """The lake's storage operations on an object store (see the module docstring for the publish protocol)."""

    def __init__(self, fs: Any, base: str) -> None:
        super().__init__(fs, base)
        # Other processes write the lake: a listing cached by this one would hide their commits (a sensor would wait
        # forever). fsspec shares filesystem instances, so this also holds for whoever else uses this one.
        dircache = getattr(fs, "dircache", None)
        if dircache is not None:
            dircache.use_listings_cache = False
            dircache.clear()
        #: Whether the store honours conditional PUTs (S3 does since 2024; some S3-compatible stores do not).
        self._conditional_put = True

    # -- reading -------------------------------------------------------------------------------------------------
    def listdir(self, path: str) -> list[str]:
        try:
            entries = self.fs.ls(path, detail=False, refresh=True)
        except (FileNotFoundError, OSError):
            return []
        return sorted(e.rstrip("/").rsplit("/", 1)[-1] for e in entries)

    def mtime(self, path: str) -> float:
        """Last change of an object, or of the newest object under a prefix (a prefix has no time of its own)."""
        info = self.fs.info(path)
        if info.get("type") != "directory":
            return super().mtime(path)
        times = [super(ObjectStorage, self).mtime(key) for key in self._keys(path)]
        return max(times, default=0.0)

    # -- writing -------------------------------------------------------------------------------------------------
    def makedirs(self, path: str) -> None:
        """Nothing to do: a prefix exists as soon as an object is written under it."""

    def write_atomic(self, path: str, data: bytes) -> None:
        # One PUT replaces the object whole: no temporary name, and no moment without the file (a rename-based
        # replace would be a delete plus a copy here, and a reader in between would see no watermark at all).
        self.fs.pipe_file(path, data)

    def create_exclusive(self, path: str, data: bytes) -> bool:
        if self._conditional_put:
            try:
                self.fs.pipe_file(path, data, mode="create")
                return True
            except FileExistsError:
                return False
            except (NotImplementedError, TypeError, ValueError):
                # The store (or an older s3fs) has no conditional PUT: fall back to create-and-read-back.
                self._conditional_put = False
            except OSError as exc:
                if "NotImplemented" not in str(exc):
                    raise
                self._conditional_put = False
        return super().create_exclusive(path, data)

    def rename(self, src: str, dst: str) -> None:
        """Move a prefix (or one object): copy every object, then delete the sources; fails if ``dst`` exists.

        Not atomic: a process killed in between leaves both. The commit protocol does not rename partitions on an
        object store (see :meth:`publish`); this is for callers that can repeat the move.
        """
        if self.fs.exists(dst):
            raise FileExistsError(errno.EEXIST, "rename target exists", dst)
        keys = self._keys(src)
        if not keys:
            raise FileNotFoundError(errno.ENOENT, "rename source does not exist", src)
        self._copy(keys, src, dst)
        self.fs.rm(keys)

    def publish(self, staged: str, target: str, trash: str) -> None:
        """Put the staged partition in place of ``target``, the manifest last; repeatable after a crash.

        When no staged name is already taken in ``target`` (the writer's file names carry the transaction id), the
        new objects are copied beside the old ones and the manifest is replaced in one PUT: a manifest reader sees
        the old partition or the new one, never none, and the old objects -- which the table's previous snapshot
        still names -- are deleted by :meth:`retire` after the table commit. When a name is taken (a landing file
        of the same name), the old manifest and objects go first, as a partition that is briefly absent.
        """
        staged_manifest = f"{staged}/{MANIFEST_NAME}"
        if self.fs.exists(staged_manifest):
            files = [k for k in self._keys(staged) if k != self._key(staged_manifest)]
            staged_key, target_key = self._key(staged).rstrip("/"), self._key(target).rstrip("/")
            taken = {target_key + k[len(staged_key) :] for k in files} & set(self._keys(target))
            if taken:
                self.remove(f"{target}/{MANIFEST_NAME}")  # the old commit record first: readers see no partition
                self.fs.rm(self._keys(target))  # old objects, and whatever a killed try of this publish copied
            self._copy(files, staged, target)
            self.fs.copy(staged_manifest, f"{target}/{MANIFEST_NAME}")  # the commit record, last
            self.remove(staged_manifest)  # from here on a repeat knows the publish is done
        self.remove(staged)

    def retire(self, target: str) -> None:
        """Delete the objects of ``target`` that its manifest no longer lists (the replaced commit's); repeatable."""
        manifest = self.read_json(f"{target}/{MANIFEST_NAME}")
        if not isinstance(manifest, dict):
            return
        base = self._key(target).rstrip("/")
        keep = {f"{base}/{MANIFEST_NAME}"} | {f"{base}/{f['path']}" for f in manifest.get("files", [])}
        old = [k for k in self._keys(target) if k not in keep and not k[len(base) + 1 :].startswith(("_", "."))]
        if old:
            self.fs.rm(old)

    # -- internals -----------------------------------------------------------------------------------------------
    def _key(self, path: str) -> str:
        return str(self.fs._strip_protocol(path))

    def _keys(self, prefix: str) -> list[str]:
        """Every object under ``prefix`` (a trailing ``/`` so that ``dt=1`` does not take ``dt=10``)."""
        try:
            return sorted(self.fs.find(self._key(prefix).rstrip("/") + "/"))
        except FileNotFoundError:
            return []

    def _copy(self, keys: list[str], src: str, dst: str) -> None:
        """Server-side copies of ``keys`` from under ``src`` to the same names under ``dst``, run concurrently."""
        if not keys:
            return
        src_key, dst_key = self._key(src).rstrip("/"), self._key(dst).rstrip("/")
        self.fs.copy(keys, [dst_key + k[len(src_key) :] for k in keys], on_error="raise")
