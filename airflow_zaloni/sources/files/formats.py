"""Decode one local file into Arrow record batches: CSV, JSON Lines, fixed-width text, Parquet, Avro, ORC.

Compressed files (gzip, bz2, xz, zip) are unpacked on the fly by extension or by ``compression=``. Every error names
the file and where in it (line, field, byte offset), because the person reading it has to go and fix that file.

A bad CSV or JSON row is either an error naming its line (``bad_rows="fail"``) or set aside as a :class:`Rejected`
record for a quarantine dataset (``bad_rows="quarantine"``).

Text must be valid in its declared ``encoding`` (UTF-8 unless told otherwise). Bytes that are not fail the file with
an error naming it, the line and the byte offset (in the uncompressed data), and pointing at ``encoding=``; only
JSON Lines in ``bad_rows="quarantine"`` sets such a line aside instead (it checks each line anyway; Arrow's CSV
reader cannot set a row aside for its encoding). Every decoded batch is checked too (Arrow's full validation): a
Parquet, ORC or Avro file with invalid strings fails naming the column and the row. Nothing with invalid UTF-8 in
a ``string`` column reaches the lake.
"""

from __future__ import annotations

import contextlib
import json
import lzma
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from airflow_zaloni.sources.base import DEFAULT_BATCH_ROWS, SourceError
from airflow_zaloni.utils.arrow_text import InvalidString, first_invalid_string

FORMATS = ("csv", "jsonl", "fixed", "parquet", "avro", "orc", "binary")
COMPRESSIONS = ("gzip", "bz2", "xz", "zip")
BAD_ROW_POLICIES = ("fail", "quarantine")

_EXTENSIONS = {".gz": "gzip", ".gzip": "gzip", ".bz2": "bz2", ".xz": "xz", ".zip": "zip"}
_FORMAT_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".avro": "avro",
    ".orc": "orc",
}
_BLOCK = 1 << 20


@dataclass(frozen=True)
class FixedField:
    """One column of a fixed-width record: ``width`` characters from ``start`` (0-based), optional Arrow ``type``."""

    name: str
    start: int
    width: int
    type: str | None = None

    @classmethod
    def parse_spec(cls, spec: Sequence[Any]) -> tuple[FixedField, ...]:
        """Accept ``[{"name", "width", "start"?, "type"?}, ...]`` or ``[(name, width), ...]``; starts default to
        following the previous field."""
        fields: list[FixedField] = []
        position = 0
        for item in spec:
            if isinstance(item, FixedField):
                fields.append(item)
                position = item.start + item.width
                continue
            if isinstance(item, dict):
                name, width = item["name"], int(item["width"])
                start, type_ = int(item.get("start", position)), item.get("type")
            else:
                name, width = item[0], int(item[1])
                start, type_ = position, (item[2] if len(item) > 2 else None)
            if width <= 0 or start < 0:
                raise SourceError(f"fixed-width field {name!r}: start must be >= 0 and width > 0")
            fields.append(cls(str(name), start, width, type_))
            position = start + width
        if not fields:
            raise SourceError("a fixed-width format needs at least one field in its spec")
        return tuple(fields)


