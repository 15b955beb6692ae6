"""Warehouse ingest: any DB-API database into Arrow batches (and, with :mod:`.load`, back out of the lake).

Airflow-free: a source takes a connection factory (an Airflow hook's ``get_conn`` in the operators).
"""

from __future__ import annotations

from airflow_zaloni.sources.warehouse.dialect import MYSQL, POSTGRES, SQLITE, SqlDialect
from airflow_zaloni.sources.warehouse.source import WarehouseSource

__all__ = ["MYSQL", "POSTGRES", "SQLITE", "SqlDialect", "WarehouseSource"]
