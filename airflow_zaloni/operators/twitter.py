"""Land X (Twitter) posts, and the users, media and places they expand to, in the lake in one commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow_zaloni.hooks.twitter import TwitterHook
from airflow_zaloni.lake import DatasetRef
from airflow_zaloni.operators.base import LakeIngestOperator, lake_asset, templated
from airflow_zaloni.sources.twitter import (
    DEFAULT_EXPANSIONS,
    DEFAULT_MEDIA_FIELDS,
    DEFAULT_PLACE_FIELDS,
    DEFAULT_TWEET_FIELDS,
    DEFAULT_USER_FIELDS,
    INCLUDE_KINDS,
    TwitterPostsSource,
    endpoint_spec,
    include_kinds_for,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_zaloni.lake import Transaction

#: X refuses an ``end_time`` closer than 10 seconds to the request time.
_END_TIME_MARGIN = timedelta(seconds=15)


class TwitterToLakeOperator(LakeIngestOperator):
    """Ingest posts from the X API v2 into the lake, incrementally by ``since_id``.

    Posts land in ``<zone>/twitter/<dataset>/<partition>``; the objects that ``expansions`` bring land in datasets of
    the same commit, named ``<dataset>_users``, ``<dataset>_media``, ``<dataset>_places``, ``<dataset>_polls`` and
    ``<dataset>_referenced_posts`` (one for each kind the expansions produce). The newest post id becomes the
    dataset's watermark in that same commit, so the next run asks only for newer posts, a failed run leaves it where
    it was, and a re-run of a past interval replays exactly the range it covered.

    An empty result still commits an (empty) partition; its manifest says ``"twitter": {"empty": true, ...}`` and
    the watermark does not move.

    :param twitter_conn_id: connection of type ``twitter``. (templated)
    :param endpoint: ``recent_search``, ``full_archive_search`` (Pro/Enterprise access), ``user_posts``,
        ``mentions`` or ``list_posts``. (templated)
    :param query: search query in X's query language (search endpoints). (templated)
    :param user: username or numeric id whose posts or mentions to read. (templated)
    :param list_id: id of the list whose posts to read. (templated)
    :param incremental: ask only for posts newer than the dataset's watermark (``since_id``).
    :param use_data_interval: restrict posts to the run's data interval (``start_time``/``end_time``).
    :param start_time: explicit oldest creation time, RFC 3339 (overrides the data interval). (templated)
    :param end_time: explicit newest creation time, exclusive, RFC 3339. (templated)
    :param tweet_fields: ``tweet.fields`` to request.
    :param expansions: ``expansions`` to request; each kind of expanded object lands in its own dataset.
    :param user_fields: ``user.fields`` of expanded users.
    :param media_fields: ``media.fields`` of expanded media.
    :param place_fields: ``place.fields`` of expanded places.
    :param poll_fields: ``poll.fields`` of expanded polls.
    :param max_results: posts per page (default: the endpoint's maximum).
    :param max_pages: safety cap on pages per run (protects the monthly post cap); the newest pages are kept and
        the manifest says ``truncated``.
    :param rate_limit_budget: seconds the task may wait for rate-limit windows; overrides the connection.
    """

    template_fields: Sequence[str] = (
        *LakeIngestOperator.template_fields,
        "twitter_conn_id",
        "endpoint",
        "query",
        "user",
        "list_id",
        "start_time",
        "end_time",
    )
    default_system = "twitter"
    ui_color = "#e8f4fd"

    def __init__(
        self,
        *,
        twitter_conn_id: str = TwitterHook.default_conn_name,
        endpoint: str = "recent_search",
        query: str | None = None,
        user: str | None = None,
        list_id: str | None = None,
        incremental: bool = True,
        use_data_interval: bool = False,
        start_time: str | None = None,
        end_time: str | None = None,
        tweet_fields: Sequence[str] = DEFAULT_TWEET_FIELDS,
        expansions: Sequence[str] = DEFAULT_EXPANSIONS,
        user_fields: Sequence[str] = DEFAULT_USER_FIELDS,
        media_fields: Sequence[str] = DEFAULT_MEDIA_FIELDS,
        place_fields: Sequence[str] = DEFAULT_PLACE_FIELDS,
        poll_fields: Sequence[str] = (),
        max_results: int | None = None,
        max_pages: int | None = None,
        rate_limit_budget: float | None = None,
        **kwargs: Any,
    ) -> None:
        dataset = kwargs.get("dataset", "")
        zone = kwargs.get("zone", "raw")
        system = kwargs.get("system") or self.default_system
        kinds = include_kinds_for(expansions)
        if "outlets" not in kwargs and not templated(dataset, zone, system):
            kwargs["outlets"] = [lake_asset(zone, system, dataset)] + [
                lake_asset(zone, system, f"{dataset}_{INCLUDE_KINDS[kind].dataset_suffix}") for kind in kinds
            ]
        super().__init__(**kwargs)
        if not templated(endpoint):
            endpoint_spec(endpoint)  # an unknown endpoint fails when the DAG is parsed, not when the task runs
        self.twitter_conn_id = twitter_conn_id
        self.endpoint = endpoint
        self.query = query
        self.user = user
        self.list_id = list_id
        self.incremental = incremental
        self.use_data_interval = use_data_interval
        self.start_time = start_time
        self.end_time = end_time
        self.tweet_fields = list(tweet_fields)
        self.expansions = list(expansions)
        self.user_fields = list(user_fields)
        self.media_fields = list(media_fields)
        self.place_fields = list(place_fields)
        self.poll_fields = list(poll_fields)
        self.max_results = max_results
        self.max_pages = max_pages
        self.rate_limit_budget = rate_limit_budget

    def include_ref(self, kind: str) -> DatasetRef:
        """The dataset that expanded objects of ``kind`` (``users``, ``media``, ...) land in."""
        return DatasetRef(self.zone, self.system, f"{self.dataset}_{INCLUDE_KINDS[kind].dataset_suffix}")

    def ingest(self, txn: Transaction, context: Context, partition: str) -> None:
        ref = self.dataset_ref
        lower, upper = txn.lake.incremental_window(ref, partition) if self.incremental else (None, None)
        self.watermark_upper = upper
        start, end = self._time_window(context)
        since_id, until_id = lower, int(upper) + 1 if upper is not None else None  # X's until_id is exclusive
        if start or end:
            # X refuses since_id/until_id together with a time window; the window alone bounds the run (and a
            # re-run of the same interval reads the same window). The watermark still records the newest post.
            since_id = until_id = None
        hook = TwitterHook(self.twitter_conn_id, rate_limit_budget=self.rate_limit_budget)
        source = TwitterPostsSource(
            hook.get_conn(),
            endpoint=self.endpoint,
            query=self.query,
            user=self.user,
            list_id=self.list_id,
            since_id=since_id,
            until_id=until_id,
            start_time=start,
            end_time=end,
            tweet_fields=self.tweet_fields,
            expansions=self.expansions,
            user_fields=self.user_fields,
            media_fields=self.media_fields,
            place_fields=self.place_fields,
            poll_fields=self.poll_fields,
            max_results=self.max_results,
            max_pages=self.max_pages,
            user_auth=hook.user_auth,
        )
        self.log.info(
            "X %s on %s: %s; since_id=%s until_id=%s start_time=%s end_time=%s",
            self.endpoint,
            hook.api_host,
            self.query or (f"user {self.user}" if self.user else f"list {self.list_id}"),
            source.since_id,
            source.until_id,
            start,
            end,
        )
        writer = self.land(txn, ref, partition, source, watermark_before=lower)
        stats = source.stats()
        writer.extra["twitter"] = stats
        if source.cursor is None:
            # Nothing new: record in the manifest that the watermark stays where it was (before == after).
            if lower is not None:
                txn.set_watermark(ref, lower, before=lower)
            self.log.info(
                "X %s returned no posts: an empty partition is committed, the watermark stays %s", self.endpoint, lower
            )
        for kind, included in source.include_sources().items():
            self.land(txn, self.include_ref(kind), partition, included).extra["twitter"] = {
                "includes": kind,
                "posts_dataset": ref.key,
                "objects": included.describe()["objects"],
            }

    def _time_window(self, context: Context) -> tuple[Any, Any]:
        start: Any = self.start_time or None
        end: Any = self.end_time or None
        if self.use_data_interval:
            start = start or context.get("data_interval_start")
            end = end or context.get("data_interval_end")
        if isinstance(end, datetime):
            latest = datetime.now(timezone.utc) - _END_TIME_MARGIN
            if end > latest:
                self.log.info("end_time %s is too recent for X; using %s", end.isoformat(), latest.isoformat())
                end = latest
        if isinstance(start, datetime) and isinstance(end, datetime) and start >= end:
            raise ValueError(f"start_time {start.isoformat()} is not before end_time {end.isoformat()}")
        return start, end
