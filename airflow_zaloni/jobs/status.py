"""How job operators and sensors bring a job's status home: the task log, XCom and the extra link.

Shared by the Spark and Hadoop operators and the YARN and Spark sensors so that they all report the same way. A
status is the JSON-able dict of a :class:`~airflow_zaloni.hooks.yarn.YarnApplication` or
:class:`~airflow_zaloni.hooks.spark.SparkDriverStatus`; trigger events carry them under ``jobs``.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout

from airflow_zaloni.links import TRACKING_URL_KEY

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.triggers.base import BaseTrigger, TriggerEvent


def push_tracking_url(context: Context, url: str | None) -> None:
    """Make the extra link work as soon as the URL is known (while the job still runs)."""
    if url:
        context["ti"].xcom_push(key=TRACKING_URL_KEY, value=url)


def report_event(task: Any, context: Context, event: dict[str, Any]) -> dict[str, Any]:
    """Log and push the statuses in a trigger event; return the XCom value, or raise if the job did not succeed.

    The return value (``{"status": ..., "jobs": [...]}``) is what the operator returns, hence its XCom.
    """
    jobs: list[dict[str, Any]] = list(event.get("jobs") or [])
    for job in jobs:
        task.log.info("%s", describe(job))
        if job.get("diagnostics") or job.get("message"):
            task.log.info("Diagnostics: %s", job.get("diagnostics") or job.get("message"))
    if jobs:
        push_tracking_url(context, jobs[-1].get("tracking_url"))
    status = event.get("status")
    result = {"status": status, "jobs": jobs}
    if status == "success":
        return result
    context["ti"].xcom_push(key="job_status", value=result)  # keep the failure's details for the platform
    message = event.get("message") or f"job ended with status {status}"
    if status == "timeout":
        raise AirflowSensorTimeout(message)
    raise AirflowException(message)


def describe(job: dict[str, Any]) -> str:
    """One log line for a status dict (YARN application or Spark driver)."""
    if "application_id" in job:
        line = (
            f"YARN application {job['application_id']} ({job.get('name', '')}): state={job.get('state')} "
            f"final_status={job.get('final_status')} elapsed={job.get('elapsed_seconds', 0):.1f}s"
        )
        if job.get("memory_seconds") is not None:
            line += f" memory_seconds={job['memory_seconds']} vcore_seconds={job.get('vcore_seconds')}"
    else:
        line = f"Spark driver {job.get('driver_id')}: state={job.get('state')}"
        if job.get("elapsed_seconds") is not None:
            line += f" elapsed={job['elapsed_seconds']:.1f}s"
    if job.get("tracking_url"):
        line += f" tracking_url={job['tracking_url']}"
    return line


def failure_message(jobs: list[dict[str, Any]]) -> str:
    """The error text for jobs that did not succeed, with their diagnostics (what a user needs first)."""
    parts = []
    for job in jobs:
        name = job.get("application_id") or job.get("driver_id")
        state = job.get("final_status") or job.get("state")
        if job.get("application_id"):
            state = f"{job.get('state')}/{job.get('final_status')}"
        detail = job.get("diagnostics") or job.get("message") or ""
        parts.append(f"{name} ended {state}" + (f": {detail}" if detail else ""))
    return "; ".join(parts)


def wait_for_job(task: Any, trigger: BaseTrigger, *, deferrable: bool, timeout: float | None) -> dict[str, Any]:
    """Defer to ``trigger`` (resuming in ``execute_complete``), or wait in the task with the same trigger code.

    Returns the event payload in the non-deferrable case; raises ``TaskDeferred`` otherwise.
    """
    if deferrable:
        # the trigger fires "timeout" at its own deadline; Airflow's deferral timeout is only a backstop
        task.defer(
            trigger=trigger,
            method_name="execute_complete",
            timeout=timedelta(seconds=timeout + 300) if timeout else None,
        )
    return dict(run_trigger_inline(trigger).payload)


def run_trigger_inline(trigger: BaseTrigger) -> TriggerEvent:
    """Wait in the task for the first event of ``trigger`` (the non-deferrable path uses the same polling code)."""

    async def first_event() -> TriggerEvent:
        async for event in trigger.run():
            return event
        raise AirflowException(f"{type(trigger).__name__} ended without an event")

    return asyncio.run(first_event())
