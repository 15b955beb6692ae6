"""``zaloni mainframe decode`` / ``layout`` end to end through the console entry point's parser."""

from __future__ import annotations

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
