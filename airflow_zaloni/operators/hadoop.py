"""Run ``hadoop jar`` / ``yarn jar`` on the worker's edge node and wait for the YARN applications it started."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, ResumableJobMixin
from airflow.sdk.exceptions import AirflowException

from airflow_zaloni.hooks.yarn import YarnApplicationNotFound, YarnHook
from airflow_zaloni.jobs.status import push_tracking_url, report_event, wait_for_job
from airflow_zaloni.links import JobTrackingLink
from airflow_zaloni.triggers.yarn import YarnApplicationTrigger
from airflow_zaloni.utils.retry import RetryPolicy

if TYPE_CHECKING:
    from airflow.sdk import Context
    from pydantic import JsonValue

# YarnClientImpl logs "Submitted application application_<ts>_<n>"; MapReduce also prints "Running job: job_<ts>_<n>"
_APP_ID = re.compile(r"\b(?:application|job)_(\d{10,})_(\d{4,})\b")


def application_ids(lines: Sequence[str]) -> list[str]:
    """YARN application ids in the order they first appear (MapReduce ``job_`` ids name the same application)."""
    seen: dict[str, None] = {}
    for line in lines:
        for ts, seq in _APP_ID.findall(line):
            seen.setdefault(f"application_{ts}_{seq}", None)
    return list(seen)


class HadoopJarOperator(ResumableJobMixin, BaseOperator):
    """``hadoop jar <jar> [main class] [-Dkey=value ...] [arguments ...]``, then a deferrable wait for its apps.

    The command is an argument list (never a shell string: arguments reach the program exactly as given). Its
    output goes to the task log; the YARN application ids it prints (``Submitted application application_...``)
    are kept in the task state store and the task then waits for every one of them to end, in the triggerer by
    default. A retry whose applications still run reattaches to them instead of running the jar again; one whose
    applications all succeeded finishes at once. The final status of each application (state, final status,
    tracking URL, diagnostics, elapsed time, memory-seconds, vcore-seconds) is the task's XCom and is written to the
    log; the first application's page is the task's "Job tracking UI" link.

    Note that a MapReduce driver that calls ``job.waitForCompletion()`` keeps ``hadoop jar`` (and so the worker)
    busy until its job ends; the deferred wait then only collects the reports. A driver that submits and returns
    (``job.submit()``, or a Spark/Tez client in "don't wait" mode) frees the worker as soon as YARN has the
    application.

    :param jar: the jar to run (templated).
    :param main_class: its main class, if the jar's manifest names none (templated).
    :param arguments: arguments of the main class (templated).
    :param properties: Hadoop generic options, passed as ``-Dkey=value`` after the main class (templated).
    :param hadoop_binary: ``hadoop`` (default), ``yarn`` or a path.
    :param env: extra environment of the command (templated).
    :param yarn_conn_id: the ``yarn`` connection used to follow the applications.
    :param require_application: fail when the output names no YARN application (default True; False for jars that
        may run locally).
    :param deferrable: wait in the triggerer (default) or in the task.
    :param poll_interval: seconds between status polls.
    :param job_timeout: seconds after which the task kills what still runs and fails.
    :param retry_budget: seconds an unreachable ResourceManager is retried before the task fails.
    :param durable: keep the application ids across tries to reattach (default True).
    """

    template_fields: Sequence[str] = ("jar", "main_class", "arguments", "properties", "env")
    template_fields_renderers = {"properties": "json", "env": "json", "arguments": "json"}
    operator_extra_links = (JobTrackingLink(),)
    ui_color = "#fdebd0"
    external_id_key = "yarn_application_ids"

    def __init__(
        self,
        *,
        jar: str,
        main_class: str | None = None,
        arguments: Sequence[Any] = (),
        properties: dict[str, Any] | None = None,
        hadoop_binary: str = "hadoop",
        env: dict[str, str] | None = None,
        yarn_conn_id: str = YarnHook.default_conn_name,
        require_application: bool = True,
        deferrable: bool = True,
        poll_interval: float = 10.0,
        job_timeout: float | None = None,
        retry_budget: float = 60.0,
        durable: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(durable=durable, **kwargs)
        self.jar = jar
        self.main_class = main_class
        self.arguments = arguments
        self.properties = properties
        self.hadoop_binary = hadoop_binary
        self.env = env
        self.yarn_conn_id = yarn_conn_id
        self.require_application = require_application
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.job_timeout = job_timeout
        self.retry_budget = retry_budget
        self._process: subprocess.Popen[str] | None = None
        self._application_ids: list[str] = []
        self._result: dict[str, Any] | None = None

    def command(self) -> list[str]:
        """The argument list that is run."""
        cmd = [self.hadoop_binary, "jar", str(self.jar)]
        if self.main_class:
            cmd.append(str(self.main_class))
        cmd += [f"-D{key}={value}" for key, value in (self.properties or {}).items()]
        cmd += [str(a) for a in self.arguments]
        return cmd

    def execute(self, context: Context) -> Any:
        return self.execute_resumable(context)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        return self._finish(context, event)

    def _finish(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        if event.get("status") == "timeout":
            self._kill_applications(self._ids_from(context))
        self._result = report_event(self, context, event)
        return self._result

    def on_kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)  # the JVM and anything it started
        self._kill_applications(self._application_ids)

    # -- ResumableJobMixin ----------------------------------------------------------------------------------------
    def submit_job(self, context: Context) -> JsonValue:
        cmd = self.command()
        self.log.info("Running %s", cmd)
        tail: deque[str] = deque(maxlen=40)
        found: list[str] = []
        try:
            self._process = subprocess.Popen(
                cmd,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env={**os.environ, **(self.env or {})},
                start_new_session=True,  # on_kill stops the whole process group
            )
        except OSError as error:
            raise AirflowException(f"cannot run {cmd[0]!r}: {error}") from error
        assert self._process.stdout is not None
        for raw in self._process.stdout:
            line = raw.rstrip("\n")
            tail.append(line)
            self.log.info("%s", line)
            for app_id in application_ids([line]):
                if app_id not in found:
                    found.append(app_id)
                    self._application_ids = list(found)
                    self.log.info("YARN application %s submitted", app_id)
        code = self._process.wait()
        if code != 0:
            raise AirflowException(
                f"{cmd[0]} jar exited with code {code} (YARN applications seen: {found or 'none'}); "
                "last lines:\n" + "\n".join(tail)
            )
        if not found:
            if self.require_application:
                raise AirflowException(
                    f"{' '.join(cmd[:3])} ended without printing a YARN application id (looked for "
                    "'application_<ts>_<n>' / 'job_<ts>_<n>' in its output); set require_application=False for a "
                    "jar that may run without YARN. Last lines:\n" + "\n".join(tail)
                )
            return None
        return list(found)

    def get_job_status(self, external_id: JsonValue, context: Context) -> str:
        """``RUNNING`` while any application runs, ``SUCCEEDED`` when all did, else ``FAILED`` (or ``NOT_FOUND``)."""
        hook = self._hook()
        try:
            apps = [hook.get_application(i) for i in self._as_ids(external_id)]
        except YarnApplicationNotFound:
            return "NOT_FOUND"
        if any(not a.is_terminal for a in apps):
            return "RUNNING"
        return "SUCCEEDED" if all(a.succeeded for a in apps) else "FAILED"

    def is_job_active(self, status: str) -> bool:
        return status == "RUNNING"

    def is_job_succeeded(self, status: str) -> bool:
        return status == "SUCCEEDED"

    def poll_until_complete(self, external_id: JsonValue, context: Context) -> None:
        ids = self._application_ids = self._as_ids(external_id)
        if not ids:  # a jar that ran without YARN (require_application=False)
            self._finish(context, {"status": "success", "jobs": [], "message": ""})
            return
        push_tracking_url(context, f"{self._hook().addresses[0]}/cluster/app/{ids[0]}")
        trigger = YarnApplicationTrigger(
            application_ids=ids,
            yarn_conn_id=self.yarn_conn_id,
            poll_interval=self.poll_interval,
            deadline=None if self.job_timeout is None else time.time() + self.job_timeout,
            retry_budget=self.retry_budget,
            kill_on_task_kill=True,
        )
        self._finish(context, wait_for_job(self, trigger, deferrable=self.deferrable, timeout=self.job_timeout))

    def get_job_result(self, external_id: JsonValue, context: Context) -> Any:
        if self._result is not None:
            return self._result
        hook = self._hook()  # an earlier try's applications had all succeeded
        jobs = [hook.get_application(i).to_dict() for i in self._as_ids(external_id)]
        return self._finish(context, {"status": "success", "jobs": jobs, "message": ""})

    # -- helpers ------------------------------------------------------------------------------------------------
    def _hook(self) -> YarnHook:
        return YarnHook(self.yarn_conn_id, retry_policy=RetryPolicy(budget=self.retry_budget))

    @staticmethod
    def _as_ids(external_id: JsonValue) -> list[str]:
        if external_id is None:
            return []
        return [str(i) for i in external_id] if isinstance(external_id, list) else [str(external_id)]

    def _ids_from(self, context: Context) -> list[str]:
        store = context.get("task_state_store")
        return self._as_ids(store.get(self.external_id_key)) if store is not None else self._application_ids

    def _kill_applications(self, ids: list[str]) -> None:
        for app_id in ids:
            try:
                self._hook().kill_application(app_id)
            except Exception as error:  # best effort: the failure that led here is what the user must see
                self.log.warning("Could not kill YARN application %s: %s", app_id, error)
