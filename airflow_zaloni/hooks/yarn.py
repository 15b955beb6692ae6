"""YARN ResourceManager REST API hook: application status, kill, listing, cluster metrics, RM HA and auth.

The hook talks to ``/ws/v1/cluster/...`` of the ResourceManager web service
(https://hadoop.apache.org/docs/stable/hadoop-yarn/hadoop-yarn-site/ResourceManagerRest.html) with ``requests``.

Connection (type ``yarn``):

* **Host**: one RM or an HA list, ``rm1.example.com,rm2.example.com`` (``host:port`` and full ``http(s)://`` URLs
  are accepted per entry). The hook remembers which RM answered and asks it first next time; a standby RM answers
  with a redirect to the active one (``307`` and "This is standby RM"), which the hook follows.
* **Port**: the port of entries that have none (default 8088, or 8090 with https).
* **Schema**: ``http`` (default) or ``https``.
* **Login**: the user for simple auth (sent as ``user.name``, as the RM expects with ``hadoop.http.authentication.type
  = simple``).
* **Extra**: ``{"auth": "simple" | "kerberos" | "none", "verify": true | false | "/path/ca.pem", "timeout": 30,
  "retry_budget": 60, "kerberos_service": "HTTP", "kerberos_principal": "..."}``. Kerberos uses SPNEGO through
  ``requests-kerberos`` (or ``requests-gssapi``) with the worker's ticket cache (``kinit`` or Airflow's
  ``airflow kerberos`` ticket renewer).

An RM that cannot be reached, or an HA pair with no active RM, is retried with backoff for ``retry_budget`` seconds
before :class:`ResourceManagerUnavailable` is raised.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

import requests
from airflow.sdk import BaseHook

from airflow_zaloni.utils.kerberos import spnego_refused, wants_spnego
from airflow_zaloni.utils.retry import RetryError, RetryPolicy, retry_call

APPLICATION_ID = re.compile(r"^application_\d+_\d+$")

#: YARN application states in which the application still runs or waits to run.
ACTIVE_STATES = frozenset({"NEW", "NEW_SAVING", "SUBMITTED", "ACCEPTED", "RUNNING"})
#: YARN application states in which it has ended (look at the final status for the outcome).
TERMINAL_STATES = frozenset({"FINISHED", "FAILED", "KILLED"})

_REDIRECTS = (301, 302, 303, 307, 308)
_GATEWAY_ERRORS = (502, 503, 504)


class YarnError(Exception):
    """The ResourceManager answered with an error."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class YarnApplicationNotFound(YarnError):
    """The ResourceManager does not know the application id (never submitted, or aged out of its memory)."""


class ResourceManagerUnavailable(YarnError):
    """No active ResourceManager answered within the retry budget."""


class _NoActiveRM(Exception):
    """One pass over all RM addresses found none that answered as active (transient: retried)."""


@dataclass(frozen=True)
class YarnApplication:
    """The fields of a YARN application report that callers rely on (JSON-able through :meth:`to_dict`)."""

    application_id: str
    name: str
    state: str
    final_status: str
    user: str = ""
    queue: str = ""
    application_type: str = ""
    tags: tuple[str, ...] = ()
    progress: float = 0.0
    tracking_url: str | None = None
    diagnostics: str = ""
    started_time: int = 0
    finished_time: int = 0
    elapsed_seconds: float = 0.0
    memory_seconds: int | None = None
    vcore_seconds: int | None = None

    @classmethod
    def from_json(cls, app: dict[str, Any]) -> YarnApplication:
        """Build from the ``app`` object of ``/ws/v1/cluster/apps/<id>`` (fields missing in old RMs are optional)."""
        tags = app.get("applicationTags") or ""
        return cls(
            application_id=app["id"],
            name=app.get("name", ""),
            state=app["state"],
            final_status=app.get("finalStatus", "UNDEFINED"),
            user=app.get("user", ""),
            queue=app.get("queue", ""),
            application_type=app.get("applicationType", ""),
            tags=tuple(t for t in tags.split(",") if t),
            progress=float(app.get("progress") or 0.0),
            tracking_url=app.get("trackingUrl") or None,
            diagnostics=(app.get("diagnostics") or "").strip(),
            started_time=int(app.get("startedTime") or 0),
            finished_time=int(app.get("finishedTime") or 0),
            elapsed_seconds=int(app.get("elapsedTime") or 0) / 1000,
            memory_seconds=app.get("memorySeconds"),
            vcore_seconds=app.get("vcoreSeconds"),
        )

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def succeeded(self) -> bool:
        """True only for FINISHED with final status SUCCEEDED (FINISHED/FAILED is an application that failed)."""
        return self.state == "FINISHED" and self.final_status == "SUCCEEDED"

    @property
    def outcome(self) -> str:
        """``running``, ``success``, ``killed`` or ``failed``."""
        if not self.is_terminal:
            return "running"
        if self.succeeded:
            return "success"
        return "killed" if "KILLED" in (self.state, self.final_status) else "failed"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["tags"] = list(self.tags)
        return data

    def summary(self) -> str:
        """One line for the task log."""
        text = (
            f"YARN application {self.application_id} ({self.name}) state={self.state} "
            f"final_status={self.final_status} elapsed={self.elapsed_seconds:.1f}s"
        )
        if self.memory_seconds is not None:
            text += f" memory_seconds={self.memory_seconds} vcore_seconds={self.vcore_seconds}"
        if self.tracking_url:
            text += f" tracking_url={self.tracking_url}"
        if self.diagnostics:
            text += f" diagnostics={self.diagnostics!r}"
        return text


