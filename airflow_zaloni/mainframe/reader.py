"""The public decoder: files (or bytes, or streams) + copybook + Cobrix options -> Arrow record batches."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Any, Union

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from airflow_zaloni.mainframe import kernels as K
from airflow_zaloni.mainframe.copybook import Copybook, Primitive, merge_copybooks, parse_copybook
from airflow_zaloni.mainframe.decoder import MATRIX_BYTES, RecordDecoder, Rows
from airflow_zaloni.mainframe.errors import DecodeError, OptionError
from airflow_zaloni.mainframe.framing import Chunk, Framer, open_stream
from airflow_zaloni.mainframe.options import ReaderOptions

DataInput = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, IO[bytes]]
CopybookInput = Union[str, "os.PathLike[str]", Copybook]


def load_copybook(copybook: CopybookInput | Sequence[CopybookInput], opts: ReaderOptions) -> Copybook:
    """Copybook text, a path to one, a parsed :class:`Copybook`, or a list of them (merged as Cobrix does)."""
    if isinstance(copybook, Copybook):
        return copybook
    if isinstance(copybook, (list, tuple)):
        books = [load_copybook(c, opts) for c in copybook]
        return books[0] if len(books) == 1 else merge_copybooks(books)
    text = str(copybook)
    if hasattr(copybook, "__fspath__") or ("\n" not in text and len(text) < 4096 and os.path.isfile(text)):
        with open(text, encoding="utf-8", errors="replace") as f:
            text = f.read()
    return parse_copybook(
        text, free_format=opts.free_format, comments_lbound=opts.comments_lbound, comments_ubound=opts.comments_ubound
    )


class MainframeReader:
    """Decodes one input (one or several files read as one) into record batches; keeps counters for manifests."""

    def __init__(
        self,
        copybook: CopybookInput | Sequence[CopybookInput],
        options: Mapping[str, Any] | ReaderOptions | None = None,
    ) -> None:
        self.opts = options if isinstance(options, ReaderOptions) else ReaderOptions.parse(options)
        self.copybook = load_copybook(copybook, self.opts)
        self.decoder = RecordDecoder(self.copybook, self.opts)
        self.records = 0
        self.records_per_segment: dict[str, int] = {}
        self.corrupt_values = 0
        self._variable = None
        if self.opts.variable_size_occurs and any(n.depending_field is not None for n in self.copybook.walk()):
            from airflow_zaloni.mainframe.odo import VariableOccurs

            self._variable = VariableOccurs(self.decoder)
        self._prefix = self.opts.segment_id_prefix
        if self._prefix is None:
            self._prefix = dt.datetime.now().strftime("%Y%m%d%H%M%S")

    @property
    def schema(self) -> pa.Schema:
        if self.opts.segment_children:
            from airflow_zaloni.mainframe.hierarchy import hierarchical_schema

            return hierarchical_schema(self)
        return self.decoder.schema

    def _framer(self) -> Framer:
        o = self.opts
        length_of = None
        variable = None
        if o.record_length_field and o.record_format in ("F", "FB"):
            length_of = self._length_of_field()
        if self._variable is not None and o.record_format in ("F", "FB"):
            variable = self._variable.record_length
        return Framer(
            o,
            self.copybook.record_size,
            length_of=length_of,
            variable_record=variable,
            batch_rows=o.batch_rows,
        )

    def _length_of_field(self) -> Any:
        o = self.opts
        assert o.record_length_field
        node = self.copybook.find(o.record_length_field)
        if not isinstance(node, Primitive):
            raise OptionError(f"record_length_field {o.record_length_field} must be an elementary field")
        off = self.decoder.absolute_offset(node)
        size = node.size
        mapping = o.record_length_map

        def length_of(head: bytes) -> int:
            if len(head) < off + size:
                raise DecodeError(f"the record ends before its length field {node.name}")
            mat = np.frombuffer(head[off : off + size], dtype=np.uint8).reshape(1, size)
            if mapping:
                text = self.decoder.decode_primitive(node, mat, pa.string())[0][0].as_py()
                if text not in mapping:
                    raise DecodeError(f"record_length_map has no length for {node.name} = {text!r}")
                return mapping[text]
            arr = self.decoder.decode_primitive(node, mat, pa.int64())[0]
            value = arr[0].as_py()
            if value is None:
                raise DecodeError(f"the record length field {node.name} holds {bytes(mat[0]).hex(' ')}")
            return int(value) + o.rdw_adjustment

        return length_of

    # -- iteration ---------------------------------------------------------------------------------------------

    def read(
        self,
        data: DataInput | Sequence[DataInput],
        *,
        start: int | None = None,
        end: int | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """Record batches of ``data`` (one input, or several files with ``File_Id`` = position).

        :param start: only records whose first byte (their header's, for V/VB) is at or after this file offset.
        :param end: only records that start before this file offset.
        """
        inputs = list(data) if isinstance(data, (list, tuple)) else [data]
        # Counters describe the last read (what a manifest records), not every read of this reader.
        self.records = 0
        self.records_per_segment = {}
        self.corrupt_values = 0
        if self.opts.segment_children:
            from airflow_zaloni.mainframe.hierarchy import hierarchical_batches

            yield from hierarchical_batches(self, self._chunks(inputs, start, end))
            return
        for chunk in self._chunks(inputs, start, end):
            yield from self.decode_chunk(chunk)

    def _chunks(self, inputs: list[Any], start: int | None, end: int | None) -> Iterator[Chunk]:
        framer = self._framer()
        for file_id, item in enumerate(inputs):
            stream, name = open_stream(item)
            try:
                self._seg_state: dict[str, Any] = {}
                yield from framer.frames(stream, file_id, name, start, end)
            finally:
                if stream is not item:
                    stream.close()

    def record_matrix(self, chunk: Chunk, lo: int, hi: int) -> tuple[Rows, np.ndarray]:
        """The bytes of records ``lo:hi`` of ``chunk`` and their lengths."""
        starts = chunk.starts[lo:hi]
        lengths = chunk.lengths[lo:hi]
        if self._variable is not None:
            mat, full = self._variable.expand_rows(chunk.buf, starts, lengths)
            return Rows(mat), full
        return self.decoder.record_rows(chunk.buf, starts, lengths, chunk.fixed_stride), lengths

    def decode_chunk(self, chunk: Chunk) -> Iterator[pa.RecordBatch]:
        rows_per = max(1, min(self.opts.batch_rows, MATRIX_BYTES // max(1, self.copybook.record_size)))
        for lo in range(0, len(chunk), rows_per):
            hi = min(len(chunk), lo + rows_per)
            mat, lengths = self.record_matrix(chunk, lo, hi)
            batch = self.decode_rows(chunk, lo, hi, mat, lengths)
            if batch is not None and batch.num_rows:
                yield batch

    def segment_values(self, rows: Rows, lengths: np.ndarray | None = None) -> pa.Array | None:
        node = self.decoder.segment_node
        if node is None:
            return None
        off = self.decoder.absolute_offset(node)
        values = self.decoder.decode_primitive(node, rows.cols(off, node.size), pa.string())[0]
        if lengths is not None and (lengths < off + node.size).any():
            values = _mask_np(values, lengths >= off + node.size)  # a record too short to hold the segment id
        return values

    def decode_rows(self, chunk: Chunk, lo: int, hi: int, rows: Rows, lengths: np.ndarray) -> pa.RecordBatch | None:
        o = self.opts
        seg = self.segment_values(rows, lengths)
        rec_ids = chunk.record_ids[lo:hi]
        offsets = chunk.file_offsets[lo:hi]
        blens = chunk.byte_lengths[lo:hi]
        seg_cols: list[pa.Array] = []
        kept: np.ndarray | None = None
        if seg is not None and o.segment_id_levels:
            seg_cols = self._segment_ids(seg, rec_ids, chunk.file_id)
        if seg is not None and o.segment_filter:
            keep = K.bool_values(pc.is_in(seg, value_set=K.str_array(o.segment_filter)))
            if not keep.all():
                kept = keep
                rows, lengths = rows.take(np.flatnonzero(keep)), lengths[keep]
                rec_ids, offsets, blens = rec_ids[keep], offsets[keep], blens[keep]
                seg = seg.filter(K.np_array(keep))
                seg_cols = [c.filter(K.np_array(keep)) for c in seg_cols]
        m = len(rows)
        if m == 0:
            return None
        prefix: list[pa.Array] = []
        if o.generate_record_id:
            prefix += [
                K.np_array(np.full(m, chunk.file_id, dtype=np.int32)),
                K.np_array(rec_ids.astype(np.int64)),
                K.np_array(blens.astype(np.int32)),
            ]
        if o.generate_record_bytes:
            sel = np.arange(lo, hi) if kept is None else np.arange(lo, hi)[kept]
            raw = [bytes(chunk.buf[chunk.starts[i] : chunk.starts[i] + chunk.lengths[i]]) for i in sel]
            prefix.append(K.str_array(raw, binary=True))
        prefix += seg_cols
        batch = self.decoder.decode_matrix(
            rows,
            lengths,
            prefix,
            corrupt_context={"file": chunk.file_name, "record_ids": rec_ids, "file_offsets": offsets},
            segment_values=seg,
        )
        self._count(batch, seg)
        return batch

    def _count(self, batch: pa.RecordBatch, seg: pa.Array | None) -> None:
        self.records += batch.num_rows
        if seg is not None:
            for value, count in self.decoder.segment_codes().counts().items():
                key = "" if value is None else str(value)
                self.records_per_segment[key] = self.records_per_segment.get(key, 0) + count
        if self.opts.generate_corrupt_fields:
            col = batch.column(batch.num_columns - 1)
            self.corrupt_values += int(pc.sum(pc.list_value_length(col)).as_py() or 0)

    def _segment_ids(self, seg: pa.Array, rec_ids: np.ndarray, file_id: int) -> list[pa.Array]:
        """Seg_Id0..n as Cobrix's SegmentIdAccumulator makes them, one file at a time, column-wise.

        A record of level k (its segment id is listed in segment_id_level<k>; '_' on the leaf level takes every
        segment not listed before) becomes the current level; a root (level 0) starts a new root id
        ``<prefix>_<file>_<record>`` and restarts the counters, any other level counts up. A record of no level
        keeps the current state. Seg_Id<k> is null above the current level, else the root id, then
        ``<root id>_L<k>_<count of level k since the root>``.
        """
        levels = self.opts.segment_id_levels
        n = len(levels)
        m = len(seg)
        st = self._seg_state
        lvl = np.full(m, -1, dtype=np.int64)
        for k in range(n - 1, -1, -1):
            if levels[k] == ["_"]:
                lvl[:] = k
                continue
            lvl[K.bool_values(pc.is_in(seg, value_set=K.str_array(levels[k])))] = k
        pos = np.arange(m)
        # The current level: that of the last record with a level (the carried one before any in this batch).
        last = np.maximum.accumulate(np.where(lvl >= 0, pos, -1)) if m else pos
        cur = np.where(last >= 0, lvl[np.maximum(last, 0)], st.get("level", -1))
        # The root: the last level-0 record (the carried root, or none yet, before any in this batch).
        root_pos = np.maximum.accumulate(np.where(lvl == 0, pos, -1)) if m else pos
        carried_root = st.get("root")  # record index of the root, None before the first root of the file
        root_rec = np.where(
            root_pos >= 0, rec_ids[np.maximum(root_pos, 0)], -1 if carried_root is None else carried_root
        )
        has_root = root_rec >= 0
        root_str = pc.binary_join_element_wise(
            K.repeat_string(str(self._prefix), m),
            K.repeat_string(str(file_id), m),
            pc.cast(K.np_array(root_rec.astype(np.int64)), pa.string()),
            "_",
        )
        if not has_root.all():
            root_str = pc.if_else(K.np_array(has_root), root_str, K.repeat_string("", m))
        out = [_mask_np(root_str, cur >= 0)]
        for k in range(1, n):
            c = np.cumsum(lvl == k)
            since_root = c - np.where(root_pos >= 0, c[np.maximum(root_pos, 0)], -st.get(f"c{k}", 0))
            ids = pc.binary_join_element_wise(
                root_str,
                K.repeat_string(f"L{k}", m),
                pc.cast(K.np_array(since_root.astype(np.int64)), pa.string()),
                "_",
            )
            out.append(_mask_np(ids, cur >= k))
            if m:
                st[f"c{k}"] = int(since_root[-1])
        if m:
            st["level"] = int(cur[-1])
            st["root"] = int(root_rec[-1]) if has_root[-1] else None
        return out


def _mask_np(arr: pa.Array, keep: np.ndarray) -> pa.Array:
    return K.mask_nulls(arr, keep)


def decode_file(
    data: DataInput | Sequence[DataInput],
    copybook: CopybookInput | Sequence[CopybookInput],
    options: Mapping[str, Any] | None = None,
) -> Iterator[pa.RecordBatch]:
    """Decode mainframe data to Arrow record batches, the way Cobrix reads it with the same options.

    :param data: a path, a binary file object or bytes; or a list of them, read in order as one input with
        ``File_Id`` = position. gzip and bz2 inputs are decompressed on the fly.
    :param copybook: the copybook text, a path to it, or a list of them (Cobrix's ``copybooks``).
    :param options: Cobrix reader options (names as Cobrix spells them, string values).
    :raises CopybookError: the copybook is malformed (the message names line and column).
    :raises DecodeError: the data cannot be framed or (with ``corrupt_policy=error``) decoded.
    """
    return MainframeReader(copybook, options).read(data)


def decode_range(
    path: str | os.PathLike[str],
    copybook: CopybookInput | Sequence[CopybookInput],
    options: Mapping[str, Any] | None,
    start: int,
    end: int,
) -> Iterator[pa.RecordBatch]:
    """Decode the records of one file that start in the byte range [start, end).

    Ranges that tile a file decode every record exactly once, so workers can split a big file: fixed-length files
    jump straight to the first record boundary; V/VB files scan the record descriptor words from the beginning
    (headers only, cheap compared with decoding). ``Record_Id`` stays the record's index within the whole file.
    """
    if start < 0 or end < start:
        raise ValueError(f"invalid byte range [{start}, {end})")
    return MainframeReader(copybook, options).read(path, start=start, end=end)


def split_ranges(size: int, parts: int) -> list[tuple[int, int]]:
    """Byte ranges that tile a file of ``size`` bytes into ``parts`` pieces for :func:`decode_range`."""
    parts = max(1, parts)
    step = -(-size // parts) if size else 1
    return [(i, min(size, i + step)) for i in range(0, max(size, 1), step)]


__all__ = ["MainframeReader", "decode_file", "decode_range", "load_copybook", "split_ranges"]
