"""Typed Arrow schemas for X API v2 objects (posts, users, media, places, polls) and the JSON -> Arrow conversion.

Every partition of a dataset has the same columns whatever fields a run asked for (fields not requested are null),
so the lake never sees schema drift between runs. Nested objects stay nested: ``public_metrics`` is a struct,
``entities`` a struct of lists of structs, ``referenced_tweets`` a list of ``{type, id}``; times are UTC
timestamps. Ids stay strings, as X sends them (they exceed JavaScript's integer range and X documents them so).

A top-level key that X adds later and that no column models is not dropped: it lands, as JSON text, in the
``other_fields`` column of its row.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

import pyarrow as pa

from airflow_zaloni.sources.base import SourceError

TIMESTAMP = pa.timestamp("ms", tz="UTC")
_INT = pa.int64()
_STR = pa.string()
_STRS = pa.list_(pa.string())
#: Column holding, as JSON text, any top-level keys of an object that the schema does not model.
OTHER_FIELDS = "other_fields"


def _struct(**fields: pa.DataType) -> pa.StructType:
    return pa.struct([pa.field(name, type_) for name, type_ in fields.items()])


def _span(**fields: pa.DataType) -> pa.ListType:
    """A list of entity spans: ``start``/``end`` character offsets plus the entity's own fields."""
    return pa.list_(_struct(start=_INT, end=_INT, **fields))


_URL_ENTITY = dict(
    url=_STR,
    expanded_url=_STR,
    display_url=_STR,
    unwound_url=_STR,
    media_key=_STR,
    status=_INT,
    title=_STR,
    description=_STR,
)
ENTITIES = _struct(
    annotations=_span(probability=pa.float64(), type=_STR, normalized_text=_STR),
    cashtags=_span(tag=_STR),
    hashtags=_span(tag=_STR),
    mentions=_span(username=_STR, id=_STR),
    urls=_span(**_URL_ENTITY),
)
_ENGAGEMENT = _struct(
    impression_count=_INT,
    like_count=_INT,
    reply_count=_INT,
    retweet_count=_INT,
    quote_count=_INT,
    url_link_clicks=_INT,
    user_profile_clicks=_INT,
)
_ANNOTATION_PART = _struct(id=_STR, name=_STR, description=_STR)

POST_SCHEMA = pa.schema(
    [
        pa.field("id", _STR, nullable=False),
        pa.field("text", _STR),
        pa.field("created_at", TIMESTAMP),
        pa.field("author_id", _STR),
        pa.field("conversation_id", _STR),
        pa.field("in_reply_to_user_id", _STR),
        pa.field("lang", _STR),
        pa.field("source", _STR),
        pa.field("reply_settings", _STR),
        pa.field("possibly_sensitive", pa.bool_()),
        pa.field("edit_history_tweet_ids", _STRS),
        pa.field("referenced_tweets", pa.list_(_struct(type=_STR, id=_STR))),
        pa.field(
            "public_metrics",
            _struct(
                retweet_count=_INT,
                reply_count=_INT,
                like_count=_INT,
                quote_count=_INT,
                bookmark_count=_INT,
                impression_count=_INT,
            ),
        ),
        pa.field("non_public_metrics", _ENGAGEMENT),
        pa.field("organic_metrics", _ENGAGEMENT),
        pa.field("promoted_metrics", _ENGAGEMENT),
        pa.field("entities", ENTITIES),
        pa.field("attachments", _struct(media_keys=_STRS, poll_ids=_STRS, media_source_tweet_id=_STRS)),
        pa.field(
            "geo",
            _struct(place_id=_STR, coordinates=_struct(type=_STR, coordinates=pa.list_(pa.float64()))),
        ),
        pa.field("context_annotations", pa.list_(_struct(domain=_ANNOTATION_PART, entity=_ANNOTATION_PART))),
        pa.field("withheld", _struct(copyright=pa.bool_(), country_codes=_STRS, scope=_STR)),
        pa.field(
            "edit_controls",
            _struct(edits_remaining=_INT, is_edit_eligible=pa.bool_(), editable_until=TIMESTAMP),
        ),
        pa.field("note_tweet", _struct(text=_STR, entities=ENTITIES)),
        pa.field("display_text_range", pa.list_(_INT)),
        pa.field(OTHER_FIELDS, _STR),
    ]
)

