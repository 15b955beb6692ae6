"""The contract every source fulfils: Arrow record batches in bounded memory.

A source never writes files and never talks to the lake. It declares its schema (when the system can say it before
the first batch), yields :class:`pyarrow.RecordBatch` objects of bounded size, and after iteration reports the cursor
(watermark) value its batches reached, so that the lake can commit that watermark together with the data.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa

#: Rows per record batch that sources aim for unless the caller asks otherwise.
DEFAULT_BATCH_ROWS = 65_536


@runtime_checkable
class Source(Protocol):
    """What the lake writer needs from a source.

    ``schema`` may be ``None`` when it is only known from the first batch. ``cursor`` is read after ``batches()`` is
    exhausted: the largest incremental value the batches reached, or ``None`` for a non-incremental source (the
    dataset's watermark then stays where it was). ``describe()`` is a small JSON-serialisable dict recorded in the
    manifest (system, object, query, options -- never a secret).
    """

    @property
    def schema(self) -> pa.Schema | None: ...

    def batches(self) -> Iterator[pa.RecordBatch]: ...

    @property
    def cursor(self) -> Any: ...

    def describe(self) -> dict[str, Any]: ...


class SourceError(Exception):
    """A source failed in a way the user can act on; the message names what and where."""
