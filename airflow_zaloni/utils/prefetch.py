"""Run an iterator one step ahead in a background thread, so producing and consuming overlap.

Useful when both sides release the GIL (an engine producing Arrow batches, a Parquet writer encoding them): on two
cores the pipeline then takes about as long as its slower half instead of the sum. Memory stays bounded: at most
``depth`` items wait in the queue.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetch(items: Iterable[T], *, depth: int = 2) -> Iterator[T]:
    """Yield the items of ``items``, produced by a background thread up to ``depth`` items ahead.

    An exception raised by the producer is re-raised in the consumer. If the consumer stops early (``break``, an
    exception, ``close()``), the producer is told to stop and the thread ends after its current item.
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

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:  # handed over to the consumer, which re-raises it
            put(_Failure(exc))

    thread = threading.Thread(target=produce, name="zaloni-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = slots.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join()
