"""Which storage a lake root gets: local disk, HDFS, an object store or any other fsspec filesystem.

Apart from ``storage.py`` so that the backends (``storage_hdfs``, ``storage_object``, ...) can build on its classes
without an import cycle.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

from airflow_zaloni.lake.errors import LakeError
from airflow_zaloni.lake.storage import FsspecStorage, Storage


def open_storage(root: str, storage_options: dict[str, Any] | None = None) -> Storage:
    """Storage for a lake root: a plain path, ``file://``, ``webhdfs://<conn_id>@/path`` or any fsspec URL."""
    if not root or not isinstance(root, str):
        raise LakeError(f"lake root must be a path or URI, got {root!r}")
    parts = urlsplit(root)
    if parts.scheme in ("", "file") or (len(parts.scheme) == 1 and os.name == "nt"):
        path = parts.path if parts.scheme == "file" else root
        return Storage(os.path.abspath(os.path.expanduser(path)))
    if parts.scheme in ("webhdfs", "hdfs"):
        # webhdfs://<conn_id>@/path (the HDFS provider's connection), webhdfs://nn1:port,nn2:port/path, hdfs://ns1/path
        from airflow_zaloni.lake.storage_hdfs import open_hdfs_storage

        return open_hdfs_storage(parts, storage_options)
    try:
        import fsspec

        fs, path = fsspec.core.url_to_fs(root, **(storage_options or {}))
    except (ValueError, ImportError) as exc:
        raise LakeError(f"lake root {root!r} uses a filesystem that is not available: {exc}") from exc
    from airflow_zaloni.lake.storage_object import ObjectStorage, is_object_store

    if is_object_store(fs):  # S3, GCS, Azure: no rename, the manifest is the commit record (storage_object.py)
        return ObjectStorage(fs, path)
    return FsspecStorage(fs, path)


def with_connection(root: str, conn_id: str | None, storage_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The storage options of a lake root with its Airflow connection's (the given ones win); no connection: as given.

    Every opener of a lake's storage (``Lake``, the tables' ``LakeFileIO``) goes through here, so they reach the
    store with the same credentials.
    """
    if not conn_id:
        return dict(storage_options or {})
    from airflow_zaloni.lake.connection import storage_options_for

    scheme = urlsplit(root).scheme if isinstance(root, str) else ""
    return {**storage_options_for(conn_id, scheme or "file"), **(storage_options or {})}
