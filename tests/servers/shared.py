"""One server shared by every test module that imports its session fixture.

pytest makes each module's import of a session fixture a fixture of its own; a ``SharedServer`` lets those instances
share one server: the first user starts it, the last one stops it (and an ``atexit`` hook is the fallback).
"""

from __future__ import annotations

import atexit
import contextlib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class SharedServer(Generic[T]):
    def __init__(self, start: Callable[[], contextlib.AbstractContextManager[T]]) -> None:
        self._start = start
        self._server: T | None = None
        self._stack = contextlib.ExitStack()
        self._users = 0

    @contextlib.contextmanager
    def use(self) -> Iterator[T]:
        if self._server is None:
            self._server = self._stack.enter_context(self._start())
            atexit.register(self._stack.close)  # a fallback; the last fixture user stops it first
        self._users += 1
        try:
            yield self._server
        finally:
            self._users -= 1
            if self._users == 0:
                self._server = None
                self._stack.close()