def validate_application_id(application_id: str) -> str:
    """Return the id stripped, or raise ValueError naming the bad value."""
    value = str(application_id).strip()
    if not APPLICATION_ID.match(value):
        raise ValueError(f"not a YARN application id: {application_id!r} (expected application_<ts>_<n>)")
    return value


def _base_url(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def parse_rm_addresses(host: str, *, port: int | None, scheme: str) -> list[str]:
    """Turn the connection host (one address or a comma-separated HA list) into base URLs."""
    default_port = port or (8090 if scheme == "https" else 8088)
    bases: list[str] = []
    for entry in (e.strip() for e in (host or "").split(",")):
        if not entry:
            continue
        if "://" in entry:
            bases.append(_base_url(entry))
        elif re.search(r":\d+$", entry):
            bases.append(f"{scheme}://{entry}")
        else:
            bases.append(f"{scheme}://{entry}:{default_port}")
    if not bases:
        raise ValueError("the yarn connection has no ResourceManager address in its Host field")
    return bases


class YarnHook(BaseHook):
    """Talk to the YARN ResourceManager REST API.

    :param yarn_conn_id: connection of type ``yarn`` (see the module docstring for its fields).
    :param retry_policy: how long to retry an unreachable RM; default from the connection's ``retry_budget``.
    """

    conn_name_attr = "yarn_conn_id"
    default_conn_name = "yarn_default"
    conn_type = "yarn"
    hook_name = "YARN ResourceManager"

    def __init__(self, yarn_conn_id: str = default_conn_name, *, retry_policy: RetryPolicy | None = None) -> None:
        super().__init__()
        self.yarn_conn_id = yarn_conn_id
        self._retry_policy = retry_policy
        self._active: str | None = None

    # -- connection ---------------------------------------------------------------------------------------------
    @cached_property
    def _settings(self) -> dict[str, Any]:
        conn = self.get_connection(self.yarn_conn_id)
        extra = conn.extra_dejson
        scheme = (conn.schema or "http").lower()
        if scheme not in ("http", "https"):
            raise ValueError(f"yarn connection {self.yarn_conn_id!r}: schema must be http or https, not {scheme!r}")
        auth = str(extra.get("auth") or ("simple" if conn.login else "none")).lower()
        if auth not in ("simple", "kerberos", "none"):
            raise ValueError(
                f"yarn connection {self.yarn_conn_id!r}: extra 'auth' must be simple, kerberos or none, not {auth!r}"
            )
        return {
            "bases": parse_rm_addresses(conn.host or "", port=conn.port, scheme=scheme),
            "user": conn.login or None,
            "auth": auth,
            "verify": extra.get("verify", True),
            "timeout": float(extra.get("timeout", 30)),
            "retry_budget": float(extra.get("retry_budget", 60)),
            "kerberos_service": extra.get("kerberos_service", "HTTP"),
            "kerberos_principal": extra.get("kerberos_principal"),
        }

    @property
    def addresses(self) -> list[str]:
        """The ResourceManager base URLs from the connection, in their configured order."""
        return list(self._settings["bases"])

    @property
    def active_address(self) -> str | None:
        """The RM that answered last (asked first next time), or None before the first call."""
        return self._active

    @property
    def retry_policy(self) -> RetryPolicy:
        return self._retry_policy or RetryPolicy(budget=self._settings["retry_budget"])

    def get_conn(self) -> requests.Session:
        """A ``requests`` session with the connection's auth and TLS settings (one per hook)."""
        return self._session

    @cached_property
    def _session(self) -> requests.Session:
        settings = self._settings
        session = requests.Session()
        session.verify = settings["verify"]
        session.headers["Accept"] = "application/json"
        if settings["auth"] == "kerberos":
            session.auth = _spnego_auth(settings["kerberos_service"], settings["kerberos_principal"])
        return session

    # -- HTTP with HA failover -------------------------------------------------------------------------------------
    def _ordered_bases(self) -> list[str]:
        bases = self.addresses
        if self._active in bases:
            bases.remove(self._active)
            bases.insert(0, self._active)
        elif self._active:  # learnt from a redirect: an RM named by its own hostname
            bases.insert(0, self._active)
        return bases

    def _request_once(self, method: str, path: str, params: dict[str, str], body: Any) -> requests.Response:
        session = self.get_conn()
        failures: list[str] = []
        for base in self._ordered_bases():
            url: str | None = base + path
            query: dict[str, str] | None = params
            for _hop in range(3):  # standby -> active, at most a couple of hops
                assert url is not None
                try:
                    resp = session.request(
                        method, url, params=query, json=body, timeout=self._settings["timeout"], allow_redirects=False
                    )
                except (requests.ConnectionError, requests.Timeout) as error:
                    failures.append(f"{base}: {type(error).__name__}: {_first_line(error)}")
                    url = None
                    break
                location = resp.headers.get("Location")
                if resp.status_code in _REDIRECTS and location:
                    # a standby RM names the active one; the Location carries our query string already
                    url, query, base = location, None, _base_url(location)
                    continue
                if _is_standby_answer(resp):
                    failures.append(f"{base}: standby, {_first_line(resp.text)}")
                    url = None
                    break
                if resp.status_code in _GATEWAY_ERRORS:
                    failures.append(f"{base}: HTTP {resp.status_code}")
                    url = None
                    break
                self._active = base
                return resp
            else:
                failures.append(f"{base}: too many redirects")
        raise _NoActiveRM("; ".join(failures))

    def _request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None
    ) -> requests.Response:
        query = {k: str(v) for k, v in (params or {}).items() if v is not None}
        if self._settings["auth"] == "simple" and self._settings["user"]:
            query["user.name"] = self._settings["user"]
        try:
            return retry_call(
                lambda: self._request_once(method, path, query, body),
                self.retry_policy,
                retry_on=(_NoActiveRM,),
                what=f"YARN RM {method} {path}",
            )
        except RetryError as error:
            raise ResourceManagerUnavailable(
                f"no active YARN ResourceManager answered {method} {path} within {self.retry_policy.budget:.0f}s "
                f"({error.attempts} attempt(s); tried {', '.join(self.addresses)}): {error.last}"
            ) from error

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self._request(method, path, **kwargs)
        if resp.status_code >= 400:
            raise _api_error(method, path, resp, kerberos=self._settings["auth"] == "kerberos")
        try:
            return resp.json() if resp.content else {}
        except ValueError as error:
            raise YarnError(
                f"YARN RM {method} {path}: expected JSON, got {resp.headers.get('Content-Type')}: "
                f"{_first_line(resp.text)!r}",
                status=resp.status_code,
            ) from error

    # -- API --------------------------------------------------------------------------------------------------------
    def get_application(self, application_id: str) -> YarnApplication:
        """Return the report of one application; :class:`YarnApplicationNotFound` if the RM does not know it."""
        app_id = validate_application_id(application_id)
        return YarnApplication.from_json(self._json("GET", f"/ws/v1/cluster/apps/{app_id}")["app"])

    def kill_application(self, application_id: str) -> str:
        """Ask the RM to kill the application; return the state it reports (``ACCEPTED`` while the kill runs).

        Killing an application that has already ended is not an error: its final state is returned.
        """
        app_id = validate_application_id(application_id)
        answer = self._json("PUT", f"/ws/v1/cluster/apps/{app_id}/state", body={"state": "KILLED"})
        state = str(answer.get("state", ""))
        self.log.info("Kill of YARN application %s requested: RM answered %s", app_id, state)
        return state

    def list_applications(
        self,
        *,
        states: Iterable[str] | None = None,
        user: str | None = None,
        queue: str | None = None,
        tags: Iterable[str] | None = None,
        application_types: Iterable[str] | None = None,
        name: str | None = None,
        limit: int | None = None,
    ) -> list[YarnApplication]:
        """List applications, filtered on the RM by state, user, queue, tags (any of) and type; by name here."""
        params = {
            "states": _csv(states, upper=True),
            "user": user,
            "queue": queue,
            "applicationTags": _csv(tags),
            "applicationTypes": _csv(application_types, upper=True),
            "limit": limit if name is None else None,  # the RM cannot filter on name: limit after our filter
        }
        answer = self._json("GET", "/ws/v1/cluster/apps", params=params)
        apps = [YarnApplication.from_json(a) for a in ((answer.get("apps") or {}).get("app") or [])]
        if name is not None:
            apps = [a for a in apps if a.name == name]
            apps = apps[:limit] if limit is not None else apps
        return apps

    def find_application(self, *, name: str | None = None, tags: Sequence[str] = ()) -> YarnApplication | None:
        """The most recently started application with this name and all of these tags, or None."""
        if not name and not tags:
            raise ValueError("find_application needs a name or tags")
        wanted = {t.lower() for t in tags}  # YARN stores tags lower-cased
        candidates = [a for a in self.list_applications(name=name, tags=tags or None) if wanted.issubset(set(a.tags))]
        return max(candidates, key=lambda a: a.started_time, default=None)

    def cluster_metrics(self) -> dict[str, Any]:
        """``clusterMetrics`` of ``/ws/v1/cluster/metrics`` (apps by state, memory, vcores, nodes)."""
        return dict(self._json("GET", "/ws/v1/cluster/metrics")["clusterMetrics"])

    def cluster_info(self) -> dict[str, Any]:
        """``clusterInfo`` of ``/ws/v1/cluster/info`` (versions, ``haState``) of the RM that answered."""
        return dict(self._json("GET", "/ws/v1/cluster/info")["clusterInfo"])

    def test_connection(self) -> tuple[bool, str]:
        """Check that an active RM answers, with the connection's auth (used by the UI's Test button)."""
        try:
            metrics = self.cluster_metrics()  # redirected to the active RM, and needs auth where it is on
            info = self.cluster_info()
        except Exception as error:
            return False, str(error)
        return True, (
            f"ResourceManager {self._active} ({info.get('haState', 'no HA')}, Hadoop "
            f"{info.get('hadoopVersion', '?')}): {metrics.get('activeNodes', '?')} active node(s), "
            f"{metrics.get('appsRunning', '?')} app(s) running"
        )


