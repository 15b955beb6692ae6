"""The Airflow connection of a lake: credentials and endpoint for its filesystem, never in code or in the root URI.

A lake on S3 (or an S3-compatible store) takes an ``aws`` connection (``lake_conn_id`` on every lake operator and
sensor, ``[zaloni] lake_conn_id``, ``zaloni lake ... --conn-id``). :func:`storage_options_for` turns it into fsspec
storage options for the lake's filesystem (s3fs), :func:`iceberg_io_properties` into pyiceberg FileIO properties, so
the Parquet files and the Iceberg tables of one lake reach the same store with the same credentials.

The ``aws`` mapping goes through the Amazon provider's own hook, so whatever its connection supports (keys, a session
token, a region, ``endpoint_url`` or a per-service ``service_config.s3.endpoint_url``, ``role_arn`` to assume, a
profile or the default credential chain) is what the lake gets. Other connection types map where fsspec has an
obvious counterpart (``webhdfs``/``hdfs``, ``sftp``/``ssh``); others are refused by name.

The values returned hold secrets: they are registered with Airflow's secrets masker (so a task log shows ``***``)
and must never be logged or put in XCom. Without Airflow (a plain Python process) nothing here is imported.
"""

from __future__ import annotations

from typing import Any

from airflow_zaloni.lake.errors import LakeError

#: Connection types whose filesystem is S3 (the Amazon provider's ``aws`` type; ``s3`` is its old name).
AWS_TYPES = ("aws", "s3")
WEBHDFS_TYPES = ("webhdfs", "hdfs")
SFTP_TYPES = ("sftp", "ssh")


def _connection(conn_id: str) -> Any:
    try:
        from airflow.sdk import BaseHook
    except ImportError as exc:  # pragma: no cover - the core is usable without Airflow, connections are not
        raise LakeError(f"lake connection {conn_id!r} needs Airflow installed: {exc}") from exc
    try:
        return BaseHook.get_connection(conn_id)
    except Exception as exc:
        raise LakeError(f"lake connection {conn_id!r} cannot be read: {exc}") from exc


def _mask(*values: Any) -> None:
    """Keep credentials that the provider's hook hands back (an assumed role's token) out of every log."""
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover
        return
    for value in values:
        if value:
            mask_secret(str(value))


def aws_credentials(conn_id: str) -> dict[str, Any]:
    """What an ``aws`` connection resolves to: ``key``, ``secret``, ``token``, ``region``, ``endpoint_url``.

    Credentials come from the Amazon provider's hook: the connection's keys, or a role it assumes, or the default
    chain (environment, instance profile) when the connection names none. Missing values are left out.
    """
    try:
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
    except ImportError as exc:
        raise LakeError(
            f"lake connection {conn_id!r} is an aws connection, which needs the s3 extra "
            f"(pip install 'airflow-zaloni[s3]': apache-airflow-providers-amazon and s3fs): {exc}"
        ) from exc
    hook = AwsBaseHook(aws_conn_id=conn_id, client_type="s3")
    config = hook.conn_config
    out: dict[str, Any] = {}
    try:
        creds = hook.get_credentials(region_name=config.region_name)
    except Exception as exc:
        # The message of botocore names the connection and the profile or role, never a secret.
        raise LakeError(f"lake connection {conn_id!r}: no AWS credentials could be resolved: {exc}") from exc
    if creds is not None and creds.access_key:
        out["key"], out["secret"] = creds.access_key, creds.secret_key
        if creds.token:
            out["token"] = creds.token
    _mask(out.get("secret"), out.get("token"))
    if config.region_name:
        out["region"] = config.region_name
    endpoint = config.get_service_endpoint_url(service_name="s3")
    if endpoint:
        out["endpoint_url"] = endpoint
    return out


