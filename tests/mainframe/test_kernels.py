"""The vectorised kernels against reference decoders written from COBOL's rules, one value at a time.

The fast kernels read a field straight out of the record matrix, sometimes through a view that reaches into the
neighbouring fields' bytes (they mask them): every field is therefore placed at the start, in the middle and at the end
of the records, with random neighbours, so that a neighbour's byte leaking into a value would show.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_zaloni.mainframe import decode_file
from airflow_zaloni.mainframe import kernels as K
from airflow_zaloni.mainframe.codepages import code_page
from airflow_zaloni.mainframe.decoder import Spread, expand
from airflow_zaloni.mainframe.errors import DecodeError
from airflow_zaloni.mainframe.framing import Framer
from airflow_zaloni.mainframe.options import ReaderOptions
from airflow_zaloni.mainframe.reader import MainframeReader

RNG = np.random.default_rng(19)


def ref_packed(raw: bytes, has_sign: bool) -> int | str | None:
    """A COMP-3 value, None for all-0x00 (null) or 'corrupt'."""
    if not any(raw):
        return None
    nibbles = [n for b in raw for n in (b >> 4, b & 0x0F)]
    sign = 1
    if has_sign:
        *nibbles, s = nibbles
        if s not in (0x0C, 0x0D, 0x0F):
            return "corrupt"
        sign = -1 if s == 0x0D else 1
    if any(n > 9 for n in nibbles):
        return "corrupt"
    return sign * int("".join(map(str, nibbles)) or "0")


def ref_zoned(raw: bytes, leading: bool) -> int | str:
    """An EBCDIC zoned decimal with an overpunched sign (trailing, or leading), or 'corrupt'."""
    k = 0 if leading else len(raw) - 1
    digits = []
    negative = False
    for i, b in enumerate(raw):
        zone, digit = b >> 4, b & 0x0F
        if digit > 9:
            return "corrupt"
        if i == k and zone in (0x0C, 0x0D):
            negative = zone == 0x0D
        elif zone != 0x0F:
            return "corrupt"
        digits.append(digit)
    value = int("".join(map(str, digits)))
    return -value if negative else value


def records(width: int, m: int, field: np.ndarray, where: str) -> tuple[np.ndarray, int]:
    """A record matrix (a strided view of one buffer, as fixed-length files are read) holding ``field`` at the start,
    in the middle or at the end of random neighbours; returns (the field's column slice, its offset)."""
    s = field.shape[1]
    off = {"start": 0, "middle": (width - s) // 2, "end": width - s}[where]
    buf = RNG.integers(0, 256, size=(m, width), dtype=np.uint8)
    buf[:, off : off + s] = field
    flat = buf.reshape(-1)
    mat = np.lib.stride_tricks.as_strided(flat, shape=(m, width), strides=(width, 1))
    return mat[:, off : off + s], off


def packed_fields(m: int, s: int, has_sign: bool) -> np.ndarray:
    nib = RNG.integers(0, 10, size=(m, 2 * s)).astype(np.uint8)
    if has_sign:
        nib[:, -1] = RNG.choice([0x0C, 0x0D, 0x0F], size=m)
    bad = RNG.random((m, 2 * s)) < 0.02  # a few corrupt nibbles (sign or digit), E among them (near C, D and F)
    nib[bad] = RNG.choice([0x0A, 0x0B, 0x0E], size=int(bad.sum()))
    out = ((nib[:, 0::2] << 4) | nib[:, 1::2]).astype(np.uint8)
    out[:5] = 0  # nulls
    out[5:10] = RNG.integers(0, 256, size=(5, s), dtype=np.uint8)  # garbage
    return out


@pytest.mark.parametrize("where", ["start", "middle", "end"])
@pytest.mark.parametrize("has_sign", [True, False])
@pytest.mark.parametrize("s", range(1, 11))
def test_packed_decimal_matches_the_reference(s: int, has_sign: bool, where: str) -> None:
    m = 400
    mat, _ = records(s + 13, m, packed_fields(m, s, has_sign), where)
    nums = K.decode_packed(mat, has_sign=has_sign)
    for i in range(m):
        want = ref_packed(bytes(mat[i]), has_sign)
        if want is None:
            assert not nums.valid[i] and not nums.corrupt[i]
        elif want == "corrupt":
            assert nums.corrupt[i] and not nums.valid[i]
        else:
            assert nums.valid[i] and int(nums.values[i]) == want, (bytes(mat[i]).hex(), want)


def zoned_fields(m: int, s: int, leading: bool) -> np.ndarray:
    out = (0xF0 + RNG.integers(0, 10, size=(m, s))).astype(np.uint8)
    k = 0 if leading else s - 1
    out[:, k] = RNG.choice([0xC0, 0xD0, 0xF0], size=m) | (out[:, k] & 0x0F)
    return out


@pytest.mark.parametrize("where", ["start", "middle", "end"])
@pytest.mark.parametrize("leading", [False, True])
@pytest.mark.parametrize("s", range(1, 17))
def test_clean_zoned_decimal_matches_the_reference(s: int, leading: bool, where: str) -> None:
    m = 300
    mat, _ = records(s + 11, m, zoned_fields(m, s, leading), where)
    nums = K.decode_zoned(
        mat,
        ebcdic=True,
        signed=True,
        sign_leading=leading,
        sign_separate=False,
        explicit_point=False,
        scale=0,
        strict_overpunch=True,
    )
    assert nums.valid.all()
    assert [int(v) for v in nums.values] == [ref_zoned(bytes(r), leading) for r in mat]


@pytest.mark.parametrize("where", ["start", "middle", "end"])
@pytest.mark.parametrize("s", [1, 2, 7, 10, 11])
def test_text_matches_the_codec(s: int, where: str) -> None:
    """cp037 text, trimmed as Java trims, all-0x00 fields null; odd widths (read one byte wider when they can) and
    fields at the end of the buffer (where they cannot) included."""
    m = 300
    page = code_page("cp037")
    letters = np.frombuffer("ABC xyz 09-".encode("cp037"), dtype=np.uint8)
    field = letters[RNG.integers(0, len(letters), size=(m, s))]
    field[:4] = 0x00
    field[4:8] = 0x40
    mat, _ = records(s + 9, m, field, where)
    got = K.decode_text(mat, page, "both", True).to_pylist()
    for i in range(m):
        raw = bytes(mat[i])
        want = None if not any(raw) else raw.decode("cp037").strip("".join(chr(c) for c in range(0x21)))
        assert got[i] == want, (raw.hex(), got[i], want)


@pytest.mark.parametrize("policy", ["both", "right", "left", "none"])
@pytest.mark.parametrize("where", ["middle", "end"])
def test_odd_width_codes_without_blanks_keep_every_character_and_nothing_more(where: str, policy: str) -> None:
    """An odd-width field is read one byte wider; when no row needs trimming that byte must still not show."""
    m = 50
    page = code_page("cp037")
    field = np.frombuffer("ABC".encode("cp037"), dtype=np.uint8)[RNG.integers(0, 3, size=(m, 3))]
    mat, _ = records(9, m, field, where)
    assert K.decode_text(mat, page, policy, True).to_pylist() == [bytes(r).decode("cp037") for r in mat]


_JAVA_BLANKS = "".join(chr(c) for c in range(0x21))


@pytest.mark.parametrize("policy", ["both", "right", "left", "none"])
@pytest.mark.parametrize("nulls", [True, False])
@pytest.mark.parametrize("accented", [False, True])
def test_one_byte_fields_match_the_table_under_every_trimming_policy(policy: str, nulls: bool, accented: bool) -> None:
    """1-byte fields (segment ids, flags) are looked up a byte at a time: letters, digits, spaces and zero bytes (and
    a non-ASCII letter, which takes the general path) come out as the code page's table and Java's trim make them;
    the rows of another segment (outside the mask) are null whatever bytes they hold."""
    m = 400
    page = code_page("cp037")
    alphabet = "AT9 " + ("é" if accented else "")
    choices = np.frombuffer(alphabet.encode("cp037") + b"\x00", dtype=np.uint8)
    field = choices[RNG.integers(0, len(choices), (m, 1))]
    mask = RNG.random(m) < 0.7
    mat = field.copy()
    mat[~mask, 0] = RNG.integers(0, 256, size=int((~mask).sum()))
    trim = {"both": str.strip, "left": str.lstrip, "right": str.rstrip, "none": lambda v, _: v}[policy]

    def want(raw: int) -> str | None:
        return None if nulls and raw == 0 else trim(page.chars[raw], _JAVA_BLANKS)

    assert K.decode_text(field, page, policy, nulls).to_pylist() == [want(int(b)) for b in field[:, 0]]
    got = K.decode_text(mat, page, policy, nulls, mask=mask).to_pylist()
    assert got == [want(int(b)) if keep else None for b, keep in zip(mat[:, 0], mask)]


def test_text_of_other_rows_never_forces_the_slow_path_or_leaks() -> None:
    """Rows outside the mask (another segment's bytes) may hold any byte: they come out null, the others exact."""
    m = 200
    page = code_page("cp037")
    field = np.full((m, 6), 0xC1, dtype=np.uint8)  # 'AAAAAA'
    mask = np.ones(m, dtype=bool)
    mask[::3] = False
    field[~mask] = RNG.integers(0, 256, size=(int((~mask).sum()), 6), dtype=np.uint8)
    got = K.decode_text(field, page, "both", True, mask=mask).to_pylist()
    assert got == [("AAAAAA" if keep else None) for keep in mask]


# -- VB framing ------------------------------------------------------------------------------------------------------

VB_BOOK = """\
       01  R.
           05  TEXT  PIC X(300).
"""


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.lists(st.integers(1, 300), min_size=1, max_size=12), min_size=1, max_size=20),
    st.booleans(),
    st.booleans(),
    st.sampled_from([0, 4, 10]),
)
def test_vb_blocks_framed_one_record_per_step_come_out_in_file_order(
    blocks: list[list[int]], big_rdw: bool, big_bdw: bool, counted: int
) -> None:
    """Every block advances one record per step of the vectorised walk; records come back in file order, whole, also
    when the RDW counts ``counted`` bytes more than the record (itself: is_rdw_part_of_record_length; or more:
    rdw_adjustment)."""
    rng = np.random.default_rng(len(blocks))
    letters = np.frombuffer("ABCDEFGHIJ".encode("cp037"), dtype=np.uint8)
    data = bytearray()
    expected = []
    for lengths in blocks:
        block = bytearray()
        for n in lengths:
            body = bytes(letters[rng.integers(0, len(letters), size=n)])
            said = n + counted
            rdw = said.to_bytes(2, "big") + b"\0\0" if big_rdw else b"\0\0" + said.to_bytes(2, "little")
            block += rdw + body
            expected.append((body.decode("cp037"), n))
        bdw = len(block).to_bytes(2, "big") + b"\0\0" if big_bdw else b"\0\0" + len(block).to_bytes(2, "little")
        data += bdw + block
    options = {
        "record_format": "VB",
        "is_rdw_big_endian": str(big_rdw).lower(),
        "is_bdw_big_endian": str(big_bdw).lower(),
        "generate_record_id": "true",
        **({"is_rdw_part_of_record_length": "true"} if counted == 4 else {}),
        **({"rdw_adjustment": str(-counted)} if counted > 4 else {}),
    }
    rows = [r for b in decode_file(bytes(data), VB_BOOK, options) for r in b.to_pylist()]
    assert [(r["TEXT"], r["Record_Byte_Length"]) for r in rows] == expected
    assert [r["Record_Id"] for r in rows] == list(range(len(expected)))


