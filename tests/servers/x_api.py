"""A local HTTPS server that answers as the X (Twitter) API v2 does, for tests.

X cannot run here, so this server plays it on 127.0.0.1 with the documented shapes: ``data``, ``includes``,
``meta`` (``result_count``, ``newest_id``, ``oldest_id``, ``next_token``), partial ``errors`` in 200 answers,
RFC 7807 problem bodies for 4xx (``title``, ``detail``, ``type``), the older ``{"errors": [{"code": 453, ...}]}``
access-tier body, and the ``x-rate-limit-limit`` / ``-remaining`` / ``-reset`` headers on every answer.

Served endpoints (GET): ``/2/tweets/search/recent``, ``/2/tweets/search/all``, ``/2/users/:id/tweets``,
``/2/users/:id/mentions``, ``/2/lists/:id/tweets``, ``/2/users/by/username/:username``.

What it checks as X does: the bearer token (revoked -> 401) or an OAuth 1.0a HMAC-SHA1 signature (verified with
oauthlib against the URL the client really called), query parameter names and ``max_results`` ranges (400 with X's
messages), ``tweet.fields`` values, a small query language (words, ``from:``, ``#tag``, ``-word``, ``lang:``,
parentheses; an unknown ``operator:`` or unbalanced parentheses -> 400 with X's error text), access tiers (``free``:
403 code 453 on search; ``basic``: 403 client-forbidden on full-archive search), protected and suspended users.

API::

    state = XState()
    alice = state.add_user("alice")
    state.add_post(alice, "hello #airflow", media=[...], place=...)
    with x_api_server(tmp_path, state) as srv:
        srv.url          # "https://127.0.0.1:PORT"
        srv.ca_path      # PEM of the test CA, for requests' ``verify``
        state.fail(path_prefix, status=503, times=2)       # next matching requests fail
        state.requests   # what the client sent: (path, params) in order
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from oauthlib.common import Request as OAuthRequest
from oauthlib.oauth1.rfc5849 import signature as oauth_signature

from tests.servers.https import serve_https

__all__ = ["Fault", "XApiServer", "XState", "x_api_server"]

PROBLEMS = "https://api.twitter.com/2/problems"
# fmt: off
TWEET_FIELDS = [
    "article", "attachments", "author_id", "card_uri", "community_id", "context_annotations", "conversation_id",
    "created_at", "display_text_range", "edit_controls", "edit_history_tweet_ids", "entities", "geo", "id",
    "in_reply_to_user_id", "lang", "media_metadata", "non_public_metrics", "note_tweet", "organic_metrics",
    "possibly_sensitive", "promoted_metrics", "public_metrics", "referenced_tweets", "reply_settings", "scopes",
    "source", "text", "withheld",
]
# fmt: on
TIER_453 = (
    "You currently have access to a subset of X API V2 endpoints and limited v1.1 endpoints (e.g. media post, "
    "oauth) only. If you need access to this endpoint, you may need a different access level. You can learn more "
    "here: https://developer.x.com/en/portal/product"
)
COMMON_PARAMS = ["expansions", "tweet.fields", "user.fields", "media.fields", "place.fields", "poll.fields"]
SEARCH_PARAMS = [
    "query",
    "start_time",
    "end_time",
    "since_id",
    "until_id",
    "max_results",
    "next_token",
    "pagination_token",
    "sort_order",
    *COMMON_PARAMS,
]
TIMELINE_PARAMS = [
    "start_time",
    "end_time",
    "since_id",
    "until_id",
    "max_results",
    "pagination_token",
    "exclude",
    *COMMON_PARAMS,
]
LIST_PARAMS = ["max_results", "pagination_token", *COMMON_PARAMS]
DEFAULT_FIELDS = {
    "tweets": ("id", "text", "edit_history_tweet_ids"),
    "users": ("id", "name", "username"),
    "media": ("media_key", "type"),
    "places": ("id", "full_name"),
    "polls": ("id", "options"),
}
KNOWN_OPERATORS = {"from", "to", "lang", "is", "has", "url", "conversation_id"}


@dataclass
class Fault:
    """The next ``times`` requests whose path starts with ``path_prefix`` fail this way.

    ``status=None`` drops the connection without an answer. ``paged_only`` matches only requests that carry a
    pagination token (a failure "halfway" through a result).
    """

    path_prefix: str
    status: int | None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1
    paged_only: bool = False


@dataclass
class _Window:
    limit: int
    seconds: float
    remaining: int = -1
    reset: float = 0.0


class XState:
    """Everything the fake X knows: users, posts, media, places, lists, tokens, tier, faults and rate limits."""

    def __init__(self, *, bearer_tokens: tuple[str, ...] = ("test-bearer-token",), tier: str = "pro") -> None:
        self.lock = threading.Lock()
        self.bearer_tokens = set(bearer_tokens)
        self.revoked: set[str] = set()
        #: consumer key -> (consumer secret, {access token: access token secret})
        self.oauth1: dict[str, tuple[str, dict[str, str]]] = {}
        self.tier = tier
        self.users: dict[str, dict[str, Any]] = {}
        self.posts: dict[str, dict[str, Any]] = {}
        self.media: dict[str, dict[str, Any]] = {}
        self.places: dict[str, dict[str, Any]] = {}
        self.lists: dict[str, list[str]] = {}
        self.suspended: set[str] = set()
        #: Oldest post id that recent search still covers (its 7-day window); older since_ids are refused.
        self.recent_floor_id: int | None = None
        self.faults: list[Fault] = []
        self.windows: dict[str, _Window] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.auth_seen: list[str] = []
        self._ids = itertools.count(1_600_000_000_000_000_000, 7919)
        self._clock = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)

    # -- building the world ------------------------------------------------------------------------------------
    def add_user(self, username: str, *, protected: bool = False, **extra: Any) -> dict[str, Any]:
        uid = str(100 + len(self.users))
        user = {
            "id": uid,
            "name": username.title(),
            "username": username,
            "protected": protected,
            "created_at": "2015-03-01T10:00:00.000Z",
            "description": f"I am {username}",
            "verified": False,
            "public_metrics": {
                "followers_count": 10,
                "following_count": 5,
                "tweet_count": 0,
                "listed_count": 1,
                "like_count": 3,
                "media_count": 0,
            },
            "profile_image_url": f"https://pbs.twimg.com/{username}.jpg",
            "location": "Earth",
            "url": "",
            **extra,
        }
        self.users[uid] = user
        return user

    def add_place(self, name: str) -> dict[str, Any]:
        pid = f"{len(self.places) + 1:016x}"
        place = {
            "id": pid,
            "full_name": f"{name}, Earth",
            "name": name,
            "country": "Earth",
            "country_code": "EA",
            "place_type": "city",
            "contained_within": [],
            "geo": {"type": "Feature", "bbox": [-1.0, 50.0, 1.0, 52.0], "properties": {}},
        }
        self.places[pid] = place
        return place

    def add_post(
        self,
        author: dict[str, Any],
        text: str,
        *,
        media: int = 0,
        place: dict[str, Any] | None = None,
        mentions: tuple[dict[str, Any], ...] = (),
        reply_to: dict[str, Any] | None = None,
        created_at: dt.datetime | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        pid = str(next(self._ids))
        if created_at is None:
            self._clock += dt.timedelta(minutes=1)
            created_at = self._clock
        hashtags = [{"start": m.start(), "end": m.end(), "tag": m.group(1)} for m in re.finditer(r"#(\w+)", text)]
        post: dict[str, Any] = {
            "id": pid,
            "text": text,
            "author_id": author["id"],
            "conversation_id": pid,
            "lang": "en",
            "created_at": created_at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "edit_history_tweet_ids": [pid],
            "possibly_sensitive": False,
            "reply_settings": "everyone",
            "source": "Test Client",
            "public_metrics": {
                "retweet_count": 1,
                "reply_count": 2,
                "like_count": 3,
                "quote_count": 0,
                "bookmark_count": 0,
                "impression_count": 42,
            },
            "entities": {"hashtags": hashtags} if hashtags else None,
            **extra,
        }
        if mentions:
            ents = post["entities"] or {}
            ents["mentions"] = [
                {"start": 0, "end": len(u["username"]) + 1, "username": u["username"], "id": u["id"]} for u in mentions
            ]
            post["entities"] = ents
        if reply_to is not None:
            post["referenced_tweets"] = [{"type": "replied_to", "id": reply_to["id"]}]
            post["in_reply_to_user_id"] = reply_to["author_id"]
            post["conversation_id"] = reply_to["conversation_id"]
        keys = []
        for n in range(media):
            key = f"3_{pid}{n}"
            self.media[key] = {
                "media_key": key,
                "type": "photo",
                "url": f"https://pbs.twimg.com/media/{key}.jpg",
                "width": 1200,
                "height": 800,
                "alt_text": f"picture {n}",
            }
            keys.append(key)
        if keys:
            post["attachments"] = {"media_keys": keys}
        if place is not None:
            post["geo"] = {"place_id": place["id"]}
        post = {k: v for k, v in post.items() if v is not None}
        self.posts[pid] = post
        author["public_metrics"]["tweet_count"] += 1
        return post

    def fail(
        self,
        path_prefix: str,
        status: int | None = 503,
        *,
        times: int = 1,
        body: Any = None,
        headers: dict[str, str] | None = None,
        paged_only: bool = False,
    ) -> None:
        """Make the next ``times`` matching requests fail (``status=None``: drop the connection)."""
        with self.lock:
            self.faults.append(Fault(path_prefix, status, body, headers or {}, times, paged_only))

    def rate_limit(self, path_prefix: str, limit: int, seconds: float) -> None:
        """Allow ``limit`` requests per ``seconds`` window on paths starting with ``path_prefix``."""
        with self.lock:
            self.windows[path_prefix] = _Window(limit, seconds)

    def user_by_name(self, username: str) -> dict[str, Any] | None:
        return next((u for u in self.users.values() if u["username"].lower() == username.lower()), None)


class _ApiError(Exception):
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def _problem(status: int, title: str, detail: str, kind: str = "about:blank", **extra: Any) -> _ApiError:
    body = {"title": title, "detail": detail, "type": kind, "status": status, **extra}
    if kind != "about:blank":
        body.pop("status")
    return _ApiError(status, body)


def _invalid(message: str, parameters: dict[str, list[str]]) -> _ApiError:
    return _ApiError(
        400,
        {
            "errors": [{"parameters": parameters, "message": message}],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": f"{PROBLEMS}/invalid-request",
        },
    )


class _Handler(BaseHTTPRequestHandler):
    server: XApiServer
    protocol_version = "HTTP/1.1"
    auth_kind = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output quiet

    def do_GET(self) -> None:
        state = self.server.state
        url = urllib.parse.urlsplit(self.path)
        params = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        with state.lock:
            state.requests.append((url.path, params))
            fault = self._take_fault(url.path, params)
        if fault is not None:
            if fault.status is None:
                self.close_connection = True
                self.connection.shutdown(2)  # the client sees the connection drop mid-request
                return
            self._send(
                fault.status,
                fault.body
                if fault.body is not None
                else {
                    "title": "Service Unavailable",
                    "detail": "Service Unavailable",
                    "type": "about:blank",
                    "status": fault.status,
                },
                fault.headers,
            )
            return
        headers = {}
        try:
            headers = self._rate_limit(url.path)
            self.auth_kind = self._authenticate(url)
            body = self._route(url.path, params)
        except _ApiError as error:
            self._send(error.status, error.body, {**headers, **error.headers})
            return
        self._send(200, body, headers)

    # -- plumbing ----------------------------------------------------------------------------------------------
    def _take_fault(self, path: str, params: dict[str, str]) -> Fault | None:
        paged = "next_token" in params or "pagination_token" in params
        for fault in self.server.state.faults:
            if path.startswith(fault.path_prefix) and fault.times > 0 and (paged or not fault.paged_only):
                fault.times -= 1
                return fault
        return None

    def _rate_limit(self, path: str) -> dict[str, str]:
        state = self.server.state
        with state.lock:
            window = next((w for p, w in state.windows.items() if path.startswith(p)), None)
            if window is None:
                return {
                    "x-rate-limit-limit": "450",
                    "x-rate-limit-remaining": "449",
                    "x-rate-limit-reset": str(int(time.time()) + 900),
                }
            now = time.time()
            if window.remaining < 0 or now >= window.reset:
                window.remaining, window.reset = window.limit, now + window.seconds
            headers = {"x-rate-limit-limit": str(window.limit), "x-rate-limit-reset": str(int(window.reset))}
            if window.remaining == 0:
                headers["x-rate-limit-remaining"] = "0"
                raise _ApiError(
                    429,
                    {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429},
                    headers,
                )
            window.remaining -= 1
            headers["x-rate-limit-remaining"] = str(window.remaining)
            return headers

    def _send(self, status: int, body: Any, headers: dict[str, str]) -> None:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()  # bytes: sent as they are
        self.send_response(status)
        problem = status >= 400 and isinstance(body, dict) and "title" in body
        self.send_header("Content-Type", "application/problem+json" if problem else "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _authenticate(self, url: urllib.parse.SplitResult) -> str:
        state = self.server.state
        auth = self.headers.get("Authorization", "")
        unauthorized = _problem(401, "Unauthorized", "Unauthorized")
        if auth.startswith("Bearer "):
            token = auth[len("Bearer ") :]
            state.auth_seen.append("bearer")
            if token in state.revoked or token not in state.bearer_tokens:
                raise unauthorized
            return "bearer"
        if auth.startswith("OAuth "):
            state.auth_seen.append("oauth1")
            if not self._oauth1_valid(url, auth):
                raise unauthorized
            return "oauth1"
        raise unauthorized

    def _oauth1_valid(self, url: urllib.parse.SplitResult, auth: str) -> bool:
        headers = {"Authorization": auth}
        oauth = dict(oauth_signature.collect_parameters(headers=headers, exclude_oauth_signature=False))
        consumer = self.server.state.oauth1.get(oauth.get("oauth_consumer_key", ""))
        if consumer is None or oauth.get("oauth_token") not in consumer[1]:
            return False
        uri = f"https://{self.headers['Host']}{url.path}" + (f"?{url.query}" if url.query else "")
        request = OAuthRequest(uri, http_method="GET", headers=headers)
        request.params = oauth_signature.collect_parameters(uri_query=url.query, headers=headers)
        request.signature = oauth.get("oauth_signature", "")
        return bool(oauth_signature.verify_hmac_sha1(request, consumer[0], consumer[1][oauth["oauth_token"]]))

    # -- endpoints ---------------------------------------------------------------------------------------------
    def _route(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        state = self.server.state
        if path == "/2/tweets/search/recent":
            if state.tier == "free":
                raise _ApiError(
                    403,
                    {
                        "errors": [
                            {
                                "message": TIER_453,
                                "code": 453,
                            }
                        ]
                    },
                )
            floor = state.recent_floor_id
            if floor is not None and "since_id" in params and int(params["since_id"]) < floor:
                raise _invalid(
                    f"Invalid 'since_id':'{params['since_id']}'. 'since_id' must be a tweet id created after "
                    f"{dt.datetime.now(dt.UTC) - dt.timedelta(days=7):%Y-%m-%dT%H:%M:%S.000Z}. Please use a "
                    f"'since_id' that is larger than {floor}",
                    {"since_id": [params["since_id"]]},
                )
            return self._search(params, max_page=100)
        if path == "/2/tweets/search/all":
            if state.tier != "pro":
                raise _problem(
                    403,
                    "Client Forbidden",
                    (
                        "When authenticating requests to the Twitter API v2 endpoints, you must use keys and tokens "
                        "from a Twitter developer App that is attached to a Project. You can create a project via the "
                        "developer portal."
                    ),
                    f"{PROBLEMS}/client-forbidden",
                    client_id="4242",
                    registration_url="https://developer.twitter.com/en/docs/projects/overview",
                    required_enrollment="Appropriate Level of API Access",
                    reason="client-not-enrolled",
                )
            return self._search(params, max_page=500)
        if match := re.fullmatch(r"/2/users/by/username/(\w+)", path):
            return self._user_lookup(match.group(1), params)
        if path == "/2/users/me":
            if self.auth_kind != "oauth1":
                raise _problem(
                    403,
                    "Unsupported Authentication",
                    "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.  Supported "
                    "authentication types are [OAuth 1.0a User Context, OAuth 2.0 User Context].",
                    f"{PROBLEMS}/unsupported-authentication",
                )
            me = next(iter(state.users.values()))
            return {"data": _select(me, params.get("user.fields"), DEFAULT_FIELDS["users"])}
        if path == "/2/usage/tweets":
            return {
                "data": {
                    "project_cap": "10000",
                    "project_id": "42",
                    "project_usage": str(len(state.requests)),
                    "cap_reset_day": 1,
                }
            }
        if match := re.fullmatch(r"/2/users/(\d+)/(tweets|mentions)", path):
            return self._timeline(match.group(1), match.group(2), params)
        if match := re.fullmatch(r"/2/lists/(\d+)/tweets", path):
            return self._list(match.group(1), params)
        raise _problem(404, "Not Found Error", f"Sorry, that page does not exist: {path}")

    def _check_params(self, params: dict[str, str], allowed: list[str], lo: int, hi: int) -> None:
        for name in params:
            if name not in allowed:
                raise _invalid(
                    f"The query parameter [{name}] is not one of [{','.join(allowed)}]", {name: [params[name]]}
                )
        if "max_results" in params:
            value = int(params["max_results"])
            if not lo <= value <= hi:
                raise _invalid(
                    f"The `max_results` query parameter value [{value}] is not between {lo} and {hi}",
                    {"max_results": [str(value)]},
                )
        for field_name in filter(None, params.get("tweet.fields", "").split(",")):
            if field_name not in TWEET_FIELDS:
                raise _invalid(
                    f"The `tweet.fields` query parameter value [{field_name}] is not one of [{','.join(TWEET_FIELDS)}]",
                    {"tweet.fields": [params["tweet.fields"]]},
                )

    def _search(self, params: dict[str, str], max_page: int) -> dict[str, Any]:
        self._check_params(params, SEARCH_PARAMS, 10, max_page)
        if "query" not in params:
            raise _invalid("The `query` query parameter can not be empty", {"query": [""]})
        ids = {"since_id", "until_id"} & set(params)
        if ids and {"start_time", "end_time"} & set(params):
            raise _invalid(
                "Invalid use of 'since_id' or 'until_id' in conjunction with 'start_time' or 'end_time'.",
                {name: [params[name]] for name in sorted(ids)},
            )
        matcher = _compile_query(params["query"])
        posts = [p for p in self.server.state.posts.values() if matcher(p, self.server.state)]
        return self._page(posts, params, token_param="next_token", default_page=10)

    def _user_lookup(self, username: str, params: dict[str, str]) -> dict[str, Any]:
        state = self.server.state
        user = state.user_by_name(username)
        if user is None:
            return {
                "errors": [
                    {
                        "value": username,
                        "detail": f"Could not find user with username: [{username}].",
                        "title": "Not Found Error",
                        "resource_type": "user",
                        "parameter": "username",
                        "resource_id": username,
                        "type": f"{PROBLEMS}/resource-not-found",
                    }
                ]
            }
        if username.lower() in state.suspended:
            return {
                "errors": [
                    {
                        "value": username,
                        "detail": f"User has been suspended: [{username}].",
                        "title": "Forbidden",
                        "resource_type": "user",
                        "parameter": "username",
                        "resource_id": username,
                        "type": f"{PROBLEMS}/resource-not-found",
                    }
                ]
            }
        return {"data": _select(user, params.get("user.fields"), DEFAULT_FIELDS["users"])}

    def _timeline(self, uid: str, kind: str, params: dict[str, str]) -> dict[str, Any]:
        state = self.server.state
        self._check_params(params, TIMELINE_PARAMS, 5, 100)
        user = state.users.get(uid)
        if user is None:
            return {
                "errors": [
                    {
                        "value": uid,
                        "detail": f"Could not find user with id: [{uid}].",
                        "title": "Not Found Error",
                        "resource_type": "user",
                        "parameter": "id",
                        "resource_id": uid,
                        "type": f"{PROBLEMS}/resource-not-found",
                    }
                ]
            }
        if user["protected"] and self.auth_kind == "bearer":
            return {
                "errors": [
                    {
                        "resource_id": uid,
                        "parameter": "id",
                        "resource_type": "user",
                        "section": "data",
                        "title": "Authorization Error",
                        "value": uid,
                        "detail": f"Sorry, you are not authorized to see the user with id: [{uid}].",
                        "type": f"{PROBLEMS}/not-authorized-for-resource",
                    }
                ]
            }
        if kind == "tweets":
            posts = [p for p in state.posts.values() if p["author_id"] == uid]
        else:
            posts = [
                p
                for p in state.posts.values()
                if any(m["id"] == uid for m in (p.get("entities") or {}).get("mentions", []))
            ]
        return self._page(posts, params, token_param="pagination_token", default_page=10)

    def _list(self, list_id: str, params: dict[str, str]) -> dict[str, Any]:
        state = self.server.state
        self._check_params(params, LIST_PARAMS, 1, 100)
        if list_id not in state.lists:
            return {
                "errors": [
                    {
                        "value": list_id,
                        "detail": f"Could not find list with id: [{list_id}].",
                        "title": "Not Found Error",
                        "resource_type": "list",
                        "parameter": "id",
                        "resource_id": list_id,
                        "type": f"{PROBLEMS}/resource-not-found",
                    }
                ]
            }
        members = set(state.lists[list_id])
        posts = [p for p in state.posts.values() if p["author_id"] in members]
        return self._page(posts, params, token_param="pagination_token", default_page=100)

    def _page(
        self, posts: list[dict[str, Any]], params: dict[str, str], *, token_param: str, default_page: int
    ) -> dict[str, Any]:
        posts = sorted(posts, key=lambda p: int(p["id"]), reverse=True)
        if "since_id" in params:
            posts = [p for p in posts if int(p["id"]) > int(params["since_id"])]
        if "until_id" in params:
            posts = [p for p in posts if int(p["id"]) < int(params["until_id"])]
        if "start_time" in params:
            posts = [p for p in posts if p["created_at"][:19] >= params["start_time"][:19]]
        if "end_time" in params:
            posts = [p for p in posts if p["created_at"][:19] < params["end_time"][:19]]
        size = int(params.get("max_results", default_page))
        offset = 0
        token = params.get(token_param) or params.get("pagination_token")
        if token:
            try:
                offset = int(base64.urlsafe_b64decode(token.encode()).decode().removeprefix("o"))
            except ValueError:
                raise _invalid(
                    f"The `{token_param}` query parameter value [{token}] is not valid", {token_param: [token]}
                ) from None
        page = posts[offset : offset + size]
        meta: dict[str, Any] = {"result_count": len(page)}
        if page:
            meta["newest_id"], meta["oldest_id"] = page[0]["id"], page[-1]["id"]
        if offset + size < len(posts):
            meta["next_token"] = base64.urlsafe_b64encode(f"o{offset + size}".encode()).decode()
        body: dict[str, Any] = {"meta": meta}
        if not page:
            return body
        body["data"] = [_select(p, params.get("tweet.fields"), DEFAULT_FIELDS["tweets"]) for p in page]
        includes, errors = self._includes(page, params)
        if includes:
            body["includes"] = includes
        if errors:
            body["errors"] = errors
        return body

    def _includes(self, page: list[dict[str, Any]], params: dict[str, str]) -> tuple[dict[str, Any], list[Any]]:
        state = self.server.state
        expansions = set(filter(None, params.get("expansions", "").split(",")))
        users: dict[str, Any] = {}
        media: dict[str, Any] = {}
        places: dict[str, Any] = {}
        tweets: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        for post in page:
            if "author_id" in expansions:
                users.setdefault(post["author_id"], state.users[post["author_id"]])
            if "entities.mentions.username" in expansions:
                for mention in (post.get("entities") or {}).get("mentions", []):
                    users.setdefault(mention["id"], state.users[mention["id"]])
            if "attachments.media_keys" in expansions:
                for key in (post.get("attachments") or {}).get("media_keys", []):
                    media.setdefault(key, state.media[key])
            if "geo.place_id" in expansions and "geo" in post:
                places.setdefault(post["geo"]["place_id"], state.places[post["geo"]["place_id"]])
            if "referenced_tweets.id" in expansions:
                for ref in post.get("referenced_tweets", []):
                    if ref["id"] in state.posts:
                        tweets.setdefault(ref["id"], state.posts[ref["id"]])
                    else:  # a deleted referenced post: X reports it as a partial error of the includes
                        errors.append(
                            {
                                "value": ref["id"],
                                "detail": f"Could not find tweet with id: [{ref['id']}].",
                                "title": "Not Found Error",
                                "resource_type": "tweet",
                                "parameter": "referenced_tweets.id",
                                "resource_id": ref["id"],
                                "section": "includes",
                                "type": f"{PROBLEMS}/resource-not-found",
                            }
                        )
        out: dict[str, Any] = {}
        for key, objects, fields_param in (
            ("users", users, "user.fields"),
            ("media", media, "media.fields"),
            ("places", places, "place.fields"),
            ("tweets", tweets, "tweet.fields"),
        ):
            if objects:
                out[key] = [_select(o, params.get(fields_param), DEFAULT_FIELDS[key]) for o in objects.values()]
        return out, errors


def _select(obj: dict[str, Any], fields_param: str | None, defaults: tuple[str, ...]) -> dict[str, Any]:
    wanted = set(defaults) | set(filter(None, (fields_param or "").split(",")))
    return {k: v for k, v in obj.items() if k in wanted}


def _compile_query(query: str) -> Any:
    """A small subset of X's query language; errors are reported with X's wording and position."""
    depth = 0
    for pos, char in enumerate(query):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            raise _invalid(
                f"There were errors processing your request: Unmatched parenthesis (at position {pos + 1})",
                {"query": [query]},
            )
    if depth:
        raise _invalid(
            f"There were errors processing your request: Missing closing parenthesis (at position {len(query)})",
            {"query": [query]},
        )
    terms = []
    for match in re.finditer(r"-?[^\s()]+", query):
        token = match.group()
        negate = token.startswith("-")
        token = token.lstrip("-")
        if ":" in token:
            operator, value = token.split(":", 1)
            if operator not in KNOWN_OPERATORS:
                raise _invalid(
                    f"There were errors processing your request: Reference to invalid operator '{operator}'. "
                    "Operator is not available in current product or product packaging. Please refer to complete "
                    f"available operator list at http://t.co/operators. (at position {match.start() + 1})",
                    {"query": [query]},
                )
            terms.append((negate, operator, value.lower()))
        elif token.upper() != "OR":
            terms.append((negate, "word", token.lower()))

    def matches(post: dict[str, Any], state: XState) -> bool:
        for negate, operator, value in terms:
            if operator == "from":
                hit = state.users[post["author_id"]]["username"].lower() == value
            elif operator == "lang":
                hit = post.get("lang") == value
            else:
                hit = value in post["text"].lower()
            if hit == negate:
                return False
        return True

    return matches


class XApiServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, state: XState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state
        self.url = ""
        self.ca_path = ""


@contextmanager
def x_api_server(tmp_path: Path, state: XState | None = None) -> Iterator[XApiServer]:
    """Start the fake X API over HTTPS on 127.0.0.1 (a fresh trustme CA per server); stop it on exit."""
    server = XApiServer(state or XState())
    with serve_https(server, tmp_path, "x-api") as ca_path:
        server.ca_path = ca_path
        server.url = f"https://127.0.0.1:{server.server_address[1]}"
        yield server
