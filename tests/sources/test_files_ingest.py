"""Exactly-once file ingest into a real local lake, without Airflow."""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

import pyarrow as pa
import pytest

from airflow_zaloni.lake import DatasetRef, Lake
from airflow_zaloni.sources.base import SourceError
from airflow_zaloni.sources.files import FileIngest, FormatOptions, complete
from airflow_zaloni.sources.files.client import FileSystem, LocalFileSystem, RemoteFile

LANDING = DatasetRef("landing", "files", "orders")
RAW = DatasetRef("raw", "files", "orders")
LEDGER = DatasetRef("landing", "files", "orders.files")


def write(folder: Path, name: str, text: str, mtime: float | None = None) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def run(lake: Lake, drop: Path, partition: str, fs: FileSystem | None = None, **kwargs: object) -> object:
    ingest = FileIngest(fs=fs or LocalFileSystem(), folder=str(drop), location=str(drop), **kwargs)  # type: ignore[arg-type]
    with lake.transaction(run_id="test", try_number=1) as txn:
        result = ingest.run(txn, lake, landing=LANDING, raw=RAW, partition=partition)
    return result


@pytest.fixture
def drop(tmp_path: Path) -> Path:
    folder = tmp_path / "drop"
    folder.mkdir()
    return folder


@pytest.fixture
def lake(lake_root: Path) -> Lake:
    return Lake(str(lake_root))


def ids(lake: Lake, partition: str | None = None) -> list[int]:
    return sorted(lake.read_table(RAW, partition).column("id").to_pylist())


def test_each_file_lands_once_and_a_changed_file_is_a_new_version(lake: Lake, drop: Path) -> None:
    write(drop, "a.csv", "id,v\n1,x\n2,y\n")
    write(drop, "b.csv", "id,v\n3,z\n")
    first = run(lake, drop, "dt=2026-01-01", pattern="*.csv")
    assert first.summary()["files_ingested"] == 2 and ids(lake) == [1, 2, 3]
    landed = Path(lake.partition_path(LANDING, "dt=2026-01-01")) / "a.csv"
    assert landed.read_bytes() == (drop / "a.csv").read_bytes()

    # Next interval: nothing new, even though b.csv is touched (same bytes, newer mtime).
    os.utime(drop / "b.csv", (2e9, 2e9))
    second = run(lake, drop, "dt=2026-01-02", pattern="*.csv")
    assert second.summary()["files_ingested"] == 0 and ids(lake) == [1, 2, 3]
    assert {reason for _, reason in second.skipped} == {"already ingested as version 1", "touched, same content"}

    # A new file with an OLD modification time still lands (a timestamp-based listing would miss it), and a.csv
    # rewritten with new content lands again as version 2.
    write(drop, "late.csv", "id,v\n4,old\n", mtime=1_000_000)
    write(drop, "a.csv", "id,v\n1,x\n2,y2\n5,new\n")
    third = run(lake, drop, "dt=2026-01-03", pattern="*.csv")
    assert sorted((x.entry.path, x.entry.version) for x in third.landed) == [("a.csv", 2), ("late.csv", 1)]
    ledger = lake.read_table(LEDGER).to_pylist()
    a_versions = sorted((r["version"], r["sha256"]) for r in ledger if r["path"] == "a.csv")
    assert a_versions[1][1] == hashlib.sha256((drop / "a.csv").read_bytes()).hexdigest()
    assert ids(lake, "dt=2026-01-03") == [1, 2, 4, 5]


def test_rerun_of_a_partition_never_duplicates_even_after_the_files_were_archived(lake: Lake, drop: Path) -> None:
    write(drop, "a.csv", "id,v\n1,x\n")
    fs = LocalFileSystem()
    result = run(lake, drop, "dt=2026-01-01", pattern="*.csv")
    archive = str(drop.parent / "archive")
    assert complete(fs, result.completed, "move", archive, str(drop)) == [f"moved {drop / 'a.csv'} -> {archive}/a.csv"]
    write(drop, "b.csv", "id,v\n2,y\n")
    # Re-run of the same interval: a.csv is gone from the drop, but its partition keeps it (from the landing copy),
    # b.csv joins it; the partition is replaced, not appended, so id 1 appears once.
    rerun = run(lake, drop, "dt=2026-01-01", pattern="*.csv")
    assert rerun.summary()["files_carried_forward"] == 1
    assert ids(lake) == [1, 2]
    again = run(lake, drop, "dt=2026-01-01", pattern="*.csv")
    assert ids(lake) == [1, 2] and again.summary()["files_ingested"] == 1  # b.csv re-landed into its own partition


