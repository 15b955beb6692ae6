"""COBOL copybook parser: text -> a tree of groups and primitive fields with byte offsets and sizes.

Supports levels 01-49, 77 and 88 (kept as metadata on the field above), PIC X/A/9/S/V/P/N/G and editing symbols,
USAGE DISPLAY, COMP/COMP-0/COMP-4/BINARY, COMP-5, COMP-3/PACKED-DECIMAL, COMP-3U, COMP-9 (little-endian binary,
Cobrix's extension), COMP-1, COMP-2 and NATIONAL, SIGN LEADING/TRAILING [SEPARATE], OCCURS n and OCCURS m TO n
DEPENDING ON (nested), REDEFINES at any level, FILLER, several 01 records, fixed format (sequence area, indicator
column, comment lines) and free format. Everything else is a :class:`CopybookError` naming line and column.

Sizes and types follow Cobrix so that the same copybook gives the same layout and Spark schema.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Union

from airflow_zaloni.mainframe.errors import CopybookError

# Usages (kind of storage) of a primitive field.
DISPLAY = "DISPLAY"
BINARY = "BINARY"  # COMP, COMP-0, COMP-4, COMP-5, BINARY: big-endian two's complement (or unsigned)
BINARY_LE = "COMP-9"  # Cobrix's little-endian binary
PACKED = "COMP-3"
PACKED_UNSIGNED = "COMP-3U"  # packed digits without a sign nibble
FLOAT = "COMP-1"
DOUBLE = "COMP-2"
NATIONAL = "NATIONAL"

_USAGE_WORDS = {
    "DISPLAY": DISPLAY,
    "COMP": BINARY,
    "COMP-0": BINARY,
    "COMP-4": BINARY,
    "COMP-5": BINARY,
    "COMPUTATIONAL": BINARY,
    "COMPUTATIONAL-0": BINARY,
    "COMPUTATIONAL-4": BINARY,
    "COMPUTATIONAL-5": BINARY,
    "BINARY": BINARY,
    "COMP-3": PACKED,
    "COMPUTATIONAL-3": PACKED,
    "PACKED-DECIMAL": PACKED,
    "COMP-3U": PACKED_UNSIGNED,
    "COMP-9": BINARY_LE,
    "COMP-1": FLOAT,
    "COMPUTATIONAL-1": FLOAT,
    "COMP-2": DOUBLE,
    "COMPUTATIONAL-2": DOUBLE,
    "NATIONAL": NATIONAL,
}
_UNSUPPORTED_USAGE = {"POINTER", "PROCEDURE-POINTER", "FUNCTION-POINTER", "INDEX", "OBJECT", "DISPLAY-1"}
# Clauses that do not change the layout and are skipped with their arguments.
_IGNORED_FLAGS = {"GLOBAL", "EXTERNAL", "SYNC", "SYNCHRONIZED", "LEFT", "RIGHT", "JUST", "JUSTIFIED"}


@dataclass(eq=False)
class Field:
    """A node of the copybook tree. ``offset`` is relative to the start of the enclosing group element."""

    level: int
    name: str
    line: int
    column: int
    redefines: str | None = None
    occurs: int | None = None
    occurs_min: int = 0
    depending_on: str | None = None
    offset: int = 0
    size: int = 0  # bytes of one element
    is_filler: bool = False
    column_name: str = ""
    is_redefined: bool = False
    parent: Group | None = field(default=None, repr=False)
    values: list[str] = field(default_factory=list, repr=False)  # level-88 condition names (metadata only)
    depending_field: Primitive | None = field(default=None, repr=False)

    @property
    def total_size(self) -> int:
        return self.size * (self.occurs or 1)

    @property
    def is_array(self) -> bool:
        return self.occurs is not None

    def path(self) -> str:
        parts = []
        node: Field | None = self
        while node is not None:
            parts.append(node.name)
            node = node.parent
        return ".".join(reversed(parts))


@dataclass(eq=False)
class Group(Field):
    children: list[Node] = field(default_factory=list, repr=False)
    usage: str | None = None  # USAGE given on the group applies to its children

    def walk(self) -> Iterator[Node]:
        for child in self.children:
            yield child
            if isinstance(child, Group):
                yield from child.walk()


@dataclass(eq=False)
class Primitive(Field):
    pic: str = ""
    usage: str = DISPLAY
    kind: str = "alnum"  # alnum | national | numeric | float
    digits: int = 0  # digit positions in the PIC (9, Z, *, floating signs)
    scale: int = 0  # digits after the decimal point, plus P on the left
    scale_factor: int = 0  # P on the right: value = digits * 10**scale_factor
    signed: bool = False
    sign_separate: bool = False
    sign_leading: bool = False
    explicit_point: bool = False
    grouping: bool = False  # ',' or '/' in an edited PIC: insertion characters between the digits
    has_point_or_p: bool = False  # V, P or '.' in the PIC: the value is a decimal, never an integer
    p_left: int = 0  # P symbols before the digits (scaling positions after the decimal point)
    edited: bool = False

    @property
    def precision(self) -> int:
        return self.digits + self.scale_factor + self.p_left


Node = Union[Group, Primitive]  # noqa: UP007 (a runtime alias; X | Y needs Python 3.10 at import)


@dataclass
class Copybook:
    """The parsed copybook: its 01-level records (all decoding the same record bytes) and the record size."""

    roots: list[Node]
    text: str = ""

    @property
    def record_size(self) -> int:
        return max((r.offset + r.total_size for r in self.roots), default=0)

    def walk(self) -> Iterator[Node]:
        for root in self.roots:
            yield root
            if isinstance(root, Group):
                yield from root.walk()

    def find(self, name: str) -> Node:
        """The field named ``name`` (COBOL or column spelling, case-insensitive)."""
        key = _norm(name)
        for node in self.walk():
            if _norm(node.name) == key or _norm(node.column_name) == key:
                return node
        raise CopybookError(f"no field named {name!r} in the copybook")


def _norm(name: str) -> str:
    return name.upper().replace("-", "_")


# ---------------------------------------------------------------------------------------------------------------
# Source text -> statements


@dataclass
class _Token:
    text: str
    line: int
    column: int


def _code_area(text: str, free_format: bool, lbound: int, ubound: int) -> Iterator[tuple[int, int, str]]:
    """Yield (line number, 1-based column of the first character, code text) per source line."""
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r\n")
        if free_format:
            stripped = line.lstrip()
            if stripped.startswith("*") or stripped.startswith("/"):
                continue
            cut = line.find("*>")
            if cut >= 0:
                line = line[:cut]
            yield lineno, 1, line
            continue
        if len(line) > lbound:
            indicator = line[lbound]
            if indicator in "*/":
                continue
            if indicator not in " -dD\t" and not indicator.isalnum() and indicator not in ".'\"(":
                # Anything else in the indicator column is a comment marker for some compilers; be lenient.
                continue
        code = line[lbound + 1 : ubound] if len(line) > lbound + 1 else ""
        if code.lstrip().startswith("*"):
            continue  # '*' in area A (column 8 on): a comment line for JRecord and cb2xml, never valid code
        cut = code.find("*>")
        if cut >= 0:
            code = code[:cut]
        yield lineno, lbound + 2, code


# A comma or semicolon followed by a space separates words; inside a word (PIC ZZZ,ZZ9.99) it is part of it.
_TOKEN_RE = re.compile(r"""'[^']*'?|"[^"]*"?|[^\s,;](?:[^\s,;]|[,;](?=[^\s,;]))*""")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]*")

