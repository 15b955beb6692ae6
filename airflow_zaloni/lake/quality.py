"""Data-quality rules: small declarative objects that compile to SQL.

A rule is plain data -- a dict such as ``{"rule": "range", "column": "amount", "min": 0}`` or the equivalent
:class:`Range` object -- so rule sets can live in DAG files, YAML, Airflow Variables or ``dag_run.conf`` and be
templated by Airflow before they are parsed.

There are two kinds of rule:

* **row rules** (:class:`NotNull`, :class:`Unique`, :class:`Range`, :class:`AllowedValues`, :class:`Regex`,
  :class:`SqlPredicate`) decide for every row whether it breaks the rule. A row that breaks a rule whose ``action``
  is ``"quarantine"`` (the default) goes to the quarantine dataset with the names of every rule it broke; ``"warn"``
  only counts; ``"fail"`` fails the task on the first broken row.
* **dataset rules** (:class:`RowCount`, :class:`Freshness`) look at the input as a whole. They fail the task
  (``action="fail"``, the default) or only report (``action="warn"``); they never quarantine rows.

Any rule may carry ``max_failed_rows`` and/or ``max_failed_fraction``: when more rows than that break it, the task
fails and nothing is published.

NULL follows SQL ``CHECK`` semantics: a NULL value never breaks a value rule (range, allowed values, regex, SQL
predicate) -- pair it with :class:`NotNull` when a value is required. :class:`Unique` ignores keys that contain a NULL.

Every row rule compiles to one SQL boolean expression that is TRUE exactly when a row breaks it (never NULL), in the
DuckDB dialect for the single-node engine and in the Spark SQL dialect for :mod:`airflow_zaloni.lake.promote_spark`,
so both engines apply the same rules.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

Action = Literal["quarantine", "warn", "fail"]
_ACTIONS = ("quarantine", "warn", "fail")


class RuleError(ValueError):
    """A rule definition is invalid or does not fit the data; the message names the rule and the field."""


# --------------------------------------------------------------------------------------------------------- dialects
class SqlDialect:
    """How a rule is spelled in one SQL engine. Subclasses cover the differences the rules touch."""

    name: ClassVar[str] = "ansi"

    def ident(self, name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def string(self, value: str) -> str:
        return "'" + value.replace("'", "''") + "'"

    def literal(self, value: Any) -> str:
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float):
            if not math.isfinite(value):
                raise RuleError(f"non-finite number {value!r} cannot be a rule bound")
            return repr(value)
        if isinstance(value, dt.datetime):
            return f"TIMESTAMP {self.string(value.isoformat(sep=' '))}"
        if isinstance(value, dt.date):
            return f"DATE {self.string(value.isoformat())}"
        if isinstance(value, str):
            return self.string(value)
        raise RuleError(f"unsupported literal {value!r} ({type(value).__name__})")

    def regex_search(self, expr: str, pattern: str) -> str:
        raise NotImplementedError

    def non_null_array(self, exprs: Sequence[str]) -> str:
        """An array of the given string expressions with the NULL ones left out."""
        raise NotImplementedError


class DuckDBDialect(SqlDialect):
    name = "duckdb"

    def regex_search(self, expr: str, pattern: str) -> str:
        # regexp_matches is a search (like re.search) with RE2 syntax, as Spark's RLIKE is a Java regex find().
        return f"regexp_matches({expr}, {self.string(pattern)})"

    def non_null_array(self, exprs: Sequence[str]) -> str:
        return f"list_filter([{', '.join(exprs)}], lambda x: x IS NOT NULL)"


class SparkDialect(SqlDialect):
    name = "spark"

    def ident(self, name: str) -> str:
        return "`" + name.replace("`", "``") + "`"

    def string(self, value: str) -> str:
        # Spark SQL string literals interpret backslash escapes (unless spark.sql.parser.escapedStringLiterals).
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

    def regex_search(self, expr: str, pattern: str) -> str:
        return f"{expr} RLIKE {self.string(pattern)}"

    def non_null_array(self, exprs: Sequence[str]) -> str:
        return f"filter(array({', '.join(exprs)}), x -> x IS NOT NULL)"


DUCKDB = DuckDBDialect()
SPARK = SparkDialect()


# ----------------------------------------------------------------------------------------------------------- rules
@dataclass(kw_only=True)
class Rule:
    """Common fields of every rule.

    :param name: name reported in counts and in the quarantine's ``_dq_failed_rules`` column; defaults to
        ``kind(columns)``. Names must be unique within a rule set.
    :param action: ``"quarantine"``, ``"warn"`` or ``"fail"`` (see the module documentation).
    :param max_failed_rows: fail the task when more rows than this break the rule.
    :param max_failed_fraction: fail the task when more than this fraction (0..1) of the input rows break the rule.
    """

    kind: ClassVar[str] = ""
    row_level: ClassVar[bool] = True
    default_action: ClassVar[Action] = "quarantine"

    name: str | None = None
    action: Action | None = None
    max_failed_rows: int | None = None
    max_failed_fraction: float | None = None

    def __post_init__(self) -> None:
        if self.action is None:
            self.action = self.default_action
        if self.action not in _ACTIONS:
            raise RuleError(f"{self.label}: action must be one of {_ACTIONS}, got {self.action!r}")
        if not self.row_level and self.action == "quarantine":
            raise RuleError(f"{self.label}: a dataset rule cannot quarantine rows; use action 'fail' or 'warn'")
        if self.max_failed_rows is not None:
            self.max_failed_rows = _as_int(self.max_failed_rows, f"{self.label}: max_failed_rows")
            if self.max_failed_rows < 0:
                raise RuleError(f"{self.label}: max_failed_rows must be >= 0")
        if self.max_failed_fraction is not None:
            self.max_failed_fraction = _as_float(self.max_failed_fraction, f"{self.label}: max_failed_fraction")
            if not 0 <= self.max_failed_fraction <= 1:
                raise RuleError(f"{self.label}: max_failed_fraction must be between 0 and 1")
        if self.name is None:
            self.name = self.default_name()
        if not isinstance(self.name, str) or not self.name:
            raise RuleError(f"{self.kind}: name must be a non-empty string")

    @property
    def label(self) -> str:
        return f"rule {self.name or self.default_name()!r}"

    def default_name(self) -> str:
        return f"{self.kind}({', '.join(self.columns())})"

    def columns(self) -> list[str]:
        """Columns the rule reads (checked against the input schema before anything runs)."""
        return []

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able form, accepted back by :func:`rule_from_dict`."""
        out: dict[str, Any] = {"rule": self.kind}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not None and value != f.default:
                out[f.name] = _jsonable(value)
        return out

    def check_failures(self, failed: int, rows: int) -> str | None:
        """Why ``failed`` broken rows out of ``rows`` fail the task, or None if they do not."""
        if failed and self.action == "fail":
            return f"{self.label} broke on {failed} of {rows} rows and its action is 'fail'"
        if self.max_failed_rows is not None and failed > self.max_failed_rows:
            return f"{self.label} broke on {failed} of {rows} rows, more than max_failed_rows={self.max_failed_rows}"
        if self.max_failed_fraction is not None and rows and failed / rows > self.max_failed_fraction:
            return (
                f"{self.label} broke on {failed} of {rows} rows ({failed / rows:.2%}), more than "
                f"max_failed_fraction={self.max_failed_fraction}"
            )
        return None


