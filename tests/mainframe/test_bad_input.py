"""Bad input gives a clear error naming where, or follows the corrupt-value policy; fuzzing finds no other outcome."""

from __future__ import annotations

import gzip

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_zaloni.mainframe import CopybookError, DecodeError, MainframeError, decode_file, parse_copybook
from airflow_zaloni.mainframe.reader import decode_range, split_ranges
from airflow_zaloni.sources.mainframe import MainframeSource

COPYBOOK = """\
       01  REC.
           05  ID        PIC 9(4).
           05  NAME      PIC X(6).
           05  AMOUNT    PIC S9(5)V99 COMP-3.
"""
# ID "0001".."9999" EBCDIC, NAME, AMOUNT packed +123.45
GOOD = bytes.fromhex("F0F0F0F1") + "ALICE ".encode("cp037") + bytes.fromhex("0012345C")


def rows(data: bytes, options: dict[str, str] | None = None, copybook: str = COPYBOOK) -> list[dict]:
    return [r for b in decode_file(data, copybook, options) for r in b.to_pylist()]


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("       01  R.\n           05  A  PIC X(3) FROBNICATE.\n", 2, "FROBNICATE"),
        ("       01  R.\n           05  A  PIC X(3)\n", 2, "period"),
        ("       01  R.\n           05  A  PIC X(3).\n           66  B RENAMES A.\n", 3, "RENAMES"),
        ("       01  R.\n           05  A  PIC 9(3)Q.\n", 2, "Q"),
        ("       01  R.\n           05  A  PIC X(3) OCCURS 2 DEPENDING ON NOPE.\n", 2, "NOPE"),
        ("       01  R.\n           05  A  PIC X(3).\n           05  B  REDEFINES C PIC X(1).\n", 3, "REDEFINES"),
        ("       01  R.\n           05  G.\n           05  A  PIC X(3).\n", 2, "no fields"),
    ],
)
def test_malformed_copybook_names_line_and_column(text: str, line: int, needle: str) -> None:
    with pytest.raises(CopybookError) as err:
        parse_copybook(text)
    assert err.value.line == line and err.value.column is not None
    assert needle.lower() in str(err.value).lower() and f"line {line}" in str(err.value)


def test_good_record_decodes_exactly() -> None:
    (row,) = rows(GOOD)
    assert row["ID"] == 1 and row["NAME"] == "ALICE"
    assert str(row["AMOUNT"]) == "123.45"  # decimal128 with exact scale, never through float


def test_truncated_fixed_record_names_file_record_and_offset(tmp_path) -> None:
    path = tmp_path / "CUST.DAT"
    path.write_bytes(GOOD * 3 + GOOD[:5])
    with pytest.raises(DecodeError) as err:
        rows(path.read_bytes())
    assert err.value.record == 3 and err.value.offset == 3 * len(GOOD)
    with pytest.raises(DecodeError, match=r"CUST\.DAT.*record 3.*byte offset 42"):
        list(decode_file(path, COPYBOOK))


def test_truncated_variable_record_is_an_error() -> None:
    rdw = lambda n: n.to_bytes(2, "big") + b"\0\0"  # noqa: E731
    data = rdw(len(GOOD)) + GOOD + rdw(len(GOOD)) + GOOD[:7]
    with pytest.raises(DecodeError) as err:
        rows(data, {"record_format": "V", "is_rdw_big_endian": "true"})
    assert err.value.record == 1 and err.value.offset == 4 + len(GOOD)


def test_corrupt_packed_decimal_policy_null_plus_raw_bytes() -> None:
    bad = GOOD[:10] + bytes.fromhex("001234DA")  # 0xA is neither a digit nor a sign nibble
    out = rows(GOOD + bad, {"generate_corrupt_fields": "true"})
    assert out[0]["_corrupt_fields"] == []
    assert out[1]["AMOUNT"] is None
    assert out[1]["_corrupt_fields"] == [{"field_name": "AMOUNT", "raw_value": bytes.fromhex("001234DA")}]


def test_corrupt_value_policy_error_names_record_offset_and_field(tmp_path) -> None:
    bad = GOOD[:10] + bytes.fromhex("0012F45C")
    path = tmp_path / "X.DAT"
    path.write_bytes(GOOD + bad)
    with pytest.raises(DecodeError) as err:
        list(decode_file(path, COPYBOOK, {"corrupt_policy": "error"}))
    e = err.value
    assert (e.record, e.offset, e.field) == (1, len(GOOD) + 10, "AMOUNT") and "X.DAT" in str(e)


def test_gzip_input_decodes_like_plain() -> None:
    assert rows(gzip.compress(GOOD * 4)) == rows(GOOD * 4)


