"""The lake's raw/trusted/refined datasets as Iceberg tables: what a reader of the catalog sees, and the type policy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pytest
from pyiceberg.io.pyarrow import PyArrowFileIO

from airflow_zaloni.cli import main as zaloni
from airflow_zaloni.lake import CommitConflictError, DatasetRef, Lake, LakeError
from airflow_zaloni.lake.journal import apply_journal
from airflow_zaloni.lake.table_history import MANIFESTS_TO_MERGE, SNAPSHOTS_TO_KEEP
from airflow_zaloni.lake.tables import PARTITION_COLUMN, ensure_namespace, live_data_files, not_a_table_reason
from tests.lake.test_lake_on_hdfs import ingest
from tests.servers.postgres import PostgresServer, postgres_server  # noqa: F401  (fixture)
from tests.sources_for_tests import CounterSource

REF = DatasetRef("raw", "test", "orders")
D1, D2 = "dt=2026-11-25", "dt=2026-11-26"
REPO = Path(__file__).resolve().parents[2]


def land(lake: Lake, lower: int | None, upper: int, partition: str = D1, run_id: str = "r") -> dict:
    return ingest(lake, partition, lower, upper, run_id=run_id)


def scan_ids(lake: Lake, ref: DatasetRef = REF, snapshot_id: int | None = None) -> dict[str, list[int]]:
    """What pyiceberg's own scan of the table (by name, through the catalog) returns: partition -> ids."""
    table = lake.table_catalog().load_table((ref.zone, ref.system, ref.name))
    rows = table.scan(snapshot_id=snapshot_id, selected_fields=("id", PARTITION_COLUMN)).to_arrow().to_pylist()
    out: dict[str, list[int]] = {}
    for row in rows:
        out.setdefault(row[PARTITION_COLUMN], []).append(row["id"])
    return {k: sorted(v) for k, v in sorted(out.items())}


def test_commits_are_snapshots_and_a_rerun_replaces_its_partition(lake_root: Path) -> None:
    lake = Lake(str(lake_root))
    land(lake, None, 1000, D1, "first")
    land(lake, 1000, 1500, D2, "second")
    table = lake.table(REF)
    assert table is not None and table.name() == ("raw", "test", "orders")
    assert scan_ids(lake) == {D1: list(range(1, 1001)), D2: list(range(1001, 1501))}

    # A re-run of the first interval: ONE overwrite snapshot replaces that partition's files, the other stays.
    land(lake, None, 600, D1, "rerun")
    table = lake.table(REF)
    snapshots = table.snapshots()
    assert [s.summary["operation"].value for s in snapshots] == ["append", "overwrite", "overwrite"]
    last = snapshots[-1].summary
    assert last["zaloni.run-id"] == "rerun" and last["zaloni.txn-id"] == lake.manifest(REF, D1)["txn_id"]
    assert last["deleted-records"] == "1000" and last["added-records"] == "600"
    assert json.loads(last["zaloni.watermark-after"]) == 600 and json.loads(last["zaloni.partitions"]) == [D1]
    files = json.loads(last["zaloni.files-sha256"])
    assert files == {f"{D1}/{f['path']}": f["sha256"] for f in lake.manifest(REF, D1)["files"]}
    assert scan_ids(lake) == {D1: list(range(1, 601)), D2: list(range(1001, 1501))}
    assert sorted(lake.read_table(REF)["id"].to_pylist()) == [*range(1, 601), *range(1001, 1501)]
    assert int(table.current_snapshot().summary["total-records"]) == 1100
    # The table's metadata lives under the dataset's `_iceberg` folder, hidden from folder readers.
    assert table.metadata_location.startswith(f"file://{lake_root}/raw/test/orders/_iceberg/metadata/")
    assert lake.verify() == []

    # Time travel: the snapshot before the re-run still names D2's files (D1's replaced files are gone).
    second = snapshots[1].snapshot_id
    assert lake.partitions(REF, snapshot_id=snapshots[0].snapshot_id) == [D1]
    assert lake.read_table(REF, D2, snapshot_id=second)["id"].to_pylist() == list(range(1001, 1501))
    with pytest.raises(FileNotFoundError):
        lake.read_table(REF, D1, snapshot_id=second)
    with pytest.raises(LakeError, match="has no snapshot 42"):
        lake.partitions(REF, snapshot_id=42)


