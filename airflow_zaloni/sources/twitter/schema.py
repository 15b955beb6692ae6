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
import functools
import json
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa

from airflow_zaloni.sources.base import SourceError

__all__ = [
    "MEDIA_SCHEMA",
    "PLACE_SCHEMA",
    "POLL_SCHEMA",
    "POST_SCHEMA",
    "USER_SCHEMA",
    "to_batch",
]

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
        pa.field(
            "geo",
            pa.struct(
                [
                    pa.field("type", _STR),
                    pa.field("bbox", pa.list_(pa.float64())),
                    pa.field("properties", _STR, metadata={"json": "1"}),
                ]
            ),
        ),
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


def _json_text(value: Any) -> Any:
    return json.dumps(value, sort_keys=True, ensure_ascii=False) if isinstance(value, (dict, list)) else value


Converter = Callable[[Any], Any]


def _converter(field: pa.Field) -> Converter | None:
    """What a JSON value of ``field`` needs before pyarrow takes it, or ``None`` when pyarrow takes it as it is.

    pyarrow reads nested dicts and lists itself (ignoring keys a struct does not model); only timestamps (RFC 3339
    text) and free-form objects kept as JSON text (``metadata={"json": "1"}``) need work. Built once per schema.
    """
    type_ = field.type
    if field.metadata and field.metadata.get(b"json"):
        return _json_text
    if pa.types.is_timestamp(type_):
        return _parse_time
    if pa.types.is_struct(type_):
        children = [(child.name, _converter(child)) for child in type_]
        if all(conv is None for _, conv in children):
            return None

        def struct(value: Any) -> Any:
            if not isinstance(value, dict):
                return value  # pyarrow reports the mismatch with the column name
            return {name: (conv(value.get(name)) if conv else value.get(name)) for name, conv in children}

        return struct
    if pa.types.is_list(type_):
        item = _converter(type_.value_field)
        if item is None:
            return None
        return lambda value: [item(v) for v in value] if isinstance(value, list) else value
    return None


@functools.cache
def _plan(schema: pa.Schema) -> tuple[tuple[str, pa.DataType, Converter | None], ...]:
    return tuple((f.name, f.type, _converter(f)) for f in schema if f.name != OTHER_FIELDS)


def to_batch(objects: Sequence[dict[str, Any]], schema: pa.Schema, *, what: str, key: str = "id") -> pa.RecordBatch:
    """X objects (decoded JSON) as a record batch of ``schema``, built column by column.

    Top-level keys that the schema does not model are kept, as JSON text, in ``other_fields``. A value of the wrong
    type, or a time that is not RFC 3339, raises :class:`SourceError` naming the object (by ``key``) and the field.
    """
    known = frozenset(schema.names)
    columns: list[pa.Array] = []
    for name, type_, conv in _plan(schema):
        try:
            values = [obj.get(name) for obj in objects]
            columns.append(pa.array([conv(v) for v in values] if conv else values, type=type_))
        except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError, TypeError) as error:
            raise _locate(objects, name, type_, conv, what=what, key=key, error=error) from error
    other = []
    for obj in objects:
        extra = {k: v for k, v in obj.items() if k not in known}
        other.append(json.dumps(extra, sort_keys=True, ensure_ascii=False) if extra else None)
    columns.append(pa.array(other, type=pa.string()))
    try:
        return pa.RecordBatch.from_arrays(columns, schema=schema)
    except (pa.ArrowInvalid, ValueError) as error:  # e.g. a missing id in a non-nullable column
        missing = [
            n for n, c in zip(schema.names, columns, strict=True) if not schema.field(n).nullable and c.null_count
        ]
        raise SourceError(f"{what}: {error} (null in {missing})") from error


def _locate(
    objects: Sequence[dict[str, Any]],
    name: str,
    type_: pa.DataType,
    conv: Converter | None,
    *,
    what: str,
    key: str,
    error: Exception,
) -> SourceError:
    """The first object whose ``name`` cannot become ``type_``, as a clear error."""
    for number, obj in enumerate(objects, 1):
        try:
            value = obj.get(name)
            pa.array([conv(value) if conv else value], type=type_)
        except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError, TypeError) as cell_error:
            return SourceError(
                f"{what} {key}={obj.get(key)!r} (object {number} of the page): field {name!r} does not match the "
                f"documented X API type {type_}: {cell_error}"
            )
    return SourceError(f"{what}: field {name!r} could not be converted to {type_}: {error}")