_LIES = st.sampled_from([0, 0, 0, 0, 1, -1, -7, 300, "zero", "cut"])


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.lists(st.tuples(st.integers(1, 40), _LIES), min_size=1, max_size=8), min_size=1, max_size=12),
    st.booleans(),
)
def test_vb_walk_frames_what_the_per_record_path_frames_or_leaves_the_read_to_it(
    blocks: list[list[tuple[int, int | str]]], big: bool
) -> None:
    """Record descriptor words may lie (a length too long or too short, zero, a header cut by its block's end): the
    vectorised walk then frames exactly what the careful per-record path frames, or leaves the read to that path
    (which names the problem). It never frames a block that the careful path refuses."""
    data = bytearray()
    for records in blocks:
        block = bytearray()
        for n, lie in records:
            if lie == "cut":  # a header cut short by the block's end
                block += b"\x00\x05"[: 1 + n % 2]
                break
            said = 0 if lie == "zero" else max(0, n + int(lie))
            block += (said.to_bytes(2, "big") + b"\0\0" if big else b"\0\0" + said.to_bytes(2, "little")) + bytes(n)
        data += (len(block).to_bytes(2, "big") + b"\0\0") + block
    options = {"record_format": "VB", "is_rdw_big_endian": str(big).lower(), "is_bdw_big_endian": "true"}
    framer = Framer(ReaderOptions.parse(options), 300)
    # The careful path, block by block: each block's records (start, length), or None when it refuses the block.
    careful: list[tuple[int, list[tuple[int, int]] | None]] = []
    pos = 0
    while pos < len(data):
        end = pos + 4 + int.from_bytes(data[pos : pos + 2], "big")
        starts: list[int] = []
        lengths: list[int] = []
        raw = bytes(data)
        try:
            framer._block_records(raw, pos + 4, end, 0, 0, False, None, None, None, starts, lengths, [], [], "x")
            careful.append((end, list(zip(starts, lengths))))
        except DecodeError:
            careful.append((end, None))
        pos = end
    fast = framer._vb_blocks_vectorised(bytes(data))
    if fast is None:
        return
    used, starts_got, lengths_got = fast
    covered = [records for end, records in careful if end <= used]
    assert used == ([end for end, _ in careful if end <= used] or [0])[-1]
    assert all(records is not None for records in covered)
    assert list(zip(starts_got.tolist(), lengths_got.tolist())) == [r for records in covered for r in records or []]