def storage_options_for(conn_id: str | None, protocol: str | None = None) -> dict[str, Any]:
    """fsspec storage options for the filesystem of a lake reached through Airflow connection ``conn_id``.

    :param conn_id: the connection; ``None`` or empty gives no options (the filesystem's own defaults).
    :param protocol: the scheme of the lake root (``s3``, ``webhdfs``, ...), checked against the connection type.
    """
    if not conn_id:
        return {}
    conn = _connection(conn_id)
    conn_type = (conn.conn_type or "").lower()
    if conn_type in AWS_TYPES:
        _check_protocol(conn_id, conn_type, protocol, ("s3", "s3a", "s3n"))
        aws = aws_credentials(conn_id)
        options: dict[str, Any] = {k: aws[k] for k in ("key", "secret", "token", "endpoint_url") if k in aws}
        if "region" in aws:
            options["client_kwargs"] = {"region_name": aws["region"]}
        config_kwargs = conn.extra_dejson.get("config_kwargs")
        if isinstance(config_kwargs, dict) and config_kwargs:
            options["config_kwargs"] = dict(config_kwargs)
        # The lake is written by many processes: a cached listing would hide their commits from this one.
        options["use_listings_cache"] = False
        return options
    if conn_type in WEBHDFS_TYPES:
        _check_protocol(conn_id, conn_type, protocol, ("webhdfs", "swebhdfs"))
        extra = conn.extra_dejson
        return {
            "host": conn.host or "localhost",
            "port": conn.port or 9870,
            "user": conn.login or None,
            "use_https": bool(extra.get("use_ssl", False)),
            "kerberos": bool(extra.get("use_kerberos", False)),
        }
    if conn_type in SFTP_TYPES:
        _check_protocol(conn_id, conn_type, protocol, ("sftp", "ssh"))
        options = {"host": conn.host, "port": conn.port or 22, "username": conn.login}
        if conn.password:
            options["password"] = conn.password
        key_file = conn.extra_dejson.get("key_file")
        if key_file:
            options["key_filename"] = key_file
        return options
    raise LakeError(
        f"lake connection {conn_id!r} has type {conn.conn_type!r}; a lake connection must be one of "
        f"{', '.join(AWS_TYPES + WEBHDFS_TYPES + SFTP_TYPES)}"
    )


def iceberg_io_properties(conn_id: str | None) -> dict[str, str]:
    """pyiceberg FileIO properties (``s3.endpoint``, ``s3.access-key-id``, ...) for the lake's connection.

    Only ``aws`` connections map (pyiceberg's S3 FileIO); ``None`` gives no properties (pyiceberg's defaults).
    """
    if not conn_id:
        return {}
    conn = _connection(conn_id)
    conn_type = (conn.conn_type or "").lower()
    if conn_type not in AWS_TYPES:
        raise LakeError(
            f"lake connection {conn_id!r} has type {conn.conn_type!r}; Iceberg FileIO properties are known for "
            f"aws connections only"
        )
    props = aws_iceberg_properties(conn_id, "s3")
    if "s3.endpoint" in props:
        # S3-compatible stores on a custom endpoint (MinIO, moto, Ceph) answer path-style requests.
        props.setdefault("s3.force-virtual-addressing", "false")
    return props


def aws_iceberg_properties(conn_id: str, service: str) -> dict[str, str]:
    """An ``aws`` connection as pyiceberg properties of one service (``s3`` FileIO, ``glue`` catalog):
    ``<service>.access-key-id``, ``.secret-access-key``, ``.session-token``, ``.region``, ``.endpoint``."""
    names = {
        "endpoint_url": "endpoint",
        "key": "access-key-id",
        "secret": "secret-access-key",
        "token": "session-token",
        "region": "region",
    }
    return {f"{service}.{names[k]}": str(v) for k, v in aws_credentials(conn_id).items() if k in names}


def _check_protocol(conn_id: str, conn_type: str, protocol: str | None, allowed: tuple[str, ...]) -> None:
    if protocol and protocol not in allowed:
        raise LakeError(
            f"lake connection {conn_id!r} is a {conn_type} connection, which cannot reach a {protocol}:// lake "
            f"root (it serves {', '.join(p + '://' for p in allowed)})"
        )
