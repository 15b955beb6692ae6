"""A local HTTPS server that answers as Salesforce's REST and Bulk API 2.0 do, for tests and the benchmark.

Salesforce cannot run here, so this server plays an org on 127.0.0.1 with the documented response shapes:

* ``POST /services/oauth2/token`` (OAuth 2.0 username-password and client-credentials flows): ``access_token``,
  ``instance_url``; a bad secret -> 400 ``{"error": "invalid_grant", "error_description": ...}``.
* ``GET /services/data/vXX.X/query?q=`` and ``/queryAll?q=``: ``{"totalSize", "done", "records": [{"attributes":
  {"type", "url"}, ...}], "nextRecordsUrl"}``, pages of ``Sforce-Query-Options: batchSize`` (default 2000)
  records, ``nextRecordsUrl`` = ``/services/data/vXX.X/query/01g...-2000``; ``SELECT COUNT()``; ``ORDER BY``,
  ``LIMIT``; a WHERE clause of comparisons joined by AND/OR/NOT and parentheses, on dateTime, date, number,
  string, boolean and null literals. Deleted records appear only through ``queryAll``. base64 fields come back as
  the URL of the blob, which ``GET`` returns as raw bytes.
* ``GET .../sobjects/{name}/describe/``: ``name``, ``queryable``, ``fields`` (name, type, label, length,
  precision, scale, nillable, compoundFieldName, ...).
* ``GET .../limits/``: ``{"DailyApiRequests": {"Max", "Remaining"}, "DailyBulkV2QueryJobs": {...}, ...}``; every
  data request counts against DailyApiRequests and is answered with ``Sforce-Limit-Info: api-usage=USED/MAX``.
* Bulk API 2.0 query jobs: ``POST .../jobs/query`` -> job info in state ``UploadComplete``; ``GET
  .../jobs/query/{id}`` moves it through ``InProgress`` to ``JobComplete`` (or ``Failed`` with ``errorMessage``,
  or stays ``InProgress`` when told to); ``PATCH {"state": "Aborted"}``; ``DELETE``; ``GET .../results?locator=
  &maxRecords=`` -> CSV (header row, every value quoted, nulls empty, dateTimes ``...Z``) with the
  ``Sforce-Locator`` (``null`` on the last page) and ``Sforce-NumberOfRecords`` headers.
* Errors as Salesforce writes them: ``[{"message": ..., "errorCode": ...}]`` -- INVALID_SESSION_ID (401),
  INVALID_FIELD / MALFORMED_QUERY (400), REQUEST_LIMIT_EXCEEDED (403), and whatever a test injects.

API::

    org = FakeOrg()
    org.add_object("Account", fields=[...describe fields...], records=[{...REST-form values...}])
    with salesforce_server(tmp_path, org) as srv:
        srv.instance_url          # "https://127.0.0.1:PORT"
        srv.ca_path               # PEM of the test CA, for requests' ``verify`` / REQUESTS_CA_BUNDLE
        srv.connect()             # an authenticated simple_salesforce.Salesforce (OAuth password flow)
        org.fail("POST", "/jobs/query", 503, "SERVER_UNAVAILABLE", "try later", times=2)
        org.expire_sessions()     # every issued token becomes invalid (INVALID_SESSION_ID)
        org.requests              # (method, path) of every request, in order

Run as a program (``python -m tests.servers.salesforce --records N``) it serves a generated ``Account`` object of
N records until killed, printing ``instance_url`` and ``ca_path`` as JSON on its first line (the benchmark uses it,
so that the server's memory is not counted as the client's).
"""

from __future__ import annotations

import argparse
import base64
import csv
import datetime as dt
import io
import itertools
import json
import re
import socket
import sys
import tempfile
import threading
import urllib.parse
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.servers.https import serve_https

__all__ = ["FakeOrg", "GeneratedRecords", "SalesforceServer", "account_fields", "salesforce_server"]

API_VERSION = "59.0"
CLIENT_ID = "test-consumer-key"
CLIENT_SECRET = "test-consumer-secret"
USERNAME = "etl@example.com"
PASSWORD = "test-password"
QUERY_TIMEOUT_MESSAGE = "Your query request was running for too long."


# -- the org -------------------------------------------------------------------------------------------------------


