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
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from airflow_zaloni.lake.errors import LakeError
from airflow_zaloni.lake.paths import DatasetRef, validate_partition
from airflow_zaloni.lake.quality import (
    DUCKDB,
    DatasetRule,
    NotNull,
    RowRule,
    Rule,
    RuleError,
    SqlDialect,
    check_columns,
    parse_rules,
)
from airflow_zaloni.utils.prefetch import prefetch

if TYPE_CHECKING:
    import duckdb

    from airflow_zaloni.lake.lake import Lake

log = logging.getLogger(__name__)

QUARANTINE_SUFFIX = "__quarantine"
FAILED_RULES_COLUMN = "_dq_failed_rules"
PARTITION_COLUMN = "_dq_partition"
BATCH_ROWS = 131_072
# Internal column names; user columns starting with "__zq_" are refused so they cannot collide.
_INTERNAL = "__zq_"


class QualityError(LakeError):
    """The data broke a threshold of the rule set; nothing was published. ``report`` holds the counts."""

    def __init__(self, message: str, report: dict[str, Any]) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class ChangeCapture:
    """Keep the latest row per ``key`` in the target; apply deletes.

    :param key: key column(s).
    :param order_by: column(s) ordering versions of a key (e.g. ``SystemModstamp``, ``updated_at``, a sequence
        number); the greatest wins, NULL counts as oldest.
    :param delete_column: column marking deleted rows (e.g. Salesforce ``IsDeleted``, an ``op`` column).
    :param delete_values: values of ``delete_column`` that mean deleted; default: the column is true.
    """

    key: list[str]
    order_by: list[str]
    delete_column: str | None = None
    delete_values: list[Any] | None = None

    def __post_init__(self) -> None:
        self.key = [self.key] if isinstance(self.key, str) else list(self.key)
        self.order_by = [self.order_by] if isinstance(self.order_by, str) else list(self.order_by or [])
        if not self.key:
            raise RuleError("change capture needs at least one key column")
        if not self.order_by:
            raise RuleError("change capture needs an ordering column (order_by), e.g. 'updated_at' or 'SystemModstamp'")
        if self.delete_values is not None and not self.delete_values:
            raise RuleError("delete_values must not be empty (leave it unset to mean: delete_column is true)")

    def columns(self) -> list[str]:
        return [*self.key, *self.order_by, *([self.delete_column] if self.delete_column else [])]

    def deleted_sql(self, d: SqlDialect) -> str:
        if not self.delete_column:
            return "FALSE"
        col = d.ident(self.delete_column)
        if self.delete_values is None:
            return f"COALESCE(CAST({col} AS BOOLEAN), FALSE)"
        return f"COALESCE({col} IN ({', '.join(d.literal(v) for v in self.delete_values)}), FALSE)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "order_by": self.order_by,
            "delete_column": self.delete_column,
            "delete_values": self.delete_values,
        }


def key_rule(cdc: ChangeCapture) -> NotNull:
    """Rows without a key cannot take part in change capture: they are quarantined by this implicit rule."""
    return NotNull(column=list(cdc.key), name="cdc_key_not_null")


# ------------------------------------------------------------------------------------------------------- checking
@dataclass
class _Tally:
    """Counts for one source partition."""

    partition: str
    rows_in: int = 0
    passed: int = 0
    quarantined: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self, rules: Sequence[Rule]) -> dict[str, Any]:
        return {
            "partition": self.partition,
            "rows_in": self.rows_in,
            "passed": self.passed,
            "quarantined": self.quarantined,
            "rules": {
                r.name: {"rule": r.kind, "action": r.action, "failed": self.failed.get(r.name or "", 0)}
                for r in rules
                if r.row_level
            },
            "checks": self.checks,
        }