class RowRule(Rule):
    """A rule decided row by row."""

    def violation_sql(self, d: SqlDialect) -> str:
        """A SQL boolean expression, TRUE exactly when the row breaks the rule, never NULL."""
        return f"COALESCE({self._violation(d)}, FALSE)"

    def _violation(self, d: SqlDialect) -> str:
        raise NotImplementedError


class DatasetRule(Rule):
    """A rule decided once for the whole input from SQL aggregates."""

    row_level = False
    default_action: ClassVar[Action] = "fail"

    def aggregates(self, d: SqlDialect) -> list[str]:
        """SQL aggregate expressions over the input whose values :meth:`evaluate` receives, in order."""
        raise NotImplementedError

    def evaluate(self, values: Sequence[Any], reference_time: dt.datetime | None) -> tuple[bool, dict[str, Any]]:
        """Whether the input passes, and JSON-able details for the report."""
        raise NotImplementedError


def _cols(value: str | Sequence[str], label: str) -> list[str]:
    cols = [value] if isinstance(value, str) else list(value)
    if not cols or not all(isinstance(c, str) and c for c in cols):
        raise RuleError(f"{label}: column(s) must be a non-empty string or list of strings, got {value!r}")
    return cols


@dataclass(kw_only=True)
class NotNull(RowRule):
    """The column(s) must not be NULL. ``{"rule": "not_null", "column": "id"}``; a list checks each column."""

    kind = "not_null"
    column: str | list[str]

    def columns(self) -> list[str]:
        return _cols(self.column, self.kind)

    def _violation(self, d: SqlDialect) -> str:
        return " OR ".join(f"{d.ident(c)} IS NULL" for c in self.columns())


