"""The pyiceberg FileIO over the lake's storage (:class:`~airflow_zaloni.lake.iceberg_io.LakeFileIO`) on local disk;
the same checks run on the real HDFS in ``test_iceberg_on_hdfs.py`` (``webhdfs://`` and ``hdfs://``).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pyiceberg.catalog import load_catalog

from airflow_zaloni.lake.iceberg_io import LakeFileIO

SCHEMA = pa.schema([("id", pa.int64()), ("name", pa.string()), ("amount", pa.decimal128(18, 2))])


def catalog_on(root: str, tmp_path: Any) -> Any:
    return load_catalog(
        "zaloni",
        type="sql",
        uri=f"sqlite:///{tmp_path}/catalog.db",
        warehouse=root,
        **{"py-io-impl": "airflow_zaloni.lake.iceberg_io.LakeFileIO", "zaloni.lake-root": root},
    )


def batch(start: int, count: int) -> pa.Table:
    ids = list(range(start, start + count))
    return pa.table(
        {"id": ids, "name": [None if i % 7 == 0 else f"n{i}" for i in ids], "amount": [None] * count}, schema=SCHEMA
    )


def check_table_round_trip(root: str, tmp_path: Any) -> Any:
    """A table under ``root`` through a SqlCatalog with LakeFileIO: created, appended to twice, overwritten, scanned
    back exactly after each step; returns the table."""
    catalog = catalog_on(root, tmp_path)
    catalog.create_namespace(("raw", "files"))
    table = catalog.create_table(("raw", "files", "orders"), schema=SCHEMA)
    assert isinstance(table.io, LakeFileIO)
    table.append(batch(0, 3000))
    table.append(batch(3000, 500))
    assert sorted(catalog.load_table(("raw", "files", "orders")).scan().to_arrow()["id"].to_pylist()) == list(
        range(3500)
    )
    table.overwrite(batch(10, 20))
    scanned = catalog.load_table(("raw", "files", "orders")).scan().to_arrow()
    assert scanned.sort_by("id").to_pylist() == batch(10, 20).to_pylist()
    assert len(table.history()) == 4  # two appends and the overwrite's delete + append

    return table


def check_metadata_files_are_never_replaced(root: str) -> None:
    """What pyiceberg's ``create(overwrite=False)`` (every table metadata file) must do under ``root``."""
    io = LakeFileIO({"zaloni.lake-root": root})
    location = f"{root}/t/metadata/00001-x.metadata.json"
    with io.new_output(location).create() as out:
        out.write(b'{"v": 1}')
    with pytest.raises(FileExistsError):
        io.new_output(location).create()

    # Two writers that both found the name free: exactly one publishes, the other is told, the file is whole.
    streams = [io.new_output(f"{root}/t/metadata/00002-x.metadata.json").create() for _ in range(2)]
    for n, stream in enumerate(streams):
        stream.write(b'{"writer": %d}' % n)
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def close(stream: Any) -> None:
        start.wait()
        try:
            stream.close()
            outcomes.append("published")
        except FileExistsError:
            outcomes.append("refused")

    threads = [threading.Thread(target=close, args=(s,)) for s in streams]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["published", "refused"]
    with io.new_input(f"{root}/t/metadata/00002-x.metadata.json").open() as f:
        assert f.read() in (b'{"writer": 0}', b'{"writer": 1}')

    # A write that fails half-way publishes nothing; a seekable read; delete.
    with pytest.raises(RuntimeError), io.new_output(f"{root}/t/metadata/00003-x.metadata.json").create() as out:
        out.write(b"{")
        raise RuntimeError("the writer died")
    assert not io.new_input(f"{root}/t/metadata/00003-x.metadata.json").exists()
    data = io.new_input(location)
    assert len(data) == 8
    with data.open() as f:
        f.seek(6)
        assert f.read(1) == b"1"
        assert f.tell() == 7
    io.delete(location)
    assert not data.exists()
    with pytest.raises(FileNotFoundError):
        io.delete(location)


@pytest.mark.parametrize("form", ["path", "file-url"])
def test_a_local_table_through_lake_file_io(tmp_path: Path, form: str) -> None:
    root = str(tmp_path / "lake") if form == "path" else f"file://{tmp_path}/lake"
    table = check_table_round_trip(root, tmp_path)
    files = [p.name for p in (tmp_path / "lake").rglob("*") if p.is_file()]
    assert sum(n.endswith(".parquet") for n in files) == 3
    assert any(n.endswith(".metadata.json") for n in files)
    assert table.location().startswith(root)


def test_local_metadata_files_are_never_replaced(tmp_path: Path) -> None:
    check_metadata_files_are_never_replaced(str(tmp_path / "lake"))