# Words that may follow a number inside a clause (OCCURS 1 TO\n 3 TIMES ...); a level number is followed by a name.
_KEYWORDS = {
    "PIC", "PICTURE", "IS", "ARE", "USAGE", "VALUE", "VALUES", "OCCURS", "TIMES", "TO", "DEPENDING", "ON", "INDEXED",
    "BY", "ASCENDING", "DESCENDING", "KEY", "REDEFINES", "RENAMES", "SIGN", "LEADING", "TRAILING", "SEPARATE",
    "CHARACTER", "THRU", "THROUGH", "BLANK", "WHEN", "ZERO", "ZEROS", "ZEROES", "SPACE", "SPACES", "ALL", "QUOTE",
    "QUOTES", "HIGH-VALUE", "HIGH-VALUES", "LOW-VALUE", "LOW-VALUES", "NULL", "NULLS", "ALSO", "FALSE", "TRUE",
    "GLOBAL", "EXTERNAL", "SYNC", "SYNCHRONIZED", "JUST", "JUSTIFIED", "LEFT", "RIGHT", "DISPLAY", "NATIONAL",
}  # fmt: skip


def _is_level(word: str) -> bool:
    return word.isdigit() and len(word) <= 2 and (1 <= int(word) <= 49 or int(word) in (66, 77, 88))


