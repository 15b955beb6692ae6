"""Variable-size OCCURS (Cobrix's ``variable_size_occurs=true``): records only as long as their counters require.

Each record is expanded into the fixed layout (every OCCURS at its maximum size, unused elements zero) so that the
same column-wise kernels decode it. Records with headers (V, VB) are expanded a batch at a time, column-wise; files
without headers need each record's length before the next can be found, so that walk goes record by record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from airflow_zaloni.mainframe import kernels as K
from airflow_zaloni.mainframe.copybook import Group, Node, _norm
from airflow_zaloni.mainframe.errors import DecodeError

if TYPE_CHECKING:
    from airflow_zaloni.mainframe.decoder import RecordDecoder


class VariableOccurs:
    def __init__(self, decoder: RecordDecoder) -> None:
        self.decoder = decoder
        self.size = decoder.record_size

    def _count(self, node: Node, out: bytearray, where: dict[int, int]) -> int:
        counter = node.depending_field
        assert counter is not None
        pos = where.get(id(counter))
        if pos is None:
            raise DecodeError(f"the counter {counter.name} of OCCURS {node.name} comes after the array")
        mat = np.frombuffer(bytes(out[pos : pos + counter.size]), dtype=np.uint8).reshape(1, counter.size)
        mapping = self.decoder.opts.occurs_mappings.get(_norm(node.name))
        if mapping is not None or counter.kind != "numeric":
            text = self.decoder.decode_primitive(counter, mat, pa.string())[0][0].as_py()
            if mapping is None:
                raise DecodeError(
                    f"OCCURS {node.name} DEPENDING ON the non-numeric {counter.name} needs occurs_mappings"
                )
            value = mapping.get(text or "", 0)
        else:
            value = self.decoder.decode_primitive(counter, mat, pa.int64())[0][0].as_py()
            if value is None:
                value = node.occurs or 0
        return max(0, min(int(value), node.occurs or 0))

    def _walk(
        self, node: Node, data: memoryview, dyn: int, static: int, limit: int, out: bytearray, where: dict[int, int]
    ) -> int:
        count = 1
        if node.is_array:
            count = self._count(node, out, where) if node.depending_field is not None else (node.occurs or 0)
        for i in range(count):
            base = static + i * node.size
            if isinstance(node, Group):
                cur = dyn
                starts: dict[str, int] = {}
                for child in node.children:
                    begin = starts.get(_norm(child.redefines), cur) if child.redefines else cur
                    end = self._walk(child, data, begin, base + child.offset, limit, out, where)
                    starts[_norm(child.name)] = begin
                    cur = max(cur, end)
                dyn = cur
            else:
                take = max(0, min(node.size, limit - dyn))
                out[base : base + take] = data[dyn : dyn + take]
                where[id(node)] = base
                dyn += node.size
        return dyn

    def expand(self, data: memoryview, start: int, limit: int) -> tuple[bytearray, int]:
        out = bytearray(self.size)
        where: dict[int, int] = {}
        dyn = start
        starts: dict[str, int] = {}
        for root in self.decoder.copybook.roots:  # top-level items follow one another, like a group's fields
            begin = starts.get(_norm(root.redefines), dyn) if root.redefines else dyn
            dyn = max(dyn, self._walk(root, data, begin, root.offset, limit, out, where))
            starts[_norm(root.name)] = begin
        return out, dyn - start

    def record_length(self, data: bytes, pos: int) -> int:
        return self.expand(memoryview(data), pos, len(data))[1]

    def expand_rows(self, buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The records ``buf[starts : starts + lengths]`` expanded into the fixed layout, all records at once.

        The copybook is walked once per batch, not once per record: every record has its own read position (a
        NumPy array), fields are copied column-wise, a run of fields without OCCURS DEPENDING ON is one copy, and
        an array of fixed-size elements is one gather of ``count x size`` bytes per record.
        """
        return _Expansion(self, buf, starts, lengths).run()


