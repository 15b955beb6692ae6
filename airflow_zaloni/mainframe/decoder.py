"""Records -> Arrow: the Spark schema Cobrix would produce, and column-wise decoding of a batch of records.

A batch is a 2-D byte matrix (records x record width). Each primitive field is a column slice of it decoded by one
vectorised kernel; OCCURS become list arrays whose elements are the rows of a reshaped slice; groups become struct
arrays. OCCURS DEPENDING ON cuts each list to the counter's value (read from the same batch, column-wise too).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from airflow_zaloni.mainframe import kernels as K
from airflow_zaloni.mainframe.codepages import CodePage, ascii_page, code_page
from airflow_zaloni.mainframe.copybook import (
    BINARY,
    BINARY_LE,
    DISPLAY,
    DOUBLE,
    PACKED,
    PACKED_UNSIGNED,
    Copybook,
    Group,
    Node,
    Primitive,
    _norm,
)
from airflow_zaloni.mainframe.errors import CopybookError, DecodeError, OptionError
from airflow_zaloni.mainframe.options import CODE_PAGE_CLASSES, ReaderOptions

#: Upper bound of bytes in one record matrix (and of the temporaries of a kernel, a few times this).
MATRIX_BYTES = 8 * 1024 * 1024

#: Largest record a copybook may describe (every OCCURS at its maximum). Real layouts stay far below (a V record
#: holds at most 32,756 bytes); a larger one is a copybook error rather than gigabytes of buffers and MemoryError.
MAX_RECORD_BYTES = 64 * 1024 * 1024


#: A segment's REDEFINES held by fewer than this fraction of a batch's records is decoded from those records only
#: (gathered into a compact matrix, then spread back with nulls); a more common one is decoded for every record and
#: the others masked to null.
SUBSET_FRACTION = 0.7


@dataclass
class Rows:
    """The bytes of a set of struct instances (records, or array elements): a 2-D matrix, one row each.

    Fixed-length records are a zero-copy strided view of the input; variable-length records are gathered into one
    matrix per batch (:meth:`RecordDecoder.record_rows`). Each field is then a column slice.
    """

    src: np.ndarray
    #: (buffer, start of each row in it) when the rows were gathered from a buffer: a segment's REDEFINES is then
    #: gathered from there (the matrix holds only the bytes every record shares, see ``RecordDecoder.shared_width``).
    source: tuple[np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return int(self.src.shape[0])

    def cols(self, off: int, size: int) -> np.ndarray:
        """The (rows x size) bytes at ``off`` of every row."""
        return self.src[:, off : off + size]

    def shift(self, off: int, size: int) -> Rows:
        """The rows of a child struct at ``off`` (``size`` bytes)."""
        return Rows(self.src[:, off : off + size])

    def take(self, rows: np.ndarray) -> Rows:
        source = (self.source[0], self.source[1][rows]) if self.source is not None else None
        return Rows(self.src[rows], source)

    def gather(self, rows: np.ndarray, off: int, size: int) -> np.ndarray:
        """The ``size`` bytes at ``off`` of the given rows, as a compact matrix.

        Gathered one byte wider where there is one (then cut back by a view): a kernel that reads a field one byte
        past its end (odd-width text) then reads the last field of the matrix through a view, not a copy.
        """
        if self.source is None:
            wide = min(size + 1, self.src.shape[1] - off)
            return self.src[rows, off : off + wide][:, :size]
        buf, starts = self.source
        at = np.take(starts, rows)  # a copy, whatever ``rows`` is: shifted in place
        at += off
        return gather_windows(buf, at, size + 1)[:, :size]

    def elements(self, off: int, count: int, size: int) -> Rows:
        """``count`` elements of ``size`` bytes at ``off`` of every row, row-major (rows x count rows)."""
        m = len(self)
        if size == 0:
            return Rows(np.zeros((m * count, 0), np.uint8))
        sub = self.src[:, off : off + count * size]
        return Rows(np.ascontiguousarray(sub).reshape(m * count, size))


@dataclass(eq=False)
class Col:
    """An output column: a copybook field that is kept, with its Arrow type."""

    node: Node
    name: str
    children: list[Col] = field(default_factory=list)
    type: pa.DataType = field(default_factory=pa.null)  # element type (lists wrap it)
    nt: bool = False  # emit <NAME>_NT after this group
    base: int = 0  # offset of the node's parent in the rows it is decoded from (a collapsed top-level record's)

    @property
    def is_group(self) -> bool:
        return isinstance(self.node, Group)

    @property
    def offset(self) -> int:
        """Offset of the field in the rows of its level."""
        return self.base + self.node.offset


def primitive_type(p: Primitive, opts: ReaderOptions) -> pa.DataType:
    """Cobrix's Spark type of a primitive field."""
    if p.kind in ("alnum", "national"):
        return pa.string()
    if p.kind == "float":
        return pa.float64() if p.usage == DOUBLE else pa.float32()
    if p.usage == DISPLAY and opts.display_pic_always_string:
        return pa.string()
    if not p.has_point_or_p:
        if opts.strict_integral_precision:
            return pa.decimal128(max(1, p.digits), 0)
        d = p.digits
        if p.usage in (BINARY, BINARY_LE) and not p.signed:
            if d == 9:
                return pa.int64()
            if d == 18:
                return pa.decimal128(20, 0)
        if d <= 9:
            return pa.int32()
        if d <= 18:
            return pa.int64()
        return pa.decimal128(d, 0)
    precision = max(p.precision, p.scale, 1)
    return pa.decimal128(min(precision, 38), p.scale)