@dataclass(kw_only=True)
class Unique(RowRule):
    """No two input rows share the value of the column(s); every row of a duplicated key breaks the rule.

    Checked within each source partition being promoted (not against what the target already holds), so a partition
    gets the same verdict whether it is promoted alone or with others. Keys with a NULL part are not checked, as in
    a SQL ``UNIQUE`` constraint.
    """

    kind = "unique"
    column: str | list[str]

    def columns(self) -> list[str]:
        return _cols(self.column, self.kind)

    def _violation(self, d: SqlDialect) -> str:
        cols = [d.ident(c) for c in self.columns()]
        not_null = " AND ".join(f"{c} IS NOT NULL" for c in cols)
        return f"({not_null} AND COUNT(*) OVER (PARTITION BY {', '.join(cols)}) > 1)"


@dataclass(kw_only=True)
class Range(RowRule):
    """``min <= column <= max`` (either bound optional; ``inclusive=False`` makes both strict).

    Bounds are numbers, or ISO date/timestamp strings for temporal columns (compared after the engine's cast).
    """

    kind = "range"
    column: str
    min: Any = None
    max: Any = None
    inclusive: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.min is None and self.max is None:
            raise RuleError(f"{self.label}: give min, max or both")
        for bound in (self.min, self.max):
            if (bound is not None and not isinstance(bound, (int, float, str, dt.date))) or isinstance(bound, bool):
                raise RuleError(f"{self.label}: bound {bound!r} is not a number, date or string")

    def columns(self) -> list[str]:
        return _cols(self.column, self.kind)

    def _violation(self, d: SqlDialect) -> str:
        c = d.ident(self.column)
        lo, hi = ("<", ">") if self.inclusive else ("<=", ">=")
        parts = []
        if self.min is not None:
            parts.append(f"{c} {lo} {d.literal(self.min)}")
        if self.max is not None:
            parts.append(f"{c} {hi} {d.literal(self.max)}")
        return "(" + " OR ".join(parts) + ")"


@dataclass(kw_only=True)
class AllowedValues(RowRule):
    """The column's value is one of ``values``. ``{"rule": "allowed_values", "column": "status", "values": [...]}``."""

    kind = "allowed_values"
    column: str
    values: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.values, (str, bytes)) or not isinstance(self.values, Iterable):
            raise RuleError(f"{self.label}: values must be a list, got {self.values!r}")
        self.values = list(self.values)
        if not self.values:
            raise RuleError(f"{self.label}: values must not be empty")

    def columns(self) -> list[str]:
        return _cols(self.column, self.kind)

    def _violation(self, d: SqlDialect) -> str:
        return f"{d.ident(self.column)} NOT IN ({', '.join(d.literal(v) for v in self.values if v is not None)})"


