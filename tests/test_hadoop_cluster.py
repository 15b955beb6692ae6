"""The real local Hadoop itself (tests/servers/hadoop.py): HDFS HA, WebHDFS, YARN HA, as the other tests rely on."""

from __future__ import annotations

import json
import urllib.request

import pytest

pytestmark = [pytest.mark.hadoop, pytest.mark.slow]


def _get_json(url: str) -> dict:
    req = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def test_hdfs_survives_a_namenode_failover(hadoop_cluster, tmp_path):
    local = tmp_path / "hello.txt"
    local.write_text("hello hadoop\n")
    hadoop_cluster.run("hdfs", "dfs", "-mkdir", "-p", "/smoke")
    hadoop_cluster.run("hdfs", "dfs", "-put", "-f", str(local), "/smoke/hello.txt")
    before = hadoop_cluster.active_namenode()

    hadoop_cluster.failover_namenode()

    assert hadoop_cluster.active_namenode() == 1 - before
    assert hadoop_cluster.run("hdfs", "dfs", "-cat", "/smoke/hello.txt").stdout == "hello hadoop\n"
    # WebHDFS of the active NameNode answers; the standby refuses with Hadoop's StandbyException
    active = hadoop_cluster.namenode_http[1 - before]
    status = _get_json(f"http://{active}/webhdfs/v1/smoke/hello.txt?op=GETFILESTATUS&user.name=root")
    assert status["FileStatus"]["length"] == len("hello hadoop\n")
    standby = hadoop_cluster.namenode_http[before]
    with pytest.raises(urllib.error.HTTPError) as refused:
        _get_json(f"http://{standby}/webhdfs/v1/smoke/hello.txt?op=GETFILESTATUS&user.name=root")
    assert "StandbyException" in refused.value.read().decode()


def test_yarn_has_a_node_and_an_active_rm_after_a_failover(hadoop_cluster):
    before = hadoop_cluster.active_resourcemanager()
    assert before in (0, 1)

    hadoop_cluster.stop_active_resourcemanager()

    after = hadoop_cluster.active_resourcemanager()
    assert after == 1 - before
    info = _get_json(f"http://{hadoop_cluster.resourcemanager_http[after]}/ws/v1/cluster/info")["clusterInfo"]
    assert info["haState"] == "ACTIVE"
    assert info["hadoopVersion"] == "3.4.2"
    nodes = hadoop_cluster.run("yarn", "node", "-list").stdout
    assert "RUNNING" in nodes