def _wrap(typ: pa.DataType, node: Node) -> pa.DataType:
    return pa.list_(typ) if node.is_array else typ


@dataclass
class _Ctx:
    """Rows of one struct level: record rows at the top, array elements below."""

    rows: Rows  # the bytes of each struct instance
    avail: np.ndarray  # bytes of the struct present in the record (shorter records)
    valid: np.ndarray  # the struct instance is not null
    rec: np.ndarray  # row -> record row of the batch
    node: Group | None  # the group this level is an instance of (None: the record)
    parent: _Ctx | None = None
    parent_rows: np.ndarray | None = None  # row -> row of parent
    suffix: np.ndarray | None = None  # "[i]" labels for corrupt-field names (object array) when tracked
    counters: dict[int, np.ndarray] = field(default_factory=dict)
    _least_avail: int | None = field(default=None, repr=False)
    _all_valid: bool | None = field(default=None, repr=False)

    def least_avail(self) -> int:
        """The fewest bytes of the struct any row holds, computed once per level: most fields then lie within every
        row and need no per-row test."""
        if self._least_avail is None:
            self._least_avail = int(self.avail.min()) if len(self.avail) else 0
        return self._least_avail

    def all_valid(self) -> bool:
        """No row of the level is null (computed once per level)."""
        if self._all_valid is None:
            self._all_valid = bool(self.valid.all())
        return self._all_valid


class _Corrupt:
    """Collects (record row, field name, raw bytes) of values that could not be decoded."""

    def __init__(self) -> None:
        self.rows: list[np.ndarray] = []
        self.names: list[Any] = []
        self.raws: list[np.ndarray] = []

    def add(self, rows: np.ndarray, name: str, suffix: np.ndarray | None, raw: np.ndarray) -> None:
        self.rows.append(rows)
        self.names.append((name, suffix))
        self.raws.append(raw)