@dataclass(kw_only=True)
class Regex(RowRule):
    """The string column contains a match of ``pattern`` (a search; anchor with ``^...$`` for a full match).

    Use the common subset of RE2 (DuckDB) and Java (Spark) syntax so both engines agree.
    """

    kind = "regex"
    column: str
    pattern: str

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.pattern, str):
            raise RuleError(f"{self.label}: pattern must be a string")
        try:
            re.compile(self.pattern)
        except re.error as exc:
            raise RuleError(f"{self.label}: invalid regular expression {self.pattern!r}: {exc}") from None

    def columns(self) -> list[str]:
        return _cols(self.column, self.kind)

    def _violation(self, d: SqlDialect) -> str:
        return f"NOT ({d.regex_search(d.ident(self.column), self.pattern)})"


@dataclass(kw_only=True)
class SqlPredicate(RowRule):
    """A row passes when the SQL boolean ``expression`` holds (NULL passes, as in a ``CHECK`` constraint).

    The expression is inserted into the engine's SQL as written, so keep to syntax that DuckDB and Spark share when
    both engines are used (``amount * qty < 1e6``, ``ship_date >= order_date``). Quote odd column names yourself.
    """

    kind = "sql"
    expression: str

    def __post_init__(self) -> None:
        if not isinstance(self.expression, str) or not self.expression.strip():
            raise RuleError(f"rule {self.name!r}: expression must be a non-empty SQL boolean expression")
        if ";" in self.expression:
            raise RuleError(f"rule {self.name!r}: expression must be one expression, without ';'")
        super().__post_init__()

    def default_name(self) -> str:
        text = " ".join(self.expression.split())
        return f"sql({text[:60]}{'...' if len(text) > 60 else ''})"

    def _violation(self, d: SqlDialect) -> str:
        return f"NOT ({self.expression})"


@dataclass(kw_only=True)
class RowCount(DatasetRule):
    """The number of input rows is within ``min``..``max`` (either optional)."""

    kind = "row_count"
    min: int | None = None
    max: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.min is None and self.max is None:
            raise RuleError(f"{self.label}: give min, max or both")
        self.min = None if self.min is None else _as_int(self.min, f"{self.label}: min")
        self.max = None if self.max is None else _as_int(self.max, f"{self.label}: max")

    def default_name(self) -> str:
        return "row_count"

    def aggregates(self, d: SqlDialect) -> list[str]:
        return ["COUNT(*)"]

    def evaluate(self, values: Sequence[Any], reference_time: dt.datetime | None) -> tuple[bool, dict[str, Any]]:
        rows = int(values[0])
        ok = (self.min is None or rows >= self.min) and (self.max is None or rows <= self.max)
        return ok, {"rows": rows, "min": self.min, "max": self.max}


@dataclass(kw_only=True)
class Freshness(DatasetRule):
    """The newest value of a timestamp/date ``column`` is at most ``max_age`` older than the reference time.

    The reference time is the end of the run's data interval (not the wall clock), so a re-run of an old interval
    judges the data as the original run did. ``max_age`` is seconds or a string such as ``"36h"``, ``"2d"``,
    ``"90m"``, ``"1d12h"``. Naive timestamps are taken as UTC. An input without any value fails.
    """

    kind = "freshness"
    column: str
    max_age: int | float | str

    def __post_init__(self) -> None:
        super().__post_init__()
        self.max_age_seconds = parse_duration(self.max_age, f"{self.label}: max_age")

    def columns(self) -> list[str]:
        return _cols(self.column, self.kind)

    def aggregates(self, d: SqlDialect) -> list[str]:
        return [f"MAX({d.ident(self.column)})"]

    def evaluate(self, values: Sequence[Any], reference_time: dt.datetime | None) -> tuple[bool, dict[str, Any]]:
        newest = values[0]
        if reference_time is None:
            raise RuleError(f"{self.label}: a reference time (the data interval end) is needed")
        ref = _utc(reference_time)
        if newest is None:
            return False, {"newest": None, "reference_time": ref.isoformat(), "max_age_seconds": self.max_age_seconds}
        if isinstance(newest, dt.date) and not isinstance(newest, dt.datetime):
            # A date counts as fresh until the end of that day.
            newest = dt.datetime.combine(newest + dt.timedelta(days=1), dt.time())
        if not isinstance(newest, dt.datetime):
            raise RuleError(f"{self.label}: column {self.column!r} is not a timestamp or date (got {newest!r})")
        newest = _utc(newest)
        age = (ref - newest).total_seconds()
        return age <= self.max_age_seconds, {
            "newest": newest.isoformat(),
            "reference_time": ref.isoformat(),
            "age_seconds": age,
            "max_age_seconds": self.max_age_seconds,
        }


