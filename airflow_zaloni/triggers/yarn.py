"""Wait in the triggerer for YARN applications to end, polling the ResourceManager REST API."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_zaloni.hooks.yarn import (
    ResourceManagerUnavailable,
    YarnApplication,
    YarnApplicationNotFound,
    YarnError,
    YarnHook,
)
from airflow_zaloni.jobs.status import failure_message
from airflow_zaloni.utils.retry import RetryError, RetryPolicy, retry_async


class YarnApplicationTrigger(BaseTrigger):
    """Fire once every application has ended, or as soon as one fails or is killed.

    The applications are given by id, or found by name and tags (the most recent one started with them). Each
    event is ``{"status": "success" | "failed" | "killed" | "timeout" | "error", "jobs": [status dicts],
    "message": str}``.

    :param application_ids: ids to wait for, in order.
    :param application_name: wait for the newest application with this name (when no ids are given).
    :param application_tags: ... and with all of these tags.
    :param yarn_conn_id: the ``yarn`` connection.
    :param poll_interval: seconds between two polls.
    :param deadline: epoch seconds after which the trigger fires ``timeout`` (absolute, so a triggerer restart
        does not extend it).
    :param retry_budget: seconds an unreachable RM is retried before the trigger fires ``error``.
    :param kill_on_task_kill: kill the applications when a user marks the deferred task failed or clears it.
    """

    def __init__(
        self,
        *,
        application_ids: Sequence[str] = (),
        application_name: str | None = None,
        application_tags: Sequence[str] = (),
        yarn_conn_id: str = YarnHook.default_conn_name,
        poll_interval: float = 10.0,
        deadline: float | None = None,
        retry_budget: float = 60.0,
        kill_on_task_kill: bool = False,
    ) -> None:
        super().__init__()
        if not application_ids and not (application_name or application_tags):
            raise ValueError("YarnApplicationTrigger needs application ids, or a name and/or tags to find one")
        self.application_ids = list(application_ids)
        self.application_name = application_name
        self.application_tags = list(application_tags)
        self.yarn_conn_id = yarn_conn_id
        self.poll_interval = poll_interval
        self.deadline = deadline
        self.retry_budget = retry_budget
        self.kill_on_task_kill = kill_on_task_kill

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "application_ids": self.application_ids,
                "application_name": self.application_name,
                "application_tags": self.application_tags,
                "yarn_conn_id": self.yarn_conn_id,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "retry_budget": self.retry_budget,
                "kill_on_task_kill": self.kill_on_task_kill,
            },
        )

    def _hook(self) -> YarnHook:
        # one attempt per call: the waiting between attempts happens here, on the event loop, not in a thread
        return YarnHook(self.yarn_conn_id, retry_policy=RetryPolicy(budget=0))

    async def _call(self, fn: Any, *args: Any) -> Any:
        return await retry_async(
            lambda: asyncio.to_thread(fn, *args),
            RetryPolicy(budget=self.retry_budget, maximum=min(30.0, max(self.poll_interval, 1.0))),
            retry_on=(ResourceManagerUnavailable,),
            what=f"{getattr(fn, '__name__', 'call')}{args}",
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = self._hook()
        ids = list(self.application_ids)
        done: dict[str, YarnApplication] = {}
        last_state: dict[str, str] = {}
        try:
            while True:
                if not ids:
                    found = await self._call(
                        functools.partial(hook.find_application, name=self.application_name, tags=self.application_tags)
                    )
                    if found is not None:
                        self.log.info("Found YARN application %s for %s", found.application_id, self._what())
                        ids = [found.application_id]
                for app_id in ids:
                    if app_id in done:
                        continue
                    app: YarnApplication = await self._call(hook.get_application, app_id)
                    if last_state.get(app_id) != app.state:
                        self.log.info("%s", app.summary())
                        last_state[app_id] = app.state
                    if not app.is_terminal:
                        break  # applications of one job run one after the other: wait for this one first
                    done[app_id] = app
                    if not app.succeeded:
                        jobs = [a.to_dict() for a in done.values()]
                        yield TriggerEvent({"status": app.outcome, "jobs": jobs, "message": failure_message(jobs)})
                        return
                if ids and len(done) == len(ids):
                    yield TriggerEvent({"status": "success", "jobs": [done[i].to_dict() for i in ids], "message": ""})
                    return
                if self.deadline is not None and time.time() >= self.deadline:
                    yield TriggerEvent(
                        {
                            "status": "timeout",
                            "jobs": [a.to_dict() for a in done.values()],
                            "message": f"timed out waiting for {self._what(ids)} "
                            f"(last states: {last_state or 'not found'})",
                        }
                    )
                    return
                await asyncio.sleep(self.poll_interval)
        except (YarnApplicationNotFound, RetryError, YarnError, ValueError) as error:
            cause = error.last if isinstance(error, RetryError) else error
            yield TriggerEvent({"status": "error", "jobs": [a.to_dict() for a in done.values()], "message": str(cause)})

    def _what(self, ids: Sequence[str] = ()) -> str:
        if ids:
            return "YARN application(s) " + ", ".join(ids)
        return f"a YARN application named {self.application_name!r} with tags {self.application_tags}"

    async def on_kill(self) -> None:
        """A user killed the deferred task: kill the applications this task started (operators only)."""
        if not self.kill_on_task_kill:
            return
        hook = YarnHook(self.yarn_conn_id, retry_policy=RetryPolicy(budget=10))
        for app_id in self.application_ids:
            try:
                await asyncio.to_thread(hook.kill_application, app_id)
            except Exception as error:  # one failed kill must not stop the others
                self.log.warning("Could not kill YARN application %s: %s", app_id, error)
