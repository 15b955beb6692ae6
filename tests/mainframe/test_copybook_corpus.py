"""Regression corpus: copybooks with the constructs of real-world layouts (tests/data/copybooks), their layouts, and
records made for them by an encoder written here from COBOL's rules (not from the decoder's kernels)."""

from __future__ import annotations

import random
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from airflow_zaloni.mainframe import decode_file, parse_copybook
from airflow_zaloni.mainframe.copybook import BINARY, PACKED, Copybook, Group, Node, Primitive

CORPUS = Path(__file__).resolve().parents[1] / "data" / "copybooks"


def text(name: str) -> str:
    return (CORPUS / name).read_text()


# -- layouts, written out by hand from the copybooks ---------------------------------------------------------------

LAYOUTS = {
    "acct_master.cpy": (120, {"ACCT-BALANCE": (45, 7), "ACCT-INTEREST-RATE": (66, 3), "ACCT-CYCLE-DEBIT": (80, 12)}),
    "auth_segment.cpy": (84, {"AUTH-TIME-9C": (3, 5), "AUTH-APPROVED-AMT": (43, 7), "AUTH-MATCH-STATUS": (74, 1)}),
    "export_multi.cpy": (200, {"EXP-ACCT-CYC-DEBIT": (71, 8), "EXP-TRAN-AMT": (120, 6), "EXPORT-TIME": (12, 15)}),
    "report_line.cpy": (80, {"STMT-AMOUNT": (30, 15), "STMT-POINTS": (47, 6), "STMT-RATE": (55, 6)}),
    "order_odo.cpy": (97, {"ORD-LINES": (16, 15), "ORD-TOTAL": (91, 6)}),
    "header_detail_trailer.cpy": (40, {"DTL-RECORD": (14, 16), "DTL-FIELD-2": (25, 5), "TRL-RECORD-COUNT": (31, 9)}),
}


def absolute(node: Node) -> int:
    off, cur = 0, node
    while cur is not None:
        off += cur.offset
        cur = cur.parent
    return off


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_corpus_layouts(name: str) -> None:
    size, fields = LAYOUTS[name]
    book = parse_copybook(text(name))
    assert book.record_size == size
    for field, (offset, length) in fields.items():
        node = book.find(field)
        assert (absolute(node), node.size) == (offset, length), field


def test_every_corpus_file_has_a_licence_note() -> None:
    notes = (CORPUS / "LICENSES" / "README.md").read_text()
    for path in CORPUS.glob("*.cpy"):
        assert path.name in notes


# -- an encoder from COBOL's rules ---------------------------------------------------------------------------------


def _pic(p: Primitive) -> str:
    return re.sub(r"(.)\((\d+)\)", lambda m: m.group(1) * int(m.group(2)), p.pic.upper())


def _edit(pic: str, value: int) -> str:
    """``value`` (unscaled, sign apart) written into an edited picture: Z suppresses leading zeros (and the commas
    among them), ',' '.' '/' are inserted, a trailing '-' shows the sign."""
    negative = value < 0
    slots = sum(c in "9Z" for c in pic)
    digits = iter(str(abs(value)).zfill(slots))
    out, seen_nonzero = [], False
    for i, c in enumerate(pic):
        if c in "9Z":
            d = next(digits)
            after_point = "." in pic[:i]
            seen_nonzero = seen_nonzero or d != "0" or c == "9" or after_point
            out.append(d if seen_nonzero else " ")
        elif c == ",":
            out.append("," if seen_nonzero else " ")
        elif c in "./":
            seen_nonzero = seen_nonzero or c == "."
            out.append(c)
        elif c == "-":
            out.append("-" if negative else " ")
    return "".join(out)


def _encode(p: Primitive, rng: random.Random, forced: int | None) -> tuple[bytes, Any]:
    if p.kind == "alnum":
        s = "".join(rng.choice("ABCXYZ 0189") for _ in range(rng.randrange(p.size + 1))).strip()
        return s.ljust(p.size).encode("cp037"), s
    digits = p.digits
    value = forced if forced is not None else rng.randrange(10**digits)
    if p.signed and forced is None and rng.random() < 0.4:
        value = -value
    expected: Any = value if not p.has_point_or_p else Decimal(value).scaleb(-p.scale)
    if p.usage == PACKED:
        nibbles = str(abs(value)).zfill(2 * p.size - 1)
        sign = ("D" if value < 0 else "C") if p.signed else "F"
        return bytes.fromhex(nibbles + sign), expected
    if p.usage == BINARY:
        return value.to_bytes(p.size, "big", signed=True), expected
    if p.edited:
        return _edit(_pic(p), value).encode("cp037"), expected
    body = str(abs(value)).zfill(digits)
    if p.sign_separate:
        sign = "-" if value < 0 else "+"
        return (sign + body if p.sign_leading else body + sign).encode("cp037"), expected
    raw = bytearray(body.encode("cp037"))
    if p.signed:  # an overpunched sign: zone C (+) or D (-) on the last digit (the first with SIGN LEADING)
        k = 0 if p.sign_leading else -1
        raw[k] = (0xD0 if value < 0 else 0xC0) | (raw[k] & 0x0F)
    return bytes(raw), expected


