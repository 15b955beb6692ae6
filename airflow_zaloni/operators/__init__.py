"""Public operators of airflow-zaloni, imported lazily so one import does not pull in every source's libraries."""

from __future__ import annotations

from airflow_zaloni.utils.lazy import lazy_getattr

# Public name -> module that defines it. One line per class.
_EXPORTS: dict[str, str] = {
    "HadoopJarOperator": "airflow_zaloni.operators.hadoop",
    "SparkJobOperator": "airflow_zaloni.operators.spark",
    "MainframeToLakeOperator": "airflow_zaloni.operators.mainframe",
    "MainframeSplitPlanOperator": "airflow_zaloni.operators.mainframe",
    "TwitterToLakeOperator": "airflow_zaloni.operators.twitter",
    "LakeIngestOperator": "airflow_zaloni.operators.base",
    "LakeCommitOperator": "airflow_zaloni.operators.commit",
    "FileToLakeOperator": "airflow_zaloni.operators.files",
    "SalesforceToLakeOperator": "airflow_zaloni.operators.salesforce",
    "SqlToLakeOperator": "airflow_zaloni.operators.warehouse",
    "LakeToSqlOperator": "airflow_zaloni.operators.warehouse",
    "SqlSplitPlanOperator": "airflow_zaloni.operators.warehouse",
    "LakePromoteOperator": "airflow_zaloni.operators.promote",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
