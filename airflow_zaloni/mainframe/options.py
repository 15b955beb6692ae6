"""Cobrix reader options: the same names and string values a Spark job passes to ``spark.read.format("cobol")``.

Names are case-insensitive and ``-`` and ``_`` are interchangeable (Cobrix accepts ``redefine-segment-id-map:1`` as
well as ``redefine_segment_id_map:1``). Unknown options raise :class:`OptionError` with ``pedantic=true`` and log a
warning otherwise.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_zaloni.mainframe.errors import OptionError

log = logging.getLogger(__name__)

# Options that only steer Spark (partitioning, index caches) or locate the inputs: accepted, without effect here.
_NO_EFFECT = {
    "input_split_records",
    "input_split_size_mb",
    "enable_indexes",
    "enable_index_cache",
    "is_index_cache_enabled",
    "rhp_additional_info",
    "copybook",
    "copybooks",
    "copybook_contents",
    "path",
    "paths",
    "data_paths",
    "file_start_offset_pattern",
    "improved_locality",
    "optimize_allocation",
    "with_input_file_name_col",
    "segment_id_prefix",  # read directly below
    "input_file_name_column",
}

_KNOWN = {
    "record_format",
    "encoding",
    "ebcdic_code_page",
    "ebcdic_code_page_class",
    "ascii_charset",
    "is_utf16_big_endian",
    "floating_point_format",
    "string_trimming_policy",
    "schema_retention_policy",
    "drop_group_fillers",
    "drop_value_fillers",
    "filler_naming_policy",
    "strict_sign_overpunching",
    "improved_null_detection",
    "strict_integral_precision",
    "display_pic_always_string",
    "variable_size_occurs",
    "occurs_mappings",
    "non_terminals",
    "debug",
    "generate_record_id",
    "generate_record_bytes",
    "generate_corrupt_fields",
    "binary_as_hex",
    "record_start_offset",
    "record_end_offset",
    "file_start_offset",
    "file_end_offset",
    "record_length",
    "minimum_record_length",
    "maximum_record_length",
    "record_length_field",
    "record_length_map",
    "is_record_sequence",
    "is_xcom",
    "is_text",
    "is_rdw_big_endian",
    "is_rdw_part_of_record_length",
    "rdw_adjustment",
    "is_bdw_big_endian",
    "bdw_adjustment",
    "block_length",
    "records_per_block",
    "record_header_parser",
    "segment_field",
    "segment_filter",
    "segment_id_root",
    "pedantic",
    "debug_ignore_file_size",
    "comments_lbound",
    "comments_ubound",
    "truncate_comments",
    # Extensions of this package (not Cobrix options):
    "copybook_format",  # fixed | free
    "corrupt_policy",  # null (default: null + _corrupt_fields when generated) | error
    "batch_rows",
}
_PREFIXED = ("segment_id_level", "redefine_segment_id_map", "segment_children")


def _canon(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def _bool(name: str, value: str) -> bool:
    v = str(value).strip().lower()
    if v in ("true", "1", "yes", "y"):
        return True
    if v in ("false", "0", "no", "n"):
        return False
    raise OptionError(f"option {name}={value!r}: expected true or false")


def _int(name: str, value: str) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise OptionError(f"option {name}={value!r}: expected an integer") from None


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    v = str(value).strip().lower()
    if v not in allowed:
        raise OptionError(f"option {name}={value!r}: expected one of {', '.join(allowed)}")
    return v


def _segment_levels(levels: list[list[str]]) -> list[list[str]]:
    """Cobrix's segment ids per level: '*' is '_' ("every other segment"), allowed alone and on the leaf level."""
    levels = [["_" if i == "*" else i for i in ids] for ids in levels]
    leaf = len(levels) - 1
    for level, ids in enumerate(levels):
        if "_" in ids and level < leaf:
            raise OptionError(
                f"The '_' as a segment id can only be used on the leaf level (segment_id_level{leaf}), found at "
                f"'segment_id_level{level}'"
            )
        if "_" in ids and len(ids) > 1:
            raise OptionError(
                f"The '*' or '_' as a segment id cannot be used with other ids 'segment_id_level{level} = "
                f"{','.join(ids)}' is incorrect."
            )
    return levels


# Cobrix's test code page class (Test9CodePages) and short names users may pass as ebcdic_code_page_class.
CODE_PAGE_CLASSES: dict[str, str] = {}


