"""Parallel splits, as Sqoop's ``--split-by``/``--num-mappers``: ranges of one column read by several connections.

The column's range (``MIN``/``MAX`` under the run's predicate, or a user's boundary query) is cut into equal-width
ranges. Equal widths suit evenly spread keys; skewed keys would leave one connection with most of the rows, so the
range is cut into :data:`RANGES_PER_SPLIT` times more pieces than there are connections and each connection takes
the next piece when it finishes one (work stealing): a dense piece delays one connection, not the whole read.
Rows whose split column is NULL belong to the first piece, so every row is read exactly once.
"""

from __future__ import annotations

import datetime as dt
import decimal
import itertools
from typing import Any

from airflow_zaloni.sources.base import SourceError
from airflow_zaloni.sources.warehouse import watermark
from airflow_zaloni.sources.warehouse.query import Range

#: Pieces per connection; more pieces balance skew better, at the cost of one query each.
RANGES_PER_SPLIT = 4


def _boundaries(lower: Any, upper: Any, pieces: int) -> list[Any]:
    """``pieces + 1`` increasing boundaries from ``lower`` to ``upper`` (fewer when the range is narrow)."""
    if isinstance(lower, bool) or isinstance(upper, bool):
        raise SourceError("a boolean column cannot be a split column")
    points: list[Any]
    if isinstance(lower, int) and isinstance(upper, int):
        points = [lower + (upper - lower) * i // pieces for i in range(pieces + 1)]
    elif isinstance(lower, dt.datetime) and isinstance(upper, dt.datetime):
        points = [lower + (upper - lower) * i / pieces for i in range(pieces + 1)]
    elif isinstance(lower, dt.date) and isinstance(upper, dt.date):
        first, last = lower.toordinal(), upper.toordinal()
        points = [dt.date.fromordinal(first + (last - first) * i // pieces) for i in range(pieces + 1)]
    elif isinstance(lower, decimal.Decimal) or isinstance(upper, decimal.Decimal):
        lo, hi = decimal.Decimal(lower), decimal.Decimal(upper)
        points = [lo + (hi - lo) * i / pieces for i in range(pieces + 1)]
    elif isinstance(lower, int | float) and isinstance(upper, int | float):
        points = [lower + (upper - lower) * i / pieces for i in range(pieces + 1)]
    else:
        raise SourceError(
            f"cannot split on values of type {type(lower).__name__}; use an integer, decimal, date or timestamp column"
        )
    points[0], points[-1] = lower, upper
    unique: list[Any] = []
    for p in points:
        if not unique or p > unique[-1]:
            unique.append(p)
    return unique


def plan_ranges(column: str, lower: Any, upper: Any, pieces: int) -> list[Range]:
    """``pieces`` ranges of ``column`` (fewer when the range is narrow); an empty or all-NULL column gives one piece
    that reads everything.

    The first piece is open downwards and the last upwards, so rows outside the bounds (a boundary query that
    understates the range, rows added since ``MIN``/``MAX`` ran) are still read, by the outer pieces.
    """
    if lower is None or upper is None:
        return [Range(column, or_null=True)]
    bounds = _boundaries(lower, upper, max(1, pieces))
    if len(bounds) <= 2:
        return [Range(column, or_null=True)]
    inner = bounds[1:-1]
    ranges = [Range(column, upper=inner[0], or_null=True)]
    ranges += [Range(column, lower=lo, upper=hi) for lo, hi in itertools.pairwise(inner)]
    ranges.append(Range(column, lower=inner[-1]))
    return ranges


def range_to_json(piece: Range, tag: str) -> dict[str, Any]:
    """A split range as JSON (an XCom value handed to one mapped task); bounds in the watermark's JSON forms."""
    return {
        "column": piece.column,
        "type": tag,
        "lower": None if piece.lower is None else watermark.encode(tag, piece.lower),
        "upper": None if piece.upper is None else watermark.encode(tag, piece.upper),
        "or_null": piece.or_null,
    }


def range_from_json(data: dict[str, Any]) -> Range:
    """The :class:`Range` of :func:`range_to_json`; a malformed value is a :class:`SourceError`."""
    try:
        column, tag = str(data["column"]), str(data["type"])
        lower = None if data.get("lower") is None else watermark.decode(column, tag, data["lower"])
        upper = None if data.get("upper") is None else watermark.decode(column, tag, data["upper"])
        return Range(column, lower=lower, upper=upper, or_null=bool(data.get("or_null")))
    except (KeyError, TypeError, AttributeError) as exc:
        raise SourceError(f"not a split range: {data!r}") from exc
