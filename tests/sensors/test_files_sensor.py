"""FilePatternSensor and its trigger against a real FTP server: files that arrive later, a trigger file, timeouts,
wrong credentials."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_zaloni.sensors.files import FilePatternSensor
from airflow_zaloni.triggers.files import FilePatternTrigger
from tests.servers.ftp import FTPServerInfo, ftp_server

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def ftp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FTPServerInfo]:
    with ftp_server(tmp_path) as srv:
        monkeypatch.setenv("AIRFLOW_CONN_DROP_FTP", srv.connection_uri("alice"))
        (srv.root / "in").mkdir()
        yield srv


async def first_event(trigger: FilePatternTrigger) -> dict:
    async for event in trigger.run():
        return event.payload
    raise AssertionError("the trigger ended without an event")


def test_trigger_fires_when_files_and_the_trigger_file_arrive(ftp: FTPServerInfo) -> None:
    sensor = FilePatternSensor(
        task_id="wait", source="ftp://drop_ftp@/in", pattern="*.csv", trigger_file="_SUCCESS", poke_interval=0.1
    )
    with pytest.raises(TaskDeferred) as deferred:  # nothing there yet: the wait moves to the triggerer
        sensor.execute({})  # type: ignore[arg-type]
    trigger = deferred.value.trigger
    assert isinstance(trigger, FilePatternTrigger)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_zaloni.triggers.files.FilePatternTrigger"
    trigger = FilePatternTrigger(**kwargs)  # what the triggerer does: rebuild from the serialized form

    def producer() -> None:
        time.sleep(0.3)
        (ftp.root / "in" / "a.csv").write_bytes(b"id\n1\n")
        (ftp.root / "in" / "b.csv").write_bytes(b"id\n2\n")
        time.sleep(0.3)  # files alone are not enough: the batch is complete only with its marker
        (ftp.root / "in" / "_SUCCESS").write_bytes(b"")

    thread = threading.Thread(target=producer)
    thread.start()
    started = time.monotonic()
    event = asyncio.run(first_event(trigger))
    thread.join()
    assert event == {"status": "success", "files": ["a.csv", "b.csv"]}
    assert time.monotonic() - started >= 0.6
    assert sensor.execute_complete({}, event) == ["a.csv", "b.csv"]  # type: ignore[arg-type]


def test_trigger_times_out_and_reports_bad_credentials(ftp: FTPServerInfo, monkeypatch: pytest.MonkeyPatch) -> None:
    watch = {"source": "ftp://drop_ftp@/in", "pattern": "*.csv"}
    event = asyncio.run(first_event(FilePatternTrigger(watch=watch, poll_interval=0.05, deadline=time.time() + 0.2)))
    assert event["status"] == "timeout" and "'*.csv'" in event["message"]
    monkeypatch.setenv("AIRFLOW_CONN_DROP_FTP", f"ftp://alice:wrong@127.0.0.1:{ftp.port}")
    event = asyncio.run(first_event(FilePatternTrigger(watch=watch, poll_interval=0.05)))
    assert event["status"] == "error" and "FTP login failed for connection 'drop_ftp'" in event["message"]


def test_poke_mode_counts_only_old_enough_files(ftp: FTPServerInfo) -> None:
    sensor = FilePatternSensor(
        task_id="wait", source="ftp://drop_ftp@/in", pattern="*.csv", min_files=2, min_age=3600, deferrable=False
    )
    (ftp.root / "in" / "a.csv").write_bytes(b"id\n1\n")
    (ftp.root / "in" / "b.csv").write_bytes(b"id\n2\n")
    assert sensor.poke({}) is False  # type: ignore[arg-type]  # both still "being written" (modified just now)
    for name in ("a.csv", "b.csv"):
        os.utime(ftp.root / "in" / name, (1_700_000_000, 1_700_000_000))
    result = sensor.poke({})  # type: ignore[arg-type]
    assert result and result.xcom_value == ["a.csv", "b.csv"]  # type: ignore[union-attr]


def test_poke_mode_ignores_empty_files_and_odd_names(ftp: FTPServerInfo) -> None:
    sensor = FilePatternSensor(task_id="wait", source="ftp://drop_ftp@/in", pattern="*.csv", deferrable=False)
    (ftp.root / "in" / "placeholder.csv").write_bytes(b"")  # ingest skips it (empty_files="skip"), so no wake-up
    (ftp.root / "in" / "junk\x01.txt").write_bytes(b"x")  # listed by the server, not matched: must not block
    assert sensor.poke({}) is False  # type: ignore[arg-type]
    (ftp.root / "in" / "a.csv").write_bytes(b"id\n1\n")
    result = sensor.poke({})  # type: ignore[arg-type]
    assert result and result.xcom_value == ["a.csv"]  # type: ignore[union-attr]


def test_files_the_operator_archived_inside_the_drop_are_not_new_ones(ftp: FTPServerInfo) -> None:
    # FileToLakeOperator(completion="move", archive_folder="archive", recursive=True) moved yesterday's batch into
    # in/archive/; the sensor watching the same drop recursively must wait for today's batch, also once deferred.
    (ftp.root / "in" / "archive").mkdir()
    (ftp.root / "in" / "archive" / "old.csv").write_bytes(b"id\n1\n")
    watch = {"source": "ftp://drop_ftp@/in", "pattern": "*.csv", "recursive": True, "exclude": ["archive/*"]}
    sensor = FilePatternSensor(task_id="wait", deferrable=False, **watch)  # type: ignore[arg-type]
    assert sensor.poke({}) is False  # type: ignore[arg-type]
    with pytest.raises(TaskDeferred) as deferred:
        FilePatternSensor(task_id="wait", poke_interval=0.2, timeout=1, **watch).execute({})  # type: ignore[arg-type]
    assert asyncio.run(first_event(deferred.value.trigger))["status"] == "timeout"
    (ftp.root / "in" / "new.csv").write_bytes(b"id\n2\n")
    result = sensor.poke({})  # type: ignore[arg-type]
    assert result and result.xcom_value == ["new.csv"]  # type: ignore[union-attr]


@pytest.mark.usefixtures("airflow_db")
def test_sensor_defers_in_a_dag_run_until_the_batch_is_complete(ftp: FTPServerInfo) -> None:
    from tests.airflow_helpers import run_dag

    looks = "SIZE /in/_SUCCESS"

    def producer() -> None:
        deadline = time.monotonic() + 50
        while ftp.commands.count(looks) < 3 and time.monotonic() < deadline:  # the sensor looked, more than once
            time.sleep(0.05)
        (ftp.root / "in" / "a.csv").write_bytes(b"id\n1\n")
        (ftp.root / "in" / "_SUCCESS").write_bytes(b"")

    thread = threading.Thread(target=producer)
    thread.start()
    try:
        run = run_dag("tests/dags/files_deferred.py", conf={"source": "ftp://drop_ftp@/in"})
    finally:
        thread.join()
    assert run.state == "success"
    assert ftp.commands.count(looks) >= 3  # the first look in execute(), then the trigger's polls, until the marker
    assert ftp.commands.count("MLSD /in") == 1  # the folder is listed once, when the marker is there
