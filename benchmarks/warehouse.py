"""Warehouse ingest speed and memory: ours vs the database's own export (the floor) vs pandas, on PostgreSQL and
MariaDB side by side.

In one run, on a PostgreSQL table of ``--rows`` rows (bigint, int, numeric(12,2), text, timestamptz, date, boolean):

* floor  -- ``psql -c "COPY (SELECT * FROM bench) TO STDOUT" > /dev/null``: the server's export, nothing decoded;
* ours   -- ``WarehouseSource`` (ADBC engine) streamed into the lake (Parquet, zstd, manifest, commit);
* pandas -- ``pandas.read_sql`` + ``DataFrame.to_parquet``: what ``SqlToS3Operator``/``get_df`` do;
* with ``--engines``: ours on the DB-API engine (psycopg server-side cursor) and psycopg's binary COPY decoded row by
  row, the alternative fast path that ADBC was chosen over.

Then on a MariaDB table of ``--mysql-rows`` rows with the same columns (TIMESTAMP for the instant; ``--no-mysql``
skips it):

* floor  -- ``mariadb --batch -e 'SELECT * FROM bench' > /dev/null``: the server's rows as text, nothing decoded;
* ours   -- ``WarehouseSource`` on the ConnectorX engine (the default on a plain MySqlHook connection) into the lake;
* ours   -- the same on the DB-API engine (mysqlclient's unbuffered cursor), what it was chosen over.

Each contender runs in its own process, so its peak RSS (``ru_maxrss``) is its own; "above idle" subtracts the RSS
the process had after its imports, before reading. ``--memory-rows`` re-runs ours at other sizes to show that the
peak does not grow with the rows. A private PostgreSQL server is started (as the tests do) unless ``--dsn`` names
one.

    .venv/bin/python benchmarks/warehouse.py                       # 1M rows on both
    .venv/bin/python benchmarks/warehouse.py --rows 5000000 --mysql-rows 1000000 --no-pandas
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --------------------------------------------------------------------------------------------------- children


def land(source: Any, lake_root: str, table: str, row_group_rows: int, start: float, idle: float) -> dict[str, Any]:
    """Ours: stream ``source`` into one lake partition (Parquet, manifest, commit), timed from ``start``."""
    from airflow_zaloni.lake import DatasetRef, Lake

    lake = Lake(lake_root, row_group_rows=row_group_rows)
    with lake.transaction(run_id="bench") as txn:
        writer = txn.writer(DatasetRef("raw", "bench", table), "dt=2026-11-26")
        for batch in source.batches():
            writer.write_batch(batch)
    return {"seconds": time.perf_counter() - start, "rows": writer.rows, "idle_mb": idle, "peak_mb": peak_mb()}


def child_ours(dsn: str, table: str, lake_root: str, engine: str, row_group_rows: int, splits: int) -> dict[str, Any]:
    import functools

    import adbc_driver_postgresql.dbapi  # noqa: F401  (imported before the clock starts, as pandas is)
    import psycopg

    from airflow_zaloni.lake import Lake  # noqa: F401  (imported before the clock starts)
    from airflow_zaloni.sources.warehouse import POSTGRES, WarehouseSource

    idle = rss_mb()
    start = time.perf_counter()
    source = WarehouseSource(
        connect=functools.partial(psycopg.connect, dsn),
        table=table,
        dialect=POSTGRES,
        engine=engine,  # type: ignore[arg-type]
        split_column="id" if splits > 1 else None,
        num_splits=splits,
    )
    return land(source, lake_root, table, row_group_rows, start, idle)


def child_ours_mysql(server_json: str, table: str, lake_root: str, engine: str, row_group_rows: int) -> dict[str, Any]:
    import MySQLdb

    from airflow_zaloni.lake import Lake  # noqa: F401  (imported before the clock starts)
    from airflow_zaloni.sources.warehouse import MYSQL, WarehouseSource
    from airflow_zaloni.sources.warehouse.mysql import connectorx_uri

    if engine == "connectorx":
        import connectorx  # noqa: F401  (imported before the clock starts)
    server = json.loads(server_json)
    idle = rss_mb()
    start = time.perf_counter()
    source = WarehouseSource(
        connect=lambda: MySQLdb.connect(**server, charset="utf8mb4"),
        table=table,
        dialect=MYSQL,
        engine=engine,  # type: ignore[arg-type]
        connectorx_uri=connectorx_uri(server["host"], server["port"], server["user"], server["password"], server["db"]),
    )
    return land(source, lake_root, table, row_group_rows, start, idle)


def child_pandas(dsn: str, table: str, out: str) -> dict[str, Any]:
    import pandas as pd
    import sqlalchemy

    engine = sqlalchemy.create_engine(dsn.replace("postgresql://", "postgresql+psycopg://"))
    idle = rss_mb()
    start = time.perf_counter()
    with engine.connect() as conn:
        frame = pd.read_sql(f"SELECT * FROM {table}", conn)
    frame.to_parquet(out)
    return {"seconds": time.perf_counter() - start, "rows": len(frame), "idle_mb": idle, "peak_mb": peak_mb()}


def child_psycopg_copy(dsn: str, table: str) -> dict[str, Any]:
    """psycopg's binary COPY decoded row by row into Arrow batches (the path not taken)."""
    import psycopg
    import pyarrow as pa

    idle = rss_mb()
    start = time.perf_counter()
    rows = 0
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT * FROM {table} WHERE false")
        names = [d.name for d in cur.description or []]
        types = [d.type_code for d in cur.description or []]
        with cur.copy(f"COPY {table} TO STDOUT (FORMAT binary)") as copy:
            copy.set_types(types)
            pending: list[tuple[Any, ...]] = []
            for row in copy.rows():
                pending.append(row)
                if len(pending) == 65536:
                    pa.RecordBatch.from_arrays([pa.array(c) for c in zip(*pending)], names=names)
                    rows += len(pending)
                    pending = []
            rows += len(pending)
    return {"seconds": time.perf_counter() - start, "rows": rows, "idle_mb": idle, "peak_mb": peak_mb()}


