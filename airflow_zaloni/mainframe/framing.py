"""Record framing: a byte stream -> chunks of records (start, length) in bounded memory.

Formats: F and FB (fixed length; FB with a BDW per block unless ``block_length``/``records_per_block`` say the
blocks have none), V (RDW per record, big or little endian, adjustments, RDW in or out of the length), VB (BDW per
block + RDW per record), a record length taken from a copybook field, a custom record header parser, variable-size
OCCURS records, and text records (D, D2). gzip and bz2 streams are recognised by their magic bytes.

A chunk is a buffer plus NumPy arrays of record starts and lengths; the decoder turns it into a byte matrix.
"""

from __future__ import annotations

import bz2
import gzip
import importlib
import io
import logging
import os
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any, Protocol

import numpy as np

from airflow_zaloni.mainframe.errors import DecodeError, OptionError
from airflow_zaloni.mainframe.options import ReaderOptions

log = logging.getLogger(__name__)

#: Bytes read from the input per step; one chunk of records never holds much more than this.
READ_SIZE = 8 * 1024 * 1024

#: Bytes of a CPU cache line (x86-64, ARM64): the stride that reads every line of a buffer once.
CACHE_LINE = 64


@dataclass
class Chunk:
    """Records framed from one piece of one file."""

    buf: np.ndarray  # uint8
    starts: np.ndarray  # int64, start of each record's copybook bytes in buf
    lengths: np.ndarray  # int64, bytes available to the copybook
    record_ids: np.ndarray  # int64, 0-based index of the record within its file
    file_offsets: np.ndarray  # int64, byte offset of the record (its header, if any) in the file
    byte_lengths: np.ndarray  # int64, Cobrix's Record_Byte_Length
    file_id: int
    file_name: str
    fixed_stride: int | None = None  # records are evenly spaced: buf can be reshaped without copying

    def __len__(self) -> int:
        return len(self.starts)


class RecordHeaderParser(Protocol):
    """A custom record header (Cobrix's ``record_header_parser``): ``header_length`` bytes before each record.

    ``parse`` returns (payload length, is the record valid); invalid records are skipped. Raise ``ValueError`` for a
    header that cannot be read.
    """

    header_length: int

    def parse(self, header: bytes, file_offset: int) -> tuple[int, bool]: ...


_HEADER_PARSERS: dict[str, Callable[[], RecordHeaderParser]] = {}


def register_record_header_parser(name: str, factory: Callable[[], RecordHeaderParser]) -> None:
    """Make ``record_header_parser=name`` use ``factory()`` (a dotted Python path also works without registering)."""
    _HEADER_PARSERS[name] = factory


def _header_parser(name: str) -> RecordHeaderParser:
    if name in _HEADER_PARSERS:
        return _HEADER_PARSERS[name]()
    module, _, attr = name.rpartition(".")
    try:
        factory = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError):
        raise OptionError(
            f"record_header_parser {name!r} is neither registered nor an importable Python class"
        ) from None
    parser: RecordHeaderParser = factory()
    return parser


