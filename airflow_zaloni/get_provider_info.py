"""Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``).

Keep this module import-free: Airflow reads it for every CLI command and a failure here breaks the whole CLI.
"""

from __future__ import annotations

from typing import Any

from airflow_zaloni import __version__


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-zaloni",
        "name": "Zaloni data lake",
        "description": "Data-lake management for Apache Airflow: DCA ingest into an atomic Parquet lake and WFE "
        "Hadoop/Spark jobs with deferrable status sensors.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Zaloni data lake",
                "external-doc-url": "https://github.com/airflow-zaloni/airflow-zaloni",
                "tags": ["software"],
            }
        ],
        "connection-types": [],
        "hooks": [],
        "operators": [
            {
                "integration-name": "Zaloni data lake",
                "python-modules": ["airflow_zaloni.operators.base"],
            }
        ],
        "sensors": [],
        "triggers": [],
        "extra-links": [],
        "filesystems": ["airflow_zaloni.lake.webhdfs_fs"],
        "config": {
            "zaloni": {
                "description": "Settings of the Zaloni data-lake provider.",
                "options": {
                    "lake_root": {
                        "description": "Root URI of the lake: a path or file:// URI, webhdfs://<conn_id>@/path, or "
                        "any fsspec URL. Empty means a 'lake' folder in $AIRFLOW_HOME.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "webhdfs://webhdfs_default@/data/lake",
                        "default": "",
                    },
                    "row_group_rows": {
                        "description": "Rows per Parquet row group written by the lake writer.",
                        "version_added": "0.1.0",
                        "type": "integer",
                        "example": "1000000",
                        "default": "1000000",
                    },
                    "max_rows_per_file": {
                        "description": "Rows per Parquet file before the lake writer starts a new file.",
                        "version_added": "0.1.0",
                        "type": "integer",
                        "example": "10000000",
                        "default": "10000000",
                    },
                    "progress_interval_seconds": {
                        "description": "Seconds between progress lines in the task log of an ingest.",
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": "5",
                        "default": "5",
                    },
                },
            }
        },
    }
