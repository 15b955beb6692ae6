"""Features of the issue beyond the Cobrix conformance cases: formats, copybook syntax, options handling."""

from __future__ import annotations

import bz2
import logging
from decimal import Decimal

import pyarrow as pa
import pytest

from airflow_zaloni.mainframe import OptionError, decode_file, parse_copybook
from airflow_zaloni.mainframe.reader import decode_range, split_ranges

CB = """\
       01  REC.
           05  ID        PIC 9(4).
           05  NAME      PIC X(6).
"""


def ebc(text: str) -> bytes:
    return text.encode("cp037")


def rows(data, copybook=CB, options=None) -> list[dict]:
    return [r for b in decode_file(data, copybook, options) for r in b.to_pylist()]


def rdw(n: int, big: bool = True) -> bytes:
    return n.to_bytes(2, "big") + b"\0\0" if big else b"\0\0" + n.to_bytes(2, "little")


RECS = [ebc(f"{i:04d}NAME{i:02d}") for i in range(20)]


def test_fb_with_block_descriptor_words() -> None:
    data = b"".join(rdw(3 * 10) + b"".join(RECS[k : k + 3]) for k in range(0, 18, 3))
    got = rows(data, options={"record_format": "FB", "is_bdw_big_endian": "true"})
    assert [r["ID"] for r in got] == list(range(18))


def test_fb_without_bdw_when_blocking_is_given() -> None:
    got = rows(b"".join(RECS), options={"record_format": "FB", "records_per_block": "5"})
    assert [r["NAME"] for r in got] == [f"NAME{i:02d}" for i in range(20)]
    # Blocks of 25 bytes hold two 10-byte records and a 5-byte remainder, which Cobrix reads as a short record.
    pad = b"\x40" * 5
    data = RECS[0] + RECS[1] + pad + RECS[2] + RECS[3] + pad
    got = rows(data, options={"record_format": "FB", "block_length": "25"})
    assert [r["ID"] for r in got] == [0, 1, None, 2, 3, None]


@pytest.mark.parametrize("big", [True, False])
def test_v_records_and_rdw_part_of_length(big: bool) -> None:
    data = b"".join(rdw(len(r) + 4, big) + r for r in RECS)
    opts = {"record_format": "V", "is_rdw_big_endian": str(big).lower(), "is_rdw_part_of_record_length": "true"}
    assert [r["ID"] for r in rows(data, options=opts)] == list(range(20))


def test_v_byte_ranges_tile_the_file(tmp_path) -> None:
    path = tmp_path / "V.DAT"
    path.write_bytes(b"".join(rdw(len(r)) + r for r in RECS))
    opts = {"record_format": "V", "is_rdw_big_endian": "true", "generate_record_id": "true"}
    got = [
        (r["Record_Id"], r["ID"])
        for a, b in split_ranges(path.stat().st_size, 6)
        for batch in decode_range(path, CB, opts, a, b)
        for r in batch.to_pylist()
    ]
    assert got == [(i, i) for i in range(20)]


def test_text_records_and_bz2() -> None:
    text = b"0001ALICE \r\n0002BOB\n\n0003CAROL "
    got = rows(bz2.compress(text), options={"record_format": "D"})
    assert [(r["ID"], r["NAME"]) for r in got] == [(1, "ALICE"), (2, "BOB"), (3, "CAROL")]


def test_several_files_are_one_input_with_file_ids(tmp_path) -> None:
    a, b = tmp_path / "A.DAT", tmp_path / "B.DAT"
    a.write_bytes(b"".join(RECS[:2]))
    b.write_bytes(b"".join(RECS[2:5]))
    got = rows([a, b], options={"generate_record_id": "true"})
    assert [(r["File_Id"], r["Record_Id"], r["ID"]) for r in got] == [
        (0, 0, 0), (0, 1, 1), (1, 0, 2), (1, 1, 3), (1, 2, 4)
    ]  # fmt: skip


def test_free_format_levels_77_88_and_comments() -> None:
    text = """
*> a free-format copybook
01 REC.
   05 STATUS PIC X.
      88 ACTIVE VALUE 'A'.
   05 AMOUNT PIC S9(3)V99 COMP-3U.  *> unsigned packed, no sign nibble
   05 LE-NUM PIC S9(4) COMP-9.
77 STANDALONE PIC X(2).
"""
    book = parse_copybook(text, free_format=True)
    status = book.find("STATUS")
    assert status.values == ["ACTIVE VALUE 'A'"]
    assert book.find("AMOUNT").size == 3 and book.find("LE-NUM").size == 2
    data = ebc("A") + bytes.fromhex("012345") + (-2).to_bytes(2, "little", signed=True) + ebc("ZY")
    # Like a further 01 record, the 77-level item follows the record before it (Cobrix's layout); an elementary
    # item at the top level makes the copybook "flat", so the top-level items are the columns.
    (row,) = rows(data, text, {"copybook_format": "free"})
    assert row["REC"] == {"STATUS": "A", "AMOUNT": Decimal("123.45"), "LE_NUM": -2}
    assert row["STANDALONE"] == "ZY"