def row_rule_columns(row_rules: Sequence[RowRule], d: SqlDialect) -> tuple[list[str], str, str]:
    """SQL for the per-rule violation columns, the quarantine flag and the failed-rules list.

    Returns (``[violation AS __zq_v<i>, ...]``, quarantine flag over those columns, list of broken rule names over
    those columns), to be used in two SELECT levels (the flag and list refer to the columns of the inner level).
    """
    violations = [f"{r.violation_sql(d)} AS {d.ident(f'{_INTERNAL}v{i}')}" for i, r in enumerate(row_rules)]
    quarantining = [d.ident(f"{_INTERNAL}v{i}") for i, r in enumerate(row_rules) if r.action == "quarantine"]
    flag = " OR ".join(quarantining) if quarantining else "FALSE"
    names = [
        f"CASE WHEN {d.ident(f'{_INTERNAL}v{i}')} THEN {d.string(r.name or '')} END" for i, r in enumerate(row_rules)
    ]
    return violations, flag, d.non_null_array(names) if names else "NULL"


def check_thresholds(
    tally: _Tally,
    rules: Sequence[Rule],
    *,
    max_quarantined_rows: int | None,
    max_quarantined_fraction: float | None,
) -> list[str]:
    """Every reason the tally fails the task (empty: it passes)."""
    reasons = []
    for rule in rules:
        if rule.row_level:
            why = rule.check_failures(tally.failed.get(rule.name or "", 0), tally.rows_in)
            if why:
                reasons.append(why)
        else:
            check = tally.checks.get(rule.name or "")
            if check is not None and not check["passed"] and rule.action == "fail":
                reasons.append(f"{rule.label} failed: {_brief(check)}")
    q, n = tally.quarantined, tally.rows_in
    if max_quarantined_rows is not None and q > max_quarantined_rows:
        reasons.append(f"{q} of {n} rows quarantined, more than max_quarantined_rows={max_quarantined_rows}")
    if max_quarantined_fraction is not None and n and q / n > max_quarantined_fraction:
        reasons.append(
            f"{q} of {n} rows quarantined ({q / n:.2%}), more than max_quarantined_fraction={max_quarantined_fraction}"
        )
    return [f"{tally.partition}: {r}" for r in reasons]


def _brief(check: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in check.items() if k not in ("passed", "rule", "action"))


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
        bad = [n for n in schema.names if n.startswith(_INTERNAL) or n in (FAILED_RULES_COLUMN, PARTITION_COLUMN)]
        if bad:
            raise LakeError(f"{ref} {partition}: column name(s) {bad} are reserved by the promotion engine")
        extra = f", filename={DUCKDB.string(_INTERNAL + 'file')}, file_row_number=true" if positions else ""
        if files:
            listing = ", ".join(DUCKDB.string(self.url(f)) for f in files)
            sql = f"SELECT * FROM read_parquet([{listing}], union_by_name=true{extra})"
            if positions:
                sql = f"SELECT * RENAME (file_row_number AS {DUCKDB.ident(_INTERNAL + 'row')}) FROM ({sql})"
        else:
            # A partition committed without any file (a writer that saw no batch and no schema): no rows.
            self._n += 1
            name = f"{_INTERNAL}empty{self._n}"
            empty = schema.empty_table()
            if positions:
                empty = empty.append_column(_INTERNAL + "file", pa.array([], pa.string()))
                empty = empty.append_column(_INTERNAL + "row", pa.array([], pa.int64()))
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