@dataclass(frozen=True)
class FormatOptions:
    """How to read the files of one ingest. Every field has a plain-JSON form so it can be templated in a DAG.

    :param format: one of ``csv``, ``jsonl``, ``fixed``, ``parquet``, ``avro``, ``orc``, ``binary``, or ``auto``
        (by file extension).
    :param compression: ``infer`` (from the extension), ``None``, or one of ``gzip``, ``bz2``, ``xz``, ``zip``.
    :param delimiter: CSV field separator.
    :param header: whether the first CSV line names the columns.
    :param column_names: column names when the CSV file has no header (default ``f0``, ``f1``, ...).
    :param quote_char: CSV quote character, or ``None`` for no quoting.
    :param escape_char: CSV escape character, or ``None``.
    :param newlines_in_values: allow line breaks inside quoted CSV values (slower to parse).
    :param encoding: text encoding of CSV, JSON Lines and fixed-width files.
    :param null_values: CSV strings read as null.
    :param fixed_fields: field spec of fixed-width files (see :meth:`FixedField.parse_spec`).
    :param strip: trim blanks around fixed-width values.
    :param bad_rows: ``fail`` (error naming the line) or ``quarantine`` (set aside, recorded in the manifest).
    :param batch_rows: rows per record batch.
    """

    format: str = "csv"
    compression: str | None = "infer"
    delimiter: str = ","
    header: bool = True
    column_names: tuple[str, ...] | None = None
    quote_char: str | None = '"'
    escape_char: str | None = None
    newlines_in_values: bool = False
    encoding: str = "utf-8"
    null_values: tuple[str, ...] | None = None
    fixed_fields: tuple[FixedField, ...] = ()
    strip: bool = True
    bad_rows: str = "fail"
    batch_rows: int = DEFAULT_BATCH_ROWS

    def __post_init__(self) -> None:
        if self.format not in (*FORMATS, "auto"):
            raise SourceError(f"unknown file format {self.format!r}: expected one of {', '.join(FORMATS)} or auto")
        if self.compression not in (None, "infer", *COMPRESSIONS):
            raise SourceError(f"unknown compression {self.compression!r}: expected infer, None or {COMPRESSIONS}")
        if self.bad_rows not in BAD_ROW_POLICIES:
            raise SourceError(f"unknown bad_rows policy {self.bad_rows!r}: expected one of {BAD_ROW_POLICIES}")
        if len(self.delimiter) != 1:
            raise SourceError(f"CSV delimiter must be one character, got {self.delimiter!r}")
        if self.format == "fixed" and not self.fixed_fields:
            raise SourceError("format='fixed' needs fixed_fields, e.g. [{'name': 'id', 'width': 5}, ...]")

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": self.format, "compression": self.compression}
        if self.format in ("csv", "auto"):
            out.update(delimiter=self.delimiter, header=self.header, quote_char=self.quote_char)
        if self.format in ("csv", "jsonl", "fixed", "auto"):
            out["encoding"] = self.encoding
        if self.format == "fixed":
            out["fixed_fields"] = [f.__dict__ for f in self.fixed_fields]
        out["bad_rows"] = self.bad_rows
        return out


@dataclass
class Rejected:
    """A row set aside by ``bad_rows="quarantine"``: which file, which line, its text and why."""

    file: str
    line: int | None
    text: str
    reason: str


@dataclass
class Decoded:
    """One file opened for decoding: its Arrow schema and a one-shot iterator of batches."""

    schema: pa.Schema
    batches: Iterator[pa.RecordBatch]
    rejected: list[Rejected] = field(default_factory=list)


def split_compression(name: str, compression: str | None) -> tuple[str | None, str]:
    """``("gzip", "orders.csv")`` for ``orders.csv.gz`` when ``compression="infer"``."""
    base, ext = os.path.splitext(name)
    if compression == "infer":
        found = _EXTENSIONS.get(ext.lower())
        return (found, base) if found else (None, name)
    if compression is not None and _EXTENSIONS.get(ext.lower()) == compression:
        return compression, base
    return compression, name


def format_for(name: str, options: FormatOptions) -> str:
    """The format of ``name``: ``options.format`` unless that is ``auto``."""
    if options.format != "auto":
        return options.format
    _, inner = split_compression(name, "infer")
    ext = os.path.splitext(inner)[1].lower()
    if ext not in _FORMAT_EXTENSIONS:
        raise SourceError(f"{name}: cannot tell the format from extension {ext!r}; set format=")
    return _FORMAT_EXTENSIONS[ext]