def _starts_item(words: list[str]) -> bool:
    """The words of a line begin a new data item: a level number, then a name (or a clause of a FILLER)."""
    if len(words) < 2 or not _is_level(words[0]):
        return False
    name = words[1].upper()
    return bool(_NAME_RE.fullmatch(name)) and not name.isdigit() and name not in _KEYWORDS and name not in _USAGE_WORDS


def _statements(text: str, free_format: bool, lbound: int, ubound: int) -> list[list[_Token]]:
    statements: list[list[_Token]] = []
    current: list[_Token] = []
    for lineno, col0, code in _code_area(text, free_format, lbound, ubound):
        code = code.replace("\t", " ")
        matches = list(_TOKEN_RE.finditer(code))
        if current and _starts_item([m.group(0).rstrip(".") for m in matches[:2]]):
            # A statement that runs into the next item: without this check its clauses would swallow that item.
            first = current[1].text if len(current) > 1 else current[0].text
            raise CopybookError(
                f"the statement of {first} (line {current[0].line}) does not end with a period before the item "
                f"{matches[1].group(0).rstrip('.')}",
                line=lineno,
                column=col0 + matches[0].start(),
            )
        for m in matches:
            word = m.group(0)
            column = col0 + m.start()
            ends = word.endswith(".") and not word.startswith(("'", '"'))
            if ends:
                word = word[:-1]
            if word:
                current.append(_Token(word, lineno, column))
            if ends:
                if current:
                    statements.append(current)
                current = []
    if current:
        last = current[-1]
        raise CopybookError(
            f"the statement starting with {current[0].text!r} does not end with a period",
            line=last.line,
            column=last.column + len(last.text),
        )
    return statements


# ---------------------------------------------------------------------------------------------------------------
# PIC strings


_PIC_REPEAT = re.compile(r"(.)\((\d+)\)")


def _expand_pic(pic: str, tok: _Token) -> str:
    def repl(m: re.Match[str]) -> str:
        count = int(m.group(2))
        if count <= 0 or count > 1_000_000:
            raise CopybookError(f"bad repeat count in PIC {pic!r}", line=tok.line, column=tok.column)
        return m.group(1) * count

    expanded = _PIC_REPEAT.sub(repl, pic.upper())
    if "(" in expanded or ")" in expanded:
        raise CopybookError(f"unbalanced parenthesis in PIC {pic!r}", line=tok.line, column=tok.column)
    return expanded


