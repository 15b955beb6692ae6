"""Copybook syntax found in real-world copybooks, laid out as Cobrix lays it out, and the limits that are errors."""

from __future__ import annotations

from decimal import Decimal

import pytest

from airflow_zaloni.mainframe import CopybookError, DecodeError, decode_file, parse_copybook


def ebc(text: str) -> bytes:
    return text.encode("cp037")


def rows(data: bytes, copybook: str, options: dict[str, str] | None = None) -> list[dict]:
    return [r for b in decode_file(data, copybook, options) for r in b.to_pylist()]


def layout(copybook: str) -> list[tuple[str, int, int]]:
    """(name, absolute offset, size) of every field, as Cobrix's generateRecordLayoutPositions lists them."""
    out = []
    for node in parse_copybook(copybook).walk():
        off, cur = 0, node
        while cur is not None:
            off += cur.offset
            cur = cur.parent
        out.append((node.name, off, node.total_size))
    return out


# -- 1. items below level 01 with no 01 above (copybook fragments such as JRecord's DTAR020) ----------------------

FRAGMENT = """\
        03  DTAR020-KCODE-STORE-KEY.
            05 DTAR020-KEYCODE-NO      PIC X(08).
            05 DTAR020-STORE-NO        PIC S9(03)   COMP-3.
        03  DTAR020-DATE               PIC S9(07)   COMP-3.
        03  DTAR020-QTY-SOLD           PIC S9(9)    COMP-3.
"""


def test_fragment_without_01_is_laid_out_like_cobrix() -> None:
    assert layout(FRAGMENT) == [
        ("DTAR020-KCODE-STORE-KEY", 0, 10),
        ("DTAR020-KEYCODE-NO", 0, 8),
        ("DTAR020-STORE-NO", 8, 2),
        ("DTAR020-DATE", 10, 4),
        ("DTAR020-QTY-SOLD", 14, 5),
    ]
    rec = ebc("63604808") + bytes.fromhex("020C") + bytes.fromhex("0150228C") + bytes.fromhex("000000001C")
    (row,) = rows(rec, FRAGMENT)
    # A copybook with fields at the top level is "flat" for Cobrix: its top-level items are the columns.
    assert row == {
        "DTAR020_KCODE_STORE_KEY": {"DTAR020_KEYCODE_NO": "63604808", "DTAR020_STORE_NO": 20},
        "DTAR020_DATE": 150228,
        "DTAR020_QTY_SOLD": 1,
    }


def test_flat_copybook_of_01_primitives_follows_cobrix_flat_copybooks_spec() -> None:
    text = """\
        01  F1    PIC X(10).
        01  F2    PIC 9(4).
        01  F3    PIC S9(6).
        01  G1.
          03  F4  PIC 9(4).
"""
    assert layout(text) == [("F1", 0, 10), ("F2", 10, 4), ("F3", 14, 6), ("G1", 20, 4), ("F4", 20, 4)]
    (row,) = rows(ebc("ABCDEFGHIJ0012000034") + ebc("0056"), text)
    assert row == {"F1": "ABCDEFGHIJ", "F2": 12, "F3": 34, "G1": {"F4": 56}}


# -- 5. several 01 records ---------------------------------------------------------------------------------------

TWO_RECORDS = """\
       01  HEADER-REC.
           05  H-TYPE      PIC X.
           05  H-DATE      PIC 9(8).
       01  DETAIL-REC.
           05  D-TYPE      PIC X.
           05  D-AMOUNT    PIC 9(3)V99.
"""


def test_several_01_records_follow_one_another_as_in_cobrix() -> None:
    assert layout(TWO_RECORDS) == [
        ("HEADER-REC", 0, 9),
        ("H-TYPE", 0, 1),
        ("H-DATE", 1, 8),
        ("DETAIL-REC", 9, 6),
        ("D-TYPE", 9, 1),
        ("D-AMOUNT", 10, 5),
    ]
    data = ebc("H20240131D12345")
    (row,) = rows(data, TWO_RECORDS, {"schema_retention_policy": "keep_original"})
    assert row == {
        "HEADER_REC": {"H_TYPE": "H", "H_DATE": 20240131},
        "DETAIL_REC": {"D_TYPE": "D", "D_AMOUNT": Decimal("123.45")},
    }
    # collapse_root (the default) lists the fields of every record at the top level, as Cobrix does.
    (row,) = rows(data, TWO_RECORDS)
    assert list(row) == ["H_TYPE", "H_DATE", "D_TYPE", "D_AMOUNT"]