def decode(path: str, name: str, options: FormatOptions, schema: pa.Schema | None = None) -> Decoded:
    """Open the local file ``path`` (reported to the user as ``name``) for decoding.

    The schema comes from ``schema`` where given (CSV and JSON read their columns with those types) or from the file
    (header, footer or first block); batches are produced lazily, in bounded memory.
    """
    fmt = format_for(name, options)
    if fmt == "binary":
        raise SourceError(f"{name}: format 'binary' is landed as bytes only and has no records to decode")
    compression, _ = split_compression(name, options.compression)
    rejected: list[Rejected] = []

    def explain(err: Exception) -> SourceError:
        if isinstance(err, (_InvalidText, UnicodeDecodeError)) or _is_utf8_error(err):
            return _bad_text(path, name, fmt, compression, options.encoding, err)
        if isinstance(err, _InvalidJson):
            return _bad_json_line(path, name, compression, options.encoding, str(err))
        return _wrap(name, err)

    temporary: str | None = None
    try:
        if fmt in ("parquet", "orc"):
            local = _seekable_copy(path, name, compression)
            temporary = local if local != path else None
            reader = _parquet if fmt == "parquet" else _orc
            file_schema, batches = reader(local, options)
        else:
            streams = _text_streams(path, name, compression)
            opener = {"csv": _csv, "jsonl": _jsonl, "fixed": _fixed, "avro": _avro}[fmt]
            file_schema, batches = _chain_members(streams, lambda s, n: opener(s, n, options, schema, rejected))
    except SourceError:
        _remove(temporary)
        raise
    except Exception as err:
        _remove(temporary)
        raise explain(err) from err
    return Decoded(file_schema, _guarded(batches, explain, temporary), rejected)


def _remove(path: str | None) -> None:
    if path is not None:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def _wrap(name: str, err: BaseException) -> SourceError:
    text = str(err)
    if isinstance(err, EOFError) or "Truncated compressed stream" in text or "end-of-stream" in text:
        return SourceError(f"{name}: compressed data is truncated or corrupt ({text})")
    if isinstance(err, (OSError, zipfile.BadZipFile, lzma.LZMAError)) and not isinstance(err, FileNotFoundError):
        return SourceError(f"{name}: cannot read: {text}")
    if isinstance(err, FileNotFoundError):
        return SourceError(f"{name}: file not found")
    return SourceError(f"{name}: {text}")


def _guarded(
    batches: Iterator[pa.RecordBatch], explain: Callable[[Exception], SourceError], temporary: str | None
) -> Iterator[pa.RecordBatch]:
    rows = 0
    try:
        for batch in batches:
            bad = first_invalid_string(batch)
            if bad is not None:
                raise _InvalidText(bad, rows)
            rows += batch.num_rows
            yield batch
    except SourceError:
        raise
    except Exception as err:
        raise explain(err) from err
    finally:
        _remove(temporary)


# --- text that is not valid in its encoding ---------------------------------------------------------------------


class _InvalidText(Exception):
    """A string that is not valid UTF-8 (or not valid in the declared encoding); :func:`decode` names where."""

    def __init__(self, bad: InvalidString | None = None, first_row: int = 0) -> None:
        super().__init__(bad.describe(first_row) if bad is not None else "invalid UTF-8")
        self.bad = bad
        self.first_row = first_row


def _is_utf8_error(err: BaseException) -> bool:
    return isinstance(err, pa.ArrowInvalid) and "invalid utf8" in str(err).lower()


def _bad_text(path: str, name: str, fmt: str, compression: str | None, encoding: str, err: Exception) -> SourceError:
    """The error for invalid text: the line and byte offset for text formats (re-reading the file: the error path
    only), the column and row otherwise."""
    if fmt in ("csv", "jsonl", "fixed"):
        located = _locate_bad_text(path, name, compression, encoding)
        if located is not None:
            return located
    if isinstance(err, _InvalidText) and err.bad is not None:
        return SourceError(f"{name}: {err.bad.describe(err.first_row)}")
    return SourceError(f"{name}: invalid UTF-8 in a string value ({err})")


def _locate_bad_text(path: str, name: str, compression: str | None, encoding: str) -> SourceError | None:
    """Name the first line that is not valid ``encoding``, decoding whole blocks (cut at a line end) at C speed."""
    for stream, member in _text_streams(path, name, compression):
        offset, line, rest = 0, 1, b""
        while True:
            block = stream.read(_BLOCK)
            data = rest + block
            cut = data.rfind(b"\n") + 1 if block else len(data)
            if cut == 0:
                rest = data  # no line end yet: read on
                continue
            chunk, rest = data[:cut], data[cut:]
            try:
                chunk.decode(encoding)
            except UnicodeDecodeError as err:
                number = line + chunk.count(b"\n", 0, err.start)
                where = f"byte offset {offset + err.start}" + (" (uncompressed)" if compression else "")
                return SourceError(
                    f"{member} line {number}, {where}: not valid {encoding} ({err.reason}: "
                    f"{chunk[err.start : err.end]!r}); if the file is in another encoding, set encoding= to it "
                    "(for example 'latin-1' or 'cp1252')"
                )
            line += chunk.count(b"\n")
            offset += len(chunk)
            if not block:
                break
    return None


