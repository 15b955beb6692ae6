"""Zone promotion: apply data-quality rules to committed partitions, split good rows from bad, capture changes.

``promote()`` reads the committed partitions of a dataset through their manifests, applies the rules of
:mod:`airflow_zaloni.lake.quality`, and in ONE lake transaction publishes

* the passing rows to the target dataset (``raw/sys/orders`` -> ``trusted/sys/orders``), and
* the failing rows to the quarantine dataset, by default ``<target zone>/<system>/<name>__quarantine`` -- next to
  the dataset it protects, readable with the same tools -- with two more columns: ``_dq_failed_rules``
  (``list<string>``: every rule the row broke) and ``_dq_partition`` (the source partition it came from).

Each source partition is checked on its own (``unique`` and ``row_count`` look at one partition), so promoting
``[p1, p2]`` together gives exactly what promoting them one by one gives, and a re-run replaces what the first run
published. The quarantine partition is always written, empty when nothing failed, so a re-run that fixes the data
also clears the old quarantine.

**Change capture** (``cdc=ChangeCapture(key=..., order_by=...)``): the target holds a snapshot -- the latest row per
key. The new snapshot is the previous one (the latest committed target partition *before* the one being written)
merged with the passing rows of the source partitions: per key the row with the greatest ``order_by`` value wins
(ties: the later source partition, then the later file and row); a winning row marked deleted (``delete_column``,
e.g. Salesforce ``IsDeleted``) removes the key. Because the base is always the partition before, a re-run of an
interval rebuilds the same snapshot. Deleted keys are not remembered as tombstones: a later-arriving row that is
older than the delete brings the key back.

**Engine.** The single-node engine is DuckDB, streaming Parquet files through SQL into the lake writer in record
batches; memory is bounded by ``memory_limit`` (DuckDB spills window and sort state to a local temporary folder).
DuckDB is chosen over pyarrow compute because it is faster on the same filters (``benchmarks/promote.py`` measures
both), uses both cores, and is the only one of the two that can run a SQL predicate, a window (``unique``) and the
latest-row-per-key merge out of core. The same rules compile to Spark SQL for data that does not fit one worker
(:mod:`airflow_zaloni.lake.promote_spark`).

Thresholds (a rule's ``max_failed_rows``/``max_failed_fraction``/``action="fail"``, a failed dataset rule, or
``max_quarantined_rows``/``max_quarantined_fraction``) raise :class:`QualityError` inside the transaction, so nothing
at all is published.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from airflow_zaloni.lake.errors import LakeError
from airflow_zaloni.lake.job_files import stream_job_files
from airflow_zaloni.lake.paths import QUARANTINE_SUFFIX, DatasetRef, validate_partition
from airflow_zaloni.lake.promote_plan import (
    DELETED_COL,
    FAILED_RULES_COLUMN,
    FILE_COL,
    INTERNAL,
    PARTITION_COLUMN,
    ROW_COL,
    SRC_COL,
    ChangeCapture,
    Tally,
    brief,
    check_thresholds,
    checked_sql,
    counts_sql,
    dataset_checks_sql,
    merge_sql,
    passed_sql,
    promotion_rules,
    quarantine_sql,
    record_dataset_checks,
    reserved_columns,
    row_rule_columns,
    select_list,
    totals,
)
from airflow_zaloni.lake.quality import (
    DUCKDB,
    DatasetRule,
    RowRule,
    Rule,
    RuleError,
    check_columns,
    parse_rules,
)
from airflow_zaloni.utils.prefetch import prefetch

if TYPE_CHECKING:
    import duckdb

    from airflow_zaloni.lake.lake import Lake

log = logging.getLogger(__name__)

BATCH_ROWS = 131_072


class QualityError(LakeError):
    """The data broke a threshold of the rule set; nothing was published. ``report`` holds the counts."""

    def __init__(self, message: str, report: dict[str, Any]) -> None:
        super().__init__(message)
        self.report = report


# -------------------------------------------------------------------------------------------------------- engine
class _DuckDB:
    """A private DuckDB connection with bounded memory that reads the lake's Parquet files."""

    def __init__(self, lake: Lake, *, memory_limit: str | None, threads: int | None, temp_dir: str | None) -> None:
        import duckdb

        self.lake = lake
        self._tmp = tempfile.mkdtemp(prefix="zaloni-promote-", dir=temp_dir)
        config: dict[str, Any] = {"temp_directory": self._tmp}
        if memory_limit:
            config["memory_limit"] = memory_limit
        if threads:
            config["threads"] = int(threads)
        self.con: duckdb.DuckDBPyConnection = duckdb.connect(config=config)
        self._fsspec = getattr(lake.storage, "fs", None)
        if self._fsspec is not None:
            self.con.register_filesystem(self._fsspec)
        self._n = 0

    def close(self) -> None:
        self.con.close()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def url(self, path: str) -> str:
        return path if self._fsspec is None else str(self._fsspec.unstrip_protocol(path))

    def scan(self, lake: Lake, ref: DatasetRef, partition: str, *, positions: bool) -> tuple[str, pa.Schema]:
        """SQL reading the committed files of one partition, and the partition's schema.

        With ``positions`` each row also carries its file name and row number, to break ties deterministically.
        """
        files = lake.data_files(ref, partition)
        schema = lake.schema(ref, partition)
        if schema is None:
            raise LakeError(f"{ref} {partition}: the manifest records no schema")
        bad = reserved_columns(schema.names)
        if bad:
            raise LakeError(f"{ref} {partition}: column name(s) {bad} are reserved by the promotion engine")
        extra = f", filename={DUCKDB.string(FILE_COL)}, file_row_number=true" if positions else ""
        if files:
            listing = ", ".join(DUCKDB.string(self.url(f)) for f in files)
            sql = f"SELECT * FROM read_parquet([{listing}], union_by_name=true{extra})"
            if positions:
                sql = f"SELECT * RENAME (file_row_number AS {DUCKDB.ident(ROW_COL)}) FROM ({sql})"
        else:
            # A partition committed without any file (a writer that saw no batch and no schema): no rows.
            self._n += 1
            name = f"{INTERNAL}empty{self._n}"
            empty = schema.empty_table()
            if positions:
                empty = empty.append_column(FILE_COL, pa.array([], pa.string()))
                empty = empty.append_column(ROW_COL, pa.array([], pa.int64()))
            self.con.register(name, empty)
            sql = f"SELECT * FROM {DUCKDB.ident(name)}"
        return sql, schema

    def stream(self, sql: str, batch_rows: int) -> Iterator[pa.RecordBatch]:
        """Result batches of ``sql``, computed by DuckDB in a background thread while the caller writes the last
        ones (both release the GIL, so on two cores the work overlaps; ``benchmarks/promote.py``)."""
        relation = self.con.sql(sql)
        # DuckDB 1.4 renamed fetch_arrow_reader to to_arrow_reader (the old name warns since).
        to_reader = getattr(relation, "to_arrow_reader", None) or relation.fetch_arrow_reader
        yield from prefetch(to_reader(batch_rows), depth=2)

    def one(self, sql: str) -> tuple[Any, ...]:
        rows = self.con.execute(sql).fetchall()
        return tuple(rows[0])