class GeneratedRecords(Sequence[dict[str, Any]]):
    """``count`` records made on demand by ``make(index)``: a million records without holding them."""

    def __init__(self, count: int, make: Callable[[int], dict[str, Any]], *, any_deleted: bool = False) -> None:
        self.count = count
        self.make = make
        #: Whether ``make`` ever returns ``IsDeleted: True`` (if not, queries skip the per-record check).
        self.any_deleted = any_deleted

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self.make(i) for i in range(*index.indices(self.count))]
        if not -self.count <= index < self.count:
            raise IndexError(index)
        return self.make(index % self.count)


@dataclass
class SObject:
    name: str
    fields: list[dict[str, Any]]
    records: Sequence[dict[str, Any]]
    queryable: bool = True

    def __post_init__(self) -> None:
        self._by_name = {f["name"].lower(): f for f in self.fields}
        self.base64_fields = {f["name"] for f in self.fields if f["type"] == "base64"}

    def field(self, name: str) -> dict[str, Any] | None:
        return self._by_name.get(name.lower())


@dataclass
class Fault:
    """The next ``times`` requests with this method whose path contains ``path_part`` fail this way."""

    method: str
    path_part: str
    status: int
    body: Any
    times: int


@dataclass
class BulkJob:
    id: str
    sobject: str
    operation: str
    query: str
    indices: Sequence[int]
    columns: list[str]
    state: str = "UploadComplete"
    polls: int = 0
    error: str | None = None
    created: str = field(default_factory=lambda: _now_sf())


class FakeOrg:
    """The state of the fake org; tests change it between and during reads.

    :param daily_api_max: ``DailyApiRequests.Max``; ``api_used`` starts at ``api_used`` requests.
    :param bulk_polls: status checks a job takes to reach JobComplete.
    """

    def __init__(self, *, daily_api_max: int = 100_000, api_used: int = 0, bulk_polls: int = 1) -> None:
        self.objects: dict[str, SObject] = {}
        self.daily_api_max = daily_api_max
        self.api_used = api_used
        self.bulk_polls = bulk_polls
        #: Jobs stay InProgress forever (a stuck job).
        self.bulk_stuck = False
        #: Bulk jobs matching more records than this fail with a query timeout (None: never).
        self.bulk_timeout_above: int | None = None
        #: Bulk jobs matching more records than this exceed the org's concurrency limit once per create.
        self.bulk_jobs_left_today = 10_000
        self.default_page_size = 2000
        #: A results page is cut off after this many bytes the next ``break_results_times`` times: the connection
        #: drops, or (``break_results_cleanly``) the body ends as if complete.
        self.break_results_after: int | None = None
        self.break_results_times = 0
        self.break_results_cleanly = False
        self.faults: list[Fault] = []
        self.tokens: set[str] = set()
        self.requests: list[tuple[str, str]] = []
        self.jobs: dict[str, BulkJob] = {}
        self.cursors: dict[str, tuple[SObject, list[str], Sequence[int]]] = {}
        self.lock = threading.Lock()
        self._ids = itertools.count(1)
        self.instance_url = ""

    def add_object(
        self, name: str, *, fields: list[dict[str, Any]], records: Sequence[dict[str, Any]], queryable: bool = True
    ) -> SObject:
        obj = SObject(name, fields, records, queryable)
        self.objects[name.lower()] = obj
        return obj

    def fail(self, method: str, path_part: str, status: int, error_code: str, message: str, *, times: int = 1) -> None:
        """Make the next ``times`` matching requests fail with a Salesforce error body."""
        self.faults.append(Fault(method, path_part, status, [{"message": message, "errorCode": error_code}], times))

    def issue_token(self) -> str:
        token = f"00D000000000001!{next(self._ids):08d}TOKEN"
        self.tokens.add(token)
        return token

    def expire_sessions(self) -> None:
        self.tokens.clear()

    def count(self, method: str, part: str) -> int:
        """How many requests with ``method`` had ``part`` in their path."""
        return sum(1 for m, p in self.requests if m == method and part in p)


# -- SOQL (the subset that SOQL readers send) ----------------------------------------------------------------------

