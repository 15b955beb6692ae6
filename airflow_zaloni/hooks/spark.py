"""Spark standalone master REST API: driver status and kill, with several masters (HA) and retries.

Airflow's ``SparkSubmitHook`` submits; this hook follows a driver that was submitted in cluster deploy mode, through
the master's REST submission server (``spark.master.rest.enabled=true``, port ``spark.master.rest.port``, 6066 by
default): ``GET /v1/submissions/status/<driver-id>`` and ``POST /v1/submissions/kill/<driver-id>``.

It reads the same ``spark`` connection as ``SparkSubmitHook``: the master URL (``spark://host:port``, or an HA list
``spark://m1:7077,m2:7077``) and the extras ``rest-port`` and ``rest-scheme``; ``web-ui-url`` (ours) names the
master web UI for the task's extra link (default: ``http://<first master host>:8080``).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any

import requests
from airflow.sdk import BaseHook

from airflow_zaloni.utils.retry import RetryError, RetryPolicy, retry_call

DRIVER_ID = re.compile(r"^driver-\d{14}-\d{4,}$")
# Spark's own INFO lines ("26/11/26 15:10:47 INFO WorkerWatcher: ...") and JVM start banners: noise in a failure
_SPARK_LOG_LINE = re.compile(
    r"^(\d\d/\d\d/\d\d \d\d:\d\d:\d\d (INFO|DEBUG|TRACE) |WARNING: Using incubator modules|Using Spark's default log4j)"
)

#: Driver states in which the driver runs or will run again (RELAUNCHING after a supervised failure; UNKNOWN
#: while the master recovers its state after a failover).
ACTIVE_DRIVER_STATES = frozenset({"SUBMITTED", "RUNNING", "RELAUNCHING", "UNKNOWN"})
TERMINAL_DRIVER_STATES = frozenset({"FINISHED", "FAILED", "KILLED", "ERROR"})


class SparkRestError(Exception):
    """The Spark master REST server refused a request or does not know the driver."""


class SparkDriverNotFound(SparkRestError):
    """No master knows this driver id."""


class SparkMasterUnavailable(SparkRestError):
    """No alive master answered within the retry budget."""


class _NoAliveMaster(Exception):
    """One pass over the masters found none that answered as the alive one (transient: retried)."""


@dataclass(frozen=True)
class SparkDriverStatus:
    """A driver's state as the master reports it (JSON-able through :meth:`to_dict`)."""

    driver_id: str
    state: str
    worker_id: str | None = None
    worker_host_port: str | None = None
    message: str = ""
    spark_version: str | None = None
    tracking_url: str | None = None
    elapsed_seconds: float | None = None

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL_DRIVER_STATES

    @property
    def succeeded(self) -> bool:
        return self.state == "FINISHED"

    @property
    def outcome(self) -> str:
        """``running``, ``success``, ``killed`` or ``failed``."""
        if not self.is_terminal:
            return "running"
        return {"FINISHED": "success", "KILLED": "killed"}.get(self.state, "failed")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        text = f"Spark driver {self.driver_id} state={self.state}"
        if self.worker_id:
            text += f" worker={self.worker_id}"
        if self.elapsed_seconds is not None:
            text += f" elapsed={self.elapsed_seconds:.1f}s"
        if self.tracking_url:
            text += f" tracking_url={self.tracking_url}"
        if self.message:
            text += f" message={self.message!r}"
        return text


def validate_driver_id(driver_id: str) -> str:
    value = str(driver_id).strip()
    if not DRIVER_ID.match(value):
        raise ValueError(f"not a Spark standalone driver id: {driver_id!r} (expected driver-<yyyyMMddHHmmss>-<n>)")
    return value


def spark_master_hosts(master: str) -> list[str]:
    """``spark://m1:7077,m2:7077`` -> ``["m1", "m2"]`` (the REST server listens on its own port)."""
    if not master.startswith("spark://"):
        raise ValueError(f"not a Spark standalone master URL: {master!r} (expected spark://host:port[,host:port])")
    hosts = [entry.strip().rsplit(":", 1)[0] for entry in master[len("spark://") :].split(",") if entry.strip()]
    if not hosts:
        raise ValueError(f"no host in the Spark master URL {master!r}")
    return hosts


