"""Background producers feeding one bounded queue (``airflow_zaloni.utils.prefetch``).

``prefetch`` overlaps DuckDB batches with the Parquet writer (promotion) and Salesforce pages with their
conversion; ``read_in_parallel`` reads the warehouse's split ranges over several connections.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_zaloni.utils.prefetch import prefetch, read_in_parallel

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


class Connections:
    """A stand-in database: ``open()`` hands out a connection that reads pieces and records who did what."""

    def __init__(self, *, rows_per_piece: int = 3, fail_on: int | None = None, slow: float = 0.0) -> None:
        self.rows_per_piece = rows_per_piece
        self.fail_on = fail_on
        self.slow = slow
        self.lock = threading.Lock()
        self.opened: list[int] = []  # thread ids
        self.closed: list[int] = []
        self.started: list[int] = []  # pieces whose read began
        self.yielded = 0

    def open(self) -> tuple[Callable[[int], Iterator[tuple[int, int]]], Callable[[], None]]:
        with self.lock:
            self.opened.append(threading.get_ident())

        def read(piece: int) -> Iterator[tuple[int, int]]:
            with self.lock:
                self.started.append(piece)
            for row in range(self.rows_per_piece):
                if piece == self.fail_on:
                    raise ConnectionError(f"server closed the connection while reading piece {piece}")
                time.sleep(self.slow)
                with self.lock:
                    self.yielded += 1
                yield piece, row

        def close() -> None:
            with self.lock:
                self.closed.append(threading.get_ident())

        return read, close


def test_parallel_reads_read_every_piece_once_each_worker_on_its_own_connection() -> None:
    db = Connections()
    rows = list(read_in_parallel(range(10), 3, db.open))
    assert sorted(rows) == [(piece, row) for piece in range(10) for row in range(3)]
    assert sorted(db.started) == list(range(10))
    assert len(db.opened) == 3
    assert len(set(db.opened)) == 3 and threading.get_ident() not in db.opened  # one thread per connection
    assert sorted(db.closed) == sorted(db.opened)  # each closed by the thread that opened it


def test_a_failing_read_stops_the_others_and_closes_every_connection() -> None:
    db = Connections(fail_on=5, slow=0.01)
    before = threading.active_count()
    with pytest.raises(ConnectionError, match="while reading piece 5"):
        list(read_in_parallel(range(40), 2, db.open))
    assert len(db.started) < 40  # the other worker stopped instead of reading the rest
    assert sorted(db.closed) == sorted(db.opened)
    assert threading.active_count() == before


def test_a_refused_connection_is_raised() -> None:
    def refuse() -> Any:
        raise PermissionError("password authentication failed for user etl")

    with pytest.raises(PermissionError, match="password authentication failed"):
        list(read_in_parallel(range(4), 2, refuse))


def test_closing_a_parallel_read_early_stops_the_workers_and_frees_the_connections() -> None:
    db = Connections(rows_per_piece=1, slow=0.01)
    before = threading.active_count()
    it = read_in_parallel(range(100), 2, db.open, max_buffered=1)
    next(it)
    it.close()
    # at most what fits in the queue, plus one piece per worker in hand, was started: the rest never is
    assert len(db.started) <= 1 + 2 * 1 + 2 * 2
    assert sorted(db.closed) == sorted(db.opened)
    assert threading.active_count() == before


def test_parallel_reads_buffer_at_most_max_buffered_items_per_worker() -> None:
    db = Connections(rows_per_piece=50)
    it = read_in_parallel(range(4), 2, db.open, max_buffered=2)
    next(it)
    time.sleep(0.2)
    # one handed out, 2 x 2 waiting in the queue, one more per worker blocked in put(): bounded by the queue
    assert db.yielded <= 1 + 2 * 2 + 2
    assert len(list(it)) == 4 * 50 - 1
