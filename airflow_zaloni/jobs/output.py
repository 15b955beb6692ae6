"""A lake partition written by an external job (Spark) and committed by the operator that ran the job.

The lake's commit protocol lets only its own writers put files into a transaction's staging folder. A Spark job
writes Parquet itself, on the cluster, maybe while the task is deferred and no Python process holds a transaction
open. So:

1. before the job starts, :meth:`JobOutput.staging_path` names the staging folder of a transaction whose id is
   derived from the task run (the same for every try, so a retry that reattaches to the running job finds it);
2. the job writes its Parquet files there (``df.write.mode("overwrite").parquet(path)``);
3. when the job has succeeded, :meth:`JobOutput.commit` reopens the transaction by its id, adopts the Parquet files
   the job wrote (:func:`airflow_zaloni.lake.job_files.adopt_job_files`: rows and schema from each file's footer,
   size and sha256 read back, all files of one schema) and commits: the partition is published whole, with its
   manifest, or not at all.

Airflow-free. (This is the minimal API the lake lacked for external writers; it only uses the lake's public API:
``Transaction(txn_id=...)``, ``LakeWriter.staging_dir``, ``LakeWriter.files`` and ``rows``, and the lake's rule of
which files of a job's folder are data, shared with :func:`airflow_zaloni.lake.promote.publish_spark_output`.)
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from airflow_zaloni.lake import DatasetRef, Lake, LakeWriter, Transaction
from airflow_zaloni.lake.job_files import adopt_job_files


class JobOutput:
    """One partition of one dataset that an external job writes through the lake's commit protocol.

    :param lake: the lake.
    :param ref: the dataset written.
    :param partition: the partition replaced, e.g. ``dt=2026-11-25``.
    :param run_key: identifies the task run (dag, task, run id, map index): one staging folder per run, kept across
        tries.
    :param path_prefix: prepended to the staging path handed to the job, where the job sees the lake under another
        name (``hdfs://namenode:8020`` for a ``webhdfs://`` lake).
    """

    def __init__(self, lake: Lake, ref: DatasetRef, partition: str, *, run_key: str, path_prefix: str = "") -> None:
        self.lake = lake
        self.ref = ref
        self.partition = partition
        self.txn_id = "job-" + hashlib.sha256(run_key.encode()).hexdigest()[:20]
        self.path_prefix = path_prefix.rstrip("/")

    def _writer(self, txn: Transaction, **kwargs: Any) -> LakeWriter:
        # The writer only adopts the job's files; its own prefix never matches them ("part-..." from Spark).
        return txn.writer(self.ref, self.partition, file_prefix="zaloni-job", **kwargs)

    def staging_path(self, *, fresh: bool) -> str:
        """The folder the job writes into (made now); ``fresh`` empties it first (a new submission)."""
        # shared: the staging outlives this process while the job runs (the task may defer, or be retried
        # elsewhere), so other commits on the dataset must not clean it up as an abandoned attempt's
        txn = self.lake.transaction(txn_id=self.txn_id, shared=True)
        folder = self._writer(txn).staging_dir
        if fresh:
            self.lake.storage.remove(folder)
            self.lake.storage.makedirs(folder)
        # the transaction stays open on purpose: the job fills the folder, commit() reopens it by its id
        return f"{self.path_prefix}{folder}" if self.path_prefix else folder

    def commit(
        self,
        *,
        run_id: str | None,
        try_number: int | None,
        producer: str,
        source: dict[str, Any],
        task: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Adopt the Parquet files the job wrote and publish the partition; return the transaction summary.

        ``task`` (the Airflow task, as :func:`airflow_zaloni.operators.base.task_record` gives it) goes into the
        manifest's ``extra.airflow``, so the Lake view links the partition to its run and task.

        Idempotent: when this run's transaction is already the partition's last commit (a try that died after
        committing), the committed partition is reported instead of failing on an empty staging folder.
        """
        current = self.lake.manifest(self.ref, self.partition)
        if current and current.get("txn_id") == self.txn_id:
            totals = current["totals"]
            return {
                "txn_id": self.txn_id,
                "already_committed": True,
                "datasets": [
                    {
                        "dataset": current["dataset"],
                        "partition": self.partition,
                        "rows": totals["rows"],
                        "bytes": totals["bytes"],
                        "files": totals["files"],
                        "watermark": current["watermark"]["after"],
                    }
                ],
            }
        txn = self.lake.transaction(
            txn_id=self.txn_id, shared=True, run_id=run_id, try_number=try_number, producer=producer
        )
        try:
            writer = self._writer(txn, source=source)
            if task:
                writer.extra["airflow"] = dict(task)
            self._adopt(writer)
            return txn.commit()
        except BaseException:
            txn.abort()
            raise

    def _adopt(self, writer: LakeWriter) -> None:
        adopt_job_files(writer, self.lake.storage.arrow_filesystem(), what=f"{self.ref} {self.partition}")