def test_racing_attempts_one_snapshot_and_a_conflict(lake_root: Path) -> None:
    lake = Lake(str(lake_root))
    source = CounterSource(lower=None, upper=100)
    first = lake.transaction(run_id="r", try_number=1)
    second = lake.transaction(run_id="r", try_number=2)
    for txn in (first, second):
        txn.writer(REF, D1, schema=source.schema).write_table(pa.Table.from_batches(list(source.batches())))
    first.commit()
    with pytest.raises(CommitConflictError):
        second.commit()
    snapshots = lake.table(REF).snapshots()
    assert [s.summary["zaloni.txn-id"] for s in snapshots] == [first.txn_id]
    assert scan_ids(lake) == {D1: list(range(1, 101))}


CHILD = textwrap.dedent(
    """
    import sys
    import pyarrow as pa
    from airflow_zaloni.lake import DatasetRef, Lake
    lake = Lake(sys.argv[1])
    with lake.transaction(run_id="fanout", try_number=1, txn_id="txn-posts-users") as txn:
        for name in ("posts", "users"):
            txn.writer(DatasetRef("raw", "x", name), "dt=2026-11-25").write_table(pa.table({"id": [1, 2, 3]}))
    """
)


def die_between_the_two_tables(lake_root: Path) -> Path:
    """Run CHILD so that it stops after the posts table's commit, before the users one; returns what stops it.

    The users table's metadata folder cannot be written (a file stands in its place): its first commit fails
    after the commit point, as a process killed between the two table commits would leave it.
    """
    blocker = lake_root / "raw/x/users/_iceberg/metadata"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("in the way")
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(lake_root)], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert child.returncode != 0
    return blocker


def test_a_transaction_over_two_tables_rolls_forward_and_commits_each_once(lake_root: Path) -> None:
    """Landing posts and users together; the process dies after the posts table's snapshot, before the users one."""
    blocker = die_between_the_two_tables(lake_root)
    lake = Lake(str(lake_root))
    posts, users = DatasetRef("raw", "x", "posts"), DatasetRef("raw", "x", "users")
    storage = lake.storage
    assert storage.exists(storage.join("_zaloni", "txn", "txn-posts-users.json"))  # past the commit point
    assert [s.summary["zaloni.txn-id"] for s in lake.table(posts).snapshots()] == ["txn-posts-users"]
    assert lake.table(users) is None

    blocker.unlink()
    assert lake.recover() == ["txn-posts-users"]  # the roll-forward repeats every step; posts is skipped
    for ref in (posts, users):
        assert [s.summary["zaloni.txn-id"] for s in lake.table(ref).snapshots()] == ["txn-posts-users"]
        assert scan_ids(lake, ref) == {D1: [1, 2, 3]}
    assert lake.verify() == []


