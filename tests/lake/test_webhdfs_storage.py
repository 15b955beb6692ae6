"""The lake's storage primitives against a real HDFS (Hadoop's MiniDFSCluster, HA NameNodes), through WebHDFS and
through the native RPC client (hdfs-native).

Each test names a defect that the generic fsspec path had on a real NameNode over WebHDFS: a RENAME answering
``{"boolean": false}`` was taken for success, two writers could both take the commit lock (or failed with an HTTP
error instead of losing), and replacing ``_state.json`` left a moment with no file at all, or a torn one.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from typing import Any

import pytest

from airflow_zaloni.lake.storage import Storage
from airflow_zaloni.lake.storage_hdfs import NativeHDFSStorage
from airflow_zaloni.lake.storage_open import open_storage
from airflow_zaloni.lake.storage_webhdfs import WebHDFSStorage
from tests.hdfs_lake import lake_on_hdfs, unique_folder

pytestmark = [pytest.mark.hadoop, pytest.mark.timeout(180)]


@pytest.fixture(params=["webhdfs", "hdfs"])
def storage(request: pytest.FixtureRequest, hadoop_cluster: Any, monkeypatch: pytest.MonkeyPatch) -> Storage:
    if request.param == "webhdfs":
        st = open_storage(lake_on_hdfs(hadoop_cluster, monkeypatch))
        assert isinstance(st, WebHDFSStorage)
    else:
        monkeypatch.setenv("HADOOP_CONF_DIR", str(hadoop_cluster.conf_dir))
        st = open_storage(f"hdfs://{hadoop_cluster.nameservice}{unique_folder('native')}")
        assert isinstance(st, NativeHDFSStorage)
    st.makedirs(st.base)
    return st


def test_a_rename_that_does_nothing_is_an_error_naming_the_path(storage: Storage) -> None:
    staged = storage.join("_staging", "t1", "dt=1")
    storage.makedirs(staged)
    with storage.open_write(f"{staged}/part-0.parquet") as f:
        f.write(b"data")

    with pytest.raises(FileNotFoundError, match=r"rename .*/missing -> .*: the source"):
        storage.rename(storage.join("missing"), storage.join("dt=1"))
    with pytest.raises(FileNotFoundError, match="parent folder is missing"):
        storage.rename(staged, storage.join("no", "such", "parent", "dt=1"))
    assert storage.listdir(staged) == ["part-0.parquet"]  # nothing moved, nothing lost

    # An existing target is never merged into (HDFS's plain RENAME would move the source *inside* it).
    storage.makedirs(storage.join("dt=1"))
    with pytest.raises(FileExistsError, match="the target exists"):
        storage.rename(staged, storage.join("dt=1"))
    assert storage.listdir(storage.join("dt=1")) == []
    storage.remove(storage.join("dt=1"))
    storage.rename(staged, storage.join("dt=1"))
    assert storage.listdir(storage.join("dt=1")) == ["part-0.parquet"] and not storage.exists(staged)


def race_for_lock(storage: Storage, lock: str, delays: list[float]) -> tuple[list[bytes], list[BaseException]]:
    """Writers that start together (then after ``delays``) and each try to take ``lock``: (winners, errors)."""
    barrier = threading.Barrier(len(delays))
    wins: list[bytes] = []
    errors: list[BaseException] = []

    def take(token: bytes, delay: float) -> None:
        try:
            barrier.wait()
            time.sleep(delay)  # staggered starts: one writer's check-then-create overlaps another's
            if storage.create_exclusive(lock, token):
                wins.append(token)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=take, args=(f"writer-{i}".encode(), d)) for i, d in enumerate(delays)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return wins, errors


def test_the_commit_lock_has_exactly_one_winner_among_racing_writers(storage: Storage) -> None:
    rng = random.Random(14)
    for round_ in range(10):
        lock = storage.join(f"_commit-{round_}.lock")
        wins, errors = race_for_lock(storage, lock, [rng.uniform(0, 0.04) for _ in range(6)])
        assert not errors, f"round {round_}: a racing writer failed instead of losing: {errors[0]!r}"
        assert len(wins) == 1, f"round {round_}: {len(wins)} writers took the lock"
        with storage.open_read(lock) as f:
            assert f.read() == wins[0]  # the lock holds the winner's record, complete
    assert not [n for n in storage.listdir(storage.base) if n.endswith(".tmp")]  # losers left nothing behind


def test_replacing_state_never_leaves_a_moment_without_the_file(storage: Storage) -> None:
    state = storage.join("_state.json")
    storage.write_atomic(state, json.dumps({"version": 0}).encode())
    done = threading.Event()
    seen: list[Any] = []
    errors: list[BaseException] = []

    def read() -> None:
        while not done.is_set():
            try:
                seen.append(storage.read_json(state))
            except BaseException as exc:  # a torn read is as bad as a missing file
                errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for version in range(1, 41):
            storage.write_atomic(state, json.dumps({"version": version}).encode())
    finally:
        done.set()
        reader.join()
    assert not errors, f"{len(errors)} reads failed, first: {errors[0]!r}"
    assert seen and None not in seen, f"{seen.count(None)} of {len(seen)} reads found no _state.json"
    versions = [s["version"] for s in seen]
    assert versions == sorted(versions)  # never an older state after a newer one
    assert storage.read_json(state) == {"version": 40}
    assert [n for n in storage.listdir(storage.base) if n != "_state.json"] == []


def test_files_stream_to_the_datanode_in_one_create(storage: Storage) -> None:
    path = storage.join("big.bin")
    piece = bytes(range(256)) * 4096  # 1 MiB
    with storage.open_write(path) as f:
        for _ in range(12):
            f.write(memoryview(piece))
    assert storage.size(path) == 12 * len(piece)
    with storage.open_read(path) as f:
        f.seek(5 * len(piece) + 7)
        assert f.read(3) == piece[7:10]
    with storage.open_write(storage.join("empty.bin")):
        pass
    assert storage.size(storage.join("empty.bin")) == 0


@pytest.mark.parametrize("extra", [{}, {"headers": {"X-Request-Source": "zaloni-test"}}], ids=["direct", "session"])
def test_pieces_arrive_whole_when_the_writer_reuses_its_buffer(
    hadoop_cluster: Any, monkeypatch: pytest.MonkeyPatch, extra: dict[str, Any]
) -> None:
    """Across piece boundaries, whether the body goes by http.client (a plain connection) or by the requests
    session (a connection with headers, a proxy, a gateway's credentials or TLS), and while the caller overwrites
    its buffer after each write, as copy_stream does."""
    st = open_storage(lake_on_hdfs(hadoop_cluster, monkeypatch, **extra))
    st.makedirs(st.base)
    rng = random.Random(7)
    expected = hashlib.sha256()
    buffer = bytearray(5 << 20)
    with st.open_write(st.join("pieces.bin")) as f:
        for _ in range(8):  # 40 MiB: two whole 16 MiB pieces and a partial one
            buffer[:] = rng.randbytes(len(buffer))
            expected.update(buffer)
            f.write(memoryview(buffer))
    with st.open_read(st.join("pieces.bin")) as f:
        assert hashlib.sha256(f.read()).hexdigest() == expected.hexdigest()
