"""Land a mainframe data set in the lake: EBCDIC bytes in ``landing``, rows decoded by a COBOL copybook in ``raw``.

The DAG reads the small sample shipped in ``data/`` (``CUSTOMERS.DAT``, 200 fixed-length records in code page 037,
made by ``data/make_sample.py``) so it runs anywhere. Against a real z/OS host, replace ``path`` by the data set and a
connection of type ``mainframe``::

    MainframeToLakeOperator(
        task_id="land_customers",
        dataset="customers",
        dataset_name="PROD.CUST.MASTER(0)",        # the newest generation of a GDG, resolved to G0042V00
        mainframe_conn_id="zos_prod",              # protocol ftp / ftps / sftp in the connection's extra
        copybook="/opt/copybooks/custmast.cpy",
        options={"ebcdic_code_page": "cp037"},     # Cobrix options, as a Spark job passes them
    )
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG

from airflow_zaloni.operators.mainframe import MainframeToLakeOperator

DATA = Path(__file__).resolve().parent / "data"

with DAG(
    dag_id="zaloni_mainframe_ingest",
    schedule="@daily",
    start_date=datetime(2026, 11, 1),
    catchup=False,
    tags=["zaloni", "dca", "mainframe"],
    doc_md=__doc__,
):
    MainframeToLakeOperator(
        task_id="land_customers",
        dataset="customers",
        path=str(DATA / "CUSTOMERS.DAT"),
        copybook=str(DATA / "customers.cpy"),
        options={"ebcdic_code_page": "cp037", "generate_corrupt_fields": "true"},
    )