def test_a_roll_forward_after_its_snapshot_expired_does_not_commit_again(lake_root: Path) -> None:
    """The worker that committed the posts table died on another edge node before the users table; until its
    journal counts as abandoned (``stale_after``) the posts partition is re-run more often than the table keeps
    snapshots. The roll-forward must still know the posts table holds the transaction: committing it again would
    put back the files those re-runs replaced (deleted since) in place of theirs."""
    blocker = die_between_the_two_tables(lake_root)
    lake = Lake(str(lake_root))
    posts, users = DatasetRef("raw", "x", "posts"), DatasetRef("raw", "x", "users")
    journal_path = lake_root / "_zaloni/txn/txn-posts-users.json"
    journal = json.loads(journal_path.read_text())
    journal["owner"] = {"host": "edge-2", "pid": 1, "txn_id": "txn-posts-users", "created": time.time()}
    journal_path.write_text(json.dumps(journal))
    for n in range(SNAPSHOTS_TO_KEEP + 5):
        with lake.transaction(run_id=f"rerun-{n}") as txn:
            txn.writer(posts, D1).write_table(pa.table({"id": [100 + n]}))
    table = lake.table(posts)
    assert "txn-posts-users" not in [s.summary["zaloni.txn-id"] for s in table.snapshots()]  # expired

    blocker.unlink()
    assert Lake(str(lake_root), stale_after=0).recover() == ["txn-posts-users"]
    assert lake.table(posts).current_snapshot() == table.current_snapshot()  # no second commit of posts
    assert scan_ids(lake, posts) == {D1: [100 + SNAPSHOTS_TO_KEEP + 4]}
    assert scan_ids(lake, users) == {D1: [1, 2, 3]}


def test_a_late_roll_forward_never_moves_the_watermark_back(lake_root: Path) -> None:
    """A writer on another edge node stalled past ``stale_after`` after its commit point; another worker rolled
    its journal forward and committed the next interval. When the stalled writer wakes and finishes its own
    journal, the dataset's state (watermark, version) must stay the newer one."""
    lake = Lake(str(lake_root))
    land(lake, None, 100)
    stalled = {
        "txn_id": "txn-stalled",
        "moves": [],
        "states": {lake.dataset_path(REF): lake.state(REF)},  # what its journal wrote down: version 1, up to 100
        "tables": [],
    }
    land(lake, 100, 250, partition=D2)
    assert lake.state(REF)["version"] == 2
    apply_journal(lake, stalled)
    assert lake.state(REF)["version"] == 2 and lake.watermark(REF) == 250  # the next interval starts at 250


def test_columns_iceberg_cannot_hold_keep_the_dataset_as_files(lake_root: Path, capsys: pytest.CaptureFixture) -> None:
    """MariaDB TIME (duration), DECIMAL(40,2) and BIGINT UNSIGNED: no Iceberg type holds them. The dataset stays
    files with manifests, read with its exact types; nothing is dropped and the commit does not fail."""
    lake = Lake(str(lake_root))
    odd = DatasetRef("raw", "mariadb", "odd")
    table = pa.table(
        {
            "id": pa.array([1, 2], pa.int64()),
            "t": pa.array([3_600_000_000, 59_000_000], pa.duration("us")),
            "big": pa.array([Decimal("12345678901234567890123456789012345678.91"), None], pa.decimal256(40, 2)),
            "u": pa.array([2**64 - 1, 0], pa.uint64()),
        }
    )
    with lake.transaction(run_id="r") as txn:
        txn.writer(odd, D1).write_table(table)
        txn.writer(REF, D1).write_table(pa.table({"id": [1]}))  # a dataset with plain types in the same commit
    assert lake.table(odd) is None and lake.table(REF) is not None
    assert lake.read_table(odd).equals(table)
    assert lake.partitions(odd) == [D1]
    assert zaloni(["lake", "ls", str(lake_root)]) == 0
    listing = capsys.readouterr().out
    line = next(x for x in listing.splitlines() if "mariadb/odd" in x)
    assert "files (columns Iceberg cannot hold: big (decimal256(40, 2)" in line
    assert "t (duration[us]" in line and "u (uint64" in line
    assert "raw.test.orders @ " in next(x for x in listing.splitlines() if "test/orders" in x)


