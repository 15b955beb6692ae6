"""A source made of generated rows, for tests of the lake and the ingest base (not a mock of ours: a real Source)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa

SCHEMA = pa.schema([("id", pa.int64()), ("name", pa.string()), ("amount", pa.decimal128(12, 2))])


class CounterSource:
    """Rows ``id`` in ``(lower, upper]``, in batches; optionally raises after ``fail_after`` rows."""

    def __init__(
        self,
        *,
        lower: int | None,
        upper: int,
        batch_rows: int = 1000,
        fail_after: int | None = None,
        delay: float = 0.0,
    ) -> None:
        self.lower = lower or 0
        self.upper = upper
        self.batch_rows = batch_rows
        self.fail_after = fail_after
        self.delay = delay
        self._cursor: int | None = None

    @property
    def schema(self) -> pa.Schema:
        return SCHEMA

    @property
    def cursor(self) -> int | None:
        return self._cursor

    def describe(self) -> dict[str, Any]:
        return {"system": "test", "name": "counter", "lower": self.lower, "upper": self.upper}

    def batches(self) -> Iterator[pa.RecordBatch]:
        import time
        from decimal import Decimal

        start = self.lower + 1
        while start <= self.upper:
            stop = min(start + self.batch_rows, self.upper + 1)
            if self.fail_after is not None and stop - 1 - self.lower > self.fail_after:
                raise RuntimeError(f"source failed after {self.fail_after} rows")
            ids = list(range(start, stop))
            yield pa.record_batch(
                [
                    pa.array(ids, pa.int64()),
                    pa.array([f"n{i}" for i in ids]),
                    pa.array([Decimal(i) / 100 for i in ids], pa.decimal128(12, 2)),
                ],
                schema=SCHEMA,
            )
            self._cursor = stop - 1
            start = stop
            if self.delay:
                time.sleep(self.delay)
