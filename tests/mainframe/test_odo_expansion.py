"""Variable-size OCCURS: the column-wise expansion of a batch of records equals the record-by-record walk."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_zaloni.mainframe import DecodeError, decode_file, parse_copybook
from airflow_zaloni.mainframe.decoder import RecordDecoder
from airflow_zaloni.mainframe.odo import VariableOccurs
from airflow_zaloni.mainframe.options import ReaderOptions

NESTED = """\
       01  REC.
           05  ID        PIC X(2).
           05  N1        PIC 9.
           05  OUTER     OCCURS 0 TO 3 DEPENDING ON N1.
               10  N2    PIC 9.
               10  INNER OCCURS 0 TO 4 DEPENDING ON N2.
                   15  V PIC X(2).
               10  TAG   PIC X.
           05  N3        PIC 9.
           05  FLAT      PIC X(3) OCCURS 0 TO 5 DEPENDING ON N3.
           05  ALT       REDEFINES FLAT PIC X(4).
           05  LAST      PIC X(2).
"""


def reference(vo: VariableOccurs, buf: bytes, starts: list[int], lengths: list[int]) -> np.ndarray:
    mv = memoryview(buf)
    return np.array([np.frombuffer(bytes(vo.expand(mv, s, s + n)[0]), np.uint8) for s, n in zip(starts, lengths)])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=60), min_size=1, max_size=12), st.sampled_from(["0123456789", "0129", "9"]))
def test_batch_expansion_equals_record_by_record_walk(records: list[bytes], digits: str) -> None:
    # Counters drawn from `digits` (as EBCDIC digits) so that arrays are used, sometimes beyond their maximum.
    recs = [bytes(0xF0 + int(digits[b % len(digits)]) if i in (2, 3) else b for i, b in enumerate(r)) for r in records]
    vo = VariableOccurs(RecordDecoder(parse_copybook(NESTED), ReaderOptions.parse({"variable_size_occurs": "true"})))
    buf = b"".join(recs)
    starts = np.cumsum([0] + [len(r) for r in recs[:-1]]).astype(np.int64)
    lengths = np.array([len(r) for r in recs], dtype=np.int64)
    got, _ = vo.expand_rows(np.frombuffer(buf, np.uint8), starts, lengths)
    assert (got == reference(vo, buf, list(starts), list(lengths))).all()


def test_v_file_with_variable_size_occurs_decodes_each_record() -> None:
    def rec(i: int, n1: list[str], flat: list[str]) -> bytes:
        body = f"{i:02d}{len(n1)}" + "".join(f"{len(v) // 2}{v}T" for v in n1) + f"{len(flat)}" + "".join(flat) + "ZZ"
        return body.encode("cp037")

    recs = [rec(1, ["AABB", ""], ["XYZ"]), rec(2, [], []), rec(3, ["CC", "DDEEFF", "GG"], ["ABC", "DEF"])]
    data = b"".join(len(r).to_bytes(2, "big") + b"\0\0" + r for r in recs)
    opts = {"record_format": "V", "is_rdw_big_endian": "true", "variable_size_occurs": "true"}
    rows = [r for b in decode_file(data, NESTED, opts) for r in b.to_pylist()]
    assert [r["ID"] for r in rows] == ["01", "02", "03"]
    assert rows[0]["OUTER"] == [
        {"N2": 2, "INNER": [{"V": "AA"}, {"V": "BB"}], "TAG": "T"},
        {"N2": 0, "INNER": [], "TAG": "T"},
    ]
    # ALT redefines FLAT: the block takes the larger of the two (4 bytes when FLAT holds fewer), as in Cobrix.
    assert rows[2]["FLAT"] == ["ABC", "DEF"] and rows[2]["LAST"] == "ZZ"
    assert rows[1]["FLAT"] == [] and rows[1]["ALT"] == "ZZ" and rows[1]["LAST"] is None


def test_counter_after_its_array_is_a_decode_error() -> None:
    text = "       01  R.\n           05  A PIC X OCCURS 0 TO 3 DEPENDING ON N.\n           05  N PIC 9.\n"
    data = len(b"A1").to_bytes(2, "big") + b"\0\0" + "A1".encode("cp037")
    with pytest.raises(DecodeError, match="comes after the array"):
        list(
            decode_file(data, text, {"record_format": "V", "is_rdw_big_endian": "true", "variable_size_occurs": "true"})
        )
