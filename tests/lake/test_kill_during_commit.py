"""The commit protocol under SIGKILL at random moments of writing and committing, on local disk and on HDFS.

Each interval is ingested by a child process that is killed at a random moment, several times, and then run to
completion (the retry). After every kill the test looks at the lake as pyarrow sees it, before anything recovers it:
each visible partition must be complete. At the end the dataset must hold exactly the source rows, and the
watermark must match the data. On HDFS (the real cluster, ``webhdfs://`` naming both NameNodes) fewer kills keep
the test near a minute: every child is a new WebHDFS client.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from airflow_zaloni.lake import Lake
from airflow_zaloni.lake.storage import open_storage
from tests.hdfs_lake import hdfs_user, unique_folder
from tests.lake.kill_target import REF

REPO = Path(__file__).resolve().parents[2]
ROWS = 20_000


def start(root: str, day: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.lake.kill_target", str(root), str(day), str(ROWS)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_for(proc: subprocess.Popen[bytes], marker: bytes) -> None:
    """Block until the child prints ``marker`` (READY: about to write; COMMITTING: about to publish)."""
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == marker, line


def visible_partitions(root: str) -> dict[str, list[int]]:
    """What a pyarrow reader sees right now: partition -> sorted ids (hidden ``_`` paths are skipped by pyarrow)."""
    storage = open_storage(root)  # only looks: nothing is recovered
    base = storage.join(REF.zone, REF.system, REF.name)
    seen: dict[str, list[int]] = {}
    for name in storage.listdir(base):
        if not name.startswith(("_", ".")):
            table = ds.dataset(f"{base}/{name}", filesystem=storage.arrow_filesystem(), format="parquet")
            seen[name] = sorted(table.to_table(columns=["id"])["id"].to_pylist())
    return seen


def pending_journals(root: str) -> int:
    storage = open_storage(root)
    return sum(n.endswith(".json") for n in storage.listdir(storage.join("_zaloni", "txn")))


def expected_ids(day: int) -> list[int]:
    return list(range((day - 1) * ROWS + 1, day * ROWS + 1))


@pytest.fixture(params=["local", pytest.param("hdfs", marks=pytest.mark.hadoop)])
def lake_place(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str, int, int]:
    """``(probe root, lake root, days, kills per day)`` on local disk or on the real HDFS."""
    if request.param == "local":
        return str(tmp_path / "probe"), str(tmp_path / "lake"), 3, 7
    cluster = request.getfixturevalue("hadoop_cluster")
    base = f"webhdfs://{hdfs_user(cluster)}@{','.join(cluster.namenode_http)}"
    return f"{base}{unique_folder('probe')}", f"{base}{unique_folder('killed')}", 2, 4


@pytest.mark.timeout(240)
def test_sigkill_at_random_moments_never_shows_partial_data_and_lands_exactly_once(
    lake_place: tuple[str, str, int, int],
) -> None:
    probe_root, root, days, kills_per_day = lake_place
    rng = random.Random(20261126)
    proc = start(probe_root, 1)
    wait_for(proc, b"READY")
    t0 = time.monotonic()
    wait_for(proc, b"COMMITTING")
    t1 = time.monotonic()
    wait_for(proc, b"COMMITTED")
    t2 = time.monotonic()
    assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
    write_time, commit_time = t1 - t0, t2 - t1

    kills = 0
    killed_after_commit_point = 0
    for day in range(1, days + 1):
        for attempt in range(kills_per_day):
            proc = start(root, day)
            wait_for(proc, b"READY")
            if attempt % 2:  # a moment while the files are being written
                time.sleep(rng.uniform(0.0, 1.0) * write_time)
            else:  # a moment of the commit itself (manifests, locks, journal, renames, state)
                wait_for(proc, b"COMMITTING")
                time.sleep(rng.uniform(0.0, 1.2) * commit_time)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            kills += 1
            if pending_journals(root):
                killed_after_commit_point += 1
            for partition, ids in visible_partitions(root).items():
                d = int(partition.rsplit("-", 1)[1])
                assert ids == expected_ids(d), f"partial or duplicated partition {partition} visible after a kill"
        proc = start(root, day)
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()

    assert kills == days * kills_per_day
    lake = Lake(root)
    everything = sorted(lake.read_table(REF)["id"].to_pylist())
    assert everything == list(range(1, days * ROWS + 1))  # no loss, no duplicates
    assert lake.watermark(REF) == days * ROWS
    for day in range(1, days + 1):
        manifest = lake.manifest(REF, f"dt=2026-01-{day:02d}")
        assert manifest is not None and manifest["totals"]["rows"] == ROWS
        assert manifest["watermark"] == {"before": (day - 1) * ROWS or None, "after": day * ROWS}
    assert lake.verify() == []
    print(f"{kills} kills, {killed_after_commit_point} after the commit point (rolled forward)")
