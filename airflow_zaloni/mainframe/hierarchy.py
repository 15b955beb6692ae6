"""Parent-child hierarchies (Cobrix's ``segment-children:N``): a root record and the child records that follow it
become one row; each child segment group becomes an array of structs inside its parent segment's group.

Records are decoded column-wise as usual; only the regrouping walks the rows (it is a rare, inherently sequential
reshaping). Like Cobrix, a row's ``Record_Id`` is the index of the next root record (the record count for the last
group) and ``Record_Byte_Length`` the sum of the group's record lengths.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from airflow_zaloni.mainframe.copybook import Copybook, _norm
from airflow_zaloni.mainframe.decoder import Col, RecordDecoder, Rows
from airflow_zaloni.mainframe.errors import OptionError
from airflow_zaloni.mainframe.framing import Chunk
from airflow_zaloni.mainframe.options import ReaderOptions


class SegmentReader(Protocol):
    """What the regrouping uses of :class:`~airflow_zaloni.mainframe.reader.MainframeReader`. A protocol, so that
    this module does not import the reader, which imports it (no import cycle)."""

    opts: ReaderOptions
    copybook: Copybook
    decoder: RecordDecoder

    def record_matrix(self, chunk: Chunk, lo: int, hi: int) -> tuple[Rows, np.ndarray]: ...

    def decode_rows(self, chunk: Chunk, lo: int, hi: int, rows: Rows, lengths: np.ndarray) -> pa.RecordBatch | None: ...

    def segment_values(self, rows: Rows, lengths: np.ndarray | None = None) -> pa.Array | None: ...


class _Tree:
    def __init__(self, reader: SegmentReader) -> None:
        o = reader.opts
        # Child segments in copybook order, whatever order the options list them in.
        order = {_norm(n.name): i for i, n in enumerate(reader.copybook.walk())}
        self.children = {p: sorted(set(c), key=lambda n: order.get(n, 0)) for p, c in o.segment_children.items()}
        self.parent = {c: p for p, cs in self.children.items() for c in cs}
        self.seg_to_group: dict[str, str] = {}
        for group, ids in o.redefine_segment_id_map.items():
            for i in ids:
                self.seg_to_group[i] = group
        for name in [*self.children, *self.parent]:
            if name not in o.redefine_segment_id_map:
                raise OptionError(f"segment-children names {name}, which has no redefine_segment_id_map entry")
        self.paths: dict[str, list[str]] = {}
        self.cols: dict[str, Col] = {}

        def walk(cols: list[Col], path: list[str]) -> None:
            for c in cols:
                key = _norm(c.node.name)
                self.paths[key] = [*path, c.name]
                self.cols[key] = c
                if c.is_group:
                    walk(c.children, [*path, c.name])

        walk(reader.decoder.cols, [])

    def child_type(self, name: str) -> pa.DataType:
        col = self.cols[name]
        fields = [f for f in col.type if _norm(f.name) not in self.parent]
        for child in self.children.get(name, []):
            fields.append(pa.field(self.cols[child].name, pa.list_(self.child_type(child))))
        return pa.struct(fields)


def hierarchical_schema(reader: SegmentReader) -> pa.Schema:
    tree = _Tree(reader)
    flat = reader.decoder.schema

    def rebuild(typ: pa.DataType, name: str) -> pa.DataType:
        key = _norm(name)
        if key in tree.children:
            return tree.child_type(key)
        if pa.types.is_struct(typ):
            return pa.struct(
                [pa.field(f.name, rebuild(f.type, f.name)) for f in typ if _norm(f.name) not in tree.parent]
            )
        return typ

    return pa.schema([pa.field(f.name, rebuild(f.type, f.name)) for f in flat if _norm(f.name) not in tree.parent])


def hierarchical_batches(reader: SegmentReader, chunks: Iterator[Chunk]) -> Iterator[pa.RecordBatch]:
    tree = _Tree(reader)
    schema = hierarchical_schema(reader)
    gen_id = reader.opts.generate_record_id
    current: dict[str, Any] | None = None
    current_file = -1
    group_len = 0
    open_parents: dict[str, dict[str, Any]] = {}
    out: list[dict[str, Any]] = []
    last_record = 0

    def close(next_record_id: int) -> None:
        nonlocal current
        if current is not None:
            if gen_id:
                current["Record_Id"] = next_record_id
                current["Record_Byte_Length"] = group_len
            out.append(current)
        current = None

    for chunk in chunks:
        if chunk.file_id != current_file:
            close(last_record)
            current_file = chunk.file_id
            open_parents = {}
        for lo in range(0, len(chunk), reader.opts.batch_rows):
            hi = min(len(chunk), lo + reader.opts.batch_rows)
            mat, lengths = reader.record_matrix(chunk, lo, hi)
            batch = reader.decode_rows(chunk, lo, hi, mat, lengths)
            if batch is None:
                continue
            seg = reader.segment_values(mat, lengths)
            segs = pc.utf8_trim_whitespace(seg).to_pylist() if seg is not None else [None] * batch.num_rows
            rec_ids = chunk.record_ids[lo:hi].tolist()
            for row, s, rid, length in zip(batch.to_pylist(), segs, rec_ids, lengths.tolist()):
                last_record = rid + 1
                group = tree.seg_to_group.get(s or "")
                if group is None:
                    continue
                if group not in tree.parent:  # a root segment
                    close(rid)
                    current = _strip(row, tree)
                    group_len = int(length)
                    open_parents = {group: _at(current, tree.paths[group])}
                    for child in tree.children.get(group, []):
                        open_parents[group].setdefault(tree.cols[child].name, [])
                    continue
                parent = tree.parent[group]
                holder = open_parents.get(parent)
                if current is None or holder is None:
                    continue  # a child before any parent: nothing to attach it to
                value = _at(row, tree.paths[group]) or {}
                value = {k: v for k, v in value.items()}
                for child in tree.children.get(group, []):
                    value[tree.cols[child].name] = []
                holder.setdefault(tree.cols[group].name, []).append(value)
                open_parents[group] = value
                for deeper in _descendants(tree, group):
                    open_parents.pop(deeper, None)
                group_len += int(length)
            if len(out) >= reader.opts.batch_rows:
                yield pa.RecordBatch.from_pylist(out, schema=schema)
                out = []
    close(last_record)
    if out:
        yield pa.RecordBatch.from_pylist(out, schema=schema)


def _descendants(tree: _Tree, group: str) -> list[str]:
    out: list[str] = []
    for c in tree.children.get(group, []):
        out += [c, *_descendants(tree, c)]
    return out


def _at(row: dict[str, Any], path: list[str]) -> Any:
    cur: Any = row
    for p in path:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(p)
    return cur


def _strip(row: dict[str, Any], tree: _Tree) -> dict[str, Any]:
    """The root record's row without the child segment groups (they are rebuilt as arrays)."""
    children = {tree.cols[c].name for c in tree.parent}

    def clean(d: dict[str, Any]) -> dict[str, Any]:
        return {k: (clean(v) if isinstance(v, dict) else v) for k, v in d.items() if k not in children}

    return clean(row)