def test_failure_inside_the_transaction_publishes_nothing(lake: Lake, drop: Path) -> None:
    write(drop, "good.csv", "id,v\n1,x\n")
    write(drop, "bad.csv", "id,v\n2,y\n3\n")
    with pytest.raises(SourceError, match=r"bad\.csv line 3"):
        run(lake, drop, "dt=2026-01-01")
    assert lake.partitions(RAW) == [] and lake.partitions(LEDGER) == [] and lake.partitions(LANDING) == []
    (drop / "bad.csv").write_text("id,v\n2,y\n")
    assert run(lake, drop, "dt=2026-01-01").summary()["files_ingested"] == 2  # the retry lands both


def test_quarantine_keeps_bad_rows_in_their_own_dataset(lake: Lake, drop: Path) -> None:
    write(drop, "bad.csv", "id,v\n1,x\n2\n3,z\n")
    result = run(lake, drop, "dt=2026-01-01", options=FormatOptions(bad_rows="quarantine"))
    assert ids(lake) == [1, 3] and result.rejected_rows == 1
    rejected = lake.read_table(DatasetRef("raw", "files", "orders.rejected")).to_pylist()
    assert rejected == [{"file": "bad.csv", "line": 3, "text": "2", "reason": "expected 2 fields, got 1"}]
    manifest = lake.manifest(RAW, "dt=2026-01-01")
    assert manifest is not None
    assert manifest["extra"]["rejected_rows"] == 1
    assert manifest["extra"]["files"][0]["rejected_rows"] == 1


def test_schema_drift_is_recorded_and_resolved_by_policy(lake: Lake, drop: Path) -> None:
    write(drop, "a.csv", "id,v\n1,x\n", mtime=1000)
    write(drop, "b.csv", "id,w\nB2,1.5\n", mtime=2000)
    with pytest.raises(SourceError, match=r"b\.csv: new columns \['w'\]; missing columns \['v'\]"):
        run(lake, drop, "dt=2026-01-01")
    result = run(lake, drop, "dt=2026-01-01", schema_drift="string", file_column="_file")
    table = lake.read_table(RAW).sort_by("_file")
    assert table.schema.field("id").type == pa.string()
    assert table.to_pylist() == [
        {"id": "1", "v": "x", "w": None, "_file": "a.csv"},
        {"id": "B2", "v": None, "w": 1.5, "_file": "b.csv"},
    ]
    assert result.summary()["schema_drift"][0]["file"] == "b.csv"


def test_min_age_size_and_hidden_files_are_not_selected(lake: Lake, drop: Path) -> None:
    write(drop, "old.csv", "id\n1\n", mtime=1000)
    write(drop, "fresh.csv", "id\n2\n")
    write(drop, "_SUCCESS", "")
    write(drop, ".part.csv", "id\n3\n", mtime=1000)
    write(drop, "empty.csv", "", mtime=1000)
    ingest = FileIngest(fs=LocalFileSystem(), folder=str(drop), location=str(drop), min_age=60, min_size=1)
    assert [f.relative for f in ingest.select()] == ["old.csv"]


def test_gzip_recursive_and_max_files(lake: Lake, drop: Path) -> None:
    for day in (1, 2, 3):
        path = drop / f"2026/0{day}/orders.csv.gz"
        path.parent.mkdir(parents=True)
        path.write_bytes(gzip.compress(f"id\n{day}\n".encode()))
        os.utime(path, (1000 + day, 1000 + day))
    result = run(lake, drop, "dt=2026-01-01", pattern="*.csv.gz", recursive=True, max_files=2)
    assert ids(lake) == [1, 2] and result.deferred == 1
    run(lake, drop, "dt=2026-01-02", pattern="*.csv.gz", recursive=True, max_files=2)
    assert ids(lake) == [1, 2, 3]