_SOQL = re.compile(
    r"^\s*SELECT\s+(?P<select>.+?)\s+FROM\s+(?P<obj>\w+)(?:\s+WHERE\s+(?P<where>.+?))?"
    r"(?:\s+ORDER\s+BY\s+(?P<order>\w+)(?:\s+(?P<dir>ASC|DESC))?)?(?:\s+LIMIT\s+(?P<limit>\d+))?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_TOKEN = re.compile(
    r"\s*(?:(?P<paren>[(),])|(?P<op><=|>=|!=|<>|=|<|>)|(?P<str>'(?:[^'\\]|\\.)*')"
    r"|(?P<dt>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d))|(?P<date>\d{4}-\d\d-\d\d)"
    r"|(?P<num>-?\d+(?:\.\d+)?)|(?P<word>[A-Za-z_][\w.]*))"
)


class SoqlError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _parse_dt(value: str) -> dt.datetime:
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    parsed = dt.datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def _compile_where(text: str, obj: SObject) -> Callable[[dict[str, Any]], bool]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            if text[pos:].strip() == "":
                break
            raise SoqlError("MALFORMED_QUERY", f"unexpected token at: {text[pos : pos + 20]!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    position = 0

    def peek() -> tuple[str, str] | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> tuple[str, str]:
        nonlocal position
        if position >= len(tokens):
            raise SoqlError("MALFORMED_QUERY", "unexpected end of WHERE clause")
        position += 1
        return tokens[position - 1]

    def is_word(token: tuple[str, str] | None, word: str) -> bool:
        return token is not None and token[0] == "word" and token[1].upper() == word

    def parse_or() -> Callable[[dict[str, Any]], bool]:
        left = parse_and()
        while is_word(peek(), "OR"):
            take()
            right = parse_and()
            left = (lambda a, b: lambda r: a(r) or b(r))(left, right)
        return left

    def parse_and() -> Callable[[dict[str, Any]], bool]:
        left = parse_not()
        while is_word(peek(), "AND"):
            take()
            right = parse_not()
            left = (lambda a, b: lambda r: a(r) and b(r))(left, right)
        return left

    def parse_not() -> Callable[[dict[str, Any]], bool]:
        if is_word(peek(), "NOT"):
            take()
            inner = parse_not()
            return lambda r: not inner(r)
        if peek() == ("paren", "("):
            take()
            inner = parse_or()
            if take() != ("paren", ")"):
                raise SoqlError("MALFORMED_QUERY", "missing )")
            return inner
        return parse_comparison()

    def parse_comparison() -> Callable[[dict[str, Any]], bool]:
        kind, name = take()
        sf_field = obj.field(name) if kind == "word" else None
        if sf_field is None:
            raise SoqlError("INVALID_FIELD", f"No such column '{name}' on entity '{obj.name}'.")
        op_kind, op = take()
        if op_kind != "op":
            raise SoqlError("MALFORMED_QUERY", f"expected an operator after {name}")
        lit_kind, lit = take()
        key = sf_field["name"]
        if lit_kind == "dt":
            literal: Any = _parse_dt(lit)
            convert: Callable[[Any], Any] = _parse_dt
        elif lit_kind == "date":
            literal, convert = dt.date.fromisoformat(lit), lambda v: dt.date.fromisoformat(str(v)[:10])
        elif lit_kind == "num":
            literal, convert = float(lit), float
        elif lit_kind == "str":
            literal, convert = lit[1:-1].replace("\\'", "'"), str
        elif lit_kind == "word" and lit.lower() in ("true", "false"):
            literal, convert = lit.lower() == "true", bool
        elif lit_kind == "word" and lit.lower() == "null":
            literal, convert = None, lambda v: v
        else:
            raise SoqlError("MALFORMED_QUERY", f"unexpected literal {lit!r}")
        compare = {
            "=": lambda a, b: a == b,
            "!=": lambda a, b: a != b,
            "<>": lambda a, b: a != b,
            "<": lambda a, b: a < b,
            "<=": lambda a, b: a <= b,
            ">": lambda a, b: a > b,
            ">=": lambda a, b: a >= b,
        }[op]

        def test(record: dict[str, Any]) -> bool:
            value = record.get(key)
            if literal is None or value is None:
                return compare(value, literal) if op in ("=", "!=", "<>") else False
            return bool(compare(convert(value), literal))

        return test

    predicate = parse_or()
    if position != len(tokens):
        raise SoqlError("MALFORMED_QUERY", f"unexpected {tokens[position][1]!r} in WHERE clause")
    return predicate


@dataclass
class Query:
    obj: SObject
    columns: list[str]
    count_only: bool
    indices: Sequence[int]


def run_soql(org: FakeOrg, soql: str, *, include_deleted: bool) -> Query:
    match = _SOQL.match(soql)
    if not match:
        raise SoqlError("MALFORMED_QUERY", f"unexpected query: {soql[:80]}")
    obj = org.objects.get(match["obj"].lower())
    if obj is None:
        raise SoqlError("INVALID_TYPE", f"sObject type '{match['obj']}' is not supported.")
    select = match["select"].strip()
    count_only = select.replace(" ", "").upper() == "COUNT()"
    columns: list[str] = []
    if not count_only:
        for name in (part.strip() for part in select.split(",")):
            sf_field = obj.field(name)
            if sf_field is None:
                raise SoqlError(
                    "INVALID_FIELD",
                    f"\n{soql[:60]}\n^\nERROR at Row:1:Column:8\nNo such column '{name}' on entity '{obj.name}'.",
                )
            columns.append(sf_field["name"])
    keep = _compile_where(match["where"], obj) if match["where"] else None
    records = obj.records
    generated_live = isinstance(records, GeneratedRecords) and not records.any_deleted
    if keep is None and (include_deleted or generated_live):
        indices: Sequence[int] = range(len(records))  # no need to look at a million records one by one
    else:
        indices = [
            i
            for i, r in enumerate(records)
            if (include_deleted or not r.get("IsDeleted")) and (keep is None or keep(r))
        ]
    if match["order"]:
        key = match["order"]
        ordered = [i for i in indices if records[i].get(key) is not None]
        indices = sorted(ordered, key=lambda i: records[i][key], reverse=(match["dir"] or "").upper() == "DESC")
    if match["limit"]:
        indices = list(indices)[: int(match["limit"])]
    return Query(obj, columns, count_only, indices)


# -- rendering -----------------------------------------------------------------------------------------------------


def _now_sf() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _rest_record(obj: SObject, record: dict[str, Any], columns: list[str], base: str) -> dict[str, Any]:
    out: dict[str, Any] = {"attributes": {"type": obj.name, "url": f"{base}/sobjects/{obj.name}/{record.get('Id')}"}}
    for name in columns:
        value = record.get(name)
        if value is not None and name in obj.base64_fields:
            value = f"{base}/sobjects/{obj.name}/{record.get('Id')}/{name}"
        out[name] = value
    return out


def _csv_value(value: Any, sf_type: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if sf_type == "datetime" and isinstance(value, str) and value.endswith("+0000"):
        return value[:-5] + "Z"
    return str(value)


# -- HTTP ----------------------------------------------------------------------------------------------------------


class _Reply(Exception):
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def _error(status: int, code: str, message: str) -> _Reply:
    return _Reply(status, [{"message": message, "errorCode": code}])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SalesforceServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without this, Nagle + delayed ACK add 40 ms per request.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        org = self.server.org
        url = urllib.parse.urlsplit(self.path)
        params = dict(urllib.parse.parse_qsl(url.query))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with org.lock:
            org.requests.append((method, url.path))
        try:
            fault = self._take_fault(method, url.path)
            if fault is not None:
                raise _Reply(fault.status, fault.body)
            if url.path == "/services/oauth2/token" and method == "POST":
                self._send(200, self._token(dict(urllib.parse.parse_qsl(body.decode()))))
                return
            prefix = f"/services/data/v{API_VERSION}"
            if not url.path.startswith(prefix + "/"):
                raise _error(404, "NOT_FOUND", "The requested resource does not exist")
            self._authenticate()
            with org.lock:
                org.api_used += 1
                usage = {"Sforce-Limit-Info": f"api-usage={org.api_used}/{org.daily_api_max}"}
            if org.api_used > org.daily_api_max:
                raise _Reply(
                    403, [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}], usage
                )
            self._route(method, url.path[len(prefix) :], params, body, usage)
        except _Reply as reply:
            self._send(reply.status, reply.body, reply.headers)
        except SoqlError as exc:
            self._send(400, [{"message": str(exc), "errorCode": exc.code}])

    def _take_fault(self, method: str, path: str) -> Fault | None:
        org = self.server.org
        with org.lock:
            for fault in org.faults:
                if fault.method == method and fault.path_part in path and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None

    def _authenticate(self) -> None:
        auth = self.headers.get("Authorization", "")
        token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else ""
        if token not in self.server.org.tokens:
            raise _error(401, "INVALID_SESSION_ID", "Session expired or invalid")

    def _token(self, form: dict[str, str]) -> dict[str, Any]:
        org = self.server.org
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            raise _Reply(400, {"error": "invalid_client_id", "error_description": "client identifier invalid"})
        grant = form.get("grant_type")
        if grant == "password" and (form.get("username") != USERNAME or form.get("password") != PASSWORD):
            raise _Reply(400, {"error": "invalid_grant", "error_description": "authentication failure"})
        if grant not in ("password", "client_credentials"):
            raise _Reply(400, {"error": "unsupported_grant_type", "error_description": "grant type not supported"})
        return {
            "access_token": org.issue_token(),
            "instance_url": org.instance_url,
            "token_type": "Bearer",
            "id": f"{org.instance_url}/id/00D000000000001/005000000000001",
            "issued_at": str(int(dt.datetime.now().timestamp() * 1000)),
            "signature": "c2lnbmF0dXJl",
        }

    def _route(self, method: str, path: str, params: dict[str, str], body: bytes, usage: dict[str, str]) -> None:
        org = self.server.org
        base = f"/services/data/v{API_VERSION}"
        parts = [p for p in path.split("/") if p]
        if method == "GET" and parts == ["limits"]:
            self._send(
                200,
                {
                    "DailyApiRequests": {
                        "Max": org.daily_api_max,
                        "Remaining": max(0, org.daily_api_max - org.api_used),
                    },
                    "DailyBulkV2QueryJobs": {"Max": 10_000, "Remaining": org.bulk_jobs_left_today},
                    "DailyBulkV2QueryFileStorageMB": {"Max": 976_562, "Remaining": 976_562},
                    "ConcurrentAsyncGetReportInstances": {"Max": 200, "Remaining": 200},
                },
                usage,
            )
        elif method == "GET" and len(parts) == 3 and parts[0] == "sobjects" and parts[2] == "describe":
            obj = org.objects.get(parts[1].lower())
            if obj is None:
                raise _error(404, "NOT_FOUND", f"The requested resource does not exist: {parts[1]}")
            self._send(
                200,
                {
                    "name": obj.name,
                    "label": obj.name,
                    "queryable": obj.queryable,
                    "custom": False,
                    "fields": obj.fields,
                    "urls": {},
                },
                usage,
            )
        elif method == "GET" and len(parts) == 4 and parts[0] == "sobjects":
            self._blob(parts[1], parts[2], parts[3], usage)
        elif method == "GET" and parts and parts[0] in ("query", "queryAll"):
            self._query(parts, params, base, usage)
        elif parts[:2] == ["jobs", "query"]:
            self._bulk(method, parts[2:], params, body, usage)
        else:
            raise _error(404, "NOT_FOUND", "The requested resource does not exist")

    def _blob(self, name: str, record_id: str, field_name: str, usage: dict[str, str]) -> None:
        obj = self.server.org.objects.get(name.lower())
        record = next((r for r in (obj.records if obj else []) if r.get("Id") == record_id), None)
        if record is None or not isinstance(record.get(field_name), bytes):
            raise _error(404, "NOT_FOUND", "The requested resource does not exist")
        self._send_bytes(200, record[field_name], "application/octet-stream", usage)

    def _query(self, parts: list[str], params: dict[str, str], base: str, usage: dict[str, str]) -> None:
        org = self.server.org
        options = self.headers.get("Sforce-Query-Options", "")
        size_match = re.search(r"batchSize=(\d+)", options)
        page_size = int(size_match.group(1)) if size_match else org.default_page_size
        if len(parts) == 1:
            if "q" not in params:
                raise _error(400, "MALFORMED_QUERY", "A query string has to be specified")
            query = run_soql(org, params["q"], include_deleted=parts[0] == "queryAll")
            if query.count_only:
                self._send(200, {"totalSize": len(query.indices), "done": True, "records": []}, usage)
                return
            cursor_id = f"01gD0000000{next(org._ids):05d}"
            with org.lock:
                org.cursors[cursor_id] = (query.obj, query.columns, query.indices)
            offset = 0
        else:
            cursor_id, _, offset_text = parts[1].partition("-")
            if cursor_id not in org.cursors:
                raise _error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
            offset = int(offset_text)
        obj, columns, indices = org.cursors[cursor_id]
        end = min(offset + page_size, len(indices))
        records = [_rest_record(obj, obj.records[i], columns, base) for i in indices[offset:end]]
        page: dict[str, Any] = {"totalSize": len(indices), "done": end >= len(indices), "records": records}
        if end < len(indices):
            page["nextRecordsUrl"] = f"{base}/{parts[0]}/{cursor_id}-{end}"
        self._send(200, page, usage)

    def _bulk(self, method: str, parts: list[str], params: dict[str, str], body: bytes, usage: dict[str, str]) -> None:
        org = self.server.org
        if method == "POST" and not parts:
            request = json.loads(body or b"{}")
            operation = request.get("operation")
            if operation not in ("query", "queryAll"):
                raise _error(400, "INVALIDJOB", f"Invalid operation: {operation}")
            if org.bulk_jobs_left_today <= 0:
                raise _error(400, "LIMIT_EXCEEDED", "Max number of Bulk API 2.0 query jobs per 24 hours reached")
            query = run_soql(org, request.get("query", ""), include_deleted=operation == "queryAll")
            if query.count_only:
                raise _error(400, "INVALIDJOB", "Aggregate Relationships not supported in Bulk Query")
            for name in query.columns:
                sf_type = (query.obj.field(name) or {}).get("type")
                if sf_type in ("address", "location", "base64"):
                    raise _error(400, "INVALIDJOB", f"{sf_type} field {name} is not supported by Bulk API 2.0 query")
            job_id = f"750D0000000{next(org._ids):05d}AAA"
            with org.lock:
                org.bulk_jobs_left_today -= 1
                org.jobs[job_id] = BulkJob(
                    job_id, query.obj.name, operation, request["query"], query.indices, query.columns
                )
            self._send(200, self._job_info(org.jobs[job_id]), usage)
            return
        job = org.jobs.get(parts[0]) if parts else None
        if job is None:
            raise _error(404, "NOT_FOUND", "Could not find job")
        if method == "GET" and len(parts) == 1:
            with org.lock:
                self._advance(job)
            self._send(200, self._job_info(job), usage)
        elif method == "PATCH" and len(parts) == 1:
            if json.loads(body or b"{}").get("state") != "Aborted":
                raise _error(400, "INVALIDSTATUS", "Only Aborted is a valid state change for a query job")
            if job.state in ("JobComplete", "Failed", "Aborted"):
                raise _error(400, "INVALIDSTATUS", f"Cannot abort a job in state {job.state}")
            job.state = "Aborted"
            self._send(200, self._job_info(job), usage)
        elif method == "DELETE" and len(parts) == 1:
            org.jobs.pop(job.id, None)
            self._send_bytes(204, b"", "text/plain", usage)
        elif method == "GET" and parts[1:] == ["results"]:
            if job.state != "JobComplete":
                raise _error(400, "INVALIDSTATUS", f"Job {job.id} is in state {job.state}, not JobComplete")
            self._results(job, params, usage)
        else:
            raise _error(404, "NOT_FOUND", "The requested resource does not exist")

    def _advance(self, job: BulkJob) -> None:
        org = self.server.org
        if job.state in ("JobComplete", "Failed", "Aborted"):
            return
        job.polls += 1
        if org.bulk_stuck:
            job.state = "InProgress"
        elif org.bulk_timeout_above is not None and len(job.indices) > org.bulk_timeout_above:
            job.state, job.error = "Failed", f"QUERY_TIMEOUT: {QUERY_TIMEOUT_MESSAGE}"
        elif job.polls >= org.bulk_polls:
            job.state = "JobComplete"
        else:
            job.state = "InProgress"

    def _job_info(self, job: BulkJob) -> dict[str, Any]:
        info: dict[str, Any] = {
            "id": job.id,
            "operation": job.operation,
            "object": job.sobject,
            "createdById": "005D0000001b0fFIAQ",
            "createdDate": job.created,
            "systemModstamp": _now_sf(),
            "state": job.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(API_VERSION),
            "jobType": "V2Query",
            "lineEnding": "LF",
            "columnDelimiter": "COMMA",
            "numberRecordsProcessed": len(job.indices) if job.state == "JobComplete" else 0,
            "retries": 0,
            "totalProcessingTime": 0,
        }
        if job.error:
            info["errorMessage"] = job.error
        return info

    def _results(self, job: BulkJob, params: dict[str, str], usage: dict[str, str]) -> None:
        org = self.server.org
        obj = org.objects[job.sobject.lower()]
        offset = int(base64.b64decode(params["locator"]).decode()) if params.get("locator") else 0
        page = int(params.get("maxRecords") or 1_000_000)
        end = min(offset + page, len(job.indices))
        locator = base64.b64encode(str(end).encode()).decode() if end < len(job.indices) else "null"
        types = [(name, (obj.field(name) or {}).get("type", "string")) for name in job.columns]
        # Salesforce compresses result pages when the client accepts gzip (always, per its documentation).
        compressor = (
            zlib.compressobj(1, zlib.DEFLATED, 31) if "gzip" in self.headers.get("Accept-Encoding", "") else None
        )
        headers = {
            **usage,
            "Content-Type": "text/csv",
            "Transfer-Encoding": "chunked",
            "Sforce-Locator": locator,
            "Sforce-NumberOfRecords": str(end - offset),
        }
        if compressor is not None:
            headers["Content-Encoding"] = "gzip"
        self.send_response(200)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        cut_after: int | None = None
        with org.lock:
            if org.break_results_times > 0 and org.break_results_after is not None:
                org.break_results_times -= 1
                cut_after = org.break_results_after

        def emit(data: bytes) -> None:
            if compressor is not None:
                data = compressor.compress(data)
            if data:  # an empty chunk would end the body
                self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")

        sent = 0
        buffer = io.StringIO()
        writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow(job.columns)
        for start in range(offset, end + 1, 2000):
            for i in job.indices[start : min(start + 2000, end)]:
                writer.writerow([_csv_value(obj.records[i].get(name), sf_type) for name, sf_type in types])
            chunk = buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
            if cut_after is not None and sent + len(chunk) > cut_after:
                emit(chunk[: max(0, cut_after - sent)])
                if org.break_results_cleanly:
                    break  # end the body as if it were complete
                if compressor is not None:
                    flushed = compressor.flush(zlib.Z_SYNC_FLUSH)
                    self.wfile.write(f"{len(flushed):X}\r\n".encode() + flushed + b"\r\n")
                self.wfile.flush()
                self.close_connection = True  # the connection drops: no terminating chunk
                return
            emit(chunk)
            sent += len(chunk)
        if compressor is not None:
            tail = compressor.flush()
            self.wfile.write(f"{len(tail):X}\r\n".encode() + tail + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self._send_bytes(
            status, json.dumps(body, separators=(",", ":")).encode(), "application/json;charset=UTF-8", headers or {}
        )

    def _send_bytes(self, status: int, data: bytes, content_type: str, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


class SalesforceServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, org: FakeOrg) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.org = org
        self.instance_url = ""
        self.ca_path = ""

    def connect(self) -> Any:
        """Log in with the OAuth 2.0 username-password flow and return a simple_salesforce ``Salesforce``."""
        return connect(self.instance_url, self.ca_path)


def connect(instance_url: str, ca_path: str) -> Any:
    """A simple_salesforce ``Salesforce`` logged in to the fake org through its OAuth token endpoint.

    simple-salesforce builds the token URL as ``https://{domain}.salesforce.com/services/oauth2/token``; the domain
    given here ends in ``#`` so that the rest of that URL becomes a fragment, which HTTP clients never send. The
    login thus goes through the library's real OAuth code path, against this server.
    """
    import requests
    from simple_salesforce import Salesforce

    session = requests.Session()
    session.verify = ca_path
    # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE from the environment override ``session.verify``.
    session.trust_env = False
    host = urllib.parse.urlsplit(instance_url).netloc
    return Salesforce(
        username=USERNAME,
        password=PASSWORD,
        consumer_key=CLIENT_ID,
        consumer_secret=CLIENT_SECRET,
        domain=f"{host}/services/oauth2/token#",
        session=session,
        version=API_VERSION,
    )


def hook_domain(instance_url: str) -> str:
    """The ``domain`` extra that points ``SalesforceHook`` logins at this server (see :func:`connect`)."""
    return f"{urllib.parse.urlsplit(instance_url).netloc}/services/oauth2/token#"


@contextmanager
def salesforce_server(tmp_path: Path, org: FakeOrg | None = None) -> Iterator[SalesforceServer]:
    """Start the fake org over HTTPS on 127.0.0.1 (a fresh trustme CA per server); stop it on exit."""
    server = SalesforceServer(org or FakeOrg())
    with serve_https(server, tmp_path, "salesforce") as ca_path:
        server.ca_path = ca_path
        server.instance_url = f"https://127.0.0.1:{server.server_address[1]}"
        server.org.instance_url = server.instance_url
        yield server


# -- describe helpers ----------------------------------------------------------------------------------------------


def sf_field(name: str, sf_type: str, **extra: Any) -> dict[str, Any]:
    """A describe field entry with the keys Salesforce always sends."""
    entry: dict[str, Any] = {
        "name": name,
        "label": name,
        "type": sf_type,
        "soapType": f"xsd:{sf_type}",
        "length": 0,
        "precision": 0,
        "scale": 0,
        "nillable": sf_type != "boolean",
        "custom": name.endswith("__c"),
        "compoundFieldName": None,
        "filterable": True,
        "sortable": True,
        "updateable": False,
        "createable": False,
    }
    entry.update(extra)
    return entry


def account_fields() -> list[dict[str, Any]]:
    """Describe fields of an Account-like object, one of each type the reader maps."""
    return [
        sf_field("Id", "id", length=18),
        sf_field("IsDeleted", "boolean"),
        sf_field("Name", "string", length=255),
        sf_field("Type", "picklist"),
        sf_field("Industries__c", "multipicklist"),
        sf_field("ParentId", "reference"),
        sf_field("AnnualRevenue", "currency", precision=18, scale=2),
        sf_field("Discount__c", "percent", precision=5, scale=2),
        sf_field("NumberOfEmployees", "int", precision=8),
        sf_field("Rating__c", "double", precision=18, scale=4),
        sf_field("IsActive__c", "boolean"),
        sf_field("FoundedOn__c", "date"),
        sf_field("OpensAt__c", "time"),
        sf_field("BillingStreet", "textarea", compoundFieldName="BillingAddress"),
        sf_field("BillingCity", "string", compoundFieldName="BillingAddress"),
        sf_field("BillingPostalCode", "string", compoundFieldName="BillingAddress"),
        sf_field("BillingCountry", "string", compoundFieldName="BillingAddress"),
        sf_field("BillingAddress", "address"),
        sf_field("Logo__c", "base64"),
        sf_field("CreatedDate", "datetime"),
        sf_field("LastModifiedDate", "datetime"),
        sf_field("SystemModstamp", "datetime"),
    ]


def make_account(i: int, *, base: dt.datetime = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)) -> dict[str, Any]:
    """Account number ``i`` of a generated org (the benchmark's 1M records): modified one minute apart."""
    stamp = (base + dt.timedelta(minutes=i)).isoformat(timespec="milliseconds").replace("+00:00", "+0000")
    return {
        "Id": f"001D{i:014d}",
        "IsDeleted": False,
        "Name": f"Account {i}",
        "Type": "Customer",
        "Industries__c": "Energy;Retail",
        "ParentId": None,
        "AnnualRevenue": 1000 + i % 997 + 0.25,
        "Discount__c": 12.5,
        "NumberOfEmployees": i % 5000,
        "Rating__c": i / 7,
        "IsActive__c": i % 2 == 0,
        "FoundedOn__c": "1999-12-31",
        "OpensAt__c": "09:30:00.000Z",
        "BillingStreet": f"{i} Main St",
        "BillingCity": "Springfield",
        "BillingPostalCode": "12345",
        "BillingCountry": "US",
        "CreatedDate": stamp,
        "LastModifiedDate": stamp,
        "SystemModstamp": stamp,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args(argv)
    org = FakeOrg(daily_api_max=10_000_000)
    fields = [f for f in account_fields() if f["type"] != "base64"]
    org.add_object("Account", fields=fields, records=GeneratedRecords(args.records, make_account))
    with tempfile.TemporaryDirectory() as tmp, salesforce_server(Path(tmp), org) as server:
        print(json.dumps({"instance_url": server.instance_url, "ca_path": server.ca_path}), flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main(sys.argv[1:])
