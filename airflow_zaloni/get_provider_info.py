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
        "connection-types": [
            {
                "connection-type": "twitter",
                "hook-class-name": "airflow_zaloni.hooks.twitter.TwitterHook",
                "hook-name": "Twitter / X",
                "conn-fields": {
                    "auth_type": {
                        "label": "Auth type",
                        "description": "bearer (app-only, the Password field) or oauth1 (user context); empty means "
                        "oauth1 when only the OAuth 1.0a fields are filled, else bearer.",
                        "schema": {"type": ["string", "null"], "enum": ["bearer", "oauth1"]},
                    },
                    "consumer_key": {"label": "OAuth 1.0a consumer key", "schema": {"type": ["string", "null"]}},
                    "consumer_secret": {
                        "label": "OAuth 1.0a consumer secret",
                        "schema": {"type": ["string", "null"], "format": "password"},
                    },
                    "access_token": {
                        "label": "OAuth 1.0a access token",
                        "schema": {"type": ["string", "null"], "format": "password"},
                    },
                    "access_token_secret": {
                        "label": "OAuth 1.0a access token secret",
                        "schema": {"type": ["string", "null"], "format": "password"},
                    },
                    "rate_limit_budget": {
                        "label": "Rate-limit wait budget (seconds)",
                        "description": "Total seconds a task may wait for X rate-limit windows; default 900.",
                        "schema": {"type": ["number", "null"]},
                    },
                    "timeout": {
                        "label": "Timeout (seconds)",
                        "description": "Timeout of each API request; default 60.",
                        "schema": {"type": ["number", "null"]},
                    },
                    "verify": {
                        "label": "TLS verify",
                        "description": "true, false or the path of a CA bundle; default true.",
                        "schema": {"type": ["string", "null"]},
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "login", "port", "extra"],
                    "relabeling": {"password": "Bearer token", "host": "API host"},
                    "placeholders": {"host": "https://api.x.com", "password": "AAAA..."},
                },
            },
            {
                "connection-type": "mainframe",
                "hook-class-name": "airflow_zaloni.hooks.mainframe.MainframeHook",
                "hook-name": "Mainframe (z/OS FTP/SFTP)",
                "conn-fields": {
                    "protocol": {
                        "label": "Protocol",
                        "description": "ftp (z/OS FTP), ftps (explicit TLS), sftp (z/OS OpenSSH) or local (files).",
                        "schema": {
                            "type": ["string", "null"],
                            "enum": ["ftp", "ftps", "sftp", "local"],
                            "default": "ftp",
                        },
                    },
                    "passive": {
                        "label": "Passive mode (FTP)",
                        "schema": {"type": ["boolean", "null"], "default": True},
                    },
                    "connect_retry_seconds": {
                        "label": "Connect retry budget (seconds)",
                        "description": "How long to keep retrying a host that refuses or drops the connection; "
                        "default 30. Logins are never retried.",
                        "schema": {"type": ["number", "null"]},
                    },
                    "timeout": {
                        "label": "Timeout (seconds)",
                        "description": "Socket timeout of each FTP/SFTP operation; default 60.",
                        "schema": {"type": ["number", "null"]},
                    },
                    "ca_file": {"label": "CA bundle (FTPS)", "schema": {"type": ["string", "null"]}},
                    "verify": {
                        "label": "Verify TLS certificate (FTPS)",
                        "schema": {"type": ["boolean", "null"], "default": True},
                    },
                    "key_file": {"label": "Private key file (SFTP)", "schema": {"type": ["string", "null"]}},
                    "private_key": {
                        "label": "Private key (SFTP)",
                        "schema": {"type": ["string", "null"], "format": "password"},
                    },
                    "host_key": {
                        "label": "Host public key (SFTP)",
                        "description": "The server's key line, e.g. 'ssh-ed25519 AAAA...'.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "no_host_key_check": {
                        "label": "Skip host key check (SFTP)",
                        "schema": {"type": ["boolean", "null"], "default": False},
                    },
                    "path_template": {
                        "label": "Data set path template (SFTP)",
                        "description": "How a data set name becomes an SFTP path; default //'{name}'.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "root": {"label": "Folder of data set files (local)", "schema": {"type": ["string", "null"]}},
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["schema"],
                    "relabeling": {"login": "User ID"},
                    "placeholders": {"host": "zos.example.com", "port": "21 (FTP/FTPS) or 22 (SFTP)"},
                },
            },
            {
                "connection-type": "yarn",
                "hook-class-name": "airflow_zaloni.hooks.yarn.YarnHook",
                "hook-name": "YARN ResourceManager",
                "conn-fields": {
                    "auth": {
                        "label": "Auth",
                        "description": "simple (Login sent as user.name), kerberos (SPNEGO with the worker's ticket) "
                        "or none; empty means simple when a User is set, else none.",
                        "schema": {"type": ["string", "null"], "enum": ["simple", "kerberos", "none"]},
                    },
                    "verify": {
                        "label": "TLS verify",
                        "description": "true, false or the path of a CA bundle; default true.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "timeout": {
                        "label": "Timeout (seconds)",
                        "description": "Timeout of each ResourceManager request; default 30.",
                        "schema": {"type": ["number", "null"]},
                    },
                    "retry_budget": {
                        "label": "Retry budget (seconds)",
                        "description": "How long an unreachable ResourceManager (or an HA pair without an active "
                        "one) is retried; default 60.",
                        "schema": {"type": ["number", "null"]},
                    },
                    "kerberos_service": {
                        "label": "Kerberos service",
                        "description": "Service name of the ResourceManager's SPNEGO principal; default HTTP.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "kerberos_principal": {"label": "Kerberos principal", "schema": {"type": ["string", "null"]}},
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["password", "extra"],
                    "relabeling": {
                        "host": "ResourceManager address(es)",
                        "schema": "Scheme (http or https)",
                        "login": "User (simple auth)",
                    },
                    "placeholders": {"host": "rm1.example.com,rm2.example.com", "port": "8088", "schema": "http"},
                },
            },
        ],
        "hooks": [
            {
                "integration-name": "Zaloni data lake",
                "python-modules": ["airflow_zaloni.hooks.yarn", "airflow_zaloni.hooks.spark"],
            },
            {
                "integration-name": "Zaloni data lake",
                "python-modules": ["airflow_zaloni.hooks.mainframe"],
            },
            {
                "integration-name": "Zaloni data lake",
                "python-modules": ["airflow_zaloni.hooks.twitter"],
            },
        ],
        "operators": [
            {
                "integration-name": "Zaloni data lake",
                "python-modules": ["airflow_zaloni.operators.spark", "airflow_zaloni.operators.hadoop"],
            },
            {
                "integration-name": "Zaloni data lake",
                "python-modules": ["airflow_zaloni.operators.mainframe"],
            },
            {
                "integration-name": "Zaloni data lake",
                "python-modules": ["airflow_zaloni.operators.base"],
            },
            {
                "integration-name": "Zaloni data lake",
                "python-modules": ["airflow_zaloni.operators.files"],
            },
            {
                "integration-name": "Zaloni data lake",
                "python-modules": ["airflow_zaloni.operators.twitter"],
            },
            {
                "integration-name": "Zaloni data lake",
                "python-modules": ["airflow_zaloni.operators.salesforce"],
            },
            {
                "integration-name": "Zaloni data lake",
                "python-modules": ["airflow_zaloni.operators.warehouse"],
            },
            {"integration-name": "Zaloni data lake", "python-modules": ["airflow_zaloni.operators.promote"]},
        ],
        "sensors": [
            {
                "integration-name": "Zaloni data lake",
                "python-modules": ["airflow_zaloni.sensors.yarn", "airflow_zaloni.sensors.spark"],
            },
            {"integration-name": "Zaloni data lake", "python-modules": ["airflow_zaloni.sensors.files"]},
            {"integration-name": "Zaloni data lake", "python-modules": ["airflow_zaloni.sensors.lake"]},
        ],
        "triggers": [
            {
                "integration-name": "Zaloni data lake",
                "python-modules": ["airflow_zaloni.triggers.yarn", "airflow_zaloni.triggers.spark"],
            },
            {"integration-name": "Zaloni data lake", "python-modules": ["airflow_zaloni.triggers.files"]},
            {"integration-name": "Zaloni data lake", "python-modules": ["airflow_zaloni.triggers.lake"]},
        ],
        "extra-links": ["airflow_zaloni.links.JobTrackingLink"],
        "filesystems": ["airflow_zaloni.lake.webhdfs_fs"],
        "config": {
            "zaloni": {
                "description": "Settings of the Zaloni data-lake provider.",
                "options": {
                    "lake_root": {
                        "description": "Root URI of the lake: a path or file:// URI, webhdfs://<conn_id>@/path, "
                        "s3://bucket/prefix (credentials from lake_conn_id), or any fsspec URL. Empty means a "
                        "'lake' folder in $AIRFLOW_HOME.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "webhdfs://webhdfs_default@/data/lake",
                        "default": "",
                    },
                    "lake_conn_id": {
                        "description": "Airflow connection of the lake's store, used for every lake root that is "
                        "not a local path (lake_root and any root an operator names): an aws connection (key, "
                        "secret, session token, region, endpoint_url or role_arn in its extra) for s3:// roots, a "
                        "webhdfs connection for webhdfs:///path roots. Operators, sensors and the zaloni CLI take "
                        "lake_conn_id / --conn-id to override it. Empty means the filesystem's own defaults.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "aws_lake",
                        "default": "",
                    },
                    "catalog_type": {
                        "description": "Iceberg catalog of the lake's raw/trusted/refined tables: sql (the "
                        "default: SQLite in <lake_root>/_zaloni/catalog.db for a local lake, or PostgreSQL through "
                        "catalog_uri), rest, hive, glue, or none (no tables: files and manifests only).",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "sql",
                        "default": "",
                    },
                    "catalog_uri": {
                        "description": "URI of the Iceberg catalog: postgresql+psycopg://user:pw@host/db for a SQL "
                        "catalog on PostgreSQL, http://host:8181 for REST, thrift://host:9083 for a Hive Metastore. "
                        "Empty: the embedded SQLite catalog (for a remote lake root a file under $AIRFLOW_HOME on "
                        "each machine: set this when workers run on several machines).",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "postgresql+psycopg://iceberg:secret@db:5432/iceberg",
                        "default": "",
                    },
                    "catalog_warehouse": {
                        "description": "Warehouse location of the Iceberg catalog; empty means the lake root.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "s3://corp-lake/prod",
                        "default": "",
                    },
                    "catalog_conn_id": {
                        "description": "Airflow connection describing the Iceberg catalog instead of catalog_uri: "
                        "postgres (SQL catalog on that database), http/https (REST, password as bearer token), "
                        "hive_metastore, or aws (Glue); its extra may add pyiceberg catalog properties.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "iceberg_catalog",
                        "default": "",
                    },
                    "row_group_rows": {
                        "description": "Rows per Parquet row group written by the lake writer.",
                        "version_added": "0.1.0",
                        "type": "integer",
                        "example": "1000000",
                        "default": "1000000",
                    },
                    "row_group_bytes": {
                        "description": "In-memory Arrow bytes after which the lake writer closes a row group, "
                        "whichever of rows and bytes comes first. It bounds the writer's memory: 16 MB keeps an "
                        "ingest's peak near 150 MB above the process's idle size.",
                        "version_added": "0.1.0",
                        "type": "integer",
                        "example": "16777216",
                        "default": "16777216",
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
                    "stale_after": {
                        "description": "The Lake view marks a dataset stale when its last commit is older than "
                        "this (e.g. 36h, 2d, 1w, or seconds), unless its manifests record the schedule interval of "
                        "the producing DAG: then after two intervals.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "36h",
                        "default": "2d",
                    },
                    "lake_view_cache_seconds": {
                        "description": "Seconds the Lake view reuses what it read from the manifests before it "
                        "reads them again (0 reads on every request).",
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": "30",
                        "default": "30",
                    },
                    "lake_view_page_size": {
                        "description": "Datasets per page of the Lake view, and partitions per page of a dataset.",
                        "version_added": "0.1.0",
                        "type": "integer",
                        "example": "50",
                        "default": "50",
                    },
                },
            }
        },
    }
