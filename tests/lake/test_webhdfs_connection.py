"""A ``webhdfs`` Airflow connection read as the HDFS provider's WebHDFSHook reads it, against real HA NameNodes.

Before: the host list ``nn1,nn2`` became one bogus host name, a Login with ``use_kerberos`` made fsspec raise
``ValueError``, the string ``"False"`` in ``use_ssl`` turned https on, and a standby NameNode's
``StandbyException`` failed the request.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_zaloni.lake.webhdfs_fs import HAWebHDFS, get_fs
from airflow_zaloni.utils.connections import extra_flag
from tests.hdfs_lake import hdfs_user, unique_folder

pytestmark = [pytest.mark.hadoop, pytest.mark.timeout(180)]


def set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: Any) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "webhdfs", **fields}))


def split(address: str) -> tuple[str, int]:
    host, port = address.rsplit(":", 1)
    return host, int(port)


def test_a_host_list_finds_the_active_namenode_whichever_comes_first(
    hadoop_cluster: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    active = hadoop_cluster.active_namenode()
    standby_first = [hadoop_cluster.namenode_http[1 - active], hadoop_cluster.namenode_http[active]]
    set_conn(monkeypatch, "hdfs_ha", host=",".join(standby_first), login=hdfs_user(hadoop_cluster))
    fs = get_fs("hdfs_ha", {"skip_instance_cache": True})
    folder = unique_folder("ha")
    fs.makedirs(folder, exist_ok=True)
    fs.pipe_file(f"{folder}/a.txt", b"hello")
    assert fs.cat_file(f"{folder}/a.txt") == b"hello"
    assert fs.active_namenode == hadoop_cluster.namenode_http[active]


def test_one_port_for_all_hosts_as_the_provider_writes_it(hadoop_cluster: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    host, port = split(hadoop_cluster.namenode_http[hadoop_cluster.active_namenode()])
    set_conn(monkeypatch, "hdfs_one", host=f"{host}, unreachable.invalid", port=port, login=hdfs_user(hadoop_cluster))
    fs = get_fs("hdfs_one", {"skip_instance_cache": True})
    assert fs.namenodes == [(host, port), ("unreachable.invalid", port)]
    assert fs.ls("/", detail=False) is not None


def test_string_extras_mean_what_they_say(hadoop_cluster: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(
        monkeypatch,
        "hdfs_strings",
        host=",".join(hadoop_cluster.namenode_http),
        login=hdfs_user(hadoop_cluster),
        extra={"use_ssl": "False", "use_kerberos": "false"},
    )
    fs = get_fs("hdfs_strings", {"skip_instance_cache": True})
    assert fs.url.startswith("http://") and not fs.kerb
    fs.ls("/")  # plain http reaches the cluster (https would fail the TLS handshake)


def test_a_login_with_kerberos_is_not_sent_and_does_not_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, "hdfs_krb", host="nn1.example,nn2.example", login="etl", extra={"use_kerberos": "True"})
    fs = get_fs("hdfs_krb", {"skip_instance_cache": True})
    assert fs.kerb and fs.user is None and "user.name" not in fs.pars
    monkeypatch.setenv("AIRFLOW__CORE__SECURITY", "kerberos")  # as the provider's hook decides
    set_conn(monkeypatch, "hdfs_krb2", host="nn1.example", login="etl")
    fs = get_fs("hdfs_krb2", {"skip_instance_cache": True})
    assert fs.kerb and fs.user is None


def test_a_boolean_extra_that_is_no_boolean_is_named() -> None:
    assert extra_flag({"use_ssl": "False"}, "use_ssl", True, conn_id="c") is False
    assert extra_flag({"use_ssl": "TRUE"}, "use_ssl", False, conn_id="c") is True
    assert extra_flag({}, "use_ssl", False, conn_id="c") is False
    with pytest.raises(ValueError, match=r"connection 'c': extra 'use_ssl' must be true or false, not 'maybe'"):
        extra_flag({"use_ssl": "maybe"}, "use_ssl", False, conn_id="c")


def test_a_failover_moves_requests_to_the_new_active_namenode(hadoop_cluster: Any) -> None:
    fs = HAWebHDFS(
        [split(a) for a in hadoop_cluster.namenode_http], user=hdfs_user(hadoop_cluster), skip_instance_cache=True
    )
    folder = unique_folder("failover")
    fs.pipe_file(f"{folder}/before.txt", b"1")
    before = fs.active_namenode
    hadoop_cluster.failover_namenode()
    fs.pipe_file(f"{folder}/after.txt", b"2")  # the old active answers StandbyException; the client moves on
    assert fs.active_namenode != before
    assert fs.active_namenode == hadoop_cluster.namenode_http[hadoop_cluster.active_namenode()]
    assert sorted(fs.ls(folder, detail=False)) == [f"{folder}/after.txt", f"{folder}/before.txt"]