def test_byte_ranges_tile_fixed_and_vb_files(tmp_path) -> None:
    fixed = tmp_path / "F.DAT"
    recs = [f"{i:04d}".encode("cp037") + GOOD[4:] for i in range(50)]
    fixed.write_bytes(b"".join(recs))
    ids = [r["ID"] for a, b in split_ranges(fixed.stat().st_size, 7) for r in _range(fixed, a, b, None)]
    assert ids == list(range(50))
    # VB: blocks of 3 records with a BDW and RDWs (lengths exclude the headers, big-endian)
    hdr = lambda n: n.to_bytes(2, "big") + b"\0\0"  # noqa: E731
    data = b""
    for k in range(0, 50, 3):
        body = b"".join(hdr(len(r)) + r for r in recs[k : k + 3])
        data += hdr(len(body)) + body
    vb = tmp_path / "VB.DAT"
    vb.write_bytes(data)
    opts = {"record_format": "VB", "is_rdw_big_endian": "true", "is_bdw_big_endian": "true"}
    for parts in (1, 4, 9):
        got = [r["ID"] for a, b in split_ranges(len(data), parts) for r in _range(vb, a, b, opts)]
        assert got == list(range(50))


def _range(path, start, end, opts):
    return [r for b in decode_range(path, COPYBOOK, opts, start, end) for r in b.to_pylist()]


def test_source_reports_counters_for_the_manifest() -> None:
    cb = COPYBOOK.replace("05  NAME      PIC X(6).", "05  NAME      PIC X(6).") + ""
    bad = GOOD[:10] + bytes.fromhex("FFFFFFFF")
    src = MainframeSource(
        GOOD * 2 + bad, cb, {"generate_corrupt_fields": "true", "segment_field": "NAME"}, name="PROD.CUST"
    )
    assert src.schema.field("AMOUNT").type == pa.decimal128(7, 2)
    assert sum(b.num_rows for b in src.batches()) == 3
    assert (src.records, src.records_per_segment, src.corrupt_values) == (3, {"ALICE": 3}, 1)
    assert src.cursor is None and src.describe()["data"] == "PROD.CUST"


# -- fuzzing ------------------------------------------------------------------------------------------------------

_words = st.sampled_from(
    ["01", "05", "10", "88", "66", "77", "REC", "A", "B", "PIC", "X(3)", "9(4)", "S9(5)V99", "COMP-3", "COMP",
     "OCCURS", "2", "TO", "5", "DEPENDING", "ON", "REDEFINES", "SIGN", "LEADING", "SEPARATE", "VALUE", "'Q'", ".",
     "FILLER", "BINARY", "COMP-1", "P(3)9", "Z(4).99-", "N(2)", "X(0)", "9(99999999)", "(", ")"]
)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(_words, min_size=1, max_size=9), min_size=1, max_size=8), st.booleans())
@pytest.mark.timeout(60)
def test_fuzz_parser_gives_a_copybook_or_a_copybook_error(lines: list[list[str]], free: bool) -> None:
    text = "\n".join(("" if free else " " * 7) + " ".join(words) for words in lines)
    try:
        book = parse_copybook(text, free_format=free)
    except CopybookError:
        return
    assert book.record_size >= 0


FUZZ_COPYBOOK = """\
       01  REC.
           05  SEG        PIC X(1).
           05  N          PIC 9(1).
           05  ITEMS      OCCURS 0 TO 3 DEPENDING ON N.
               10  Q      PIC S9(3)V9 COMP-3.
               10  Z      PIC S9(3).
           05  B          PIC S9(9) COMP.
           05  F          COMP-2.
           05  T          PIC X(4).
"""


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.sampled_from(["F", "V", "VB", "D"]), st.booleans(), st.booleans())
@pytest.mark.timeout(60)
def test_fuzz_decoder_gives_rows_or_our_error(data: bytes, fmt: str, big: bool, corrupt: bool) -> None:
    opts = {
        "record_format": fmt,
        "is_rdw_big_endian": str(big).lower(),
        "is_bdw_big_endian": str(big).lower(),
        "generate_corrupt_fields": str(corrupt).lower(),
        "segment_field": "SEG",
    }
    try:
        out = [b for b in decode_file(data, FUZZ_COPYBOOK, opts)]
    except MainframeError:
        return
    for batch in out:
        batch.validate(full=True)
        for row in batch.to_pylist():
            assert row["ITEMS"] is None or len(row["ITEMS"]) <= 3


_PICS = st.sampled_from(
    ["X(3)", "X", "A(2)", "9(4)", "S9(3)V99", "9(12)", "S9(20)", "PPP99", "99PPP", "N(2)", "+9(4)", "Z(3)9.99-",
     "S9(4) COMP", "9(9) COMP", "S9(18) BINARY", "9(20) COMP", "S9(7)V99 COMP-3", "9(5) COMP-3U", "S9(4) COMP-9",
     "S9(5) SIGN LEADING SEPARATE", "S9(3) SIGN TRAILING"]
)  # fmt: skip


