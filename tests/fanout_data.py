"""Mainframe files for fan-out tests and the fan-out benchmark: the example's customer records, fixed or VB."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]


def _sample() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_sample", REPO / "example_dags" / "data" / "make_sample.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sample = _sample()
COPYBOOK: str = sample.COPYBOOK
LRECL: int = sample.LRECL
VB_OPTIONS = {"record_format": "VB", "is_rdw_big_endian": "true", "is_bdw_big_endian": "true"}


def customer_records(count: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    return [sample.customer(i, rng) for i in range(count)]


def vb_bytes(records: list[bytes], seed: int = 7) -> bytes:
    """RECFM=VB: blocks of 1 to 40 records, each block behind a BDW and each record behind an RDW (IBM layout with
    lengths that exclude their own 4 bytes, big-endian -- the options in :data:`VB_OPTIONS`)."""
    rng = random.Random(seed)
    out = bytearray()
    i = 0
    while i < len(records):
        take = records[i : i + rng.randint(1, 40)]
        body = b"".join(len(r).to_bytes(2, "big") + b"\0\0" + r for r in take)
        out += len(body).to_bytes(2, "big") + b"\0\0" + body
        i += len(take)
    return bytes(out)


def write_repeated(path: Path, unit: bytes, size: int) -> int:
    """Write ``unit`` (whole records or blocks) again and again until ``path`` holds about ``size`` bytes."""
    copies = max(1, size // len(unit))
    with path.open("wb") as f:
        for _ in range(copies):
            f.write(unit)
    return copies