USER_SCHEMA = pa.schema(
    [
        pa.field("id", _STR, nullable=False),
        pa.field("username", _STR),
        pa.field("name", _STR),
        pa.field("created_at", TIMESTAMP),
        pa.field("description", _STR),
        pa.field("location", _STR),
        pa.field("url", _STR),
        pa.field("profile_image_url", _STR),
        pa.field("protected", pa.bool_()),
        pa.field("verified", pa.bool_()),
        pa.field("verified_type", _STR),
        pa.field("pinned_tweet_id", _STR),
        pa.field("most_recent_tweet_id", _STR),
        pa.field(
            "public_metrics",
            _struct(
                followers_count=_INT,
                following_count=_INT,
                tweet_count=_INT,
                listed_count=_INT,
                like_count=_INT,
                media_count=_INT,
            ),
        ),
        pa.field(
            "entities",
            _struct(
                url=_struct(urls=_span(**_URL_ENTITY)),
                description=_struct(
                    cashtags=_span(tag=_STR),
                    hashtags=_span(tag=_STR),
                    mentions=_span(username=_STR),
                    urls=_span(**_URL_ENTITY),
                ),
            ),
        ),
        pa.field("withheld", _struct(country_codes=_STRS, scope=_STR)),
        pa.field(OTHER_FIELDS, _STR),
    ]
)

MEDIA_SCHEMA = pa.schema(
    [
        pa.field("media_key", _STR, nullable=False),
        pa.field("type", _STR),
        pa.field("url", _STR),
        pa.field("preview_image_url", _STR),
        pa.field("alt_text", _STR),
        pa.field("duration_ms", _INT),
        pa.field("height", _INT),
        pa.field("width", _INT),
        pa.field("public_metrics", _struct(view_count=_INT)),
        pa.field("non_public_metrics", _ENGAGEMENT),
        pa.field("organic_metrics", _ENGAGEMENT),
        pa.field("promoted_metrics", _ENGAGEMENT),
        pa.field("variants", pa.list_(_struct(bit_rate=_INT, content_type=_STR, url=_STR))),
        pa.field(OTHER_FIELDS, _STR),
    ]
)

PLACE_SCHEMA = pa.schema(
    [
        pa.field("id", _STR, nullable=False),
        pa.field("full_name", _STR),
        pa.field("name", _STR),
        pa.field("country", _STR),
        pa.field("country_code", _STR),
        pa.field("place_type", _STR),
        pa.field("contained_within", _STRS),
        # ``properties`` of the GeoJSON feature is free-form: kept as JSON text.
        pa.field("geo", _struct(type=_STR, bbox=pa.list_(pa.float64()), properties=_STR)),
        pa.field(OTHER_FIELDS, _STR),
    ]
)

POLL_SCHEMA = pa.schema(
    [
        pa.field("id", _STR, nullable=False),
        pa.field("options", pa.list_(_struct(position=_INT, label=_STR, votes=_INT))),
        pa.field("duration_minutes", _INT),
        pa.field("end_datetime", TIMESTAMP),
        pa.field("voting_status", _STR),
        pa.field(OTHER_FIELDS, _STR),
    ]
)


def _parse_time(value: Any) -> Any:
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value)  # X sends RFC 3339 with a "Z"; Python 3.11 reads it
    return value


def _conform(value: Any, type_: pa.DataType) -> Any:
    """Shape one JSON value for ``type_``: parse timestamps, JSON-encode free-form objects, recurse into nesting.

    Keys a struct does not model are ignored below the top level (X's documented objects are modelled fully).
    """
    if value is None:
        return None
    if pa.types.is_timestamp(type_):
        return _parse_time(value)
    if pa.types.is_struct(type_):
        if not isinstance(value, dict):
            return value  # pyarrow reports the mismatch with the column name
        return {field.name: _conform(value.get(field.name), field.type) for field in type_}
    if pa.types.is_list(type_):
        if not isinstance(value, list):
            return value
        return [_conform(item, type_.value_type) for item in value]
    if pa.types.is_string(type_) and isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return value


def conform_row(obj: dict[str, Any], schema: pa.Schema) -> dict[str, Any]:
    """One X object as a row of ``schema``: known keys conformed, unknown top-level keys kept in ``other_fields``."""
    row = {field.name: _conform(obj.get(field.name), field.type) for field in schema if field.name != OTHER_FIELDS}
    extra = {key: value for key, value in obj.items() if key not in schema.names}
    row[OTHER_FIELDS] = json.dumps(extra, sort_keys=True, ensure_ascii=False) if extra else None
    return row


def rows_to_batch(rows: list[dict[str, Any]], schema: pa.Schema, *, what: str, key: str = "id") -> pa.RecordBatch:
    """Build a record batch of ``schema`` from conformed rows; a value of the wrong type names its object and field."""
    try:
        return pa.RecordBatch.from_pylist(rows, schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError, TypeError) as error:
        raise _locate(rows, schema, what=what, key=key, error=error) from error


def _locate(rows: Iterable[dict[str, Any]], schema: pa.Schema, *, what: str, key: str, error: Exception) -> SourceError:
    for number, row in enumerate(rows, 1):
        for field in schema:
            try:
                pa.array([row.get(field.name)], type=field.type)
            except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError, TypeError) as cell_error:
                return SourceError(
                    f"{what} {key}={row.get(key)!r} (object {number} of the page): field {field.name!r} does not "
                    f"match the documented X API type {field.type}: {cell_error}"
                )
    return SourceError(f"{what}: could not convert a page to Arrow: {error}")