# --- compression -------------------------------------------------------------------------------------------------


def _text_streams(path: str, name: str, compression: str | None) -> Iterator[tuple[Any, str]]:
    """Yield ``(readable stream, name)`` once per logical file (zip archives hold several)."""
    if compression == "zip":
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if not members:
                raise SourceError(f"{name}: zip archive holds no files")
            for member in members:
                with archive.open(member) as stream:
                    yield stream, f"{name}!{member.filename}"
        return
    if compression == "xz":
        with lzma.open(path, "rb") as stream:
            yield stream, name
        return
    if compression in ("gzip", "bz2"):
        # Arrow's C++ decompressors are several times faster than the Python modules and release the GIL.
        with pa.CompressedInputStream(pa.OSFile(path), compression) as stream:
            yield stream, name
        return
    with pa.OSFile(path) as stream:
        yield stream, name


def _seekable_copy(path: str, name: str, compression: str | None) -> str:
    """Columnar formats need random access: decompress to a temporary file first (removed after decoding)."""
    if compression is None:
        return path
    fd, tmp = tempfile.mkstemp(prefix="zaloni-unpacked-", suffix=os.path.basename(name))
    with os.fdopen(fd, "wb") as out:
        for stream, _ in _text_streams(path, name, compression):
            shutil.copyfileobj(stream, out, _BLOCK)
            break  # one member: a columnar file inside an archive is one file
    return tmp


