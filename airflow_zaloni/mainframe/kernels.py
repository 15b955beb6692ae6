"""Vectorised field decoders: a 2-D ``uint8`` matrix (one row per record, one column per byte of the field) in,
NumPy values or an Arrow array out. No Python loop runs per record; only fields wider than 18 digits go through
Python integers (NumPy object arrays), because no NumPy integer holds them.

Numeric kernels return a :class:`Numbers` (unscaled integers, validity and a "corrupt" mask: bytes that are not a
valid value, which the decoder turns into null plus an entry in ``_corrupt_fields``, or an error).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from airflow_zaloni.mainframe.codepages import ZERO_MARK, CodePage

_POW10 = np.array([10**i for i in range(19)], dtype=np.int64)
_MASK64 = (1 << 64) - 1


@dataclass
class Numbers:
    """Unscaled integer values of one field for each row.

    ``values`` is int64, or an object array of Python ints when the field is too wide for int64. ``scale`` is the
    scale the unscaled values carry (the PIC scale unless the data placed an explicit point elsewhere: then the
    decoder rescales).
    """

    values: np.ndarray
    valid: np.ndarray
    corrupt: np.ndarray
    #: At most this many digits in any value (0: unknown), so that the Arrow conversion can skip overflow checks.
    max_digits: int = 0


def _contig(mat: np.ndarray) -> np.ndarray:
    return mat if mat.flags.c_contiguous else np.ascontiguousarray(mat)


# ---------------------------------------------------------------------------------------------------------------
# Building Arrow arrays from buffers


# Arrays are built from buffers, never with pa.array() or Python scalars: pyarrow imports pandas (half a second)
# the first time it converts Python objects, which would be most of the cost of decoding a small file.

_ARROW_TYPES = {
    np.dtype(np.int8): pa.int8(),
    np.dtype(np.int16): pa.int16(),
    np.dtype(np.int32): pa.int32(),
    np.dtype(np.int64): pa.int64(),
    np.dtype(np.uint8): pa.uint8(),
    np.dtype(np.uint16): pa.uint16(),
    np.dtype(np.uint32): pa.uint32(),
    np.dtype(np.uint64): pa.uint64(),
    np.dtype(np.float32): pa.float32(),
    np.dtype(np.float64): pa.float64(),
}


def np_array(values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """A 1-D NumPy array of numbers or booleans as an Arrow array (``valid``: False rows are null)."""
    n = len(values)
    if values.dtype == bool:
        typ: pa.DataType = pa.bool_()
        data = pa.py_buffer(np.packbits(values, bitorder="little"))
    else:
        typ = _ARROW_TYPES[values.dtype]
        data = pa.py_buffer(np.ascontiguousarray(values))
    vbuf, nulls = validity_buffer(valid)
    return pa.Array.from_buffers(typ, n, [vbuf, data], null_count=nulls)


def str_array(items: list[str] | list[bytes], binary: bool = False) -> pa.Array:
    """A (small) list of str, or of bytes with ``binary``, as an Arrow string or binary array."""
    raw = [x if isinstance(x, bytes) else x.encode("utf-8") for x in items]
    offsets = _offsets(np.fromiter((len(x) for x in raw), dtype=np.int64, count=len(raw)))
    return string_array(offsets, np.frombuffer(b"".join(raw), dtype=np.uint8), None, binary=binary)


def repeat_string(value: str, m: int) -> pa.Array:
    """``value`` ``m`` times, as an Arrow string array."""
    raw = value.encode("utf-8")
    data = np.frombuffer(raw * m, dtype=np.uint8)
    return string_array(np.arange(m + 1, dtype=np.int64) * len(raw), data, None)


def _valid_bits(arr: pa.Array) -> np.ndarray:
    n = len(arr)
    vbuf = arr.buffers()[0]
    if vbuf is None or arr.null_count == 0:
        return np.ones(n, dtype=bool)
    bits = np.unpackbits(np.frombuffer(vbuf, dtype=np.uint8), bitorder="little", count=arr.offset + n)
    return bits[arr.offset :].astype(bool)


def bool_values(arr: pa.Array) -> np.ndarray:
    """A boolean Arrow array as NumPy (nulls are False)."""
    n = len(arr)
    bits = np.unpackbits(np.frombuffer(arr.buffers()[1], dtype=np.uint8), bitorder="little", count=arr.offset + n)
    out = bits[arr.offset :].astype(bool)
    return out & _valid_bits(arr) if arr.null_count else out


def int_values(arr: pa.Array, fill: int) -> np.ndarray:
    """An integer Arrow array as NumPy int64 (nulls are ``fill``)."""
    dtype = arr.type.to_pandas_dtype()
    values = np.frombuffer(arr.buffers()[1], dtype=dtype)[arr.offset : arr.offset + len(arr)].astype(np.int64)
    return np.where(_valid_bits(arr), values, fill) if arr.null_count else values


class Codes:
    """A string column dictionary-encoded once (one hash pass), after which membership tests and counts are NumPy
    lookups: a batch's segment ids are tested once per REDEFINES group and counted, without hashing again.

    One-character ids (the common case) are not encoded at all: their bytes are their codes, a membership test is a
    comparison per wanted id and a count one ``bincount`` (no gather of an index per row).
    """

    def __init__(self, values: pa.Array) -> None:
        self._bytes: np.ndarray | None = None  # one byte per value, when every value is one ASCII character
        self._per_byte: np.ndarray | None = None  # then how many values each byte is
        self._index: np.ndarray | None = None
        if _one_byte_words(values, self):
            return
        encoded = pc.dictionary_encode(values)
        self.words: list[str | None] = encoded.dictionary.to_pylist()
        self._index = int_values(encoded.indices, len(self.words))  # null -> one past the words

    @property
    def index(self) -> np.ndarray:
        """The code of each value (its word's position in :attr:`words`; null: one past the words)."""
        if self._index is None:
            assert self._bytes is not None
            lookup = np.zeros(256, dtype=np.int64)
            lookup[[ord(w) for w in self.words if w is not None]] = np.arange(len(self.words))
            self._index = lookup[self._bytes]
        return self._index

    def isin(self, ids: list[str]) -> np.ndarray:
        wanted = set(ids)
        if self._bytes is not None:
            out = np.zeros(len(self._bytes), dtype=bool)
            for w in self.words:
                if w in wanted:
                    out |= self._bytes == ord(w)
            return out
        return np.array([w in wanted for w in self.words] + [False], dtype=bool)[self.index]

    def counts(self) -> dict[str | None, int]:
        if self._per_byte is not None:
            return {w: int(self._per_byte[ord(w)]) for w in self.words if w is not None}
        per = np.bincount(self.index, minlength=len(self.words) + 1)
        out: dict[str | None, int] = {w: int(c) for w, c in zip(self.words, per) if c}
        if per[-1]:
            out[None] = int(per[-1])
        return out


_FEW_WORDS = 16


def _one_byte_words(values: pa.Array, codes: Codes) -> bool:
    """Encode ``values`` into ``codes`` when every value is one ASCII character (one-byte segment ids, the common
    case) and there are few distinct ones: the bytes are their own codes, no hashing (a fifth of the cost). The words
    keep their order of first appearance, as a dictionary encoding gives them. False: left to the general path."""
    m = len(values)
    if not m or values.null_count or not pa.types.is_string(values.type):
        return False
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32)[values.offset : values.offset + m + 1]
    # m values of m bytes in all are each one byte exactly when none is empty.
    if int(offsets[-1]) - int(offsets[0]) != m or int(np.diff(offsets).min()) < 1:
        return False
    data = np.frombuffer(values.buffers()[2], dtype=np.uint8)[int(offsets[0]) : int(offsets[-1])]
    per_byte = np.bincount(data, minlength=256)
    present = np.flatnonzero(per_byte)
    if len(present) > _FEW_WORDS:
        return False
    codes.words = [chr(b) for b in sorted((int(b) for b in present), key=lambda b: int(np.argmax(data == b)))]
    codes._bytes = data
    codes._per_byte = per_byte
    return True


