"""Wait for a YARN application to end: by id, or by name and tags."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_zaloni.hooks.yarn import YarnHook
from airflow_zaloni.sensors._job import JobSensor
from airflow_zaloni.triggers.yarn import YarnApplicationTrigger
from airflow_zaloni.utils.retry import RetryPolicy

if TYPE_CHECKING:
    from airflow.sdk import Context


class YarnApplicationSensor(JobSensor):
    """Succeed when the application ends FINISHED/SUCCEEDED; fail (with its diagnostics) when it fails or is killed.

    Deferrable by default (the wait holds no worker slot); ``deferrable=False`` pokes, with ``mode="poke"`` or
    ``"reschedule"``. The final report (state, final status, tracking URL, diagnostics, elapsed time,
    memory-seconds and vcore-seconds) is the sensor's XCom and is written to the task log; the tracking URL is
    also the task's "Job tracking UI" link.

    :param application_id: the application to wait for (templated).
    :param application_name: or: the newest application with this name (templated) ...
    :param application_tags: ... and all of these tags (templated); it may not exist yet when the sensor starts.
    :param yarn_conn_id: the ``yarn`` connection.
    :param deferrable: wait in the triggerer (default) or poke.
    :param retry_budget: seconds an unreachable ResourceManager is retried before the sensor fails.
    """

    template_fields: Sequence[str] = ("application_id", "application_name", "application_tags")

    def __init__(
        self,
        *,
        application_id: str | None = None,
        application_name: str | None = None,
        application_tags: Sequence[str] = (),
        yarn_conn_id: str = YarnHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not application_id and not application_name and not application_tags:
            raise ValueError(f"{self.task_id}: give application_id, or application_name and/or application_tags")
        self.application_id = application_id
        self.application_name = application_name
        self.application_tags = application_tags
        self.yarn_conn_id = yarn_conn_id

    def make_trigger(self, deadline: float) -> YarnApplicationTrigger:
        return YarnApplicationTrigger(
            application_ids=[self.application_id] if self.application_id else [],
            application_name=self.application_name,
            application_tags=list(self.application_tags),
            yarn_conn_id=self.yarn_conn_id,
            poll_interval=self.poke_interval,
            deadline=deadline,
            retry_budget=self.retry_budget,
        )

    def current_status(self, context: Context) -> dict[str, Any] | None:
        hook = YarnHook(self.yarn_conn_id, retry_policy=RetryPolicy(budget=self.retry_budget))
        app_id = self.application_id
        if not app_id:
            found = hook.find_application(name=self.application_name, tags=list(self.application_tags))
            if found is None:
                self.log.info(
                    "No YARN application named %r with tags %s yet", self.application_name, self.application_tags
                )
                return None
            app_id = found.application_id
        app = hook.get_application(app_id)  # the application's own report is the authoritative one
        return {**app.to_dict(), "outcome": app.outcome}