def test_01_records_that_redefine_share_the_record_area() -> None:
    text = TWO_RECORDS.replace("01  DETAIL-REC.", "01  DETAIL-REC REDEFINES HEADER-REC.")
    assert [x for x in layout(text) if x[0] == "D-AMOUNT"] == [("D-AMOUNT", 1, 5)]
    assert parse_copybook(text).record_size == 9


# -- 2. a comma in an edited PIC, 3. '*' in column 8 ---------------------------------------------------------------


def test_comma_in_edited_pic_is_part_of_the_picture() -> None:
    text = """\
       01  REC.
           05  AMOUNT   PIC ZZZ,ZZ9.99-.
           05  CODES    PIC X(2) VALUES 'AB', 'CD'.
           05  REST     PIC X(2).
"""
    assert layout(text)[1:] == [("AMOUNT", 0, 11), ("CODES", 11, 2), ("REST", 13, 2)]
    got = rows(ebc("  1,234.56-ABCD") + ebc("    987.00 XYZW"), text)
    assert [r["AMOUNT"] for r in got] == [Decimal("-1234.56"), Decimal("987.00")]
    assert [r["REST"] for r in got] == ["CD", "ZW"]


def test_star_in_column_8_is_a_comment_line() -> None:
    text = """\
       01  REC.
       * a comment in area A, as JRecord and cb2xml read it
           05  A  PIC X(2).
        *   05  B  PIC X(2).
           05  C  PIC X(2).
"""
    assert [n for n, _, _ in layout(text)] == ["REC", "A", "C"]


# -- 4. a missing period must not swallow the next item -----------------------------------------------------------


@pytest.mark.parametrize(
    "clause",
    ["VALUE 'Y'", "VALUE ZERO", "VALUES 1 2 3", "OCCURS 3 INDEXED BY IX", "PIC X(2)"],
)
def test_missing_period_is_an_error_naming_the_line(clause: str) -> None:
    text = f"""\
       01  REC.
           05  A  PIC X(2) {clause}
           05  B  PIC X(2).
           05  C  PIC X(2).
"""
    text = text.replace("PIC X(2) PIC X(2)", "PIC X(2)")
    with pytest.raises(CopybookError) as err:
        parse_copybook(text)
    assert err.value.line == 3 and "period" in str(err.value) and "B" in str(err.value)


def test_statements_spread_over_lines_still_parse() -> None:
    text = """\
       01  REC.
           05  CNT  PIC 9.
           05  A    OCCURS 1 TO
                    3 TIMES DEPENDING ON CNT
                    INDEXED BY IX.
               10  A1  PIC X(2)
                       VALUE
                       'ZZ'.
           05  FLAG PIC X VALUES 'A' 'B'
                                 'C'.
               88  IS-A VALUE 'A'.
"""
    assert [n for n, _, _ in layout(text)] == ["REC", "CNT", "A", "A1", "FLAG"]


# -- 6. duplicate field names -------------------------------------------------------------------------------------


def test_duplicate_names_in_one_group_are_an_error_naming_the_line() -> None:
    text = """\
       01  REC.
           05  G.
               10  A  PIC X.
               10  A  PIC X.
"""
    with pytest.raises(CopybookError) as err:
        list(decode_file(ebc("XY"), text))
    assert err.value.line == 4 and "duplicate" in str(err.value).lower() and "A" in str(err.value)