def mask_nulls(arr: pa.Array, keep: np.ndarray) -> pa.Array:
    """``arr`` with the rows outside ``keep`` made null (flat types: numbers, decimals, strings, binary)."""
    if keep.all():
        return arr
    valid = keep & _valid_bits(arr)
    vbuf, nulls = validity_buffer(valid)
    if arr.offset:
        arr = pa.concat_arrays([arr])  # rebase the buffers at offset 0
    return pa.Array.from_buffers(arr.type, len(arr), [vbuf, *arr.buffers()[1:]], null_count=nulls)


def validity_buffer(valid: np.ndarray | None) -> tuple[pa.Buffer | None, int]:
    if valid is None:
        return None, 0
    nulls = int(valid.size - np.count_nonzero(valid))
    if nulls == 0:
        return None, 0
    return pa.py_buffer(np.packbits(valid, bitorder="little")), nulls


def string_array(offsets: np.ndarray, data: np.ndarray, valid: np.ndarray | None, binary: bool = False) -> pa.Array:
    n = len(offsets) - 1
    vbuf, nulls = validity_buffer(valid)
    typ = pa.binary() if binary else pa.string()
    if offsets[-1] > 2**31 - 1:
        typ = pa.large_binary() if binary else pa.large_string()
        obuf = pa.py_buffer(offsets.astype(np.int64))
    else:
        obuf = pa.py_buffer(offsets.astype(np.int32, copy=False))
    return pa.Array.from_buffers(typ, n, [vbuf, obuf, pa.py_buffer(np.ascontiguousarray(data))], null_count=nulls)


def _offsets(lengths: np.ndarray) -> np.ndarray:
    out = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=out[1:])
    return out


# ---------------------------------------------------------------------------------------------------------------
# Strings


_JAVA_WHITESPACE = "".join(chr(i) for i in range(0x21))  # what Java's String.trim strips


def java_trim(arr: pa.Array, policy: str, ascii_only: bool = False, no_controls: bool = False) -> pa.Array:
    """Cobrix's string_trimming_policy, done by Arrow's C++ kernels (nulls stay null).

    :param ascii_only: every byte is ASCII: the byte-wise ASCII kernels give the same result three times faster.
    :param no_controls: (with ``ascii_only``) no byte below 0x20 other than ASCII whitespace: Arrow's whitespace
        trim, a little faster than a trim of a set of characters, strips the same.
    """
    if ascii_only and no_controls:
        if policy == "both":
            return pc.ascii_trim_whitespace(arr)
        if policy == "left":
            return pc.ascii_ltrim_whitespace(arr)
        if policy == "right":
            return pc.ascii_rtrim_whitespace(arr)
    if policy == "both":
        return (pc.ascii_trim if ascii_only else pc.utf8_trim)(arr, characters=_JAVA_WHITESPACE)
    if policy == "left":
        return (pc.ascii_ltrim if ascii_only else pc.utf8_ltrim)(arr, characters=_JAVA_WHITESPACE)
    if policy == "right":
        return (pc.ascii_rtrim if ascii_only else pc.utf8_rtrim)(arr, characters=_JAVA_WHITESPACE)
    return arr


def _with_mask(valid: np.ndarray | None, mask: np.ndarray | None) -> np.ndarray | None:
    if mask is None:
        return valid
    return mask if valid is None else (valid & mask)


def _nonzero_rows(mat: np.ndarray) -> np.ndarray:
    """Rows with at least one non-zero byte (an all-0x00 field is null with improved_null_detection)."""
    if mat.all():  # no zero byte at all (the usual case): a flat check is ten times cheaper than per row
        return np.ones(mat.shape[0], dtype=bool)
    return np.asarray(mat.any(axis=1), dtype=bool)


@functools.lru_cache(maxsize=64)
def _fixed_offsets(m: int, s: int) -> np.ndarray:
    """Offsets of ``m`` strings of ``s`` bytes, as Arrow stores them (int32 unless too large): no conversion per
    column. Shared by the arrays made from them, so never written to."""
    dtype = np.int32 if m * s <= 2**31 - 1 else np.int64
    out = np.arange(0, m * s + 1, s, dtype=dtype) if s else np.zeros(m + 1, dtype=dtype)
    out.flags.writeable = False
    return out


