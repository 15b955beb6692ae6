"""``zaloni mainframe decode`` and ``zaloni mainframe layout``.

``decode`` writes rows as JSON lines the way Cobrix's ``df.toJSON`` prints them (null fields left out, decimals with
their scale, floats as Java prints them) or streams them into a Parquet file; ``layout`` prints the copybook's field
table (level, name, start, end, length, type).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import decimal
import json
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO, Any

import numpy as np
import pyarrow as pa

from airflow_zaloni.mainframe.copybook import Group, Node, Primitive
from airflow_zaloni.mainframe.decoder import RecordDecoder
from airflow_zaloni.mainframe.errors import MainframeError
from airflow_zaloni.mainframe.options import ReaderOptions
from airflow_zaloni.mainframe.reader import MainframeReader, load_copybook


def register(subparsers: Any) -> None:
    """Add the ``mainframe`` command group to the ``zaloni`` parser's subparsers."""
    mf = subparsers.add_parser("mainframe", help="decode mainframe data with a COBOL copybook")
    commands = mf.add_subparsers(dest="mainframe_command", required=True)
    dec = commands.add_parser("decode", help="decode data files to JSON lines or Parquet")
    dec.add_argument("--copybook", action="append", required=True, help="copybook file (repeat to merge several)")
    dec.add_argument(
        "-o", "--option", action="append", default=[], metavar="NAME=VALUE", help="Cobrix reader option (repeatable)"
    )
    dec.add_argument("--format", choices=("jsonl", "parquet"), default="jsonl")
    dec.add_argument("--output", help="output file (default: JSON lines to stdout)")
    dec.add_argument("data", nargs="+", help="data files, read in order as one input (File_Id = position)")
    dec.set_defaults(func=decode_command)
    lay = commands.add_parser("layout", help="print the copybook's field table")
    lay.add_argument("--copybook", action="append", required=True, help="copybook file (repeat to merge several)")
    lay.add_argument("-o", "--option", action="append", default=[], metavar="NAME=VALUE", help="Cobrix option")
    lay.set_defaults(func=layout_command)


def _options(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise MainframeError(f"option {pair!r} is not NAME=VALUE")
        out[name.strip()] = value
    return out


def decode_command(args: argparse.Namespace) -> int:
    """Decode to ``--output`` (written under a temporary name, renamed into place only when every record decoded:
    a failure leaves no file that looks complete, and an earlier output stays as it was) or to stdout (a stream
    cannot be taken back: the error says how many rows were already written)."""
    written = _RowCount()
    try:
        reader = MainframeReader(args.copybook, _options(args.option))
        if args.format == "parquet" and not args.output:
            raise MainframeError("--format parquet needs --output")
        batches = written.counting(reader.read(args.data))
        if args.format == "parquet":
            import pyarrow.parquet as pq

            with _replace_on_success(args.output) as tmp, pq.ParquetWriter(tmp, reader.schema) as writer:
                for batch in batches:
                    writer.write_batch(batch)
        elif args.output:
            with _replace_on_success(args.output) as tmp, open(tmp, "w", encoding="utf-8") as f:
                write_jsonl(batches, f)
        else:
            write_jsonl(batches, sys.stdout)
    except (MainframeError, OSError) as exc:
        if args.output:
            where = f"; {args.output} was not written"
        elif written.rows:
            where = f"; {written.rows} row(s) were already written to stdout: discard that output"
        else:
            where = ""
        print(f"zaloni mainframe decode: {exc}{where}", file=sys.stderr)
        return 2
    print(f"{reader.records} record(s)", file=sys.stderr)
    return 0


class _RowCount:
    """Counts the rows written: a batch counts once the writer asks for the next one (it is done with it)."""

    def __init__(self) -> None:
        self.rows = 0

    def counting(self, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            yield batch
            self.rows += batch.num_rows


@contextlib.contextmanager
def _replace_on_success(path: str) -> Iterator[str]:
    """A temporary name next to ``path``; renamed to ``path`` if the block succeeds, removed if it does not."""
    folder, name = os.path.split(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # the mode a plain open() would give, not mkstemp's private 0600
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def layout_command(args: argparse.Namespace) -> int:
    try:
        opts = ReaderOptions.parse(_options(args.option))
        book = load_copybook(args.copybook, opts)
        RecordDecoder(book, opts)  # assigns column names (fillers) as the decoder sees them
    except MainframeError as exc:
        print(f"zaloni mainframe layout: {exc}", file=sys.stderr)
        return 2
    for line in layout_lines(book.roots):
        print(line)
    return 0


def _type_of(node: Node) -> str:
    if isinstance(node, Group):
        return "GROUP"
    assert isinstance(node, Primitive)
    usage = "" if node.usage == "DISPLAY" else f" {node.usage}"
    return f"PIC {node.pic}{usage}" if node.pic else node.usage


def layout_lines(roots: Iterable[Node]) -> Iterator[str]:
    yield f"{'LEVEL':<6}{'NAME':<40}{'START':>7}{'END':>7}{'LENGTH':>8}  TYPE"

    def walk(node: Node, base: int, depth: int) -> Iterator[str]:
        start = base + node.offset
        extra = f" OCCURS {node.occurs}" if node.occurs else ""
        extra += f" DEPENDING ON {node.depending_on}" if node.depending_on else ""
        extra += f" REDEFINES {node.redefines}" if node.redefines else ""
        name = "  " * depth + (node.column_name or node.name.replace("-", "_"))
        yield f"{node.level:<6}{name:<40}{start + 1:>7}{start + node.total_size:>7}{node.total_size:>8}  " + (
            _type_of(node) + extra
        )
        if isinstance(node, Group):
            for child in node.children:
                yield from walk(child, start, depth + 1)

    for root in roots:
        yield from walk(root, 0, 0)


# -- Cobrix/Spark toJSON -------------------------------------------------------------------------------------------


def java_float(value: float, single: bool) -> str:
    """A float printed as Java's Float/Double.toString prints it (shortest digits; E notation outside 1e-3..1e7)."""
    x: Any = np.float32(value) if single else np.float64(value)
    if np.isnan(x):
        return '"NaN"'
    if np.isinf(x):
        return '"Infinity"' if x > 0 else '"-Infinity"'
    if x == 0:
        return "-0.0" if np.signbit(x) else "0.0"
    if 1e-3 <= abs(float(x)) < 1e7:
        return np.format_float_positional(x, unique=True, trim="0")
    mantissa, _, exp = np.format_float_scientific(x, unique=True, trim="0").partition("e")
    return f"{mantissa}E{int(exp)}"


def _json(value: Any, typ: pa.DataType) -> str | None:
    if value is None:
        return None
    if pa.types.is_struct(typ):
        parts = []
        for f in typ:
            text = _json(value.get(f.name), f.type)
            if text is not None:
                parts.append(f"{json.dumps(f.name)}:{text}")
        return "{" + ",".join(parts) + "}"
    if pa.types.is_list(typ):
        return "[" + ",".join(_json(v, typ.value_type) or "null" for v in value) + "]"
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return java_float(value, typ == pa.float32())
    if isinstance(value, bytes):
        return json.dumps(base64.b64encode(value).decode())
    return json.dumps(value, ensure_ascii=False)


def write_jsonl(batches: Iterable[pa.RecordBatch], out: IO[str]) -> None:
    """One ``df.toJSON`` line per row."""
    for batch in batches:
        struct = pa.struct(list(batch.schema))
        for row in batch.to_pylist():
            out.write((_json(row, struct) or "{}") + "\n")