@dataclass
class ReaderOptions:
    """All reader options, parsed and validated, with Cobrix's defaults."""

    raw: dict[str, str] = field(default_factory=dict)
    record_format: str = "F"
    encoding: str = "ebcdic"
    ebcdic_code_page: str = "common"
    ebcdic_code_page_class: str | None = None
    ascii_charset: str | None = None
    is_utf16_big_endian: bool = True
    floating_point_format: str = "ibm"
    string_trimming_policy: str = "both"
    schema_retention_policy: str = "collapse_root"
    drop_group_fillers: bool = False
    drop_value_fillers: bool = True
    filler_naming_policy: str = "sequence_numbers"
    strict_sign_overpunching: bool = True
    improved_null_detection: bool = True
    strict_integral_precision: bool = False
    display_pic_always_string: bool = False
    variable_size_occurs: bool = False
    occurs_mappings: dict[str, dict[str, int]] = field(default_factory=dict)
    non_terminals: list[str] = field(default_factory=list)
    debug: str = "none"  # none | hex | raw | string
    generate_record_id: bool = False
    generate_record_bytes: bool = False
    generate_corrupt_fields: bool = False
    binary_as_hex: bool = False
    record_start_offset: int = 0
    record_end_offset: int = 0
    file_start_offset: int = 0
    file_end_offset: int = 0
    record_length: int | None = None
    minimum_record_length: int = 1
    maximum_record_length: int = 2_147_483_647
    record_length_field: str | None = None
    record_length_map: dict[str, int] = field(default_factory=dict)
    is_rdw_big_endian: bool = False
    is_rdw_part_of_record_length: bool = False
    rdw_adjustment: int = 0
    is_bdw_big_endian: bool = False
    bdw_adjustment: int = 0
    block_length: int | None = None
    records_per_block: int | None = None
    record_header_parser: str | None = None
    segment_field: str | None = None
    segment_filter: list[str] = field(default_factory=list)
    segment_id_levels: list[list[str]] = field(default_factory=list)
    segment_id_prefix: str | None = None
    redefine_segment_id_map: dict[str, list[str]] = field(default_factory=dict)
    segment_children: dict[str, list[str]] = field(default_factory=dict)
    pedantic: bool = False
    debug_ignore_file_size: bool = False  # F files: a partial last record is skipped instead of an error
    comments_lbound: int = 6
    comments_ubound: int = 72
    free_format: bool = False
    corrupt_policy: str = "null"
    batch_rows: int = 65_536

    @classmethod
    def parse(cls, options: Mapping[str, Any] | None) -> ReaderOptions:
        opts = cls()
        raw = {str(k): ("" if v is None else str(v)) for k, v in (options or {}).items()}
        opts.raw = dict(raw)
        canon = {_canon(k): v for k, v in raw.items()}
        opts.pedantic = _bool("pedantic", canon.get("pedantic", "false"))
        unknown = [
            k
            for k in raw
            if _canon(k) not in _KNOWN and _canon(k) not in _NO_EFFECT and not _canon(k).startswith(_PREFIXED)
        ]
        if unknown:
            msg = f"unknown reader option(s): {', '.join(sorted(unknown))}"
            if opts.pedantic:
                raise OptionError(msg)
            log.warning("%s (ignored; pass pedantic=true to make this an error)", msg)
        g = canon.get
        if g("is_record_sequence") and _bool("is_record_sequence", g("is_record_sequence", "")):
            opts.record_format = "V"
        if g("is_xcom") and _bool("is_xcom", g("is_xcom", "")):
            opts.record_format = "V"
        if g("is_text") and _bool("is_text", g("is_text", "")):
            opts.record_format = "D"
        if "record_format" in canon:
            fmt = canon["record_format"].strip().upper()
            if fmt not in ("F", "FB", "V", "VB", "D", "D2", "T", "VA", "VT"):
                raise OptionError(f"option record_format={canon['record_format']!r}: expected F, FB, V, VB, D or D2")
            opts.record_format = {"T": "D", "VA": "V", "VT": "V"}.get(fmt, fmt)
        if "encoding" in canon:
            opts.encoding = _choice("encoding", canon["encoding"], ("ebcdic", "ascii"))
        elif opts.record_format in ("D", "D2"):
            opts.encoding = "ascii"
        if "ebcdic_code_page" in canon:
            opts.ebcdic_code_page = canon["ebcdic_code_page"].strip().lower()
        if g("ebcdic_code_page_class"):
            opts.ebcdic_code_page_class = canon["ebcdic_code_page_class"].strip()
        if g("ascii_charset"):
            opts.ascii_charset = canon["ascii_charset"].strip()
        for name in (
            "is_utf16_big_endian",
            "drop_group_fillers",
            "drop_value_fillers",
            "strict_sign_overpunching",
            "improved_null_detection",
            "strict_integral_precision",
            "display_pic_always_string",
            "variable_size_occurs",
            "generate_record_id",
            "generate_record_bytes",
            "generate_corrupt_fields",
            "binary_as_hex",
            "is_rdw_big_endian",
            "is_rdw_part_of_record_length",
            "is_bdw_big_endian",
            "debug_ignore_file_size",
        ):
            if name in canon:
                setattr(opts, name, _bool(name, canon[name]))
        for name in (
            "record_start_offset",
            "record_end_offset",
            "file_start_offset",
            "file_end_offset",
            "minimum_record_length",
            "maximum_record_length",
            "rdw_adjustment",
            "bdw_adjustment",
            "comments_lbound",
            "comments_ubound",
            "batch_rows",
        ):
            if name in canon:
                setattr(opts, name, _int(name, canon[name]))
        for name in ("record_length", "block_length", "records_per_block"):
            if g(name):
                setattr(opts, name, _int(name, canon[name]))
        for name in ("record_start_offset", "record_end_offset", "file_start_offset", "file_end_offset"):
            if getattr(opts, name) < 0:
                raise OptionError(f"option {name} must not be negative")
        if opts.batch_rows < 1:
            raise OptionError("option batch_rows must be positive")
        if "floating_point_format" in canon:
            opts.floating_point_format = _choice(
                "floating_point_format",
                canon["floating_point_format"],
                ("ibm", "ibm_little_endian", "ieee754", "ieee754_little_endian"),
            )
        if "string_trimming_policy" in canon:
            opts.string_trimming_policy = _choice(
                "string_trimming_policy", canon["string_trimming_policy"], ("both", "left", "right", "none", "keep_all")
            )
        if "schema_retention_policy" in canon:
            opts.schema_retention_policy = _choice(
                "schema_retention_policy", canon["schema_retention_policy"], ("collapse_root", "keep_original")
            )
        if "filler_naming_policy" in canon:
            opts.filler_naming_policy = _choice(
                "filler_naming_policy", canon["filler_naming_policy"], ("sequence_numbers", "previous_field_name")
            )
        if g("occurs_mappings"):
            try:
                mappings = json.loads(canon["occurs_mappings"])
                opts.occurs_mappings = {
                    _canon(str(k)).upper(): {str(a): int(b) for a, b in v.items()} for k, v in mappings.items()
                }
            except (ValueError, AttributeError, TypeError) as exc:
                raise OptionError(f"option occurs_mappings is not a JSON object of objects of counts: {exc}") from None
        if g("non_terminals"):
            opts.non_terminals = [s.strip() for s in canon["non_terminals"].split(",") if s.strip()]
        if "debug" in canon:
            d = canon["debug"].strip().lower()
            opts.debug = {"true": "hex", "false": "none", "binary": "raw"}.get(d, d)
            if opts.debug not in ("none", "hex", "raw", "string"):
                raise OptionError(f"option debug={canon['debug']!r}: expected true, false, hex, raw or string")
        if g("record_length_field"):
            opts.record_length_field = canon["record_length_field"].strip()
        if g("record_length_map"):
            try:
                opts.record_length_map = {str(k): int(v) for k, v in json.loads(canon["record_length_map"]).items()}
            except (ValueError, AttributeError, TypeError) as exc:
                raise OptionError(f"option record_length_map is not a JSON object of lengths: {exc}") from None
        if g("record_header_parser"):
            opts.record_header_parser = canon["record_header_parser"].strip()
        if g("segment_field"):
            opts.segment_field = canon["segment_field"].strip()
        if g("segment_filter"):
            opts.segment_filter = [s.strip() for s in canon["segment_filter"].split(",")]
        if g("segment_id_prefix") is not None:
            opts.segment_id_prefix = canon["segment_id_prefix"]
        levels: dict[int, list[str]] = {}
        if g("segment_id_root"):
            levels[0] = [s.strip() for s in canon["segment_id_root"].split(",")]
        for key, value in canon.items():
            m = re.fullmatch(r"segment_id_level(\d+)", key)
            if m:
                levels[int(m.group(1))] = [s.strip() for s in value.split(",")]
        if levels:
            if sorted(levels) != list(range(len(levels))):
                raise OptionError(f"segment_id_level options must be numbered from 0 without gaps: {sorted(levels)}")
            opts.segment_id_levels = _segment_levels([levels[i] for i in range(len(levels))])
        for key, value in canon.items():
            if key.startswith("redefine_segment_id_map"):
                group, _, ids = value.partition("=>")
                if not ids:
                    raise OptionError(f"option {key}={value!r}: expected 'GROUP => ID1,ID2'")
                opts.redefine_segment_id_map[_canon(group).upper()] = [s.strip() for s in ids.split(",")]
            elif key.startswith("segment_children"):
                parent, _, kids = value.partition("=>")
                if not kids:
                    raise OptionError(f"option {key}={value!r}: expected 'PARENT => CHILD1,CHILD2'")
                children = opts.segment_children.setdefault(_canon(parent).strip().upper(), [])
                children += [_canon(s).strip().upper() for s in kids.split(",") if s.strip()]
        if "truncate_comments" in canon and not _bool("truncate_comments", canon["truncate_comments"]):
            opts.free_format = True
        if g("copybook_format"):
            opts.free_format = _choice("copybook_format", canon["copybook_format"], ("fixed", "free")) == "free"
        if g("corrupt_policy"):
            opts.corrupt_policy = _choice("corrupt_policy", canon["corrupt_policy"], ("null", "error"))
        if opts.segment_children and not opts.segment_field:
            raise OptionError("segment-children needs segment_field")
        if opts.redefine_segment_id_map and not opts.segment_field:
            raise OptionError("redefine_segment_id_map needs segment_field")
        return opts

    @property
    def is_variable(self) -> bool:
        return self.record_format in ("V", "VB")
