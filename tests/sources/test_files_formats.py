"""Decoding files to Arrow: every format, compression, and each kind of bad input names what and where."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.orc as paorc
import pyarrow.parquet as pq
import pytest

from airflow_zaloni.sources.base import SourceError
from airflow_zaloni.sources.files import FixedField, FormatOptions, decode, landing_name
from airflow_zaloni.sources.files.schema import conform, resolve

CSV = b"id,name,amount\n1,alpha,1.5\n2,beta,2.25\n3,gamma,\n"


def read(path: Path, options: FormatOptions, schema: pa.Schema | None = None) -> tuple[pa.Table, list]:
    decoded = decode(str(path), path.name, options, schema)
    return pa.Table.from_batches(list(decoded.batches), schema=decoded.schema), decoded.rejected


def test_csv_types_are_inferred_and_given_schema_wins(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(CSV)
    table, _ = read(path, FormatOptions())
    assert table.column("id").to_pylist() == [1, 2, 3]
    assert table.column("amount").to_pylist() == [1.5, 2.25, None]
    given = pa.schema([("id", pa.string()), ("name", pa.string()), ("amount", pa.float64())])
    table, _ = read(path, FormatOptions(), given)
    assert table.column("id").to_pylist() == ["1", "2", "3"]


def test_csv_delimiter_quoting_encoding_and_no_header(tmp_path: Path) -> None:
    path = tmp_path / "latin.txt"
    path.write_bytes('7;"Müller; Jürgen";"say ""hi"""\n'.encode("latin-1"))
    options = FormatOptions(delimiter=";", header=False, column_names=("id", "name", "note"), encoding="latin-1")
    table, _ = read(path, options)
    assert table.to_pylist() == [{"id": 7, "name": "Müller; Jürgen", "note": 'say "hi"'}]


@pytest.mark.parametrize(
    ("suffix", "pack"),
    [(".gz", gzip.compress), (".bz2", bz2.compress), (".xz", lzma.compress)],
)
def test_compressed_csv_is_unpacked_on_the_fly(tmp_path: Path, suffix: str, pack: object) -> None:
    path = tmp_path / f"a.csv{suffix}"
    path.write_bytes(pack(CSV))  # type: ignore[operator]
    table, _ = read(path, FormatOptions())
    assert table.num_rows == 3 and table.column("name").to_pylist() == ["alpha", "beta", "gamma"]


def test_zip_members_are_read_in_turn(tmp_path: Path) -> None:
    path = tmp_path / "two.csv.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("one.csv", CSV)
        archive.writestr("two.csv", b"id,name,amount\n9,zeta,9.5\n")
    table, _ = read(path, FormatOptions())
    assert table.column("id").to_pylist() == [1, 2, 3, 9]


def test_truncated_gzip_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(gzip.compress(CSV * 2000)[:-40])
    with pytest.raises(SourceError, match=r"cut\.csv\.gz: compressed data is truncated"):
        read(path, FormatOptions())


def test_csv_row_with_wrong_field_count_fails_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(b"id,name,amount\n1,a,1.0\n2,b\n3,c,3.0\n")
    with pytest.raises(SourceError, match=r"bad\.csv line 3: expected 3 fields, got 2"):
        read(path, FormatOptions())


