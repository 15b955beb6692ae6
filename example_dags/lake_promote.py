"""Within the lake: raw -> trusted with data-quality rules, a quarantine, and change capture.

The first task stands in for any ingest DAG: it lands a day of orders (a few of them bad) and a Salesforce-style
change feed of accounts (updates out of order, deletes marked ``IsDeleted``) into the raw zone. Then:

* ``LakeDatasetSensor`` waits (deferred, no worker slot) until the raw partition of the interval is committed --
  in a real deployment the raw data comes from another DAG;
* ``promote_orders`` checks the orders against six rules; good rows go to ``trusted/demo/orders``, bad rows to
  ``trusted/demo/orders__quarantine`` with the rules each broke -- in one commit; more than 20 % bad rows would fail
  the task and publish nothing;
* ``promote_accounts`` keeps the latest row per ``Id`` in ``trusted/demo/accounts`` (ordered by
  ``SystemModstamp``), merging the previous day's snapshot with today's changes and removing deleted accounts.

Both promotions emit an Asset event, so a downstream DAG can be scheduled on ``trusted/demo/orders``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, task

from airflow_zaloni.operators.promote import LakePromoteOperator
from airflow_zaloni.sensors.lake import LakeDatasetSensor

ORDER_RULES = [
    {"rule": "not_null", "column": ["order_id", "customer_id"]},
    {"rule": "unique", "column": "order_id"},
    {"rule": "range", "column": "amount", "min": 0, "max": 10000},
    {"rule": "allowed_values", "column": "status", "values": ["NEW", "PAID", "SHIPPED"]},
    {"rule": "regex", "column": "email", "pattern": "^[^@ ]+@[^@ ]+\\.[a-z]+$", "max_failed_fraction": 0.1},
    {"rule": "sql", "expression": "shipped_at IS NULL OR shipped_at >= ordered_at", "name": "ships_after_order"},
    {"rule": "row_count", "min": 1},
    {"rule": "freshness", "column": "ordered_at", "max_age": "{{ params.max_age }}"},
]

with DAG(
    dag_id="zaloni_lake_promote",
    schedule="@daily",
    start_date=datetime(2026, 11, 1),
    catchup=False,
    params={"max_age": "1d"},
    tags=["zaloni", "dca", "quality"],
    doc_md=__doc__,
):

    @task
    def land_demo_raw(
        data_interval_start: datetime | None = None,
        data_interval_end: datetime | None = None,
        run_id: str | None = None,
    ) -> None:
        """A day of orders and account changes in the raw zone (deterministic per interval, so re-runs agree)."""
        import pyarrow as pa

        from airflow_zaloni import config
        from airflow_zaloni.lake import DatasetRef, Lake, partition_for_interval

        # The partition every zaloni task of this run derives: the same rule as the sensor and the promotions.
        partition = partition_for_interval(data_interval_start, data_interval_end, run_id=run_id)
        day = data_interval_start or datetime(2026, 11, 1)
        base = day.toordinal() * 100
        orders = pa.Table.from_pylist(
            [
                {
                    "order_id": base + i,
                    "customer_id": None if i == 7 else i % 9,
                    "amount": -3.0 if i == 11 else 12.5 * i,
                    "status": "LOST" if i == 13 else ("NEW", "PAID", "SHIPPED")[i % 3],
                    "email": "no-at-sign" if i == 17 else f"c{i % 9}@example.com",
                    "ordered_at": day + timedelta(hours=i % 24),
                    "shipped_at": day + timedelta(hours=i % 24 - (30 if i == 19 else -5)),
                }
                for i in range(40)
            ]
        )
        stamp = int(day.timestamp())
        accounts = pa.Table.from_pylist(
            [  # an update arriving before an older one; a delete; a brand new account each day
                {"Id": "001A", "Name": f"Acme {day:%d}", "SystemModstamp": stamp + 20, "IsDeleted": False},
                {"Id": "001A", "Name": "Acme (stale)", "SystemModstamp": stamp + 10, "IsDeleted": False},
                {"Id": f"00{day.day:02d}", "Name": f"New {day:%d}", "SystemModstamp": stamp, "IsDeleted": False},
                {"Id": f"00{day.day - 1:02d}", "Name": None, "SystemModstamp": stamp + 30, "IsDeleted": True},
            ]
        )
        lake = Lake(config.lake_root())
        with lake.transaction(producer="example_dags.lake_promote") as txn:
            txn.writer(DatasetRef("raw", "demo", "orders"), partition).write_table(orders)
            txn.writer(DatasetRef("raw", "demo", "accounts"), partition).write_table(accounts)

    wait_for_orders = LakeDatasetSensor(
        task_id="wait_for_raw_orders", dataset="orders", system="demo", poke_interval=5, timeout=600
    )

    promote_orders = LakePromoteOperator(
        task_id="promote_orders",
        dataset="orders",
        system="demo",
        rules=ORDER_RULES,
        max_quarantined_fraction=0.2,
    )

    promote_accounts = LakePromoteOperator(
        task_id="promote_accounts",
        dataset="accounts",
        system="demo",
        rules=[{"rule": "not_null", "column": "SystemModstamp"}],
        key="Id",
        order_by="SystemModstamp",
        delete_column="IsDeleted",
    )

    land_demo_raw() >> wait_for_orders >> [promote_orders, promote_accounts]