class RecordDecoder:
    """Decodes batches of records of one copybook with one set of options."""

    def __init__(self, copybook: Copybook, opts: ReaderOptions) -> None:
        self.copybook = copybook
        self.opts = opts
        self.ebcdic = opts.encoding == "ebcdic"
        self.page = self._page()
        self.trim = opts.string_trimming_policy
        self.record_size = copybook.record_size
        if self.record_size > MAX_RECORD_BYTES:
            raise CopybookError(
                f"the copybook describes records of {self.record_size:,} bytes (every OCCURS at its maximum); at "
                f"most {MAX_RECORD_BYTES:,} bytes are supported"
            )
        self.cols = self._columns()
        self.segment_node = self._segment_node()
        self.segment_maps = {k: v for k, v in opts.redefine_segment_id_map.items()}
        self._check_segment_maps()
        #: The segment ids of each node that is a segment's REDEFINES (by node: looked up per column and batch).
        self._segment_ids_of = {
            id(n): self.segment_maps[_norm(n.name)] for n in copybook.walk() if _norm(n.name) in self.segment_maps
        }
        self.prefix_cols = self._generated_fields()
        self.shared_width = self._shared_width()

    # -- schema ------------------------------------------------------------------------------------------------

    def _page(self) -> CodePage:
        o = self.opts
        if o.encoding == "ascii":
            return (
                ascii_page(o.ascii_charset)
                if o.ascii_charset and not _is_utf8(o.ascii_charset)
                else code_page("common")
            )
        if o.ebcdic_code_page_class:
            name = CODE_PAGE_CLASSES.get(o.ebcdic_code_page_class, o.ebcdic_code_page_class)
            try:
                return code_page(name)
            except OptionError:
                raise OptionError(
                    f"ebcdic_code_page_class {o.ebcdic_code_page_class!r} is not registered; register its table with "
                    f"airflow_zaloni.mainframe.codepages.register()"
                ) from None
        return code_page(o.ebcdic_code_page)

    def _columns(self) -> list[Col]:
        opts = self.opts
        nt_names = {_norm(n) for n in opts.non_terminals}
        counters = {"group": 0, "value": 0}
        prev_name = [""]

        def build(node: Node) -> Col | None:
            if node.is_filler:
                if opts.filler_naming_policy == "previous_field_name":
                    name = f"FILLER_AFTER_{prev_name[0]}"
                elif isinstance(node, Group):
                    counters["group"] += 1
                    name = f"FILLER_{counters['group']}"
                else:
                    counters["value"] += 1
                    name = f"FILLER_P{counters['value']}"
            else:
                name = node.name.replace("-", "_")
            node.column_name = name
            prev_name[0] = name
            if isinstance(node, Group):
                kids = [c for c in (build(ch) for ch in node.children) if c is not None]
                if node.is_filler and opts.drop_group_fillers:
                    return None
                if not kids:
                    return None
                col = Col(node, name, kids, nt=_norm(node.name) in nt_names)
                col.type = pa.struct([pa.field(n, t) for n, t in self._fields_of(kids)])
                return col
            assert isinstance(node, Primitive)
            if node.is_filler and opts.drop_value_fillers:
                return None
            return Col(node, name, type=primitive_type(node, opts))

        roots = [c for c in (build(r) for r in self.copybook.roots) if c is not None]
        if not roots:
            raise CopybookError("every field of the copybook is a FILLER that the options drop")
        # Cobrix: a copybook with an elementary item at the top level is "flat" (its top-level items are the
        # columns); otherwise collapse_root lists the fields of every record, keep_original keeps each record.
        flat = any(isinstance(r, Primitive) for r in self.copybook.roots)
        if flat or opts.schema_retention_policy != "collapse_root":
            return roots
        cols: list[Col] = []
        for root in roots:
            for child in root.children:
                child.base = root.node.offset
                cols.append(child)
        seen: dict[str, Col] = {}
        for col in cols:
            key = col.name.upper()
            if key in seen:
                first = seen[key].node.parent
                raise CopybookError(
                    f"records {first.name if first else '?'} and {col.node.parent.name if col.node.parent else '?'} "
                    f"both have a field {col.name}: with schema_retention_policy=collapse_root they would be two "
                    f"columns of one name (Cobrix's Spark schema would hold both and could not be written); use "
                    f"schema_retention_policy=keep_original",
                    line=col.node.line,
                    column=col.node.column,
                )
            seen[key] = col
        return cols

    def _fields_of(self, cols: list[Col]) -> list[tuple[str, pa.DataType]]:
        out: list[tuple[str, pa.DataType]] = []
        debug = self.opts.debug
        for c in cols:
            out.append((c.name, _wrap(c.type, c.node)))
            if not c.is_group and debug != "none":
                dt = pa.binary() if debug == "raw" else pa.string()
                out.append((f"{c.name}_debug", _wrap(dt, c.node)))
            if c.is_group and c.nt:
                out.append((f"{c.name}_NT", _wrap(pa.string(), c.node)))
        return out

    def _generated_fields(self) -> list[tuple[str, pa.DataType]]:
        out: list[tuple[str, pa.DataType]] = []
        if self.opts.generate_record_id:
            out += [("File_Id", pa.int32()), ("Record_Id", pa.int64()), ("Record_Byte_Length", pa.int32())]
        if self.opts.generate_record_bytes:
            out.append(("Record_Bytes", pa.binary()))
        for i in range(len(self.opts.segment_id_levels)):
            out.append((f"Seg_Id{i}", pa.string()))
        return out

    @functools.cached_property
    def schema(self) -> pa.Schema:
        """The batches' schema (made once: every batch is assembled against it)."""
        fields = [pa.field(n, t) for n, t in self.prefix_cols]
        fields += [pa.field(n, t) for n, t in self._fields_of(self.cols)]
        if self.opts.generate_corrupt_fields:
            raw_type = pa.string() if self.opts.binary_as_hex else pa.binary()
            entry = pa.struct([pa.field("field_name", pa.string(), False), pa.field("raw_value", raw_type, False)])
            fields.append(pa.field("_corrupt_fields", pa.list_(pa.field("item", entry, False))))
        return pa.schema(fields)

    def _segment_node(self) -> Primitive | None:
        if not self.opts.segment_field:
            return None
        node = self.copybook.find(self.opts.segment_field)
        if not isinstance(node, Primitive) or _in_array(node):
            raise OptionError(f"segment_field {self.opts.segment_field} must be an elementary field outside OCCURS")
        return node

    def _is_segment_redefine(self, col: Col) -> bool:
        return self.segment_node is not None and _norm(col.node.name) in self.segment_maps

    def _shared_width(self) -> int:
        """Bytes of a variable-length record that its row of the batch matrix holds: up to the end of the segment
        field and of the last top-level field that is not a segment's REDEFINES (those are gathered per segment)."""
        if self.segment_node is None or not any(self._is_segment_redefine(c) for c in self.cols):
            return self.record_size
        if any(n.depending_field is not None for n in self.copybook.walk()):
            return self.record_size  # an OCCURS counter may be read from any level: keep whole records
        ends = [self.absolute_offset(self.segment_node) + self.segment_node.size]
        for col in self.cols:
            if not self._is_segment_redefine(col):
                ends.append(col.offset + col.node.size * (col.node.occurs or 1))
        return min(self.record_size, max(ends))

    def _check_segment_maps(self) -> None:
        names = {_norm(n.name) for n in self.copybook.walk()}
        for group in self.segment_maps:
            if group not in names:
                raise OptionError(f"redefine_segment_id_map names {group}, which is not a field of the copybook")

    # -- helpers -----------------------------------------------------------------------------------------------

    def absolute_offset(self, node: Node, base: Group | None = None) -> int:
        """Offset of ``node`` from the start of ``base`` (the record when None); no OCCURS may lie between."""
        off = 0
        cur: Node | None = node
        while cur is not None and cur is not base:
            if cur is not node and cur.is_array:
                raise DecodeError(f"field {node.name} lies inside the OCCURS {cur.name}")
            off += cur.offset
            cur = cur.parent
        if base is not None and cur is not base:
            raise DecodeError(f"field {node.name} is not inside {base.name}")
        return off

    def decode_primitive(
        self, p: Primitive, mat: np.ndarray, typ: pa.DataType, mask: np.ndarray | None = None
    ) -> tuple[pa.Array, np.ndarray]:
        """Decode one field column; returns the Arrow array and the rows whose bytes are corrupt.

        :param mask: rows that hold this field; the others are null and never corrupt.
        """
        m = mat.shape[0]
        none = np.zeros(m, dtype=bool)
        o = self.opts
        nulls = o.improved_null_detection
        if p.kind == "alnum" or (typ == pa.string() and p.kind == "numeric"):
            if self.ebcdic:
                return K.decode_text(mat, self.page, self.trim, nulls, mask=mask), none
            if self.page.name == "common":
                return K.decode_utf8_text(mat, self.trim, nulls, mask=mask), none
            return K.decode_text(mat, self.page, self.trim, nulls, drop=_ASCII_CONTROLS, mask=mask), none
        if p.kind == "national":
            return K.decode_national(mat, o.is_utf16_big_endian, self.trim, nulls, mask=mask), none
        if p.kind == "float":
            values = K.decode_float(mat, double=p.usage == DOUBLE, fmt=o.floating_point_format)
            return K.np_array(values, valid=mask), none
        if p.usage == DISPLAY:
            nums = K.decode_zoned(
                mat,
                ebcdic=self.ebcdic,
                signed=p.signed,
                sign_leading=p.sign_leading,
                sign_separate=p.sign_separate,
                explicit_point=p.explicit_point,
                grouping=p.grouping,
                scale=p.scale,
                strict_overpunch=o.strict_sign_overpunching,
                mask=mask,
            )
        elif p.usage in (PACKED, PACKED_UNSIGNED):
            nums = K.decode_packed(mat, has_sign=p.usage == PACKED)
        else:
            nums = K.decode_binary(mat, signed=p.signed, little_endian=p.usage == BINARY_LE)
        if mask is not None:
            nums.valid &= mask
            nums.corrupt &= mask
        arr, _over = K.integers_to_arrow(nums, typ, p.scale_factor)
        return arr, nums.corrupt

    # -- batch decoding ----------------------------------------------------------------------------------------

    def record_rows(self, buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray, stride: int | None) -> Rows:
        """The records' bytes as a matrix: a zero-copy view for evenly spaced records, else one gather."""
        n = len(starts)
        w = self.record_size
        evenly = stride is not None and n and w <= stride and int(starts[0]) + (n - 1) * stride + w <= len(buf)
        if evenly and np.all(lengths >= w):
            first = int(starts[0])
            assert stride is not None
            return Rows(np.lib.stride_tricks.as_strided(buf[first:], shape=(n, w), strides=(stride, 1)))
        # One gather of every record's window into a matrix (one memcpy per record), after which each field is a
        # strided slice as for fixed-length records. Bytes past a record's own length belong to the next record: the
        # decoder never reads them, every field checks the record's length (``avail``). With segment REDEFINES only
        # the bytes every record shares are gathered here; each segment's own bytes are gathered for its records.
        # One byte wider, cut back by a view (see Rows.gather), unless one byte is shared (a segment id): a 1-byte
        # window is copied as a byte, several times faster than an item of any other width.
        pad = 1 if self.shared_width > 1 else 0
        mat = gather_windows(buf, starts, self.shared_width + pad)[:, : self.shared_width]
        return Rows(mat, (buf, starts) if self.shared_width < w else None)

    def decode_matrix(
        self,
        mat: np.ndarray | Rows,
        lengths: np.ndarray,
        prefix: list[pa.Array],
        *,
        corrupt_context: dict[str, Any] | None = None,
        segment_values: pa.Array | None = None,
    ) -> pa.RecordBatch:
        rows = mat if isinstance(mat, Rows) else Rows(mat)
        m = len(rows)
        track = self.opts.generate_corrupt_fields or self.opts.corrupt_policy == "error"
        ctx = _Ctx(
            rows=rows,
            avail=np.minimum(lengths, self.record_size).astype(np.int64),
            valid=np.ones(m, dtype=bool),
            rec=np.arange(m, dtype=np.int64),
            node=None,
            suffix=np.full(m, "", dtype=object) if track else None,
        )
        self._segment_values = segment_values
        self._segment_codes: K.Codes | None = None
        self._top_rec = ctx.rec
        corrupt = _Corrupt() if track else None
        arrays = self._decode_level(self.cols, ctx, corrupt)
        arrays = prefix + arrays
        if corrupt is not None and corrupt.rows and self.opts.corrupt_policy == "error":
            self._raise_corrupt(corrupt, corrupt_context or {})
        if self.opts.generate_corrupt_fields:
            arrays.append(self._corrupt_column(m, corrupt))
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    def segment_codes(self) -> K.Codes:
        """The segment ids of the batch being decoded, dictionary-encoded once for every test and count."""
        assert self._segment_values is not None
        if self._segment_codes is None:
            self._segment_codes = K.Codes(self._segment_values)
        return self._segment_codes

    def _raise_corrupt(self, corrupt: _Corrupt, where: dict[str, Any]) -> None:
        first = min(range(len(corrupt.rows)), key=lambda i: int(corrupt.rows[i].min()))
        row = int(corrupt.rows[first].min())
        k = int(np.flatnonzero(corrupt.rows[first] == row)[0])
        name, suffix = corrupt.names[first]
        label = name + (suffix[k] if suffix is not None else "")
        raw = bytes(corrupt.raws[first][k])
        node = self._field_by_column(name)
        rec_ids = where.get("record_ids")
        offsets = where.get("file_offsets")
        rel = self.absolute_offset_safe(node)
        raise DecodeError(
            f"corrupt value {raw.hex(' ').upper()} (policy corrupt_policy=error)",
            file=where.get("file"),
            record=int(rec_ids[row]) if rec_ids is not None else row,
            offset=(int(offsets[row]) + rel) if offsets is not None and rel is not None else None,
            field=label,
        )

    def _field_by_column(self, name: str) -> Node | None:
        for n in self.copybook.walk():
            if n.column_name == name:
                return n
        return None

    def absolute_offset_safe(self, node: Node | None) -> int | None:
        if node is None:
            return None
        off = 0
        cur: Node | None = node
        while cur is not None:
            off += cur.offset
            cur = cur.parent
        return off

    def _corrupt_column(self, m: int, corrupt: _Corrupt | None) -> pa.Array:
        raw_type = pa.string() if self.opts.binary_as_hex else pa.binary()
        entry = pa.struct([pa.field("field_name", pa.string(), False), pa.field("raw_value", raw_type, False)])
        typ = pa.list_(pa.field("item", entry, False))
        if corrupt is None or not corrupt.rows:
            return pa.ListArray.from_arrays(K.np_array(np.zeros(m + 1, dtype=np.int32)), pa.nulls(0, entry)).cast(typ)
        rows = np.concatenate(corrupt.rows)
        names: list[str] = []
        raws: list[Any] = []
        for (name, suffix), r, raw in zip(corrupt.names, corrupt.rows, corrupt.raws):
            for k in range(len(r)):
                names.append(name + (suffix[k] if suffix is not None else ""))
                b = bytes(raw[k])
                raws.append(b.hex().upper() if self.opts.binary_as_hex else b)
        order = np.argsort(rows, kind="stable")
        counts = np.bincount(rows, minlength=m)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
        values = pa.StructArray.from_arrays(
            [
                K.str_array([names[i] for i in order]),
                K.str_array([raws[i] for i in order], binary=raw_type == pa.binary()),
            ],
            fields=list(entry),
        )
        return pa.ListArray.from_arrays(K.np_array(offsets), values, type=typ)

    def _counts(self, arr_node: Node, ctx: _Ctx) -> np.ndarray:
        """Element counts of an OCCURS DEPENDING ON for each row of ``ctx``."""
        counter = arr_node.depending_field
        assert counter is not None
        mapping = self.opts.occurs_mappings.get(_norm(arr_node.name))
        # Find the nearest level whose struct holds the counter outside any OCCURS.
        level: _Ctx | None = ctx
        rows = np.arange(len(ctx.rec))
        while level is not None:
            try:
                off = self.absolute_offset(counter, level.node)
                break
            except DecodeError:
                if level.parent is None or level.parent_rows is None:
                    level = None
                    break
                rows = level.parent_rows[rows]
                level = level.parent
        if level is None:
            raise DecodeError(f"cannot locate the counter {counter.name} of OCCURS {arr_node.name}")
        key = id(arr_node)  # per array: two arrays may read one counter through different occurs_mappings
        if key not in level.counters:
            sub = level.rows.cols(off, counter.size)
            if mapping is not None or counter.kind != "numeric":
                if mapping is None:
                    raise OptionError(
                        f"OCCURS {arr_node.name} DEPENDING ON the non-numeric {counter.name} needs occurs_mappings"
                    )
                text = self.decode_primitive(counter, sub, pa.string())[0]
                keys = list(mapping)
                idx = K.int_values(pc.index_in(text, value_set=K.str_array(keys)), len(keys))
                vals = np.array([mapping[k] for k in keys] + [0], dtype=np.int64)
                counts = vals[idx]
            else:
                typ = pa.int64() if counter.digits <= 18 else primitive_type(counter, self.opts)
                arr, _ = self.decode_primitive(counter, sub, typ)
                if pa.types.is_decimal(arr.type):
                    arr = arr.cast(pa.int64(), safe=False)
                counts = K.int_values(arr, arr_node.occurs or 0)
            level.counters[key] = np.clip(counts, 0, arr_node.occurs or 0)
        return level.counters[key][rows]

    def _decode_level(self, cols: list[Col], ctx: _Ctx, corrupt: _Corrupt | None) -> list[pa.Array]:
        out: list[pa.Array] = []
        debug = self.opts.debug
        for col in cols:
            node = col.node
            valid = ctx.valid
            segment_ids = self._segment_ids_of.get(id(node))
            if segment_ids is not None and self._segment_values is not None:
                match = self.segment_codes().isin(segment_ids)
                if ctx.rec is not self._top_rec:
                    match = match[ctx.rec]
                valid = match if ctx.all_valid() else valid & match
            if node.is_array:
                arrays = self._decode_array(col, ctx, valid, corrupt)
            elif (ctx.rows.source is not None and segment_ids is not None) or (
                valid is not ctx.valid and np.count_nonzero(valid) < len(valid) * SUBSET_FRACTION
            ):
                # A segment's redefine that under 70% of the rows carry: decode only those rows (the others hold
                # other data); a more common one is decoded for all rows, the others masked to null.
                arrays = self._decode_rows_subset(col, ctx, valid, corrupt)
            else:
                sub_ctx = ctx if valid is ctx.valid else _replace_valid(ctx, valid)
                arrays = self._decode_one(col, sub_ctx, col.offset, corrupt)
            out.append(arrays[0])
            if not col.is_group and debug != "none":
                out.append(arrays[1])
            if col.is_group and col.nt:
                out.append(arrays[-1])
        return out

    def _decode_rows_subset(self, col: Col, ctx: _Ctx, valid: np.ndarray, corrupt: _Corrupt | None) -> list[pa.Array]:
        rows = np.flatnonzero(valid)
        off = col.offset
        node = col.node
        # Only this field's own bytes of those rows: a compact matrix, which its column passes read from cache. At
        # this level the field is the whole row: its group is the node (OCCURS counters are then looked up in it,
        # else above it).
        sub = _Ctx(
            rows=Rows(ctx.rows.gather(rows, off, node.size)),
            avail=ctx.avail[rows] - off,
            valid=np.ones(len(rows), dtype=bool),
            rec=rows if ctx.rec is self._top_rec else ctx.rec[rows],
            node=node if isinstance(node, Group) else ctx.node,
            parent=ctx,
            parent_rows=rows,
            suffix=ctx.suffix[rows] if ctx.suffix is not None else None,
        )
        arrays = self._decode_one(col, sub, 0, corrupt)
        if len(rows) == len(valid):
            return arrays
        # Spread back: rows without the segment get null.
        spread = Spread.of_mask(valid)
        return [expand(a, rows, len(valid), spread) for a in arrays]

    def _decode_one(self, col: Col, ctx: _Ctx, off: int, corrupt: _Corrupt | None) -> list[pa.Array]:
        node = col.node
        size = node.size
        m = len(ctx.rec)
        if isinstance(node, Group):
            child = _Ctx(
                rows=ctx.rows.shift(off, size),
                avail=ctx.avail - off,
                valid=ctx.valid,
                rec=ctx.rec,
                node=node,
                parent=ctx,
                parent_rows=np.arange(m),
                suffix=ctx.suffix,
            )
            arrays = self._decode_level(col.children, child, corrupt)
            struct = pa.StructArray.from_arrays(
                arrays, fields=list(col.type), mask=K.np_array(~ctx.valid) if not ctx.all_valid() else None
            )
            result = [struct]
            if col.nt:
                text = (
                    K.decode_text(child.rows.cols(0, size), self.page, self.trim, False)
                    if self.ebcdic
                    else K.decode_utf8_text(child.rows.cols(0, size), self.trim, False)
                )
                result.append(_mask(text, ctx.valid))
            return result
        assert isinstance(node, Primitive)
        mat = ctx.rows.cols(off, size)
        partial: np.ndarray | None = None
        if ctx.least_avail() >= off + size:
            keep, keep_all = ctx.valid, ctx.all_valid()  # every row holds the whole field (the usual case)
        else:
            present = ctx.avail >= off + size
            partial = ~present & (ctx.avail > off) if node.kind == "alnum" else None
            if partial is not None and partial.any():
                present = present | partial
            else:
                partial = None
            keep = present & ctx.valid
            keep_all = bool(keep.all())
        if (
            node is self.segment_node
            and ctx.rec is self._top_rec
            and self._segment_values is not None
            and col.type == pa.string()
            and keep_all
        ):
            # The segment field of every record: the reader decoded these very bytes already (as text, unmasked).
            arr, bad = self._segment_values, np.zeros(m, dtype=bool)
        else:
            arr, bad = self.decode_primitive(node, mat, col.type, None if keep_all else keep)
        if partial is not None:
            arr = self._partial_text(node, mat, ctx.avail - off, arr, partial & ctx.valid, col.type)
        result = [arr]
        if corrupt is not None:
            bad = bad & keep
            if bad.any():
                rows = np.flatnonzero(bad)
                corrupt.add(
                    ctx.rec[rows],
                    col.name,
                    ctx.suffix[rows] if ctx.suffix is not None else None,
                    np.ascontiguousarray(mat[rows]),
                )
        if self.opts.debug != "none":
            dbg = K.raw_bytes(mat) if self.opts.debug == "raw" else K.hex_strings(mat)
            result.append(_mask(dbg, keep))
        return result

    def _partial_text(
        self, node: Primitive, mat: np.ndarray, avail: np.ndarray, arr: pa.Array, partial: np.ndarray, typ: pa.DataType
    ) -> pa.Array:
        """Strings cut short by the end of a variable-length record: decode the bytes that are there."""
        rows = np.flatnonzero(partial)
        values = arr.to_pylist()
        for r in rows:
            n = int(avail[r])
            part = self.decode_primitive(node, np.ascontiguousarray(mat[r : r + 1, :n]), typ)[0]
            values[r] = part[0].as_py()
        return pa.array(values, type=typ)

    def _decode_array(self, col: Col, ctx: _Ctx, valid: np.ndarray, corrupt: _Corrupt | None) -> list[pa.Array]:
        node = col.node
        n = node.occurs or 0
        s = node.size
        o = col.offset
        m = len(ctx.rec)
        counts = self._counts(node, ctx) if node.depending_field is not None else np.full(m, n, dtype=np.int64)
        counts = np.where(valid, counts, 0)
        el_rows_src = ctx.rows.elements(o, n, s)
        idx = np.arange(n, dtype=np.int64)
        el_avail = (ctx.avail[:, None] - o - idx[None, :] * s).reshape(-1)
        el_rows = np.repeat(np.arange(m, dtype=np.int64), n)
        keep = (idx[None, :] < counts[:, None]).reshape(-1)
        suffix = None
        if ctx.suffix is not None:
            labels = np.array([f"[{i}]" for i in range(n)], dtype=object)
            suffix = (np.repeat(ctx.suffix, n) + np.tile(labels, m))[keep]
        if not keep.all():
            el_rows_src, el_avail, el_rows = el_rows_src.take(keep), el_avail[keep], el_rows[keep]
        child = _Ctx(
            rows=el_rows_src,
            avail=el_avail,
            valid=np.ones(len(el_rows), dtype=bool),
            rec=ctx.rec[el_rows],
            node=node if isinstance(node, Group) else node.parent,
            parent=ctx,
            parent_rows=el_rows,
            suffix=suffix,
        )
        if isinstance(node, Group):
            values = self._decode_one(col, child, 0, corrupt)
        else:
            # A primitive array: its elements are decoded as one column.
            child.node = ctx.node
            values = self._decode_one(col, child, 0, corrupt)
        offsets = K.np_array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32))
        mask = K.np_array(~valid) if not valid.all() else None
        return [pa.ListArray.from_arrays(offsets, v, mask=mask) for v in values]