def _apply_pic(prim: Primitive, pic: str, tok: _Token) -> None:
    prim.pic = pic
    s = _expand_pic(pic, tok)
    s = s.replace("CR", "-").replace("DB", "-")  # credit/debit symbols are trailing signs (2 bytes each)
    if not s:
        raise CopybookError("empty PIC", line=tok.line, column=tok.column)
    bad = set(s) - set("XA9SVPNGZ*+-.,B0/$E")
    if bad:
        raise CopybookError(f"unsupported symbol {sorted(bad)[0]!r} in PIC {pic!r}", line=tok.line, column=tok.column)
    if set(s) & set("XA"):
        if set(s) - set("XA9B0/"):
            raise CopybookError(f"mixed alphanumeric PIC {pic!r} is not supported", line=tok.line, column=tok.column)
        prim.kind = "alnum"
        prim.size = len(s)
        return
    if set(s) & set("NG"):
        if set(s) - set("NG"):
            raise CopybookError(f"mixed national PIC {pic!r} is not supported", line=tok.line, column=tok.column)
        prim.kind = "national"
        prim.size = 2 * len(s)
        return
    if "E" in s:
        raise CopybookError(f"floating-point display PIC {pic!r} is not supported", line=tok.line, column=tok.column)
    prim.kind = "numeric"
    credit_debit = pic.upper().count("CR") + pic.upper().count("DB")
    digits = 0
    scale = 0
    after_point = False
    p_left = 0
    p_right = 0
    seen_digit = False
    display_size = 0
    first_sign_used = False
    for i, c in enumerate(s):
        if c == "S":
            if i != 0:
                raise CopybookError(f"S must come first in PIC {pic!r}", line=tok.line, column=tok.column)
            prim.signed = True
        elif c == "V":
            if after_point:
                raise CopybookError(f"more than one decimal point in PIC {pic!r}", line=tok.line, column=tok.column)
            after_point = True
            prim.has_point_or_p = True
        elif c == ".":
            if after_point:
                raise CopybookError(f"more than one decimal point in PIC {pic!r}", line=tok.line, column=tok.column)
            after_point = True
            prim.explicit_point = True
            prim.has_point_or_p = True
            display_size += 1
        elif c == ",":  # digit grouping in an edited PIC
            prim.edited = True
            prim.grouping = True
            display_size += 1
        elif c == "P":
            prim.has_point_or_p = True
            if seen_digit and not after_point:
                p_right += 1
            else:
                p_left += 1
                after_point = True  # leading P: every digit that follows is a fraction digit
        elif c in "9Z*":
            digits += 1
            seen_digit = True
            display_size += 1
            if after_point:
                scale += 1
        elif c in "+-":
            prim.signed = True
            prim.edited = True
            display_size += 1
            # A run of sign symbols is a floating insertion: all but the first hold digits.
            if first_sign_used and i > 0 and s[i - 1] == c and i != len(s) - 1:
                digits += 1
                if after_point:
                    scale += 1
            first_sign_used = True
        elif c in "B0/$":
            prim.edited = True
            prim.grouping = prim.grouping or c == "/"
            display_size += 1
    if digits == 0:
        raise CopybookError(f"PIC {pic!r} has no digit positions", line=tok.line, column=tok.column)
    prim.edited = prim.edited or bool(set(s) & set("Z*"))
    prim.digits = digits
    prim.scale = scale + p_left
    prim.scale_factor = p_right
    prim.p_left = p_left
    prim.size = display_size + credit_debit  # CR/DB take two bytes each; one was counted as '-'
    if prim.precision > 38:
        raise CopybookError(
            f"PIC {pic!r} has {prim.precision} digits; at most 38 are supported", line=tok.line, column=tok.column
        )


def binary_size(digits: int, usage: str) -> int:
    """Bytes of a COMP/BINARY field of ``digits`` digits (IBM's halfword/fullword/doubleword, then as needed)."""
    if digits <= 4:
        return 2
    if digits <= 9:
        return 4
    if digits <= 18:
        return 8
    return math.ceil((digits * math.log2(10) + 1) / 8)


def _finish_primitive(prim: Primitive, tok: _Token) -> None:
    """Compute the byte size from PIC and USAGE."""
    usage = prim.usage
    if usage in (FLOAT, DOUBLE):
        prim.kind = "float"
        prim.size = 4 if usage == FLOAT else 8
        prim.has_point_or_p = True
        return
    if not prim.pic:
        raise CopybookError(f"field {prim.name} has neither PIC nor children", line=tok.line, column=tok.column)
    if prim.kind == "alnum":
        if usage not in (DISPLAY,):
            raise CopybookError(
                f"USAGE {usage} is not valid for the alphanumeric field {prim.name}", line=tok.line, column=tok.column
            )
        return
    if prim.kind == "national":
        prim.usage = NATIONAL
        return
    if usage == NATIONAL:
        raise CopybookError(f"USAGE NATIONAL needs PIC N for field {prim.name}", line=tok.line, column=tok.column)
    if usage == DISPLAY:
        if prim.sign_separate and not prim.edited:
            prim.signed = True  # a SIGN clause makes the field signed even without S
            prim.size += 1
        return
    if prim.edited or prim.explicit_point:
        raise CopybookError(
            f"an edited PIC cannot have USAGE {usage} (field {prim.name})", line=tok.line, column=tok.column
        )
    if usage in (BINARY, BINARY_LE):
        prim.size = binary_size(prim.digits, usage)
    elif usage == PACKED:
        prim.size = prim.digits // 2 + 1
    elif usage == PACKED_UNSIGNED:
        prim.size = (prim.digits + 1) // 2


# ---------------------------------------------------------------------------------------------------------------
# Statements -> tree