def test_same_name_in_different_groups_is_fine() -> None:
    text = """\
       01  REC.
           05  G1.
               10  A  PIC X.
           05  G2.
               10  A  PIC X.
           05  FILLER PIC X.
           05  FILLER PIC X.
"""
    assert rows(ebc("XYZW"), text) == [{"G1": {"A": "X"}, "G2": {"A": "Y"}}]


def test_top_level_collision_after_collapse_root_is_an_error_not_wrong_json() -> None:
    text = TWO_RECORDS.replace("D-TYPE", "H-TYPE")
    with pytest.raises(CopybookError) as err:
        list(decode_file(ebc("H20240131D12345"), text))
    assert "H_TYPE" in str(err.value) and "keep_original" in str(err.value)
    (row,) = rows(ebc("H20240131D12345"), text, {"schema_retention_policy": "keep_original"})
    assert row["DETAIL_REC"]["H_TYPE"] == "D"


# -- 7. short variable records, huge record sizes -----------------------------------------------------------------

CB = """\
       01  REC.
           05  ID    PIC 9(4).
           05  NAME  PIC X(6).
"""


@pytest.mark.parametrize("fmt", ["V", "VB"])
def test_variable_record_shorter_than_record_start_offset_is_a_decode_error(fmt: str) -> None:
    rec = ebc("AB")
    data = len(rec).to_bytes(2, "big") + b"\0\0" + rec
    if fmt == "VB":
        data = (len(data)).to_bytes(2, "big") + b"\0\0" + data
    opts = {"record_format": fmt, "is_rdw_big_endian": "true", "is_bdw_big_endian": "true"}
    opts["record_start_offset"] = "4"
    with pytest.raises(DecodeError) as err:
        rows(data, CB, opts)
    assert err.value.record == 0 and "record_start_offset" in str(err.value)


@pytest.mark.parametrize(
    "text",
    [
        "       01  REC.\n           05  A  PIC X(100000) OCCURS 100000.\n",
        "       01  REC.\n           05  G OCCURS 50000.\n               10  A  PIC X(60000).\n",
    ],
)
@pytest.mark.parametrize("fmt", ["F", "V"])
def test_huge_record_size_is_a_documented_error_not_memory_error(text: str, fmt: str) -> None:
    with pytest.raises(CopybookError, match="at most"):
        rows(b"\0\0\0\0", text, {"record_format": fmt, "variable_size_occurs": "true"})


# -- 8. debug_ignore_file_size -----------------------------------------------------------------------------------


def test_debug_ignore_file_size_reads_whole_records_and_ignores_the_rest() -> None:
    data = ebc("0001ALICE 0002BOB   00")
    with pytest.raises(DecodeError, match="NOT DIVISIBLE"):
        rows(data, CB)
    got = rows(data, CB, {"debug_ignore_file_size": "true"})
    assert [r["ID"] for r in got] == [1, 2]


# -- display numbers with an explicit decimal point in fraction-only fields ----------------------------------------


@pytest.mark.parametrize(
    ("pic", "data", "value"),
    [
        (".99", ".12", Decimal("0.12")),
        (".99", ".5 ", Decimal("0.50")),
        (".99", "0.5", Decimal("0.50")),
        ("S.99", ".1K", Decimal("-0.12")),  # overpunched sign in the last digit
        ("S.99 SIGN LEADING SEPARATE", "-.12", Decimal("-0.12")),
        ("+.99", "-.12", Decimal("-0.12")),
        (".99-", ".12-", Decimal("-0.12")),
        (".9(4)", ".1234", Decimal("0.1234")),
        (".99", "1.2", None),  # more than the field holds: null, as Spark's decimal(2,2) makes it in Cobrix
        (".99", "  5", None),
    ],
)
def test_explicit_point_in_fraction_only_fields(pic: str, data: str, value: Decimal | None) -> None:
    text = f"       01  R.\n           05  A  PIC {pic}.\n"
    batches = list(decode_file(ebc(data), text))
    typ = batches[0].schema.field("A").type
    assert typ.scale == typ.precision == parse_copybook(text).find("A").digits  # a fraction-only decimal
    assert batches[0].to_pylist() == [{"A": value}]