def run_child(*args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"child {args[0]} failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


# --------------------------------------------------------------------------------------------------- driver


@contextlib.contextmanager
def server(dsn: str | None) -> Iterator[str]:
    if dsn:
        yield dsn
        return
    from tests.servers.postgres import start_postgres

    with start_postgres("bench") as pg:
        yield pg.uri


def make_table(dsn: str, table: str, rows: int) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()
        if exists and exists[0] is not None:
            count = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            if count and count[0] == rows:
                return
            conn.execute(f"DROP TABLE {table}")
        conn.execute(
            f"""
            CREATE TABLE {table} AS
            SELECT i::bigint AS id, (i % 100000)::int AS customer_id, (i % 1000000 * 0.37)::numeric(12,2) AS amount,
                   'order note ' || md5(i::text) AS note,
                   timestamptz '2020-01-01' + i * interval '1 second' AS created_at,
                   date '2020-01-01' + (i % 3650) AS ship_date, (i % 3 = 0) AS paid
              FROM generate_series(1, {rows}) i
            """
        )
        conn.execute(f"VACUUM ANALYZE {table}")


def floor_seconds(dsn: str, table: str) -> float:
    start = time.perf_counter()
    with open(os.devnull, "wb") as devnull:
        subprocess.run(
            ["psql", dsn, "-X", "-q", "-c", f"COPY (SELECT * FROM {table}) TO STDOUT"], stdout=devnull, check=True
        )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--memory-rows", default="", help="comma-separated sizes to re-run ours at, for memory")
    parser.add_argument("--dsn", help="an existing PostgreSQL server (default: start a private one)")
    parser.add_argument("--engines", action="store_true", help="also time the DB-API engine and psycopg binary COPY")
    parser.add_argument("--no-pandas", action="store_true")
    parser.add_argument("--mysql-rows", type=int, default=1_000_000, help="rows of the MariaDB table")
    parser.add_argument("--no-mysql", action="store_true", help="skip the MariaDB part")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL part")
    parser.add_argument("--splits", type=int, default=1, help="also time ours with this many parallel connections")
    parser.add_argument(
        "--row-group-rows", type=int, default=1_000_000, help="the lake's [zaloni] row_group_rows (default 1000000)"
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        kind, *rest = args.child
        result = {
            "ours": lambda: child_ours(rest[0], rest[1], rest[2], rest[3], int(rest[4]), int(rest[5])),
            "pandas": lambda: child_pandas(rest[0], rest[1], rest[2]),
            "psycopg_copy": lambda: child_psycopg_copy(rest[0], rest[1]),
            "ours_mysql": lambda: child_ours_mysql(rest[0], rest[1], rest[2], rest[3], int(rest[4])),
        }[kind]()
        print(json.dumps(result))
        return

    work = Path(tempfile.mkdtemp(prefix="zaloni-bench-"))
    try:
        if not args.no_postgres:
            postgres_part(args, work)
        if not args.no_mysql:
            mysql_part(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def postgres_part(args: argparse.Namespace, work: Path) -> None:
    with server(args.dsn) as dsn:
        rg = str(args.row_group_rows)
        table = f"bench_{args.rows}"
        t0 = time.perf_counter()
        make_table(dsn, table, args.rows)
        print(f"table {table}: {args.rows:,} rows x 7 columns (made in {time.perf_counter() - t0:.1f}s)")
        floor = min(floor_seconds(dsn, table) for _ in range(2))
        results: dict[str, dict[str, Any]] = {}
        results["ours (adbc -> lake)"] = run_child("ours", dsn, table, str(work / "lake1"), "adbc", rg, "1")
        if args.splits > 1:
            results[f"ours (adbc, {args.splits} splits)"] = run_child(
                "ours", dsn, table, str(work / "lake3"), "adbc", rg, str(args.splits)
            )
        if args.engines:
            results["ours (dbapi -> lake)"] = run_child("ours", dsn, table, str(work / "lake2"), "dbapi", rg, "1")
            results["psycopg binary COPY rows"] = run_child("psycopg_copy", dsn, table)
        if not args.no_pandas:
            results["pandas read_sql+to_parquet"] = run_child("pandas", dsn, table, str(work / "p.parquet"))

        print(f"\n{'contender':30} {'seconds':>8} {'rows/s':>12} {'x floor':>8} {'peak MB':>8} {'above idle':>10}")
        print(f"{'floor: psql COPY TO STDOUT':30} {floor:8.2f} {args.rows / floor:12,.0f} {1.0:8.2f}")
        for name, r in results.items():
            assert r["rows"] == args.rows, (name, r["rows"])
            print(
                f"{name:30} {r['seconds']:8.2f} {args.rows / r['seconds']:12,.0f} {floor / r['seconds']:8.2f} "
                f"{r['peak_mb']:8.0f} {r['peak_mb'] - r['idle_mb']:10.0f}"
            )
        ours = results["ours (adbc -> lake)"]
        if "pandas read_sql+to_parquet" in results:
            pandas = results["pandas read_sql+to_parquet"]
            print(f"\nours vs pandas: {pandas['seconds'] / ours['seconds']:.1f}x faster, ", end="")
            print(f"{(pandas['peak_mb'] - pandas['idle_mb']) / (ours['peak_mb'] - ours['idle_mb']):.1f}x less memory")
        print(f"ours vs floor: {floor / ours['seconds']:.2f}x the floor's throughput")

        sizes = [int(s) for s in args.memory_rows.split(",") if s.strip()]
        if sizes:
            print(f"\n{'memory of ours at':30} {'seconds':>8} {'peak MB':>8} {'above idle':>10}")
            for size in sizes:
                mem_table = f"bench_{size}"
                make_table(dsn, mem_table, size)
                r = run_child("ours", dsn, mem_table, str(work / f"lake_{size}"), "adbc", rg, "1")
                assert r["rows"] == size, (size, r["rows"])
                print(f"{size:>30,} {r['seconds']:8.2f} {r['peak_mb']:8.0f} {r['peak_mb'] - r['idle_mb']:10.0f}")


MYSQL_TABLE_SQL = """
CREATE TABLE {table} (id bigint PRIMARY KEY, customer_id int, amount decimal(12,2), note varchar(64),
                      created_at timestamp NULL, ship_date date, paid boolean)
AS SELECT seq AS id, seq % 100000 AS customer_id, (seq % 1000000) * 0.37 AS amount,
          CONCAT('order note ', MD5(seq)) AS note, TIMESTAMP'2020-01-01 00:00:00' + INTERVAL seq SECOND AS created_at,
          DATE'2020-01-01' + INTERVAL (seq % 3650) DAY AS ship_date, seq % 3 = 0 AS paid
     FROM seq_1_to_{rows}
"""


def mysql_floor_seconds(server: Any, table: str) -> float:
    """``mariadb --batch`` over TCP, as a client on another host would read; the password in MYSQL_PWD."""
    command = [
        "mariadb",
        "--batch",
        "--protocol=tcp",
        f"--host={server.host}",
        f"--port={server.port}",
        f"--user={server.user}",
        server.dbname,
        "-e",
        f"SELECT * FROM {table}",
    ]
    start = time.perf_counter()
    with open(os.devnull, "wb") as devnull:
        subprocess.run(command, stdout=devnull, check=True, env={**os.environ, "MYSQL_PWD": server.password})
    return time.perf_counter() - start


def mysql_part(args: argparse.Namespace, work: Path) -> None:
    from tests.servers.mariadb import start_mariadb

    rows = args.mysql_rows
    table = f"bench_{rows}"
    with start_mariadb("bench") as server:
        conn: Any = server.connect()
        t0 = time.perf_counter()
        conn.cursor().execute(MYSQL_TABLE_SQL.format(table=table, rows=rows))
        conn.commit()
        conn.close()
        print(f"\nMariaDB table {table}: {rows:,} rows x 7 columns (made in {time.perf_counter() - t0:.1f}s)")
        floor = min(mysql_floor_seconds(server, table) for _ in range(2))
        server_json = json.dumps(
            {
                "host": server.host,
                "port": server.port,
                "user": server.user,
                "password": server.password,
                "db": server.dbname,
            }
        )
        rg = str(args.row_group_rows)
        results = {
            "ours (connectorx -> lake)": run_child(
                "ours_mysql", server_json, table, str(work / "my1"), "connectorx", rg
            ),
            "ours (dbapi -> lake)": run_child("ours_mysql", server_json, table, str(work / "my2"), "dbapi", rg),
        }
        print(f"\n{'contender':30} {'seconds':>8} {'rows/s':>12} {'x floor':>8} {'peak MB':>8} {'above idle':>10}")
        print(f"{'floor: mariadb --batch':30} {floor:8.2f} {rows / floor:12,.0f} {1.0:8.2f}")
        for name, r in results.items():
            assert r["rows"] == rows, (name, r["rows"])
            print(
                f"{name:30} {r['seconds']:8.2f} {rows / r['seconds']:12,.0f} {floor / r['seconds']:8.2f} "
                f"{r['peak_mb']:8.0f} {r['peak_mb'] - r['idle_mb']:10.0f}"
            )
        ours = results["ours (connectorx -> lake)"]
        print(f"ours vs floor: {floor / ours['seconds']:.2f}x the floor's throughput")


if __name__ == "__main__":
    main()
