"""Generate the small EBCDIC data set that ``example_dags/mainframe_ingest.py`` lands (layout: ``customers.cpy``).

Run ``python example_dags/data/make_sample.py`` to write ``CUSTOMERS.DAT`` next to this script, in the layout of the
copybook ``customers.cpy`` beside it (deterministic: the same bytes every time). ``CUSTOMERS.DAT`` is a fixed-length
(RECFM=FB, LRECL=50) file of 200 customer records in code page 037, with the field types a mainframe file really
mixes: zoned decimal, text, packed decimal (COMP-3), big-endian binary (COMP) and a signed zoned amount with an
overpunched sign.

The encoders are importable (tests build their own data with them).
"""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
RECORDS = 200

#: The record layout; the data below follows it field by field (customers.cpy is its one home).
COPYBOOK = (HERE / "customers.cpy").read_text()
LRECL = 50

_FIRST = ["ANNA", "BERND", "CARLA", "DIETER", "EMMA", "FRANZ", "GRETA", "HUGO", "IRMA", "JONAS"]
_LAST = ["MUELLER", "SCHMIDT", "SCHNEIDER", "FISCHER", "WEBER", "MEYER", "WAGNER", "BECKER", "HOFFMANN", "KOCH"]


def text(value: str, size: int, codepage: str = "cp037") -> bytes:
    """PIC X(size): EBCDIC, padded with EBCDIC spaces."""
    return value.encode(codepage)[:size].ljust(size, b"\x40")


def zoned(value: int, digits: int, *, signed: bool = False) -> bytes:
    """PIC [S]9(digits) DISPLAY: one EBCDIC digit per byte, the sign overpunched in the last byte (C/D)."""
    out = bytearray(0xF0 + int(d) for d in f"{abs(value):0{digits}d}"[-digits:])
    if signed:
        out[-1] = (0xD0 if value < 0 else 0xC0) | (out[-1] & 0x0F)
    return bytes(out)


def packed(value: Decimal, digits: int, scale: int) -> bytes:
    """PIC S9(digits-scale)V9(scale) COMP-3: two digits a byte, sign nibble C (+) or D (-) last."""
    unscaled = int(value.scaleb(scale))
    nibbles = f"{abs(unscaled):0{digits + (1 - digits % 2)}d}"
    sign = "d" if unscaled < 0 else "c"
    return bytes.fromhex(nibbles + sign)


def binary(value: int, size: int) -> bytes:
    """PIC S9(n) COMP: big-endian two's complement."""
    return value.to_bytes(size, "big", signed=True)


def customer(i: int, rng: random.Random) -> bytes:
    name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
    balance = Decimal(rng.randint(-500_000, 9_999_999)) / 100
    record = b"".join(
        [
            zoned(100_000 + i, 6),
            text(name, 20),
            packed(balance, 9, 2),
            binary(rng.randint(0, 9_999), 2),
            zoned(rng.randint(-99_999, 999_999), 7, signed=True),
            zoned(rng.randint(1985, 2026), 4),
            text(rng.choice("ABC"), 1),
            text("", 5),
        ]
    )
    assert len(record) == LRECL, len(record)
    return record


def make(folder: Path = HERE, records: int = RECORDS, seed: int = 42) -> tuple[Path, Path]:
    """Write ``CUSTOMERS.DAT`` and a copy of ``customers.cpy`` into ``folder``; returns their paths."""
    rng = random.Random(seed)
    copybook = folder / "customers.cpy"
    data = folder / "CUSTOMERS.DAT"
    copybook.write_text(COPYBOOK)
    data.write_bytes(b"".join(customer(i, rng) for i in range(records)))
    return copybook, data


if __name__ == "__main__":
    for written in make():
        print(f"wrote {written} ({written.stat().st_size} bytes)")
