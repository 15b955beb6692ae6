"""The commit protocol under SIGKILL at random moments of writing and committing.

Each interval is ingested by a child process that is killed at a random moment, several times, and then run to
completion (the retry). After every kill the test looks at the lake as pyarrow sees it, before anything recovers it:
each visible partition must be complete. At the end the dataset must hold exactly the source rows, and the
watermark must match the data.
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
from tests.lake.kill_target import REF

REPO = Path(__file__).resolve().parents[2]
ROWS = 20_000
DAYS = 3
KILLS_PER_DAY = 7


def start(root: Path, day: int) -> subprocess.Popen[bytes]:
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


def visible_partitions(root: Path) -> dict[str, list[int]]:
    """What a pyarrow reader sees right now: partition -> sorted ids (hidden ``_`` paths are skipped by pyarrow)."""
    base = root / REF.zone / REF.system / REF.name
    seen: dict[str, list[int]] = {}
    if not base.exists():
        return seen
    for part in sorted(p for p in base.iterdir() if not p.name.startswith(("_", "."))):
        table = ds.dataset(part, format="parquet").to_table(columns=["id"])
        seen[part.name] = sorted(table["id"].to_pylist())
    return seen


def expected_ids(day: int) -> list[int]:
    return list(range((day - 1) * ROWS + 1, day * ROWS + 1))


@pytest.mark.timeout(240)
def test_sigkill_at_random_moments_never_shows_partial_data_and_lands_exactly_once(tmp_path: Path) -> None:
    rng = random.Random(20261126)
    probe_root = tmp_path / "probe"
    proc = start(probe_root, 1)
    wait_for(proc, b"READY")
    t0 = time.monotonic()
    wait_for(proc, b"COMMITTING")
    t1 = time.monotonic()
    wait_for(proc, b"COMMITTED")
    t2 = time.monotonic()
    assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
    write_time, commit_time = t1 - t0, t2 - t1

    root = tmp_path / "lake"
    kills = 0
    killed_after_commit_point = 0
    for day in range(1, DAYS + 1):
        for attempt in range(KILLS_PER_DAY):
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
            journal_dir = root / "_zaloni" / "txn"
            if journal_dir.exists() and any(p.suffix == ".json" for p in journal_dir.iterdir()):
                killed_after_commit_point += 1
            for partition, ids in visible_partitions(root).items():
                d = int(partition.rsplit("-", 1)[1])
                assert ids == expected_ids(d), f"partial or duplicated partition {partition} visible after a kill"
        proc = start(root, day)
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()

    assert kills >= 20
    lake = Lake(str(root))
    everything = sorted(lake.read_table(REF)["id"].to_pylist())
    assert everything == list(range(1, DAYS * ROWS + 1))  # no loss, no duplicates
    assert lake.watermark(REF) == DAYS * ROWS
    for day in range(1, DAYS + 1):
        manifest = lake.manifest(REF, f"dt=2026-01-{day:02d}")
        assert manifest is not None and manifest["totals"]["rows"] == ROWS
        assert manifest["watermark"] == {"before": (day - 1) * ROWS or None, "after": day * ROWS}
    assert lake.verify() == []
    print(f"{kills} kills, {killed_after_commit_point} after the commit point (rolled forward)")
