"""Sample data for the example DAGs, made on the spot so the examples run with no setup.

Not a DAG file: the DAG processor skips it (it names no DAG). The examples import it from the dags folder.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: The mainframe sample shipped with the examples (200 fixed-length EBCDIC records; see data/make_sample.py).
MAINFRAME_DATA = HERE / "data" / "CUSTOMERS.DAT"
MAINFRAME_COPYBOOK = HERE / "data" / "customers.cpy"
#: The PySpark job of the examples.
REFINE_JOB = HERE / "jobs" / "refine_orders.py"

WAREHOUSE_CONN_ID = "zaloni_demo_warehouse"
SPARK_CONN_ID = "spark_local"


def home() -> Path:
    """Where the samples live: ``$ZALONI_DEMO_DIR``, else ``$AIRFLOW_HOME``."""
    return Path(os.environ.get("ZALONI_DEMO_DIR") or os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow")


def warehouse_path() -> Path:
    return home() / "demo_warehouse.sqlite"


def define_demo_connections() -> None:
    """The demo's own connections; connections of the same id defined in Airflow take precedence.

    A connection the demo defined earlier in this process (it carries ``zaloni_demo`` in its extra) is defined
    again, so that it follows the demo directory when ``$ZALONI_DEMO_DIR`` or ``$AIRFLOW_HOME`` changed since:
    otherwise the warehouse task would grow one SQLite file while the ingest reads another.
    """
    _define_demo_connection(WAREHOUSE_CONN_ID, {"conn_type": "sqlite", "host": str(warehouse_path())})
    _define_demo_connection(SPARK_CONN_ID, {"conn_type": "spark", "host": "local[2]"})


def _define_demo_connection(conn_id: str, conn: dict[str, object]) -> None:
    name = f"AIRFLOW_CONN_{conn_id.upper()}"
    current = os.environ.get(name)
    if current is None or _defined_by_demo(current):
        os.environ[name] = json.dumps({**conn, "extra": {"zaloni_demo": True}})


def _defined_by_demo(value: str) -> bool:
    try:
        conn = json.loads(value)
    except ValueError:
        return False  # a URI: someone else's connection
    return isinstance(conn, dict) and isinstance(conn.get("extra"), dict) and conn["extra"].get("zaloni_demo") is True


def write_drop_files(drop: Path, *, files: int = 3, rows: int = 1000) -> list[str]:
    """Gzipped CSV files of orders and a ``_SUCCESS`` marker, the same bytes on every call (a file producer)."""
    drop.mkdir(parents=True, exist_ok=True)
    rng = random.Random(42)
    written = []
    for part in range(files):
        lines = ["order_id,customer,amount,currency"]
        for n in range(rows):
            order_id = part * rows + n
            lines.append(f"{order_id},C{rng.randrange(500):04d},{rng.randrange(100, 99999) / 100:.2f},EUR")
        path = drop / f"orders_{part:02d}.csv.gz"
        path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0))
        written.append(path.name)
    (drop / "_SUCCESS").touch()
    return written


def grow_warehouse(db_path: Path, day: datetime) -> dict[str, int]:
    """Add a day of orders and change a few customers (deterministic per day, so re-runs agree)."""
    day = day.replace(tzinfo=None)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(db_path) as db:
        db.executescript(
            """
            CREATE TABLE IF NOT EXISTS customers (
                customer_id INTEGER PRIMARY KEY, name TEXT, tier TEXT, updated_at TIMESTAMP);
            CREATE TABLE IF NOT EXISTS orders (
                order_id INTEGER PRIMARY KEY, customer_id INTEGER, amount DECIMAL(10,2), status TEXT,
                ordered_at TIMESTAMP, paid BOOLEAN);
            """
        )
        stamp = day.strftime("%Y-%m-%d %H:%M:%S")
        db.executemany(
            "INSERT OR IGNORE INTO customers VALUES (?, ?, 'bronze', ?)",
            [(c, f"customer {c}", stamp) for c in range(1, 51)],
        )
        db.execute(  # a tenth of the customers change tier each day
            "UPDATE customers SET tier = ?, updated_at = ? WHERE customer_id % 10 = ?",
            (("gold", "silver", "bronze")[day.day % 3], stamp, day.day % 10),
        )
        first = day.toordinal() * 1000
        db.executemany(
            "INSERT OR REPLACE INTO orders VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    first + i,
                    1 + i % 50,
                    f"{(i * 37) % 10000 / 100:.2f}",
                    ("new", "shipped", "returned")[i % 3],
                    (day + timedelta(minutes=i)).strftime("%Y-%m-%d %H:%M:%S"),
                    i % 4 != 0,
                )
                for i in range(1, 1001)
            ],
        )
        return {"orders": db.execute("SELECT count(*) FROM orders").fetchone()[0]}
