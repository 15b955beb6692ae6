"""The warehouse source: a table or query of any DB-API database, streamed as Arrow batches.

One extraction is planned on a control connection -- column types, the incremental predicate, split ranges --
and read either there (one piece) or by several connections in threads (``num_splits``). On PostgreSQL every
connection reads the same snapshot (``pg_export_snapshot``), so parallel pieces and the reconciliation count see
exactly the same rows even while the table is being written.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

import pyarrow as pa

from airflow_zaloni.sources.base import DEFAULT_BATCH_ROWS, SourceError
from airflow_zaloni.sources.warehouse import engines, mysql, watermark
from airflow_zaloni.sources.warehouse.dialect import MYSQL, POSTGRES, SQLITE, SqlDialect
from airflow_zaloni.sources.warehouse.query import ALIAS, Bound, Clause, Condition, Filter, Parameters, QueryPlan
from airflow_zaloni.sources.warehouse.schema import BatchBuilder, ColumnType
from airflow_zaloni.sources.warehouse.splits import RANGES_PER_SPLIT, plan_ranges, range_to_json
from airflow_zaloni.utils.prefetch import read_in_parallel

log = logging.getLogger(__name__)

Engine = Literal["auto", "dbapi", "adbc", "connectorx"]
ENGINES = ("auto", "dbapi", "adbc", "connectorx")


class WarehouseSource:
    """Rows of a table or query as Arrow record batches, optionally incremental, split and reconciled.

    :param connect: returns a new DB-API connection each call (an Airflow hook's ``get_conn``); one per split.
    :param table: table to read (``schema.table`` allowed); exclusive with ``sql``.
    :param sql: a SELECT to read instead of a table.
    :param parameters: values bound to the markers of ``sql`` (a list for ``%s``/``?``, a dict for ``%(name)s``/
        ``:name``): never formatted into the SQL text.
    :param columns: columns of ``table`` to read (default all).
    :param dialect: identifier quoting and placeholder style; default from the driver of the first connection.
    :param incremental_column: a monotonic key or modification timestamp; only rows above ``watermark`` are read.
    :param watermark: the dataset's stored watermark (as :mod:`.watermark` encodes it) or ``None`` for a full load.
    :param upper: inclusive upper bound (a stored watermark) when re-running an interval already committed.
    :param lookback: read again rows this far below the watermark (timedelta or seconds for time columns, a number
        for numeric ones).
    :param split_column: column whose range is cut into pieces read in parallel.
    :param num_splits: connections reading in parallel (1 = no split).
    :param boundary_sql: optional query returning one row ``(min, max)`` of the split column (Sqoop's
        ``--boundary-query``), instead of ``MIN``/``MAX`` over the data.
    :param split_filter: extra range clauses every read applies (used by mapped tasks that each read one range).
    :param reconcile: after reading, compare the rows read with ``COUNT(*)`` under the same predicate and raise on
        a mismatch.
    :param engine: ``adbc`` (PostgreSQL protocol, binary COPY in C++), ``connectorx`` (MySQL/MariaDB protocol read
        into Arrow in Rust; needs ``connectorx_uri`` and a mysqlclient control connection), ``dbapi`` (any driver),
        or ``auto`` (ADBC on psycopg 3, ConnectorX on MySQL when a URI is given and it is installed, else DB-API).
    :param connectorx_uri: ``mysql://user:password@host:port/db`` of the same server, for the ConnectorX engine.
    :param batch_rows: rows per batch on the DB-API engine.
    :param batch_bytes: bytes of COPY data per batch on the ADBC engine (default 4 MB).
    """

    def __init__(
        self,
        *,
        connect: Callable[[], Any],
        table: str | None = None,
        sql: str | None = None,
        parameters: Parameters | None = None,
        columns: Sequence[str] | None = None,
        dialect: SqlDialect | None = None,
        incremental_column: str | None = None,
        watermark: Any = None,
        upper: Any = None,
        lookback: Any = None,
        split_column: str | None = None,
        num_splits: int = 1,
        boundary_sql: str | None = None,
        split_filter: Sequence[Clause] = (),
        reconcile: bool = False,
        engine: Engine = "auto",
        batch_rows: int = DEFAULT_BATCH_ROWS,
        batch_bytes: int | None = None,
        connectorx_uri: str | None = None,
    ) -> None:
        if num_splits < 1:
            raise SourceError(f"num_splits must be at least 1, got {num_splits}")
        if num_splits > 1 and not split_column:
            raise SourceError("num_splits > 1 needs a split_column")
        if engine not in ENGINES:
            raise SourceError(f"unknown engine {engine!r} (one of {', '.join(ENGINES)})")
        self._connect = connect
        self._table, self._sql, self._columns = table, sql, list(columns) if columns else None
        self._parameters = parameters
        self._connectorx_uri = connectorx_uri
        self._dialect = dialect
        self.incremental_column = incremental_column
        self._stored_watermark = watermark
        self._upper = upper
        self._lookback = lookback
        self.split_column = split_column
        self.num_splits = num_splits
        self._boundary_sql = boundary_sql
        self._split_filter = tuple(split_filter)
        self.reconcile = reconcile
        self._engine: Engine = engine
        self.batch_rows = batch_rows
        self.batch_bytes = batch_bytes
        self._plan_for(dialect or POSTGRES)  # validate table/sql early, before any I/O
        self._schema: pa.Schema | None = None
        self._cursor: Any = watermark
        #: Findings for the manifest: type warnings, rows, NULLs in the incremental column, the engine used.
        self.stats: dict[str, Any] = {}
        self.warnings: list[str] = []

    # ------------------------------------------------------------------------------------------------ Source API

    @property
    def schema(self) -> pa.Schema | None:
        return self._schema

    @property
    def cursor(self) -> Any:
        """The new watermark after iteration: the largest incremental value read, or the old one if none was."""
        return self._cursor

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"system": "warehouse", "name": self._table or "query"}
        out.update(self._plan_for(self._dialect or POSTGRES).describe())
        if self._dialect is None:
            out.pop("dialect", None)
        for key, value in (
            ("incremental_column", self.incremental_column),
            ("lookback", str(self._lookback) if self._lookback is not None else None),
            ("split_column", self.split_column),
            ("num_splits", self.num_splits if self.split_column else None),
            ("reconcile", self.reconcile or None),
        ):
            if value is not None:
                out[key] = value
        if self._split_filter:
            out["split_range"] = [repr(c) for c in self._split_filter]
        return out

    def batches(self) -> Iterator[pa.RecordBatch]:
        self.stats = {}
        conn = self._open()
        try:
            yield from self._extract(conn)
        finally:
            engines.close_quietly(conn)

    # ------------------------------------------------------------------------------------------------- planning

    def _open(self) -> Any:
        try:
            conn = self._connect()
        except Exception as exc:
            raise SourceError(f"cannot connect to the warehouse: {exc}") from exc
        engines.plain_rows(conn)
        return conn

    def _resolve_dialect(self, conn: Any) -> SqlDialect:
        if self._dialect is None:
            if engines.is_postgres(conn):
                self._dialect = POSTGRES
            elif engines.driver_of(conn) == "sqlite3":
                self._dialect = SQLITE
            elif mysql.is_mysql(conn):
                self._dialect = MYSQL
            else:
                self._dialect = SqlDialect()
        return self._dialect

    def _plan_for(self, dialect: SqlDialect) -> QueryPlan:
        return QueryPlan(dialect, self._table, self._sql, self._columns, self._parameters)

    def _choose_engine(self, conn: Any) -> str:
        """``adbc``, ``connectorx`` or ``dbapi`` for this connection, or a :class:`SourceError` saying why the one
        asked for cannot run."""
        if self._engine == "dbapi":
            return "dbapi"
        adbc_ok = engines.driver_of(conn) == "psycopg" and engines.adbc_available()
        cx_ok = (
            engines.driver_of(conn) == "MySQLdb" and self._connectorx_uri is not None and mysql.connectorx_available()
        )
        if self._engine == "adbc" and not adbc_ok:
            raise SourceError("engine 'adbc' needs a psycopg 3 connection and adbc-driver-postgresql")
        if self._engine == "connectorx" and not cx_ok:
            raise SourceError(
                "engine 'connectorx' needs a mysqlclient connection (MySqlHook's default client), a connectorx_uri "
                "and the connectorx package (pip install 'airflow-zaloni[mysql]')"
            )
        return "adbc" if adbc_ok else "connectorx" if cx_ok else "dbapi"

    def _run_scalar(self, conn: Any, sql: str, params: Bound, what: str) -> Sequence[Any]:
        cur = engines.cursor(conn)
        try:
            engines.execute(cur, sql, engines.adapt_params(conn, params))
            rows = cur.fetchall()
            row = rows[0] if rows else None
        except Exception as exc:
            raise SourceError(f"{what} failed on {self._what()}: {exc}") from exc
        finally:
            with contextlib.suppress(Exception):
                cur.close()
        if row is None:
            raise SourceError(f"{what} on {self._what()} returned no row")
        return row

    def _column_types(self, conn: Any, plan: QueryPlan) -> list[ColumnType]:
        try:
            return engines.column_types(conn, plan)
        except SourceError:
            raise
        except Exception as exc:
            raise SourceError(f"cannot read {self._what()}: {exc}") from exc

    def _what(self) -> str:
        return f"table {self._table!r}" if self._table else "the query"

    def _extract(self, conn: Any) -> Iterator[pa.RecordBatch]:
        dialect = self._resolve_dialect(conn)
        plan = self._plan_for(dialect)
        engine = self._choose_engine(conn)
        snapshot = self._begin_snapshot(conn) if engines.is_postgres(conn) else None
        columns = self._column_types(conn, plan)
        by_name = {c.name: c for c in columns}
        # MySQL reads a select list of its own (zero dates, TIME, BIT, decimals for ConnectorX): see .mysql
        read_columns = (
            mysql.read_columns(columns, dialect, ALIAS, arrow=engine == "connectorx") if mysql.is_mysql(conn) else None
        )
        zero_dates = mysql.ZeroDates(read_columns or [])
        builder = BatchBuilder(mysql.wire_types(read_columns) if read_columns is not None else columns)
        self._schema = _schema_of(columns)
        where = Filter(self._split_filter)
        inc_tag = None
        if self.incremental_column:
            inc_tag, where = self._incremental_filter(by_name, where)
        pieces: list[Filter] = [where]
        if self.split_column:
            pieces = self._split_pieces(conn, plan, by_name, where)
        expected = None
        if self.reconcile:
            sql, params = plan.count(where)
            expected = int(self._run_scalar(conn, sql, params, "reconciliation count")[0])

        self.stats.update({"engine": engine, "pieces": len(pieces)})
        rows = nulls = 0
        top: Any = None
        batches = self._read(conn, plan, columns, builder, pieces, engine, snapshot, read_columns)
        try:
            for batch in batches:
                batch = zero_dates.strip(batch)
                if self._schema is None:
                    self._schema = batch.schema
                if batch.num_rows == 0:
                    continue
                rows += batch.num_rows
                if self.incremental_column:
                    values = batch.column(self.incremental_column)
                    nulls += values.null_count
                    batch_top = watermark.arrow_max(values)
                    if batch_top is not None and (top is None or batch_top > top):
                        top = batch_top
                yield batch
        except SourceError:
            raise
        except Exception as exc:
            raise SourceError(f"reading {self._what()} failed after {rows} rows: {exc}") from exc
        finally:
            with contextlib.suppress(Exception):
                conn.rollback()
        if self._schema is None:
            self._schema = pa.schema([pa.field(c.name, c.arrow_type or pa.string()) for c in columns])
        self.warnings = list(builder.warnings) + zero_dates.warnings()
        self.stats["rows"] = rows
        if self.warnings:
            self.stats["type_warnings"] = self.warnings
        if builder.inferred:
            self.stats["inferred_columns"] = list(builder.inferred)
        if zero_dates.counts:
            self.stats["zero_dates"] = dict(zero_dates.counts)
        if self.incremental_column:
            self.stats["incremental_nulls"] = nulls
            if inc_tag is None:
                inc_tag = watermark.require_comparable(
                    self.incremental_column, self._schema.field(self.incremental_column).type, ""
                )
            if top is not None:
                encoded = watermark.encode(inc_tag, top)
                if self._stored_watermark is None or _later(encoded, self._stored_watermark):
                    self._cursor = encoded
        if expected is not None:
            self.stats["reconciled_count"] = expected
            if expected != rows:
                raise SourceError(
                    f"reconciliation failed for {self._what()}: read {rows} rows but COUNT(*) under the same "
                    f"predicate is {expected}; nothing is published"
                )

    def _incremental_filter(self, by_name: dict[str, ColumnType], where: Filter) -> tuple[str | None, Filter]:
        col = self.incremental_column
        assert col is not None
        if col not in by_name:
            raise SourceError(f"incremental column {col!r} is not among the columns read: {sorted(by_name)}")
        ctype = by_name[col]
        # an untyped column (an SQLite expression) is checked once the first batch has typed it
        tag = None if ctype.arrow_type is None else watermark.require_comparable(col, ctype.arrow_type, ctype.db_type)
        if self._upper is not None:
            # a re-run of an already committed interval: replay exactly the range its commit covered
            if tag is None:
                raise SourceError(f"incremental column {col!r} has no declared type to bound a re-run with")
            where = where.and_(Condition(col, "<=", watermark.decode(col, tag, self._upper)))
        if self._stored_watermark is None:
            return tag, where  # first run: everything
        if tag is None:
            raise SourceError(f"incremental column {col!r} has no declared type to compare the watermark with")
        after = watermark.decode(col, tag, self._stored_watermark)
        lower = watermark.apply_lookback(after, self._lookback)
        op = ">=" if lower != after else ">"
        return tag, where.and_(Condition(col, op, lower))

    def _split_pieces(self, conn: Any, plan: QueryPlan, by_name: dict[str, ColumnType], where: Filter) -> list[Filter]:
        if self.num_splits == 1 and not self._boundary_sql:
            return [where]
        lower, upper, _tag = self._split_bounds(conn, plan, by_name, where)
        col = self.split_column
        assert col is not None
        return [where.and_(r) for r in plan_ranges(col, lower, upper, self.num_splits * RANGES_PER_SPLIT)]

    def _split_bounds(
        self, conn: Any, plan: QueryPlan, by_name: dict[str, ColumnType], where: Filter
    ) -> tuple[Any, Any, str | None]:
        col = self.split_column
        assert col is not None
        if col not in by_name:
            raise SourceError(f"split column {col!r} is not among the columns read: {sorted(by_name)}")
        ctype = by_name[col]
        tag = None
        if ctype.arrow_type is not None:
            tag = watermark.require_comparable(col, ctype.arrow_type, ctype.db_type, role="split")
        if self._boundary_sql:
            lower, upper = self._run_scalar(conn, self._boundary_sql, None, "boundary query")[:2]
        else:
            sql, params = plan.bounds(col, where)
            lower, upper, _nulls = self._run_scalar(conn, sql, params, "split bounds")
        return lower, upper, tag

    def plan_parts(self, parts: int) -> list[dict[str, Any]]:
        """Cut the read into ``parts`` ranges of ``split_column`` for separate tasks (dynamic task mapping).

        The ranges are planned under the same predicate a read would use (incremental window included) and are
        returned as JSON, one per mapped task; a task reads its range with ``split_filter=[range_from_json(r)]``.
        """
        if not self.split_column:
            raise SourceError("planning parts needs a split_column")
        conn = self._open()
        try:
            dialect = self._resolve_dialect(conn)
            plan = self._plan_for(dialect)
            columns = self._column_types(conn, plan)
            by_name = {c.name: c for c in columns}
            where = Filter(self._split_filter)
            if self.incremental_column:
                _tag, where = self._incremental_filter(by_name, where)
            lower, upper, tag = self._split_bounds(conn, plan, by_name, where)
        finally:
            engines.close_quietly(conn)
        if tag is None:
            raise SourceError(f"split column {self.split_column!r} has no declared type to plan ranges with")
        return [range_to_json(r, tag) for r in plan_ranges(self.split_column, lower, upper, parts)]

    # ------------------------------------------------------------------------------------------------- reading

    def _begin_snapshot(self, conn: Any) -> str | None:
        """Start a repeatable-read transaction and export its snapshot for the other connections.

        Servers of the PostgreSQL protocol without ``pg_export_snapshot`` (Redshift, older Greenplum) read without
        a shared snapshot: each connection then sees the table as of its own start, which is noted in the stats.
        """
        with contextlib.suppress(Exception):
            conn.rollback()
        conn.autocommit = False
        cur = conn.cursor()
        try:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cur.execute("SELECT pg_export_snapshot()")
            row = cur.fetchone()
        except Exception as exc:
            log.warning("no shared snapshot (%s); parallel pieces and the count may see different rows", exc)
            with contextlib.suppress(Exception):
                conn.rollback()
            self.stats["shared_snapshot"] = False
            return None
        finally:
            cur.close()
        return str(row[0]) if row else None

    def _read(
        self,
        conn: Any,
        plan: QueryPlan,
        columns: list[ColumnType],
        builder: BatchBuilder,
        pieces: list[Filter],
        engine: str,
        snapshot: str | None,
        read_columns: list[mysql.ReadColumn] | None,
    ) -> Iterator[pa.RecordBatch]:
        workers = min(self.num_splits, len(pieces))
        if engine == "adbc":
            schema = builder.schema
            assert schema is not None  # PostgreSQL types are always known
            select_list = engines.pg_select_list(columns, plan.dialect, ALIAS, adbc=True)
            literal = engines.pg_literal(conn)
            conninfo = engines.adbc_conninfo(conn)
            queries = [plan.select(p, select_list, literal)[0] for p in pieces]

            def open_adbc() -> tuple[Callable[[Any], Iterator[pa.RecordBatch]], Callable[[], None]]:
                adbc = _adbc_connect(conninfo, snapshot)
                return (lambda sql: engines.adbc_batches(adbc, sql, schema, self.batch_bytes)), (
                    lambda: engines.close_quietly(adbc)
                )

            # Even one connection reads in a thread: ADBC decodes (and the consumer, e.g. the Parquet writer,
            # encodes) with the GIL released, so reading the next batches overlaps writing the last ones.
            yield from read_in_parallel(queries, max(1, workers), open_adbc, max_buffered=2)
            return

        if engine == "connectorx":
            assert read_columns is not None and self._connectorx_uri is not None
            uri, wire = self._connectorx_uri, read_columns
            cx_list = mysql.select_list(wire)
            cx_queries = [plan.select(p, cx_list, mysql.literal(conn))[0] for p in pieces]

            def open_cx() -> tuple[Callable[[Any], Iterator[pa.RecordBatch]], Callable[[], None]]:
                # ConnectorX opens its own connection per query; the thread overlaps its decoding with the writer
                return (lambda sql: mysql.connectorx_batches(uri, sql, wire, self.batch_rows)), (lambda: None)

            yield from read_in_parallel(cx_queries, max(1, workers), open_cx, max_buffered=2)
            return

        if read_columns is not None:
            select_list = mysql.select_list(read_columns)
        elif engines.is_postgres(conn):
            # on PostgreSQL, types without an Arrow mapping are cast to text by the server (its own text form)
            select_list = engines.pg_select_list(columns, plan.dialect, ALIAS)
        else:
            select_list = "*"
        statements = [plan.select(p, select_list) for p in pieces]
        if workers <= 1:
            for sql, params in statements:
                yield from engines.dbapi_batches(conn, sql, params, builder, self.batch_rows)
            return

        def open_dbapi() -> tuple[Callable[[Any], Iterator[pa.RecordBatch]], Callable[[], None]]:
            worker_conn = self._open()
            if snapshot is not None:
                _import_snapshot(worker_conn, snapshot)

            def read(statement: tuple[str, Bound]) -> Iterator[pa.RecordBatch]:
                return engines.dbapi_batches(worker_conn, statement[0], statement[1], builder, self.batch_rows)

            return read, lambda: engines.close_quietly(worker_conn)

        yield from read_in_parallel(statements, workers, open_dbapi)


def _schema_of(columns: Sequence[ColumnType]) -> pa.Schema | None:
    """The schema when every column type is known before reading, else ``None`` (inferred from the first batch)."""
    if any(c.arrow_type is None for c in columns):
        return None
    return pa.schema([pa.field(c.name, c.arrow_type) for c in columns])


def _later(a: Any, b: Any) -> bool:
    try:
        return bool(a > b)
    except TypeError:  # a watermark of another form (the column changed): the new one wins, as in the lake
        return True


def _import_snapshot(conn: Any, snapshot: str) -> None:
    conn.autocommit = False
    cur = conn.cursor()
    try:
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        # SET takes no bind parameters; the server-generated id is quoted as a literal
        cur.execute("SET TRANSACTION SNAPSHOT '{}'".format(snapshot.replace("'", "''")))
    finally:
        cur.close()


def _adbc_connect(conninfo: str, snapshot: str | None) -> Any:
    import adbc_driver_postgresql.dbapi as adbc_dbapi

    conn = adbc_dbapi.connect(conninfo, autocommit=snapshot is None)
    if snapshot is not None:
        cur = conn.cursor()
        try:
            # snapshot ids are server-generated ("00000003-00000002-1"); quoted as a literal all the same
            quoted = snapshot.replace("'", "''")
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cur.execute(f"SET TRANSACTION SNAPSHOT '{quoted}'")
        finally:
            cur.close()
    return conn