class _Expansion:
    """One batch of :meth:`VariableOccurs.expand_rows`."""

    def __init__(self, owner: VariableOccurs, buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> None:
        self.decoder = owner.decoder
        self.width = owner.size
        m = len(starts)
        self.out = np.zeros((m, self.width), dtype=np.uint8)
        # A zero tail so that windows that start near the end stay in range (bytes past a record are not copied).
        self.buf = np.concatenate([np.asarray(buf, dtype=np.uint8), np.zeros(self.width + 1, dtype=np.uint8)])
        self.starts = np.asarray(starts, dtype=np.int64)
        self.end = self.starts + np.asarray(lengths, dtype=np.int64)
        self.where: dict[int, int] = {}
        self.windows: dict[int, np.ndarray] = {}

    def run(self) -> tuple[np.ndarray, np.ndarray]:
        rows = np.arange(len(self.starts))
        cur = self.starts.copy()
        begins: dict[str, np.ndarray] = {}
        for root in self.decoder.copybook.roots:  # top-level items follow one another, like a group's fields
            begin = begins.get(_norm(root.redefines), cur) if root.redefines else cur
            end = self._walk(root, rows, begin, root.offset)
            begins[_norm(root.name)] = begin
            cur = np.maximum(cur, end)
        return self.out, np.full(len(self.starts), self.width, dtype=np.int64)

    # -- copies ------------------------------------------------------------------------------------------------

    def _window(self, size: int) -> np.ndarray:
        win = self.windows.get(size)
        if win is None:
            b = self.buf
            win = np.lib.stride_tricks.as_strided(b, shape=(len(b) - size + 1, size), strides=(1, 1), writeable=False)
            self.windows[size] = win
        return win

    def _copy(self, rows: np.ndarray, pos: np.ndarray, static: int, size: int) -> None:
        """``size`` bytes of each record from its position ``pos`` to column ``static`` of the layout."""
        if size <= 0 or not len(rows):
            return
        take = np.clip(self.end[rows] - pos, 0, size)
        src = np.minimum(pos, len(self.buf) - size)
        vals = self._window(size)[src]
        if (take < size).any():  # the record ends inside the field: the rest stays zero, as in a short record
            vals = vals * (np.arange(size)[None, :] < take[:, None])
        self.out[rows, static : static + size] = vals

    def _copy_var(self, rows: np.ndarray, pos: np.ndarray, static: int, lengths: np.ndarray) -> None:
        """``lengths[i]`` bytes of record ``rows[i]`` (a different number per record) to column ``static``.

        Every record's window of the longest length is copied (one memcpy per row), then what lies past its own
        length or past the end of the record is zeroed: much cheaper than gathering byte by byte.
        """
        if not len(rows):
            return
        longest = int(lengths.max())
        if longest <= 0:
            return
        take = np.clip(np.minimum(lengths, self.end[rows] - pos), 0, None)
        vals = self._window(longest)[np.minimum(pos, len(self.buf) - longest)]
        np.multiply(vals, np.arange(longest)[None, :] < take[:, None], out=vals)
        self.out[rows, static : static + longest] = vals

    # -- the walk ----------------------------------------------------------------------------------------------

    def _walk(self, node: Node, rows: np.ndarray, pos: np.ndarray, static: int) -> np.ndarray:
        """Copy ``node`` (every element of an OCCURS) for ``rows``; returns their read positions after it."""
        if not node.is_array:
            return self._element(node, rows, pos, static)
        n = node.occurs or 0
        counts = self._counts(node, rows) if node.depending_field is not None else np.full(len(rows), n)
        if not _has_odo_inside(node):
            # Fixed-size elements: the used elements are one run of bytes, in the record as in the layout.
            self._register(node, static)
            lengths = counts * node.size
            self._copy_var(rows, pos, static, lengths)
            return pos + lengths
        pos = pos.copy()
        for i in range(n):
            sel = counts > i
            if not sel.any():
                break
            pos[sel] = self._element(node, rows[sel], pos[sel], static + i * node.size)
        return pos

    def _element(self, node: Node, rows: np.ndarray, pos: np.ndarray, static: int) -> np.ndarray:
        if not isinstance(node, Group) or not _has_odo_inside(node):
            self._register(node, static)
            self._copy(rows, pos, static, node.size)
            return pos + node.size
        cur = pos
        begins: dict[str, np.ndarray] = {}
        for child in node.children:
            begin = begins.get(_norm(child.redefines), cur) if child.redefines else cur
            end = self._walk(child, rows, begin, static + child.offset)
            begins[_norm(child.name)] = begin
            cur = np.maximum(cur, end)
        return cur

    def _register(self, node: Node, static: int) -> None:
        """Where the counters inside ``node`` (its first element) are in the layout."""
        if isinstance(node, Group):
            for child in node.children:
                self._register(child, static + child.offset)
        else:
            self.where[id(node)] = static

    def _counts(self, node: Node, rows: np.ndarray) -> np.ndarray:
        counter = node.depending_field
        assert counter is not None
        pos = self.where.get(id(counter))
        if pos is None:
            raise DecodeError(f"the counter {counter.name} of OCCURS {node.name} comes after the array")
        mat = self.out[rows, pos : pos + counter.size]
        mapping = self.decoder.opts.occurs_mappings.get(_norm(node.name))
        if mapping is not None or counter.kind != "numeric":
            if mapping is None:
                raise DecodeError(
                    f"OCCURS {node.name} DEPENDING ON the non-numeric {counter.name} needs occurs_mappings"
                )
            text = self.decoder.decode_primitive(counter, mat, pa.string())[0]
            keys = list(mapping)
            idx = K.int_values(pc.index_in(text, value_set=K.str_array(keys)), len(keys))
            values = np.array([mapping[k] for k in keys] + [0], dtype=np.int64)[idx]
        else:
            arr = self.decoder.decode_primitive(counter, mat, pa.int64())[0]
            values = K.int_values(arr, node.occurs or 0)
        return np.clip(values, 0, node.occurs or 0)


def _has_odo_inside(node: Node) -> bool:
    """``node``'s elements hold an OCCURS DEPENDING ON (so their size differs from record to record)."""
    return isinstance(node, Group) and any(d.depending_field is not None for d in node.walk())