def _sum_true(column: pa.Array | pa.ChunkedArray) -> int:
    value = pc.sum(column).as_py()
    return int(value or 0)


def promote(
    lake: Lake,
    *,
    source: DatasetRef,
    partitions: Sequence[str],
    target: DatasetRef,
    rules: Sequence[Rule | Mapping[str, Any]] = (),
    cdc: ChangeCapture | None = None,
    target_partition: str | None = None,
    quarantine: DatasetRef | None = None,
    max_quarantined_rows: int | None = None,
    max_quarantined_fraction: float | None = None,
    reference_time: dt.datetime | None = None,
    run_id: str | None = None,
    try_number: int | None = None,
    producer: str = "airflow_zaloni.promote",
    task: Mapping[str, Any] | None = None,
    memory_limit: str | None = "1GB",
    threads: int | None = None,
    temp_dir: str | None = None,
    batch_rows: int = BATCH_ROWS,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Promote ``partitions`` of ``source`` into ``target`` (and the quarantine) in one transaction.

    :param lake: the lake.
    :param source: dataset read (e.g. ``raw/sys/orders``).
    :param partitions: committed source partitions to promote.
    :param target: dataset written (e.g. ``trusted/sys/orders``).
    :param rules: rule objects or their dict forms.
    :param cdc: keep the latest row per key (the target holds a snapshot); ``None`` copies passing rows partition
        by partition.
    :param target_partition: with ``cdc``, the snapshot partition to write (default: the last source partition).
    :param quarantine: dataset of failing rows; default ``<target zone>/<system>/<target name>__quarantine``.
    :param max_quarantined_rows: fail when more rows than this are quarantined in a partition.
    :param max_quarantined_fraction: fail when more than this fraction of a partition is quarantined.
    :param reference_time: "now" for freshness rules (the end of the run's data interval).
    :param task: the Airflow task that promotes (``dag_id``, ``task_id``, ``map_index``, data interval, as
        :func:`airflow_zaloni.operators.base.task_record` gives it), recorded in every manifest written as
        ``extra.airflow`` (the Lake view links each partition to its run and task).
    :param memory_limit: DuckDB memory limit (beyond it, sort and window state spill to ``temp_dir``).
    :param threads: DuckDB threads (default: all cores).
    :param progress: called with one line per step (the operator passes the task log).
    :return: the report (JSON-able): rows in, passed, quarantined, per-rule counts, change-capture counts.
    """
    say = progress or log.info
    started = time.monotonic()
    parts, quarantine, out_partition = _checked_datasets(
        lake, source, partitions, target, quarantine, cdc, target_partition
    )
    rule_set, row_rules, dataset_rules = promotion_rules(rules, cdc)
    report: dict[str, Any] = {
        "source": source.key,
        "target": target.key,
        "quarantine": quarantine.key,
        "engine": "duckdb",
        "partitions": parts,
        "target_partitions": [out_partition] if cdc else parts,
        "rules": [r.to_dict() for r in rule_set],
        "cdc": cdc.to_dict() if cdc else None,
    }
    engine = _DuckDB(lake, memory_limit=memory_limit, threads=threads, temp_dir=temp_dir)
    tallies: list[Tally] = []
    try:
        with lake.transaction(run_id=run_id, try_number=try_number, producer=producer) as txn:
            schemas: list[pa.Schema] = []
            for part in parts:
                scan_sql, schema = engine.scan(lake, source, part, positions=cdc is not None)
                schemas.append(schema)
                check_columns(rule_set, schema.names, dataset=f"{source} {part}")
                if cdc is not None:
                    _require_columns(cdc.columns(), schema, f"change capture: {source} {part}")
                tally = Tally(part)
                tallies.append(tally)
                _dataset_checks(engine, scan_sql, dataset_rules, tally, reference_time)
                reasons = check_thresholds(
                    tally, dataset_rules, max_quarantined_rows=None, max_quarantined_fraction=None
                )
                if reasons:
                    _fail(reasons, report, tallies, rule_set)
                say(f"{source} {part}: {tally.rows_in} rows in; checking {len(row_rules)} row rule(s)")
                q_writer = txn.writer(
                    quarantine, part, schema=_quarantine_schema(schema), source=_describe(lake, source, part)
                )
                p_writer = None
                if cdc is None:
                    p_writer = txn.writer(target, part, schema=schema, source=_describe(lake, source, part))
                _split(engine, scan_sql, schema, row_rules, tally, p_writer, q_writer, batch_rows)
                reasons = check_thresholds(
                    tally,
                    rule_set,
                    max_quarantined_rows=max_quarantined_rows,
                    max_quarantined_fraction=max_quarantined_fraction,
                )
                if reasons:
                    _fail(reasons, report, tallies, rule_set)
                q_writer.extra["quality"] = tally.as_dict(rule_set)
                _record_task(q_writer, task)
                if p_writer is not None:
                    p_writer.extra["quality"] = tally.as_dict(rule_set)
                    _record_task(p_writer, task)
                say(
                    f"{source} {part}: {tally.passed} passed, {tally.quarantined} quarantined"
                    + "".join(f"; {k}: {v} failed" for k, v in tally.failed.items() if v)
                )
            snapshot_writer = None
            if cdc is not None:
                snapshot_writer, report["cdc_counts"] = _merge(
                    engine, lake, txn, source, parts, target, out_partition, schemas, row_rules, cdc, batch_rows, say
                )
            _totals(report, tallies, rule_set)
            report["seconds"] = round(time.monotonic() - started, 3)
            if snapshot_writer is not None:
                snapshot_writer.extra["quality"] = {k: v for k, v in report.items() if k != "rules"}
                _record_task(snapshot_writer, task)
    finally:
        engine.close()
    report["txn_id"] = txn.txn_id
    return report


def _checked_datasets(
    lake: Lake,
    source: DatasetRef,
    partitions: Sequence[str],
    target: DatasetRef,
    quarantine: DatasetRef | None,
    cdc: ChangeCapture | None,
    target_partition: str | None,
) -> tuple[list[str], DatasetRef, str]:
    """What a promotion reads and writes, checked before any engine starts: the committed source partitions, the
    quarantine dataset (default: the target's) and the partition of the target (change capture's snapshot)."""
    parts = [validate_partition(p) for p in partitions]
    if not parts:
        raise LakeError(f"{source}: no partition to promote")
    if len(set(parts)) != len(parts):
        raise LakeError(f"{source}: partition listed twice in {parts}")
    committed = set(lake.partitions(source))
    missing = [p for p in parts if p not in committed]
    if missing:
        have = ", ".join(sorted(committed)) or "none"
        raise LakeError(f"{source} has no committed partition {', '.join(missing)} (committed: {have})")
    quarantine = quarantine or target.quarantine
    if target == source or quarantine in (source, target):
        raise LakeError(f"source {source}, target {target} and quarantine {quarantine} must be different datasets")
    out_partition = validate_partition(target_partition or parts[-1])
    if cdc is None and target_partition not in (None, *parts):
        raise LakeError("target_partition applies to change capture only; without a key each partition keeps its name")
    return parts, quarantine, out_partition


def _quarantine_schema(schema: pa.Schema) -> pa.Schema:
    """The quarantine's columns: the source's, the names of the rules a row broke, and its source partition."""
    return schema.append(pa.field(FAILED_RULES_COLUMN, pa.list_(pa.string()))).append(
        pa.field(PARTITION_COLUMN, pa.string())
    )


def _record_task(writer: Any, task: Mapping[str, Any] | None) -> None:
    if task:
        writer.extra["airflow"] = dict(task)


def _require_columns(columns: Sequence[str], schema: pa.Schema, where: str) -> None:
    missing = [c for c in columns if c not in schema.names]
    if missing:
        raise RuleError(f"{where}: column(s) {missing} not found (columns: {', '.join(schema.names)})")


def _describe(lake: Lake, source: DatasetRef, partition: str) -> dict[str, Any]:
    manifest = lake.manifest(source, partition) or {}
    return {
        "system": "lake",
        "dataset": source.key,
        "partition": partition,
        "txn_id": manifest.get("txn_id"),
        "run_id": manifest.get("run_id"),
    }


def _dataset_checks(
    engine: _DuckDB,
    scan_sql: str,
    dataset_rules: Sequence[DatasetRule],
    tally: Tally,
    reference_time: dt.datetime | None,
) -> None:
    values = engine.one(dataset_checks_sql(scan_sql, dataset_rules, DUCKDB))
    record_dataset_checks(values, dataset_rules, tally, reference_time, DUCKDB)
    for rule in dataset_rules:
        check = tally.checks[rule.name or ""]
        if not check["passed"] and rule.action == "warn":
            log.warning("%s: %s did not pass (warn only): %s", tally.partition, rule.label, brief(check))


def _split(
    engine: _DuckDB,
    scan_sql: str,
    schema: pa.Schema,
    row_rules: Sequence[RowRule],
    tally: Tally,
    p_writer: Any,
    q_writer: Any,
    batch_rows: int,
) -> None:
    """Stream one partition once: passing rows to ``p_writer`` (if any), failing rows to ``q_writer``."""
    names = list(schema.names)
    part = pa.scalar(tally.partition, pa.string())
    for rule in row_rules:
        tally.failed[rule.name or ""] = 0
    if not row_rules:
        if p_writer is not None:
            for batch in engine.stream(f"SELECT {select_list(names, DUCKDB)} FROM ({scan_sql})", batch_rows):
                p_writer.write_batch(batch)
                tally.passed += batch.num_rows
        else:
            tally.passed = tally.rows_in
        return
    d = DUCKDB
    inner = checked_sql(scan_sql, names, row_rules, d)
    if p_writer is None:
        # Change capture: the merge re-applies the filter itself; here only the quarantine and the counts are needed.
        counts = engine.one(counts_sql(inner, row_rules, d))
        for rule, n in zip(row_rules, counts[:-1]):
            tally.failed[rule.name or ""] = int(n or 0)
        tally.quarantined = int(counts[-1] or 0)
        tally.passed = tally.rows_in - tally.quarantined
        for batch in engine.stream(quarantine_sql(inner, names, row_rules, tally.partition, d), batch_rows):
            q_writer.write_batch(batch)
        return
    _, flag, failed_list = row_rule_columns(row_rules, d)
    flag_col, list_col = f"{INTERNAL}q", FAILED_RULES_COLUMN
    v_cols = [d.ident(f"{INTERNAL}v{i}") for i in range(len(row_rules))]
    sql = (
        f"SELECT {select_list(names, d)}, {', '.join(v_cols)}, {flag} AS {d.ident(flag_col)}, "
        f"CASE WHEN {flag} THEN {failed_list} END AS {d.ident(list_col)} FROM ({inner})"
    )
    n = len(names)
    for batch in engine.stream(sql, batch_rows):
        for i, rule in enumerate(row_rules):
            tally.failed[rule.name or ""] += _sum_true(batch.column(n + i))
        bad = batch.column(flag_col)
        n_bad = _sum_true(bad)
        if n_bad == 0:
            p_writer.write_batch(batch.select(names))
            tally.passed += batch.num_rows
            continue
        good = batch.filter(pc.invert(bad)).select(names)
        p_writer.write_batch(good)
        tally.passed += good.num_rows
        q_writer.write_batch(_with_partition(batch.filter(bad).select([*names, list_col]), part))
        tally.quarantined += n_bad


def _with_partition(batch: pa.RecordBatch, part: pa.Scalar) -> pa.RecordBatch:
    return batch.append_column(PARTITION_COLUMN, pa.array([part.as_py()] * batch.num_rows, pa.string()))


def _merge(
    engine: _DuckDB,
    lake: Lake,
    txn: Any,
    source: DatasetRef,
    parts: Sequence[str],
    target: DatasetRef,
    out_partition: str,
    schemas: Sequence[pa.Schema],
    row_rules: Sequence[RowRule],
    cdc: ChangeCapture,
    batch_rows: int,
    say: Callable[[str], None],
) -> tuple[Any, dict[str, Any]]:
    """Write the new snapshot: the previous one plus the passing rows, latest row per key, deletes applied."""
    earlier = [p for p in lake.partitions(target) if p < out_partition]
    base = earlier[-1] if earlier else None
    d = DUCKDB
    inputs: list[tuple[str, list[str]]] = []
    all_schemas = list(schemas)
    if base is not None:
        base_sql, base_schema = engine.scan(lake, target, base, positions=True)
        all_schemas.insert(0, base_schema)
        inputs.append(
            (f"SELECT *, -1 AS {d.ident(SRC_COL)} FROM ({base_sql})", [*base_schema.names, FILE_COL, ROW_COL, SRC_COL])
        )
    for index, part in enumerate(parts):
        scan_sql, schema = engine.scan(lake, source, part, positions=True)
        names = [*schema.names, FILE_COL, ROW_COL]
        good = passed_sql(checked_sql(scan_sql, names, row_rules, d), names, row_rules, d)
        inputs.append((f"SELECT *, {index} AS {d.ident(SRC_COL)} FROM ({good})", [*names, SRC_COL]))
    try:
        out_schema = pa.unify_schemas(all_schemas, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise LakeError(
            f"{target}: the snapshot {base} and {source} {list(parts)} have incompatible schemas: {exc}"
        ) from exc
    names = list(out_schema.names)
    sql = merge_sql(inputs, names, cdc, d)
    writer = txn.writer(
        target,
        out_partition,
        schema=out_schema,
        source={"system": "lake", "dataset": source.key, "partitions": list(parts), "base_partition": base},
    )
    rows_out = deleted_keys = unchanged = 0
    for batch in engine.stream(sql, batch_rows):
        deleted = batch.column(DELETED_COL)
        from_base = pc.equal(batch.column(SRC_COL), -1)
        n_deleted = _sum_true(deleted)
        deleted_keys += n_deleted
        unchanged += _sum_true(pc.and_(from_base, pc.invert(deleted)))
        keep = batch.filter(pc.invert(deleted)).select(names) if n_deleted else batch.select(names)
        writer.write_batch(keep)
        rows_out += keep.num_rows
    counts = {
        "base_partition": base,
        "rows_out": rows_out,
        "deleted": deleted_keys,
        "unchanged": unchanged,
        "upserted": rows_out - unchanged,
    }
    say(
        f"{target} {out_partition}: snapshot of {rows_out} rows (base {base or 'none'}: "
        f"{unchanged} unchanged, {rows_out - unchanged} new or updated, {deleted_keys} deleted)"
    )
    return writer, counts


def _fail(reasons: list[str], report: dict[str, Any], tallies: list[Tally], rules: Sequence[Rule]) -> None:
    _totals(report, tallies, rules)
    report["failures"] = reasons
    raise QualityError(
        f"data-quality threshold exceeded promoting {report['source']} -> {report['target']}; nothing was published: "
        + "; ".join(reasons),
        report,
    )


def _totals(report: dict[str, Any], tallies: Sequence[Tally], rules: Sequence[Rule]) -> None:
    report.update(totals(tallies, rules))


__all__ = [
    "FAILED_RULES_COLUMN",
    "PARTITION_COLUMN",
    "QUARANTINE_SUFFIX",
    "ChangeCapture",
    "QualityError",
    "promote",
]


# ------------------------------------------------------------------------------------------------------------ spark
def spark_spec(
    lake: Lake,
    *,
    source: DatasetRef,
    partitions: Sequence[str],
    target: DatasetRef,
    output: str,
    rules: Sequence[Rule | Mapping[str, Any]] = (),
    cdc: ChangeCapture | None = None,
    target_partition: str | None = None,
    quarantine: DatasetRef | None = None,
    max_quarantined_rows: int | None = None,
    max_quarantined_fraction: float | None = None,
    reference_time: dt.datetime | None = None,
    path_prefix: str = "",
) -> dict[str, Any]:
    """The JSON spec of :mod:`airflow_zaloni.lake.promote_spark` for promoting ``partitions`` of ``source``.

    Input files are taken from the committed manifests (never by listing folders), so the job reads exactly what
    was committed. ``output`` is a fresh folder the job may write (e.g. ``hdfs:///tmp/zaloni/<run id>``);
    ``path_prefix`` makes lake paths visible to Spark (``hdfs://namenode:8020`` for a ``webhdfs://`` lake; local
    lakes get ``file://``).
    """
    # fail here, in the task, rather than in the cluster
    parts, quarantine, out_partition = _checked_datasets(
        lake, source, partitions, target, quarantine, cdc, target_partition
    )
    parse_rules(rules)

    def url(path: str) -> str:
        if path_prefix:
            return path_prefix.rstrip("/") + path
        return f"file://{path}" if lake.storage.protocol == "file" else path

    base = None
    if cdc is not None:
        earlier = [p for p in lake.partitions(target) if p < out_partition]
        if earlier:
            base = {"partition": earlier[-1], "paths": [url(f) for f in lake.data_files(target, earlier[-1])]}
    return {
        "source": source.key,
        "target": target.key,
        "quarantine": quarantine.key,
        "partitions": [{"partition": p, "paths": [url(f) for f in lake.data_files(source, p)]} for p in parts],
        "target_partition": out_partition,
        "base": base,
        "rules": [r.to_dict() for r in parse_rules(rules)],
        "cdc": cdc.to_dict() if cdc else None,
        "max_quarantined_rows": max_quarantined_rows,
        "max_quarantined_fraction": max_quarantined_fraction,
        "reference_time": reference_time.isoformat() if reference_time else None,
        "output": output,
    }


def publish_spark_output(
    lake: Lake,
    spec: Mapping[str, Any],
    *,
    run_id: str | None = None,
    try_number: int | None = None,
    producer: str = "airflow_zaloni.promote_spark",
    batch_rows: int = BATCH_ROWS,
    task: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Commit what the Spark job wrote under ``spec["output"]``: passing rows and quarantine in ONE transaction.

    The report the job wrote decides: a broken threshold raises :class:`QualityError` and nothing is published.
    The Parquet files are streamed batch by batch through the lake writer (bounded memory, checksums, manifests
    with the job's counts). ``task`` is recorded as in :func:`promote`.
    """
    import pyarrow.fs as pafs

    output = str(spec["output"]).rstrip("/")
    fs, out_path = pafs.FileSystem.from_uri(output)
    lines: list[str] = []
    for info in fs.get_file_info(pafs.FileSelector(f"{out_path}/report", allow_not_found=True)):
        if info.base_name.startswith("part-"):
            with fs.open_input_stream(info.path) as f:
                lines += [ln for ln in f.read().decode().splitlines() if ln.strip()]
    if len(lines) != 1:
        raise LakeError(f"{output}/report: expected one JSON report line from the Spark job, found {len(lines)}")
    report: dict[str, Any] = json.loads(lines[0])
    if report.get("failures"):
        raise QualityError(
            f"data-quality threshold exceeded promoting {spec['source']} -> {spec['target']} (Spark); nothing was "
            "published: " + "; ".join(report["failures"]),
            report,
        )
    source, target, quarantine = (DatasetRef.parse(spec[k]) for k in ("source", "target", "quarantine"))
    by_partition = {p["partition"]: p for p in report["by_partition"]}

    def copy(folder: str, writer: Any) -> None:
        stream_job_files(writer, fs, folder, batch_rows=batch_rows)

    with lake.transaction(run_id=run_id, try_number=try_number, producer=producer) as txn:
        for item in spec["partitions"]:
            part = item["partition"]
            schema = lake.schema(source, part)
            if schema is None:
                raise LakeError(f"{source} {part}: the manifest records no schema")
            q_writer = txn.writer(
                quarantine, part, schema=_quarantine_schema(schema), source=_describe(lake, source, part)
            )
            copy(f"{out_path}/quarantine/{part}", q_writer)
            q_writer.extra["quality"] = by_partition.get(part, {})
            _record_task(q_writer, task)
            if spec.get("cdc") is None:
                p_writer = txn.writer(target, part, schema=schema, source=_describe(lake, source, part))
                copy(f"{out_path}/passed/{part}", p_writer)
                p_writer.extra["quality"] = by_partition.get(part, {})
                _record_task(p_writer, task)
        if spec.get("cdc") is not None:
            schemas = [lake.schema(source, p["partition"]) for p in spec["partitions"]]
            if spec.get("base"):
                schemas.insert(0, lake.schema(target, spec["base"]["partition"]))
            out_schema = pa.unify_schemas([s for s in schemas if s is not None], promote_options="permissive")
            writer = txn.writer(
                target,
                spec["target_partition"],
                schema=out_schema,
                source={"system": "lake", "dataset": source.key, "engine": "spark", "base": spec.get("base")},
            )
            copy(f"{out_path}/passed/{spec['target_partition']}", writer)
            writer.extra["quality"] = {k: v for k, v in report.items() if k != "by_partition"}
            _record_task(writer, task)
    report["txn_id"] = txn.txn_id
    return report
