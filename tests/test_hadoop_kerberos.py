"""A Kerberized Hadoop (``scripts/hadoop.sh up-kerberos``: Hadoop's MiniKdc, a NameNode and a DataNode with
``hadoop.security.authentication=kerberos``, a ResourceManager; SPNEGO on WebHDFS and on the RM REST API).

What a user of a Kerberized cluster relies on: with the worker's ticket the lake commits and reads on HDFS as the
ticket's user, ``YarnHook`` reads and kills applications, and without a ticket the error names the server and says
there is no Kerberos ticket (not a bare "401 Authentication required").

The ticket comes from the user's keytab through ``KRB5_CLIENT_KTNAME`` (MIT Kerberos acquires it by itself, as a
worker with a keytab does); ``kinit -kt`` into ``KRB5CCNAME`` is the same for GSSAPI.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from requests_kerberos import OPTIONAL, HTTPKerberosAuth

from airflow_zaloni.hooks.yarn import YarnError, YarnHook
from airflow_zaloni.lake import DatasetRef, Lake, LakeError
from airflow_zaloni.lake.webhdfs_fs import HAWebHDFS
from tests.servers.hadoop import SCRIPT, KerberizedHadoop, _properties, stop_hadoop
from tests.sources_for_tests import CounterSource

pytestmark = [pytest.mark.hadoop, pytest.mark.slow, pytest.mark.timeout(300)]

REF = DatasetRef("raw", "krb", "orders")


@pytest.fixture
def with_ticket(kerberized_hadoop: KerberizedHadoop, monkeypatch: pytest.MonkeyPatch) -> KerberizedHadoop:
    """The worker has the user's keytab: GSSAPI gets a ticket from the cluster's KDC."""
    for name, value in kerberized_hadoop.client_env.items():
        monkeypatch.setenv(name, value)
    return kerberized_hadoop


@pytest.fixture
def without_ticket(kerberized_hadoop: KerberizedHadoop, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The worker knows the realm (krb5.conf) but never ran kinit and has no keytab.

    A fresh worker process: no cached WebHDFS client still holding the NameNode's auth cookie of an earlier test.
    """
    HAWebHDFS.clear_instance_cache()
    monkeypatch.setenv("KRB5_CONFIG", str(kerberized_hadoop.krb5_conf))
    monkeypatch.delenv("KRB5_CLIENT_KTNAME", raising=False)
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path}/no-ticket")