def open_stream(data: Any) -> tuple[IO[bytes], str]:
    """A binary stream for a path, bytes or binary file object, transparently decompressing gzip and bz2."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw: IO[bytes] = io.BytesIO(bytes(data))
        name = "<bytes>"
    elif isinstance(data, str) or hasattr(data, "__fspath__"):
        name = str(data)
        raw = open(data, "rb")  # noqa: SIM115 (closed by the caller)
    elif hasattr(data, "read"):
        raw = data
        name = str(getattr(data, "name", "<stream>"))
    else:
        raise TypeError(f"cannot read mainframe data from {type(data).__name__}")
    head, raw = _peek(raw, 3)
    if head[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw, mode="rb"), name  # type: ignore[return-value]
    if head == b"BZh":
        return bz2.BZ2File(raw, mode="rb"), name  # type: ignore[return-value]
    return raw, name


def _peek(raw: IO[bytes], n: int) -> tuple[bytes, IO[bytes]]:
    """The first ``n`` bytes of the stream, and a stream that still yields them."""
    peek = getattr(raw, "peek", None)
    if peek is not None:
        try:
            return bytes(peek(n)[:n]), raw
        except (OSError, ValueError):
            pass
    try:
        if raw.seekable():
            pos = raw.tell()
            head = raw.read(n)
            raw.seek(pos)
            return head, raw
    except (AttributeError, OSError):
        pass
    head = raw.read(n)
    return head, _Prepended(head, raw)  # type: ignore[return-value]


class _Prepended:
    """A read-only stream: ``head`` followed by the rest of ``stream`` (for streams that can neither peek nor seek)."""

    def __init__(self, head: bytes, stream: IO[bytes]) -> None:
        self.head = head
        self.stream = stream
        self.name = getattr(stream, "name", "<stream>")

    def read(self, n: int = -1) -> bytes:
        if not self.head:
            return self.stream.read(n)
        if n is None or n < 0:
            out, self.head = self.head + self.stream.read(), b""
            return out
        out, self.head = self.head[:n], self.head[n:]
        if len(out) < n:
            out += self.stream.read(n - len(out))
        return out

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        pass


def _remaining(stream: IO[bytes]) -> int | None:
    """Bytes left in a plain file or in-memory stream (None for others: pipes, decompressors, user streams)."""
    try:
        if isinstance(stream, io.BytesIO):
            return max(0, stream.getbuffer().nbytes - stream.tell())
        if isinstance(stream, (io.BufferedReader, io.FileIO)) and stream.seekable():
            return max(0, os.fstat(stream.fileno()).st_size - stream.tell())
    except (OSError, ValueError):
        pass
    return None


class _Reader:
    """Reads a stream in large blocks, dropping file_start_offset bytes and holding back file_end_offset bytes."""

    def __init__(self, stream: IO[bytes], start_skip: int, end_skip: int, limit: int | None = None) -> None:
        self.stream = stream
        self.start_skip = start_skip
        self.end_skip = end_skip
        self.pending = b""
        self.eof = False
        self.consumed = 0  # file offset of the first byte of `pending`
        self.limit = limit

    def fill(self, want: int, exact: bool = False) -> bytes:
        """Return at least ``want`` bytes of the logical stream (fewer only at its end), without consuming.

        :param exact: read no more than needed, so that consuming ``want`` bytes leaves nothing to carry over (a
            carried-over remainder costs a copy of the next read when the two are joined).
        """
        while not self.eof and len(self.pending) < want + self.end_skip:
            deficit = want + self.end_skip - len(self.pending)
            size = deficit if exact else max(READ_SIZE, deficit)
            left = _remaining(self.stream)
            if left is not None:
                # A read buffer no bigger than what is left (a small file costs no 8 MB buffer) and no read at the end.
                if left == 0:
                    self.eof = True
                    break
                size = min(size, left)
            if self.pending and not self.start_skip and left is not None:
                # A plain file or in-memory stream: the carried-over remainder is read again with the new bytes, into
                # one fresh buffer (joining them costs a zero-filled buffer of the whole read, about 5 ms per 8 MB,
                # and a copy; reading one block again costs a copy of it from the page cache).
                kept = len(self.pending)
                self.stream.seek(-kept, io.SEEK_CUR)
                self.pending = self.stream.read(kept + size)
                if len(self.pending) > kept:
                    continue
                self.eof = True
                break
            if self.pending and not self.start_skip and hasattr(self.stream, "readinto"):
                if self._read_after_pending(size):
                    continue
                self.eof = True
                break
            try:
                block = self.stream.read(size)
            except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
                raise DecodeError(
                    f"corrupt compressed input: {exc}", offset=self.consumed + len(self.pending)
                ) from None
            except OSError as exc:
                if "Invalid data stream" in str(exc) or "compressed" in str(exc).lower():
                    raise DecodeError(f"corrupt compressed input: {exc}") from None
                raise
            if not block:
                self.eof = True
                break
            if self.start_skip:
                cut = min(self.start_skip, len(block))
                block = block[cut:]
                self.start_skip -= cut
                self.consumed += cut
            self.pending += block
        if self.eof:
            visible = len(self.pending) - self.end_skip if self.end_skip else len(self.pending)
            return self.pending[: max(0, visible)]
        return self.pending[: len(self.pending) - self.end_skip] if self.end_skip else self.pending

    def _read_after_pending(self, size: int) -> bool:
        """Read up to ``size`` bytes straight behind the carried-over remainder: one copy of the remainder, none of
        the new bytes (``pending + read()`` copies both). Returns False at the end of the stream."""
        kept = len(self.pending)
        joined = bytearray(kept + size)
        joined[:kept] = self.pending
        with memoryview(joined) as view:
            try:
                got = self.stream.readinto(view[kept:])  # type: ignore[attr-defined]
            except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
                raise DecodeError(f"corrupt compressed input: {exc}", offset=self.consumed + kept) from None
            except OSError as exc:
                if "Invalid data stream" in str(exc) or "compressed" in str(exc).lower():
                    raise DecodeError(f"corrupt compressed input: {exc}") from None
                raise
        if not got:
            return False
        del joined[kept + got :]
        self.pending = joined  # type: ignore[assignment]
        return True

    def advance(self, n: int) -> None:
        self.pending = self.pending[n:]
        self.consumed += n


class Framer:
    """Frames the records of one file according to the reader options."""

    def __init__(
        self,
        opts: ReaderOptions,
        copybook_size: int,
        *,
        length_of: Callable[[bytes], int] | None = None,
        variable_record: Callable[[bytes, int], int] | None = None,
        batch_rows: int = 65_536,
    ) -> None:
        """
        :param copybook_size: bytes the copybook describes.
        :param length_of: for ``record_length_field``: record bytes (the start of the record) -> total length.
        :param variable_record: for variable-size OCCURS without headers: (buffer, start) -> record length.
        """
        self.opts = opts
        self.copybook_size = copybook_size
        self.length_of = length_of
        self.variable_record = variable_record
        self.batch_rows = batch_rows
        self.header_parser = _header_parser(opts.record_header_parser) if opts.record_header_parser else None

    @property
    def fixed_record_length(self) -> int | None:
        o = self.opts
        if (
            o.record_format in ("F", "FB")
            and not self.length_of
            and not self.variable_record
            and not self.header_parser
        ):
            return o.record_length or (o.record_start_offset + self.copybook_size + o.record_end_offset)
        return None

    def frames(
        self,
        stream: IO[bytes],
        file_id: int,
        name: str,
        start: int | None = None,
        end: int | None = None,
    ) -> Iterator[Chunk]:
        o = self.opts
        reader = _Reader(stream, o.file_start_offset, o.file_end_offset)
        if self.header_parser is not None:
            yield from self._header_records(reader, file_id, name, start, end)
        elif o.record_format in ("F", "FB") and self.length_of is None and self.variable_record is None:
            if o.record_format == "FB" and o.block_length is None and o.records_per_block is None:
                yield from self._blocked(reader, file_id, name, start, end, fixed=True)
            elif o.record_format == "FB":
                yield from self._fixed_blocks(reader, file_id, name, start, end)
            else:
                yield from self._fixed(reader, file_id, name, start, end, stream)
        elif o.record_format == "VB":
            yield from self._blocked(reader, file_id, name, start, end, fixed=False)
        elif o.record_format == "V":
            yield from self._rdw(reader, file_id, name, start, end)
        elif o.record_format in ("D", "D2"):
            yield from self._text(reader, file_id, name, start, end)
        else:
            yield from self._self_described(reader, file_id, name, start, end)

    # -- fixed length ------------------------------------------------------------------------------------------

    def _fixed(
        self, reader: _Reader, file_id: int, name: str, start: int | None, end: int | None, stream: IO[bytes]
    ) -> Iterator[Chunk]:
        o = self.opts
        length = self.fixed_record_length
        assert length is not None
        if length <= 0:
            raise DecodeError("record length must be positive", file=name)
        first = 0
        if start:
            first = -(-max(0, start - o.file_start_offset) // length)
            skip = first * length
            # Skip whole records cheaply (seek when possible).
            if reader.start_skip == 0 and stream.seekable() and not reader.pending:
                stream.seek(o.file_start_offset + skip)
                reader.start_skip = 0
                reader.consumed = o.file_start_offset + skip
            else:
                while skip > 0:
                    got = reader.fill(min(skip, READ_SIZE))
                    if not got:
                        break
                    n = min(skip, len(got))
                    reader.advance(n)
                    skip -= n
        last = None
        if end is not None:
            last = -(-max(0, end - o.file_start_offset) // length)  # records starting before `end`
        per_chunk = max(1, min(self.batch_rows, READ_SIZE // length))
        rid = first
        payload = length - o.record_start_offset - o.record_end_offset
        if payload <= 0:
            raise DecodeError(
                f"record_start_offset + record_end_offset ({o.record_start_offset + o.record_end_offset}) leave no "
                f"bytes of the {length}-byte record for the copybook",
                file=name,
            )
        while True:
            n = per_chunk if last is None else min(per_chunk, last - rid)
            if n <= 0:
                return
            data = reader.fill(n * length, exact=True)
            if not data:
                return
            if len(data) < n * length:
                n = len(data) // length
                rest = len(data) - n * length
                if n == 0 and rest:
                    if o.debug_ignore_file_size:
                        # Cobrix reads whole records (Hadoop's binaryRecords) and skips the size check.
                        log.warning("%s: ignoring %d bytes after the last whole %d-byte record", name, rest, length)
                        return
                    raise DecodeError(
                        f"the file ends with a partial record of {rest} bytes; the record length is {length} "
                        f"(file size minus offsets is NOT DIVISIBLE by the RECORD SIZE)",
                        file=name,
                        record=rid,
                        offset=reader.consumed,
                    )
            buf = memoryview(data)[: n * length]  # no copy: the chunk keeps the read buffer alive
            base = reader.consumed
            reader.advance(n * length)
            ids = np.arange(rid, rid + n, dtype=np.int64)
            positions = np.arange(n, dtype=np.int64) * length
            lengths = np.full(n, length, dtype=np.int64)
            yield self._emit(buf, positions, lengths, ids, base + positions, lengths, file_id, name, fixed=length)
            rid += n

    def _fixed_blocks(
        self, reader: _Reader, file_id: int, name: str, start: int | None, end: int | None
    ) -> Iterator[Chunk]:
        """FB without BDWs, as Cobrix reads it: blocks of ``block_length`` (or ``records_per_block`` records) bytes,
        each cut into records of the record length; a block that is not a multiple of it ends in a short record."""
        o = self.opts
        length = self.fixed_record_length
        assert length is not None
        if o.block_length is not None and o.records_per_block is not None:
            raise OptionError("FB takes block_length or records_per_block, not both")
        block = o.block_length if o.block_length is not None else (o.records_per_block or 1) * length
        if block <= 0 or length <= 0:
            raise OptionError("block_length, records_per_block and the record length must be positive")
        per_block = -(-block // length)
        in_block = np.arange(per_block, dtype=np.int64) * length
        rid = 0
        while True:
            data = reader.fill(max(block, READ_SIZE // block * block))
            if not data:
                return
            n = len(data)
            whole = n // block if not reader.eof else -(-n // block)
            used = min(n, whole * block)
            block_starts = np.arange(whole, dtype=np.int64) * block
            starts = (block_starts[:, None] + in_block[None, :]).reshape(-1)
            ends = np.minimum((block_starts + block)[:, None], used).repeat(per_block, axis=1).reshape(-1)
            lengths = np.minimum(length, ends - starts)
            real = lengths > 0
            starts, lengths = starts[real], lengths[real]
            count = len(starts)
            base = reader.consumed
            keep, done = self._select(starts, lengths, base, start, end)
            ids = np.arange(rid, rid + count, dtype=np.int64)
            if keep.any():
                yield self._emit(
                    memoryview(data)[:used],
                    starts[keep],
                    lengths[keep],
                    ids[keep],
                    base + starts[keep],
                    lengths[keep],
                    file_id,
                    name,
                )
            rid += count
            reader.advance(used)
            if done or used == 0:
                return

    # -- headers -----------------------------------------------------------------------------------------------

    def _rdw_length(self, header: bytes, big_endian: bool, adjustment: int, part: bool) -> int:
        value = (header[0] << 8 | header[1]) if big_endian else (header[3] << 8 | header[2])
        if part:
            value -= 4
        return value + adjustment

    def _emit(
        self,
        buf: bytes | memoryview,
        starts: list[int] | np.ndarray,
        lengths: list[int] | np.ndarray,
        ids: list[int] | np.ndarray,
        offs: list[int] | np.ndarray,
        blens: list[int] | np.ndarray,
        file_id: int,
        name: str,
        fixed: int | None = None,
    ) -> Chunk:
        """The chunk of framed records: ``starts``/``lengths`` span whole records, of which the copybook sees what
        record_start_offset and record_end_offset leave; ``fixed`` is the stride of fixed-length records."""
        o = self.opts
        raw = np.asarray(lengths, dtype=np.int64)
        st = np.asarray(starts, dtype=np.int64)
        skip = o.record_start_offset + o.record_end_offset
        if skip:
            short = raw < skip
            if short.any() and o.record_format not in ("D", "D2"):
                k = int(np.argmax(short))
                raise DecodeError(
                    f"a record of {int(raw[k])} bytes is shorter than record_start_offset + record_end_offset "
                    f"({skip}); check the offsets and the record format",
                    file=name,
                    record=int(np.asarray(ids)[k]),
                    offset=int(np.asarray(offs)[k]),
                )
            st = st + np.minimum(raw, o.record_start_offset)  # a short text line has no bytes for the copybook
        return Chunk(
            buf=np.frombuffer(buf, dtype=np.uint8),
            starts=st,
            lengths=np.maximum(raw - skip, 0),
            record_ids=np.asarray(ids, dtype=np.int64),
            file_offsets=np.asarray(offs, dtype=np.int64),
            byte_lengths=np.asarray(blens, dtype=np.int64),
            file_id=file_id,
            file_name=name,
            fixed_stride=fixed,
        )

    def _keep(self, length: int) -> bool:
        return self.opts.minimum_record_length <= length <= self.opts.maximum_record_length

    def _select(
        self,
        record_pos: np.ndarray,
        lengths: np.ndarray,
        base: int,
        start: int | None,
        end: int | None,
    ) -> tuple[np.ndarray, bool]:
        """Which framed records to keep (byte range, minimum/maximum length), and whether ``end`` was reached."""
        o = self.opts
        offs = base + record_pos
        keep = np.ones(len(record_pos), dtype=bool)
        if start is not None:
            keep &= offs >= start
        done = False
        if end is not None:
            before = offs < end
            done = not bool(before.all())
            keep &= before
        if o.minimum_record_length > 1 or o.maximum_record_length < 2**31 - 1:
            keep &= (lengths >= o.minimum_record_length) & (lengths <= o.maximum_record_length)
        return keep, done

    def _rdw(self, reader: _Reader, file_id: int, name: str, start: int | None, end: int | None) -> Iterator[Chunk]:
        """V: a record descriptor word before every record. The loop that runs once per record only collects
        positions; offsets, ids and filters are computed with NumPy afterwards."""
        o = self.opts
        rid = 0
        hi, lo = (0, 1) if o.is_rdw_big_endian else (3, 2)
        adj = o.rdw_adjustment - (4 if o.is_rdw_part_of_record_length else 0)
        while True:
            data = reader.fill(READ_SIZE)
            if not data:
                return
            n = len(data)
            base = reader.consumed
            pos = 0
            positions: list[int] = []
            lens: list[int] = []
            add_pos = positions.append
            add_len = lens.append
            limit = n - 4
            while pos <= limit:
                length = (data[pos + hi] << 8 | data[pos + lo]) + adj
                if length <= 0 or pos + 4 + length > n:
                    break
                add_pos(pos)
                add_len(length)
                pos += 4 + length
            count = len(positions)
            if pos <= limit:
                length = (data[pos + hi] << 8 | data[pos + lo]) + adj
                if length <= 0:
                    raise DecodeError(
                        f"invalid record descriptor word {data[pos : pos + 4].hex(' ')} (length {length}); check "
                        f"is_rdw_big_endian, rdw_adjustment and is_rdw_part_of_record_length",
                        file=name,
                        record=rid + count,
                        offset=base + pos,
                    )
                if reader.eof:
                    raise DecodeError(
                        f"truncated record: the RDW announces {length} bytes but the file has only {n - pos - 4} left",
                        file=name,
                        record=rid + count,
                        offset=base + pos,
                    )
            done = False
            if count:
                rec_pos = np.asarray(positions, dtype=np.int64)
                lengths = np.asarray(lens, dtype=np.int64)
                keep, done = self._select(rec_pos, lengths, base, start, end)
                ids = np.arange(rid, rid + count, dtype=np.int64)
                if keep.any():
                    if not keep.all():
                        rec_pos, lengths, ids = rec_pos[keep], lengths[keep], ids[keep]
                    yield self._emit(
                        memoryview(data)[:pos], rec_pos + 4, lengths, ids, base + rec_pos, lengths, file_id, name
                    )
                rid += count
            reader.advance(pos)
            if done:
                return
            if count == 0:
                if reader.eof:
                    raise DecodeError(
                        f"{n - pos} trailing bytes are too few for a record descriptor word and its record",
                        file=name,
                        record=rid,
                        offset=base + pos,
                    )
                reader.fill(n + READ_SIZE)  # a record larger than one read: read more

    def _blocked(
        self, reader: _Reader, file_id: int, name: str, start: int | None, end: int | None, *, fixed: bool
    ) -> Iterator[Chunk]:
        """VB (BDW + RDW records) and FB with BDW (BDW + fixed-length records)."""
        o = self.opts
        rid = 0
        rec_len = self.fixed_record_length if fixed else None
        rdw_big = o.is_rdw_big_endian
        rdw_adj = o.rdw_adjustment - (4 if o.is_rdw_part_of_record_length else 0)
        plain_lengths = o.minimum_record_length <= 1 and o.maximum_record_length >= 2**31 - 1
        while True:
            data = reader.fill(READ_SIZE)
            if not data:
                return
            n = len(data)
            base = reader.consumed
            if not fixed:
                fast = self._vb_blocks_vectorised(data)
                if fast is not None:
                    used, vstarts, vlengths = fast
                    count = len(vstarts)
                    range_done = False
                    if count:
                        vids = np.arange(rid, rid + count, dtype=np.int64)
                        keep = None
                        if start is not None or end is not None or not plain_lengths:
                            keep, range_done = self._select(vstarts - 4, vlengths, base, start, end)
                        if keep is None or keep.any():
                            if keep is not None and not keep.all():
                                vstarts, vlengths, vids = vstarts[keep], vlengths[keep], vids[keep]
                            yield self._emit(
                                memoryview(data)[:used],
                                vstarts,
                                vlengths,
                                vids,
                                base + vstarts - 4,
                                vlengths,
                                file_id,
                                name,
                            )
                    rid += count
                    reader.advance(used)
                    if range_done:
                        return
                    if used:
                        continue
            pos = 0
            starts: list[int] = []
            lengths: list[int] = []
            ids: list[int] = []
            offs: list[int] = []
            done = False
            while pos + 4 <= n:
                bdw = data[pos : pos + 4]
                block = self._rdw_length(bytes(bdw), o.is_bdw_big_endian, o.bdw_adjustment, False)
                if bdw[0] & 0x80 and o.is_bdw_big_endian:
                    # Extended BDW: a 31-bit length in all four bytes.
                    block = int.from_bytes(bdw, "big") & 0x7FFFFFFF
                    block += o.bdw_adjustment
                if block <= 0:
                    raise DecodeError(
                        f"invalid block descriptor word {bytes(bdw).hex(' ')} (length {block}); check "
                        f"is_bdw_big_endian and bdw_adjustment",
                        file=name,
                        offset=base + pos,
                        record=rid,
                    )
                if pos + 4 + block > n:
                    if reader.eof:
                        raise DecodeError(
                            f"truncated block: the BDW announces {block} bytes but the file has only {n - pos - 4}",
                            file=name,
                            offset=base + pos,
                            record=rid,
                        )
                    break
                p = pos + 4
                block_end = p + block
                if not fixed and start is None and end is None and plain_lengths:
                    # The common case, kept tight: this loop runs once per record.
                    add_start = starts.append
                    add_length = lengths.append
                    hi, lo = (0, 1) if rdw_big else (3, 2)
                    while p + 4 <= block_end:
                        length = (data[p + hi] << 8 | data[p + lo]) + rdw_adj
                        if length <= 0 or p + 4 + length > block_end:
                            break
                        add_start(p + 4)
                        add_length(length)
                        p += 4 + length
                    added = len(starts) - len(ids)
                    offs.extend(range(-1, -1 - added, -1))  # placeholders: computed from starts when emitting
                    ids.extend(range(rid, rid + added))
                    rid += added
                if p < block_end:
                    p, rid, done = self._block_records(
                        data, p, block_end, base, rid, fixed, rec_len, start, end, starts, lengths, ids, offs, name
                    )
                if done:
                    break
                pos = block_end
                if len(starts) >= self.batch_rows:
                    break
            if starts:
                if not fixed:
                    # Every VB record has a 4-byte RDW right before its data.
                    offs_arr = base + np.asarray(starts, dtype=np.int64) - 4
                else:
                    offs_arr = np.asarray(offs, dtype=np.int64)
                yield self._emit(
                    memoryview(data)[:pos] if not done else data, starts, lengths, ids, offs_arr, lengths, file_id, name
                )
            if done:
                return
            reader.advance(pos)
            if pos == 0:
                if reader.eof:
                    if n:
                        raise DecodeError(f"{n} trailing bytes do not form a block", file=name, offset=base)
                    return
                reader.fill(n + READ_SIZE)

    def _vb_blocks_vectorised(self, data: bytes) -> tuple[int, np.ndarray, np.ndarray] | None:
        """Frame the complete VB blocks of ``data`` with NumPy: all blocks advance one record per step, so the Python
        work is per block and per step, not per record. Returns (bytes used, record starts, record lengths), or None
        when anything is irregular (the per-record path then frames it and names the problem)."""
        o = self.opts
        n = len(data)
        block_starts: list[int] = []
        block_ends: list[int] = []
        pos = 0
        big_bdw = o.is_bdw_big_endian
        while pos + 4 <= n:
            if big_bdw:
                if data[pos] & 0x80:
                    return None  # extended BDW: leave it to the careful path
                block = (data[pos] << 8 | data[pos + 1]) + o.bdw_adjustment
            else:
                block = (data[pos + 3] << 8 | data[pos + 2]) + o.bdw_adjustment
            if block <= 0:
                return None
            if pos + 4 + block > n:
                break
            block_starts.append(pos + 4)
            block_ends.append(pos + 4 + block)
            pos += 4 + block
        if not block_starts:
            return None
        # The 16-bit record length at every byte position, as one strided view of 2-byte items (no copy): one lookup
        # per record. Items of type V2 are copied whole (a strided uint16 view is read element by element, 3x slower).
        if o.is_rdw_big_endian:
            rdw = np.ndarray(shape=(n - 1,), dtype="V2", buffer=data, strides=(1,))
        else:
            rdw = np.ndarray(shape=(n - 3,), dtype="V2", buffer=data, offset=2, strides=(1,))
        as_length = ">u2" if o.is_rdw_big_endian else "<u2"
        # A finished block parks its walk on its own end, where the lookup must stay inside the view: a last block
        # ending within a header's reach of the data's end is left to the per-record path.
        while block_ends and block_ends[-1] >= len(rdw):
            pos = block_starts.pop() - 4
            block_ends.pop()
        if not block_starts:
            return None
        p = np.array(block_starts, dtype=np.int64)
        e = np.array(block_ends, dtype=np.int64)
        adj = o.rdw_adjustment - (4 if o.is_rdw_part_of_record_length else 0)
        if 4 + adj < 0:
            return None  # a walk that could step backwards: the per-record path checks every length
        # Every block advances one record per step, all in lock-step, with four NumPy calls a step and no test: a
        # finished block stays parked on its end (the next block's BDW is read there, and ignored). Whether the
        # records fit their blocks is checked once at the end, on the whole walk.
        # Every cache line of the data read once, in order, before the walk: the hardware prefetcher streams them in
        # at memory speed, where each of the walk's lookups (one per record, in blocks far apart) would otherwise wait
        # for memory on its own (8 MB: about 1 ms less per read for the walk, and the records' gather gains too).
        np.frombuffer(data, dtype=np.uint8)[::CACHE_LINE].max()
        heads = [p]
        longest = int((e - p).max())
        header = np.int64(4 + adj)  # a NumPy scalar: a Python int costs a conversion at every step
        end_sum = int(e.sum())
        for step in range(longest // max(1, 4 + adj + 1) + 1):
            nxt = rdw[p].view(as_length).astype(np.int64)
            nxt += p
            nxt += header
            heads.append(nxt)
            p = np.minimum(nxt, e)
            if step % 8 == 7 and int(p.sum()) == end_sum:  # every block parked on its end (p <= e)
                break
        else:
            return None  # a walk that never ends (lengths of zero): the per-record path names the problem
        # Block x step, so that row-major order is file order: the header of each block's record at each step,
        # unclamped (a clamped head is below its block's end exactly when the unclamped one is).
        # Positions within the buffer fit 32 bits (half the bytes to move); records leave as int64.
        small = np.dtype(np.int32 if n < 2**31 - 1 else np.int64)
        walk: np.ndarray = np.stack(heads, axis=1, dtype=small, casting="unsafe")
        e = e.astype(small)
        live = walk[:, :-1] < e[:, None]
        counts = np.count_nonzero(live, axis=1)  # records per block (each has one: a block is never empty)
        starts_all = walk[:, :-1][live]
        # A record ends where the next one's header starts, the last of a block where the walk took it (the only
        # record of its block that may end at or past the block's end: exactly at it is regular).
        last = np.cumsum(counts) - 1
        ends = np.empty_like(starts_all)
        ends[:-1] = starts_all[1:]
        ends[last] = walk[np.arange(len(e)), counts]
        starts_all += 4
        lengths_all = ends - starts_all
        # A length of zero or less, a record running past its block (or a header cut by its end): irregular.
        if (lengths_all <= 0).any() or (ends[last] > e).any():
            return None
        return pos, starts_all.astype(np.int64), lengths_all.astype(np.int64)

    def _block_records(
        self,
        data: bytes,
        p: int,
        block_end: int,
        base: int,
        rid: int,
        fixed: bool,
        rec_len: int | None,
        start: int | None,
        end: int | None,
        starts: list[int],
        lengths: list[int],
        ids: list[int],
        offs: list[int],
        name: str,
    ) -> tuple[int, int, bool]:
        """The records of one block from ``p`` on, with every check; returns (position, next record id, done)."""
        o = self.opts
        rdw_adj = o.rdw_adjustment - (4 if o.is_rdw_part_of_record_length else 0)
        while p < block_end:
            if fixed:
                assert rec_len is not None
                length = rec_len
                hdr = 0
            else:
                if p + 4 > block_end:
                    raise DecodeError(
                        "a block ends inside a record descriptor word (a VB file needs an RDW before every record)",
                        file=name,
                        offset=base + p,
                        record=rid,
                    )
                big = o.is_rdw_big_endian
                length = ((data[p] << 8 | data[p + 1]) if big else (data[p + 3] << 8 | data[p + 2])) + rdw_adj
                hdr = 4
                if length <= 0:
                    raise DecodeError(
                        f"invalid record descriptor word {bytes(data[p : p + 4]).hex(' ')} (length {length})",
                        file=name,
                        offset=base + p,
                        record=rid,
                    )
            if p + hdr + length > block_end:
                raise DecodeError(
                    f"a record of {length} bytes runs past the end of its block",
                    file=name,
                    offset=base + p,
                    record=rid,
                )
            off = base + p
            if end is not None and off >= end:
                return p, rid, True
            if (start is None or off >= start) and self._keep(length):
                starts.append(p + hdr)
                lengths.append(length)
                ids.append(rid)
                offs.append(off)
            rid += 1
            p += hdr + length
        return p, rid, False

    def _header_records(
        self, reader: _Reader, file_id: int, name: str, start: int | None, end: int | None
    ) -> Iterator[Chunk]:
        """Records after a custom header whose parser gives each record's length (and whether it is a record)."""
        parser = self.header_parser
        assert parser is not None
        hl = parser.header_length

        def measure(data: bytes, pos: int, offset: int, rid: int) -> tuple[int, bool]:
            try:
                length, valid = parser.parse(bytes(data[pos : pos + hl]), offset)
            except ValueError as exc:
                raise DecodeError(f"record header: {exc}", file=name, offset=offset, record=rid) from None
            if length < 0:
                raise DecodeError(
                    f"record header parser gave a negative length ({length})", file=name, offset=offset, record=rid
                )
            return length, valid

        yield from self._walk_records(
            reader, file_id, name, start, end, hl, measure, "the header announces {length} bytes, {left} are left"
        )

    # -- records that describe their own length ----------------------------------------------------------------

    def _self_described(
        self, reader: _Reader, file_id: int, name: str, start: int | None, end: int | None
    ) -> Iterator[Chunk]:
        """record_length_field or variable-size OCCURS: each record's length comes from its own content."""

        def measure(data: bytes, pos: int, offset: int, rid: int) -> tuple[int, bool]:
            try:
                if self.variable_record is not None:
                    length = self.variable_record(data, pos)
                else:
                    assert self.length_of is not None
                    length = self.length_of(bytes(data[pos : pos + self.copybook_size]))
            except (ValueError, DecodeError) as exc:
                raise DecodeError(
                    f"cannot determine the record length: {exc}", file=name, record=rid, offset=offset
                ) from None
            if length <= 0:
                raise DecodeError(f"the record length field gives {length}", file=name, record=rid, offset=offset)
            return length, True

        yield from self._walk_records(
            reader, file_id, name, start, end, 0, measure, "{length} bytes expected, {left} left"
        )

    def _walk_records(
        self,
        reader: _Reader,
        file_id: int,
        name: str,
        start: int | None,
        end: int | None,
        header_length: int,
        measure: Callable[[bytes, int, int, int], tuple[int, bool]],
        truncated: str,
    ) -> Iterator[Chunk]:
        """Frame records whose length only a per-record call can tell (``measure``), buffer by buffer.

        ``measure(data, pos, file_offset, record_id)`` returns the length of the record after ``header_length``
        bytes at ``pos`` and whether it counts as a record; ``truncated`` words the error for a record cut short
        by the end of the file.
        """
        rid = 0
        need = max(header_length, 1)
        while True:
            data = reader.fill(READ_SIZE)
            if len(data) < need:
                return  # fewer bytes than a header: the end of the file, as Cobrix's parsers treat it
            base = reader.consumed
            pos = 0
            n = len(data)
            starts: list[int] = []
            lengths: list[int] = []
            ids: list[int] = []
            offs: list[int] = []
            done = False
            while pos + need <= n:
                off = base + pos
                length, valid = measure(data, pos, off, rid)
                if pos + header_length + length > n:
                    if reader.eof:
                        left = n - pos - header_length
                        raise DecodeError(
                            "truncated record: " + truncated.format(length=length, left=left),
                            file=name,
                            offset=off,
                            record=rid,
                        )
                    break
                if end is not None and off >= end:
                    done = True
                    break
                if valid:
                    if (start is None or off >= start) and self._keep(length):
                        starts.append(pos + header_length)
                        lengths.append(length)
                        ids.append(rid)
                        offs.append(off)
                    rid += 1
                pos += header_length + length
                if len(starts) >= self.batch_rows:
                    break
            if starts:
                yield self._emit(memoryview(data)[:pos], starts, lengths, ids, offs, lengths, file_id, name)
            reader.advance(pos)
            if done:
                return
            if pos == 0:
                if reader.eof:
                    return
                reader.fill(n + READ_SIZE)

    # -- text --------------------------------------------------------------------------------------------------

    def _text(self, reader: _Reader, file_id: int, name: str, start: int | None, end: int | None) -> Iterator[Chunk]:
        rid = 0
        while True:
            data = reader.fill(READ_SIZE)
            if not data:
                return
            base = reader.consumed
            arr = np.frombuffer(data, dtype=np.uint8)
            nl = np.flatnonzero(arr == 0x0A)
            if reader.eof and (len(nl) == 0 or nl[-1] != len(arr) - 1):
                nl = np.append(nl, len(arr))
            if len(nl) == 0:
                if reader.eof:
                    return
                reader.fill(len(data) + READ_SIZE)
                continue
            line_starts = np.concatenate([[0], nl[:-1] + 1]).astype(np.int64)
            line_ends = nl.astype(np.int64)
            cr = (line_ends > line_starts) & (arr[np.maximum(line_ends - 1, 0)] == 0x0D)
            lens = line_ends - line_starts - cr
            keep = lens > 0
            offs = base + line_starts
            if start is not None:
                keep &= offs >= start
            if end is not None:
                keep &= offs < end
            ids = np.arange(rid, rid + len(line_starts), dtype=np.int64)
            rid += len(line_starts)
            consumed = int(min(nl[-1] + 1, len(arr)))
            if keep.any():
                yield self._emit(
                    memoryview(data)[:consumed],
                    list(line_starts[keep]),
                    list(lens[keep]),
                    list(ids[keep]),
                    list(offs[keep]),
                    list(lens[keep]),
                    file_id,
                    name,
                )
            reader.advance(consumed)
            if end is not None and base + consumed >= end:
                return