class SparkMasterRestHook(BaseHook):
    """Follow and kill drivers through the REST server of Spark standalone masters.

    :param conn_id: the ``spark`` connection used to submit (master URL, extras ``rest-port``, ``rest-scheme``,
        ``web-ui-url``).
    :param rest_urls: REST base URLs to use instead of the connection's, e.g. ``["http://m1:6066"]``.
    :param retry_policy: how long to retry when no master answers (default 60 s).
    """

    conn_name_attr = "conn_id"
    default_conn_name = "spark_default"
    hook_name = "Spark standalone master REST"

    def __init__(
        self,
        conn_id: str = default_conn_name,
        *,
        rest_urls: list[str] | None = None,
        retry_policy: RetryPolicy | None = None,
        timeout: float = 30,
    ) -> None:
        super().__init__()
        self.conn_id = conn_id
        self._explicit_urls = rest_urls
        self.retry_policy = retry_policy or RetryPolicy()
        self.timeout = timeout

    @cached_property
    def _endpoints(self) -> tuple[list[str], str]:
        if self._explicit_urls:
            return [u.rstrip("/") for u in self._explicit_urls], self._explicit_urls[0].rstrip("/")
        conn = self.get_connection(self.conn_id)
        extra = conn.extra_dejson
        master = conn.host or ""
        if "://" not in master:
            master = f"{conn.conn_type}://{master}"
        if conn.port:
            master = f"{master}:{conn.port}"
        hosts = spark_master_hosts(master)
        scheme = extra.get("rest-scheme", "http")
        port = int(extra.get("rest-port", 6066))
        ui = extra.get("web-ui-url") or f"http://{hosts[0]}:8080"
        return [f"{scheme}://{h}:{port}" for h in hosts], ui.rstrip("/")

    @property
    def rest_urls(self) -> list[str]:
        return list(self._endpoints[0])

    @property
    def web_ui_url(self) -> str:
        """The master web UI (the driver's page is not addressable: the UI lists drivers on its front page)."""
        return self._endpoints[1]

    def get_conn(self) -> list[str]:
        return self.rest_urls

    def _call_once(self, method: str, path: str) -> dict[str, Any]:
        failures: list[str] = []
        for base in self.rest_urls:
            try:
                resp = requests.request(method, f"{base}{path}", timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as error:
                failures.append(f"{base}: {type(error).__name__}")
                continue
            try:
                body = resp.json()
            except ValueError:
                failures.append(f"{base}: HTTP {resp.status_code}, not JSON")
                continue
            message = str(body.get("message") or "")
            # a standby master refuses: "Can only request driver status in ALIVE state. Current state: STANDBY"
            if not body.get("success") and "ALIVE state" in message:
                failures.append(f"{base}: {message}")
                continue
            return dict(body)
        raise _NoAliveMaster("; ".join(failures))

    def _call(self, method: str, path: str) -> dict[str, Any]:
        try:
            return retry_call(
                lambda: self._call_once(method, path),
                self.retry_policy,
                retry_on=(_NoAliveMaster,),
                what=f"Spark master {method} {path}",
            )
        except RetryError as error:
            raise SparkMasterUnavailable(
                f"no alive Spark master answered {method} {path} within {self.retry_policy.budget:.0f}s "
                f"(tried {', '.join(self.rest_urls)}): {error.last}"
            ) from error

    def driver_status(self, driver_id: str) -> SparkDriverStatus:
        """Return the driver's state; :class:`SparkDriverNotFound` if no master knows it."""
        driver_id = validate_driver_id(driver_id)
        body = self._call("GET", f"/v1/submissions/status/{driver_id}")
        if not body.get("success") or "driverState" not in body:
            raise SparkDriverNotFound(
                f"the Spark master does not know driver {driver_id}: {body.get('message') or 'success=false'}"
            )
        return SparkDriverStatus(
            driver_id=driver_id,
            state=str(body["driverState"]),
            worker_id=body.get("workerId"),
            worker_host_port=body.get("workerHostPort"),
            message=str(body.get("message") or "").strip(),
            spark_version=body.get("serverSparkVersion"),
            tracking_url=self.web_ui_url,
        )

    def driver_log_tail(self, driver_id: str, worker_id: str | None, *, lines: int = 12) -> str:
        """The last lines of the driver's stderr (its diagnostics), from the worker's web UI; "" when unavailable.

        The REST status of a FAILED driver says nothing of why; the worker that ran it keeps its stderr
        (``/log?driverId=<id>&logType=stderr`` on the worker UI, found through the master UI's ``/json/``). Spark's
        own INFO lines are left out. Best effort: this never raises.
        """
        if not worker_id:
            return ""
        try:
            master = requests.get(f"{self.web_ui_url}/json/", timeout=self.timeout).json()
            worker_ui = next(w["webuiaddress"] for w in master.get("workers", []) if w.get("id") == worker_id)
            resp = requests.get(
                f"{worker_ui}/log",
                params={"driverId": validate_driver_id(driver_id), "logType": "stderr", "byteLength": "65536"},
                timeout=self.timeout,
            )
            resp.raise_for_status()
        except (requests.RequestException, ValueError, StopIteration, KeyError) as error:
            self.log.info("No stderr of driver %s from its worker: %s", driver_id, error)
            return ""
        text = resp.text.split("=" * 40)[-1]  # the worker writes the launch command above a ==== line
        kept = [line for line in text.splitlines() if line.strip() and not _SPARK_LOG_LINE.match(line)]
        return "\n".join(kept[-lines:])

    def kill_driver(self, driver_id: str) -> bool:
        """Ask the master to kill the driver; True if the master accepted (False if it had already ended)."""
        driver_id = validate_driver_id(driver_id)
        body = self._call("POST", f"/v1/submissions/kill/{driver_id}")
        self.log.info("Kill of Spark driver %s: %s", driver_id, body.get("message") or body.get("success"))
        return bool(body.get("success"))
