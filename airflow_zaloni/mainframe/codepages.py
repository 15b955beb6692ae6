"""Single-byte code pages as 256-entry lookup tables, following Cobrix's tables (not Python's codecs).

Cobrix differs from the IBM/Python tables in a few deliberate ways, and data decoded by a Spark job with Cobrix must
decode to the same strings here:

* every page turns C1 control characters into spaces, except EBCDIC NEL (0x15 -> U+0085), and swaps the line ends
  relative to IBM: 0x0D -> LF and 0x25 -> CR; C0 controls are kept;
* ``cp037`` (Cobrix's oldest table) also turns the C0 controls into spaces; ``cp037_extended`` keeps them;
* ``cp273`` maps 0xBC to U+00AF (MACRON) where Python has U+203E;
* ``common`` is the invariant EBCDIC subset: letters, digits and common punctuation, everything else a space.

The IBM base tables come from Python's own codecs or, for the pages Python lacks, the ``ebcdic`` package.
"""

from __future__ import annotations

import codecs
import functools
from dataclasses import dataclass

import numpy as np

# The invariant characters of 'common' (byte -> char); everything else becomes a space.
_COMMON_PUNCT = {
    0x0D: "\n", 0x25: "\r", 0x40: " ", 0x4B: ".", 0x4C: "<", 0x4D: "(", 0x4E: "+", 0x4F: "|", 0x50: "&",
    0x5A: "!", 0x5B: "$", 0x5C: "*", 0x5D: ")", 0x5E: ";", 0x60: "-", 0x61: "/", 0x6A: "\u00a6", 0x6B: ",",
    0x6C: "%", 0x6D: "_", 0x6E: ">", 0x6F: "?", 0x79: "`", 0x7A: ":", 0x7B: "#", 0x7C: "@", 0x7D: "'",
    0x7E: "=", 0x7F: '"', 0xA1: "~", 0xB0: "^", 0xBA: "[", 0xBB: "]", 0xC0: "{", 0xCA: "-", 0xD0: "}",
    0xE0: "\\",
}  # fmt: skip

# 'common_extended' = 'common' plus these C0 controls.
_COMMON_EXTENDED_CONTROLS = {
    0x00: 0x00, 0x01: 0x01, 0x02: 0x02, 0x03: 0x03, 0x04: 0x1A, 0x05: 0x09, 0x06: 0x1A, 0x08: 0x1A, 0x09: 0x1A,
    0x0A: 0x1A, 0x0B: 0x0B, 0x0C: 0x0C, 0x0E: 0x0E, 0x0F: 0x0F, 0x10: 0x10, 0x11: 0x11, 0x12: 0x12, 0x13: 0x13,
    0x14: 0x1A, 0x15: 0x1A, 0x16: 0x08, 0x17: 0x1A, 0x18: 0x18, 0x19: 0x19, 0x1A: 0x1A, 0x1B: 0x1A, 0x1C: 0x1C,
    0x1D: 0x1D, 0x1E: 0x1E, 0x1F: 0x1F, 0x26: 0x17, 0x27: 0x1B, 0x2D: 0x05, 0x2E: 0x06, 0x2F: 0x07, 0x32: 0x16,
    0x37: 0x04, 0x3C: 0x14, 0x3D: 0x15,
}  # fmt: skip

# Base codec of each named page, and Cobrix's changes to it on top of the control-character rule.
_IBM_PAGES: dict[str, tuple[str, dict[int, str]]] = {
    "cp037": ("cp037", {}),
    "cp273": ("cp273", {0xBC: "\u00af"}),
    "cp277": ("cp277", {}),
    "cp278": ("cp278", {}),
    "cp280": ("cp280", {}),
    "cp284": ("cp284", {}),
    "cp285": ("cp285", {}),
    "cp297": ("cp297", {}),
    "cp500": ("cp500", {}),
    "cp875": ("cp875", {}),
    "cp1025": ("cp1025", {}),
    "cp1047": ("cp1047", {}),
    "cp1140": ("cp037", {0x9F: "\u20ac"}),
    "cp1141": ("cp273", {0xBC: "\u00af", 0x9F: "\u20ac"}),
    "cp1142": ("cp1142", {}),
    "cp1143": ("cp1143", {}),
    "cp1144": ("cp1144", {}),
    "cp1145": ("cp1145", {}),
    "cp1146": ("cp1146", {}),
    "cp1147": ("cp1147", {}),
    "cp1148": ("cp500", {0x9F: "\u20ac"}),
}

#: Names Cobrix's ``ebcdic_code_page_class`` test class uses; a user may register more with :func:`register`.
_CUSTOM: dict[str, tuple[str, ...]] = {}


#: What :attr:`CodePage.pair_table` makes of byte 0x00 (0xFF marks non-ASCII characters; neither is ASCII).
ZERO_MARK = 0xFE


