"""How one SQL database spells identifiers and parameters.

Everything user-supplied that ends up in SQL text is an *identifier* (table, column), quoted here in the database's
own quote characters with embedded quote characters doubled, so that no name can close the quote and inject SQL.
Values (watermarks, split bounds) never appear in SQL text: they are bound as parameters in the driver's
placeholder style.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from airflow_zaloni.sources.base import SourceError


@dataclass(frozen=True)
class SqlDialect:
    """Quoting and placeholder style of one database.

    :param quote: the identifier quote format with ``{}`` for the name: ``"{}"`` (SQL standard, PostgreSQL,
        SQLite, Oracle), ```{}``` (MySQL), ``[{}]`` (SQL Server) -- what a DbApiHook calls ``escape_word_format``.
    :param placeholder: the DB-API parameter marker: ``%s`` (psycopg, MySQLdb) or ``?`` (sqlite3, pyodbc).
    :param name: a short name for messages and the manifest.
    """

    quote: str = '"{}"'
    placeholder: str = "%s"
    name: str = "ansi"

    def __post_init__(self) -> None:
        if self.quote.count("{}") != 1 or len(self.quote) != 4:
            raise ValueError(f"identifier quote format must look like '\"{{}}\"', got {self.quote!r}")
        if self.placeholder not in ("%s", "?"):
            raise ValueError(f"unsupported placeholder {self.placeholder!r} (expected '%s' or '?')")

    def quote_identifier(self, name: str) -> str:
        """Quote one identifier part; the closing quote character is doubled inside the name."""
        if not name or "\x00" in name:
            raise SourceError(f"invalid SQL identifier {name!r}")
        opening, closing = self.quote[0], self.quote[-1]
        return f"{opening}{name.replace(closing, closing * 2)}{closing}"

    def quote_table(self, table: str | Sequence[str]) -> str:
        """Quote a possibly qualified table name.

        A string is split on dots (``schema.table``); a name that itself contains a dot is passed as a sequence of
        parts (``["schema", "odd.name"]``).
        """
        parts = table.split(".") if isinstance(table, str) else list(table)
        return ".".join(self.quote_identifier(p) for p in parts)

    @property
    def escaped_percent(self) -> str:
        """A literal ``%`` in SQL text: ``%s``-style drivers need it doubled once parameters are passed."""
        return "%%" if self.placeholder == "%s" else "%"


#: PostgreSQL, Redshift, Greenplum through psycopg.
POSTGRES = SqlDialect('"{}"', "%s", "postgresql")
#: SQLite through the standard library's sqlite3.
SQLITE = SqlDialect('"{}"', "?", "sqlite")
#: MySQL and MariaDB through mysqlclient, mysql-connector-python or PyMySQL.
MYSQL = SqlDialect("`{}`", "%s", "mysql")