SEGMENTED = """\
       01  R.
           05  KIND         PIC X.
           05  HEAD         PIC 9(3).
           05  BODY-A.
               10  NAME     PIC X(9).
               10  AMOUNT   PIC S9(5)V99 COMP-3.
               10  NOTE     PIC X(11).
           05  BODY-B REDEFINES BODY-A.
               10  CODE     PIC X(3).
               10  COUNT    PIC S9(4) COMP.
"""


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"segment_filter": "B"},
        {"generate_record_id": "true", "debug": "hex"},
        {"generate_corrupt_fields": "true"},
        {"string_trimming_policy": "none"},
    ],
)
def test_segments_gathered_apart_decode_as_whole_records(extra: dict[str, str]) -> None:
    """A V file whose segments REDEFINE one area: the matrix of a batch holds only the shared bytes and each segment
    is gathered for its own records; that gives what whole records give (short records and corrupt values too)."""
    rng = np.random.default_rng(3)
    records = []
    for i in range(300):
        head = f"{i % 1000:03d}".encode("cp037")
        if rng.random() < 0.3:
            body = "A".encode("cp037") + head + f"NAME{i:05d}".encode("cp037") + bytes.fromhex("0012345C")
            body = (body + "NOTE  NOTE ".encode("cp037"))[: rng.integers(10, 32)]  # some cut short
        else:
            body = "B".encode("cp037") + head + f"X{i % 100:02d}".encode("cp037") + int(i).to_bytes(2, "big")
        if rng.random() < 0.05:
            body = body[:4] + b"\xff" * (len(body) - 4)  # corrupt bytes
        records.append(len(body).to_bytes(2, "big") + b"\0\0" + body)
    data = b"".join(records)
    options = {
        "record_format": "V",
        "is_rdw_big_endian": "true",
        "segment_field": "KIND",
        "redefine_segment_id_map:0": "BODY-A => A",
        "redefine_segment_id_map:1": "BODY-B => B",
        **extra,
    }
    narrow = MainframeReader(SEGMENTED, options)
    assert narrow.decoder.shared_width == 4
    whole = MainframeReader(SEGMENTED, options)
    whole.decoder.shared_width = whole.decoder.record_size
    got = pa.Table.from_batches(list(narrow.read(data)))
    want = pa.Table.from_batches(list(whole.read(data)))
    assert got.num_rows > 0
    assert got.equals(want)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 40), st.data())
