"""Zone promotion on a real lake folder: split, quarantine, thresholds, change capture, re-runs (no Airflow)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_zaloni.lake import DatasetRef, Lake, LakeError
from airflow_zaloni.lake.promote import (
    FAILED_RULES_COLUMN,
    PARTITION_COLUMN,
    ChangeCapture,
    QualityError,
    promote,
    spark_spec,
)
from airflow_zaloni.lake.quality import RuleError

RAW = DatasetRef("raw", "shop", "orders")
TRUSTED = DatasetRef("trusted", "shop", "orders")
QUARANTINE = DatasetRef("trusted", "shop", "orders__quarantine")
D1, D2, D3 = "dt=2026-01-01", "dt=2026-01-02", "dt=2026-01-03"

RULES: list[dict[str, Any]] = [
    {"rule": "not_null", "column": "id"},
    {"rule": "unique", "column": "id"},
    {"rule": "range", "column": "amount", "min": 0, "max": 1000},
    {"rule": "allowed_values", "column": "status", "values": ["NEW", "PAID"]},
    {"rule": "regex", "column": "email", "pattern": "^[^@]+@[^@]+$"},
    {"rule": "sql", "expression": "qty * amount < 5000", "name": "order_value"},
]


def land(lake: Lake, ref: DatasetRef, partition: str, table: pa.Table, **writer_options: Any) -> None:
    with lake.transaction(run_id="ingest") as txn:
        txn.writer(ref, partition, schema=table.schema, **writer_options).write_table(table)


def rows(lake: Lake, ref: DatasetRef, partition: str) -> list[dict[str, Any]]:
    return lake.read_table(ref, partition).to_pylist()


def reference_failures(row: dict[str, Any], dup_ids: set[Any]) -> list[str]:
    """The rules of RULES written directly in Python: an independent oracle for the engine."""
    failed = []
    if row["id"] is None:
        failed.append("not_null(id)")
    if row["id"] is not None and row["id"] in dup_ids:
        failed.append("unique(id)")
    if row["amount"] is not None and not 0 <= row["amount"] <= 1000:
        failed.append("range(amount)")
    if row["status"] is not None and row["status"] not in ("NEW", "PAID"):
        failed.append("allowed_values(status)")
    if row["email"] is not None and (
        row["email"].count("@") != 1 or row["email"].startswith("@") or row["email"].endswith("@")
    ):
        failed.append("regex(email)")
    if row["qty"] is not None and row["amount"] is not None and not row["qty"] * row["amount"] < 5000:
        failed.append("order_value")
    return failed


ROW = st.fixed_dictionaries(
    {
        "id": st.one_of(st.none(), st.integers(0, 30)),
        "amount": st.one_of(st.none(), st.floats(-50, 1200, allow_nan=False)),
        "qty": st.one_of(st.none(), st.integers(0, 20)),
        "status": st.one_of(st.none(), st.sampled_from(["NEW", "PAID", "VOID", "paid"])),
        "email": st.one_of(st.none(), st.sampled_from(["a@b", "@b", "a@", "a@b@c", "plain", "x.y@z.org"])),
    }
)
SCHEMA = pa.schema(
    [("id", pa.int64()), ("amount", pa.float64()), ("qty", pa.int32()), ("status", pa.string()), ("email", pa.string())]
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.lists(ROW, max_size=60))
def test_passed_plus_quarantined_is_the_input_exactly(tmp_path_factory: pytest.TempPathFactory, data) -> None:
    lake = Lake(str(tmp_path_factory.mktemp("lake")))
    land(lake, RAW, D1, pa.Table.from_pylist(data, schema=SCHEMA))
    report = promote(lake, source=RAW, partitions=[D1], target=TRUSTED, rules=RULES)

    passed = rows(lake, TRUSTED, D1)
    quarantined = rows(lake, QUARANTINE, D1)
    key = lambda r: tuple(sorted((k, repr(v)) for k, v in r.items()))  # noqa: E731
    originals = [{k: r[k] for k in SCHEMA.names} for r in quarantined]
    assert Counter(map(key, passed + originals)) == Counter(map(key, data))

    counts = Counter(r["id"] for r in data if r["id"] is not None)
    dups = {k for k, n in counts.items() if n > 1}
    assert all(reference_failures(r, dups) == [] for r in passed)
    for r in quarantined:
        assert r[FAILED_RULES_COLUMN] == reference_failures(r, dups) != []
        assert r[PARTITION_COLUMN] == D1
    expected = Counter(name for r in data for name in reference_failures(r, dups))
    assert report["failed_by_rule"] == {name: expected.get(name, 0) for name in report["failed_by_rule"]}
    assert (report["rows_in"], report["passed"], report["quarantined"]) == (len(data), len(passed), len(quarantined))


def sample() -> pa.Table:
    return pa.Table.from_pylist(
        [
            {"id": 1, "amount": 10.0, "qty": 1, "status": "NEW", "email": "a@b"},
            {"id": 2, "amount": -5.0, "qty": 1, "status": "NEW", "email": "a@b"},
            {"id": 3, "amount": 20.0, "qty": 1, "status": "VOID", "email": "nope"},
            {"id": 4, "amount": 30.0, "qty": 2, "status": "PAID", "email": None},
        ],
        schema=SCHEMA,
    )


def test_report_lands_in_both_manifests(lake_root: Path) -> None:
    lake = Lake(str(lake_root))
    land(lake, RAW, D1, sample())
    report = promote(lake, source=RAW, partitions=[D1], target=TRUSTED, rules=RULES, run_id="r1", try_number=1)
    assert (report["rows_in"], report["passed"], report["quarantined"]) == (4, 2, 2)
    for ref in (TRUSTED, QUARANTINE):
        manifest = lake.manifest(ref, D1)
        assert manifest is not None and manifest["run_id"] == "r1" and manifest["txn_id"] == report["txn_id"]
        quality = manifest["extra"]["quality"]
        assert quality["rules"]["range(amount)"]["failed"] == 1
        assert quality["rules"]["allowed_values(status)"]["failed"] == 1
        assert (quality["rows_in"], quality["passed"], quality["quarantined"]) == (4, 2, 2)
        assert manifest["source"]["dataset"] == RAW.key
    assert lake.manifest(TRUSTED, D1)["totals"]["rows"] == 2
    assert lake.verify([TRUSTED, QUARANTINE]) == []


def test_threshold_exceeded_publishes_nothing(lake_root: Path) -> None:
    lake = Lake(str(lake_root))
    land(lake, RAW, D1, sample())
    land(lake, RAW, D2, sample())
    promote(lake, source=RAW, partitions=[D1], target=TRUSTED, rules=RULES)
    before = lake.manifest(TRUSTED, D1)
    strict = [*RULES[:2], {**RULES[2], "max_failed_rows": 0}, *RULES[3:]]
    with pytest.raises(QualityError) as err:
        promote(lake, source=RAW, partitions=[D1, D2], target=TRUSTED, rules=strict)
    assert "range(amount)" in str(err.value) and "max_failed_rows=0" in str(err.value)
    assert "nothing was published" in str(err.value)
    assert err.value.report["failed_by_rule"]["range(amount)"] == 1
    # The earlier commit is untouched and neither D2 nor its quarantine appeared; no staging left behind.
    assert lake.manifest(TRUSTED, D1) == before
    assert lake.partitions(TRUSTED) == [D1] and lake.partitions(QUARANTINE) == [D1]
    assert not list(lake_root.glob("trusted/shop/*/_staging/*"))


def test_overall_quarantine_fraction_and_action_fail(lake_root: Path) -> None:
    lake = Lake(str(lake_root))
    land(lake, RAW, D1, sample())
    with pytest.raises(QualityError, match=r"2 of 4 rows quarantined \(50.00%\), more than max_quarantined_fraction"):
        promote(lake, source=RAW, partitions=[D1], target=TRUSTED, rules=RULES, max_quarantined_fraction=0.25)
    with pytest.raises(QualityError, match="its action is 'fail'"):
        promote(lake, source=RAW, partitions=[D1], target=TRUSTED, rules=[{**RULES[3], "action": "fail"}])
    assert lake.partitions(TRUSTED) == []
    # A warn rule counts but lets the row through.
    report = promote(lake, source=RAW, partitions=[D1], target=TRUSTED, rules=[{**RULES[3], "action": "warn"}])
    assert report["passed"] == 4 and report["failed_by_rule"]["allowed_values(status)"] == 1


def test_dataset_rules_fail_before_anything_is_written(lake_root: Path) -> None:
    lake = Lake(str(lake_root))
    table = pa.table({"id": [1, 2], "ts": [dt.datetime(2026, 1, 1, 6), dt.datetime(2026, 1, 1, 20)]})
    land(lake, RAW, D1, table)
    end = dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc)
    with pytest.raises(QualityError, match="'row_count' failed: rows=2, min=3"):
        promote(lake, source=RAW, partitions=[D1], target=TRUSTED, rules=[{"rule": "row_count", "min": 3}])
    with pytest.raises(QualityError, match="'freshness\\(ts\\)' failed"):
        promote(
            lake,
            source=RAW,
            partitions=[D1],
            target=TRUSTED,
            reference_time=end,
            rules=[{"rule": "freshness", "column": "ts", "max_age": "3h"}],
        )
    report = promote(
        lake,
        source=RAW,
        partitions=[D1],
        target=TRUSTED,
        reference_time=end,
        rules=[{"rule": "freshness", "column": "ts", "max_age": "4h"}, {"rule": "row_count", "min": 2, "max": 2}],
    )
    assert report["by_partition"][0]["checks"]["freshness(ts)"]["passed"] is True
    assert report["passed"] == 2


def test_rerun_is_idempotent_and_clears_an_old_quarantine(lake_root: Path) -> None:
    lake = Lake(str(lake_root))
    land(lake, RAW, D1, sample())
    promote(lake, source=RAW, partitions=[D1], target=TRUSTED, rules=RULES)
    first = (rows(lake, TRUSTED, D1), rows(lake, QUARANTINE, D1))
    promote(lake, source=RAW, partitions=[D1], target=TRUSTED, rules=RULES)
    assert (rows(lake, TRUSTED, D1), rows(lake, QUARANTINE, D1)) == first
    # The source is fixed and re-ingested: the re-run replaces both partitions; the quarantine becomes empty.
    land(lake, RAW, D1, sample().filter(pa.array([True, False, False, False])))
    promote(lake, source=RAW, partitions=[D1], target=TRUSTED, rules=RULES)
    assert [r["id"] for r in rows(lake, TRUSTED, D1)] == [1]
    assert rows(lake, QUARANTINE, D1) == []
    assert lake.schema(QUARANTINE, D1).names[-2:] == [FAILED_RULES_COLUMN, PARTITION_COLUMN]


def test_several_partitions_promote_as_one_by_one(lake_root: Path) -> None:
    lake = Lake(str(lake_root))
    land(lake, RAW, D1, sample())
    land(lake, RAW, D2, sample())  # the same ids again: unique is checked per partition
    report = promote(lake, source=RAW, partitions=[D1, D2], target=TRUSTED, rules=RULES)
    assert lake.partitions(TRUSTED) == [D1, D2]
    assert rows(lake, TRUSTED, D1) == rows(lake, TRUSTED, D2)
    assert report["failed_by_rule"]["unique(id)"] == 0 and report["passed"] == 4


def test_bad_input_is_named(lake_root: Path) -> None:
    lake = Lake(str(lake_root))
    land(lake, RAW, D1, sample())
    with pytest.raises(
        LakeError, match=r"raw/shop/orders has no committed partition dt=2026-01-09 \(committed: dt=2026-01-01\)"
    ):
        promote(lake, source=RAW, partitions=["dt=2026-01-09"], target=TRUSTED, rules=RULES)
    with pytest.raises(
        RuleError, match=r"'not_null\(ID\)': column\(s\) \['ID'\] not found in raw/shop/orders dt=2026-01-01"
    ):
        promote(lake, source=RAW, partitions=[D1], target=TRUSTED, rules=[{"rule": "not_null", "column": "ID"}])
    with pytest.raises(
        RuleError, match=r"change capture: raw/shop/orders dt=2026-01-01: column\(s\) \['seq'\] not found"
    ):
        promote(lake, source=RAW, partitions=[D1], target=TRUSTED, cdc=ChangeCapture(key="id", order_by="seq"))
    with pytest.raises(LakeError, match="must be different datasets"):
        promote(lake, source=RAW, partitions=[D1], target=RAW)
    with pytest.raises(LakeError, match="not allowed"):
        promote(lake, source=RAW, partitions=["../x"], target=TRUSTED)
    # A SQL predicate that does not parse fails the task and publishes nothing.
    with pytest.raises(Exception, match=r"(?i)parser error|syntax"):
        promote(lake, source=RAW, partitions=[D1], target=TRUSTED, rules=[{"rule": "sql", "expression": "amount >"}])
    land(lake, RAW, D2, pa.table({"id": [1], "_dq_partition": ["x"]}))
    with pytest.raises(LakeError, match=r"column name\(s\) \['_dq_partition'\] are reserved"):
        promote(lake, source=RAW, partitions=[D2], target=TRUSTED)
    assert lake.partitions(TRUSTED) == [] and lake.partitions(QUARANTINE) == []


def test_the_spark_spec_refuses_the_bad_input_that_promote_refuses(lake_root: Path, tmp_path: Path) -> None:
    """Before the cluster is asked: a Spark job handed an uncommitted partition or its own source as target would
    fail there (or overwrite the source) instead of naming the mistake in the task."""
    lake = Lake(str(lake_root))
    land(lake, RAW, D1, sample())
    out = str(tmp_path / "out")
    with pytest.raises(LakeError, match=r"raw/shop/orders has no committed partition dt=2026-01-09"):
        spark_spec(lake, source=RAW, partitions=["dt=2026-01-09"], target=TRUSTED, output=out)
    with pytest.raises(LakeError, match="must be different datasets"):
        spark_spec(lake, source=RAW, partitions=[D1], target=RAW, output=out)
    with pytest.raises(LakeError, match="partition listed twice"):
        spark_spec(lake, source=RAW, partitions=[D1, D1], target=TRUSTED, output=out)
    with pytest.raises(LakeError, match="target_partition applies to change capture only"):
        spark_spec(lake, source=RAW, partitions=[D1], target=TRUSTED, target_partition="dt=2030-01-01", output=out)
    spec = spark_spec(lake, source=RAW, partitions=[D1], target=TRUSTED, output=out)
    assert spec["quarantine"] == QUARANTINE.key and [p["partition"] for p in spec["partitions"]] == [D1]


# ------------------------------------------------------------------------------------------------- change capture
ACCOUNT = pa.schema(
    [("Id", pa.string()), ("Name", pa.string()), ("SystemModstamp", pa.int64()), ("IsDeleted", pa.bool_())]
)
SNAP = DatasetRef("trusted", "salesforce", "Account")
SF_RAW = DatasetRef("raw", "salesforce", "Account")
CDC = ChangeCapture(key="Id", order_by="SystemModstamp", delete_column="IsDeleted")


def accounts(*rows: tuple[Any, ...]) -> pa.Table:
    return pa.Table.from_pylist([dict(zip(ACCOUNT.names, r)) for r in rows], schema=ACCOUNT)


def snapshot(lake: Lake, partition: str) -> dict[str, tuple[Any, ...]]:
    return {r["Id"]: (r["Name"], r["SystemModstamp"]) for r in rows(lake, SNAP, partition)}


def test_cdc_latest_row_per_key_out_of_order_duplicates_and_deletes(lake_root: Path) -> None:
    lake = Lake(str(lake_root))
    land(lake, SF_RAW, D1, accounts(("a", "A1", 10, False), ("b", "B1", 10, False), ("c", "C1", 10, False)))
    # Day 2 arrives out of order: a's update at 20 comes before an older change at 15 in the file; b has two rows
    # with the same stamp (the later row wins); c is deleted; d is new; e is created and deleted the same day.
    land(
        lake,
        SF_RAW,
        D2,
        accounts(
            ("a", "A3", 20, False),
            ("a", "A2", 15, False),
            ("b", "B2", 30, False),
            ("b", "B3", 30, False),
            ("c", None, 40, True),
            ("d", "D1", 5, False),
            ("e", "E1", 1, False),
            ("e", None, 2, True),
        ),
    )
    promote(lake, source=SF_RAW, partitions=[D1], target=SNAP, cdc=CDC)
    report = promote(lake, source=SF_RAW, partitions=[D2], target=SNAP, cdc=CDC)
    assert snapshot(lake, D2) == {"a": ("A3", 20), "b": ("B3", 30), "d": ("D1", 5)}
    assert report["cdc_counts"] == {
        "base_partition": D1,
        "rows_out": 3,
        "deleted": 2,
        "unchanged": 0,
        "upserted": 3,
    }
    assert snapshot(lake, D1) == {"a": ("A1", 10), "b": ("B1", 10), "c": ("C1", 10)}  # history stays

    # A late, older row for 'a' (stamp 12 < 20 in the snapshot) does not overwrite it; 'b' untouched.
    land(lake, SF_RAW, D3, accounts(("a", "A-late", 12, False), ("f", "F1", 50, False)))
    report = promote(lake, source=SF_RAW, partitions=[D3], target=SNAP, cdc=CDC)
    assert snapshot(lake, D3) == {"a": ("A3", 20), "b": ("B3", 30), "d": ("D1", 5), "f": ("F1", 50)}
    assert report["cdc_counts"]["unchanged"] == 3 and report["cdc_counts"]["upserted"] == 1

    # Re-running day 2 rebuilds the same snapshot from day 1 (the partition before), not from day 3.
    promote(lake, source=SF_RAW, partitions=[D2], target=SNAP, cdc=CDC)
    assert snapshot(lake, D2) == {"a": ("A3", 20), "b": ("B3", 30), "d": ("D1", 5)}


def test_cdc_ties_broken_by_file_and_row_across_several_files(lake_root: Path) -> None:
    lake = Lake(str(lake_root))
    n = 25
    # Every key appears in every one of three files (max_rows_per_file=n) with the same stamp: the last file wins.
    table = pa.concat_tables(
        [accounts(*[(f"k{i:02d}", f"v{version}", 7, False) for i in range(n)]) for version in range(3)]
    )
    land(lake, SF_RAW, D1, table, max_rows_per_file=n)
    assert len(lake.data_files(SF_RAW, D1)) == 3
    promote(lake, source=SF_RAW, partitions=[D1], target=SNAP, cdc=CDC)
    assert set(snapshot(lake, D1).values()) == {("v2", 7)}


def test_cdc_quarantines_bad_rows_and_null_keys_before_the_merge(lake_root: Path) -> None:
    lake = Lake(str(lake_root))
    land(lake, SF_RAW, D1, accounts(("a", "A1", 10, False), (None, "nokey", 11, False), ("a", "", 12, False)))
    report = promote(
        lake,
        source=SF_RAW,
        partitions=[D1],
        target=SNAP,
        cdc=CDC,
        rules=[{"rule": "regex", "column": "Name", "pattern": ".", "name": "name_not_empty"}],
    )
    assert snapshot(lake, D1) == {"a": ("A1", 10)}  # the newer but bad row did not win
    quarantined = rows(lake, DatasetRef("trusted", "salesforce", "Account__quarantine"), D1)
    assert sorted(tuple(r[FAILED_RULES_COLUMN]) for r in quarantined) == [("cdc_key_not_null",), ("name_not_empty",)]
    assert (report["rows_in"], report["passed"], report["quarantined"]) == (3, 1, 2)


def test_cdc_delete_values_and_schema_evolution(lake_root: Path) -> None:
    lake = Lake(str(lake_root))
    cdc = ChangeCapture(key=["region", "id"], order_by="seq", delete_column="op", delete_values=["D"])
    ref, snap = DatasetRef("raw", "erp", "items"), DatasetRef("trusted", "erp", "items")
    land(lake, ref, D1, pa.table({"region": ["eu", "us"], "id": [1, 1], "seq": [1, 1], "op": ["I", "I"]}))
    # Day 2 adds a column; the merged snapshot has it (NULL for rows kept from day 1).
    land(
        lake,
        ref,
        D2,
        pa.table({"region": ["eu", "eu"], "id": [1, 2], "seq": [2, 2], "op": ["D", "I"], "note": ["x", "y"]}),
    )
    promote(lake, source=ref, partitions=[D1], target=snap, cdc=cdc)
    promote(lake, source=ref, partitions=[D2], target=snap, cdc=cdc)
    got = sorted(rows(lake, snap, D2), key=lambda r: (r["region"], r["id"]))
    assert got == [
        {"region": "eu", "id": 2, "seq": 2, "op": "I", "note": "y"},
        {"region": "us", "id": 1, "seq": 1, "op": "I", "note": None},
    ]


def test_cdc_catch_up_of_several_partitions_into_one_snapshot(lake_root: Path) -> None:
    lake = Lake(str(lake_root))
    land(lake, SF_RAW, D1, accounts(("a", "A1", 10, False)))
    land(lake, SF_RAW, D2, accounts(("a", "A2", 10, False), ("b", "B1", 1, False)))  # same stamp: later partition wins
    report = promote(lake, source=SF_RAW, partitions=[D1, D2], target=SNAP, cdc=CDC)
    assert lake.partitions(SNAP) == [D2] and report["target_partitions"] == [D2]
    assert snapshot(lake, D2) == {"a": ("A2", 10), "b": ("B1", 1)}
    assert lake.partitions(DatasetRef("trusted", "salesforce", "Account__quarantine")) == [D1, D2]


def test_promotes_on_an_fsspec_lake_through_duckdbs_registered_filesystem(tmp_path: Path) -> None:
    # The same path a webhdfs:// or s3:// lake takes: files are read by DuckDB through the lake's fsspec filesystem.
    lake = Lake(f"memory://{tmp_path.name}")
    land(lake, RAW, D1, sample())
    assert lake.storage.protocol == "memory"
    report = promote(lake, source=RAW, partitions=[D1], target=TRUSTED, rules=RULES)
    assert (report["passed"], report["quarantined"]) == (2, 2)
    assert [r["id"] for r in rows(lake, TRUSTED, D1)] == [1, 4]
    assert sorted(r["id"] for r in rows(lake, QUARANTINE, D1)) == [2, 3]
