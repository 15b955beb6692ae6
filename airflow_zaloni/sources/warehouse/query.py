"""The SQL an extraction runs: the base query, its predicates and the helper queries (count, bounds).

Only identifiers the user names (table, columns, incremental and split columns) become SQL text, each quoted by
the :class:`~airflow_zaloni.sources.warehouse.dialect.SqlDialect`. Every value is a bound parameter. A free-form
``sql`` query is wrapped as a subquery so predicates apply to its result columns whatever it joins or computes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_zaloni.sources.base import SourceError
from airflow_zaloni.sources.warehouse.dialect import SqlDialect

#: Alias of the wrapped query; predicates qualify columns with it.
ALIAS = "zq"

#: Marks a bound value while the predicate text is assembled; identifiers cannot hold it (they refuse NUL).
MARK = "\x00"

#: Values bound to the user's own ``sql``: a sequence for positional markers, a mapping for named ones.
Parameters = Sequence[Any] | Mapping[str, Any]
#: What a statement is executed with: ``None`` (no parameter processing at all), a list or a dict.
Bound = list[Any] | dict[str, Any] | None


@dataclass(frozen=True)
class Condition:
    """A predicate on one column with a bound value.

    ``op`` is one of ``>``, ``>=``, ``<``, ``<=``, ``is null``, ``is not null``; ``value`` is bound, never
    formatted into the text (the rendered text holds :data:`MARK` where the driver's marker goes).
    """

    column: str
    op: str
    value: Any = None

    def render(self, dialect: SqlDialect, qualifier: str) -> tuple[str, list[Any]]:
        col = f"{qualifier}.{dialect.quote_identifier(self.column)}"
        if self.op in ("is null", "is not null"):
            return f"{col} {self.op.upper()}", []
        if self.op not in (">", ">=", "<", "<="):
            raise ValueError(f"unsupported operator {self.op!r}")
        return f"{col} {self.op} {MARK}", [self.value]


@dataclass(frozen=True)
class Range:
    """``lower <= column < upper``, either bound optional, optionally OR NULL.

    Split ranges are made of these: the first range also takes the rows whose split column is NULL, so that
    every row is read by exactly one split.
    """

    column: str
    lower: Any = None
    upper: Any = None
    or_null: bool = False

    def render(self, dialect: SqlDialect, qualifier: str) -> tuple[str, list[Any]]:
        col = f"{qualifier}.{dialect.quote_identifier(self.column)}"
        parts, params = [], []
        if self.lower is not None:
            parts.append(f"{col} >= {MARK}")
            params.append(self.lower)
        if self.upper is not None:
            parts.append(f"{col} < {MARK}")
            params.append(self.upper)
        text = " AND ".join(parts) or f"{col} IS NOT NULL"
        if self.or_null:
            text = f"({text}) OR {col} IS NULL"
        return f"({text})", params


Clause = Condition | Range


@dataclass(frozen=True)
class Filter:
    """A conjunction of clauses."""

    clauses: tuple[Clause, ...] = ()

    def render(self, dialect: SqlDialect, qualifier: str) -> tuple[str, list[Any]]:
        texts: list[str] = []
        params: list[Any] = []
        for clause in self.clauses:
            text, values = clause.render(dialect, qualifier)
            texts.append(text)
            params.extend(values)
        return " AND ".join(texts), params

    def and_(self, *clauses: Clause) -> Filter:
        return Filter((*self.clauses, *clauses))


@dataclass(frozen=True)
class QueryPlan:
    """What to read: a table (with optional column list) or a free-form query, in one dialect.

    :param dialect: quoting and placeholder style.
    :param table: a table name, ``schema.table`` allowed; exclusive with ``sql``.
    :param sql: a SELECT statement; wrapped as a subquery.
    :param columns: columns to read from ``table`` (default all).
    :param parameters: values bound to the markers of ``sql``, in the driver's style: a sequence for positional
        markers (``%s``, ``?``), a mapping for named ones (``%(name)s``, ``:name``). The predicates of the read are
        bound alongside them (named ``zaloni_p0``, ... with a mapping).
    """

    dialect: SqlDialect
    table: str | None = None
    sql: str | None = None
    columns: Sequence[str] | None = None
    parameters: Parameters | None = None

    def __post_init__(self) -> None:
        if (self.table is None) == (self.sql is None):
            raise SourceError("give exactly one of 'table' or 'sql'")
        if self.sql is not None and not self.sql.strip():
            raise SourceError("'sql' is empty")
        if self.table is not None and not self.table.strip():
            raise SourceError("'table' is empty")
        if self.parameters is not None:
            if self.table is not None:
                raise SourceError("'parameters' bind values of 'sql'; a 'table' read has none")
            if isinstance(self.parameters, str | bytes) or not isinstance(self.parameters, Sequence | Mapping):
                raise SourceError(
                    f"'parameters' must be a list (positional markers) or a dict (named markers), "
                    f"got {type(self.parameters).__name__}"
                )

    @property
    def named(self) -> bool:
        return isinstance(self.parameters, Mapping)

    def _from(self, params_follow: bool) -> str:
        if self.table is not None:
            cols = ", ".join(self.dialect.quote_identifier(c) for c in self.columns) if self.columns else "*"
            return f"(SELECT {cols} FROM {self.dialect.quote_table(self.table)}) {ALIAS}"
        assert self.sql is not None
        inner = self.sql.strip().rstrip(";")
        if params_follow and self.dialect.placeholder == "%s" and self.parameters is None:
            # With bound parameters, %s-style drivers read every % as a marker: a literal % must be doubled. A query
            # with parameters of its own already follows that rule.
            inner = inner.replace("%", "%%")
        return f"({inner}) {ALIAS}"

    def _bind(self, text: str, values: list[Any], double: bool) -> tuple[str, Bound]:
        """Replace the :data:`MARK` of each value by the driver's marker; join the user's parameters.

        ``double``: the driver will process markers, so a literal ``%`` (inside a quoted identifier) is doubled.
        """
        percent = self.dialect.placeholder == "%s"
        if percent and double:
            text = text.replace("%", "%%")
        if self.named:
            assert isinstance(self.parameters, Mapping)
            bound = dict(self.parameters)
            for i, value in enumerate(values):
                key = f"zaloni_p{i}"
                text = text.replace(MARK, f"%({key})s" if percent else f":{key}", 1)
                bound[key] = value
            return text, bound
        text = text.replace(MARK, self.dialect.placeholder)
        if self.parameters is None:
            return text, values or None
        return text, [*self.parameters, *values]

    def _parts(self, head: str, where: Filter | None) -> tuple[str, Bound]:
        """``head FROM (query) zq WHERE ...`` with markers in the driver's style, and the values to bind."""
        where_sql, values = ("", []) if where is None or not where.clauses else where.render(self.dialect, ALIAS)
        with_params = bool(values) or self.parameters is not None
        if with_params and self.dialect.placeholder == "%s":
            head = head.replace("%", "%%")
        where_sql, bound = self._bind(f" WHERE {where_sql}" if where_sql else "", values, with_params)
        return f"{head} FROM {self._from(with_params)}{where_sql}", bound

    def select(
        self,
        where: Filter | None = None,
        select_list: str = "*",
        literal: Callable[[Any], str] | None = None,
    ) -> tuple[str, Bound]:
        """``SELECT`` with the filter; parameters are ``None`` when there are none (no % processing at all).

        With ``literal`` (a driver's quoting function) the values are inlined as quoted literals and no parameters
        are returned -- for engines that stream only parameterless queries. Only ``%s``-style dialects support it.
        """
        if literal is None:
            return self._parts(f"SELECT {select_list}", where)
        if self.dialect.placeholder != "%s":
            raise ValueError("inlined literals need a %s-style dialect")
        where_sql, values = ("", []) if where is None or not where.clauses else where.render(self.dialect, ALIAS)
        where_sql, bound = self._bind(f" WHERE {where_sql}" if where_sql else "", values, True)
        # every % of the text is a marker or doubled: the formatting below turns %% back into %, as a driver would
        text = f"SELECT {select_list.replace('%', '%%')} FROM {self._from(True)}{where_sql}"
        if isinstance(bound, dict):
            return text % {k: literal(v) for k, v in bound.items()}, None
        return text % tuple(literal(v) for v in bound or []), None

    def count(self, where: Filter | None = None) -> tuple[str, Bound]:
        """``COUNT(*)`` under the same filter (reconciliation)."""
        return self._parts("SELECT COUNT(*)", where)

    def bounds(self, column: str, where: Filter | None = None) -> tuple[str, Bound]:
        """``MIN``, ``MAX`` of a column and the number of its NULLs, under the filter (split planning)."""
        col = f"{ALIAS}.{self.dialect.quote_identifier(column)}"
        return self._parts(f"SELECT MIN({col}), MAX({col}), COUNT(*) - COUNT({col})", where)

    def source_sql(self) -> tuple[str, Bound]:
        """The wrapped query alone (``(...) zq``), with the user's parameters, for a catalog probe."""
        bound: Bound = None
        if self.parameters is not None:
            bound = dict(self.parameters) if self.named else list(self.parameters)  # type: ignore[arg-type]
        return self._from(bound is not None), bound

    def probe(self) -> tuple[str, Bound]:
        """A query returning no rows but the full column description."""
        from_sql, bound = self.source_sql()
        return f"SELECT * FROM {from_sql} WHERE 1 = 0", bound

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dialect": self.dialect.name}
        if self.table is not None:
            out["table"] = self.table
            if self.columns:
                out["columns"] = list(self.columns)
        else:
            out["sql"] = self.sql
            if self.parameters is not None:
                out["parameters"] = (
                    {k: repr(v) for k, v in self.parameters.items()}
                    if isinstance(self.parameters, Mapping)
                    else [repr(v) for v in self.parameters]
                )
        return out