class _Cursor:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.i = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def next(self, what: str) -> _Token:
        tok = self.peek()
        if tok is None:
            last = self.tokens[-1]
            raise CopybookError(f"expected {what} after {last.text!r}", line=last.line, column=last.column)
        self.i += 1
        return tok

    def accept(self, *words: str) -> _Token | None:
        tok = self.peek()
        if tok is not None and tok.text.upper() in words:
            self.i += 1
            return tok
        return None


def _int_token(tok: _Token, what: str) -> int:
    if not tok.text.isdigit():
        raise CopybookError(f"expected {what}, found {tok.text!r}", line=tok.line, column=tok.column)
    return int(tok.text)


def _parse_statement(tokens: list[_Token]) -> tuple[int, Node | None, _Token]:
    cur = _Cursor(tokens)
    level_tok = cur.next("a level number")
    if not level_tok.text.isdigit():
        raise CopybookError(
            f"expected a level number, found {level_tok.text!r}", line=level_tok.line, column=level_tok.column
        )
    level = int(level_tok.text)
    if level == 66:
        raise CopybookError("level 66 (RENAMES) is not supported", line=level_tok.line, column=level_tok.column)
    if not (1 <= level <= 49 or level in (77, 88)):
        raise CopybookError(f"invalid level number {level}", line=level_tok.line, column=level_tok.column)
    name_tok = cur.peek()
    if name_tok is None or name_tok.text.upper() in (
        "PIC",
        "PICTURE",
        "REDEFINES",
        "OCCURS",
        "USAGE",
        *_USAGE_WORDS,
    ):
        name = "FILLER"
        name_tok = level_tok
    else:
        cur.next("a name")
        name = name_tok.text
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_\-]*", name):
            raise CopybookError(f"invalid field name {name!r}", line=name_tok.line, column=name_tok.column)
    if level == 88:
        return level, None, level_tok
    attrs: dict[str, object] = {}
    while (tok := cur.peek()) is not None:
        word = tok.text.upper()
        cur.i += 1
        if word in ("PIC", "PICTURE"):
            cur.accept("IS")
            pic_tok = cur.next("a PIC string")
            attrs["pic"] = (pic_tok.text, pic_tok)
        elif word == "USAGE":
            cur.accept("IS")
            utok = cur.next("a usage")
            u = utok.text.upper()
            if u in _UNSUPPORTED_USAGE:
                raise CopybookError(f"USAGE {u} is not supported", line=utok.line, column=utok.column)
            if u not in _USAGE_WORDS:
                raise CopybookError(f"unknown USAGE {utok.text!r}", line=utok.line, column=utok.column)
            attrs["usage"] = _USAGE_WORDS[u]
        elif word in _USAGE_WORDS:
            attrs["usage"] = _USAGE_WORDS[word]
        elif word in _UNSUPPORTED_USAGE:
            raise CopybookError(f"USAGE {word} is not supported", line=tok.line, column=tok.column)
        elif word == "REDEFINES":
            attrs["redefines"] = cur.next("the name of the redefined field").text
        elif word == "OCCURS":
            n1 = _int_token(cur.next("a count"), "an OCCURS count")
            n2 = None
            if cur.accept("TO"):
                n2 = _int_token(cur.next("a count"), "an OCCURS upper bound")
            cur.accept("TIMES")
            dep = None
            if cur.accept("DEPENDING"):
                cur.accept("ON")
                dep = cur.next("the name of the counter field").text
            while cur.accept("ASCENDING", "DESCENDING"):
                cur.accept("KEY")
                cur.accept("IS")
                cur.next("a key name")
                while (k := cur.peek()) is not None and k.text.upper() not in ("INDEXED", "ASCENDING", "DESCENDING"):
                    if k.text.upper() in ("PIC", "PICTURE", "USAGE", "VALUE", "VALUES", *_USAGE_WORDS):
                        break
                    cur.i += 1
            if cur.accept("INDEXED"):
                cur.accept("BY")
                cur.next("an index name")
                while (k := cur.peek()) is not None and k.text.upper() not in (
                    "PIC",
                    "PICTURE",
                    "USAGE",
                    "VALUE",
                    "VALUES",
                    *_USAGE_WORDS,
                ):
                    cur.i += 1
            max_count = n2 if n2 is not None else n1
            if max_count < 1 and n2 is None:
                raise CopybookError("OCCURS needs a positive count", line=tok.line, column=tok.column)
            if n2 is not None and n2 < n1:
                raise CopybookError("OCCURS m TO n needs m <= n", line=tok.line, column=tok.column)
            if max_count > 1_000_000:
                raise CopybookError(f"OCCURS {max_count} is too large", line=tok.line, column=tok.column)
            attrs["occurs"] = (n1 if n2 is not None else 0, max_count, dep)
        elif word == "SIGN":
            cur.accept("IS")
            pos = cur.next("LEADING or TRAILING")
            if pos.text.upper() not in ("LEADING", "TRAILING"):
                raise CopybookError(
                    f"expected LEADING or TRAILING, found {pos.text!r}", line=pos.line, column=pos.column
                )
            attrs["sign_leading"] = pos.text.upper() == "LEADING"
            if cur.accept("SEPARATE"):
                cur.accept("CHARACTER")
                attrs["sign_separate"] = True
        elif word in ("LEADING", "TRAILING"):
            attrs["sign_leading"] = word == "LEADING"
            if cur.accept("SEPARATE"):
                cur.accept("CHARACTER")
                attrs["sign_separate"] = True
        elif word in ("VALUE", "VALUES"):
            cur.accept("IS", "ARE")
            cur.next("a value")
            while (k := cur.peek()) is not None and k.text.upper() not in (
                "PIC",
                "PICTURE",
                "USAGE",
                "OCCURS",
                "REDEFINES",
                "SIGN",
                *_USAGE_WORDS,
            ):
                cur.i += 1
        elif word == "BLANK":
            cur.accept("WHEN")
            cur.next("ZERO")
        elif word in _IGNORED_FLAGS:
            continue
        else:
            raise CopybookError(
                f"unexpected {tok.text!r} (unsupported or malformed clause)", line=tok.line, column=tok.column
            )
    node: Node
    if "pic" in attrs or attrs.get("usage") in (FLOAT, DOUBLE):
        node = Primitive(level=level, name=name, line=name_tok.line, column=name_tok.column)
    else:
        node = Group(level=level, name=name, line=name_tok.line, column=name_tok.column)
    node.is_filler = name.upper() == "FILLER"
    node.redefines = attrs.get("redefines")  # type: ignore[assignment]
    if "occurs" in attrs:
        node.occurs_min, node.occurs, node.depending_on = attrs["occurs"]  # type: ignore[misc]
    if isinstance(node, Primitive):
        if "pic" in attrs:
            pic: tuple[str, _Token] = attrs["pic"]  # type: ignore[assignment]
            _apply_pic(node, pic[0], pic[1])
        node.usage = attrs.get("usage", "")  # type: ignore[assignment]  # filled from the group later if empty
        node.sign_leading = bool(attrs.get("sign_leading", False))
        node.sign_separate = bool(attrs.get("sign_separate", False))
    else:
        node.usage = attrs.get("usage")  # type: ignore[assignment]
    return level, node, level_tok