_ASCII_CONTROLS = np.arange(256) < 0x20


def gather_windows(buf: np.ndarray, starts: np.ndarray, w: int) -> np.ndarray:
    """The ``w`` bytes at each start of ``buf`` as a (starts x w) matrix; bytes past the end of ``buf`` are zeros.

    Windows come from the buffer itself (one memcpy each); those that run past its end are then overwritten from a
    zero-padded copy of its tail (the last records of a buffer, usually a few).
    """
    n = len(starts)
    if not n or not w:
        return np.zeros((n, w), dtype=np.uint8)
    limit = len(buf) - w
    if int(starts.max()) <= limit:
        return _windows(buf, w, starts)
    past_end = starts > limit
    lo = int(starts[past_end].min())
    tail = np.concatenate([buf[lo:], np.zeros(w, dtype=np.uint8)])
    if limit < 0:  # the buffer is shorter than a window: every window comes from the padded copy
        return _windows(tail, w, starts - lo)
    mat = _windows(buf, w, np.minimum(starts, limit))
    mat[past_end] = _windows(tail, w, starts[past_end] - lo)
    return mat


def _windows(buf: np.ndarray, w: int, starts: np.ndarray) -> np.ndarray:
    """The ``w``-byte windows of ``buf`` at ``starts`` (all inside it) as a new (starts x w) matrix.

    Through a view of every window as one ``w``-byte item (row i starts at byte i): each is copied whole, 1.3-3x
    faster than picking rows of a (windows x w) byte view (np.take would first copy every window).
    """
    items = np.ndarray(shape=(len(buf) - w + 1,), dtype=f"V{w}", buffer=np.ascontiguousarray(buf), strides=(1,))
    out: np.ndarray = items[starts].view(np.uint8).reshape(len(starts), w)
    return out


