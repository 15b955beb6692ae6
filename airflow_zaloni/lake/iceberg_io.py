"""A pyiceberg ``FileIO`` over the lake's own storage, so Iceberg tables work on every lake root.

pyiceberg's own FileIOs do not reach HDFS without a JVM: ``PyArrowFileIO`` handles ``hdfs://`` through pyarrow's
``HadoopFileSystem``, which loads ``libhdfs`` over JNI (a Hadoop install, ``JAVA_HOME``, the Hadoop ``CLASSPATH``
on every worker), and ``FsspecFileIO`` knows no ``webhdfs``/``hdfs`` scheme at all. :class:`LakeFileIO` goes
through :func:`~airflow_zaloni.lake.storage.open_storage` instead, the same code that writes the lake's Parquet
files: ``webhdfs://<conn_id>@/path`` (HA NameNodes, the Airflow ``webhdfs`` connection), ``hdfs://`` (hdfs-native,
HDFS RPC from Rust), local paths and any other fsspec filesystem.

Use it as ``py-io-impl`` of a catalog::

    load_catalog("lake", type="sql", uri="sqlite:///...", warehouse="webhdfs://webhdfs_default@/lake",
                 **{"py-io-impl": "airflow_zaloni.lake.iceberg_io.LakeFileIO",
                    "zaloni.lake-root": "webhdfs://webhdfs_default@/lake"})

Properties (all optional):

* ``zaloni.lake-root``: locations on this root's filesystem are opened as the lake opens its root (with
  ``zaloni.lake-conn-id``, the lake's Airflow connection, for credentials); other locations are opened on their own
  (``scheme://authority``) without options.
* ``zaloni.lake-conn-id``: the lake's Airflow connection (see :mod:`airflow_zaloni.lake.connection`).

Writes that must not replace anything (``create(overwrite=False)``, which pyiceberg uses for every table metadata
file) are exclusive where the filesystem allows it: the bytes are kept until the stream is closed and then published
with the storage's exclusive create (a hard link locally; on HDFS a private temporary file renamed into place
without OVERWRITE, which the NameNode refuses when the target exists). Of two writers committing the same metadata
version, exactly one succeeds; the other gets ``FileExistsError``. Data files and manifests
(``overwrite=True``) are streamed to the storage as they are written.
"""

from __future__ import annotations

import io
import threading
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from pyiceberg.io import FileIO, InputFile, InputStream, OutputFile, OutputStream
from pyiceberg.typedef import EMPTY_DICT, Properties

from airflow_zaloni.lake.storage import Storage
from airflow_zaloni.lake.storage_open import open_storage, with_connection

LAKE_ROOT = "zaloni.lake-root"
LAKE_CONN_ID = "zaloni.lake-conn-id"

#: Storages whose paths are plain absolute paths (the location's URL path); others take fsspec's own form of the
#: location (``bucket/key`` on object stores).
_PATH_PROTOCOLS = frozenset({"file", "webhdfs", "hdfs"})