def test_unknown_options_warn_or_fail_with_pedantic(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert rows(RECS[0], options={"recrod_format": "F"})[0]["ID"] == 0
    assert "recrod_format" in caplog.text
    with pytest.raises(OptionError, match="recrod_format"):
        rows(RECS[0], options={"recrod_format": "F", "pedantic": "true"})


def test_bad_option_values_are_named() -> None:
    with pytest.raises(OptionError, match="record_format"):
        rows(RECS[0], options={"record_format": "XYZ"})
    with pytest.raises(OptionError, match="ebcdic_code_page"):
        rows(RECS[0], options={"ebcdic_code_page": "cp9999"})


@pytest.mark.parametrize(
    ("page", "byte", "char"),
    [("cp037", 0x4A, "¢"), ("cp1047", 0xAD, "["), ("cp277", 0x5B, "Å"), ("cp1141", 0x9F, "€"), ("cp875", 0x41, "Α")],
)
def test_code_pages(page: str, byte: int, char: str) -> None:
    cb = "       01  R.\n           05  T  PIC X(1).\n"
    assert rows(bytes([byte]), cb, {"ebcdic_code_page": page})[0]["T"] == char


def test_decimals_are_exact_decimal128() -> None:
    cb = "       01  R.\n           05  D  PIC S9(17)V9(2) COMP-3.\n           05  E  PIC 9(20)V99.\n"
    data = bytes.fromhex("1234567890123456789D") + ebc("1234567890123456789012")
    batch = next(iter(decode_file(data, cb)))
    assert batch.schema.field("D").type == pa.decimal128(19, 2)
    row = batch.to_pylist()[0]
    assert row["D"] == Decimal("-12345678901234567.89")
    assert row["E"] == Decimal("12345678901234567890.12")


@pytest.mark.parametrize(
    ("case", "variant"),
    [
        ("test5_ebcdic_rdw_le_multisegment", "test5"),  # segment ids carried from batch to batch
        ("test17def_hierarchical_ascii", "test17d"),  # parent-child rows spanning batches
        ("test1_fixed_comp3_odo_redefines", "test1b"),  # OCCURS DEPENDING ON
        ("test21_nested_odo_variable", "test21"),  # variable-size OCCURS
    ],
)
def test_rows_do_not_depend_on_the_batch_size(case: str, variant: str) -> None:
    import json

    from tests.mainframe.conformance import conformance_dir

    folder = conformance_dir() / case
    if not folder.is_dir():
        pytest.skip("Cobrix conformance suite not found")
    spec = next(v for v in json.loads((folder / "case.json").read_text())["variants"] if v["name"] == variant)
    books = [str(folder / c) for c in spec["copybooks"]]
    data = [str(folder / d) for d in spec["data"]]
    whole = [r for b in decode_file(data, books, spec["options"]) for r in b.to_pylist()]
    small = [r for b in decode_file(data, books, {**spec["options"], "batch_rows": "3"}) for r in b.to_pylist()]
    assert len(whole) > 3 and small == whole


HIER = """\
       01  REC.
           05  SEG        PIC X(1).
           05  COMPANY.
               10  CNAME  PIC X(5).
           05  DEPT REDEFINES COMPANY.
               10  DNAME  PIC X(3).
           05  EMPLOYEE REDEFINES COMPANY.
               10  ENAME  PIC X(4).
           05  OFFICE REDEFINES COMPANY.
               10  CITY   PIC X(5).
"""


def test_multi_level_hierarchy_in_copybook_order() -> None:
    recs = ["CACME", "DHR", "EANN", "OPARIS", "EBOB", "DIT", "ECARL", "CBETA", "DOPS", "OROME"]
    data = b"".join(rdw(len(r), big=False) + r.encode() for r in recs)
    opts = {
        "encoding": "ascii",
        "record_format": "V",
        "segment_field": "SEG",
        "redefine_segment_id_map:1": "COMPANY => C",
        "redefine_segment_id_map:2": "DEPT => D",
        "redefine_segment_id_map:3": "EMPLOYEE => E",
        "redefine_segment_id_map:4": "OFFICE => O",
        "segment-children:1": "COMPANY => DEPT",
        "segment-children:2": "DEPT => OFFICE,EMPLOYEE",  # listed out of copybook order
        "generate_record_id": "true",
    }
    batches = list(decode_file(data, HIER, opts))
    dept = batches[0].schema.field("COMPANY").type.field("DEPT").type.value_type
    assert [f.name for f in dept] == ["DNAME", "EMPLOYEE", "OFFICE"]
    got = [r for b in batches for r in b.to_pylist()]
    assert [(r["Record_Id"], r["Record_Byte_Length"]) for r in got] == [(7, 30), (10, 14)]
    assert got[0]["COMPANY"] == {
        "CNAME": "ACME",
        "DEPT": [
            {"DNAME": "HR", "EMPLOYEE": [{"ENAME": "ANN"}, {"ENAME": "BOB"}], "OFFICE": [{"CITY": "PARIS"}]},
            {"DNAME": "IT", "EMPLOYEE": [{"ENAME": "CARL"}], "OFFICE": []},
        ],
    }
    assert got[1]["COMPANY"] == {
        "CNAME": "BETA",
        "DEPT": [{"DNAME": "OPS", "EMPLOYEE": [], "OFFICE": [{"CITY": "ROME"}]}],
    }
    assert "DEPT" not in got[0] and "EMPLOYEE" not in got[0]


def test_record_bytes_display_as_string_and_debug_columns() -> None:
    cb = "       01  R.\n           05  N  PIC S9(3).\n           05  T  PIC X(2).\n"
    data = ebc("12") + bytes([0xD3]) + ebc("AB")  # -123, "AB"
    (row,) = rows(data, cb, {"generate_record_bytes": "true", "debug": "true"})
    assert row["Record_Bytes"] == data and row["N"] == -123 and row["N_debug"] == "F1F2D3"
    assert row["T_debug"] == "C1C2"
    batch = next(iter(decode_file(data, cb, {"display_pic_always_string": "true"})))
    assert batch.schema.field("N").type == pa.string()  # DISPLAY numbers stay text