def _is_utf8(charset: str) -> bool:
    return charset.strip().lower().replace("-", "").replace("_", "") in ("utf8",)


def _in_array(node: Node) -> bool:
    cur: Node | None = node
    while cur is not None:
        if cur.is_array:
            return True
        cur = cur.parent
    return False


def _replace_valid(ctx: _Ctx, valid: np.ndarray) -> _Ctx:
    return _Ctx(
        rows=ctx.rows,
        avail=ctx.avail,
        valid=valid,
        rec=ctx.rec,
        node=ctx.node,
        parent=ctx.parent,
        parent_rows=ctx.parent_rows,
        suffix=ctx.suffix,
        counters=ctx.counters,
    )


@dataclass
class Spread:
    """How the values of the rows ``rows`` (ascending) of an ``m``-row batch spread back to all ``m`` rows, computed
    once for every field of a segment."""

    m: int
    present: np.ndarray  # row i holds one of the values
    validity: tuple[pa.Buffer | None, int]  # ``present`` as an Arrow validity buffer, and its null count
    upto: np.ndarray  # values at or before row i (the end offset of row i in a spread variable-length array)
    source: np.ndarray  # the value row i takes (an earlier row's where none is present: masked null; -1: clip it)

    @classmethod
    def of(cls, rows: np.ndarray, m: int) -> Spread:
        present = np.zeros(m, dtype=bool)
        present[rows] = True
        return cls.of_mask(present)

    @classmethod
    def of_mask(cls, present: np.ndarray) -> Spread:
        """The spread of the rows where ``present`` is True."""
        upto = np.cumsum(present, dtype=np.int32)  # (booleans summed into int64 take 10x longer)
        # Indexes of the platform's width: np.take converts any other on every call (once here, not per field).
        upto_idx = upto.astype(np.intp)
        source = upto_idx - 1  # -1 before the first value: gathered with mode="clip" (the first value, masked)
        return cls(len(present), present, K.validity_buffer(present), upto_idx, source)