def webhdfs_connection(cluster: KerberizedHadoop, monkeypatch: pytest.MonkeyPatch, conn_id: str, **extra: Any) -> None:
    conn = {"conn_type": "webhdfs", "host": cluster.namenode_http, "extra": extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


def yarn_connection(cluster: KerberizedHadoop, monkeypatch: pytest.MonkeyPatch, conn_id: str, **extra: Any) -> str:
    conn = {"conn_type": "yarn", "host": cluster.resourcemanager_http, "extra": extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return conn_id


def ingest(lake: Lake, rows: int) -> None:
    source = CounterSource(lower=None, upper=rows, batch_rows=500)
    with lake.transaction(run_id="krb", try_number=1) as txn:
        writer = txn.writer(REF, "dt=2026-12-07", schema=source.schema, source=source.describe())
        for batch in source.batches():
            writer.write_batch(batch)


@pytest.mark.parametrize("switch", ["use_kerberos", "core_security"])
def test_the_lake_commits_and_reads_on_a_kerberized_namenode(
    with_ticket: KerberizedHadoop, monkeypatch: pytest.MonkeyPatch, switch: str
) -> None:
    if switch == "use_kerberos":
        webhdfs_connection(with_ticket, monkeypatch, "krb_lake", use_kerberos=True)
    else:  # as the provider's WebHDFSHook decides: Airflow's [core] security
        monkeypatch.setenv("AIRFLOW__CORE__SECURITY", "kerberos")
        webhdfs_connection(with_ticket, monkeypatch, "krb_lake")
    folder = f"/user/{with_ticket.user}/lake-{uuid.uuid4().hex[:8]}"
    lake = Lake(f"webhdfs://krb_lake@{folder}")

    ingest(lake, 1200)

    assert sorted(lake.read_table(REF)["id"].to_pylist()) == list(range(1, 1201))
    # the files belong to the ticket's user: the NameNode took the identity from Kerberos, not from user.name
    host, port = with_ticket.namenode_http.rsplit(":", 1)
    fs = HAWebHDFS([(host, int(port))], kerberos=True, skip_instance_cache=True)
    partition = f"{folder}/raw/krb/orders/dt=2026-12-07"
    owners = {info["owner"] for info in fs.ls(partition, detail=True)}
    assert owners == {with_ticket.user}


def submit_sleeping_application(cluster: KerberizedHadoop) -> str:
    """An application through the RM's REST API (SPNEGO); no NodeManager runs, so it waits in ACCEPTED."""
    base = f"http://{cluster.resourcemanager_http}/ws/v1/cluster/apps"
    auth = HTTPKerberosAuth(mutual_authentication=OPTIONAL)
    new = requests.post(f"{base}/new-application", auth=auth, timeout=30)
    new.raise_for_status()
    app_id = str(new.json()["application-id"])
    body = {
        "application-id": app_id,
        "application-name": "kerberos-test",
        "application-type": "YARN",
        "am-container-spec": {"commands": {"command": "sleep 600"}},
        "resource": {"memory": 128, "vCores": 1},
        "max-app-attempts": 1,
    }
    submitted = requests.post(base, json=body, auth=auth, timeout=30)
    assert submitted.status_code == 202, submitted.text
    return app_id


def test_yarn_hook_reads_and_kills_an_application_over_spnego(
    with_ticket: KerberizedHadoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    app_id = submit_sleeping_application(with_ticket)
    hook = YarnHook(yarn_connection(with_ticket, monkeypatch, "krb_yarn", auth="kerberos"))

    app = hook.get_application(app_id)

    assert app.state in ("NEW_SAVING", "SUBMITTED", "ACCEPTED")
    assert app.user == with_ticket.user  # the RM knows the caller from the ticket
    hook.kill_application(app_id)
    deadline = time.monotonic() + 60
    while (state := hook.get_application(app_id).state) != "KILLED" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert state == "KILLED"


def test_without_a_ticket_the_errors_name_the_server_and_the_missing_ticket(
    kerberized_hadoop: KerberizedHadoop, without_ticket: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    webhdfs_connection(kerberized_hadoop, monkeypatch, "krb_lake", use_kerberos=True)
    with pytest.raises(LakeError) as lake_error:
        ingest(Lake("webhdfs://krb_lake@/tmp/no-ticket-lake"), 10)
    message = str(lake_error.value)
    assert f"the NameNode {kerberized_hadoop.namenode_http}" in message
    assert "no Kerberos ticket" in message and "kinit" in message
    assert isinstance(lake_error.value.__cause__, PermissionError)

    hook = YarnHook(yarn_connection(kerberized_hadoop, monkeypatch, "krb_yarn", auth="kerberos"))
    with pytest.raises(YarnError) as yarn_error:
        hook.cluster_metrics()
    assert f"the ResourceManager http://{kerberized_hadoop.resourcemanager_http}" in str(yarn_error.value)
    assert "no Kerberos ticket" in str(yarn_error.value)
    assert yarn_error.value.status == 401


def test_a_connection_without_kerberos_is_told_to_turn_it_on(
    kerberized_hadoop: KerberizedHadoop, with_ticket: KerberizedHadoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    webhdfs_connection(kerberized_hadoop, monkeypatch, "plain_lake")
    monkeypatch.setenv("AIRFLOW__CORE__SECURITY", "")
    with pytest.raises(LakeError, match=r"wants Kerberos .*set the extra use_kerberos"):
        Lake("webhdfs://plain_lake@/tmp/plain-lake").check_writable()
    hook = YarnHook(yarn_connection(kerberized_hadoop, monkeypatch, "plain_yarn"))
    with pytest.raises(YarnError, match=r"wants Kerberos .*set extra auth=kerberos"):
        hook.cluster_metrics()


def test_up_starts_again_on_new_ports_when_one_was_taken_before_hadoop_bound_it() -> None:
    """The port race of two clusters starting at once: the launcher picks free ports, the ResourceManager binds
    its own seconds later. Here the test takes the RM's web port in that gap, as another cluster would."""
    home = Path(tempfile.mkdtemp(prefix="zaloni-hadoop-race-"))
    up = subprocess.Popen(
        ["bash", str(SCRIPT), "up-kerberos", str(home)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    taken = socket.socket()
    try:
        deadline = time.monotonic() + 240
        while not (home / "cluster.properties").exists():
            assert up.poll() is None and time.monotonic() < deadline, "the launcher did not write its ports"
            time.sleep(0.02)
        first = _properties(home / "cluster.properties")["resourcemanager_http"]
        host, port = first.rsplit(":", 1)
        taken.bind((host, int(port)))
        taken.listen()
        _, stderr = up.communicate(timeout=600)

        assert up.returncode == 0, stderr
        assert "starting again on new ports" in stderr
        assert _properties(home / "cluster.properties")["resourcemanager_http"] != first
        assert "BindException" in "".join(p.read_text() for p in (home / "logs.attempt-1").glob("rm0.log"))
    finally:
        taken.close()
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGTERM)
            up.wait(timeout=60)
        stop_hadoop(home)
        subprocess.run(["rm", "-rf", str(home)], check=False)