class ShrinkingFS(LocalFileSystem):
    """A local folder whose files lose their tail between listing and reading (a writer truncating them)."""

    def list(self, folder: str, **kwargs):  # type: ignore[no-untyped-def]
        listed = list(super().list(folder, **kwargs))
        for f in listed:
            with open(f.path, "r+b") as handle:
                handle.truncate(f.size // 2)
        return iter(listed)


class VanishingFS(LocalFileSystem):
    def list(self, folder: str, **kwargs):  # type: ignore[no-untyped-def]
        listed = list(super().list(folder, **kwargs))
        os.remove(listed[0].path)
        return iter(listed)


def test_a_file_that_shrinks_or_vanishes_during_the_transfer(lake: Lake, drop: Path) -> None:
    write(drop, "a.csv", "id\n" + "1\n" * 1000)
    with pytest.raises(SourceError, match=r"a\.csv: listed with 2,003 bytes but 1,001 bytes were read"):
        run(lake, drop, "dt=2026-01-01", fs=ShrinkingFS())
    assert lake.partitions(RAW) == []
    write(drop, "a.csv", "id\n1\n")
    write(drop, "b.csv", "id\n2\n")
    with pytest.raises(SourceError, match=r"a\.csv: the file vanished before it could be read"):
        run(lake, drop, "dt=2026-01-01", fs=VanishingFS())
    write(drop, "a.csv", "id\n1\n")
    result = run(lake, drop, "dt=2026-01-01", fs=VanishingFS(), on_vanished="skip")
    assert ids(lake) == [2] and [reason for _, reason in result.skipped] == ["vanished before it was read"]


def test_binary_lands_bytes_only_and_delete_completion(lake: Lake, drop: Path) -> None:
    write(drop, "blob.bin", "\x00\x01 not records")
    ingest = FileIngest(
        fs=LocalFileSystem(), folder=str(drop), location=str(drop), options=FormatOptions(format="binary")
    )
    with lake.transaction() as txn:
        result = ingest.run(txn, lake, landing=LANDING, raw=None, partition="dt=2026-01-01")
    assert lake.partitions(RAW) == [] and lake.partitions(LANDING) == ["dt=2026-01-01"]
    complete(LocalFileSystem(), result.completed, "delete", None, str(drop))
    assert not (drop / "blob.bin").exists()


def test_archive_target_names_are_checked(tmp_path: Path) -> None:
    bad = RemoteFile(path=str(tmp_path / "x"), relative="../x", size=1, mtime=0)
    with pytest.raises(SourceError, match="unsafe file name"):
        complete(LocalFileSystem(), [bad], "move", str(tmp_path / "archive"), str(tmp_path))


def test_two_runs_racing_for_the_same_new_file_publish_it_once(lake: Lake, drop: Path) -> None:
    from airflow_zaloni.lake import CommitConflictError

    write(drop, "a.csv", "id,v\n1,x\n")
    ingest = FileIngest(fs=LocalFileSystem(), folder=str(drop), location=str(drop))
    first = lake.transaction(run_id="first")
    ingest.run(first, lake, landing=LANDING, raw=RAW, partition="dt=2026-01-01")
    with lake.transaction(run_id="second") as second:  # another interval's run, started before the first commits
        ingest.run(second, lake, landing=LANDING, raw=RAW, partition="dt=2026-01-02")
    with pytest.raises(CommitConflictError, match=r"orders\.files"):
        first.commit()
    assert ids(lake) == [1] and lake.partitions(RAW) == ["dt=2026-01-02"]


# -- bad input, as a new user tries it (issue 18) ----------------------------------------------------------------------


def test_a_run_with_nothing_to_land_publishes_nothing_and_keeps_the_watermark(lake: Lake, drop: Path) -> None:
    # The dataset's first run, on an empty folder: no partition anywhere, no watermark, no crash.
    first = run(lake, drop, "dt=2026-01-01", pattern="*.csv")
    assert first.summary()["files_ingested"] == 0 and first.landed == []
    assert lake.partitions(RAW) == [] and lake.partitions(LANDING) == [] and lake.partitions(LEDGER) == []
    assert lake.watermark(LEDGER) is None
    write(drop, "a.csv", "id,v\n1,x\n", mtime=1_700_000_000)
    run(lake, drop, "dt=2026-01-02", pattern="*.csv")
    # A later run whose pattern matches nothing: the watermark and the partitions stay as they were.
    empty = run(lake, drop, "dt=2026-01-03", pattern="*.nothing")
    assert empty.summary()["files_ingested"] == 0
    assert lake.watermark(LEDGER) == 1_700_000_000
    assert lake.partitions(RAW) == ["dt=2026-01-02"] and lake.partitions(LEDGER) == ["dt=2026-01-02"]


@pytest.mark.parametrize("pattern", ["../*.csv", "sub/../../*.csv", "/etc/*"])
def test_a_pattern_that_leaves_the_folder_is_refused(lake: Lake, drop: Path, pattern: str) -> None:
    with pytest.raises(SourceError, match=r"pattern .* relative to the source folder"):
        run(lake, drop, "dt=2026-01-01", pattern=pattern)
    assert lake.datasets() == []


def test_an_odd_name_that_does_not_match_blocks_nothing(lake: Lake, drop: Path) -> None:
    write(drop, "junk\x01.txt", "whatever")
    write(drop, "a.csv", "id,v\n1,x\n")
    assert run(lake, drop, "dt=2026-01-01", pattern="*.csv").summary()["files_ingested"] == 1
    # A pattern that does match the odd name still refuses it, naming it.
    with pytest.raises(SourceError, match=r"unsafe file name 'junk\\x01\.txt'"):
        run(lake, drop, "dt=2026-01-02", pattern="*.txt")


def test_empty_files_follow_their_policy(lake: Lake, drop: Path) -> None:
    write(drop, "a.csv", "id,v\n1,x\n", mtime=1000)
    write(drop, "empty.csv", "", mtime=2000)
    with pytest.raises(SourceError, match=r"empty\.csv is empty \(0 bytes\).*empty_files"):
        run(lake, drop, "dt=2026-01-01", empty_files="error")
    assert lake.datasets() == []
    # "skip" (the default): the empty file is left alone, the others land.
    skipped = run(lake, drop, "dt=2026-01-01")
    assert [x.entry.path for x in skipped.landed] == ["a.csv"] and ids(lake) == [1]
    # "land": its (empty) bytes are kept in landing and in the ledger, it adds no rows.
    landed = run(lake, drop, "dt=2026-01-02", empty_files="land")
    assert [x.entry.path for x in landed.landed] == ["empty.csv"]
    assert (Path(lake.partition_path(LANDING, "dt=2026-01-02")) / "empty.csv").read_bytes() == b""
    assert sorted(r["path"] for r in lake.read_table(LEDGER).to_pylist()) == ["a.csv", "empty.csv"]
    assert ids(lake) == [1]
    with pytest.raises(SourceError, match="empty_files"):
        FileIngest(fs=LocalFileSystem(), folder=str(drop), location=str(drop), empty_files="maybe")


def test_a_file_that_is_not_utf8_fails_the_run_and_publishes_nothing(lake: Lake, drop: Path) -> None:
    write(drop, "good.jsonl", '{"id": 1, "v": "ok"}\n')
    (drop / "latin.jsonl").write_bytes(b'{"id": 2, "v": "caf\xe9"}\n')
    with pytest.raises(SourceError, match=r"latin\.jsonl line 1, byte offset 19: not valid utf-8"):
        run(lake, drop, "dt=2026-01-01", options=FormatOptions(format="jsonl"))
    assert all(lake.partitions(r) == [] for r in (RAW, LANDING, LEDGER))