class LakeFileIO(FileIO):
    """pyiceberg FileIO over :class:`~airflow_zaloni.lake.storage.Storage` (see the module docstring)."""

    def __init__(self, properties: Properties = EMPTY_DICT) -> None:
        super().__init__(properties)
        self._storages: dict[tuple[str, str], Storage] = {}
        self._lock = threading.Lock()

    # -- FileIO ----------------------------------------------------------------------------------------------------
    def new_input(self, location: str) -> InputFile:
        storage, path = self.resolve(location)
        return LakeInputFile(location, storage, path)

    def new_output(self, location: str) -> OutputFile:
        storage, path = self.resolve(location)
        return LakeOutputFile(location, storage, path)

    def delete(self, location: str | InputFile | OutputFile) -> None:
        if not isinstance(location, str):
            location = location.location
        storage, path = self.resolve(location)
        if not storage.exists(path):
            raise FileNotFoundError(f"cannot delete {location}: it does not exist")
        storage.remove(path)

    # -- locations -------------------------------------------------------------------------------------------------
    def resolve(self, location: str) -> tuple[Storage, str]:
        """The storage holding ``location`` and the path to hand it."""
        parts = urlsplit(location)
        scheme = parts.scheme if len(parts.scheme) > 1 else "file"  # "C:/..." is a Windows path, not a scheme
        key = (scheme, parts.netloc)
        with self._lock:
            storage = self._storages.get(key)
            if storage is None:
                storage = self._storages[key] = self._open(scheme, parts.netloc)
        if storage.protocol in _PATH_PROTOCOLS:
            path = parts.path if parts.scheme else location
            return storage, path
        return storage, storage.fs._strip_protocol(location)  # type: ignore[attr-defined]

    def _open(self, scheme: str, netloc: str) -> Storage:
        root = self.properties.get(LAKE_ROOT) or ""
        if root:
            root_parts = urlsplit(root)
            if (root_parts.scheme or "file", root_parts.netloc) == (scheme, netloc):
                # Opened as the Lake opens its root: the same connection, the same storage options.
                return open_storage(root, with_connection(root, self.properties.get(LAKE_CONN_ID) or None))
        if scheme == "file":
            return open_storage("/")
        return open_storage(f"{scheme}://{netloc}/")


class _OnStorage:
    """A file of a :class:`LakeFileIO`: its location, the storage that holds it and its path there."""

    location: str

    def __init__(self, location: str, storage: Storage, path: str) -> None:
        super().__init__(location)  # type: ignore[call-arg]  # InputFile/OutputFile, next in the MRO
        self.storage = storage
        self.path = path

    def __len__(self) -> int:
        return self.storage.size(self.path)

    def exists(self) -> bool:
        return self.storage.exists(self.path)


class LakeInputFile(_OnStorage, InputFile):
    def open(self, seekable: bool = True) -> InputStream:
        try:
            return self.storage.open_read(self.path)  # type: ignore[return-value]
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"cannot open {self.location}: it does not exist") from exc


class LakeOutputFile(_OnStorage, OutputFile):
    def to_input_file(self) -> InputFile:
        return LakeInputFile(self.location, self.storage, self.path)

    def create(self, overwrite: bool = False) -> OutputStream:
        if overwrite:
            make_parent(self.storage, self.path)
            return self.storage.open_write(self.path)  # type: ignore[return-value]
        if self.storage.exists(self.path):
            raise FileExistsError(f"cannot create {self.location}: it already exists")
        return ExclusiveOutputStream(self)


class ExclusiveOutputStream(io.RawIOBase):
    """Collects the bytes of a new file and publishes them on :meth:`close` with the storage's exclusive create.

    Nothing appears when the ``with`` block that wrote it fails, and ``close`` raises ``FileExistsError`` when
    another writer created the file first (pyiceberg writes table metadata this way: small files, one per commit).
    """

    def __init__(self, target: LakeOutputFile) -> None:
        super().__init__()
        self._target = target
        self._buffer = io.BytesIO()
        self._discard = False

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        return self._buffer.write(b)

    def tell(self) -> int:
        return self._buffer.tell()

    def close(self) -> None:
        if self.closed:
            return
        try:
            if not self._discard:
                target = self._target
                make_parent(target.storage, target.path)
                if not target.storage.create_exclusive(target.path, self._buffer.getvalue()):
                    raise FileExistsError(f"cannot create {target.location}: another writer created it first")
        finally:
            self._buffer = io.BytesIO()
            super().close()

    def __enter__(self) -> ExclusiveOutputStream:
        return self

    def __exit__(
        self, exctype: type[BaseException] | None, excinst: BaseException | None, exctb: TracebackType | None
    ) -> None:
        self._discard = exctype is not None
        self.close()


def make_parent(storage: Storage, path: str) -> None:
    """Create the folder of a new file where the filesystem needs it.

    HDFS creates missing parents with the file (WebHDFS ``CREATE``, hdfs-native ``create_parent``): one NameNode
    call less per file there.
    """
    if storage.protocol not in ("webhdfs", "hdfs"):
        parent = path.rsplit("/", 1)[0]
        if parent:
            storage.makedirs(parent)