RULE_TYPES: dict[str, type[Rule]] = {
    cls.kind: cls for cls in (NotNull, Unique, Range, AllowedValues, Regex, SqlPredicate, RowCount, Freshness)
}


def rule_from_dict(spec: Mapping[str, Any], *, where: str = "rule") -> Rule:
    """Build a rule from its dict form, e.g. ``{"rule": "not_null", "column": "id"}``.

    :param where: how to name the rule in errors (e.g. ``"rules[3]"``).
    """
    if not isinstance(spec, Mapping):
        raise RuleError(f"{where}: a rule is a dict with a 'rule' key, got {spec!r}")
    kind = spec.get("rule")
    cls = RULE_TYPES.get(str(kind))
    if cls is None:
        raise RuleError(f"{where}: unknown rule {kind!r}; known rules: {', '.join(sorted(RULE_TYPES))}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(spec) - known - {"rule"})
    if unknown:
        raise RuleError(f"{where} ({kind}): unknown field(s) {unknown}; allowed: {sorted(known)}")
    try:
        return cls(**{k: v for k, v in spec.items() if k != "rule"})
    except TypeError as exc:
        raise RuleError(f"{where} ({kind}): {exc}") from None
    except RuleError as exc:
        raise RuleError(f"{where}: {exc}") from None


def parse_rules(rules: Iterable[Rule | Mapping[str, Any]] | None) -> list[Rule]:
    """Turn a rule set (dicts and/or rule objects) into rule objects, checking that the names are unique."""
    out: list[Rule] = []
    for i, spec in enumerate(rules or []):
        out.append(spec if isinstance(spec, Rule) else rule_from_dict(spec, where=f"rules[{i}]"))
    seen: set[str] = set()
    for rule in out:
        assert rule.name is not None
        if rule.name in seen:
            raise RuleError(f"two rules are named {rule.name!r}; give one of them a distinct 'name'")
        seen.add(rule.name)
    return out


def check_columns(rules: Sequence[Rule], columns: Iterable[str], *, dataset: str) -> None:
    """Fail early, naming the rule and the dataset, when a rule reads a column the input does not have."""
    have = set(columns)
    for rule in rules:
        missing = [c for c in rule.columns() if c not in have]
        if missing:
            raise RuleError(
                f"{rule.label}: column(s) {missing} not found in {dataset} (columns: {', '.join(sorted(have))})"
            )


# --------------------------------------------------------------------------------------------------------- helpers
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([wdhms])", re.IGNORECASE)
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(value: Any, label: str = "duration") -> float:
    """Seconds from a number or a string like ``"36h"``, ``"1d12h"``, ``"90m"``, ``"45s"``, ``"2w"``."""
    if isinstance(value, bool):
        raise RuleError(f"{label}: expected a duration, got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, dt.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            parts = _DURATION.findall(text)
            if not parts or _DURATION.sub("", text).strip():
                raise RuleError(f"{label}: cannot read duration {value!r} (use e.g. '36h', '2d', '1d12h')") from None
            seconds = sum(float(n) * _UNIT_SECONDS[u.lower()] for n, u in parts)
    else:
        raise RuleError(f"{label}: expected a duration, got {value!r}")
    if seconds < 0 or not math.isfinite(seconds):
        raise RuleError(f"{label}: duration must be a finite non-negative number of seconds")
    return seconds


def _as_int(value: Any, label: str) -> int:
    try:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError
        return int(value)
    except (TypeError, ValueError):
        raise RuleError(f"{label} must be an integer, got {value!r}") from None


def _as_float(value: Any, label: str) -> float:
    try:
        if isinstance(value, bool):
            raise ValueError
        return float(value)
    except (TypeError, ValueError):
        raise RuleError(f"{label} must be a number, got {value!r}") from None


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