def parse_copybook(
    text: str,
    *,
    free_format: bool = False,
    comments_lbound: int = 6,
    comments_ubound: int = 72,
) -> Copybook:
    """Parse copybook text into a :class:`Copybook` with offsets and sizes computed.

    :param text: the copybook source.
    :param free_format: free-format source (no sequence area/indicator column; ``*>`` comments).
    :param comments_lbound: width of the sequence area in fixed format (Cobrix's ``comments_lbound``).
    :param comments_ubound: column after which text is ignored in fixed format (``comments_ubound``).
    """
    roots: list[Node] = []
    stack: list[Node] = []
    last_primitive: Node | None = None
    for tokens in _statements(text, free_format, comments_lbound, comments_ubound):
        level, node, level_tok = _parse_statement(tokens)
        if node is None:  # level 88: a condition name on the field above
            if last_primitive is None:
                raise CopybookError("level 88 without a field above it", line=level_tok.line, column=level_tok.column)
            last_primitive.values.append(" ".join(t.text for t in tokens[1:]))
            continue
        if level in (1, 77):
            stack = []
        else:
            # Items below level 01 with no 01 above (copybook fragments) are top-level items, as in Cobrix.
            while stack and stack[-1].level >= level:
                stack.pop()
        if stack:
            parent = stack[-1]
            if not isinstance(parent, Group):
                raise CopybookError(
                    f"field {parent.name} has a PIC but also subordinate items (first: {node.name})",
                    line=level_tok.line,
                    column=level_tok.column,
                )
            node.parent = parent
            parent.children.append(node)
        else:
            roots.append(node)
        stack.append(node)
        last_primitive = node
    if not roots:
        raise CopybookError("the copybook defines no fields", line=1, column=1)
    for root in roots:
        _resolve(root, None)
    _check_unique_names(roots)
    copybook = Copybook(roots=roots, text=text)
    _layout_roots(copybook)
    _link_depending(copybook)
    return copybook


