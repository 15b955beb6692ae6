"""A stand-in for the ``hadoop`` command (no Hadoop can run here), submitting to the local RM server's REST API.

``hadoop jar <jar> [args...]`` as a MapReduce driver does it: for each application it asks the ResourceManager
for a new application id (``POST /ws/v1/cluster/apps/new-application``), submits it (``POST /ws/v1/cluster/apps``)
and prints the log lines Hadoop prints (``impl.YarnClientImpl: Submitted application application_...``,
``mapreduce.Job: Running job: job_...``). It records its argv (JSON) to ``$FAKE_HADOOP_ARGV``. Behaviour comes
from the environment: ``FAKE_HADOOP_RM`` (RM base URL), ``FAKE_HADOOP_APPS`` (how many applications, default 1),
``FAKE_HADOOP_EXIT`` (exit code, default 0), ``FAKE_HADOOP_USER``.

:func:`install` writes an executable ``hadoop`` into a folder, for ``hadoop_binary=``.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import urllib.request
from pathlib import Path


def _post(url: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else b""
    req = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        raw = resp.read()
        return json.loads(raw) if raw else {}


def main(argv: list[str]) -> int:
    if os.environ.get("FAKE_HADOOP_ARGV"):
        Path(os.environ["FAKE_HADOOP_ARGV"]).write_text(json.dumps(argv))
    if argv[:1] != ["jar"] or len(argv) < 2:
        print("Usage: hadoop jar <jar> [mainClass] args...", file=sys.stderr)
        return 1
    rm = os.environ["FAKE_HADOOP_RM"]
    user = os.environ.get("FAKE_HADOOP_USER", "etl")
    print('WARNING: Use "yarn jar" to launch YARN applications.', flush=True)
    for n in range(int(os.environ.get("FAKE_HADOOP_APPS", "1"))):
        app_id = _post(f"{rm}/ws/v1/cluster/apps/new-application?user.name={user}")["application-id"]
        _post(
            f"{rm}/ws/v1/cluster/apps?user.name={user}",
            {"application-id": app_id, "application-name": f"wordcount-step{n + 1}", "application-type": "MAPREDUCE"},
        )
        job_id = app_id.replace("application_", "job_")
        print(f"26/11/26 10:00:0{n} INFO mapreduce.JobSubmitter: Submitting tokens for job: {job_id}", flush=True)
        print(f"26/11/26 10:00:0{n} INFO impl.YarnClientImpl: Submitted application {app_id}", flush=True)
        print(f"26/11/26 10:00:0{n} INFO mapreduce.Job: Running job: {job_id}", flush=True)
        print(f"26/11/26 10:00:0{n} INFO mapreduce.Job: Job {job_id} completed successfully", flush=True)
    code = int(os.environ.get("FAKE_HADOOP_EXIT", "0"))
    if code:
        print('Exception in thread "main" java.io.IOException: Job failed!', file=sys.stderr, flush=True)
    return code


def install(folder: Path) -> Path:
    """Write an executable ``hadoop`` into ``folder`` that runs this module with this Python."""
    folder.mkdir(parents=True, exist_ok=True)
    exe = folder / "hadoop"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__).resolve()}" "$@"\n')
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return exe


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