def test_strings_that_are_not_utf8_commit_without_bounds(lake_root: Path) -> None:
    """A producer broke Arrow's UTF-8 promise: the table still gets the file (no min/max for that column)."""
    lake = Lake(str(lake_root))
    text = pa.array([b"ok", None, b"caf\xe9"], pa.binary()).view(pa.string())
    with lake.transaction(run_id="r") as txn:
        txn.writer(REF, D1).write_batch(pa.record_batch({"id": pa.array([1, 2, 3], pa.int64()), "v": text}))
    table = lake.table(REF)
    [data_file] = live_data_files(table, table.current_snapshot())
    v = table.schema().find_field("v").field_id
    ident = table.schema().find_field("id").field_id
    assert data_file.record_count == 3 and data_file.null_value_counts[v] == 1
    assert v not in (data_file.lower_bounds or {}) and ident in data_file.lower_bounds
    assert "invalid UTF-8" in lake.verify()[0]


def test_migrate_registers_a_lake_of_the_layout_before_tables(lake_root: Path, capsys: pytest.CaptureFixture) -> None:
    old = Lake(str(lake_root), catalog="none")  # what the lake wrote before tables: files and manifests only
    land(old, None, 1000, D1, "one")
    land(old, 1000, 1500, D2, "two")
    assert not (lake_root / "_zaloni/catalog.db").exists()

    lake = Lake(str(lake_root))
    assert lake.table(REF) is None  # not yet registered: read through the manifests as before
    assert lake.partitions(REF) == [D1, D2] and lake.read_table(REF).num_rows == 1500

    assert zaloni(["lake", "migrate", str(lake_root)]) == 0
    assert capsys.readouterr().out.strip() == "raw/test/orders: created"
    table = lake.table(REF)
    [snapshot] = table.snapshots()
    assert snapshot.summary["zaloni.run-id"] == "two" and json.loads(snapshot.summary["zaloni.watermark-after"]) == 1500
    assert scan_ids(lake) == {D1: list(range(1, 1001)), D2: list(range(1001, 1501))}
    assert zaloni(["lake", "migrate", str(lake_root)]) == 0  # idempotent
    assert capsys.readouterr().out.strip() == "raw/test/orders: exists"
    assert len(lake.table(REF).snapshots()) == 1
    assert lake.verify() == []

    # A lake that writes again keeps the migrated partitions: the next snapshot replaces only its own.
    land(lake, 1500, 1700, "dt=2026-11-27", "three")
    assert sorted(scan_ids(lake)) == [D1, D2, "dt=2026-11-27"]


def test_first_commit_to_an_old_dataset_registers_what_it_held(lake_root: Path) -> None:
    land(Lake(str(lake_root), catalog="none"), None, 100, D1, "old")
    lake = Lake(str(lake_root))
    land(lake, 100, 150, D2, "new")
    assert scan_ids(lake) == {D1: list(range(1, 101)), D2: list(range(101, 151))}
    assert lake.verify() == []


