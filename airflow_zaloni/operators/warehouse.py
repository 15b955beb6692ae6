"""Warehouse transfers: any DbApiHook database into the lake (``SqlToLakeOperator``) and back (``LakeToSqlOperator``).

Thin glue: the connection comes from an Airflow connection's own hook (PostgresHook, SqliteHook, MySqlHook, ...),
the reading and loading live in :mod:`airflow_zaloni.sources.warehouse`, the writing in the lake.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook, BaseOperator

from airflow_zaloni.lake import DatasetRef, Lake, Transaction, partition_of_run
from airflow_zaloni.operators.base import LakeIngestOperator
from airflow_zaloni.sources.base import SourceError
from airflow_zaloni.sources.warehouse import SqlDialect, WarehouseSource
from airflow_zaloni.sources.warehouse.load import LoadMode, load_batches
from airflow_zaloni.sources.warehouse.merge import MergedSnapshot
from airflow_zaloni.sources.warehouse.mysql import connectorx_uri
from airflow_zaloni.sources.warehouse.splits import range_from_json

if TYPE_CHECKING:
    import pyarrow as pa
    from airflow.providers.common.sql.hooks.sql import DbApiHook
    from airflow.sdk import Context


def get_db_hook(conn_id: str) -> DbApiHook:
    """The DB-API hook of an Airflow connection (PostgresHook for ``postgres``, SqliteHook for ``sqlite``, ...)."""
    from airflow.providers.common.sql.hooks.sql import DbApiHook

    hook = BaseHook.get_connection(conn_id).get_hook()
    if not isinstance(hook, DbApiHook):
        raise SourceError(f"connection {conn_id!r} has hook {type(hook).__name__}, which is not a DB-API (SQL) hook")
    return hook


def dialect_of(hook: DbApiHook) -> SqlDialect:
    """Identifier quoting and placeholder style as the hook declares them."""
    conn_type = getattr(hook, "conn_type", None) or type(hook).__name__
    return SqlDialect(quote=hook.escape_word_format, placeholder=hook.placeholder, name=str(conn_type))


#: MySqlHook extras that change how the client connects (TLS, a socket, IAM tokens): ConnectorX would not honour
#: them, so such connections read through the hook's own client.
_CLIENT_ONLY_EXTRAS = ("ssl", "ssl_mode", "unix_socket", "iam", "init_command")


def arrow_uri(hook: DbApiHook) -> str | None:
    """The ConnectorX URI of a MySQL connection, or ``None`` when the fast path cannot honour its settings.

    Only a plain ``mysql`` connection on mysqlclient (MySqlHook's default client) qualifies: the control queries run
    on the hook's connection, the bulk read through ConnectorX with the same host, port, user, password and schema.
    """
    if getattr(hook, "conn_type", None) != "mysql":
        return None
    conn = getattr(hook, "connection", None) or hook.get_connection(hook.get_conn_id())
    extra = conn.extra_dejson
    if extra.get("client", "mysqlclient") != "mysqlclient" or any(extra.get(k) for k in _CLIENT_ONLY_EXTRAS):
        return None
    if getattr(hook, "init_command", None):
        return None
    return connectorx_uri(conn.host or "localhost", conn.port, conn.login, conn.password, conn.schema)


def _lookback(value: Any) -> Any:
    if value is None or value == "" or isinstance(value, dt.timedelta | int | float):
        return value or None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise SourceError(f"lookback {value!r} is neither a number nor a timedelta") from None


class SqlToLakeOperator(LakeIngestOperator):
    """Land a table or query of any SQL database in the lake, streaming, optionally incremental and in parallel.

    The run's partition holds the rows read (``mode="append"``) or a full snapshot with the latest row per
    ``merge_key`` (``mode="merge"``). The new watermark -- the largest ``incremental_column`` value landed -- is
    committed with the data; a query that returns no rows lands an empty partition and leaves the watermark alone.

    :param conn_id: Airflow connection whose hook is a DbApiHook (postgres, sqlite, mysql, mssql, ...). (templated)
    :param table: table to read, ``schema.table`` allowed; quoted in the database's dialect. (templated)
    :param sql: a SELECT to read instead of ``table``. (templated)
    :param parameters: values bound to the markers of ``sql`` in the driver's style -- a list for ``%s``
        (PostgreSQL, MySQL) or ``?`` (SQLite), a dict for ``%(name)s``/``:name``. Bound by the driver, never
        formatted into the SQL text: put values from ``params`` or ``dag_run.conf`` here, not into ``sql``.
        (templated)
    :param columns: columns of ``table`` to read, default all. (templated)
    :param incremental_column: monotonic key or modification timestamp; rows above the watermark are read. Rows
        where it is NULL are read by the first (full) load only. (templated)
    :param lookback: re-read rows this far below the watermark: a timedelta or seconds for time columns, a number
        for numeric columns. (templated)
    :param mode: ``append`` (the partition holds the rows read) or ``merge`` (a snapshot, latest row per key).
    :param merge_key: key columns of ``merge`` mode. (templated)
    :param split_column: column whose range is cut into pieces read by ``num_splits`` connections. (templated)
    :param num_splits: parallel connections within the task.
    :param boundary_sql: query returning ``(min, max)`` of the split column, instead of scanning for them.
        (templated)
    :param reconcile: compare rows landed with ``COUNT(*)`` under the same predicate; a mismatch fails the task
        and publishes nothing.
    :param engine: ``auto`` (ADBC binary COPY on PostgreSQL, ConnectorX on plain MySQL connections, DB-API cursors
        elsewhere), ``adbc``, ``connectorx`` or ``dbapi``.
    :param batch_rows: rows per fetch on the DB-API engine.
    :param split: one range planned by :class:`SqlSplitPlanOperator`, for a mapped task that reads only that range
        (``.partial(..., fanout=True).expand(split=plan.output)``, then a ``LakeCommitOperator``).
    """

    template_fields: Sequence[str] = (
        *LakeIngestOperator.template_fields,
        "conn_id",
        "table",
        "sql",
        "parameters",
        "columns",
        "incremental_column",
        "lookback",
        "merge_key",
        "split_column",
        "boundary_sql",
    )
    template_fields_renderers = {"sql": "sql", "boundary_sql": "sql"}
    default_system = "warehouse"

    def __init__(
        self,
        *,
        conn_id: str,
        table: str | None = None,
        sql: str | None = None,
        parameters: Sequence[Any] | dict[str, Any] | None = None,
        columns: Sequence[str] | None = None,
        incremental_column: str | None = None,
        lookback: Any = None,
        mode: str = "append",
        merge_key: Sequence[str] | str | None = None,
        split_column: str | None = None,
        num_splits: int = 1,
        boundary_sql: str | None = None,
        reconcile: bool = False,
        engine: str = "auto",
        batch_rows: int = 65_536,
        split: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (table is None) == (sql is None):
            raise ValueError("give exactly one of table= or sql=")
        if mode not in ("append", "merge"):
            raise ValueError(f"mode must be 'append' or 'merge', got {mode!r}")
        if mode == "merge" and not merge_key:
            raise ValueError("mode='merge' needs merge_key")
        if mode == "merge" and self.fanout:
            raise ValueError("mode='merge' cannot fan out: a snapshot is merged by one task")
        self.conn_id = conn_id
        self.table = table
        self.sql = sql
        self.parameters = parameters
        self.columns = columns
        self.incremental_column = incremental_column
        self.lookback = lookback
        self.mode = mode
        self.merge_key = merge_key
        self.split_column = split_column
        self.num_splits = num_splits
        self.boundary_sql = boundary_sql
        self.reconcile = reconcile
        self.engine = engine
        self.batch_rows = batch_rows
        self.split = split

    def _merge_keys(self) -> list[str]:
        if isinstance(self.merge_key, str):
            return [k.strip() for k in self.merge_key.split(",") if k.strip()]
        return list(self.merge_key or [])

    def make_source(self, context: Context, watermark: Any) -> WarehouseSource:
        hook = get_db_hook(self.conn_id)
        return WarehouseSource(
            connect=hook.get_conn,
            table=self.table,
            sql=self.sql,
            parameters=self.parameters,
            columns=list(self.columns) if self.columns else None,
            dialect=dialect_of(hook),
            incremental_column=self.incremental_column or None,
            watermark=watermark if self.incremental_column else None,
            upper=self.watermark_upper if self.incremental_column else None,
            lookback=_lookback(self.lookback),
            split_column=self.split_column or None,
            num_splits=self.num_splits,
            boundary_sql=self.boundary_sql or None,
            reconcile=self.reconcile,
            split_filter=[range_from_json(self.split)] if self.split else (),
            engine=self.engine,  # type: ignore[arg-type]
            batch_rows=self.batch_rows,
            connectorx_uri=arrow_uri(hook) if self.engine in ("auto", "connectorx") else None,
        )

    def ingest(self, txn: Transaction, context: Context, partition: str) -> None:
        ref = self.dataset_ref
        lower, self.watermark_upper = txn.lake.incremental_window(ref, partition)
        if not self.incremental_column:
            lower = self.watermark_upper = None
        source = self.make_source(context, lower)
        landed: Any = source
        if self.mode == "merge":
            landed = MergedSnapshot(source, self._merge_keys(), _previous_snapshot(txn.lake, ref, partition))
        writer = self.land(txn, ref, partition, landed, watermark_before=lower)
        if writer.schema is None and source.schema is not None:
            writer.schema = source.schema  # an empty result still publishes the partition's columns
        for warning in source.warnings:
            self.log.warning("%s", warning)
        stats = dict(source.stats)
        if isinstance(landed, MergedSnapshot):
            stats.update(landed.stats)
        writer.extra["warehouse"] = stats
        if self.incremental_column:
            nulls = source.stats.get("incremental_nulls", 0)
            if nulls:
                self.log.warning(
                    "%s rows have NULL in incremental column %r: they landed now but later incremental runs "
                    "cannot see changes to them",
                    nulls,
                    self.incremental_column,
                )


def _previous_snapshot(lake: Lake, ref: DatasetRef, partition: str) -> Callable[[], Iterator[pa.RecordBatch]] | None:
    """The batches of the snapshot a merge run builds on: this partition on a re-run, else the last committed."""
    if lake.manifest(ref, partition) is not None:
        base = partition
    else:
        last = lake.state(ref).get("last_commit", {}).get("partitions") or []
        if not last:
            return None
        base = sorted(last)[-1]
    return lambda: lake.iter_batches(ref, base)


class SqlSplitPlanOperator(BaseOperator):
    """Plan the ranges of a fan-out: one range of ``split_column`` per mapped ``SqlToLakeOperator``.

    Sqoop's ``--num-mappers`` across workers: the ranges are planned under the predicate the parts will read
    (the dataset's incremental window included); each mapped task prepares its part and one ``LakeCommitOperator``
    publishes them together, with the largest watermark any part reached::

        plan = SqlSplitPlanOperator(task_id="plan", conn_id="dwh", table="orders", split_column="id", num_parts=8,
                                    dataset="orders", incremental_column="id")
        parts = SqlToLakeOperator.partial(task_id="part", conn_id="dwh", table="orders", dataset="orders",
                                          incremental_column="id", fanout=True).expand(split=plan.output)
        parts >> LakeCommitOperator(task_id="commit", parts_task_id="part", dataset="orders", system="warehouse")

    :param conn_id: Airflow connection whose hook is a DbApiHook. (templated)
    :param table: table to read; exclusive with ``sql``. (templated)
    :param sql: a SELECT to read instead. (templated)
    :param parameters: values bound to the markers of ``sql``, as on the parts. (templated)
    :param split_column: integer, decimal, float, date or timestamp column to cut into ranges. (templated)
    :param num_parts: ranges to plan (fewer when the column's range is narrower).
    :param incremental_column: as on the parts; its window comes from the dataset's watermark. (templated)
    :param boundary_sql: query returning ``(min, max)`` of the split column. (templated)
    :param dataset: the dataset the parts land in (for its watermark). (templated)
    :param zone: its zone. (templated)
    :param system: its system folder. (templated)
    :param lake_root: root of the lake; defaults to ``[zaloni] lake_root``. (templated)
    :param lake_conn_id: Airflow connection of the lake's store (an ``aws`` connection for ``s3://`` roots);
        defaults to ``[zaloni] lake_conn_id``. (templated)
    :param partition: the partition the parts write; default from the data interval. (templated)
    """

    template_fields: Sequence[str] = (
        "conn_id",
        "table",
        "sql",
        "parameters",
        "split_column",
        "incremental_column",
        "boundary_sql",
        "dataset",
        "zone",
        "system",
        "lake_root",
        "lake_conn_id",
        "partition",
    )

    def __init__(
        self,
        *,
        conn_id: str,
        split_column: str,
        num_parts: int,
        dataset: str,
        table: str | None = None,
        sql: str | None = None,
        parameters: Sequence[Any] | dict[str, Any] | None = None,
        incremental_column: str | None = None,
        boundary_sql: str | None = None,
        zone: str = "raw",
        system: str = "warehouse",
        lake_root: str | None = None,
        lake_conn_id: str | None = None,
        partition: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (table is None) == (sql is None):
            raise ValueError("give exactly one of table= or sql=")
        if num_parts < 1:
            raise ValueError(f"num_parts must be at least 1, got {num_parts}")
        self.conn_id = conn_id
        self.table = table
        self.sql = sql
        self.parameters = parameters
        self.split_column = split_column
        self.num_parts = num_parts
        self.incremental_column = incremental_column
        self.boundary_sql = boundary_sql
        self.dataset = dataset
        self.zone = zone
        self.system = system
        self.lake_root = lake_root
        self.lake_conn_id = lake_conn_id
        self.partition = partition

    def execute(self, context: Context) -> list[dict[str, Any]]:
        from airflow_zaloni import config

        lower = upper = None
        if self.incremental_column:
            lake = config.open_lake(self.lake_root, self.lake_conn_id)
            partition = self.partition or partition_of_run(context)
            lower, upper = lake.incremental_window(DatasetRef(self.zone, self.system, self.dataset), partition)
        hook = get_db_hook(self.conn_id)
        source = WarehouseSource(
            connect=hook.get_conn,
            table=self.table,
            sql=self.sql,
            parameters=self.parameters,
            dialect=dialect_of(hook),
            incremental_column=self.incremental_column or None,
            watermark=lower,
            upper=upper,
            split_column=self.split_column,
            num_splits=self.num_parts,
            boundary_sql=self.boundary_sql or None,
        )
        ranges = source.plan_parts(self.num_parts)
        self.log.info("Planned %d range(s) of %r for the parts of %s", len(ranges), self.split_column, self.dataset)
        return ranges


class LakeToSqlOperator(BaseOperator):
    """Load a lake dataset into a database table, streaming; COPY on PostgreSQL.

    :param conn_id: Airflow connection of the target database (a DbApiHook). (templated)
    :param table: target table, ``schema.table`` allowed; created from the dataset's schema when missing.
        (templated)
    :param dataset: dataset name in the lake. (templated)
    :param zone: zone of the dataset. (templated)
    :param system: source-system folder of the dataset. (templated)
    :param partition: partition to load; default the latest committed partition. (templated)
    :param lake_root: root URI of the lake; default ``[zaloni] lake_root``. (templated)
    :param lake_conn_id: Airflow connection of the lake's store (an ``aws`` connection for ``s3://`` roots);
        defaults to ``[zaloni] lake_conn_id``. (templated)
    :param mode: ``append``, ``replace`` (delete all rows and load, in one database transaction: readers see the
        old or the new table, never a mix) or ``upsert`` (insert, or update the row with the same ``key``).
    :param key: key columns of ``upsert`` (a unique constraint on them must exist). (templated)
    :param create_table: create the table from the dataset's schema when it does not exist.
    """

    template_fields: Sequence[str] = (
        "conn_id",
        "table",
        "dataset",
        "zone",
        "system",
        "partition",
        "lake_root",
        "lake_conn_id",
        "key",
    )
    ui_color = "#d5f5e3"

    def __init__(
        self,
        *,
        conn_id: str,
        table: str,
        dataset: str,
        zone: str = "raw",
        system: str = "warehouse",
        partition: str | None = None,
        lake_root: str | None = None,
        lake_conn_id: str | None = None,
        mode: str = "append",
        key: Sequence[str] | str | None = None,
        create_table: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if mode not in ("append", "replace", "upsert"):
            raise ValueError(f"mode must be 'append', 'replace' or 'upsert', got {mode!r}")
        if mode == "upsert" and not key:
            raise ValueError("mode='upsert' needs key")
        self.conn_id = conn_id
        self.table = table
        self.dataset = dataset
        self.zone = zone
        self.system = system
        self.partition = partition
        self.lake_root = lake_root
        self.lake_conn_id = lake_conn_id
        self.mode: LoadMode = mode  # type: ignore[assignment]
        self.key = key
        self.create_table = create_table

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_zaloni import config

        lake = config.open_lake(self.lake_root, self.lake_conn_id)
        ref = DatasetRef(self.zone, self.system, self.dataset)
        partitions = lake.partitions(ref)
        partition = self.partition or (partitions[-1] if partitions else None)
        if partition is None or partition not in partitions:
            raise SourceError(f"{ref} has no committed partition {partition or '(none at all)'} in {lake.root}")
        schema = lake.schema(ref, partition)
        if schema is None:
            raise SourceError(f"{ref} {partition} has no schema in its manifest")
        keys = [k.strip() for k in self.key.split(",")] if isinstance(self.key, str) else list(self.key or [])
        hook = get_db_hook(self.conn_id)
        conn = hook.get_conn()
        try:
            rows = load_batches(
                conn,
                dialect_of(hook),
                self.table,
                schema,
                lake.iter_batches(ref, partition),
                mode=self.mode,
                key=keys,
                create_table=self.create_table,
            )
        finally:
            conn.close()
        self.log.info("Loaded %s rows of %s %s into %s (%s)", f"{rows:,}", ref, partition, self.table, self.mode)
        return {"dataset": ref.key, "partition": partition, "table": self.table, "rows": rows, "mode": self.mode}
