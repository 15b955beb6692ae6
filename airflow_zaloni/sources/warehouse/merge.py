"""Merge-key snapshots, as Sqoop's ``--incremental lastmodified --merge-key``: the latest row per key.

The run's partition receives a full snapshot: the rows read this run (they win), then the rows of the previous
snapshot whose key was not read this run. The rows stream through; only the key columns of this run's rows are
held in memory (to filter the previous snapshot), so memory grows with the size of the change, not of the table.
Rows deleted at the source stay in the snapshot (an incremental read cannot see deletes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from airflow_zaloni.sources.base import Source, SourceError


class MergedSnapshot:
    """A :class:`~airflow_zaloni.sources.base.Source` of ``changes`` merged over a previous snapshot by key.

    :param changes: the incremental source (its cursor is this source's cursor).
    :param merge_key: columns that identify a row.
    :param previous: returns the previous snapshot's batches, or ``None`` on the first run.
    """

    def __init__(
        self,
        changes: Source,
        merge_key: Sequence[str],
        previous: Callable[[], Iterator[pa.RecordBatch]] | None,
    ) -> None:
        if not merge_key:
            raise SourceError("merge mode needs a merge_key")
        self.changes = changes
        self.merge_key = list(merge_key)
        self.previous = previous
        self.stats: dict[str, Any] = {}

    @property
    def schema(self) -> pa.Schema | None:
        return self.changes.schema

    @property
    def cursor(self) -> Any:
        return self.changes.cursor

    def describe(self) -> dict[str, Any]:
        return {**self.changes.describe(), "mode": "merge", "merge_key": self.merge_key}

    def batches(self) -> Iterator[pa.RecordBatch]:
        keys: list[pa.RecordBatch] = []
        changed = 0
        schema: pa.Schema | None = None
        for batch in self.changes.batches():
            if schema is None:
                schema = batch.schema
                missing = [k for k in self.merge_key if k not in schema.names]
                if missing:
                    raise SourceError(f"merge key column(s) {missing} are not among the columns read: {schema.names}")
            keys.append(batch.select(self.merge_key))
            changed += batch.num_rows
            yield batch
        schema = schema or self.changes.schema
        key_table = pa.Table.from_batches(keys) if keys else None
        if key_table is not None and key_table.num_rows:
            counts = key_table.group_by(self.merge_key).aggregate([([], "count_all")])
            dupes = counts.filter(pc.greater(counts["count_all"], 1))
            if dupes.num_rows:
                example = dupes.slice(0, 1).select(self.merge_key).to_pylist()[0]
                raise SourceError(
                    f"merge key {self.merge_key} is not unique among the rows read this run: {dupes.num_rows} "
                    f"key(s) repeat, e.g. {example}; a merge-key snapshot needs one row per key"
                )
        kept = 0
        if self.previous is not None and schema is not None:
            for old in self.previous():
                table = pa.Table.from_batches([old])
                if key_table is not None and key_table.num_rows:
                    table = table.join(key_table, keys=self.merge_key, join_type="left anti")
                if not table.num_rows:
                    continue
                try:
                    table = table.select(schema.names).cast(schema)
                except (KeyError, pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
                    raise SourceError(f"the previous snapshot does not fit today's columns ({schema}): {exc}") from exc
                kept += table.num_rows
                yield from table.to_batches()
        self.stats = {"changed_rows": changed, "kept_rows": kept}
