"""Producers in background threads feeding one bounded queue, so producing and consuming overlap.

Useful when both sides release the GIL (an engine producing Arrow batches, a Parquet writer encoding them; drivers
waiting on the network): on two cores the pipeline then takes about as long as its slower half instead of the sum.
Memory stays bounded: at most ``depth`` items wait in the queue.

:func:`prefetch` runs one iterator a step ahead; :func:`read_in_parallel` reads pieces of work with several
threads, each with its own connection. Both are :func:`merge_threads`, the one home of the thread hand-over.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")
P = TypeVar("P")

_DONE = object()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def merge_threads(
    producers: Sequence[Callable[[], Iterable[T]]],
    *,
    depth: int,
    name: str = "zaloni-prefetch",
    join_timeout: float | None = None,
) -> Iterator[T]:
    """Yield the items of every producer, each run in its own thread, in the order they come.

    ``producer()`` is called in its thread (so a connection it opens belongs to that thread) and its iterable is
    consumed there; at most ``depth`` items wait in memory. The first exception of any producer stops them all
    and is re-raised in the consumer. If the consumer stops early (``break``, an exception, ``close()``), the
    producers are told to stop: each ends after its current item, its iterable closed in its own thread (so a
    generator's ``finally`` releases what it holds), and the consumer waits ``join_timeout`` seconds for each.
    """
    if depth < 1:
        raise ValueError("depth must be at least 1")
    slots: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce(producer: Callable[[], Iterable[T]]) -> None:
        try:
            items = iter(producer())
            try:
                while not stop.is_set():  # checked before each step: a stopped read starts no further query
                    try:
                        item = next(items)
                    except StopIteration:
                        break
                    if not put(item):
                        return
            finally:
                close = getattr(items, "close", None)
                if close is not None:
                    close()
        except BaseException as exc:  # handed over to the consumer, which re-raises it
            put(_Failure(exc))
        finally:
            put(_DONE)

    threads = [
        threading.Thread(target=produce, args=(producer,), name=f"{name}-{i}", daemon=True)
        for i, producer in enumerate(producers)
    ]
    for thread in threads:
        thread.start()
    running = len(threads)
    try:
        while running:
            item = slots.get()
            if item is _DONE:
                running -= 1
            elif isinstance(item, _Failure):
                raise item.error
            else:
                yield item  # type: ignore[misc]
    finally:
        stop.set()
        for thread in threads:
            thread.join(join_timeout)


def prefetch(items: Iterable[T], *, depth: int = 2) -> Iterator[T]:
    """Yield the items of ``items``, produced by a background thread up to ``depth`` items ahead.

    An exception raised by the producer is re-raised in the consumer. If the consumer stops early (``break``, an
    exception, ``close()``), the producer is told to stop and the thread ends after its current item.
    """
    return merge_threads([lambda: items], depth=depth)


def read_in_parallel(
    pieces: Sequence[P],
    workers: int,
    open_reader: Callable[[], tuple[Callable[[P], Iterable[T]], Callable[[], None]]],
    max_buffered: int = 4,
) -> Iterator[T]:
    """Read ``pieces`` with ``workers`` threads, each with its own connection, yielding items as they come.

    ``open_reader()`` runs in the worker thread and returns ``(read, close)``: ``read(piece)`` yields items (Arrow
    batches) and ``close()`` releases the connection. Each worker takes the next piece when it finishes one (work
    stealing: a slow piece delays one worker, not the read). At most ``max_buffered`` items per worker wait in
    memory. The first error stops every worker and is raised here; closing the iterator early stops them too.
    """
    work: queue.SimpleQueue[P] = queue.SimpleQueue()
    for piece in pieces:
        work.put(piece)

    def worker() -> Iterator[T]:
        read, close = open_reader()
        try:
            while True:
                try:
                    piece = work.get_nowait()
                except queue.Empty:
                    return
                yield from read(piece)
        finally:
            close()

    count = max(1, workers)
    return merge_threads([worker] * count, depth=count * max_buffered, name="zaloni-split", join_timeout=30)
