"""Hierarchical segment ids (Cobrix's segment_id_level0..N, Seg_Id0..N), following its SegmentIdAccumulator."""

from __future__ import annotations

import pytest

from airflow_zaloni.mainframe import OptionError, decode_file

CB = """\
       01  REC.
           05  SEG   PIC X(1).
           05  BODY  PIC X(3).
"""


def v_file(segments: str) -> bytes:
    recs = [(s + f"{i:03d}").encode("cp037") for i, s in enumerate(segments)]
    return b"".join(len(r).to_bytes(2, "big") + b"\0\0" + r for r in recs)


def seg_ids(segments: str, levels: list[str], **extra: str) -> list[tuple]:
    opts = {"record_format": "V", "is_rdw_big_endian": "true", "segment_field": "SEG", "segment_id_prefix": "P"}
    opts.update({f"segment_id_level{i}": ids for i, ids in enumerate(levels)})
    opts.update(extra)
    out = []
    for batch in decode_file(v_file(segments), CB, opts):
        for row in batch.to_pylist():
            out.append(tuple(row[f"Seg_Id{i}"] for i in range(len(levels))))
    return out


def test_three_levels() -> None:
    # A root, B children, C grandchildren; each level counts from the last root, as Cobrix's accumulator does.
    got = seg_ids("ABCCBCA", ["A", "B", "C"])
    assert got == [
        ("P_0_0", None, None),
        ("P_0_0", "P_0_0_L1_1", None),
        ("P_0_0", "P_0_0_L1_1", "P_0_0_L2_1"),
        ("P_0_0", "P_0_0_L1_1", "P_0_0_L2_2"),
        ("P_0_0", "P_0_0_L1_2", None),
        ("P_0_0", "P_0_0_L1_2", "P_0_0_L2_3"),  # level-2 counts are not restarted by a new level-1 record
        ("P_0_6", None, None),
    ]


def test_a_grandchild_without_a_child_and_an_unknown_segment_keep_cobrix_state() -> None:
    got = seg_ids("ACXBX", ["A", "B", "C"])
    assert got == [
        ("P_0_0", None, None),
        ("P_0_0", "P_0_0_L1_0", "P_0_0_L2_1"),  # level 1 has had no record yet: its count is 0
        ("P_0_0", "P_0_0_L1_0", "P_0_0_L2_1"),  # an unknown segment keeps the current level and counts
        ("P_0_0", "P_0_0_L1_1", None),
        ("P_0_0", "P_0_0_L1_1", None),
    ]


def test_records_before_the_first_root() -> None:
    got = seg_ids("XBA", ["A", "B"])
    assert got == [(None, None), ("", "_L1_1"), ("P_0_2", None)]


@pytest.mark.parametrize("wildcard", ["_", "*"])
def test_wildcard_on_the_leaf_level_means_every_other_segment(wildcard: str) -> None:
    got = seg_ids("ABXBA", ["A", "B", wildcard])
    assert got == [
        ("P_0_0", None, None),
        ("P_0_0", "P_0_0_L1_1", None),
        ("P_0_0", "P_0_0_L1_1", "P_0_0_L2_1"),
        ("P_0_0", "P_0_0_L1_2", None),
        ("P_0_4", None, None),
    ]
    assert seg_ids("ABXBA", ["A", wildcard]) == [
        ("P_0_0", None),
        ("P_0_0", "P_0_0_L1_1"),
        ("P_0_0", "P_0_0_L1_2"),
        ("P_0_0", "P_0_0_L1_3"),
        ("P_0_4", None),
    ]


@pytest.mark.parametrize(
    ("levels", "needle"),
    [
        (["_", "B"], "leaf level (segment_id_level1), found at 'segment_id_level0'"),
        (["A", "*", "C"], "leaf level (segment_id_level2), found at 'segment_id_level1'"),
        (["A", "B,_"], "cannot be used with other ids"),
    ],
)
def test_misplaced_wildcards_are_option_errors(levels: list[str], needle: str) -> None:
    with pytest.raises(OptionError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        seg_ids("AB", levels)


def test_ids_continue_across_batches_and_restart_per_file() -> None:
    segments = "ABCBBCABCC"
    whole = seg_ids(segments, ["A", "B", "C"])
    assert seg_ids(segments, ["A", "B", "C"], batch_rows="3") == whole
    opts = {
        "record_format": "V",
        "is_rdw_big_endian": "true",
        "segment_field": "SEG",
        "segment_id_prefix": "P",
        "segment_id_level0": "A",
        "segment_id_level1": "B",
    }
    rows = [r for b in decode_file([v_file("ABB"), v_file("BAB")], CB, opts) for r in b.to_pylist()]
    assert [(r["Seg_Id0"], r["Seg_Id1"]) for r in rows] == [
        ("P_0_0", None),
        ("P_0_0", "P_0_0_L1_1"),
        ("P_0_0", "P_0_0_L1_2"),
        ("", "_L1_1"),  # a new file starts without a root, as Cobrix's per-file accumulator does
        ("P_1_1", None),
        ("P_1_1", "P_1_1_L1_1"),
    ]