def _utf8_encode(cp: np.ndarray, keep: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Encode a (rows x chars) matrix of BMP code points to UTF-8: returns (offsets, data)."""
    cp = np.where((cp >= 0xD800) & (cp <= 0xDFFF), 0xFFFD, cp).astype(np.uint32)
    ulen = np.where(cp < 0x80, 1, np.where(cp < 0x800, 2, 3)).astype(np.int64)
    if keep is not None:
        ulen = ulen * keep
    offsets = _offsets(ulen.sum(axis=1))
    flat_len = ulen.ravel()
    flat_cp = cp.ravel()
    pos = np.cumsum(flat_len) - flat_len
    out = np.empty(int(offsets[-1]), dtype=np.uint8)
    one = flat_len == 1
    out[pos[one]] = flat_cp[one]
    two = flat_len == 2
    c2 = flat_cp[two]
    p2 = pos[two]
    out[p2] = 0xC0 | (c2 >> 6)
    out[p2 + 1] = 0x80 | (c2 & 0x3F)
    three = flat_len == 3
    c3 = flat_cp[three]
    p3 = pos[three]
    out[p3] = 0xE0 | (c3 >> 12)
    out[p3 + 1] = 0x80 | ((c3 >> 6) & 0x3F)
    out[p3 + 2] = 0x80 | (c3 & 0x3F)
    return offsets, out


def _ascii_text(
    mat: np.ndarray, page: CodePage, trim: str, null_if_zero: bool, mask: np.ndarray | None
) -> pa.Array | None:
    """:func:`decode_text` of a column whose characters are all ASCII (the usual case), or None.

    One pass over the field's bytes, two at a time through :attr:`CodePage.pair_table`, straight from the record
    matrix into the string array's data; all-zero fields and non-ASCII characters are then found by ``memchr``
    (``bytearray.find``) in the output rather than by further passes. An odd-width field is read one byte wider
    (through a view when that byte exists, else a copy), so that its rows stay two-byte pairs; the extra byte is made
    a space, which trimming on the right removes.
    """
    m, s = mat.shape
    if m == 0 or s == 0 or mat.strides[1] != 1:
        return None
    if s == 1:
        return _ascii_chars(mat, page, trim, null_if_zero, mask)
    width = s + (s & 1)
    src = mat
    if width != s:
        if trim not in ("both", "right"):
            return None
        wider = _extended(mat, 0, 1)
        if wider is None:  # the field ends its rows' memory: copy it one byte wider
            wider = np.empty((m, width), dtype=np.uint8)
            wider[:, :s] = mat
            wider[:, s] = 0x40
        src = wider
    data = bytearray(m * width)
    out = np.frombuffer(data, dtype=np.uint8).reshape(m, width)
    np.take(page.pair_table, src.view(np.uint16), out=out.view(np.uint16), mode="clip")
    if width != s:
        out[:, s] = 0x20
    ascii_only, valid = _searched(data, out, s, page, null_if_zero, mask)
    if not ascii_only:
        return None
    if trim in ("both", "left", "right"):
        # Trim only the ends where some row has whitespace (two column checks; codes and ids often have none).
        left = trim != "right" and bool((out[:, 0] <= 0x20).any())
        right = trim != "left" and bool((out[:, s - 1] <= 0x20).any())
        trim = "both" if left and right else "left" if left else "right" if right else "none"
    if width != s and trim in ("none", "left"):
        out = out[:, :s]  # the extra byte is not trimmed away: drop it (one copy, cheaper than trimming every row)
        width = s
    arr = string_array(_fixed_offsets(m, width), out.reshape(-1), _with_mask(valid, mask))
    return java_trim(arr, trim, ascii_only=True, no_controls=page.controls_are_whitespace)


def _searched(
    data: bytearray, out: np.ndarray, s: int, page: CodePage, null_if_zero: bool, mask: np.ndarray | None
) -> tuple[bool, np.ndarray | None]:
    """Search the translated text (``out``: rows x width over ``data``, ``s`` bytes of each row a field's) with
    ``memchr``: returns False when a non-ASCII character lies in a row that counts (the general path then encodes
    UTF-8), else True and the rows that are not all-zero with ``null_if_zero`` (None: every row). Rows outside
    ``mask`` (another segment's bytes under a REDEFINES) become null: they are blanked, not searched."""
    if data.find(b"\xff") >= 0:
        if mask is None:
            return False, None
        out[~mask] = 0x20
        if data.find(b"\xff") >= 0:
            return False, None
    valid = None
    if data.find(bytes([ZERO_MARK])) >= 0:
        marks = out == ZERO_MARK
        if null_if_zero:
            valid = ~marks[:, :s].all(axis=1)
        out[marks] = page.translate_table[0]
    return True, valid


def _ascii_chars(
    mat: np.ndarray, page: CodePage, trim: str, null_if_zero: bool, mask: np.ndarray | None
) -> pa.Array | None:
    """:func:`_ascii_text` of a 1-byte field (a segment id, a flag): one lookup per row through the single-byte table
    (no pairs, no odd byte to drop), then the same searches of the output."""
    m = mat.shape[0]
    data = bytearray(m)
    out = np.frombuffer(data, dtype=np.uint8).reshape(m, 1)
    np.take(page.byte_table, mat[:, 0], out=out[:, 0], mode="clip")  # (mode="raise" buffers ``out``)
    ascii_only, valid = _searched(data, out, 1, page, null_if_zero, mask)
    if not ascii_only:
        return None
    arr = string_array(_fixed_offsets(m, 1), out.reshape(-1), _with_mask(valid, mask))
    if trim in ("both", "left", "right") and bool((out <= 0x20).any()):
        return java_trim(arr, trim, ascii_only=True, no_controls=page.controls_are_whitespace)
    return arr


def _extended(mat: np.ndarray, before: int, after: int) -> np.ndarray | None:
    """A read-only view of ``mat`` widened by ``before`` bytes on the left of each row and ``after`` on the right, or
    None when a row's bytes are not adjacent or the wider rows would leave the memory ``mat`` is a view of (for a
    field of a record matrix, they are the neighbouring fields' bytes: reading them costs no copy)."""
    m, s = mat.shape
    if m == 0 or mat.strides[1] != 1 or mat.strides[0] < 0:
        return None
    root = mat
    while isinstance(root.base, np.ndarray):
        root = root.base
    if root.itemsize != 1:  # a matrix gathered as whole rows (items of a row's width): its bytes
        if not root.flags.c_contiguous:
            return None
        root = root.reshape(-1).view(np.uint8)
    if any(st < 0 for st in root.strides):
        return None
    start = root.ctypes.data
    end = start + sum((n - 1) * st for n, st in zip(root.shape, root.strides)) + root.itemsize
    first = mat.ctypes.data - before
    if first < start or first + (m - 1) * mat.strides[0] + before + s + after > end:
        return None
    shape, strides = (m, before + s + after), (mat.strides[0], 1)
    if root.flags.c_contiguous:  # a view straight onto its memory (as_strided costs a few times more per call)
        view = np.ndarray(shape, dtype=np.uint8, buffer=root, offset=first - start, strides=strides)
        view.flags.writeable = False
        return view
    span = np.lib.stride_tricks.as_strided(root, shape=(end - start,), strides=(1,), writeable=False)
    return np.lib.stride_tricks.as_strided(span[first - start :], shape=shape, strides=strides, writeable=False)


def _right_aligned(mat: np.ndarray, width: int, fill: int) -> np.ndarray:
    """Each row's bytes right-aligned in ``width`` bytes: a view reaching back into the bytes before the field when it
    can (the caller masks them), else a copy padded with ``fill``."""
    m, s = mat.shape
    wide = _extended(mat, width - s, 0)
    if wide is not None:
        return wide
    padded = np.full((m, width), fill, dtype=np.uint8)
    padded[:, width - s :] = mat
    return padded


def decode_text(
    mat: np.ndarray,
    page: CodePage,
    trim: str,
    null_if_zero: bool,
    drop: np.ndarray | None = None,
    mask: np.ndarray | None = None,
) -> pa.Array:
    """Decode single-byte text through ``page``, then trim.

    :param drop: bytes (a 256-entry bool table) removed before trimming (ASCII control characters in Cobrix).
    :param mask: rows to keep; the others become null (a segment's redefine on other segments' records).
    """
    if drop is None:
        fast = _ascii_text(mat, page, trim, null_if_zero, mask)
        if fast is not None:
            return fast
    # No contiguous copy first: tobytes() below makes the one copy the text needs.
    m, s = mat.shape
    valid = _with_mask(_nonzero_rows(mat) if (null_if_zero and s) else None, mask)
    keep = None
    if drop is not None:
        dropped = drop[mat]
        if dropped.any():
            keep = ~dropped
    raw = mat.tobytes().translate(page.translate_table)
    if page.is_ascii or raw.find(b"\xff") < 0:
        # Every character of this column is ASCII: one byte in, one byte out, offsets fixed.
        data = np.frombuffer(raw, dtype=np.uint8)
        if keep is None:
            offsets = _fixed_offsets(m, s)
        else:
            offsets = _offsets(keep.sum(axis=1))
            data = data.reshape(m, s)[keep]
        return java_trim(string_array(offsets, data, valid), trim, ascii_only=True)
    else:
        table, lengths = page.utf8
        ulen = lengths[mat]
        if keep is not None:
            ulen = ulen * keep
        offsets = _offsets(ulen.sum(axis=1, dtype=np.int64))
        data = table[mat][np.arange(3)[None, None, :] < ulen[:, :, None]]
    return java_trim(string_array(offsets, data, valid), trim)


def decode_utf8_text(mat: np.ndarray, trim: str, null_if_zero: bool, mask: np.ndarray | None = None) -> pa.Array:
    """ASCII-family text in UTF-8 (Cobrix's ASCII default): control bytes (< 0x20) removed, malformed -> U+FFFD."""
    mat = _contig(mat)
    m, s = mat.shape
    valid = _with_mask(_nonzero_rows(mat) if (null_if_zero and s) else None, mask)
    dropped = mat < 0x20
    if dropped.any():
        keep = ~dropped
        offsets = _offsets(keep.sum(axis=1))
        data = mat[keep]
    else:
        offsets = _fixed_offsets(m, s)
        data = mat.reshape(-1)
    arr = string_array(offsets, data, valid)
    ascii_only = not (data >= 0x80).any()
    if not ascii_only:
        try:
            arr.validate(full=True)
        except pa.ArrowInvalid:
            # Rare: malformed UTF-8. Decode row by row with replacement characters, as Java's decoder does.
            rows: list[str | None] = []
            for i in range(m):
                if valid is not None and not valid[i]:
                    rows.append(None)
                    continue
                rows.append(bytes(mat[i][mat[i] >= 0x20]).decode("utf-8", errors="replace"))
            arr = pa.array(rows, type=pa.string())
    return java_trim(arr, trim, ascii_only)


def decode_national(
    mat: np.ndarray, big_endian: bool, trim: str, null_if_zero: bool, mask: np.ndarray | None = None
) -> pa.Array:
    """PIC N: UTF-16 code units."""
    mat = _contig(mat)
    m, s = mat.shape
    valid = _with_mask(_nonzero_rows(mat) if (null_if_zero and s) else None, mask)
    units = mat.view(">u2" if big_endian else "<u2").astype(np.uint32).reshape(m, s // 2)
    offsets, data = _utf8_encode(units, None)
    return java_trim(string_array(offsets, data, valid), trim)


@functools.lru_cache(maxsize=1)
def _hex_table() -> np.ndarray:
    return np.frombuffer(b"".join(f"{i:02X}".encode() for i in range(256)), dtype=np.uint8).reshape(256, 2)


def hex_strings(mat: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """Uppercase hex of each row's bytes (Cobrix's debug columns and binary_as_hex)."""
    mat = _contig(mat)
    m, s = mat.shape
    data = _hex_table()[mat].reshape(-1)
    return string_array(
        np.arange(0, m * 2 * s + 1, 2 * s, dtype=np.int64) if s else np.zeros(m + 1, np.int64), data, valid
    )


def raw_bytes(mat: np.ndarray) -> pa.Array:
    mat = _contig(mat)
    m, s = mat.shape
    offsets = np.arange(0, m * s + 1, s, dtype=np.int64) if s else np.zeros(m + 1, np.int64)
    return string_array(offsets, mat.reshape(-1), None, binary=True)


# ---------------------------------------------------------------------------------------------------------------
# Integers from digit matrices


def _digits_value(d: np.ndarray, isdig: np.ndarray) -> np.ndarray:
    """Integer value of the digit positions of each row (other positions ignored): int64 or object array."""
    m, s = d.shape
    if s == 0:
        return np.zeros(m, dtype=np.int64)
    if s <= 18 and isdig.all():
        # Contiguous digits (the common case): one dot product with the powers of ten.
        return d.astype(np.int64) @ _POW10[s - 1 :: -1]
    # Exponent of each digit = number of digits to its right.
    right = np.cumsum(isdig[:, ::-1], axis=1)[:, ::-1] - isdig
    dd = np.where(isdig, d, 0).astype(np.int64)
    ndig = int(isdig.sum(axis=1).max()) if m else 0
    if ndig <= 18:
        exps = np.minimum(right, 18)
        return (dd * _POW10[exps]).sum(axis=1)
    # Wide: split into chunks of 18 digits and combine as Python ints.
    total = np.zeros(m, dtype=object)
    for chunk in range((ndig + 17) // 18):
        lo, hi = chunk * 18, chunk * 18 + 18
        sel = (right >= lo) & (right < hi)
        part = (np.where(sel, dd, 0) * _POW10[np.clip(right - lo, 0, 18)]).sum(axis=1)
        total = total + part.astype(object) * (10 ** (18 * chunk))
    return total


def _negate(values: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """``values`` with the ``neg`` rows negated (int64, or Python ints in an object array)."""
    if values.dtype == object:
        return np.where(neg, -values, values)
    # Two's complement without a branch per element (np.where on a boolean is several times slower): x ^ -1 + 1 == -x.
    ones = -neg.astype(np.int64)
    return (values ^ ones) - ones


# ---------------------------------------------------------------------------------------------------------------
# DISPLAY numbers (zoned decimal, sign overpunch, separate signs, explicit points, edited pictures)


@dataclass(frozen=True)
class _ZonedTables:
    digit: np.ndarray  # digit value, 255 = not a plain digit
    over_digit: np.ndarray  # digit value of an overpunched byte, 255 = not overpunched
    over_neg: np.ndarray  # overpunch means negative
    space: np.ndarray
    plus: int
    minus: int
    point: int
    comma: int
    slash: int


@functools.lru_cache(maxsize=2)
def _zoned_tables(ebcdic: bool) -> _ZonedTables:
    digit = np.full(256, 255, dtype=np.uint8)
    over_digit = np.full(256, 255, dtype=np.uint8)
    over_neg = np.zeros(256, dtype=bool)
    space = np.zeros(256, dtype=bool)
    if ebcdic:
        for i in range(10):
            digit[0xF0 + i] = i
            over_digit[0xC0 + i] = i
            over_digit[0xD0 + i] = i
            over_neg[0xD0 + i] = True
        space[0x40] = True
        space[0x00] = True
        return _ZonedTables(digit, over_digit, over_neg, space, 0x4E, 0x60, 0x4B, 0x6B, 0x61)
    for i in range(10):
        digit[0x30 + i] = i
    over_digit[ord("{")] = 0
    over_digit[ord("}")] = 0
    over_neg[ord("}")] = True
    for i in range(1, 10):
        over_digit[ord("A") + i - 1] = i
        over_digit[ord("J") + i - 1] = i
        over_neg[ord("J") + i - 1] = True
    for i in range(10):  # Micro Focus style negative overpunch p..y
        over_digit[0x70 + i] = i
        over_neg[0x70 + i] = True
    space[0x20] = True
    space[0x00] = True
    return _ZonedTables(digit, over_digit, over_neg, space, 0x2B, 0x2D, 0x2E, 0x2C, 0x2F)


def decode_zoned(
    mat: np.ndarray,
    *,
    ebcdic: bool,
    signed: bool,
    sign_leading: bool,
    sign_separate: bool,
    explicit_point: bool,
    scale: int,
    strict_overpunch: bool,
    mask: np.ndarray | None = None,
    grouping: bool = False,
) -> Numbers:
    """DISPLAY numbers. Leading/trailing blanks are allowed; a field of only blanks or 0x00 is null, not corrupt.

    :param grouping: the PIC has ',' or '/' (an edited picture): those insertion characters between the digits are
        skipped (``ZZZ,ZZ9.99``, ``99/99/9999``).
    """
    m, s = mat.shape
    t = _zoned_tables(ebcdic)
    if s == 0 or m == 0:
        z = np.zeros(m, dtype=bool)
        return Numbers(np.zeros(m, dtype=np.int64), z, z.copy())
    fast = _zoned_clean(mat, ebcdic, signed and not sign_separate and not explicit_point, sign_leading, mask)
    if fast is not None:
        return fast
    mat = _contig(mat)
    sp = t.space[mat]
    blank = sp.all(axis=1)
    nonsp = ~sp
    first = nonsp.argmax(axis=1)
    last = s - 1 - nonsp[:, ::-1].argmax(axis=1)
    cols = np.arange(s)
    inner = (cols >= first[:, None]) & (cols <= last[:, None])
    dig = t.digit[mat]
    isdig = (dig != 255) & inner
    odig = t.over_digit[mat]
    is_first = cols[None, :] == first[:, None]
    is_last = cols[None, :] == last[:, None]
    # Where a sign may be overpunched.
    if strict_overpunch:
        if signed and not sign_separate:
            over_pos = is_first if sign_leading else is_last
        else:
            over_pos = np.zeros((m, s), dtype=bool)
    else:
        over_pos = is_first | is_last
    isover = (odig != 255) & over_pos & inner & ~isdig
    # Separate or edited sign characters at either end.
    issign = ((mat == t.plus) | (mat == t.minus)) & (is_first | is_last) & inner
    if not signed:
        issign &= False
    ispoint = (mat == t.point) & inner if explicit_point else np.zeros((m, s), dtype=bool)
    # A decimal comma is accepted where a point is expected only if no point is present.
    allowed = isdig | isover | issign | ispoint
    if grouping:
        allowed = allowed | (((mat == t.comma) | (mat == t.slash)) & inner)
    bad = (inner & ~allowed).any(axis=1) | (ispoint.sum(axis=1) > 1) | (issign.sum(axis=1) > 1)
    effdig = isdig | isover
    no_digits = ~effdig.any(axis=1)
    bad |= no_digits & ~blank
    d = np.where(isover, odig, dig)
    values = _digits_value(d, effdig)
    neg = (issign & (mat == t.minus)).any(axis=1) | (isover & t.over_neg[mat]).any(axis=1)
    if not signed and strict_overpunch:
        bad |= neg
    values = _negate(values, neg)
    if explicit_point:
        has_point = ispoint.any(axis=1)
        point_col = np.where(has_point, ispoint.argmax(axis=1), s)
        frac = (effdig & (cols[None, :] > point_col[:, None])).sum(axis=1)
        frac = np.where(has_point, frac, 0)
        shift = scale - frac
        bad |= shift < 0
        shift = np.clip(shift, 0, None)
        if (shift > 0).any():
            if values.dtype == object:
                values = values * np.array([10 ** int(x) for x in shift], dtype=object)
            else:
                values = values * _POW10[np.minimum(shift, 18)]
    valid = ~blank & ~bad
    corrupt = bad & ~blank
    return Numbers(values, valid, corrupt)


_U64 = np.uint64
_LOW_NIBBLES = _U64(0x0F0F0F0F0F0F0F0F)
_HIGH_NIBBLES = _U64(0xF0F0F0F0F0F0F0F0)
_SIX = _U64(0x0606060606060606)


def _eight_digits(x: np.ndarray, zone: np.uint64) -> tuple[np.ndarray, np.ndarray]:
    """Eight zoned digits per row, loaded little-endian as uint64 (first digit in the lowest byte): (value, every
    byte a plain digit). SIMD-within-a-register: three multiply-shift steps instead of eight passes over digits."""
    d = x & _LOW_NIBBLES
    ok = ((x & _HIGH_NIBBLES) == zone) & (((d + _SIX) & _HIGH_NIBBLES) == 0)
    d = (d * _U64(2561)) >> _U64(8)
    d = ((d & _U64(0x00FF00FF00FF00FF)) * _U64(6553601)) >> _U64(16)
    d = ((d & _U64(0x0000FFFF0000FFFF)) * _U64(42949672960001)) >> _U64(32)
    return d.astype(np.int64), ok


def _zoned_clean(
    mat: np.ndarray, ebcdic: bool, overpunch: bool, leading: bool, mask: np.ndarray | None = None
) -> Numbers | None:
    """Fast path for a column whose every byte is a plain digit, except an overpunched sign where one belongs.

    The digits are left-padded with zero digits to 8 or 16 bytes and converted eight at a time in 64-bit words;
    returns None as soon as a byte needs the general decoder (blanks, separate signs, corrupt bytes). Rows outside
    ``mask`` do not count.
    """
    ignore = None if mask is None else ~mask
    m, s = mat.shape
    if s > 16:
        return None

    def all_good(good: np.ndarray) -> bool:
        return bool(good.all() if ignore is None else (good | ignore).all())

    zone_byte = 0xF0 if ebcdic else 0x30
    if s <= 8:
        return _zoned_word(mat, ebcdic, overpunch, leading, all_good)
    width = 16
    padded = np.full((m, width), zone_byte, dtype=np.uint8)
    padded[:, width - s :] = mat
    neg = None
    if overpunch and ebcdic:
        c = width - s if leading else width - 1
        col = padded[:, c]
        hi = col >> 4
        if not all_good(((hi == 0xC) | (hi == 0xD) | (hi == 0xF)) & ((col & 0x0F) <= 9)):
            return None
        neg = hi == 0xD
        padded[:, c] = col | 0xF0
    words = padded.view("<u8")
    zone = _U64(zone_byte * 0x0101010101010101)
    values, ok = _eight_digits(words[:, 0], zone)
    if width == 16:
        low, ok2 = _eight_digits(words[:, 1], zone)
        values = values * 100_000_000 + low
        ok &= ok2
    if not all_good(ok):
        return None
    if neg is not None:
        values = _negate(values, neg)
    return Numbers(values, np.ones(m, dtype=bool), np.zeros(m, dtype=bool), max_digits=s)


# ---------------------------------------------------------------------------------------------------------------
# Packed decimal (COMP-3, COMP-3U)


@functools.lru_cache(maxsize=1)
def _packed_pairs() -> np.ndarray:
    """Byte -> its two digit nibbles as a number 0..99, or -1 when a nibble is not a digit."""
    table = np.full(256, -1, dtype=np.int16)
    for hi in range(10):
        for lo in range(10):
            table[hi << 4 | lo] = hi * 10 + lo
    return table


@functools.lru_cache(maxsize=1)
def _packed_quads() -> np.ndarray:
    """Two bytes (big-endian uint16) -> their four digit nibbles as a number 0..9999, or -1 (a nibble above 9)."""
    pairs = _packed_pairs().astype(np.int32)
    quads = pairs[:, None] * 100 + pairs[None, :]
    return np.where((pairs[:, None] >= 0) & (pairs[None, :] >= 0), quads, -1).reshape(-1)


@functools.lru_cache(maxsize=1)
def _packed_last() -> tuple[np.ndarray, np.ndarray]:
    """Last byte of a COMP-3 -> (its digit, or -1), and its sign: +1 (C, F), -1 (D), 0 (not a sign)."""
    digit = np.full(256, -1, dtype=np.int64)
    sign = np.zeros(256, dtype=np.int64)
    for b in range(256):
        hi, lo = b >> 4, b & 0x0F
        if hi <= 9:
            digit[b] = hi
        sign[b] = {0x0C: 1, 0x0F: 1, 0x0D: -1}.get(lo, 0)
    return digit, sign


def _zoned_word(
    mat: np.ndarray, ebcdic: bool, overpunch: bool, leading: bool, all_good: Callable[[np.ndarray], bool]
) -> Numbers | None:
    """:func:`_zoned_clean` of up to 8 digits: one little-endian 64-bit word per row ending at the field's last byte;
    the bytes before the field in it are replaced by zero digits."""
    m, s = mat.shape
    zone_byte = 0xF0 if ebcdic else 0x30
    zone = _U64(zone_byte * 0x0101010101010101)
    x = _right_aligned(mat, 8, zone_byte).view("<u8").reshape(m)
    if s < 8:
        foreign = _U64((1 << (8 * (8 - s))) - 1)  # the low bytes: the first in memory
        x = (x & ~foreign) | (zone & foreign)
    neg = None
    if overpunch and ebcdic:
        shift = _U64(8 * (8 - s if leading else 7))
        sign_byte = (x >> shift) & _U64(0xFF)
        hi = sign_byte >> _U64(4)
        if not all_good(((hi == 0xC) | (hi == 0xD) | (hi == 0xF)) & ((sign_byte & _U64(0x0F)) <= 9)):
            return None
        neg = hi == 0xD
        x = x | (_U64(0xF0) << shift)
    values, ok = _eight_digits(x, zone)
    if not all_good(ok):
        return None
    if neg is not None:
        values = _negate(values, neg)
    return Numbers(values, np.ones(m, dtype=bool), np.zeros(m, dtype=bool), max_digits=s)


_NIBBLE_SIXES = _U64(0x6666666666666666)
_NIBBLE_CARRIES = _U64(0x1111111111111110)


def _packed_word(mat: np.ndarray, has_sign: bool) -> Numbers:
    """COMP-3 of up to 8 bytes: each value read as one 64-bit word (right-aligned, zero digits in front) and its
    BCD nibbles converted in four multiply-add steps on all rows (SIMD within a register), as the zoned kernel does."""
    m, s = mat.shape
    word = _right_aligned(mat, 8, 0).view(">u8").reshape(m).astype(np.uint64)
    if s < 8:
        word &= _U64((1 << (8 * s)) - 1)  # drop the bytes before the field
    present = word != 0
    if has_sign:
        sign = word & _U64(0x0F)
        ok = (sign >= _U64(0x0C)) & (sign != _U64(0x0E))  # C, D or F
        negative = sign == _U64(0x0D)
        digits = word >> _U64(4)
    else:
        ok = None
        negative = None
        digits = word
    # A nibble above 9 carries into the next one when 6 is added to every nibble: the carry into a nibble's low bit
    # is that bit of (digits + 6...6) ^ digits (the sixes have it clear). The top nibble's carry leaves the word: it
    # is checked apart, where it can be other than zero (8 unsigned bytes).
    carried = digits + _NIBBLE_SIXES
    carried ^= digits
    carried &= _NIBBLE_CARRIES
    good = carried == 0
    if not has_sign and s == 8:
        good &= (digits >> _U64(60)) <= 9
    ok = good if ok is None else ok & good
    d = ((digits >> _U64(4)) & _LOW_NIBBLES) * _U64(10) + (digits & _LOW_NIBBLES)
    d = ((d >> _U64(8)) & _U64(0x00FF00FF00FF00FF)) * _U64(100) + (d & _U64(0x00FF00FF00FF00FF))
    d = ((d >> _U64(16)) & _U64(0x0000FFFF0000FFFF)) * _U64(10_000) + (d & _U64(0x0000FFFF0000FFFF))
    d = (d >> _U64(32)) * _U64(100_000_000) + (d & _U64(0xFFFFFFFF))
    values = d.view(np.int64)  # at most 16 digits: below 2**63
    if negative is not None:
        values = _negate(values, negative)
    return Numbers(values, ok & present, ~ok & present, max_digits=2 * s - 1 if has_sign else 2 * s)


def decode_packed(mat: np.ndarray, *, has_sign: bool) -> Numbers:
    """COMP-3 (sign nibble C/F positive, D negative) and COMP-3U (no sign nibble); all-0x00 is null."""
    m, s = mat.shape
    ndigits = 2 * s - 1 if has_sign else 2 * s
    if 0 < s <= 8:
        return _packed_word(mat, has_sign)
    if s > 0 and ndigits <= 18:
        # Byte position by byte position over all rows (a transposed copy keeps each position contiguous): two
        # digits per byte through a lookup table, accumulated in int64.
        mat = _contig(mat)
        cols = np.ascontiguousarray(mat.T)
        pairs = _packed_pairs()
        quads = _packed_quads()
        nonzero = cols[0].copy()
        for j in range(1, s):
            nonzero |= cols[j]
        ok = np.ones(m, dtype=bool)
        values = np.zeros(m, dtype=np.int64)
        digit_bytes = s - 1 if has_sign else s
        j = 0
        while j < digit_bytes:
            if j + 2 <= digit_bytes:  # two bytes (four digits) per lookup
                quad = quads[mat[:, j : j + 2].view(">u2")[:, 0]]
                ok &= quad >= 0
                values *= 10_000
                values += quad
                j += 2
                continue
            pair = pairs[cols[j]]
            ok &= pair >= 0
            values *= 100
            values += pair
            j += 1
        if has_sign:
            last = cols[s - 1]
            digit_of, sign_of = _packed_last()
            digit = digit_of[last]
            sign = sign_of[last]
            ok &= (digit >= 0) & (sign != 0)
            values *= 10
            values += digit
            values *= sign
        present = nonzero != 0
        return Numbers(values, ok & present, ~ok & present)
    mat = _contig(mat)
    zero = ~mat.any(axis=1) if s else np.ones(m, dtype=bool)
    nib = np.empty((m, 2 * s), dtype=np.uint8)
    nib[:, 0::2] = mat >> 4
    nib[:, 1::2] = mat & 0x0F
    if has_sign:
        digits = nib[:, :-1]
        sign_nib = nib[:, -1]
        bad_sign = (sign_nib != 0x0C) & (sign_nib != 0x0D) & (sign_nib != 0x0F)
        negative = sign_nib == 0x0D
    else:
        digits = nib
        bad_sign = np.zeros(m, dtype=bool)
        negative = np.zeros(m, dtype=bool)
    bad = (digits > 9).any(axis=1) | bad_sign
    isdig = np.ones(digits.shape, dtype=bool)
    wide = _digits_value(np.where(digits > 9, 0, digits), isdig)
    wide = _negate(wide, negative)
    return Numbers(wide, ~bad & ~zero, bad & ~zero)


# ---------------------------------------------------------------------------------------------------------------
# Binary integers (COMP, COMP-4, COMP-5, BINARY big-endian; COMP-9 little-endian)


def decode_binary(mat: np.ndarray, *, signed: bool, little_endian: bool) -> Numbers:
    if little_endian or mat.strides[-1] != 1:
        mat = _contig(mat)
    m, w = mat.shape
    if little_endian:
        mat = np.ascontiguousarray(mat[:, ::-1])
    ok = np.ones(m, dtype=bool)
    nocorrupt = np.zeros(m, dtype=bool)
    if w in (1, 2, 4, 8):
        dt = np.dtype(f">{'i' if signed else 'u'}{w}")
        try:
            raw = mat.view(dt).reshape(m)  # a strided view of the records works when each row's bytes are adjacent
        except ValueError:
            raw = _contig(mat).view(dt).reshape(m)
        if w == 8 and not signed:
            big = raw > np.uint64(2**63 - 1)
            if big.any():
                values = raw.astype(object)
                return Numbers(values, ok, nocorrupt)
        return Numbers(raw.astype(np.int64), ok, nocorrupt)
    # Wider than 8 bytes: combine a high part and the low 8 bytes as Python ints.
    lo = mat[:, w - 8 :].copy().view(">u8").reshape(m).astype(object)
    hi_bytes = mat[:, : w - 8]
    hw = w - 8
    hi = np.zeros(m, dtype=object)
    for j in range(hw):
        hi = hi * 256 + hi_bytes[:, j].astype(np.int64).astype(object)
    values = hi * (1 << 64) + lo
    if signed:
        top = 1 << (8 * w - 1)
        values = np.where(values >= top, values - (1 << (8 * w)), values)
    return Numbers(values, ok, nocorrupt)


# ---------------------------------------------------------------------------------------------------------------
# Floating point (COMP-1, COMP-2): IBM hexadecimal or IEEE 754, big or little endian


def decode_float(mat: np.ndarray, *, double: bool, fmt: str) -> np.ndarray:
    mat = _contig(mat)
    m, _w = mat.shape
    little = fmt.endswith("little_endian")
    if fmt.startswith("ieee754"):
        dt = np.dtype(("<" if little else ">") + ("f8" if double else "f4"))
        return mat.view(dt).reshape(m).astype(np.float64 if double else np.float32)
    raw = mat[:, ::-1] if little else mat
    raw = np.ascontiguousarray(raw)
    if double:
        bits = raw.view(">u8").reshape(m)
        sign = (bits >> np.uint64(63)).astype(bool)
        exp = ((bits >> np.uint64(56)) & np.uint64(0x7F)).astype(np.int64)
        frac = (bits & np.uint64(0x00FFFFFFFFFFFFFF)).astype(np.float64)
        value = np.ldexp(frac, 4 * (exp - 64) - 56)
        return np.where(sign, -value, value)
    return _cobrix_ibm_single(raw.view(">u4").reshape(m))


def _cobrix_ibm_single(bits: np.ndarray) -> np.ndarray:
    """IBM single precision exactly as Cobrix converts it, so that values match a Spark job's.

    Cobrix masks the exponent with the sign bit (0x80000000) instead of 0x7F000000: the exponent byte is ignored,
    positive values come out as the normalised fraction scaled by 2**k, and negative values become 0.0.
    """
    bits = bits.astype(np.int64)
    sign = bits & 0x80000000
    frac = bits & 0x00FFFFFF
    exponent = np.where(sign != 0, -512, 0).astype(np.int64)
    nz = frac != 0
    for _ in range(6):  # at most 5 leading zero nibbles in a non-zero 24-bit fraction
        shift = nz & ((frac & 0x00F00000) == 0)
        frac = np.where(shift, frac << 4, frac)
        exponent = np.where(shift, exponent - 4, exponent)
    top = (frac & 0x00F00000) >> 20
    lz = (0x55AF >> (2 * top)) & 3
    frac = frac << lz
    conv = exponent + 131 - lz
    ieee = (sign + (conv << 23) + frac) & 0xFFFFFFFF
    value = ieee.astype(np.uint32).view(np.float32)
    value = np.where(conv > 254, np.float32(np.inf), value)
    value = np.where((conv < 0) | ~nz, np.float32(0.0), value)
    return value.astype(np.float32)


# ---------------------------------------------------------------------------------------------------------------
# Unscaled integers -> Arrow


def integers_to_arrow(nums: Numbers, typ: pa.DataType, scale_factor: int = 0) -> tuple[pa.Array, np.ndarray]:
    """Arrow array of ``typ`` (int32, int64 or decimal128) from unscaled values; returns (array, overflow mask).

    Values that do not fit the type (a binary field holding more digits than its PIC) become null.
    """
    values = nums.values
    m = len(values)
    if not scale_factor and values.dtype != object and nums.max_digits and _fits(nums.max_digits, typ):
        # The kernel bounds the digits and the type holds them: no overflow check, no copies.
        return _int64_to_arrow(values, nums.valid, typ), np.zeros(m, dtype=bool)
    valid = nums.valid.copy()
    if scale_factor:
        values = values * (10**scale_factor) if values.dtype == object else _scale_int64(values, scale_factor)
    if pa.types.is_decimal(typ):
        limit = 10**typ.precision
        if values.dtype == object:
            over = np.array([abs(v) >= limit for v in values], dtype=bool) if m else np.zeros(0, dtype=bool)
            valid &= ~over
            safe = np.where(valid, values, 0)
            lo = (safe & _MASK64).astype(np.uint64)
            hi = (safe >> 64).astype(np.int64)
        else:
            if typ.precision < 19:
                over = np.abs(values) >= limit
                valid &= ~over
            else:
                over = np.zeros(m, dtype=bool)
            safe = np.where(valid, values, 0).astype(np.int64)
            lo = safe.view(np.uint64)
            hi = safe >> 63
        buf = np.empty((m, 2), dtype=np.uint64)
        buf[:, 0] = lo
        buf[:, 1] = hi.view(np.uint64)
        vbuf, nulls = validity_buffer(valid)
        return pa.Array.from_buffers(typ, m, [vbuf, pa.py_buffer(buf)], null_count=nulls), over
    if values.dtype == object:
        lo_lim, hi_lim = (-(2**31), 2**31 - 1) if typ == pa.int32() else (-(2**63), 2**63 - 1)
        over = np.array([not (lo_lim <= v <= hi_lim) for v in values], dtype=bool) if m else np.zeros(0, bool)
        valid &= ~over
        ints = np.where(valid, values, 0).astype(np.int64)
    else:
        ints = values
        over = np.zeros(m, dtype=bool)
        if typ == pa.int32():
            over = (ints < -(2**31)) | (ints > 2**31 - 1)
            valid &= ~over
    np_type = np.int32 if typ == pa.int32() else np.int64
    data = np.where(valid, ints, 0).astype(np_type)
    vbuf, nulls = validity_buffer(valid)
    return pa.Array.from_buffers(typ, m, [vbuf, pa.py_buffer(data)], null_count=nulls), over


def _fits(digits: int, typ: pa.DataType) -> bool:
    if pa.types.is_decimal(typ):
        return digits <= min(typ.precision, 18)
    return digits <= (9 if typ == pa.int32() else 18)


def _int64_to_arrow(values: np.ndarray, valid: np.ndarray, typ: pa.DataType) -> pa.Array:
    """int64 values that fit ``typ`` (int32, int64 or decimal128) as an Arrow array; invalid rows are null (0)."""
    m = len(values)
    vbuf, nulls = validity_buffer(valid)
    if nulls:
        values = np.where(valid, values, 0)
    if pa.types.is_decimal(typ):
        data = np.empty((m, 2), dtype=np.int64)
        data[:, 0] = values
        np.right_shift(values, 63, out=data[:, 1])
    else:
        data = values.astype(np.int32 if typ == pa.int32() else np.int64, copy=False)
    return pa.Array.from_buffers(typ, m, [vbuf, pa.py_buffer(data)], null_count=nulls)


def _scale_int64(values: np.ndarray, factor: int) -> np.ndarray:
    if factor > 18 or (values.size and int(np.abs(values).max()) > (2**63 - 1) // 10**factor):
        return values.astype(object) * (10**factor)
    return values * _POW10[factor]