def test_a_segment_spread_back_holds_its_values_on_its_rows_and_nulls_elsewhere(m: int, data: st.DataObject) -> None:
    """Spreading a segment's values back to the batch's rows (every Arrow type the decoder makes, with nulls of their
    own, and no rows at all) gives what a row-by-row placement gives."""
    rows = np.array(sorted(data.draw(st.sets(st.integers(0, max(0, m - 1)), max_size=m))), dtype=np.int64)
    k = len(rows)
    maybe = st.none() | st.integers(-(10**6), 10**6)
    ints = data.draw(st.lists(maybe, min_size=k, max_size=k))
    texts = data.draw(st.lists(st.none() | st.text(max_size=5), min_size=k, max_size=k))
    arrays = [
        pa.array(ints, pa.int32()),
        pa.array(ints, pa.int64()),
        pa.array([None if v is None else Decimal(v).scaleb(-2) for v in ints], pa.decimal128(12, 2)),
        pa.array(texts, pa.string()),
        pa.array([None if t is None else t.encode() for t in texts], pa.binary()),
        pa.array([None if v is None else [v, v] for v in ints], pa.list_(pa.int64())),
        pa.array([None if v is None else v > 0 for v in ints], pa.bool_()),
        pa.StructArray.from_arrays(
            [pa.array(ints, pa.int64()), pa.array(texts, pa.string())],
            names=["n", "t"],
            mask=pa.array([v is None and t is None for v, t in zip(ints, texts)], pa.bool_()),
        ),
    ]
    spread = Spread.of(rows, m)

    def placed(arr: pa.Array, at: np.ndarray) -> list[object]:
        out: list[object] = [None] * m
        for r, value in zip(at, arr.to_pylist()):
            out[r] = value
        return out

    for arr in arrays:
        for got, want in (
            (expand(arr, rows, m), placed(arr, rows)),
            (expand(arr, rows, m, spread), placed(arr, rows)),
            (expand(arr[1:], rows[1:], m), placed(arr[1:], rows[1:])),  # an array at an offset in its buffers
        ):
            got.validate(full=True)
            assert got.type == arr.type
            assert got.to_pylist() == want