def _csv(values: Iterable[str] | None, *, upper: bool = False) -> str | None:
    if values is None:
        return None
    items = [values] if isinstance(values, str) else list(values)
    return ",".join(v.upper() if upper else v for v in items) or None


def _first_line(value: object) -> str:
    text = str(value).strip()
    return text.splitlines()[0][:300] if text else ""


def _is_standby_answer(resp: requests.Response) -> bool:
    """RMWebAppFilter's answers when this RM is standby and cannot name an active one."""
    if resp.status_code in _REDIRECTS and "Refresh" in resp.headers:
        return True
    ctype = resp.headers.get("Content-Type", "")
    if "json" in ctype:
        return False
    text = resp.text[:500]
    return "standby RM" in text or "no active RM" in text or "Can not find any active RM" in text


def _api_error(method: str, path: str, resp: requests.Response, *, kerberos: bool) -> YarnError:
    detail = _first_line(resp.text)
    exception = ""
    try:
        remote = resp.json().get("RemoteException") or {}
        exception, detail = remote.get("exception", ""), remote.get("message", detail)
    except ValueError:
        pass
    message = f"YARN RM {method} {path} -> HTTP {resp.status_code}{' ' + exception if exception else ''}: {detail}"
    if resp.status_code == 404 and "/apps/application_" in path:
        return YarnApplicationNotFound(message, status=404)
    if resp.status_code == 401:
        if wants_spnego(resp.status_code, resp.headers):
            hint = spnego_refused(
                f"the ResourceManager {_base_url(resp.url)}",
                enabled=kerberos,
                how_to_enable="set extra auth=kerberos on the connection",
            )
        else:
            hint = "the RM wants a user: set Login on the connection (simple auth sends it as user.name)"
        message = f"{message} ({hint})"
    return YarnError(message, status=resp.status_code)


def _spnego_auth(service: str, principal: str | None) -> requests.auth.AuthBase:
    """SPNEGO auth from requests-kerberos, else requests-gssapi; a clear error when neither is installed."""
    try:
        from requests_kerberos import OPTIONAL, HTTPKerberosAuth
    except ImportError:
        try:
            from requests_gssapi import OPTIONAL as GSS_OPTIONAL
            from requests_gssapi import HTTPSPNEGOAuth
        except ImportError:
            raise ImportError(
                "the yarn connection asks for Kerberos auth: install requests-kerberos or requests-gssapi"
            ) from None
        return HTTPSPNEGOAuth(mutual_authentication=GSS_OPTIONAL)  # type: ignore[no-any-return]
    return HTTPKerberosAuth(  # type: ignore[no-any-return]
        mutual_authentication=OPTIONAL, service=service, principal=principal
    )
