"""The lake on S3 (a real HTTP S3: moto_server), reached through an Airflow ``aws`` connection.

Ingest, re-run of an interval, promotion, ``zaloni lake ls/verify``, and a publish killed half-way (the process
dies inside the copy of the staged objects): the next operation completes it and nothing partial is ever visible.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pytest

from airflow_zaloni.cli import main as zaloni
from airflow_zaloni.lake import DatasetRef, Lake, LakeError
from airflow_zaloni.lake.connection import iceberg_io_properties, storage_options_for
from airflow_zaloni.lake.promote import promote
from tests.servers.s3 import ACCESS_KEY, SECRET_KEY, S3Server
from tests.sources_for_tests import CounterSource

pytestmark = pytest.mark.s3

REPO = Path(__file__).resolve().parents[2]
RAW = DatasetRef("raw", "shop", "orders")
TRUSTED = DatasetRef("trusted", "shop", "orders")
D1, D2 = "dt=2026-01-01", "dt=2026-01-02"


def ingest(lake: Lake, partition: str, lower: int | None, upper: int, *, run_id: str = "run") -> dict:
    source = CounterSource(lower=lower, upper=upper, batch_rows=500)
    with lake.transaction(run_id=run_id, try_number=1) as txn:
        writer = txn.writer(RAW, partition, schema=source.schema, source=source.describe(), max_rows_per_file=400)
        for batch in source.batches():
            writer.write_batch(batch)
        txn.set_watermark(RAW, source.cursor, before=lower)
    return txn.summary


def ids(lake: Lake, ref: DatasetRef = RAW, partition: str | None = None) -> list[int]:
    return sorted(lake.read_table(ref, partition)["id"].to_pylist())


def test_connection_maps_to_storage_options_and_iceberg_properties(s3_server: S3Server) -> None:
    options = storage_options_for(s3_server.conn_id, "s3")
    assert options["key"] == ACCESS_KEY and options["secret"] == SECRET_KEY
    assert options["endpoint_url"] == s3_server.endpoint_url
    assert options["client_kwargs"] == {"region_name": "us-east-1"}
    props = iceberg_io_properties(s3_server.conn_id)
    assert props == {
        "s3.endpoint": s3_server.endpoint_url,
        "s3.access-key-id": ACCESS_KEY,
        "s3.secret-access-key": SECRET_KEY,
        "s3.region": "us-east-1",
        "s3.force-virtual-addressing": "false",
    }
    with pytest.raises(LakeError, match=r"aws connection, which cannot reach a webhdfs:// lake root"):
        storage_options_for(s3_server.conn_id, "webhdfs")
    with pytest.raises(LakeError, match=r"cannot reach a file:// lake root"):
        Lake("/tmp/not-s3", conn_id=s3_server.conn_id)
    with pytest.raises(LakeError, match=r"'no_such_conn' cannot be read"):
        Lake(s3_server.new_root(), conn_id="no_such_conn")


def test_ingest_and_rerun_of_an_interval_on_s3(s3_server: S3Server) -> None:
    lake = Lake(s3_server.new_root(), conn_id=s3_server.conn_id)
    summary = ingest(lake, D1, None, 1000)
    assert summary["datasets"][0]["rows"] == 1000 and summary["datasets"][0]["files"] == 3
    ingest(lake, D2, 1000, 1500)
    assert ids(lake) == list(range(1, 1501))
    assert lake.watermark(RAW) == 1500

    # A re-run of the first interval replaces its partition (fewer rows now: the old files must all be gone).
    lower, upper = lake.incremental_window(RAW, D1)
    assert (lower, upper) == (None, 1000)
    ingest(lake, D1, lower, 600, run_id="rerun")
    assert ids(lake, partition=D1) == list(range(1, 601))
    assert lake.partitions(RAW) == [D1, D2]
    assert lake.manifest(RAW, D1)["run_id"] == "rerun"
    fs = s3_server.fs()
    published = sorted(p.rsplit("/", 1)[-1] for p in fs.find(lake.partition_path(RAW, D1) + "/"))
    txn = lake.manifest(RAW, D1)["txn_id"]  # file names carry the transaction id: a re-run never reuses a name
    assert published == ["_manifest.json", f"part-{txn}-00000.parquet", f"part-{txn}-00001.parquet"]
    # Nothing of the commits is left behind: no staging, trash, journal or lock.
    leftovers = [p for p in fs.find(lake.storage.base + "/") if "/_staging/" in p or "/_trash/" in p or "_zaloni" in p]
    assert leftovers == [] and not fs.exists(f"{lake.dataset_path(RAW)}/_commit.lock")
    assert lake.verify() == []


def test_promote_on_s3(s3_server: S3Server) -> None:
    lake = Lake(s3_server.new_root(), conn_id=s3_server.conn_id)
    ingest(lake, D1, None, 300)
    promote(
        lake,
        source=RAW,
        partitions=[D1],
        target=TRUSTED,
        rules=[{"rule": "range", "column": "id", "min": 1, "max": 250}],
        quarantine=DatasetRef("trusted", "shop", "orders__quarantine"),
        run_id="promote",
    )
    assert ids(lake, TRUSTED) == list(range(1, 251))
    assert ids(lake, DatasetRef("trusted", "shop", "orders__quarantine")) == list(range(251, 301))
    assert lake.verify() == []


def test_zaloni_lake_cli_on_s3_through_the_connection(s3_server: S3Server, capsys: pytest.CaptureFixture) -> None:
    root = s3_server.new_root()
    ingest(Lake(root, conn_id=s3_server.conn_id), D1, None, 700)
    # The console command as a user runs it: stdout holds only the JSON (Airflow's log lines go to stderr).
    ls = subprocess.run(
        [str(Path(sys.executable).parent / "zaloni"), "lake", "ls", root, "--conn-id", s3_server.conn_id, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ls.returncode == 0, ls.stderr
    listed = json.loads(ls.stdout)
    assert SECRET_KEY not in ls.stdout + ls.stderr
    assert [(d["zone"], d["name"], d["rows"]) for d in listed] == [("raw", "orders", 700)]
    assert zaloni(["lake", "verify", root, "--conn-id", s3_server.conn_id]) == 0
    assert "1 partition(s) checked, 0 problem(s)" in capsys.readouterr().out

    # A damaged object is found by verify.
    fs = s3_server.fs()
    victim = Lake(root, conn_id=s3_server.conn_id).data_files(RAW, D1)[0]
    fs.pipe_file(victim, b"broken")
    assert zaloni(["lake", "verify", root, "--conn-id", s3_server.conn_id]) == 1
    out = capsys.readouterr().out
    assert "MISMATCH" in out and f"{victim.rsplit('/', 1)[1]}: size 6 bytes" in out
    assert SECRET_KEY not in out


#: A child that re-runs an interval and dies (``os._exit``, as under SIGKILL) at the ``STEP``-th object copy or
#: delete after its commit point (the journal written): no kill moment of the publish is left to chance.
_DIE_DURING_PUBLISH = textwrap.dedent(
    """
    import json, os, sys
    import s3fs
    from tests.lake.test_s3_lake import RAW, ingest
    from airflow_zaloni.lake import Lake

    root, options, partition, upper, step = sys.argv[1:]
    state = {"armed": False, "steps": 0}
    # s3fs binds its sync methods to the async ones when a filesystem is made: wrap those, before the lake opens.
    real = {name: getattr(s3fs.S3FileSystem, name) for name in ("_copy", "_rm", "_pipe_file")}

    def watch(name):
        async def call(self, *args, **kwargs):
            if name == "_pipe_file" and "_zaloni/txn/" in str(args[0]):
                state["armed"] = True
            elif name != "_pipe_file" and state["armed"]:
                state["steps"] += 1
                if state["steps"] == int(step):
                    os._exit(9)
            return await real[name](self, *args, **kwargs)
        return call

    for name in real:
        setattr(s3fs.S3FileSystem, name, watch(name))
    lake = Lake(root, storage_options=json.loads(options))
    ingest(lake, partition, None, int(upper), run_id="killed")
    print("NOT KILLED")
    """
)
#: The object operations of one publish, in order (see ObjectStorage.publish).
PUBLISH_STEPS = [
    "copy-new-files",
    "copy-new-manifest",
    "delete-staged-manifest",
    "delete-staging",
    "delete-old-files",
]


@pytest.mark.parametrize("step", range(1, len(PUBLISH_STEPS) + 1), ids=PUBLISH_STEPS)
def test_publish_killed_half_way_completes_on_the_next_operation(s3_server: S3Server, step: int) -> None:
    root = s3_server.new_root()
    options = {**s3_server.storage_options}
    lake = Lake(root, storage_options=options)
    ingest(lake, D1, None, 1000, run_id="first")
    before = lake.manifest(RAW, D1)

    # The child re-runs the interval with fewer rows and dies at the chosen step of its publish.
    child = subprocess.run(
        [sys.executable, "-c", _DIE_DURING_PUBLISH, root, json.dumps(options), D1, "800", str(step)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        timeout=120,
    )
    assert child.returncode == 9, child.stdout.decode() + child.stderr.decode()
    fresh = Lake(root, storage_options=options)
    assert fresh.storage.listdir(fresh.storage.join("_zaloni", "txn")), "killed after the commit point: a journal"

    # Before any recovery a reader sees the partition whole (old or new) or not at all.
    if fresh.partitions(RAW):
        assert ids(fresh, partition=D1) in (list(range(1, 1001)), list(range(1, 801)))

    # The next operations complete the publish instead of failing on what the killed one left.
    assert zaloni(["lake", "verify", root, "--conn-id", s3_server.conn_id]) == 0
    assert fresh.partitions(RAW) == [D1]
    assert ids(fresh) == list(range(1, 801))
    assert fresh.manifest(RAW, D1)["run_id"] == "killed" != before["run_id"]
    assert fresh.state(RAW)["last_commit"]["run_id"] == "killed"
    assert fresh.watermark(RAW) == 1000  # a watermark never moves back
    ingest(fresh, D2, 1000, 1100)
    assert ids(fresh) == list(range(1, 801)) + list(range(1001, 1101))
    fs = s3_server.fs()
    assert [p for p in fs.find(fresh.storage.base + "/") if "/_staging/" in p or "_zaloni/" in p] == []
    assert fresh.verify() == []


def test_a_table_of_many_files_is_copied_whole(s3_server: S3Server) -> None:
    """A partition of many files and a landing file with raw bytes publish together in one commit."""
    lake = Lake(s3_server.new_root(), conn_id=s3_server.conn_id)
    landing = DatasetRef("landing", "shop", "orders")
    table = pa.table({"id": pa.array(range(5000), pa.int64())})
    with lake.transaction(run_id="many") as txn:
        txn.writer(RAW, D1, schema=table.schema, max_rows_per_file=250, row_group_rows=250).write_table(table)
        with txn.open_file(landing, D1, "orders.csv") as f:
            f.write(b"id\n1\n")
    assert lake.manifest(RAW, D1)["totals"]["files"] == 20
    assert lake.read_table(RAW)["id"].to_pylist() == list(range(5000))
    with lake.storage.open_read(f"{lake.partition_path(landing, D1)}/orders.csv") as f:
        assert f.read() == b"id\n1\n"
    assert lake.verify() == []


def test_a_long_lived_reader_sees_commits_of_other_writers(s3_server: S3Server) -> None:
    """A sensor's lake stays open across pokes: its listings must not be cached (fsspec caches them by default)."""
    root = s3_server.new_root()
    cached = {k: v for k, v in s3_server.storage_options.items() if k != "use_listings_cache"}
    reader = Lake(root, storage_options=cached)
    writer = Lake(root, storage_options={**cached, "skip_instance_cache": True})  # another process, in effect
    ingest(writer, D1, None, 10)
    assert reader.partitions(RAW) == [D1] and reader.manifest(RAW, D2) is None
    ingest(writer, D2, 10, 20)
    assert reader.partitions(RAW) == [D1, D2]
    assert reader.manifest(RAW, D2)["totals"]["rows"] == 10