def _chain_members(
    streams: Iterator[tuple[Any, str]],
    opener: Callable[[Any, str], tuple[pa.Schema, Iterator[pa.RecordBatch]]],
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """Open the first stream now (to learn the schema) and the others lazily, chaining their batches."""
    first_stream, first_name = next(streams)
    schema, first = opener(first_stream, first_name)

    def chained() -> Iterator[pa.RecordBatch]:
        yield from first
        for stream, member in streams:
            member_schema, more = opener(stream, member)
            if not member_schema.equals(schema):
                raise SourceError(f"{member}: columns {member_schema.names} differ from the first member's")
            yield from more
        with contextlib.suppress(StopIteration):
            next(streams)  # let the generator close its archive

    return schema, chained()


# --- CSV ---------------------------------------------------------------------------------------------------------


def _csv(
    stream: Any, name: str, options: FormatOptions, schema: pa.Schema | None, rejected: list[Rejected]
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    first_bad: list[Any] = []

    def on_invalid(row: Any) -> str:
        reason = f"expected {row.expected_columns} fields, got {row.actual_columns}"
        if options.bad_rows == "quarantine":
            rejected.append(Rejected(name, row.number, row.text, reason))
            return "skip"
        first_bad.append((row.number, reason, row.text))
        return "error"

    read_options = pacsv.ReadOptions(
        use_threads=False,  # the serial reader is as fast when streaming, and it reports line numbers
        block_size=_BLOCK * 4,
        encoding=options.encoding,
        column_names=list(options.column_names) if options.column_names else None,
        autogenerate_column_names=not options.header and not options.column_names,
        # A file with a header whose columns the user renames: skip the header line.
        skip_rows=1 if (options.column_names and options.header) else 0,
    )
    parse_options = pacsv.ParseOptions(
        delimiter=options.delimiter,
        quote_char=options.quote_char if options.quote_char else False,
        double_quote=True,
        escape_char=options.escape_char if options.escape_char else False,
        newlines_in_values=options.newlines_in_values,
        invalid_row_handler=on_invalid,
    )
    convert_kwargs: dict[str, Any] = {"strings_can_be_null": options.null_values is not None}
    if options.null_values is not None:
        convert_kwargs["null_values"] = list(options.null_values)
    if schema is not None:
        convert_kwargs["column_types"] = {f.name: f.type for f in schema}
    convert_options = pacsv.ConvertOptions(**convert_kwargs)

    def explain(err: Exception) -> SourceError:
        if first_bad:
            line, reason, text = first_bad[0]
            return SourceError(f"{name} line {line}: {reason}: {text[:200]!r} (or set bad_rows='quarantine')")
        return _wrap(name, err)

    try:
        reader = pacsv.open_csv(stream, read_options, parse_options, convert_options)
    except pa.ArrowInvalid as err:
        raise (_InvalidText() if _is_utf8_error(err) else explain(err)) from err
    given = {f.name: f.type for f in schema} if schema is not None else {}
    if any(pa.types.is_binary(f.type) and not pa.types.is_binary(given.get(f.name, pa.null())) for f in reader.schema):
        # Arrow infers "binary" for a column whose first block is not valid UTF-8: refuse it rather than land bytes.
        raise _InvalidText()

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            yield from reader
        except pa.ArrowInvalid as err:
            raise (_InvalidText() if _is_utf8_error(err) else explain(err)) from err

    return reader.schema, batches()


# --- JSON Lines --------------------------------------------------------------------------------------------------


def _utf8(stream: Any, encoding: str) -> Any:
    if encoding.replace("-", "").lower() in ("utf8", "ascii"):
        return stream
    return pa.transcoding_input_stream(stream, encoding, "utf-8")


def _jsonl(
    stream: Any, name: str, options: FormatOptions, schema: pa.Schema | None, rejected: list[Rejected]
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    parse = pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer")
    read = pajson.ReadOptions(use_threads=False, block_size=_BLOCK * 4)
    if options.bad_rows == "quarantine":
        return _jsonl_checked(stream, name, options, schema, rejected, parse)
    try:
        reader = pajson.open_json(_utf8(stream, options.encoding), read_options=read, parse_options=parse)
    except pa.ArrowInvalid as err:
        raise _InvalidJson(str(err)) from err

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            yield from reader
        except pa.ArrowInvalid as err:
            raise _InvalidJson(str(err)) from err

    return reader.schema, batches()


class _InvalidJson(Exception):
    """Arrow's JSON reader failed; :func:`decode` re-reads the file to name the line (Arrow only counts rows of a
    block)."""


def _jsonl_checked(
    stream: Any,
    name: str,
    options: FormatOptions,
    schema: pa.Schema | None,
    rejected: list[Rejected],
    parse: pajson.ParseOptions,
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """Quarantine mode: validate each line in Python, hand the good ones to Arrow in chunks."""

    def chunks() -> Iterator[bytes]:
        good: list[bytes] = []
        size = 0
        for number, line in enumerate(_lines(stream), start=1):
            try:
                text = line.decode(options.encoding)
            except UnicodeDecodeError as err:
                reason = f"not valid {options.encoding} at byte offset {err.start} of the line ({err.reason})"
                rejected.append(
                    Rejected(name, number, line[:10_000].decode(options.encoding, "backslashreplace"), reason)
                )
                continue
            if not text.strip():
                continue
            try:
                value = json.loads(text)
                if not isinstance(value, dict):
                    raise ValueError("a JSON Lines record must be an object")
            except ValueError as err:
                rejected.append(Rejected(name, number, text[:10_000], f"invalid JSON: {err}"))
                continue
            encoded = text.encode("utf-8") + b"\n"
            good.append(encoded)
            size += len(encoded)
            if size >= _BLOCK * 4:
                yield b"".join(good)
                good, size = [], 0
        if good:
            yield b"".join(good)

    pieces = chunks()
    first = next(pieces, None)
    if first is None:
        return (schema or pa.schema([])), iter(())
    first_table = pajson.read_json(pa.BufferReader(first), parse_options=parse)
    fixed = pajson.ParseOptions(explicit_schema=first_table.schema, unexpected_field_behavior="infer")

    def batches() -> Iterator[pa.RecordBatch]:
        yield from first_table.to_batches(options.batch_rows)
        for piece in pieces:
            yield from pajson.read_json(pa.BufferReader(piece), parse_options=fixed).to_batches(options.batch_rows)

    return first_table.schema, batches()


def _lines(stream: Any) -> Iterator[bytes]:
    """Split a binary stream into lines (without the line end) in bounded memory."""
    rest = b""
    while block := stream.read(_BLOCK):
        block = rest + block
        lines = block.split(b"\n")
        rest = lines.pop()
        for line in lines:
            yield line[:-1] if line.endswith(b"\r") else line
    if rest:
        yield rest[:-1] if rest.endswith(b"\r") else rest


def _bad_json_line(path: str, name: str, compression: str | None, encoding: str, arrow_error: str) -> SourceError:
    """Name the first line of a JSON Lines file that does not parse (the error path only: it re-reads the file)."""
    for stream, member in _text_streams(path, name, compression):
        for number, line in enumerate(_lines(stream), start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line.decode(encoding))
                if not isinstance(value, dict):
                    raise ValueError("a JSON Lines record must be an object")
            except ValueError as err:
                return SourceError(f"{member} line {number}: invalid JSON ({err}) (or set bad_rows='quarantine')")
    return SourceError(f"{name}: invalid JSON Lines data: {arrow_error}")


# --- fixed width -------------------------------------------------------------------------------------------------


_DECIMAL_RE = re.compile(r"^decimal(?:128)?\((\d+),\s*(\d+)\)$")


def arrow_type(name: str) -> pa.DataType:
    """An Arrow type from its name: ``int64``, ``float64``, ``string``, ``date32``, ``timestamp[us]``,
    ``decimal(9,2)``..."""
    match = _DECIMAL_RE.match(name.strip())
    if match:
        return pa.decimal128(int(match.group(1)), int(match.group(2)))
    if name.startswith("timestamp[") and name.endswith("]"):
        return pa.timestamp(name[len("timestamp[") : -1])  # type: ignore[arg-type]
    try:
        return pa.type_for_alias(name)
    except ValueError as err:
        raise SourceError(f"unknown Arrow type {name!r}") from err


def _fixed(
    stream: Any, name: str, options: FormatOptions, schema: pa.Schema | None, rejected: list[Rejected]
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    fields = options.fixed_fields
    types = [schema.field(f.name).type if schema is not None and f.name in schema.names else None for f in fields]
    types = [t or (arrow_type(f.type) if f.type else pa.string()) for f, t in zip(fields, types, strict=True)]
    out_schema = pa.schema([pa.field(f.name, t) for f, t in zip(fields, types, strict=True)])

    def batches() -> Iterator[pa.RecordBatch]:
        first_line = 1
        buffer: list[str] = []
        for line in _lines(stream):
            buffer.append(line.decode(options.encoding))
            if len(buffer) >= options.batch_rows:
                yield _fixed_batch(buffer, first_line, name, fields, out_schema, options.strip)
                first_line += len(buffer)
                buffer = []
        if buffer:
            yield _fixed_batch(buffer, first_line, name, fields, out_schema, options.strip)

    return out_schema, batches()


def _fixed_batch(
    lines: list[str], first_line: int, name: str, fields: Sequence[FixedField], schema: pa.Schema, strip: bool
) -> pa.RecordBatch:
    text = pa.array(lines, pa.string())
    columns = []
    for spec, target in zip(fields, schema, strict=True):
        column = pc.utf8_slice_codeunits(text, spec.start, spec.start + spec.width)
        if strip:
            column = pc.utf8_trim_whitespace(column)
        if target.type != pa.string():
            column = pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)
            try:
                column = pc.cast(column, target.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
                raise SourceError(_first_bad_value(column, target.type, first_line, name, spec)) from err
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _first_bad_value(column: pa.Array, type_: pa.DataType, first_line: int, name: str, spec: FixedField) -> str:
    for offset, value in enumerate(column.to_pylist()):
        if value is None:
            continue
        try:
            pc.cast(pa.array([value], pa.string()), type_)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return (
                f"{name} line {first_line + offset}, field {spec.name!r} (columns {spec.start + 1}-"
                f"{spec.start + spec.width}): {value!r} is not a valid {type_}"
            )
    return f"{name}: field {spec.name!r} cannot be read as {type_}"


# --- Avro --------------------------------------------------------------------------------------------------------


def avro_to_arrow(schema: Any, named: dict[str, pa.DataType] | None = None) -> pa.DataType:
    """The Arrow type for an Avro schema (as parsed by fastavro)."""
    named = {} if named is None else named
    if isinstance(schema, list):  # a union: nullable when it includes null
        branches = [s for s in schema if s != "null"]
        if len(branches) == 1:
            return avro_to_arrow(branches[0], named)
        return pa.string()  # a real multi-type union has no Arrow equivalent worth the trouble: keep it as text
    if isinstance(schema, str):
        if schema in named:
            return named[schema]
        primitive = {
            "null": pa.null(),
            "boolean": pa.bool_(),
            "int": pa.int32(),
            "long": pa.int64(),
            "float": pa.float32(),
            "double": pa.float64(),
            "bytes": pa.binary(),
            "string": pa.string(),
        }
        if schema not in primitive:
            raise SourceError(f"unsupported Avro type {schema!r}")
        return primitive[schema]
    logical = schema.get("logicalType")
    kind = schema["type"]
    if logical == "decimal":
        return pa.decimal128(int(schema["precision"]), int(schema.get("scale", 0)))
    if logical == "date":
        return pa.date32()
    if logical in ("timestamp-millis", "timestamp-micros"):
        return pa.timestamp("ms" if logical.endswith("millis") else "us", tz="UTC")
    if logical in ("local-timestamp-millis", "local-timestamp-micros"):
        return pa.timestamp("ms" if logical.endswith("millis") else "us")
    if logical in ("time-millis", "time-micros"):
        return pa.time32("ms") if logical.endswith("millis") else pa.time64("us")
    if logical == "uuid":
        return pa.string()
    if kind == "record":
        struct = pa.struct([pa.field(f["name"], avro_to_arrow(f["type"], named)) for f in schema["fields"]])
        named[schema["name"]] = struct
        return struct
    if kind == "enum":
        named[schema["name"]] = pa.string()
        return pa.string()
    if kind == "fixed":
        named[schema["name"]] = pa.binary(int(schema["size"]))
        return named[schema["name"]]
    if kind == "array":
        return pa.list_(avro_to_arrow(schema["items"], named))
    if kind == "map":
        return pa.map_(pa.string(), avro_to_arrow(schema["values"], named))
    return avro_to_arrow(kind, named)


def _avro(
    stream: Any, name: str, options: FormatOptions, schema: pa.Schema | None, rejected: list[Rejected]
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    import fastavro

    reader = fastavro.reader(_PythonStream(stream))  # type: ignore[arg-type]
    record_type = avro_to_arrow(reader.writer_schema)
    if not pa.types.is_struct(record_type):
        raise SourceError(f"{name}: the Avro schema is not a record")
    out_schema = schema or pa.schema(list(record_type))

    def batches() -> Iterator[pa.RecordBatch]:
        chunk: list[dict[str, Any]] = []
        for record in reader:
            chunk.append(record)  # type: ignore[arg-type]
            if len(chunk) >= options.batch_rows:
                yield pa.RecordBatch.from_pylist(chunk, schema=out_schema)
                chunk = []
        if chunk:
            yield pa.RecordBatch.from_pylist(chunk, schema=out_schema)

    return out_schema, batches()


class _PythonStream:
    """fastavro wants a Python file object; Arrow streams are close but not quite (``read(-1)``)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return bytes(self._stream.read())
        return bytes(self._stream.read(size))


# --- Parquet and ORC ---------------------------------------------------------------------------------------------


def _parquet(path: str, options: FormatOptions) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    parquet = pq.ParquetFile(path)

    def batches() -> Iterator[pa.RecordBatch]:
        yield from parquet.iter_batches(batch_size=options.batch_rows)

    return parquet.schema_arrow, batches()


def _orc(path: str, options: FormatOptions) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    import pyarrow.orc as paorc

    orc = paorc.ORCFile(path)

    def batches() -> Iterator[pa.RecordBatch]:
        for stripe in range(orc.nstripes):
            yield from pa.Table.from_batches([orc.read_stripe(stripe)]).to_batches(options.batch_rows)

    return orc.schema, batches()
