"""Plan a fan-out of one mainframe file: byte ranges that start at record boundaries, for :func:`decode_range`.

:func:`~airflow_zaloni.mainframe.reader.decode_range` decodes the records that *start* in ``[start, end)``, so any
tiling of a file decodes every record once. Cutting at record boundaries is what makes the parts even and cheap:

* fixed-length records (``record_format=F``): the cuts are multiples of the record length (after
  ``file_start_offset``), found by arithmetic, and a part seeks straight to its first record;
* everything else (V with RDWs, VB with BDWs and RDWs, FB with BDWs, record length fields, custom headers, text):
  the planner frames the file once -- headers only, nothing is decoded -- and cuts at the first record that starts
  at or after each ``size * k / parts``, so parts hold about the same bytes.

Compressed (gzip, bz2) inputs cannot be split: a byte offset in them means nothing without decompressing everything
before it. Planning one raises a :class:`ValueError` that says so.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from airflow_zaloni.mainframe.options import ReaderOptions
from airflow_zaloni.mainframe.reader import CopybookInput, MainframeReader

__all__ = ["plan_byte_ranges"]


def plan_byte_ranges(
    path_or_size: str | os.PathLike[str] | int,
    copybook: CopybookInput | Sequence[CopybookInput],
    options: Mapping[str, Any] | None = None,
    parts: int = 2,
) -> list[tuple[int, int]]:
    """Byte ranges ``[start, end)`` that tile a mainframe file, each starting at a record boundary.

    The first range starts at 0 and the last ends at the file's size; there are ``parts`` ranges, or fewer when the
    file has fewer records than that (an empty file has the one range ``(0, 0)``).

    :param path_or_size: the file; or, for fixed-length records only, its size in bytes.
    :param copybook: the copybook (text, path or parsed), as for the decoder.
    :param options: the Cobrix reader options the parts decode with (framing options matter here).
    :param parts: how many ranges to plan, at least 1.
    :raises ValueError: ``parts`` below 1, a size given for variable-length records, or a compressed file.
    :raises DecodeError: the file cannot be framed (named with the record and byte offset), as decoding would.
    """
    if parts < 1:
        raise ValueError(f"parts must be at least 1, got {parts}")
    reader = MainframeReader(copybook, options)
    framer = reader._framer()  # the decoder's own framing, so the planner cuts exactly where decoding frames
    length = framer.fixed_record_length if reader.opts.record_format == "F" and reader._variable is None else None
    if isinstance(path_or_size, int):
        if length is None:
            raise ValueError(
                f"a size alone cannot be cut into records of record_format={reader.opts.record_format}: "
                "give the file's path, so its record headers can be read"
            )
        return _fixed_ranges(path_or_size, length, reader.opts, parts)
    path = os.fspath(path_or_size)
    size = os.path.getsize(path)
    with open(path, "rb") as raw:
        head = raw.read(3)
    compression = "gzip" if head[:2] == b"\x1f\x8b" else "bzip2" if head == b"BZh" else None
    if compression:
        raise ValueError(
            f"{path} is compressed ({compression}): byte ranges of it cannot be decoded independently; "
            "decompress it first or decode it in one task"
        )
    if length is not None:
        return _fixed_ranges(size, length, reader.opts, parts)
    return _scanned_ranges(path, size, reader, parts)


def _fixed_ranges(size: int, length: int, opts: ReaderOptions, parts: int) -> list[tuple[int, int]]:
    if length <= 0:
        raise ValueError(f"record length must be positive, got {length}")
    records = max(0, size - opts.file_start_offset - opts.file_end_offset) // length
    per_part = -(-records // parts) if records else 1
    cuts = [opts.file_start_offset + k * per_part * length for k in range(1, parts) if k * per_part < records]
    return _tile(size, cuts)


def _scanned_ranges(path: str, size: int, reader: MainframeReader, parts: int) -> list[tuple[int, int]]:
    """Frame the file (headers only) and cut at the first record starting at or after each target offset."""
    targets = [size * k // parts for k in range(1, parts)]
    cuts: list[int] = []
    framer = reader._framer()
    with open(path, "rb") as stream:
        for chunk in framer.frames(stream, 0, path):
            offsets = chunk.file_offsets
            while targets and len(offsets):
                at = int(np.searchsorted(offsets, targets[0]))
                if at == len(offsets):
                    break  # the next cut lies in a later chunk
                cut = int(offsets[at])
                if not cuts or cut > cuts[-1]:
                    cuts.append(cut)
                targets.pop(0)
            if not targets:
                break
    return _tile(size, [c for c in cuts if 0 < c < size])


def _tile(size: int, cuts: list[int]) -> list[tuple[int, int]]:
    bounds = [0, *sorted(set(cuts)), size]
    return [(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]
