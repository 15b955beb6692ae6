"""``zaloni mainframe decode`` / ``layout`` end to end through the console entry point's parser."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from airflow_zaloni.cli import main
from tests.mainframe.conformance import conformance_dir

CASE = conformance_dir() / "test3_fixed_segment_filter_trimming" / "data"
pytestmark = pytest.mark.skipif(not CASE.is_dir(), reason="Cobrix conformance suite not found")


def test_decode_prints_rows_exactly_as_cobrix_to_json(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(
        [
            "mainframe",
            "decode",
            "--copybook",
            str(CASE / "test3_copybook.cob"),
            "-o",
            "string_trimming_policy=none",
            str(CASE / "test3_data" / "TRAN2.AUG31.DATA.dat"),
        ]
    )
    assert rc == 0
    lines = capsys.readouterr().out.splitlines()
    expected = (CASE / "test3_expected" / "test3_trim_none.txt").read_text(encoding="utf-8").split("\n")
    expected = [e for e in expected if e]
    assert len(lines) == 1000
    assert lines[: len(expected)] == expected  # text-exact: key order, omitted nulls, decimal scale


def test_decode_to_parquet(tmp_path) -> None:
    out = tmp_path / "rows.parquet"
    rc = main(
        [
            "mainframe",
            "decode",
            "--copybook",
            str(CASE / "test3_copybook.cob"),
            "--format",
            "parquet",
            "--output",
            str(out),
            str(CASE / "test3_data" / "TRAN2.AUG31.DATA.dat"),
        ]
    )
    assert rc == 0
    table = pq.read_table(out)
    assert table.num_rows == 1000
    assert str(table.schema.field("AMOUNT").type) == "decimal128(11, 2)"


def test_layout_lists_offsets(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mainframe", "layout", "--copybook", str(CASE / "test3_copybook.cob")]) == 0
    out = capsys.readouterr().out
    amount = next(line for line in out.splitlines() if line.split()[1:2] == ["AMOUNT"])
    start, end, length = map(int, amount.split()[2:5])
    assert (end - start + 1, length) == (8, 8)


def test_bad_copybook_is_a_clear_error(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    cpy = tmp_path / "bad.cpy"
    cpy.write_text("       01  R.\n           05  A  PIC X(3) FROBNICATE.\n")
    data = tmp_path / "d.dat"
    data.write_bytes(b"\xc1\xc2\xc3")
    assert main(["mainframe", "decode", "--copybook", str(cpy), str(data)]) == 2
    err = capsys.readouterr().err
    assert "line 2" in err and "FROBNICATE" in err


# -- a decode that fails half-way leaves no output that looks complete (issue 18) ---------------------------------


def truncated_copy(tmp_path: Path) -> Path:
    """The 1000-record file with its last record cut short: 999 records decode, then the error."""
    cut = tmp_path / "cut.dat"
    cut.write_bytes((CASE / "test3_data" / "TRAN2.AUG31.DATA.dat").read_bytes()[:-5])
    return cut


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_a_failed_decode_leaves_no_output_file(tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out" / f"rows.{fmt}"
    out.parent.mkdir()
    out.write_bytes(b"the previous good output")
    args = ["mainframe", "decode", "--copybook", str(CASE / "test3_copybook.cob"), "--format", fmt]
    rc = main([*args, "--output", str(out), str(truncated_copy(tmp_path))])
    assert rc == 2
    assert "record 999" in capsys.readouterr().err
    # Written under a temporary name and renamed only on success: the old file is untouched, nothing else is left.
    assert out.read_bytes() == b"the previous good output"
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]


def test_a_failed_decode_to_stdout_says_how_many_rows_were_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(["mainframe", "decode", "--copybook", str(CASE / "test3_copybook.cob"), str(truncated_copy(tmp_path))])
    assert rc == 2
    captured = capsys.readouterr()
    written = len(captured.out.splitlines())
    assert written > 0  # a stream cannot be taken back: the error says how much of it to discard
    assert f"{written} row(s) were already written to stdout" in captured.err