def test_vb_records_across_reads_of_every_kind_of_stream(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Reads far smaller than a VB file carry each read's incomplete block into the next: from a path, an in-memory
    stream, a gzip stream and a stream that can neither seek nor peek, the records come out whole and in order."""
    import gzip
    import io

    from airflow_zaloni.mainframe import framing

    monkeypatch.setattr(framing, "READ_SIZE", 700)
    rng = np.random.default_rng(7)
    letters = np.frombuffer("ABCDEFGHIJ".encode("cp037"), dtype=np.uint8)
    data = bytearray()
    expected = []
    for _ in range(60):
        block = bytearray()
        for n in rng.integers(1, 120, size=rng.integers(1, 9)):
            body = bytes(letters[rng.integers(0, len(letters), size=int(n))])
            block += int(n).to_bytes(2, "big") + b"\0\0" + body
            expected.append(body.decode("cp037"))
        data += len(block).to_bytes(2, "big") + b"\0\0" + block
    options = {"record_format": "VB", "is_rdw_big_endian": "true", "is_bdw_big_endian": "true"}

    class Pipe(io.RawIOBase):
        def __init__(self, payload: bytes) -> None:
            self.inner = io.BytesIO(payload)

        def readable(self) -> bool:
            return True

        def readinto(self, b: memoryview) -> int:  # type: ignore[override]
            chunk = self.inner.read(min(len(b), 333))
            b[: len(chunk)] = chunk
            return len(chunk)

    def texts(source: object) -> list[str]:
        return [r["TEXT"] for b in decode_file(source, VB_BOOK, options) for r in b.to_pylist()]

    path = tmp_path / "vb.dat"
    path.write_bytes(data)
    assert texts(path) == expected
    assert texts(io.BytesIO(bytes(data))) == expected
    assert texts(gzip.compress(bytes(data))) == expected
    assert texts(Pipe(bytes(data))) == expected


@settings(max_examples=80, deadline=None)
@given(st.lists(st.none() | st.sampled_from(["A", "T", "", "é", "AB", " ", "1"]), max_size=40), st.integers(0, 3))
def test_segment_ids_encoded_from_their_bytes_as_a_dictionary_encoding_does(values: list[str | None], cut: int) -> None:
    """One-character segment ids are encoded from their bytes, anything else by hashing: the same words in the same
    order (of first appearance), the same codes, tests and counts."""
    arr = pa.array(values, pa.string())[min(cut, len(values)) :]  # also at an offset in its buffers
    codes = K.Codes(arr)
    encoded = pc.dictionary_encode(arr)
    words = encoded.dictionary.to_pylist()
    assert codes.words == words
    index = [len(words) if i is None else i for i in encoded.indices.to_pylist()]
    assert codes.index.tolist() == index
    for wanted in (["A"], ["T", "é"], []):
        assert codes.isin(wanted).tolist() == [v in wanted for v in arr.to_pylist()]
    assert codes.counts() == {w: arr.to_pylist().count(w) for w in set(arr.to_pylist())}
