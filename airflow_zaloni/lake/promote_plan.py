"""What a promotion computes, independent of the engine that runs it.

The SQL of the checks (one violation column per row rule, the quarantine flag, the list of broken rule names) and of
the change-capture merge is built here for any :class:`~airflow_zaloni.lake.quality.SqlDialect`, so the single-node
engine (:mod:`airflow_zaloni.lake.promote`, DuckDB) and the Spark job (:mod:`airflow_zaloni.lake.promote_spark`)
run the same statements. Counting and thresholds are plain Python shared by both. Nothing here imports an engine.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_zaloni.lake.quality import DatasetRule, NotNull, RowRule, Rule, RuleError, SqlDialect, parse_rules

#: Prefix of internal column names; user columns starting with it are refused so they cannot collide.
INTERNAL = "__zq_"
FILE_COL = INTERNAL + "file"  # the file a row came from (ties in change capture: later file wins)
ROW_COL = INTERNAL + "row"  # its position in the file (then the later row wins)
SRC_COL = INTERNAL + "src"  # -1 for the previous snapshot, else the index of the source partition
DELETED_COL = INTERNAL + "del"
FAILED_RULES_COLUMN = "_dq_failed_rules"
PARTITION_COLUMN = "_dq_partition"
RESERVED = (FAILED_RULES_COLUMN, PARTITION_COLUMN)


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


def promotion_rules(
    rules: Sequence[Rule | Mapping[str, Any]], cdc: ChangeCapture | None
) -> tuple[list[Rule], list[RowRule], list[DatasetRule]]:
    """The rules of a promotion, parsed, with change capture's :func:`key_rule` unless the rules name it already:
    all of them, the row rules and the dataset rules."""
    rule_set = parse_rules(rules)
    if cdc is not None and not any(r.name == "cdc_key_not_null" for r in rule_set):
        rule_set.append(key_rule(cdc))
    row_rules = [r for r in rule_set if isinstance(r, RowRule)]
    dataset_rules = [r for r in rule_set if isinstance(r, DatasetRule)]
    return rule_set, row_rules, dataset_rules


# ------------------------------------------------------------------------------------------------------- checking
@dataclass
class Tally:
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
    violations = [f"{r.violation_sql(d)} AS {d.ident(f'{INTERNAL}v{i}')}" for i, r in enumerate(row_rules)]
    quarantining = [d.ident(f"{INTERNAL}v{i}") for i, r in enumerate(row_rules) if r.action == "quarantine"]
    flag = " OR ".join(quarantining) if quarantining else "FALSE"
    names = [
        f"CASE WHEN {d.ident(f'{INTERNAL}v{i}')} THEN {d.string(r.name or '')} END" for i, r in enumerate(row_rules)
    ]
    return violations, flag, d.non_null_array(names) if names else "NULL"


def check_thresholds(
    tally: Tally,
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
                reasons.append(f"{rule.label} failed: {brief(check)}")
    q, n = tally.quarantined, tally.rows_in
    if max_quarantined_rows is not None and q > max_quarantined_rows:
        reasons.append(f"{q} of {n} rows quarantined, more than max_quarantined_rows={max_quarantined_rows}")
    if max_quarantined_fraction is not None and n and q / n > max_quarantined_fraction:
        reasons.append(
            f"{q} of {n} rows quarantined ({q / n:.2%}), more than max_quarantined_fraction={max_quarantined_fraction}"
        )
    return [f"{tally.partition}: {r}" for r in reasons]


def brief(check: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in check.items() if k not in ("passed", "rule", "action"))


def reserved_columns(names: Sequence[str]) -> list[str]:
    """Column names of the input that would collide with the engine's own columns."""
    return [n for n in names if n.startswith(INTERNAL) or n in RESERVED]


def select_list(names: Sequence[str], d: SqlDialect) -> str:
    return ", ".join(d.ident(n) for n in names)


def checked_sql(source_sql: str, names: Sequence[str], row_rules: Sequence[RowRule], d: SqlDialect) -> str:
    """``source_sql``'s columns ``names`` plus one violation column ``__zq_v<i>`` per row rule."""
    violations = row_rule_columns(row_rules, d)[0]
    return f"SELECT {select_list(names, d)}{''.join(', ' + v for v in violations)} FROM ({source_sql}) src"


