"""Wait in the triggerer for a Spark standalone driver to end, polling the master's REST API."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_zaloni.hooks.spark import SparkDriverStatus, SparkMasterRestHook, SparkMasterUnavailable, SparkRestError
from airflow_zaloni.jobs.status import failure_message
from airflow_zaloni.utils.retry import RetryError, RetryPolicy, retry_async


class SparkDriverTrigger(BaseTrigger):
    """Fire when the driver ends (``success``, ``failed``, ``killed``), at the deadline (``timeout``) or when the
    master cannot be asked (``error``). The event carries the driver's status under ``jobs``.

    :param driver_id: the driver id (``driver-<yyyyMMddHHmmss>-<n>``).
    :param conn_id: the ``spark`` connection (master URL and REST port).
    :param rest_urls: REST base URLs instead of the connection's.
    :param poll_interval: seconds between two polls.
    :param deadline: epoch seconds after which the trigger fires ``timeout``.
    :param retry_budget: seconds an unreachable master is retried before ``error``.
    :param submitted_at: epoch seconds of the submission, to report the elapsed time.
    :param kill_on_task_kill: kill the driver when a user marks the deferred task failed or clears it.
    """

    def __init__(
        self,
        *,
        driver_id: str,
        conn_id: str = SparkMasterRestHook.default_conn_name,
        rest_urls: list[str] | None = None,
        poll_interval: float = 10.0,
        deadline: float | None = None,
        retry_budget: float = 60.0,
        submitted_at: float | None = None,
        kill_on_task_kill: bool = False,
    ) -> None:
        super().__init__()
        self.driver_id = driver_id
        self.conn_id = conn_id
        self.rest_urls = rest_urls
        self.poll_interval = poll_interval
        self.deadline = deadline
        self.retry_budget = retry_budget
        self.submitted_at = submitted_at
        self.kill_on_task_kill = kill_on_task_kill

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "driver_id": self.driver_id,
                "conn_id": self.conn_id,
                "rest_urls": self.rest_urls,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "retry_budget": self.retry_budget,
                "submitted_at": self.submitted_at,
                "kill_on_task_kill": self.kill_on_task_kill,
            },
        )

    def _hook(self, budget: float = 0) -> SparkMasterRestHook:
        return SparkMasterRestHook(self.conn_id, rest_urls=self.rest_urls, retry_policy=RetryPolicy(budget=budget))

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = self._hook()
        policy = RetryPolicy(budget=self.retry_budget, maximum=min(30.0, max(self.poll_interval, 1.0)))
        last_state = None
        status: SparkDriverStatus | None = None
        try:
            while True:
                status = await retry_async(
                    lambda: asyncio.to_thread(hook.driver_status, self.driver_id),
                    policy,
                    retry_on=(SparkMasterUnavailable,),
                    what=f"status of {self.driver_id}",
                )
                if self.submitted_at is not None:
                    status = dataclasses.replace(status, elapsed_seconds=round(time.time() - self.submitted_at, 3))
                if status.state != last_state:
                    self.log.info("%s", status.summary())
                    last_state = status.state
                if status.is_terminal:
                    if not status.succeeded and not status.message:
                        tail = await asyncio.to_thread(hook.driver_log_tail, status.driver_id, status.worker_id)
                        status = dataclasses.replace(status, message=tail)
                    job = status.to_dict()
                    message = "" if status.succeeded else failure_message([job])
                    yield TriggerEvent({"status": status.outcome, "jobs": [job], "message": message})
                    return
                if self.deadline is not None and time.time() >= self.deadline:
                    yield TriggerEvent(
                        {
                            "status": "timeout",
                            "jobs": [status.to_dict()],
                            "message": f"timed out waiting for Spark driver {self.driver_id} (state {status.state})",
                        }
                    )
                    return
                await asyncio.sleep(self.poll_interval)
        except (RetryError, SparkRestError, ValueError) as error:
            cause = error.last if isinstance(error, RetryError) else error
            jobs = [status.to_dict()] if status else []
            yield TriggerEvent({"status": "error", "jobs": jobs, "message": str(cause)})

    async def on_kill(self) -> None:
        """A user killed the deferred task: kill the driver this task submitted (operators only)."""
        if self.kill_on_task_kill:
            await asyncio.to_thread(self._hook(budget=10).kill_driver, self.driver_id)
