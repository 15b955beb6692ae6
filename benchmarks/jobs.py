"""Worker-slot seconds while a Spark job runs: deferrable SparkJobOperator against the blocking SparkSubmitOperator.

    .venv/bin/python benchmarks/jobs.py                 # a 60-second job, as in the issue
    .venv/bin/python benchmarks/jobs.py --seconds 20    # quicker

Both submit the same driver (a Java class that sleeps ``--seconds``) to a real Spark standalone cluster started by
the script (pyspark's Master and Worker on 127.0.0.1, REST server on), in cluster deploy mode, one after the other:

* **baseline**: Airflow's ``SparkSubmitOperator`` (apache-spark provider). Its ``execute`` returns when the driver
  has ended, so the worker slot is held for the whole job.
* **ours**: ``SparkJobOperator``. ``execute`` submits and raises ``TaskDeferred``; the wait runs in the trigger
  (here on this process's event loop, as the triggerer would); ``execute_complete`` reports. Slot seconds are the
  time spent in ``execute`` plus ``execute_complete``.

Also printed: the peak memory (RSS summed over the process tree) of the worker side while each task held its slot,
the wall time until the job's status was known, and how long the trigger waited.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import psutil  # noqa: E402

from tests.job_context import make_context  # noqa: E402
from tests.servers.spark import JOB_CLASS, build_test_jar, spark_standalone  # noqa: E402


class PeakRSS:
    """Samples the RSS of the worker side every 0.1 s: this process and its descendants, except the Spark cluster
    (Master, Worker and the drivers they start: processes that already existed when sampling began, and their
    children). ``peak`` in MB."""

    def __init__(self) -> None:
        self.peak = 0.0
        self._cluster = {p.pid for p in psutil.Process().children()}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            cluster = set(self._cluster)
            for pid in self._cluster:
                try:
                    cluster.update(c.pid for c in psutil.Process(pid).children(recursive=True))
                except psutil.Error:
                    pass
            for proc in [me, *me.children(recursive=True)]:
                if proc.pid in cluster:
                    continue
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total / 1e6)
            self._stop.wait(0.1)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def baseline(jar: Path, seconds: int) -> dict[str, Any]:
    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

    op = SparkSubmitOperator(
        task_id="blocking",
        application=str(jar),
        java_class=JOB_CLASS,
        application_args=[str(seconds * 1000)],
        conn_id="bench_spark",
        driver_memory="256m",
        conf={"spark.master.rest.enabled": "true"},
        status_poll_interval=2,
    )
    with PeakRSS() as rss:
        start = time.monotonic()
        op.execute(make_context())
        slot = time.monotonic() - start
    return {"slot_seconds": slot, "wall_seconds": slot, "peak_rss_mb": rss.peak}


def ours(jar: Path, seconds: int) -> dict[str, Any]:
    from airflow.sdk.exceptions import TaskDeferred

    from airflow_zaloni.operators.spark import SparkJobOperator

    def operator() -> SparkJobOperator:
        return SparkJobOperator(
            task_id="deferrable",
            application=str(jar),
            java_class=JOB_CLASS,
            application_args=[str(seconds * 1000)],
            conn_id="bench_spark",
            driver_memory="256m",
            poll_interval=2,
        )

    context = make_context()
    start = time.monotonic()
    with PeakRSS() as rss:
        try:
            operator().execute(context)
            raise RuntimeError("SparkJobOperator did not defer")
        except TaskDeferred as deferred:
            trigger = deferred.trigger
    submit = time.monotonic() - start

    async def first_event() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise RuntimeError("no event")

    waited_from = time.monotonic()
    event = asyncio.run(first_event())
    waited = time.monotonic() - waited_from

    resumed = time.monotonic()
    with PeakRSS() as rss2:
        result = operator().execute_complete(context, event)
    complete = time.monotonic() - resumed
    assert result["status"] == "success", result
    return {
        "slot_seconds": submit + complete,
        "wall_seconds": time.monotonic() - start,
        "peak_rss_mb": max(rss.peak, rss2.peak),
        "trigger_wait_seconds": waited,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=60, help="how long the Spark driver runs")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="zaloni-bench-jobs-"))
    os.environ.setdefault("AIRFLOW_HOME", str(work / "airflow"))
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    jar = build_test_jar(work / "jar")
    with spark_standalone(work / "spark") as cluster:
        os.environ["AIRFLOW_CONN_BENCH_SPARK"] = json.dumps(
            {
                "conn_type": "spark",
                "host": "spark://127.0.0.1",
                "port": cluster.rest_port,
                "extra": {"deploy-mode": "cluster", "rest-port": cluster.rest_port, "web-ui-url": cluster.web_url},
            }
        )
        base = baseline(jar, args.seconds)
        mine = ours(jar, args.seconds)

    print(f"\nSpark driver running {args.seconds}s on a standalone cluster (cluster deploy mode), one run each:\n")
    print(f"{'':34}{'worker slot s':>14}{'job done after s':>18}{'peak worker MB':>16}")
    print(
        f"{'SparkSubmitOperator (blocking)':34}{base['slot_seconds']:14.1f}{base['wall_seconds']:18.1f}"
        f"{base['peak_rss_mb']:16.0f}"
    )
    print(
        f"{'SparkJobOperator (deferrable)':34}{mine['slot_seconds']:14.1f}{mine['wall_seconds']:18.1f}"
        f"{mine['peak_rss_mb']:16.0f}"
    )
    print(
        f"\nworker-slot seconds: blocking / deferrable = {base['slot_seconds'] / mine['slot_seconds']:.1f}x "
        f"(the trigger waited {mine['trigger_wait_seconds']:.1f}s without a worker slot)"
    )


if __name__ == "__main__":
    main()