@st.composite
def copybooks(draw: st.DrawFn) -> str:
    """Valid copybooks: nested groups, OCCURS (with DEPENDING ON a preceding counter), REDEFINES, floats."""
    lines = ["       01  REC.", "           05  CNT  PIC 9(1)."]
    n = draw(st.integers(1, 6))
    for i in range(n):
        kind = draw(st.sampled_from(["prim", "group", "occurs", "odo", "redef", "float"]))
        if kind == "prim":
            lines.append(f"           05  F{i}  PIC {draw(_PICS)}.")
        elif kind == "float":
            lines.append(f"           05  F{i}  {draw(st.sampled_from(['COMP-1', 'COMP-2']))}.")
        elif kind in ("group", "occurs", "odo"):
            occurs = {"group": "", "occurs": " OCCURS 2", "odo": " OCCURS 0 TO 3 DEPENDING ON CNT"}[kind]
            lines.append(f"           05  G{i}{occurs}.")
            for j in range(draw(st.integers(1, 3))):
                lines.append(f"               10  G{i}-F{j}  PIC {draw(_PICS)}.")
        else:
            lines.append(f"           05  R{i}A  PIC X(4).")
            lines.append(
                f"           05  R{i}B  REDEFINES R{i}A PIC {draw(st.sampled_from(['9(4)', 'S9(7) COMP-3']))}."
            )
    return "\n".join(lines) + "\n"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    copybooks(),
    st.binary(max_size=300),
    st.sampled_from(["F", "V", "VB"]),
    st.sampled_from(["common", "cp037", "cp1047", "cp273_extended"]),
    st.booleans(),
    st.booleans(),
    st.sampled_from(["ebcdic", "ascii"]),
)
@pytest.mark.timeout(120)
def test_fuzz_copybooks_and_data(
    copybook: str, data: bytes, fmt: str, page: str, corrupt: bool, variable: bool, encoding: str
) -> None:
    opts = {
        "record_format": fmt,
        "ebcdic_code_page": page,
        "encoding": encoding,
        "generate_corrupt_fields": str(corrupt).lower(),
        "variable_size_occurs": str(variable).lower(),
        "debug": "true",
        "floating_point_format": "IBM",
    }
    if fmt == "F" and not variable:
        size = parse_copybook(copybook).record_size  # whole records, so that rows get decoded
        data = (data * (size // max(1, len(data)) + 2))[: size * max(1, len(data) // size)] if data else b""
    try:
        batches = list(decode_file(data, copybook, opts))
    except MainframeError:
        return
    decoded = 0
    for batch in batches:
        batch.validate(full=True)
        decoded += len(batch.to_pylist())
    if fmt == "F" and not variable and data:
        assert decoded == len(data) // parse_copybook(copybook).record_size


SEG_COPYBOOK = """\
       01  REC.
           05  SEG        PIC X(1).
           05  A.
               10  A1     PIC S9(5)V99 COMP-3.
               10  A2     PIC X(6).
               10  A3     PIC 9(3) OCCURS 2.
           05  B REDEFINES A.
               10  B1     PIC S9(4) COMP.
               10  B2     PIC X(3).
           05  C REDEFINES A.
               10  C1     PIC S9(9).
"""


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.sampled_from([0xC1, 0xC2, 0xC3, 0x40]), st.binary(min_size=0, max_size=20)), max_size=40),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
@pytest.mark.timeout(120)
def test_fuzz_segments_and_hierarchies(records: list, hierarchy: bool, ids: bool, corrupt: bool) -> None:
    data = b"".join((len(body) + 1).to_bytes(2, "big") + b"\0\0" + bytes([seg]) + body for seg, body in records)
    opts = {
        "record_format": "V",
        "is_rdw_big_endian": "true",
        "segment_field": "SEG",
        "redefine_segment_id_map:0": "A => A",
        "redefine_segment_id_map:1": "B => B",
        "redefine_segment_id_map:2": "C => C",
        "generate_corrupt_fields": str(corrupt and not hierarchy).lower(),
        "batch_rows": "7",
    }
    if hierarchy:
        opts["segment-children:0"] = "A => B,C"
    if ids:
        opts["segment_id_level0"] = "A"
        opts["segment_id_level1"] = "B,C"
    try:
        batches = list(decode_file(data, SEG_COPYBOOK, opts))
    except MainframeError:
        return
    out = [r for b in batches for r in b.to_pylist()]
    for b in batches:
        b.validate(full=True)
    if not hierarchy:
        assert len(out) == len(records)
        for row, (seg, _) in zip(out, records):
            present = {k for k in ("A", "B", "C") if row.get(k) is not None}
            assert present == ({chr(ord("A") + seg - 0xC1)} if seg != 0x40 else set())