def make_record(book: Copybook, rng: random.Random, keep: set[str]) -> tuple[bytes, dict[tuple, Any]]:
    """One record and the values a reader must return for it, by column path (names as Cobrix spells them).

    :param keep: the names of the REDEFINES alternatives written (others, and redefined bases, are not checked).
    """
    buf = bytearray(b"\x40" * book.record_size)
    expected: dict[tuple, Any] = {}
    counts: dict[str, int] = {}
    for node in book.walk():
        if node.depending_on:
            counts[node.depending_on.upper()] = rng.randint(node.occurs_min or 0, node.occurs or 0)

    def walk(node: Node, base: int, path: tuple, checked: bool) -> None:
        if (node.is_redefined or node.redefines) and node.name not in keep:
            return  # one alternative of a REDEFINES is written: the one in `keep`
        n = node.occurs or 1
        if node.depending_on:
            n = counts[node.depending_on.upper()]
        for i in range(n):
            start = base + node.offset + i * node.size
            here = path + ((node.name.replace("-", "_"),) if not node.is_filler else ("FILLER",))
            if node.is_array:
                here = (*here, i)
            if isinstance(node, Group):
                for child in node.children:
                    walk(child, start, here, checked and not node.is_filler)
            else:
                raw, value = _encode(node, rng, counts.get(node.name.upper()))
                buf[start : start + node.size] = raw
                if checked and not node.is_filler:
                    expected[here] = value

    for root in book.roots:
        walk(root, 0, (), True)
    return bytes(buf), expected


def flatten(row: dict, path: tuple = ()) -> dict[tuple, Any]:
    out: dict[tuple, Any] = {}
    for key, value in row.items():
        if isinstance(value, dict):
            out.update(flatten(value, (*path, key)))
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for i, item in enumerate(value):
                out.update(flatten(item, (*path, key, i)))
        else:
            out[(*path, key)] = value
    return out


def check(name: str, options: dict[str, str], keep_for=lambda rng: set(), n: int = 60, seed: int = 7) -> None:
    book = parse_copybook(text(name))
    rng = random.Random(seed)
    records, wanted = [], []
    for _ in range(n):
        raw, exp = make_record(book, rng, keep_for(rng))
        records.append(raw)
        wanted.append(exp)
    root_names = {r.name.replace("-", "_") for r in book.roots if isinstance(r, Group)}
    flat_book = any(isinstance(r, Primitive) for r in book.roots)
    collapse = options.get("schema_retention_policy", "collapse_root") == "collapse_root" and not flat_book
    rows = [r for b in decode_file(b"".join(records), text(name), options) for r in b.to_pylist()]
    assert len(rows) == n
    for row, exp in zip(rows, wanted):
        got = flatten(row)
        for path, value in exp.items():
            key = path[1:] if collapse and path[0] in root_names else path
            assert got[key] == value, (path, got.get(key), value)


def test_account_master() -> None:
    check("acct_master.cpy", {})


def test_database_segment_fragment() -> None:
    check("auth_segment.cpy", {})


def test_statement_print_lines_with_edited_numbers() -> None:
    check("report_line.cpy", {})


def test_header_detail_trailer_records() -> None:
    check("header_detail_trailer.cpy", {})
    check("header_detail_trailer.cpy", {"schema_retention_policy": "keep_original"})


def test_order_with_occurs_depending_on() -> None:
    check("order_odo.cpy", {})


SEGMENTS = {"C": "EXPORT-CUSTOMER-DATA", "A": "EXPORT-ACCOUNT-DATA", "T": "EXPORT-TRANSACTION-DATA"}


def test_multi_record_export_by_segment() -> None:
    book = parse_copybook(text("export_multi.cpy"))
    rng = random.Random(3)
    records, kinds = [], []
    for _ in range(40):
        kind = rng.choice("CAT")
        raw, exp = make_record(book, rng, {SEGMENTS[kind], "EXPORT-TIMESTAMP"})
        records.append(raw[:0] + kind.encode("cp037") + raw[1:])
        kinds.append((kind, exp))
    opts = {"segment_field": "EXPORT-REC-TYPE"}
    opts.update({f"redefine_segment_id_map:{i}": f"{g} => {k}" for i, (k, g) in enumerate(SEGMENTS.items())})
    rows = [r for b in decode_file(b"".join(records), text("export_multi.cpy"), opts) for r in b.to_pylist()]
    for row, (kind, exp) in zip(rows, kinds):
        for code, group in SEGMENTS.items():
            assert (row[group.replace("-", "_")] is None) == (code != kind)
        got = flatten(row)
        for path, value in exp.items():
            if path[1] == "EXPORT_REC_TYPE":
                continue
            assert got[path[1:]] == value, path
