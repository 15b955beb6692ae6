"""A local HTTP server that answers as the YARN ResourceManager REST API does.

Hadoop's own ResourceManagers run in the ``hadoop`` tests (tests/servers/hadoop.py); this imitation stays only for
what they cannot be made to do on demand, in milliseconds: step through every state of an application one poll at a
time, answer "Can not find any active RM" with a ``Refresh`` header, return gateway errors, go away and come back on
the same port, and record the exact requests (user.name, argument lists). It follows the documented API of Hadoop 3
(https://hadoop.apache.org/docs/stable/hadoop-yarn/hadoop-yarn-site/ResourceManagerRest.html):

* ``GET /ws/v1/cluster/info`` (``clusterInfo`` with ``haState``; a standby answers it too, as a real one does),
  ``GET /ws/v1/cluster/metrics`` (``clusterMetrics``);
* ``GET /ws/v1/cluster/apps?states=&user=&queue=&applicationTags=&applicationTypes=&limit=`` (``{"apps": {"app":
  [...]}}``, ``{"apps": null}`` when nothing matches) and ``GET /ws/v1/cluster/apps/<id>`` (``{"app": {...}}``, a
  ``RemoteException`` with 404 for an unknown id);
* ``PUT /ws/v1/cluster/apps/<id>/state`` with ``{"state": "KILLED"}`` (202 ``{"state": "ACCEPTED"}`` while the kill
  is under way, 200 with the current state when the app has already ended);
* ``POST /ws/v1/cluster/apps/new-application`` and ``POST /ws/v1/cluster/apps`` (submission; used by the fake
  ``hadoop`` command of the HadoopJarOperator tests);
* ResourceManager HA: a standby answers 307 with ``Location`` set to the active RM and the body "This is standby
  RM. The redirect url is: ...", or, when no RM is active, 307 with a ``Refresh`` header and "Can not find any
  active RM" (RMWebAppFilter's behaviour);
* simple auth (``user.name`` query parameter, 401 without it when anonymous access is off; a kill always needs a
  user, as on a real RM). SPNEGO is tested against a real Kerberized RM (``tests/test_hadoop_kerberos.py``).

Applications move one step along their state sequence each time their own status is read
(``NEW -> NEW_SAVING -> SUBMITTED -> ACCEPTED -> RUNNING ... -> FINISHED/FAILED/KILLED``), which keeps the tests
deterministic and fast whatever the poll interval.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

ACTIVE_STATES = ("NEW", "NEW_SAVING", "SUBMITTED", "ACCEPTED", "RUNNING")
_APP_PATH = re.compile(r"^/ws/v1/cluster/apps/(application_\d+_\d+)(/state)?$")


@dataclass
class FakeApp:
    """One application and the plan it follows: ``running_polls`` reads in RUNNING, then ``outcome``."""

    id: str
    name: str
    user: str
    queue: str
    tags: list[str]
    app_type: str
    outcome: str | None  # final status SUCCEEDED / FAILED / KILLED; None: runs for ever
    running_polls: int
    diagnostics: str
    started_ms: int
    state: str = "NEW"
    final_status: str = "UNDEFINED"
    finished_ms: int = 0
    polls: int = 0
    kill_requests: list[str | None] = field(default_factory=list)

    def advance(self) -> None:
        """Move one step along the plan (called when the app's status is read)."""
        if self.state not in ACTIVE_STATES:
            return
        self.polls += 1
        if self.state != "RUNNING":
            self.state = ACTIVE_STATES[ACTIVE_STATES.index(self.state) + 1]
            return
        if self.outcome is None or self.polls < len(ACTIVE_STATES) - 1 + self.running_polls:
            return
        self._end({"SUCCEEDED": "FINISHED", "FAILED": "FAILED", "KILLED": "KILLED"}[self.outcome], self.outcome)

    def kill(self, user: str | None) -> None:
        self.kill_requests.append(user)
        if self.state in ACTIVE_STATES:
            self.diagnostics = f"Application killed by user {user}."
            self._end("KILLED", "KILLED")

    def _end(self, state: str, final_status: str) -> None:
        self.state, self.final_status = state, final_status
        self.finished_ms = int(time.time() * 1000)

    def to_json(self, rm_url: str) -> dict[str, Any]:
        ended = self.state not in ACTIVE_STATES
        elapsed = (self.finished_ms if ended else int(time.time() * 1000)) - self.started_ms
        return {
            "id": self.id,
            "user": self.user,
            "name": self.name,
            "queue": self.queue,
            "state": self.state,
            "finalStatus": self.final_status,
            "progress": 100.0 if ended else (50.0 if self.state == "RUNNING" else 0.0),
            "trackingUI": "History" if ended else "ApplicationMaster",
            "trackingUrl": f"{rm_url}/proxy/{self.id}/",
            "diagnostics": self.diagnostics,
            "clusterId": int(self.id.split("_")[1]),
            "applicationType": self.app_type,
            "applicationTags": ",".join(self.tags),
            "priority": 0,
            "startedTime": self.started_ms,
            "launchTime": self.started_ms,
            "finishedTime": self.finished_ms,
            "elapsedTime": elapsed,
            "amContainerLogs": f"http://127.0.0.1:8042/node/containerlogs/container_{self.id[12:]}_01_000001",
            "amHostHttpAddress": "127.0.0.1:8042",
            "allocatedMB": 0 if ended else 2048,
            "allocatedVCores": 0 if ended else 2,
            "runningContainers": 0 if ended else 2,
            # resource use grows while the app runs, as the RM reports it
            "memorySeconds": 2048 * max(self.polls, 1),
            "vcoreSeconds": 2 * max(self.polls, 1),
            "queueUsagePercentage": 0.0,
            "clusterUsagePercentage": 0.0,
            "preemptedResourceMB": 0,
            "preemptedResourceVCores": 0,
            "numNonAMContainerPreempted": 0,
            "numAMContainerPreempted": 0,
            "logAggregationStatus": "SUCCEEDED" if ended else "NOT_START",
            "unmanagedApplication": False,
        }


class FakeYarnCluster:
    """The state the ResourceManagers of one cluster share (a real HA pair shares it through ZooKeeper)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()  # the request handler holds it while it adds apps
        self.cluster_ts = int(time.time() * 1000)
        self.apps: dict[str, FakeApp] = {}
        self.active: YarnResourceManagerServer | None = None
        self._next = 0

    def new_app_id(self) -> str:
        with self.lock:
            self._next += 1
            return f"application_{self.cluster_ts}_{self._next:04d}"

    def add_app(
        self,
        name: str = "job",
        *,
        app_id: str | None = None,
        user: str = "etl",
        queue: str = "default",
        tags: list[str] | None = None,
        app_type: str = "SPARK",
        outcome: str | None = "SUCCEEDED",
        running_polls: int = 2,
        diagnostics: str = "",
        state: str = "NEW",
    ) -> FakeApp:
        """Register an application; ``outcome`` None keeps it RUNNING until killed."""
        app = FakeApp(
            id=app_id or self.new_app_id(),
            name=name,
            user=user,
            queue=queue,
            tags=[t.lower() for t in tags or []],  # YARN lower-cases tags
            app_type=app_type,
            outcome=outcome,
            running_polls=running_polls,
            diagnostics=diagnostics,
            started_ms=int(time.time() * 1000),
            state=state,
        )
        with self.lock:
            self.apps[app.id] = app
        return app


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output quiet
        pass

    # -- plumbing -------------------------------------------------------------------------------------------
    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _remote_exception(self, status: int, exception: str, message: str) -> None:
        self._send(
            status,
            {"RemoteException": {"exception": exception, "message": message, "javaClassName": exception}},
        )

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"null")

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        rm = self.server.rm
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        user = query.get("user.name")
        rm.requests.append((method, url.path, user, self.headers.get("Authorization")))
        body = self._body() if method in ("PUT", "POST") else None

        if rm.require_user and not user:
            return self._remote_exception(401, "AuthenticationException", "Anonymous requests are disallowed")
        if url.path == "/ws/v1/cluster/info":  # never redirected (RMWebAppFilter.shouldRedirect)
            return self._send(200, rm.cluster_info())
        if rm.cluster.active is not rm:
            return self._standby(url.path, url.query)
        with rm.cluster.lock:
            self._route(method, url.path, query, user, body)

    def _standby(self, path: str, query: str) -> None:
        active = self.server.rm.cluster.active
        where = path + (f"?{query}" if query else "")
        if active is None:
            return self._send(
                307,
                "Can not find any active RM. Will retry in next 5 seconds.\nHA Zookeeper Connection State: null\n",
                {"Refresh": f"5;url={self.server.rm.url}{where}"},
            )
        return self._send(
            307, f"This is standby RM. The redirect url is: {where}\n", {"Location": f"{active.url}{where}"}
        )

    def _route(self, method: str, path: str, query: dict[str, str], user: str | None, body: Any) -> None:
        rm = self.server.rm
        cluster = rm.cluster
        if method == "GET" and path == "/ws/v1/cluster/metrics":
            return self._send(200, rm.cluster_metrics())
        if method == "GET" and path == "/ws/v1/cluster/apps":
            apps = [a.to_json(rm.url) for a in cluster.apps.values() if _matches(a, query)]
            if "limit" in query:
                apps = apps[: int(query["limit"])]
            return self._send(200, {"apps": {"app": apps} if apps else None})
        if method == "POST" and path == "/ws/v1/cluster/apps/new-application":
            app_id = cluster.new_app_id()
            return self._send(
                200, {"application-id": app_id, "maximum-resource-capability": {"memory": 8192, "vCores": 4}}
            )
        if method == "POST" and path == "/ws/v1/cluster/apps":
            tags = (body.get("application-tags") or {}).get("tag") or []
            app = cluster.add_app(
                body.get("application-name", "job"),
                app_id=body["application-id"],
                user=user or "dr.who",
                queue=body.get("queue", "default"),
                tags=[tags] if isinstance(tags, str) else tags,
                app_type=body.get("application-type", "YARN"),
                outcome=rm.submitted_outcome,
                diagnostics=rm.submitted_diagnostics,
            )
            return self._send(202, "", {"Location": f"{rm.url}/ws/v1/cluster/apps/{app.id}"})
        match = _APP_PATH.match(path)
        if not match or match.group(1) not in cluster.apps:
            app_id = match.group(1) if match else path
            return self._remote_exception(
                404, "NotFoundException", f"java.lang.Exception: app with id: {app_id} not found"
            )
        app = cluster.apps[match.group(1)]
        if method == "GET" and not match.group(2):
            app.advance()
            return self._send(200, {"app": app.to_json(rm.url)})
        if method == "GET":
            return self._send(200, {"state": app.state})
        if method == "PUT" and match.group(2):
            if not user:
                return self._remote_exception(
                    403, "AuthorizationException", "Unable to obtain user name, user not authenticated"
                )
            if body != {"state": "KILLED"}:
                return self._remote_exception(400, "BadRequestException", f"Only 'KILLED' is allowed: {body}")
            if app.state not in ACTIVE_STATES:
                return self._send(200, {"state": app.state})
            app.kill(user)
            return self._send(202, {"state": "ACCEPTED"}, {"Location": f"{rm.url}/ws/v1/cluster/apps/{app.id}"})
        return self._remote_exception(405, "WebApplicationException", f"{method} not allowed on {path}")


def _matches(app: FakeApp, query: dict[str, str]) -> bool:
    def listed(key: str) -> set[str] | None:
        return {v.strip().lower() for v in query[key].split(",") if v.strip()} if key in query else None

    states, tags, types = listed("states"), listed("applicationTags"), listed("applicationTypes")
    return (
        (states is None or app.state.lower() in states)
        and (tags is None or bool(tags & set(app.tags)))  # the RM matches any of the tags
        and (types is None or app.app_type.lower() in types)
        and query.get("user", app.user) == app.user
        and query.get("queue", app.queue) == app.queue
    )


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    rm: YarnResourceManagerServer


class YarnResourceManagerServer:
    """One ResourceManager web endpoint on 127.0.0.1; :meth:`stop` and :meth:`start` keep its port."""

    def __init__(self, cluster: FakeYarnCluster, *, require_user: bool = False, port: int = 0) -> None:
        self.cluster = cluster
        self.require_user = require_user
        self.port = port
        self.requests: list[tuple[str, str, str | None, str | None]] = []
        # what an application submitted through the REST API will end with
        self.submitted_outcome: str | None = "SUCCEEDED"
        self.submitted_diagnostics = ""
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> YarnResourceManagerServer:
        self._httpd = _HTTPServer(("127.0.0.1", self.port), _Handler)
        self._httpd.rm = self
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name=f"yarn-rm-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening: clients get "connection refused" until :meth:`start` is called again."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def cluster_info(self) -> dict[str, Any]:
        ha_state = "ACTIVE" if self.cluster.active is self else "STANDBY"
        return {
            "clusterInfo": {
                "id": self.cluster.cluster_ts,
                "startedOn": self.cluster.cluster_ts,
                "state": "STARTED",
                "haState": ha_state,
                "resourceManagerVersion": "3.3.6",
                "hadoopVersion": "3.3.6",
                "haZooKeeperConnectionState": "CONNECTED",
            }
        }

    def cluster_metrics(self) -> dict[str, Any]:
        apps = list(self.cluster.apps.values())

        def count(*states: str) -> int:
            return sum(1 for a in apps if a.state in states)

        return {
            "clusterMetrics": {
                "appsSubmitted": len(apps),
                "appsCompleted": count("FINISHED", "FAILED", "KILLED"),
                "appsPending": count("NEW", "NEW_SAVING", "SUBMITTED", "ACCEPTED"),
                "appsRunning": count("RUNNING"),
                "appsFailed": count("FAILED"),
                "appsKilled": count("KILLED"),
                "totalMB": 16384,
                "availableMB": 16384 - 2048 * count("RUNNING"),
                "allocatedMB": 2048 * count("RUNNING"),
                "totalVirtualCores": 8,
                "availableVirtualCores": 8 - 2 * count("RUNNING"),
                "allocatedVirtualCores": 2 * count("RUNNING"),
                "containersAllocated": 2 * count("RUNNING"),
                "activeNodes": 2,
                "lostNodes": 0,
                "unhealthyNodes": 0,
                "decommissionedNodes": 0,
                "rebootedNodes": 0,
            }
        }


@pytest.fixture
def yarn_cluster() -> FakeYarnCluster:
    return FakeYarnCluster()


@pytest.fixture
def yarn_rm(yarn_cluster: FakeYarnCluster) -> Iterator[YarnResourceManagerServer]:
    """One active ResourceManager (simple auth, anonymous reads allowed)."""
    rm = YarnResourceManagerServer(yarn_cluster).start()
    yarn_cluster.active = rm
    yield rm
    rm.stop()


@pytest.fixture
def yarn_rm_pair(yarn_cluster: FakeYarnCluster) -> Iterator[tuple[YarnResourceManagerServer, ...]]:
    """Two ResourceManagers of one HA cluster; the first is active."""
    rms = tuple(YarnResourceManagerServer(yarn_cluster).start() for _ in range(2))
    yarn_cluster.active = rms[0]
    yield rms
    for rm in rms:
        rm.stop()
