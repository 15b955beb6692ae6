"""plan_byte_ranges: ranges at record boundaries that tile a file, so decoding them part by part equals one decode."""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow as pa
import pytest

from airflow_zaloni.mainframe import DecodeError, decode_file, decode_range
from airflow_zaloni.mainframe.ranges import plan_byte_ranges
from tests.fanout_data import COPYBOOK, LRECL, VB_OPTIONS, customer_records, vb_bytes

IDS = {"generate_record_id": "true"}


def decoded_by_ranges(path: Path, options: dict[str, str], ranges: list[tuple[int, int]]) -> pa.Table:
    batches = [b for start, end in ranges for b in decode_range(path, COPYBOOK, options, start, end)]
    return pa.Table.from_batches(batches)


def decoded_whole(path: Path, options: dict[str, str]) -> pa.Table:
    return pa.Table.from_batches(list(decode_file(path, COPYBOOK, options)))


@pytest.fixture
def records() -> list[bytes]:
    return customer_records(1000)


def test_fixed_length_file_is_cut_at_multiples_of_the_record_length(tmp_path: Path, records: list[bytes]) -> None:
    path = tmp_path / "F.DAT"
    path.write_bytes(b"".join(records))
    options = {"record_format": "F", **IDS}
    ranges = plan_byte_ranges(path, COPYBOOK, options, 3)
    assert ranges == [(0, 334 * LRECL), (334 * LRECL, 668 * LRECL), (668 * LRECL, 1000 * LRECL)]
    assert decoded_by_ranges(path, options, ranges).equals(decoded_whole(path, options))
    assert plan_byte_ranges(1000 * LRECL, COPYBOOK, options, 3) == ranges  # the size alone is enough


def test_fixed_length_cuts_skip_the_file_header(tmp_path: Path, records: list[bytes]) -> None:
    path = tmp_path / "F.DAT"
    path.write_bytes(b"HDR!" + b"".join(records[:10]))
    options = {"record_format": "F", "file_start_offset": "4", **IDS}
    ranges = plan_byte_ranges(path, COPYBOOK, options, 2)
    assert ranges == [(0, 4 + 5 * LRECL), (4 + 5 * LRECL, 4 + 10 * LRECL)]
    assert decoded_by_ranges(path, options, ranges).equals(decoded_whole(path, options))


@pytest.mark.parametrize("parts", [1, 2, 5, 16])
def test_vb_file_is_cut_at_record_starts_by_scanning_its_headers(
    tmp_path: Path, records: list[bytes], parts: int
) -> None:
    path = tmp_path / "VB.DAT"
    path.write_bytes(vb_bytes(records))
    options = {**VB_OPTIONS, **IDS}
    ranges = plan_byte_ranges(path, COPYBOOK, options, parts)
    assert len(ranges) == parts and ranges[0][0] == 0 and ranges[-1][1] == path.stat().st_size
    assert all(a < b for a, b in ranges) and all(ranges[i][1] == ranges[i + 1][0] for i in range(parts - 1))
    whole = decoded_whole(path, options)
    starts = set(_record_offsets(path.read_bytes()))
    assert all(a in starts for a, _ in ranges[1:])  # every cut is the RDW of a record
    sizes = [b - a for a, b in ranges]
    assert max(sizes) - min(sizes) < 2 * (40 * (LRECL + 4) + 4)  # even shares, up to a block or two
    assert decoded_by_ranges(path, options, ranges).equals(whole)


def test_more_parts_than_records_plans_one_range_per_record(tmp_path: Path, records: list[bytes]) -> None:
    path = tmp_path / "VB.DAT"
    path.write_bytes(vb_bytes(records[:3]))
    assert len(plan_byte_ranges(path, COPYBOOK, VB_OPTIONS, 10)) == 3
    assert plan_byte_ranges(3 * LRECL, COPYBOOK, {"record_format": "F"}, 10) == [
        (0, LRECL),
        (LRECL, 2 * LRECL),
        (2 * LRECL, 3 * LRECL),
    ]
    empty = tmp_path / "EMPTY.DAT"
    empty.write_bytes(b"")
    assert plan_byte_ranges(empty, COPYBOOK, VB_OPTIONS, 4) == [(0, 0)]


def test_inputs_that_cannot_be_planned_are_refused_with_the_reason(tmp_path: Path, records: list[bytes]) -> None:
    packed = tmp_path / "F.DAT.gz"
    packed.write_bytes(gzip.compress(b"".join(records)))
    with pytest.raises(ValueError, match=r"F\.DAT\.gz is compressed \(gzip\)"):
        plan_byte_ranges(packed, COPYBOOK, {"record_format": "F"}, 2)
    with pytest.raises(ValueError, match="a size alone cannot be cut into records of record_format=VB"):
        plan_byte_ranges(10_000, COPYBOOK, VB_OPTIONS, 2)
    with pytest.raises(ValueError, match="parts must be at least 1"):
        plan_byte_ranges(10_000, COPYBOOK, {"record_format": "F"}, 0)


def test_a_truncated_vb_file_fails_the_plan_naming_the_offset(tmp_path: Path, records: list[bytes]) -> None:
    data = vb_bytes(records[:100])
    path = tmp_path / "VB.DAT"
    path.write_bytes(data[:-10])
    with pytest.raises(DecodeError, match="truncated block") as err:
        plan_byte_ranges(path, COPYBOOK, VB_OPTIONS, 50)
    assert "VB.DAT" in str(err.value) and err.value.offset is not None


def _record_offsets(data: bytes) -> list[int]:
    """RDW positions, walked by hand (the test's own framing, independent of the decoder's)."""
    offsets, pos = [], 0
    while pos < len(data):
        block_end = pos + 4 + int.from_bytes(data[pos : pos + 2], "big")
        pos += 4
        while pos < block_end:
            offsets.append(pos)
            pos += 4 + int.from_bytes(data[pos : pos + 2], "big")
    return offsets
