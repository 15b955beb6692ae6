"""Wait for a Spark standalone driver (cluster deploy mode) to end."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_zaloni.hooks.spark import SparkMasterRestHook
from airflow_zaloni.sensors._job import JobSensor
from airflow_zaloni.triggers.spark import SparkDriverTrigger
from airflow_zaloni.utils.retry import RetryPolicy

if TYPE_CHECKING:
    from airflow.sdk import Context


class SparkDriverSensor(JobSensor):
    """Succeed when the driver ends FINISHED; fail when it ends FAILED, ERROR or KILLED.

    Deferrable by default; ``deferrable=False`` pokes the master's REST API (``/v1/submissions/status/<id>``).
    The driver's status is the sensor's XCom; the master UI is the task's "Job tracking UI" link.

    :param driver_id: the driver id, e.g. ``driver-20261126142511-0001`` (templated).
    :param conn_id: the ``spark`` connection of the cluster (master URL, extras ``rest-port``, ``web-ui-url``).
    :param deferrable: wait in the triggerer (default) or poke.
    :param retry_budget: seconds an unreachable master is retried before the sensor fails.
    """

    template_fields: Sequence[str] = ("driver_id",)

    def __init__(self, *, driver_id: str, conn_id: str = SparkMasterRestHook.default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.driver_id = driver_id
        self.conn_id = conn_id

    def make_trigger(self, deadline: float) -> SparkDriverTrigger:
        return SparkDriverTrigger(
            driver_id=self.driver_id,
            conn_id=self.conn_id,
            poll_interval=self.poke_interval,
            deadline=deadline,
            retry_budget=self.retry_budget,
        )

    def current_status(self, context: Context) -> dict[str, Any] | None:
        hook = SparkMasterRestHook(self.conn_id, retry_policy=RetryPolicy(budget=self.retry_budget))
        status = hook.driver_status(self.driver_id)
        return {**status.to_dict(), "outcome": status.outcome}
