"""Warehouse ingest: any DB-API database into Arrow batches (and, with :mod:`.load`, back out of the lake).

Airflow-free: a source takes a connection factory (an Airflow hook's ``get_conn`` in the operators); the DB-API
connection is the client, so there is no client module of our own.

* :mod:`.schema` -- Arrow types for database columns, and Python rows to Arrow batches (:mod:`.mysql` for MySQL's
  and MariaDB's catalog);
* :mod:`.source` -- :class:`WarehouseSource`, a table or query streamed as Arrow batches, incremental and split;
* :mod:`.dialect`, :mod:`.query`, :mod:`.engines`, :mod:`.splits`, :mod:`.watermark`, :mod:`.merge` -- the pieces of
  one extraction; :mod:`.load` -- Arrow batches back into a table.
"""

from __future__ import annotations

from airflow_zaloni.sources.warehouse.dialect import MYSQL, POSTGRES, SQLITE, SqlDialect
from airflow_zaloni.sources.warehouse.source import WarehouseSource

__all__ = ["MYSQL", "POSTGRES", "SQLITE", "SqlDialect", "WarehouseSource"]