def _resolve(node: Node, inherited_usage: str | None) -> None:
    """Propagate group usages, check groups are not empty and compute primitive sizes."""
    tok = _Token(node.name, node.line, node.column)
    if isinstance(node, Primitive):
        if not node.usage:
            node.usage = inherited_usage or DISPLAY
        _finish_primitive(node, tok)
        return
    if not node.children:
        raise CopybookError(f"group {node.name} has no fields and no PIC", line=node.line, column=node.column)
    usage = node.usage or inherited_usage
    for child in node.children:
        _resolve(child, usage)


def _check_unique_names(siblings: list[Node]) -> None:
    """Cobrix's rule: two fields of one group (or two top-level items) may not share a name; FILLERs may."""
    seen: dict[str, Node] = {}
    for node in siblings:
        if isinstance(node, Group):
            _check_unique_names(node.children)
        if node.is_filler:
            continue
        key = _norm(node.name)
        if key in seen:
            where = f"group {node.parent.name}" if node.parent is not None else "the top level"
            raise CopybookError(
                f"duplicate field name {node.name} in {where} (also at line {seen[key].line}); Spark and the lake "
                f"need unique column names, so rename one of them",
                line=node.line,
                column=node.column,
            )
        seen[key] = node


def _layout_children(children: list[Node], owner: str) -> int:
    """Offsets of ``children`` relative to their start, one after another; a REDEFINES shares the offset of its
    target, and the block of a field and its redefines takes the size of the largest. Returns the total size."""
    pos = 0
    by_name: dict[str, Node] = {}
    last_base: Node | None = None
    for child in children:
        if isinstance(child, Group):
            _layout_group(child)
        if child.redefines:
            target = by_name.get(_norm(child.redefines))
            if target is None or last_base is None:
                raise CopybookError(
                    f"{child.name} REDEFINES {child.redefines}, which is not an earlier field of {owner}",
                    line=child.line,
                    column=child.column,
                )
            target.is_redefined = True
            child.offset = target.offset
            pos = max(pos, child.offset + child.total_size)
        else:
            child.offset = pos
            pos += child.total_size
            last_base = child
        by_name[_norm(child.name)] = child
    return max((c.offset + c.total_size for c in children), default=0)


def _layout_group(group: Group) -> None:
    group.size = _layout_children(group.children, "the same group")


def _layout_roots(copybook: Copybook) -> None:
    # Several top-level records follow one another, as Cobrix lays them out (its FlatCopybooksSpec); a record that
    # REDEFINES an earlier one shares its area, and the copybooks of the ``copybooks`` option all start at 0.
    _layout_children(copybook.roots, "the copybook")


def _link_depending(copybook: Copybook) -> None:
    for node in copybook.walk():
        if node.depending_on:
            try:
                target = copybook.find(node.depending_on)
            except CopybookError:
                raise CopybookError(
                    f"{node.name} OCCURS DEPENDING ON {node.depending_on}, which is not a field of the copybook",
                    line=node.line,
                    column=node.column,
                ) from None
            if not isinstance(target, Primitive):
                raise CopybookError(
                    f"{node.name} OCCURS DEPENDING ON the group {node.depending_on}; a counter must be elementary",
                    line=node.line,
                    column=node.column,
                )
            node.depending_field = target


def merge_copybooks(copybooks: list[Copybook]) -> Copybook:
    """Cobrix's ``copybooks`` option: the 01-level records of every copybook, all starting at offset 0."""
    roots: list[Node] = [root for cb in copybooks for root in cb.roots]  # each copybook's layout starts at 0
    return Copybook(roots=roots, text="\n".join(cb.text for cb in copybooks))
