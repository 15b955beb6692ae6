"""airflow-zaloni: a data-lake management provider for Apache Airflow 3.

The package is split so that the heavy lifting imports without Airflow:

* :mod:`airflow_zaloni.lake` -- the lake, its writer and commit protocol;
* :mod:`airflow_zaloni.mainframe` -- COBOL copybooks and EBCDIC decoding;
* :mod:`airflow_zaloni.sources` -- one module per source system, each yielding Arrow record batches.

Airflow glue lives in ``hooks``, ``operators``, ``sensors`` and ``triggers``.
"""

from __future__ import annotations

__version__ = "0.1.0"
