"""The SQL an extraction runs: the base query, its predicates and the helper queries (count, bounds).

Only identifiers the user names (table, columns, incremental and split columns) become SQL text, each quoted by
the :class:`~airflow_zaloni.sources.warehouse.dialect.SqlDialect`. Every value is a bound parameter. A free-form
``sql`` query is wrapped as a subquery so predicates apply to its result columns whatever it joins or computes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_zaloni.sources.base import SourceError
from airflow_zaloni.sources.warehouse.dialect import SqlDialect

#: Alias of the wrapped query; predicates qualify columns with it.
ALIAS = "zq"


@dataclass(frozen=True)
class Condition:
    """A predicate on one column with a bound value.

    ``op`` is one of ``>``, ``>=``, ``<``, ``<=``, ``is null``, ``is not null``; ``value`` is bound, never
    formatted into the text.
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
        return f"{col} {self.op} {dialect.placeholder}", [self.value]


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
            parts.append(f"{col} >= {dialect.placeholder}")
            params.append(self.lower)
        if self.upper is not None:
            parts.append(f"{col} < {dialect.placeholder}")
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
    """

    dialect: SqlDialect
    table: str | None = None
    sql: str | None = None
    columns: Sequence[str] | None = None

    def __post_init__(self) -> None:
        if (self.table is None) == (self.sql is None):
            raise SourceError("give exactly one of 'table' or 'sql'")
        if self.sql is not None and not self.sql.strip():
            raise SourceError("'sql' is empty")
        if self.table is not None and not self.table.strip():
            raise SourceError("'table' is empty")

    def _from(self, params_follow: bool) -> str:
        if self.table is not None:
            cols = ", ".join(self.dialect.quote_identifier(c) for c in self.columns) if self.columns else "*"
            return f"(SELECT {cols} FROM {self.dialect.quote_table(self.table)}) {ALIAS}"
        assert self.sql is not None
        inner = self.sql.strip().rstrip(";")
        if params_follow and self.dialect.placeholder == "%s":
            # With bound parameters, %s-style drivers read every % as a marker: a literal % must be doubled.
            inner = inner.replace("%", "%%")
        return f"({inner}) {ALIAS}"

    def _where(self, where: Filter | None) -> tuple[str, list[Any]]:
        if where is None or not where.clauses:
            return "", []
        text, params = where.render(self.dialect, ALIAS)
        return f" WHERE {text}", params

    def select(
        self,
        where: Filter | None = None,
        select_list: str = "*",
        literal: Callable[[Any], str] | None = None,
    ) -> tuple[str, list[Any] | None]:
        """``SELECT`` with the filter; parameters are ``None`` when there are none (no % processing at all).

        With ``literal`` (a driver's quoting function) the values are inlined as quoted literals and no parameters
        are returned -- for engines that stream only parameterless queries. Only ``%s``-style dialects support it.
        """
        where_sql, params = self._where(where)
        if literal is None:
            return f"SELECT {select_list} FROM {self._from(bool(params))}{where_sql}", params or None
        if self.dialect.placeholder != "%s":
            raise ValueError("inlined literals need a %s-style dialect")
        text = f"SELECT {select_list.replace('%', '%%')} FROM {self._from(True)}{where_sql}"
        return text % tuple(literal(v) for v in params), None

    def count(self, where: Filter | None = None) -> tuple[str, list[Any] | None]:
        """``COUNT(*)`` under the same filter (reconciliation)."""
        where_sql, params = self._where(where)
        return f"SELECT COUNT(*) FROM {self._from(bool(params))}{where_sql}", params or None

    def bounds(self, column: str, where: Filter | None = None) -> tuple[str, list[Any] | None]:
        """``MIN``, ``MAX`` of a column and the number of its NULLs, under the filter (split planning)."""
        where_sql, params = self._where(where)
        col = f"{ALIAS}.{self.dialect.quote_identifier(column)}"
        sql = f"SELECT MIN({col}), MAX({col}), COUNT(*) - COUNT({col}) FROM {self._from(bool(params))}{where_sql}"
        return sql, params or None

    def probe(self) -> tuple[str, list[Any] | None]:
        """A query returning no rows but the full column description."""
        return f"SELECT * FROM {self._from(False)} WHERE 1 = 0", None

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dialect": self.dialect.name}
        if self.table is not None:
            out["table"] = self.table
            if self.columns:
                out["columns"] = list(self.columns)
        else:
            out["sql"] = self.sql
        return out
