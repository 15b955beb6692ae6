"""What the YARN application and Spark driver sensors share: defer by default, poke on request, report alike."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowException

from airflow_zaloni.jobs.status import describe, failure_message, push_tracking_url, report_event
from airflow_zaloni.links import JobTrackingLink

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.triggers.base import BaseTrigger

# the trigger fires "timeout" itself at the deadline; Airflow's own deferral timeout is only a backstop
_BACKSTOP = timedelta(minutes=5)


class JobSensor(BaseSensorOperator):
    """Base of the job sensors: ``deferrable=True`` waits in the triggerer, ``False`` pokes (poke or reschedule).

    A subclass implements :meth:`make_trigger` and :meth:`current_status` (a status dict, or None while the job
    cannot be seen yet).
    """

    operator_extra_links = (JobTrackingLink(),)

    def __init__(self, *, deferrable: bool = True, retry_budget: float = 60.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deferrable = deferrable
        self.retry_budget = retry_budget

    def make_trigger(self, deadline: float) -> BaseTrigger:
        raise NotImplementedError

    def current_status(self, context: Context) -> dict[str, Any] | None:
        raise NotImplementedError

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        self.defer(
            trigger=self.make_trigger(deadline=time.time() + self.timeout),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout) + _BACKSTOP,
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        return report_event(self, context, event)

    def poke(self, context: Context) -> bool | PokeReturnValue:
        status = self.current_status(context)
        if status is None:
            return False
        push_tracking_url(context, status.get("tracking_url"))
        self.log.info("%s", describe(status))
        if status["outcome"] == "running":
            return False
        if status["outcome"] == "success":
            return PokeReturnValue(is_done=True, xcom_value={"status": "success", "jobs": [status]})
        context["ti"].xcom_push(key="job_status", value={"status": status["outcome"], "jobs": [status]})
        raise AirflowException(failure_message([status]))