def test_csv_row_with_wrong_field_count_is_quarantined(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(b"id,name,amount\n1,a,1.0\n2,b\n3,c,3.0,extra\n4,d,4.0\n")
    table, rejected = read(path, FormatOptions(bad_rows="quarantine"))
    assert table.column("id").to_pylist() == [1, 4]
    assert [(r.line, r.text) for r in rejected] == [(3, "2,b"), (4, "3,c,3.0,extra")]


def test_jsonl_reads_and_bad_line_is_named_or_quarantined(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_bytes(b'{"id": 1, "tags": ["x"]}\n{"id": 2, "tags": []}\n')
    table, _ = read(path, FormatOptions(format="jsonl"))
    assert table.to_pylist() == [{"id": 1, "tags": ["x"]}, {"id": 2, "tags": []}]
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"id": 1}\n{"id": 2\n{"id": 3}\n')
    with pytest.raises(SourceError, match=r"bad\.jsonl line 2: invalid JSON"):
        read(bad, FormatOptions(format="jsonl"))
    table, rejected = read(bad, FormatOptions(format="jsonl", bad_rows="quarantine"))
    assert table.column("id").to_pylist() == [1, 3] and [r.line for r in rejected] == [2]


def test_fixed_width_with_types_and_bad_value_named(tmp_path: Path) -> None:
    spec = FixedField.parse_spec(
        [{"name": "id", "width": 4, "type": "int32"}, ("name", 8), {"name": "amt", "width": 7, "type": "decimal(7,2)"}]
    )
    path = tmp_path / "f.dat"
    path.write_bytes(b"0001alpha     12.50\r\n0002beta       3.00\n")
    table, _ = read(path, FormatOptions(format="fixed", fixed_fields=spec))
    assert table.schema.field("amt").type == pa.decimal128(7, 2)
    assert table.to_pylist()[1]["id"] == 2 and table.to_pylist()[1]["name"] == "beta"
    path.write_bytes(b"0001alpha     12.50\n00x2beta       3.00\n")
    with pytest.raises(SourceError, match=r"f\.dat line 2, field 'id' \(columns 1-4\): '00x2'"):
        read(path, FormatOptions(format="fixed", fixed_fields=spec))


def test_parquet_orc_avro_pass_through(tmp_path: Path) -> None:
    table = pa.table({"id": pa.array([1, 2], pa.int64()), "name": ["a", None]})
    pq.write_table(table, tmp_path / "t.parquet")
    paorc.write_table(table, str(tmp_path / "t.orc"))
    import fastavro

    avro_schema = {
        "type": "record",
        "name": "T",
        "fields": [{"name": "id", "type": "long"}, {"name": "name", "type": ["null", "string"]}],
    }
    with open(tmp_path / "t.avro", "wb") as out:
        fastavro.writer(out, avro_schema, table.to_pylist())
    (tmp_path / "t.parquet.gz").write_bytes(gzip.compress((tmp_path / "t.parquet").read_bytes()))
    for name in ("t.parquet", "t.orc", "t.avro", "t.parquet.gz"):
        got, _ = read(tmp_path / name, FormatOptions(format="auto"))
        assert got.to_pylist() == table.to_pylist(), name


def test_drift_policies(tmp_path: Path) -> None:
    a = pa.schema([("id", pa.int64()), ("name", pa.string())])
    b = pa.schema([("id", pa.string()), ("extra", pa.float64())])
    with pytest.raises(SourceError, match=r"b\.csv: new columns \['extra'\]; missing columns \['name'\]"):
        resolve([("a.csv", a), ("b.csv", b)], "fail", None)
    target, drifts = resolve([("a.csv", a), ("b.csv", b)], "string", None)
    assert target == pa.schema([("id", pa.string()), ("name", pa.string()), ("extra", pa.float64())])
    assert drifts[0].to_json()["changed"] == [{"column": "id", "from": "int64", "to": "string"}]
    batch = pa.record_batch({"id": pa.array([7], pa.int64()), "name": ["x"]})
    assert conform(batch, target, "a.csv").to_pylist() == [{"id": "7", "name": "x", "extra": None}]
    widened, _ = resolve(
        [("a", pa.schema([("v", pa.int32())])), ("b", pa.schema([("v", pa.float64())]))], "union", None
    )
    assert widened.field("v").type == pa.float64()


@pytest.mark.parametrize(
    "name",
    ["../../etc/passwd", "..", "C:evil.csv", "a/b/../../c.csv", "bad\x00name.csv", "new\nline.csv", "x\\y.csv"],
)
def test_landing_names_cannot_escape_the_lake(name: str) -> None:
    from airflow_zaloni.lake import validate_name

    safe = landing_name(name)
    assert validate_name("file", safe) == safe  # the lake's own rule: one plain path segment, no '..'
    assert "/" not in safe and "\\" not in safe and ":" not in safe


def test_landing_names_keep_the_extension_and_stay_distinct() -> None:
    assert landing_name("orders.csv") == "orders.csv"
    a, b = landing_name("2026/11/orders.csv.gz"), landing_name("2026/12/orders.csv.gz")
    assert a != b and a.endswith(".csv.gz") and b.endswith(".csv.gz")


def test_binary_has_no_records(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(io.BytesIO(b"\x00\x01").getvalue())
    with pytest.raises(SourceError, match="landed as bytes only"):
        decode(str(path), "x.bin", FormatOptions(format="binary"))


def test_file_source_fulfils_the_source_contract(tmp_path: Path) -> None:
    from airflow_zaloni.sources.base import Source
    from airflow_zaloni.sources.files import read_csv, read_jsonl

    (tmp_path / "a.csv.gz").write_bytes(gzip.compress(CSV))
    source = read_csv(str(tmp_path / "a.csv.gz"))
    assert isinstance(source, Source) and source.cursor is None
    table = pa.Table.from_batches(list(source.batches()))
    assert table.num_rows == 3 and source.schema is not None and source.schema.names == ["id", "name", "amount"]
    assert source.describe()["format"] == "csv"
    (tmp_path / "b.jsonl").write_bytes(b'{"x": 1}\nnot json\n{"x": 2}\n')
    lenient = read_jsonl(str(tmp_path / "b.jsonl"), bad_rows="quarantine")
    assert [b.num_rows for b in lenient.batches()] == [2] and [r.line for r in lenient.rejected] == [2]


# -- text that is not valid in its declared encoding (issue 18) --------------------------------------------------------

LATIN1_ROW = b"2,caf\xe9\n"  # "café" in latin-1: 0xE9 is not valid UTF-8


@pytest.mark.parametrize(
    ("name", "data", "options", "where"),
    [
        ("a.jsonl", b'{"id": 1, "v": "ok"}\n{"id": 2, "v": "caf\xe9"}\n', FormatOptions(format="jsonl"), (2, 40)),
        ("a.csv", b"id,v\n1,ok\n" + LATIN1_ROW, FormatOptions(), (3, 15)),
        (
            "a.tsv.gz",
            gzip.compress(b"id\tv\n1\tok\n" + LATIN1_ROW.replace(b",", b"\t")),
            FormatOptions(delimiter="\t"),
            (3, 15),
        ),
        (
            "a.txt",
            b"1ok\n" + b"2caf\xe9\n",
            FormatOptions(format="fixed", fixed_fields=FixedField.parse_spec([("id", 1), ("v", 4)])),
            (2, 8),
        ),
    ],
)
def test_invalid_utf8_fails_naming_file_line_and_byte_offset(
    tmp_path: Path, name: str, data: bytes, options: FormatOptions, where: tuple[int, int]
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    line, offset = where
    with pytest.raises(
        SourceError, match=rf"{name} line {line}, byte offset {offset}( \(uncompressed\))?: not valid utf-8.*encoding="
    ):
        read(path, options)


def test_invalid_utf8_far_into_a_csv_and_with_a_given_schema_is_named(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    head = b"id,v\n" + b"".join(b"%d,row%d\n" % (i, i) for i in range(1, 200_001))
    path.write_bytes(head + LATIN1_ROW)  # past Arrow's first block: the column was already inferred as string
    offset = len(head) + 5
    with pytest.raises(SourceError, match=rf"long\.csv line 200002, byte offset {offset}: not valid utf-8"):
        read(path, FormatOptions())
    schema = pa.schema([("id", pa.int64()), ("v", pa.string())])
    with pytest.raises(SourceError, match=rf"long\.csv line 200002, byte offset {offset}: not valid utf-8"):
        read(path, FormatOptions(), schema)


def test_invalid_utf8_jsonl_lines_are_quarantined_and_latin1_reads_when_declared(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_bytes(b'{"id": 1, "v": "ok"}\n{"id": 2, "v": "caf\xe9"}\n{"id": 3, "v": "fine"}\n')
    table, rejected = read(path, FormatOptions(format="jsonl", bad_rows="quarantine"))
    assert table.column("id").to_pylist() == [1, 3]
    table.validate(full=True)
    [bad] = rejected
    assert bad.line == 2 and bad.text == '{"id": 2, "v": "caf\\xe9"}' and "byte offset 19 of the line" in bad.reason
    csv = tmp_path / "latin.csv"
    csv.write_bytes(b"id,v\n" + LATIN1_ROW)
    table, _ = read(csv, FormatOptions(encoding="latin-1"))
    assert table.column("v").to_pylist() == ["café"]


def test_invalid_strings_inside_a_parquet_file_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    bad = pa.array([b"ok", b"caf\xe9"], pa.binary()).view(pa.string())
    pq.write_table(pa.table({"id": [1, 2], "v": bad}), path)
    with pytest.raises(SourceError, match=r"bad\.parquet: column 'v', row 2: invalid UTF-8 in a string column"):
        read(path, FormatOptions(format="parquet"))