def counts_sql(checked: str, row_rules: Sequence[RowRule], d: SqlDialect) -> str:
    """One row: rows broken per row rule (in order), then rows to quarantine."""
    _, flag, _ = row_rule_columns(row_rules, d)
    cols = [d.ident(f"{INTERNAL}v{i}") for i in range(len(row_rules))]
    sums = [f"SUM(CASE WHEN {c} THEN 1 ELSE 0 END)" for c in [*cols, f"({flag})"]]
    return f"SELECT {', '.join(sums)} FROM ({checked}) c"


def quarantine_sql(
    checked: str, names: Sequence[str], row_rules: Sequence[RowRule], partition: str, d: SqlDialect
) -> str:
    """The rows to quarantine with the rules each broke and the partition it came from."""
    _, flag, failed = row_rule_columns(row_rules, d)
    return (
        f"SELECT {select_list(names, d)}, {failed} AS {d.ident(FAILED_RULES_COLUMN)}, "
        f"{d.string(partition)} AS {d.ident(PARTITION_COLUMN)} FROM ({checked}) c WHERE {flag}"
    )


def passed_sql(checked: str, names: Sequence[str], row_rules: Sequence[RowRule], d: SqlDialect) -> str:
    _, flag, _ = row_rule_columns(row_rules, d)
    return f"SELECT {select_list(names, d)} FROM ({checked}) c WHERE NOT ({flag})"


def merge_sql(
    inputs: Sequence[tuple[str, Sequence[str]]],
    out_names: Sequence[str],
    cdc: ChangeCapture,
    d: SqlDialect,
) -> str:
    """The latest row per key over ``inputs`` (each: SQL with its columns plus FILE_COL, ROW_COL and SRC_COL).

    Returns ``out_names`` plus DELETED_COL and SRC_COL; the caller drops deleted rows (and counts them). Columns an
    input lacks are NULL (a column added since the previous snapshot). Written without ``QUALIFY`` or
    ``UNION BY NAME`` so that DuckDB and Spark SQL both run it.
    """
    extra = [FILE_COL, ROW_COL, SRC_COL]
    parts = []
    for sql, columns in inputs:
        have = set(columns)
        cols = [d.ident(n) if n in have else f"NULL AS {d.ident(n)}" for n in [*out_names, *extra]]
        parts.append(f"SELECT {', '.join(cols)} FROM ({sql}) i")
    order = ", ".join(
        [f"{d.ident(c)} DESC NULLS LAST" for c in cdc.order_by]
        + [f"{d.ident(c)} DESC" for c in (SRC_COL, FILE_COL, ROW_COL)]
    )
    rn = d.ident(INTERNAL + "rn")
    ranked = (
        f"SELECT *, row_number() OVER (PARTITION BY {select_list(cdc.key, d)} ORDER BY {order}) AS {rn} "
        f"FROM ({' UNION ALL '.join(parts)}) u"
    )
    return (
        f"SELECT {select_list(out_names, d)}, {cdc.deleted_sql(d)} AS {d.ident(DELETED_COL)}, {d.ident(SRC_COL)} "
        f"FROM ({ranked}) r WHERE {rn} = 1"
    )


def dataset_checks_sql(scan_sql: str, dataset_rules: Sequence[DatasetRule], d: SqlDialect) -> str:
    """One row: the input's row count, then every dataset rule's aggregates in order."""
    aggregates = ["COUNT(*)"] + [a for rule in dataset_rules for a in rule.aggregates(d)]
    return f"SELECT {', '.join(aggregates)} FROM ({scan_sql}) s"


def record_dataset_checks(
    values: Sequence[Any],
    dataset_rules: Sequence[DatasetRule],
    tally: Tally,
    reference_time: dt.datetime | None,
    d: SqlDialect,
) -> None:
    """Put the row count and each dataset rule's verdict (from :func:`dataset_checks_sql`'s row) in the tally."""
    tally.rows_in = int(values[0])
    offset = 1
    for rule in dataset_rules:
        width = len(rule.aggregates(d))
        ok, details = rule.evaluate(values[offset : offset + width], reference_time)
        offset += width
        tally.checks[rule.name or ""] = {"rule": rule.kind, "action": rule.action, "passed": ok, **details}


def totals(tallies: Sequence[Tally], rules: Sequence[Rule]) -> dict[str, Any]:
    """Report fields summed over the source partitions."""
    return {
        "rows_in": sum(t.rows_in for t in tallies),
        "passed": sum(t.passed for t in tallies),
        "quarantined": sum(t.quarantined for t in tallies),
        "failed_by_rule": {r.name: sum(t.failed.get(r.name or "", 0) for t in tallies) for r in rules if r.row_level},
        "by_partition": [t.as_dict(rules) for t in tallies],
    }