@dataclass(frozen=True)
class CodePage:
    """A byte -> character table with the derived tables the vectorised string kernel needs."""

    name: str
    chars: tuple[str, ...]

    @functools.cached_property
    def codepoints(self) -> np.ndarray:
        return np.array([ord(c) for c in self.chars], dtype=np.uint32)

    @functools.cached_property
    def is_ascii(self) -> bool:
        return bool((self.codepoints < 0x80).all())

    @functools.cached_property
    def translate_table(self) -> bytes:
        """A ``bytes.translate`` table to the UTF-8 byte of ASCII characters; 0xFF marks a non-ASCII character."""
        return bytes(int(c) if c < 0x80 else 0xFF for c in self.codepoints)

    @functools.cached_property
    def byte_table(self) -> np.ndarray:
        """``translate_table`` as 256 uint8 entries, except that byte 0x00 becomes 0xFE (no character's byte): the text
        kernel then finds all-zero fields (nulls with improved_null_detection) in its output instead of with another
        pass over the input."""
        single = np.frombuffer(self.translate_table, dtype=np.uint8).copy()
        single[0] = ZERO_MARK
        return single

    @functools.cached_property
    def pair_table(self) -> np.ndarray:
        """:attr:`byte_table` for two bytes at once (65,536 uint16 entries, native byte order): half the lookups."""
        pairs = np.arange(65536, dtype=np.uint16).view(np.uint8).reshape(65536, 2)
        return self.byte_table[pairs].reshape(-1).view(np.uint16)

    @functools.cached_property
    def controls_are_whitespace(self) -> bool:
        """Every ASCII control character of the table is ASCII whitespace (tab, LF, VT, FF, CR): Java's trim (all
        of <= U+0020) and Arrow's whitespace trim then strip the same characters."""
        return all(b in b"\t\n\v\f\r" for b in self.translate_table if b < 0x20)

    @functools.cached_property
    def utf8(self) -> tuple[np.ndarray, np.ndarray]:
        """(256 x 3 UTF-8 bytes, 256 lengths) of each byte's character."""
        table = np.zeros((256, 3), dtype=np.uint8)
        lengths = np.zeros(256, dtype=np.uint8)
        for b, ch in enumerate(self.chars):
            enc = ch.encode("utf-8", errors="replace")[:3]
            table[b, : len(enc)] = np.frombuffer(enc, dtype=np.uint8)
            lengths[b] = len(enc)
        return table, lengths

    @functools.cached_property
    def whitespace(self) -> np.ndarray:
        """Bytes whose character Java's ``String.trim`` strips (<= U+0020)."""
        return self.codepoints <= 0x20


def _from_codec(codec: str) -> list[str]:
    if codec not in {"cp037", "cp273", "cp500", "cp875", "cp1140"}:
        import ebcdic  # noqa: F401  (registers the code pages Python lacks)
    return list(bytes(range(256)).decode(codec))


def _is_control(ch: str) -> bool:
    o = ord(ch)
    return o < 0x20 or o == 0x7F or 0x80 <= o <= 0x9F


@functools.cache
def code_page(name: str) -> CodePage:
    """The table Cobrix uses for ``ebcdic_code_page=name`` (case-insensitive)."""
    key = name.strip().lower()
    if key in _CUSTOM:
        return CodePage(key, _CUSTOM[key])
    if key in ("common", "common_extended"):
        chars = [" "] * 256
        for b, ch in _COMMON_PUNCT.items():
            chars[b] = ch
        for base, first in ((0x81, "a"), (0x91, "j"), (0xC1, "A"), (0xD1, "J")):
            for i in range(9):
                chars[base + i] = chr(ord(first) + i)
        for i in range(8):
            chars[0xA2 + i] = chr(ord("s") + i)
            chars[0xE2 + i] = chr(ord("S") + i)
        for i in range(10):
            chars[0xF0 + i] = str(i)
        if key == "common_extended":
            for b, cp in _COMMON_EXTENDED_CONTROLS.items():
                chars[b] = chr(cp)
        return CodePage(key, tuple(chars))
    extended = key.endswith("_extended")
    base_name = key.removesuffix("_extended")
    if base_name not in _IBM_PAGES:
        from airflow_zaloni.mainframe.errors import OptionError

        known = ", ".join(sorted([*_IBM_PAGES, "common", *_CUSTOM]))
        raise OptionError(f"unknown ebcdic_code_page {name!r}; known: {known} (each also as <name>_extended)")
    codec, patches = _IBM_PAGES[base_name]
    chars = _from_codec(codec)
    strip_c0 = base_name == "cp037" and not extended
    for b, ch in enumerate(chars):
        if _is_control(ch) and (strip_c0 or not (ord(ch) < 0x20 or ord(ch) == 0x7F)):
            chars[b] = " "
    chars[0x15] = "\u0085"
    chars[0x0D] = "\n"
    chars[0x25] = "\r"
    for b, ch in patches.items():
        chars[b] = ch
    return CodePage(key, tuple(chars))


def register(name: str, table: str | list[str] | tuple[str, ...]) -> None:
    """Register a custom single-byte code page (256 characters) under ``name`` (and as a code page class name)."""
    chars = tuple(table)
    if len(chars) != 256 or any(len(c) != 1 for c in chars):
        raise ValueError("a code page needs exactly 256 single characters")
    _CUSTOM[name.strip().lower()] = chars
    code_page.cache_clear()


def ascii_page(charset: str) -> CodePage:
    """A table for ASCII data in a single-byte charset (ISO-8859-1, cp1252 ...), undecodable bytes as U+FFFD."""
    chars = list(bytes(range(256)).decode(charset, errors="replace"))
    return CodePage(codecs.lookup(charset).name, tuple(chars))


def supported_code_pages() -> list[str]:
    names = ["common", "common_extended", *_IBM_PAGES, *(f"{n}_extended" for n in _IBM_PAGES)]
    return sorted(names)