#: NumPy integers of each byte width: fixed-width values are gathered as integers of their width (np.take on a
#: typed array is twice as fast as picking items of an opaque ``V<width>`` type), 16-byte decimals as pairs.
_WORDS = {1: np.int8, 2: np.int16, 4: np.int32, 8: np.int64}


def expand(arr: pa.Array, rows: np.ndarray, m: int, spread: Spread | None = None) -> pa.Array:
    """An array of ``m`` rows holding ``arr``'s values at ``rows`` (ascending) and nulls elsewhere.

    Works on the buffers: fixed-width values are gathered with one NumPy take (a null row repeats a neighbour's value,
    hidden by the validity bitmap), variable-length data is reused as is (only offsets are gathered), so a segment's
    fields cost what their own rows cost.

    :param spread: from ``Spread.of(rows, m)``, shared by the fields of a segment.
    """
    if spread is None:
        spread = Spread.of(rows, m)
    if not len(arr):
        return pa.nulls(m, arr.type)
    if arr.null_count:
        valid = spread.present & np.take(K.bool_values(arr.is_valid()), spread.source, mode="clip")
        vbuf, nulls = K.validity_buffer(valid)
    else:
        vbuf, nulls = spread.validity
    typ = arr.type
    if pa.types.is_struct(typ):
        children = [expand(arr.field(i), rows, m, spread) for i in range(typ.num_fields)]
        return pa.Array.from_buffers(typ, m, [vbuf], null_count=nulls, children=children)
    if pa.types.is_string(typ) or pa.types.is_binary(typ) or pa.types.is_list(typ):
        offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset : arr.offset + len(arr) + 1]
        new_offsets = np.empty(m + 1, dtype=np.int32)
        new_offsets[0] = offsets[0]
        np.take(offsets, spread.upto, out=new_offsets[1:], mode="clip")  # (mode="raise" buffers ``out``)
        if pa.types.is_list(typ):
            return pa.ListArray.from_arrays(
                K.np_array(new_offsets), arr.values, type=typ, mask=K.np_array(~_bits(vbuf, m)) if nulls else None
            )
        return pa.Array.from_buffers(typ, m, [vbuf, pa.py_buffer(new_offsets), arr.buffers()[2]], null_count=nulls)
    if pa.types.is_decimal(typ) or pa.types.is_integer(typ) or pa.types.is_floating(typ):
        width = typ.byte_width
        raw = np.frombuffer(arr.buffers()[1], dtype=np.uint8)[arr.offset * width : (arr.offset + len(arr)) * width]
        if width == 16:
            values = np.take(raw.view(np.int64).reshape(-1, 2), spread.source, axis=0, mode="clip")  # two words
        elif width in _WORDS:
            values = np.take(raw.view(_WORDS[width]), spread.source, mode="clip")
        else:
            values = raw.view(f"V{width}")[np.maximum(spread.source, 0)]  # whole values, one copy each
        return pa.Array.from_buffers(typ, m, [vbuf, pa.py_buffer(values)], null_count=nulls)
    return arr.take(K.np_array(np.maximum(spread.source, 0), valid=spread.present))


def _bits(buf: pa.Buffer | None, m: int) -> np.ndarray:
    if buf is None:
        return np.ones(m, dtype=bool)
    return np.unpackbits(np.frombuffer(buf, dtype=np.uint8), bitorder="little")[:m].astype(bool)


def _mask(arr: pa.Array, keep: np.ndarray) -> pa.Array:
    return K.mask_nulls(arr, keep)