def _select_list(names: Sequence[str]) -> str:
    return ", ".join(DUCKDB.ident(n) for n in names)


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
    :param memory_limit: DuckDB memory limit (beyond it, sort and window state spill to ``temp_dir``).
    :param threads: DuckDB threads (default: all cores).
    :param progress: called with one line per step (the operator passes the task log).
    :return: the report (JSON-able): rows in, passed, quarantined, per-rule counts, change-capture counts.
    """
    say = progress or log.info
    started = time.monotonic()
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
    rule_set = parse_rules(rules)
    if cdc is not None and not any(r.name == "cdc_key_not_null" for r in rule_set):
        rule_set.append(key_rule(cdc))
    quarantine = quarantine or DatasetRef(target.zone, target.system, target.name + QUARANTINE_SUFFIX)
    if target == source or quarantine in (source, target):
        raise LakeError(f"source {source}, target {target} and quarantine {quarantine} must be different datasets")
    out_partition = validate_partition(target_partition or parts[-1])
    if cdc is None and target_partition not in (None, *parts):
        raise LakeError("target_partition applies to change capture only; without a key each partition keeps its name")

    row_rules = [r for r in rule_set if isinstance(r, RowRule)]
    dataset_rules = [r for r in rule_set if isinstance(r, DatasetRule)]
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
    tallies: list[_Tally] = []
    try:
        with lake.transaction(run_id=run_id, try_number=try_number, producer=producer) as txn:
            schemas: list[pa.Schema] = []
            for part in parts:
                scan_sql, schema = engine.scan(lake, source, part, positions=cdc is not None)
                schemas.append(schema)
                check_columns(rule_set, schema.names, dataset=f"{source} {part}")
                if cdc is not None:
                    _require_columns(cdc.columns(), schema, f"change capture: {source} {part}")
                tally = _Tally(part)
                tallies.append(tally)
                _dataset_checks(engine, scan_sql, dataset_rules, tally, reference_time)
                reasons = check_thresholds(
                    tally, dataset_rules, max_quarantined_rows=None, max_quarantined_fraction=None
                )
                if reasons:
                    _fail(reasons, report, tallies, rule_set)
                say(f"{source} {part}: {tally.rows_in} rows in; checking {len(row_rules)} row rule(s)")
                q_schema = schema.append(pa.field(FAILED_RULES_COLUMN, pa.list_(pa.string()))).append(
                    pa.field(PARTITION_COLUMN, pa.string())
                )
                q_writer = txn.writer(quarantine, part, schema=q_schema, source=_describe(lake, source, part))
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
                if p_writer is not None:
                    p_writer.extra["quality"] = tally.as_dict(rule_set)
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
    finally:
        engine.close()
    report["txn_id"] = txn.txn_id
    return report


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
    tally: _Tally,
    reference_time: dt.datetime | None,
) -> None:
    aggregates = ["COUNT(*)"]
    slots: list[tuple[DatasetRule, int, int]] = []
    for rule in dataset_rules:
        exprs = rule.aggregates(DUCKDB)
        slots.append((rule, len(aggregates), len(aggregates) + len(exprs)))
        aggregates.extend(exprs)
    values = engine.one(f"SELECT {', '.join(aggregates)} FROM ({scan_sql})")
    tally.rows_in = int(values[0])
    for rule, lo, hi in slots:
        ok, details = rule.evaluate(values[lo:hi], reference_time)
        tally.checks[rule.name or ""] = {"rule": rule.kind, "action": rule.action, "passed": ok, **details}
        if not ok and rule.action == "warn":
            log.warning("%s: %s did not pass (warn only): %s", tally.partition, rule.label, _brief(details))


def _split(
    engine: _DuckDB,
    scan_sql: str,
    schema: pa.Schema,
    row_rules: Sequence[RowRule],
    tally: _Tally,
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
            for batch in engine.stream(f"SELECT {_select_list(names)} FROM ({scan_sql})", batch_rows):
                p_writer.write_batch(batch)
                tally.passed += batch.num_rows
        else:
            tally.passed = tally.rows_in
        return
    violations, flag, failed_list = row_rule_columns(row_rules, DUCKDB)
    flag_col, list_col = f"{_INTERNAL}q", FAILED_RULES_COLUMN
    inner = f"SELECT {_select_list(names)}, {', '.join(violations)} FROM ({scan_sql})"
    v_cols = [DUCKDB.ident(f"{_INTERNAL}v{i}") for i in range(len(row_rules))]
    if p_writer is None:
        # Change capture: the merge re-applies the filter itself; here only the quarantine and the counts are needed.
        counts = engine.one(
            f"SELECT {', '.join(f'COUNT(*) FILTER (WHERE {v})' for v in v_cols)}, COUNT(*) FILTER (WHERE {flag}) "
            f"FROM ({inner})"
        )
        for rule, n in zip(row_rules, counts[:-1]):
            tally.failed[rule.name or ""] = int(n)
        tally.quarantined = int(counts[-1])
        tally.passed = tally.rows_in - tally.quarantined
        q_sql = f"SELECT {_select_list(names)}, {failed_list} AS {DUCKDB.ident(list_col)} FROM ({inner}) WHERE {flag}"
        for batch in engine.stream(q_sql, batch_rows):
            q_writer.write_batch(_with_partition(batch, part))
        return
    sql = (
        f"SELECT {_select_list(names)}, {', '.join(v_cols)}, {flag} AS {DUCKDB.ident(flag_col)}, "
        f"CASE WHEN {flag} THEN {failed_list} END AS {DUCKDB.ident(list_col)} FROM ({inner})"
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
    inputs: list[str] = []
    all_schemas = list(schemas)
    pos_cols = [f"{_INTERNAL}file", f"{_INTERNAL}row"]
    if base is not None:
        base_sql, base_schema = engine.scan(lake, target, base, positions=True)
        all_schemas.insert(0, base_schema)
        inputs.append(f"SELECT *, -1 AS {DUCKDB.ident(_INTERNAL + 'src')} FROM ({base_sql})")
    _, flag, _ = row_rule_columns(row_rules, DUCKDB)
    for index, part in enumerate(parts):
        scan_sql, schema = engine.scan(lake, source, part, positions=True)
        names = [*schema.names, *pos_cols]
        violations = row_rule_columns(row_rules, DUCKDB)[0]
        inner = f"SELECT {_select_list(names)}{''.join(', ' + v for v in violations)} FROM ({scan_sql})"
        src = DUCKDB.ident(_INTERNAL + "src")
        inputs.append(f"SELECT {_select_list(names)}, {index} AS {src} FROM ({inner}) WHERE NOT ({flag})")
    try:
        out_schema = pa.unify_schemas(all_schemas, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise LakeError(
            f"{target}: the snapshot {base} and {source} {list(parts)} have incompatible schemas: {exc}"
        ) from exc
    d = DUCKDB
    order = ", ".join(
        [f"{d.ident(c)} DESC NULLS LAST" for c in cdc.order_by]
        + [f"{d.ident(_INTERNAL + c)} DESC" for c in ("src", "file", "row")]
    )
    unioned = " UNION ALL BY NAME ".join(f"({s})" for s in inputs)
    latest = (
        f"SELECT *, {cdc.deleted_sql(d)} AS {d.ident(_INTERNAL + 'del')} FROM ({unioned}) "
        f"QUALIFY row_number() OVER (PARTITION BY {_select_list(cdc.key)} ORDER BY {order}) = 1"
    )
    names = list(out_schema.names)
    sql = f"SELECT {_select_list(names)}, {d.ident(_INTERNAL + 'del')}, {d.ident(_INTERNAL + 'src')} FROM ({latest})"
    writer = txn.writer(
        target,
        out_partition,
        schema=out_schema,
        source={"system": "lake", "dataset": source.key, "partitions": list(parts), "base_partition": base},
    )
    rows_out = deleted_keys = unchanged = 0
    for batch in engine.stream(sql, batch_rows):
        deleted = batch.column(_INTERNAL + "del")
        from_base = pc.equal(batch.column(_INTERNAL + "src"), -1)
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


def _fail(reasons: list[str], report: dict[str, Any], tallies: list[_Tally], rules: Sequence[Rule]) -> None:
    _totals(report, tallies, rules)
    report["failures"] = reasons
    raise QualityError(
        f"data-quality threshold exceeded promoting {report['source']} -> {report['target']}; nothing was published: "
        + "; ".join(reasons),
        report,
    )


def _totals(report: dict[str, Any], tallies: Sequence[_Tally], rules: Sequence[Rule]) -> None:
    report["rows_in"] = sum(t.rows_in for t in tallies)
    report["passed"] = sum(t.passed for t in tallies)
    report["quarantined"] = sum(t.quarantined for t in tallies)
    report["failed_by_rule"] = {
        r.name: sum(t.failed.get(r.name or "", 0) for t in tallies) for r in rules if r.row_level
    }
    report["by_partition"] = [t.as_dict(rules) for t in tallies]


__all__ = [
    "FAILED_RULES_COLUMN",
    "PARTITION_COLUMN",
    "QUARANTINE_SUFFIX",
    "ChangeCapture",
    "QualityError",
    "promote",
]
