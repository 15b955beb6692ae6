"""Fuzzing from the regression corpus: mutated real-world-style copybooks and random records give a layout and rows,
or one of the package's documented errors (CopybookError, OptionError, DecodeError), never anything else or a hang.

The budget is fixed (examples per test, no deadline per example) so that the run stays at a few seconds."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_zaloni.mainframe import CopybookError, MainframeError, decode_file, parse_copybook

CORPUS = sorted((Path(__file__).resolve().parents[1] / "data" / "copybooks").glob("*.cpy"))
TEXTS = [p.read_text() for p in CORPUS]
WORDS = ["PIC", "X(3)", "9(4)", "S9(5)V99", "COMP-3", "COMP", "OCCURS", "2", "TO", "DEPENDING", "ON", "REDEFINES",
         "VALUE", "'A'", ".", ",", "05", "10", "01", "88", "FILLER", "INDEXED", "BY", "ZZZ,ZZ9.99-", "99/99/9999",
         "*", "SIGN", "LEADING", "SEPARATE", "SYNC", "9(100000)", "OCCURS 999999"]  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn) -> str:
    lines = draw(st.sampled_from(TEXTS)).splitlines()
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["drop", "dup", "swap", "word", "cut", "period"]))
        i = draw(st.integers(0, len(lines) - 1))
        if op == "drop" and len(lines) > 1:
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "word":
            words = lines[i].split()
            k = draw(st.integers(0, len(words)))
            words.insert(k, draw(st.sampled_from(WORDS)))
            lines[i] = " " * 11 + " ".join(words)
        elif op == "cut":
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
        else:
            lines[i] = lines[i].replace(".", "", 1)
    return "\n".join(lines) + "\n"


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
@pytest.mark.timeout(120)
def test_mutated_corpus_copybooks_parse_or_name_the_problem(text: str) -> None:
    try:
        book = parse_copybook(text)
    except CopybookError as err:
        assert str(err).startswith("copybook ")
        return
    assert book.record_size >= 0


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    mutated(),
    st.binary(max_size=600),
    st.sampled_from(["F", "V", "VB"]),
    st.booleans(),
    st.sampled_from(["collapse_root", "keep_original"]),
)
@pytest.mark.timeout(180)
def test_mutated_corpus_decodes_or_raises_a_documented_error(
    text: str, data: bytes, fmt: str, variable: bool, policy: str
) -> None:
    opts = {
        "record_format": fmt,
        "is_rdw_big_endian": "true",
        "variable_size_occurs": str(variable).lower(),
        "schema_retention_policy": policy,
        "generate_corrupt_fields": "true",
        "debug_ignore_file_size": "true",
    }
    try:
        batches = list(decode_file(data, text, opts))
    except MainframeError:
        return
    for batch in batches:
        batch.validate(full=True)
        batch.to_pylist()
