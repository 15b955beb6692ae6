"""Submit a Spark application, let go of the worker while it runs, reattach on retry, bring its status home."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook
from airflow.sdk import BaseOperator, ResumableJobMixin
from airflow.sdk.exceptions import AirflowException

from airflow_zaloni import config
from airflow_zaloni.hooks.spark import ACTIVE_DRIVER_STATES, SparkDriverNotFound, SparkMasterRestHook
from airflow_zaloni.hooks.yarn import ACTIVE_STATES, YarnApplicationNotFound, YarnHook
from airflow_zaloni.jobs.output import JobOutput
from airflow_zaloni.jobs.status import push_tracking_url, report_event, wait_for_job
from airflow_zaloni.lake import DatasetRef, partition_of_run
from airflow_zaloni.links import JobTrackingLink
from airflow_zaloni.operators.base import task_record
from airflow_zaloni.triggers.spark import SparkDriverTrigger
from airflow_zaloni.triggers.yarn import YarnApplicationTrigger
from airflow_zaloni.utils.retry import RetryPolicy

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.triggers.base import BaseTrigger
    from pydantic import JsonValue

#: Placeholder in ``application_args`` replaced by the lake staging folder the job must write into.
LAKE_STAGING = "{lake_staging}"

STANDALONE_CLUSTER = "standalone-cluster"
YARN_CLUSTER = "yarn-cluster"
IN_TASK = "in-task"


class SparkJobOperator(ResumableJobMixin, BaseOperator):
    """Run a Spark application through Airflow's ``SparkSubmitHook``, and wait for it without holding a worker.

    Where the driver runs decides how the task waits:

    * **Spark standalone, cluster deploy mode**: ``spark-submit`` returns once the master accepted the driver; the
      task then defers to :class:`~airflow_zaloni.triggers.spark.SparkDriverTrigger`, which polls the master's REST
      API (``/v1/submissions/status/<id>``). The connection's master URL must name the REST port (6066 by default)
      and the ``rest-port`` extra the same port.
    * **YARN, cluster deploy mode**: ``spark-submit`` returns once YARN accepted the application
      (``spark.yarn.submit.waitAppCompletion=false``); the task defers to
      :class:`~airflow_zaloni.triggers.yarn.YarnApplicationTrigger` on the ``yarn`` connection.
    * **local, or client deploy mode**: the driver lives in ``spark-submit`` itself, so the job runs to completion
      in the task.

    The driver id or application id is kept in the task state store (``ResumableJobMixin``): a retry after a lost
    worker reattaches to the running job instead of submitting it twice, and one whose job already succeeded
    finishes at once. ``on_kill`` (and a user killing the deferred task) kills the job. The job's final status is
    the task's XCom (``{"status": ..., "jobs": [...]}``), written to the log, and the tracking UI is the task's
    "Job tracking UI" link.

    **Lake output**: with ``lake_output`` the job writes one partition of a lake dataset through the lake's commit
    protocol. The operator replaces ``{lake_staging}`` in ``application_args`` with a staging folder private to the
    run; the job writes Parquet there; when the job has succeeded the operator commits the partition (manifest,
    checksums, all or nothing). The return value then holds the commit summary under ``lake``.

    :param application: the jar or .py file to submit (templated).
    :param application_args: its arguments; ``{lake_staging}`` is replaced by the staging folder (templated).
    :param conn_id: the ``spark`` connection (master, ``deploy-mode``, ``rest-port``, ``web-ui-url`` extras).
    :param yarn_conn_id: the ``yarn`` connection used to follow YARN cluster-mode applications.
    :param java_class: main class of a jar application (templated).
    :param conf: Spark configuration properties (templated).
    :param name: application name (templated).
    :param deploy_mode: ``client`` or ``cluster``, overriding the connection's.
    :param py_files: see ``spark-submit --py-files`` (templated).
    :param jars: see ``spark-submit --jars`` (templated).
    :param files: see ``spark-submit --files`` (templated).
    :param env_vars: environment of ``spark-submit`` (templated).
    :param driver_memory: e.g. ``1g``.
    :param executor_memory: e.g. ``2g``.
    :param total_executor_cores: standalone only.
    :param executor_cores: cores per executor.
    :param num_executors: YARN only.
    :param spark_binary: ``spark-submit`` (default), ``spark2-submit`` or ``spark3-submit``.
    :param verbose: ``spark-submit --verbose``.
    :param deferrable: wait in the triggerer (default) or in the task.
    :param poll_interval: seconds between status polls.
    :param job_timeout: seconds after which a job still running is killed and the task fails.
    :param retry_budget: seconds an unreachable master or ResourceManager is retried before the task fails.
    :param lake_output: dataset the job writes, ``zone/system/name`` (templated).
    :param lake_partition: its partition; default from the data interval (templated).
    :param lake_root: the lake; default ``[zaloni] lake_root`` (templated).
    :param lake_conn_id: Airflow connection of the lake's store (an ``aws`` connection for ``s3://`` roots);
        defaults to ``[zaloni] lake_conn_id``. (templated)
    :param lake_path_prefix: prefix that makes the staging path visible to the job (e.g. ``hdfs://nn:8020``).
    :param durable: keep the job id across tries to reattach (default True).
    """

    template_fields: Sequence[str] = (
        "application",
        "application_args",
        "java_class",
        "conf",
        "name",
        "py_files",
        "jars",
        "files",
        "env_vars",
        "lake_output",
        "lake_partition",
        "lake_root",
        "lake_conn_id",
    )
    template_fields_renderers = {"conf": "json", "env_vars": "json", "application_args": "json"}
    operator_extra_links = (JobTrackingLink(),)
    ui_color = "#fdebd0"
    external_id_key = "spark_job_id"
    #: task state key of the submission time, so that a try that reattaches still reports the job's elapsed time
    submitted_at_key = "spark_job_submitted_at"

    def __init__(
        self,
        *,
        application: str,
        application_args: list[Any] | None = None,
        conn_id: str = "spark_default",
        yarn_conn_id: str = YarnHook.default_conn_name,
        java_class: str | None = None,
        conf: dict[str, Any] | None = None,
        name: str = "airflow-spark",
        deploy_mode: str | None = None,
        py_files: str | None = None,
        jars: str | None = None,
        files: str | None = None,
        env_vars: dict[str, Any] | None = None,
        driver_memory: str | None = None,
        executor_memory: str | None = None,
        total_executor_cores: int | None = None,
        executor_cores: int | None = None,
        num_executors: int | None = None,
        spark_binary: str | None = None,
        verbose: bool = False,
        deferrable: bool = True,
        poll_interval: float = 10.0,
        job_timeout: float | None = None,
        retry_budget: float = 60.0,
        lake_output: str | None = None,
        lake_partition: str | None = None,
        lake_root: str | None = None,
        lake_conn_id: str | None = None,
        lake_path_prefix: str = "",
        durable: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(durable=durable, **kwargs)
        self.application = application
        self.application_args = application_args
        self.conn_id = conn_id
        self.yarn_conn_id = yarn_conn_id
        self.java_class = java_class
        self.conf = conf
        self.name = name
        self.deploy_mode = deploy_mode
        self.py_files = py_files
        self.jars = jars
        self.files = files
        self.env_vars = env_vars
        self.driver_memory = driver_memory
        self.executor_memory = executor_memory
        self.total_executor_cores = total_executor_cores
        self.executor_cores = executor_cores
        self.num_executors = num_executors
        self.spark_binary = spark_binary
        self.verbose = verbose
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.job_timeout = job_timeout
        self.retry_budget = retry_budget
        self.lake_output = lake_output
        self.lake_partition = lake_partition
        self.lake_root = lake_root
        self.lake_conn_id = lake_conn_id
        self.lake_path_prefix = lake_path_prefix
        self._hook: SparkSubmitHook | None = None
        self._mode: str | None = None
        self._external_id: str | None = None
        self._submitted_at: float | None = None
        self._result: dict[str, Any] | None = None

    # -- set-up -------------------------------------------------------------------------------------------------
    def _job_output(self, context: Context) -> JobOutput | None:
        if not self.lake_output:
            return None
        parts = self.lake_output.strip("/").split("/")
        if len(parts) != 3:
            raise ValueError(f"{self.task_id}: lake_output must be zone/system/name, got {self.lake_output!r}")
        partition = self.lake_partition or partition_of_run(context)
        ti = context.get("ti")
        run_key = "/".join(
            str(x) for x in (self.dag_id, self.task_id, context.get("run_id"), getattr(ti, "map_index", -1))
        )
        lake = config.open_lake(self.lake_root, self.lake_conn_id)
        return JobOutput(lake, DatasetRef(*parts), partition, run_key=run_key, path_prefix=self.lake_path_prefix)

    def _make_hook(self, application_args: list[Any] | None) -> SparkSubmitHook:
        hook = SparkSubmitHook(
            conf=dict(self.conf or {}),
            conn_id=self.conn_id,
            files=self.files,
            py_files=self.py_files,
            jars=self.jars,
            java_class=self.java_class,
            total_executor_cores=self.total_executor_cores,
            executor_cores=self.executor_cores,
            executor_memory=self.executor_memory,
            driver_memory=self.driver_memory,
            name=self.name,
            num_executors=self.num_executors,
            application_args=application_args,
            env_vars=self.env_vars,
            verbose=self.verbose,
            spark_binary=self.spark_binary,
            deploy_mode=self.deploy_mode,
        )
        master, deploy_mode = hook._connection["master"], hook._connection["deploy_mode"]
        if master.startswith("spark://") and deploy_mode == "cluster":
            self._mode = STANDALONE_CLUSTER
            # submit through the master's REST server, which is also what tracks and kills the driver
            hook._conf.setdefault("spark.master.rest.enabled", "true")
        elif master.startswith("yarn") and deploy_mode == "cluster":
            self._mode = YARN_CLUSTER
            if str(hook._conf.get("spark.yarn.submit.waitAppCompletion", "")).lower() == "true":
                raise ValueError(f"{self.task_id}: spark.yarn.submit.waitAppCompletion=true would hold the worker")
            hook._conf["spark.yarn.submit.waitAppCompletion"] = "false"
        else:
            self._mode = IN_TASK
        return hook

    def _args_with_staging(self, staging: str | None) -> list[Any] | None:
        if self.application_args is None:
            return None
        if staging is None:
            return list(self.application_args)
        return [a.replace(LAKE_STAGING, staging) if isinstance(a, str) else a for a in self.application_args]

    # -- Airflow ------------------------------------------------------------------------------------------------
    def execute(self, context: Context) -> Any:
        output = self._job_output(context)
        if output is None and any(LAKE_STAGING in str(a) for a in self.application_args or ()):
            raise ValueError(f"{self.task_id}: application_args use {LAKE_STAGING} but lake_output is not set")
        self._hook = self._make_hook(self.application_args)
        if self._mode != IN_TASK:
            return self.execute_resumable(context)
        # the driver lives in spark-submit: run it here, to the end
        staging = output.staging_path(fresh=True) if output else None
        self._hook = self._make_hook(self._args_with_staging(staging))
        started = time.time()
        self.log.info(
            "Running %s with Spark in the task (master %s)", self.application, self._hook._connection["master"]
        )
        self._hook.submit(self.application)
        job = {
            "driver_id": None,
            "state": "FINISHED",
            "mode": IN_TASK,
            "master": self._hook._connection["master"],
            "elapsed_seconds": round(time.time() - started, 3),
        }
        return self._finish(context, {"status": "success", "jobs": [job], "message": ""})

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger fired (on any worker: everything needed is in the event and the context)."""
        return self._finish(context, event)

    def _finish(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        if event.get("status") == "timeout" and event.get("jobs"):
            self._kill_remote(event["jobs"][-1].get("driver_id") or event["jobs"][-1].get("application_id"))
        result = report_event(self, context, event)
        output = self._job_output(context)
        if output is not None:
            ti = context.get("ti")
            summary = output.commit(
                run_id=context.get("run_id"),
                try_number=getattr(ti, "try_number", None),
                producer=f"{type(self).__module__}.{type(self).__name__}",
                source={"system": "spark", "application": self.application, "jobs": result["jobs"]},
                task=task_record(context),
            )
            self.log.info("Committed the job's output to %s: %s", output.lake.root, summary.get("datasets"))
            result["lake"] = summary
        self._result = result
        return result

    def on_kill(self) -> None:
        if self._hook is not None and self._hook._submit_sp is not None and self._hook._submit_sp.poll() is None:
            self._hook.on_kill()  # spark-submit still running (in-task mode, or killed while submitting)
        self._kill_remote(self._external_id)

    def _kill_remote(self, external_id: str | None) -> None:
        if not external_id:
            return
        try:
            if external_id.startswith("application_"):
                YarnHook(self.yarn_conn_id, retry_policy=RetryPolicy(budget=10)).kill_application(external_id)
            else:
                SparkMasterRestHook(self.conn_id, retry_policy=RetryPolicy(budget=10)).kill_driver(external_id)
        except Exception as error:  # killing is best effort; the original failure is what the user must see
            self.log.warning("Could not kill %s: %s", external_id, error)

    # -- ResumableJobMixin ----------------------------------------------------------------------------------------
    def submit_job(self, context: Context) -> JsonValue:
        output = self._job_output(context)
        staging = output.staging_path(fresh=True) if output else None
        hook = self._hook = self._make_hook(self._args_with_staging(staging))
        self._submitted_at = time.time()
        if (store := context.get("task_state_store")) is not None:
            store.set(self.submitted_at_key, self._submitted_at)
        driver_id = hook.submit(self.application)
        external_id = driver_id if self._mode == STANDALONE_CLUSTER else hook._yarn_application_id
        if not external_id:
            what = "driver id" if self._mode == STANDALONE_CLUSTER else "YARN application id"
            raise AirflowException(f"spark-submit did not print a {what}; cannot follow the job{hook._submit_log_tail}")
        self._external_id = external_id
        self.log.info("Submitted %s as %s", self.application, external_id)
        return external_id

    def get_job_status(self, external_id: JsonValue, context: Context) -> str:
        """The job's state for the reattach decision (``NOT_FOUND`` when the cluster forgot it: resubmit)."""
        job_id = str(external_id)
        try:
            if self._mode == YARN_CLUSTER:
                app = self._yarn_hook().get_application(job_id)
                return "SUCCEEDED" if app.succeeded else (app.final_status if app.is_terminal else app.state)
            return self._rest_hook().driver_status(job_id).state
        except (YarnApplicationNotFound, SparkDriverNotFound):
            return "NOT_FOUND"

    def is_job_active(self, status: str) -> bool:
        return status in (ACTIVE_STATES if self._mode == YARN_CLUSTER else ACTIVE_DRIVER_STATES)

    def is_job_succeeded(self, status: str) -> bool:
        return status == ("SUCCEEDED" if self._mode == YARN_CLUSTER else "FINISHED")

    def poll_until_complete(self, external_id: JsonValue, context: Context) -> None:
        self._external_id = job_id = str(external_id)
        if self._submitted_at is None and (store := context.get("task_state_store")) is not None:
            submitted_at = store.get(self.submitted_at_key)  # reattaching: the earlier try submitted
            self._submitted_at = float(submitted_at) if isinstance(submitted_at, (int, float)) else None
        trigger = self._trigger(job_id)
        if self._mode == YARN_CLUSTER:
            base = self._yarn_hook().addresses[0]
            push_tracking_url(context, f"{base}/cluster/app/{job_id}")
        else:
            push_tracking_url(context, self._rest_hook().web_ui_url)
        event = wait_for_job(self, trigger, deferrable=self.deferrable, timeout=self.job_timeout)
        self._finish(context, event)

    def get_job_result(self, external_id: JsonValue, context: Context) -> Any:
        if self._result is not None:
            return self._result
        # an earlier try's job had already succeeded: report it and commit its output
        job_id = str(external_id)
        if self._mode == YARN_CLUSTER:
            job = self._yarn_hook().get_application(job_id).to_dict()
        else:
            job = self._rest_hook().driver_status(job_id).to_dict()
        return self._finish(context, {"status": "success", "jobs": [job], "message": ""})

    # -- helpers ------------------------------------------------------------------------------------------------
    def _yarn_hook(self) -> YarnHook:
        return YarnHook(self.yarn_conn_id, retry_policy=RetryPolicy(budget=self.retry_budget))

    def _rest_hook(self) -> SparkMasterRestHook:
        return SparkMasterRestHook(self.conn_id, retry_policy=RetryPolicy(budget=self.retry_budget))

    def _trigger(self, job_id: str) -> BaseTrigger:
        deadline = (self._submitted_at or time.time()) + self.job_timeout if self.job_timeout else None
        if self._mode == YARN_CLUSTER:
            return YarnApplicationTrigger(
                application_ids=[job_id],
                yarn_conn_id=self.yarn_conn_id,
                poll_interval=self.poll_interval,
                deadline=deadline,
                retry_budget=self.retry_budget,
                kill_on_task_kill=True,
            )
        return SparkDriverTrigger(
            driver_id=job_id,
            conn_id=self.conn_id,
            poll_interval=self.poll_interval,
            deadline=deadline,
            retry_budget=self.retry_budget,
            submitted_at=self._submitted_at,
            kill_on_task_kill=True,
        )
