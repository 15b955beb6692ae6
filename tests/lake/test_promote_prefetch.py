"""The background prefetch overlapping DuckDB batches with the Parquet writer (``airflow_zaloni.utils.prefetch``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from airflow_zaloni.utils.prefetch import prefetch

pytestmark = pytest.mark.timeout(20)


def test_items_arrive_in_order_and_production_runs_ahead_by_at_most_depth() -> None:
    produced: list[int] = []

    def source() -> Iterator[int]:
        for i in range(10):
            produced.append(i)
            yield i

    it = prefetch(source(), depth=2)
    assert next(it) == 0
    time.sleep(0.2)
    # One item handed out, two waiting in the queue, one more blocked in put(): bounded, whatever the consumer does.
    assert len(produced) <= 4
    assert list(it) == list(range(1, 10))


def test_a_producer_error_reaches_the_consumer_after_the_items_before_it() -> None:
    def source() -> Iterator[int]:
        yield 1
        raise ValueError("bad batch at byte 42")

    it = prefetch(source())
    assert next(it) == 1
    with pytest.raises(ValueError, match="bad batch at byte 42"):
        next(it)


def test_stopping_early_ends_the_producer_thread() -> None:
    def endless() -> Iterator[int]:
        i = 0
        while True:
            yield i
            i += 1

    before = threading.active_count()
    it = prefetch(endless(), depth=1)
    assert [next(it) for _ in range(3)] == [0, 1, 2]
    it.close()
    assert threading.active_count() == before
    with pytest.raises(ValueError):
        prefetch([], depth=0).__next__()