def test_show_and_verify_a_snapshot(lake_root: Path, capsys: pytest.CaptureFixture) -> None:
    lake = Lake(str(lake_root))
    land(lake, None, 100, D1, "one")
    land(lake, 100, 150, D2, "two")
    first, second = (s.snapshot_id for s in lake.table(REF).snapshots())
    assert zaloni(["lake", "snapshots", str(lake_root), REF.key]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed] == [str(first), str(second)] and "run one" in listed[0]
    assert zaloni(["lake", "show", str(lake_root), REF.key, "--snapshot", str(first), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["snapshot_id"] == first and list(shown["partitions"]) == [D1]
    assert zaloni(["lake", "verify", str(lake_root), REF.key, "--snapshot", str(first)]) == 0
    assert "1 partition(s) checked, 0 problem(s)" in capsys.readouterr().out


def test_verify_finds_a_table_that_disagrees_with_the_manifests(lake_root: Path) -> None:
    lake = Lake(str(lake_root))
    land(lake, None, 100, D1)
    manifest_path = lake_root / "raw/test/orders" / D1 / "_manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["files"][0]["path"] = "part-other-00000.parquet"
    manifest_path.write_text(json.dumps(manifest))
    problems = lake.verify()
    assert any("the table's snapshot and the manifest disagree" in p for p in problems)


def test_a_sql_catalog_on_postgresql(lake_root: Path, postgres_server: PostgresServer) -> None:  # noqa: F811
    uri = (
        f"postgresql+psycopg://{postgres_server.user}:{postgres_server.password}@{postgres_server.host}:"
        f"{postgres_server.port}/{postgres_server.dbname}"
    )
    settings = {"type": "sql", "uri": uri}
    lake = Lake(str(lake_root / "pg"), catalog=settings)
    land(lake, None, 300, D1)
    land(lake, 300, 400, D2)
    again = Lake(str(lake_root / "pg"), catalog=settings)  # another process: the same tables by name
    assert scan_ids(again) == {D1: list(range(1, 301)), D2: list(range(301, 401))}
    assert not (lake_root / "pg/_zaloni/catalog.db").exists()
    # The [zaloni] settings select it too (here through the environment, as airflow.cfg would).
    by_uri = {"AIRFLOW__ZALONI__CATALOG_URI": uri}
    # ... or an Airflow postgres connection named by [zaloni] catalog_conn_id
    by_conn = {
        "AIRFLOW__ZALONI__CATALOG_CONN_ID": "iceberg_pg",
        "AIRFLOW_CONN_ICEBERG_PG": postgres_server.airflow_conn_uri(),
    }
    for settings_env in (by_uri, by_conn):
        out = subprocess.run(
            [sys.executable, "-m", "airflow_zaloni.cli", "lake", "ls", str(lake_root / "pg"), "--json"],
            cwd=REPO,
            env={**os.environ, **settings_env},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        [dataset] = json.loads(out.stdout)
        assert dataset["table"]["table"] == "raw.test.orders" and dataset["rows"] == 400
        assert postgres_server.password not in out.stdout + out.stderr


def test_schemas_evolve_and_a_change_iceberg_cannot_follow_keeps_the_files(lake_root: Path) -> None:
    lake = Lake(str(lake_root))
    evo = DatasetRef("raw", "test", "evolving")
    with lake.transaction() as txn:
        txn.writer(evo, D1).write_table(pa.table({"a": pa.array([1], pa.int32())}))
    with lake.transaction() as txn:  # a widened type and a new column: the table's schema follows
        txn.writer(evo, D2).write_table(pa.table({"a": pa.array([2], pa.int64()), "b": ["x"]}))
    rows = lake.table(evo).scan(selected_fields=("a", "b")).to_arrow().sort_by("a").to_pylist()
    assert rows == [{"a": 1, "b": None}, {"a": 2, "b": "x"}]
    with lake.transaction() as txn:  # a column's type changes to one Iceberg cannot evolve to
        txn.writer(evo, "dt=2026-11-27").write_table(pa.table({"a": ["text"]}))
    assert lake.table(evo) is None  # the dataset is files now; nothing was lost
    assert lake.partitions(evo) == [D1, D2, "dt=2026-11-27"]
    assert lake.read_table(evo, "dt=2026-11-27")["a"].to_pylist() == ["text"]
    assert "Cannot change column type" in (not_a_table_reason(lake, evo) or "")
    with lake.transaction() as txn:  # later commits keep it files: its partitions cannot share one table
        txn.writer(evo, "dt=2026-11-28").write_table(pa.table({"a": pa.array([3], pa.int64())}))
    assert lake.table(evo) is None and len(lake.partitions(evo)) == 4
    assert zaloni(["lake", "migrate", str(lake_root), evo.key]) == 0
    assert lake.table(evo) is None  # migrate says why instead of registering mixed types


def test_a_snapshot_naming_replaced_files_is_read_through_the_manifests(lake_root: Path) -> None:
    """The state a kill between a partition's folder publish and its table commit leaves (until the roll-forward):
    the current snapshot names the replaced files, which are gone. Readers plan again, then read the manifests."""
    lake = Lake(str(lake_root))
    land(lake, None, 100, D1, "first")
    land(Lake(str(lake_root), catalog="none"), None, 60, D1, "rerun")  # folder published, table not committed
    assert lake.table(REF).current_snapshot().summary["zaloni.run-id"] == "first"
    assert sorted(lake.read_table(REF, D1)["id"].to_pylist()) == list(range(1, 61))
    assert sum(b.num_rows for b in lake.iter_batches(REF)) == 60
    paths = lake.data_files(REF, D1)  # what an engine (DuckDB, Spark) is handed: files that are there
    assert paths and all(Path(p).exists() for p in paths)
    assert any("disagree" in p for p in lake.verify())


class CountingFileIO(PyArrowFileIO):
    """pyiceberg's local FileIO, counting the manifests it opens (``py-io-impl`` of the test's catalog)."""

    manifests_read: ClassVar[list[str]] = []

    def new_input(self, location: str) -> Any:
        name = location.rsplit("/", 1)[-1]
        if name.endswith(".avro") and not name.startswith("snap-"):  # snap-*.avro are manifest lists
            CountingFileIO.manifests_read.append(name)
        return super().new_input(location)


def test_a_commit_reads_a_bounded_number_of_manifests_however_long_the_history(lake_root: Path) -> None:
    """Without merged manifests and expired snapshots each commit added a manifest and a snapshot, re-read every
    manifest and rewrote a metadata file that grew by a snapshot: its work grew with the table's history. The work
    is counted here, not timed."""
    io = f"{CountingFileIO.__module__}.{CountingFileIO.__qualname__}"
    lake = Lake(str(lake_root), catalog={"type": "sql", "py-io-impl": io})
    days = [f"dt=2026-{1 + n // 28:02d}-{1 + n % 28:02d}" for n in range(40)]
    reads, metadata_bytes = [], []
    for n, day in enumerate(days):
        CountingFileIO.manifests_read.clear()
        land(lake, n * 10, n * 10 + 10, day, f"new-{n}")
        reads.append(len(CountingFileIO.manifests_read))
        metadata_bytes.append(Path(lake.table(REF).metadata_location.removeprefix("file://")).stat().st_size)
    for n in (0, 20, 39):  # re-runs replace old and recent partitions
        CountingFileIO.manifests_read.clear()
        land(lake, n * 10, n * 10 + 5, days[n], f"rerun-{n}")
        reads.append(len(CountingFileIO.manifests_read))

    table = lake.table(REF)
    assert table is not None
    # a commit into a new partition reads none, or the MANIFESTS_TO_MERGE it merges; a re-run reads the manifests
    # that can hold its partition (three times: ours, pyiceberg's deletes and its rewrite) and what it merges
    assert max(reads[:40]) <= MANIFESTS_TO_MERGE and reads.count(0) >= 30, reads
    assert max(reads[40:]) <= 2 * MANIFESTS_TO_MERGE, reads
    assert len(table.current_snapshot().manifests(table.io)) <= MANIFESTS_TO_MERGE
    summaries = [s.summary["zaloni.txn-id"] for s in table.snapshots()]
    assert len(summaries) == SNAPSHOTS_TO_KEEP  # the newest ones: time travel reaches the last 20 commits
    # the metadata file a commit rewrites: commits 21-40 grow it by far less than commits 1-20 did (what grows yet is
    # bounded too: the metadata log, 50 entries, and the table's last 100 transaction ids)
    assert metadata_bytes[39] - metadata_bytes[19] < (metadata_bytes[19] - metadata_bytes[0]) / 3, metadata_bytes
    # and the table's folder holds no manifest or manifest list that nothing names (merged or expired ones)
    named = {s.manifest_list for s in table.snapshots()}
    named |= {m.manifest_path for s in table.snapshots() for m in s.manifests(table.io)}
    folder = Path(table.metadata_location.removeprefix("file://")).parent
    assert {f"file://{p}" for p in folder.glob("*.avro")} == named
    ids = scan_ids(lake)
    assert len(ids) == 40 and ids[days[20]] == list(range(201, 206)) and ids[days[1]] == list(range(11, 21))
    assert lake.verify() == []


def test_a_namespace_another_writer_creates_meanwhile_is_not_an_error(tmp_path: Path) -> None:
    """Writers of two datasets of one new system both find its namespace missing; the slower one still commits."""
    from pyiceberg.catalog.sql import SqlCatalog

    class LookedTooEarly(SqlCatalog):
        """Its first look for the namespace happened just before the other writer's insert."""

        looked = False

        def namespace_exists(self, namespace: str | tuple[str, ...]) -> bool:
            if not self.looked:
                self.looked = True
                return False
            return super().namespace_exists(namespace)

    options = {"uri": f"sqlite:///{tmp_path / 'catalog.db'}", "warehouse": f"file://{tmp_path}"}
    SqlCatalog("zaloni", **options).create_namespace(("raw", "load"))
    late = LookedTooEarly("zaloni", **options)
    ensure_namespace(late, ("raw", "load"))
    assert late.namespace_exists(("raw", "load"))
    with pytest.raises(Exception, match="Empty namespace"):
        ensure_namespace(SqlCatalog("zaloni", **options), ())


def test_a_table_is_created_whole_in_one_catalog_commit(lake_root: Path) -> None:
    """A writer killed right after the catalog created the table must not leave it unpartitioned or unmapped: the
    table's very first metadata already has the partition spec and the name mapping (the lake's Parquet files carry
    no Iceberg field ids)."""
    lake = Lake(str(lake_root))
    land(lake, None, 10)
    table = lake.table(REF)
    assert table is not None
    first = sorted((lake_root / REF.zone / REF.system / REF.name / "_iceberg" / "metadata").glob("00000-*.json"))
    assert len(first) == 1
    metadata = json.loads(first[0].read_text())
    spec = next(s for s in metadata["partition-specs"] if s["spec-id"] == metadata["default-spec-id"])
    columns = {f["id"]: f["name"] for f in metadata["schemas"][0]["fields"]}
    assert [(columns[f["source-id"]], f["transform"]) for f in spec["fields"]] == [(PARTITION_COLUMN, "identity")]
    mapping = {m["names"][0]: m["field-id"] for m in json.loads(metadata["properties"]["schema.name-mapping.default"])}
    assert mapping == {name: field_id for field_id, name in columns.items()}
    assert {f.name: f.field_id for f in table.schema().fields} == mapping


def test_a_table_left_unpartitioned_by_an_interrupted_creation_is_registered_again(lake_root: Path) -> None:
    """A table that an earlier version created bare (partitioned by a second commit that a SIGKILL never let
    happen): the next commit registers the dataset afresh, every partition with its files, instead of writing
    manifests with an empty partition tuple."""
    lake = Lake(str(lake_root))
    land(lake, None, 100, D1)
    catalog = lake.table_catalog()
    table = lake.table(REF)
    assert table is not None
    schema, location = table.schema(), table.location()
    catalog.drop_table((REF.zone, REF.system, REF.name))
    catalog.create_table((REF.zone, REF.system, REF.name), schema=schema, location=location)  # no partition spec

    land(lake, 100, 150, D2, "after")
    table = lake.table(REF)
    assert table is not None and [f.name for f in table.spec().fields] == [PARTITION_COLUMN]
    files = live_data_files(table, table.current_snapshot())
    assert sorted({str(f.partition[0]) for f in files}) == [D1, D2]
    assert scan_ids(lake) == {D1: list(range(1, 101)), D2: list(range(101, 151))}
    assert lake.verify() == []
