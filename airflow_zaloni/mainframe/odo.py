"""Variable-size OCCURS (Cobrix's ``variable_size_occurs=true``): records only as long as their counters require.

Each record is expanded into the fixed layout (every OCCURS at its maximum size, unused elements zero) so that the
same column-wise kernels decode it. Expanding walks the copybook once per record (OCCURS DEPENDING ON makes every
record's layout different), which is slower than the fixed path but only used for this option.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

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
        mv = memoryview(buf.tobytes())
        mat = np.zeros((len(starts), self.size), dtype=np.uint8)
        for i, (s, n) in enumerate(zip(starts.tolist(), lengths.tolist())):
            row, _ = self.expand(mv, s, s + n)
            mat[i] = np.frombuffer(bytes(row), dtype=np.uint8)
        return mat, np.full(len(starts), self.size, dtype=np.int64)
