"""X (Twitter) API v2 posts as Arrow record batches: searches, a user's posts, mentions, a list's posts.

:class:`TwitterPostsSource` pages through one endpoint with tweepy's :class:`~tweepy.Paginator` (``next_token`` /
``pagination_token``), turns each page's posts into rows of :data:`POST_SCHEMA` and keeps the objects that the
requested expansions bring (users, media, places, polls, referenced posts) in an :class:`IncludesCollector`, so
that they can land in their own datasets of the same lake commit (:meth:`TwitterPostsSource.include_sources`).

Incremental runs pass the last committed ``since_id``; after iteration :attr:`TwitterPostsSource.cursor` is the
newest post id seen, or ``None`` when nothing new came (so the watermark stays where it was).

Memory: posts stream out in batches; the expanded objects are kept until the posts are done, deduplicated by id
(a run of N posts expands to at most a few objects per post).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import tweepy

from airflow_zaloni.sources.base import DEFAULT_BATCH_ROWS
from airflow_zaloni.sources.twitter.client import (
    TwitterAccessError,
    TwitterError,
    TwitterNotFoundError,
    TwitterRequestError,
    XClient,
    describe_api_errors,
)
from airflow_zaloni.sources.twitter.schema import (
    MEDIA_SCHEMA,
    PLACE_SCHEMA,
    POLL_SCHEMA,
    POST_SCHEMA,
    USER_SCHEMA,
    to_batch,
)

__all__ = [
    "DEFAULT_EXPANSIONS",
    "DEFAULT_MEDIA_FIELDS",
    "DEFAULT_PLACE_FIELDS",
    "DEFAULT_TWEET_FIELDS",
    "DEFAULT_USER_FIELDS",
    "ENDPOINTS",
    "EXPANSION_KINDS",
    "INCLUDE_KINDS",
    "Endpoint",
    "IncludeKind",
    "IncludedObjectsSource",
    "IncludesCollector",
    "TwitterPostsSource",
    "endpoint_spec",
    "include_kinds_for",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Endpoint:
    """One X API v2 endpoint that returns posts, as this source drives it."""

    method: str  #: tweepy Client method
    target: str  #: what it needs: "query", "user" or "list"
    min_page: int
    max_page: int
    since_id: bool  #: whether X filters by ``since_id`` (else the source filters, newest first)
    time_window: bool  #: whether ``start_time``/``end_time`` are accepted
    user_auth: bool = True  #: whether OAuth 1.0a user context is possible (full-archive search is app-only)


ENDPOINTS: dict[str, Endpoint] = {
    "recent_search": Endpoint("search_recent_tweets", "query", 10, 100, True, True),
    "full_archive_search": Endpoint("search_all_tweets", "query", 10, 500, True, True, user_auth=False),
    "user_posts": Endpoint("get_users_tweets", "user", 5, 100, True, True),
    "mentions": Endpoint("get_users_mentions", "user", 5, 100, True, True),
    "list_posts": Endpoint("get_list_tweets", "list", 1, 100, False, False),
}


def endpoint_spec(endpoint: str) -> Endpoint:
    """The endpoint named ``endpoint``; a ``ValueError`` listing the known ones otherwise."""
    if endpoint not in ENDPOINTS:
        raise ValueError(f"unknown X endpoint {endpoint!r}; choose one of {', '.join(ENDPOINTS)}")
    return ENDPOINTS[endpoint]


DEFAULT_TWEET_FIELDS = (
    "attachments",
    "author_id",
    "conversation_id",
    "created_at",
    "entities",
    "geo",
    "in_reply_to_user_id",
    "lang",
    "possibly_sensitive",
    "public_metrics",
    "referenced_tweets",
    "reply_settings",
)
DEFAULT_EXPANSIONS = ("author_id", "attachments.media_keys", "geo.place_id")
DEFAULT_USER_FIELDS = (
    "created_at",
    "description",
    "location",
    "name",
    "profile_image_url",
    "protected",
    "public_metrics",
    "url",
    "username",
    "verified",
)
DEFAULT_MEDIA_FIELDS = (
    "alt_text",
    "duration_ms",
    "height",
    "preview_image_url",
    "public_metrics",
    "type",
    "url",
    "variants",
    "width",
)
DEFAULT_PLACE_FIELDS = ("contained_within", "country", "country_code", "full_name", "geo", "name", "place_type")


@dataclass(frozen=True)
class IncludeKind:
    """One kind of expanded object: the ``includes`` key X uses, its schema and its identity field."""

    key: str
    schema: pa.Schema
    id_field: str
    dataset_suffix: str


INCLUDE_KINDS: dict[str, IncludeKind] = {
    kind.key: kind
    for kind in (
        IncludeKind("users", USER_SCHEMA, "id", "users"),
        IncludeKind("media", MEDIA_SCHEMA, "media_key", "media"),
        IncludeKind("places", PLACE_SCHEMA, "id", "places"),
        IncludeKind("polls", POLL_SCHEMA, "id", "polls"),
        IncludeKind("tweets", POST_SCHEMA, "id", "referenced_posts"),
    )
}

#: Which ``includes`` key each documented expansion fills.
EXPANSION_KINDS: dict[str, str] = {
    "author_id": "users",
    "in_reply_to_user_id": "users",
    "entities.mentions.username": "users",
    "entities.note.mentions.username": "users",
    "referenced_tweets.id.author_id": "users",
    "attachments.media_keys": "media",
    "geo.place_id": "places",
    "attachments.poll_ids": "polls",
    "referenced_tweets.id": "tweets",
    "edit_history_tweet_ids": "tweets",
    "attachments.media_source_tweet": "tweets",
}


def include_kinds_for(expansions: Sequence[str]) -> list[str]:
    """The ``includes`` keys that ``expansions`` produce, in a stable order."""
    wanted = {EXPANSION_KINDS[e] for e in expansions if e in EXPANSION_KINDS}
    return [key for key in INCLUDE_KINDS if key in wanted]


class IncludesCollector:
    """Expanded objects of every page, deduplicated by id (the same author appears on many pages)."""

    def __init__(self, kinds: Sequence[str]) -> None:
        self.kinds = list(kinds)
        self._rows: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in self.kinds}
        self.ignored: dict[str, int] = {}

    def add(self, includes: dict[str, Any]) -> None:
        for key, objects in includes.items():
            if key not in self._rows:
                # An expansion we do not map (new in X, or a kind nobody asked for): count it, do not guess.
                self.ignored[key] = self.ignored.get(key, 0) + len(objects or [])
                continue
            kind = INCLUDE_KINDS[key]
            rows = self._rows[key]
            for obj in objects or []:
                ident = obj.get(kind.id_field)
                if ident is not None and ident not in rows:
                    rows[ident] = obj

    def count(self, kind: str) -> int:
        return len(self._rows[kind])

    def source(
        self, kind: str, describe: dict[str, Any], batch_rows: int = DEFAULT_BATCH_ROWS
    ) -> IncludedObjectsSource:
        return IncludedObjectsSource(INCLUDE_KINDS[kind], list(self._rows[kind].values()), describe, batch_rows)


class IncludedObjectsSource:
    """The expanded objects of one kind, as a :class:`~airflow_zaloni.sources.base.Source` (not incremental)."""

    def __init__(
        self, kind: IncludeKind, rows: list[dict[str, Any]], describe: dict[str, Any], batch_rows: int
    ) -> None:
        self.kind = kind
        self._rows = rows
        self._describe = describe
        self._batch_rows = batch_rows

    @property
    def schema(self) -> pa.Schema:
        return self.kind.schema

    @property
    def cursor(self) -> None:
        return None

    def batches(self) -> Iterator[pa.RecordBatch]:
        for start in range(0, len(self._rows), self._batch_rows):
            chunk = self._rows[start : start + self._batch_rows]
            yield to_batch(chunk, self.kind.schema, what=f"includes.{self.kind.key} object", key=self.kind.id_field)

    def describe(self) -> dict[str, Any]:
        return {**self._describe, "includes": self.kind.key, "objects": len(self._rows)}


class TwitterPostsSource:
    """Posts from one X API v2 endpoint, page by page, as :data:`POST_SCHEMA` record batches.

    :param client: an :class:`XClient` (from :class:`~airflow_zaloni.hooks.twitter.TwitterHook` or a test).
    :param endpoint: one of :data:`ENDPOINTS`: ``recent_search``, ``full_archive_search``, ``user_posts``,
        ``mentions``, ``list_posts``.
    :param query: search query (search endpoints), in X's query language.
    :param user: username (with or without ``@``) or numeric user id (``user_posts``, ``mentions``).
    :param list_id: numeric list id (``list_posts``).
    :param since_id: return only posts newer than this id (the committed watermark).
    :param until_id: return only posts older than this id (the upper bound when a past interval is re-run).
    :param start_time: oldest creation time (datetime or RFC 3339 string), for endpoints that accept it.
    :param end_time: newest creation time (exclusive), for endpoints that accept it.
    :param tweet_fields: ``tweet.fields`` to request.
    :param expansions: ``expansions`` to request; each fills one included-objects dataset.
    :param user_fields: ``user.fields``.
    :param media_fields: ``media.fields``.
    :param place_fields: ``place.fields``.
    :param poll_fields: ``poll.fields``.
    :param max_results: posts per page (default: the endpoint's maximum).
    :param max_pages: stop after this many pages (``None``: until the end). When it cuts a result short, the
        newest pages are kept, :attr:`truncated` is set and a warning names the gap.
    :param user_auth: use OAuth 1.0a user context instead of the app's bearer token.
    :param batch_rows: rows per record batch of the expanded objects (posts come as one batch per page).
    """

    def __init__(
        self,
        client: XClient,
        *,
        endpoint: str,
        query: str | None = None,
        user: str | None = None,
        list_id: str | None = None,
        since_id: int | str | None = None,
        until_id: int | str | None = None,
        start_time: Any = None,
        end_time: Any = None,
        tweet_fields: Sequence[str] = DEFAULT_TWEET_FIELDS,
        expansions: Sequence[str] = DEFAULT_EXPANSIONS,
        user_fields: Sequence[str] = DEFAULT_USER_FIELDS,
        media_fields: Sequence[str] = DEFAULT_MEDIA_FIELDS,
        place_fields: Sequence[str] = DEFAULT_PLACE_FIELDS,
        poll_fields: Sequence[str] = (),
        max_results: int | None = None,
        max_pages: int | None = None,
        user_auth: bool = False,
        batch_rows: int = DEFAULT_BATCH_ROWS,
    ) -> None:
        self._spec = spec = endpoint_spec(endpoint)
        self.endpoint = endpoint
        needed = {"query": query, "user": user, "list": list_id}[spec.target]
        if not needed or not str(needed).strip():
            raise ValueError(f"endpoint {endpoint!r} needs {'list_id' if spec.target == 'list' else spec.target}=")
        if user_auth and not spec.user_auth:
            raise ValueError(f"endpoint {endpoint!r} only accepts the app's bearer token, not OAuth 1.0a user context")
        if not spec.time_window and (start_time or end_time):
            raise ValueError(f"endpoint {endpoint!r} does not accept start_time/end_time")
        if spec.since_id and (since_id is not None or until_id is not None) and (start_time or end_time):
            raise ValueError(
                "X does not accept since_id/until_id together with start_time/end_time: give one or the other"
            )
        page_max = spec.max_page
        if endpoint == "full_archive_search" and "context_annotations" in tweet_fields:
            page_max = 100  # X's documented limit when context annotations are requested
        if max_results is not None and not spec.min_page <= max_results <= page_max:
            raise ValueError(f"max_results for {endpoint!r} must be {spec.min_page}..{page_max}, got {max_results}")
        if max_pages is not None and max_pages < 1:
            raise ValueError(f"max_pages must be at least 1, got {max_pages}")
        for name, value in (("since_id", since_id), ("until_id", until_id)):
            if value is not None and not str(value).isdigit():
                raise ValueError(f"{name} must be a numeric post id, got {value!r}")
        self.client = client
        self.query = query
        self.user = str(user).strip().lstrip("@") if user else None
        self.list_id = str(list_id).strip() if list_id else None
        self.since_id = int(since_id) if since_id is not None else None
        self.until_id = int(until_id) if until_id is not None else None
        self.start_time = start_time
        self.end_time = end_time
        self.tweet_fields = list(tweet_fields)
        self.expansions = list(expansions)
        self.user_fields = list(user_fields)
        self.media_fields = list(media_fields)
        self.place_fields = list(place_fields)
        self.poll_fields = list(poll_fields)
        self.max_results = max_results or page_max
        self.max_pages = max_pages
        self.user_auth = user_auth
        self.batch_rows = batch_rows
        self.includes = IncludesCollector(include_kinds_for(self.expansions))
        # Filled while iterating:
        self.user_id: str | None = None
        self.pages = 0
        self.posts = 0
        self.truncated = False
        self.since_id_expired = False
        self.partial_errors: list[dict[str, Any]] = []
        self._newest: int | None = None

    # -- Source protocol ---------------------------------------------------------------------------------------
    @property
    def schema(self) -> pa.Schema:
        return POST_SCHEMA

    @property
    def cursor(self) -> int | None:
        """Newest post id seen (the next run's ``since_id``), or ``None`` if no post came.

        An integer, so that the lake compares watermarks numerically (ids grow in length over the years).
        """
        return self._newest

    def describe(self) -> dict[str, Any]:
        return {
            "system": "twitter",
            "api_host": self.client.api_host,
            "endpoint": self.endpoint,
            "query": self.query,
            "user": self.user,
            "user_id": self.user_id,
            "list_id": self.list_id,
            "since_id": self.since_id,
            "until_id": self.until_id,
            "start_time": _iso(self.start_time),
            "end_time": _iso(self.end_time),
            "tweet_fields": self.tweet_fields,
            "expansions": self.expansions,
            "max_results": self.max_results,
            "max_pages": self.max_pages,
            "auth": "oauth1-user" if self.user_auth else "bearer",
        }

    def stats(self) -> dict[str, Any]:
        """What the run saw, for the manifest: pages, posts, expansions, partial errors, truncation."""
        return {
            "pages": self.pages,
            "posts": self.posts,
            "user_id": self.user_id,
            "empty": self.posts == 0,
            "truncated": self.truncated,
            "since_id_expired": self.since_id_expired,
            "included": {kind: self.includes.count(kind) for kind in self.includes.kinds},
            "includes_not_landed": dict(self.includes.ignored),
            "partial_errors": len(self.partial_errors),
            "partial_error_samples": self.partial_errors[:5],
        }

    def include_sources(self) -> dict[str, IncludedObjectsSource]:
        """One source per included kind (``users``, ``media``, ...), to be landed after :meth:`batches`."""
        base = self.describe()
        return {kind: self.includes.source(kind, base, self.batch_rows) for kind in self.includes.kinds}

    def batches(self) -> Iterator[pa.RecordBatch]:
        method, args, kwargs = self._call()
        try:
            yield from self._read(method, args, kwargs)
        except TwitterRequestError as error:
            # Recent search refuses a since_id older than its 7-day window (a DAG paused for a week). Every post
            # the window still holds is newer than that watermark, so reading the whole window neither duplicates
            # nor skips anything that can still be had; posts between the two are gone from recent search.
            if self.pages or "since_id" not in kwargs or "'since_id' must be" not in str(error):
                raise
            log.warning(
                "X %s: the since_id watermark %s is older than the recent-search window (%s); reading the whole "
                "window instead. Posts between the watermark and the window's start cannot be fetched by recent "
                "search (use full_archive_search to backfill them).",
                self.endpoint,
                self.since_id,
                error,
            )
            self.since_id_expired = True
            del kwargs["since_id"]
            yield from self._read(method, args, kwargs)

    def _read(self, method: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Iterator[pa.RecordBatch]:
        limit = self.max_pages if self.max_pages is not None else math.inf
        next_token = None
        # One batch per page (at most 500 posts): the lake writer coalesces them into large row groups, so only a
        # page of decoded JSON is held here.
        for page in tweepy.Paginator(method, *args, limit=limit, **kwargs):
            self.pages += 1
            next_token = (page.get("meta") or {}).get("next_token")
            posts, reached_watermark = self._page_posts(page)
            if posts:
                yield to_batch(posts, POST_SCHEMA, what="post")
            if reached_watermark:
                next_token = None
                break
        if next_token is not None and self.max_pages is not None and self.pages >= self.max_pages:
            self.truncated = True
            log.warning(
                "X %s: stopped after max_pages=%d pages (%d posts) although more results exist; the newest posts "
                "are kept and older ones of this window are not fetched (raise max_pages to get them)",
                self.endpoint,
                self.max_pages,
                self.posts,
            )
        if self.includes.ignored:
            log.warning(
                "X %s: included objects not landed (no dataset for them): %s", self.endpoint, self.includes.ignored
            )
        log.info("X %s: %d posts in %d page(s); newest id %s", self.endpoint, self.posts, self.pages, self.cursor)

    # -- internals ---------------------------------------------------------------------------------------------
    def _call(self) -> tuple[Any, tuple[Any, ...], dict[str, Any]]:
        spec = self._spec
        kwargs: dict[str, Any] = {
            "max_results": self.max_results,
            "tweet_fields": self.tweet_fields or None,
            "expansions": self.expansions or None,
            "user_fields": self.user_fields or None,
            "media_fields": self.media_fields or None,
            "place_fields": self.place_fields or None,
            "poll_fields": self.poll_fields or None,
        }
        if spec.since_id:
            kwargs["since_id"] = self.since_id
            kwargs["until_id"] = self.until_id
        if spec.time_window:
            kwargs["start_time"] = self.start_time
            kwargs["end_time"] = self.end_time
        if spec.target == "query":
            kwargs["sort_order"] = "recency"  # newest first, which since_id and max_pages rely on
            args: tuple[Any, ...] = (self.query,)
        elif spec.target == "user":
            args = (self._resolve_user(),)
        else:
            args = (self.list_id,)
        if spec.user_auth:
            kwargs["user_auth"] = self.user_auth
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        return getattr(self.client, spec.method), args, kwargs

    def _resolve_user(self) -> str:
        assert self.user is not None
        if self.user.isdigit():
            self.user_id = self.user
            return self.user
        answer = self.client.get_user(username=self.user, user_auth=self.user_auth)
        data = answer.get("data") if isinstance(answer, dict) else None
        if not data:
            errors = answer.get("errors") if isinstance(answer, dict) else None
            raise TwitterNotFoundError(
                f"X user @{self.user} cannot be read: "
                f"{describe_api_errors({'errors': errors}) or 'no such user'} (deleted, renamed or suspended?)",
                route="/2/users/by/username",
            )
        self.user_id = str(data["id"])
        return self.user_id

    def _page_posts(self, page: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
        """Rows of one page, the page's includes collected; True when the watermark was reached (list posts)."""
        errors = page.get("errors") or []
        data = page.get("data") or []
        if errors and not data and any(e.get("section", "data") == "data" for e in errors if isinstance(e, dict)):
            raise self._primary_error(errors)
        if errors:
            self.partial_errors.extend(errors)
            log.warning(
                "X %s: page %d came with %d partial error(s): %s",
                self.endpoint,
                self.pages,
                len(errors),
                describe_api_errors({"errors": errors[:3]}),
            )
        # X filters by since_id/until_id where the endpoint has them; the list timeline has neither, and comes
        # newest first, so the source filters it and stops at the first post at or below the watermark.
        rows: list[dict[str, Any]] = []
        reached = False
        for post in data:
            ident = int(post["id"])
            if self.since_id is not None and ident <= self.since_id:
                reached = True
                continue
            if self.until_id is not None and ident >= self.until_id:
                continue
            rows.append(post)
            self._newest = ident if self._newest is None else max(self._newest, ident)
        self.posts += len(rows)
        self.includes.add(page.get("includes") or {})
        return rows, reached

    def _primary_error(self, errors: list[dict[str, Any]]) -> TwitterError:
        text = describe_api_errors({"errors": errors})
        target = {
            "query": f"query {self.query!r}",
            "user": f"user @{self.user} (id {self.user_id})",
            "list": f"list {self.list_id}",
        }[self._spec.target]
        types = " ".join(str(e.get("type", "")) for e in errors if isinstance(e, dict))
        if "not-authorized-for-resource" in types:
            return TwitterAccessError(
                f"X {self.endpoint}: the posts of {target} are protected and this token is not allowed to see them: "
                f"{text}"
            )
        if "resource-not-found" in types:
            return TwitterNotFoundError(f"X {self.endpoint}: {target} not found (deleted or suspended?): {text}")
        return TwitterError(f"X {self.endpoint}: {target}: {text}")


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value
