"""Mainframe decoding speed and memory: ours vs the cp037 codec floor vs coboljsonifier, on one core.

    .venv/bin/python benchmarks/mainframe.py                 # 64 MB files, speed table
    .venv/bin/python benchmarks/mainframe.py --size-mb 256   # bigger files
    .venv/bin/python benchmarks/mainframe.py --memory        # peak RSS decoding 100 MB vs 1 GB (subprocesses)
    .venv/bin/python benchmarks/mainframe.py --repeat 9      # more turns each (a busy machine's load comes in bursts)

Files are generated (deterministic): a fixed-length file of 90-byte records mixing text, packed decimal, binary and
zoned decimal fields, a VB file (BDW + RDW) of two segments told apart by a segment field with
redefine_segment_id_map, and a VB file of the fixed-length file's very records (same layout, one segment, the fair
VB/fixed comparison). "ours" decodes to Arrow record batches; the codec floor is ``bytes.decode('cp037')`` of the
same bytes (no fields, no numbers); coboljsonifier (the correct pure-Python peer) is timed on a slice of the
fixed-length file because it runs at a few MB/s (it has no RDW or REDEFINES, so it has no VB figure).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

# One core: no Arrow or BLAS thread pools.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import pyarrow as pa

pa.set_cpu_count(1)
pa.set_io_thread_count(1)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from airflow_zaloni.mainframe import decode_file  # noqa: E402

FIXED_COPYBOOK = """\
       01  CUSTOMER.
           05  CUST-ID        PIC S9(8)       COMP.
           05  NAME           PIC X(30).
           05  CITY           PIC X(20).
           05  BALANCE        PIC S9(9)V99    COMP-3.
           05  QUANTITY       PIC S9(7).
           05  RATE           PIC S9(3)V99    COMP-3.
           05  CODE           PIC X(10).
           05  BRANCH         PIC S9(4)       COMP.
           05  AMOUNT         PIC 9(6)V99.
"""
FIXED_LEN = 90

VB_COPYBOOK = """\
       01  RECORD.
           05  SEG-ID         PIC X(1).
           05  ACCOUNT.
               10  ACCT-ID    PIC 9(8)        COMP.
               10  OWNER      PIC X(40).
               10  ADDRESS    PIC X(40).
               10  OPENED     PIC 9(8).
               10  BALANCE    PIC S9(11)V99   COMP-3.
               10  LIMIT-AMT  PIC S9(7)V99    COMP-3.
               10  STATUS     PIC X(10).
               10  BRANCH     PIC S9(4)       COMP.
               10  RATE       PIC S9(3)V99    COMP-3.
               10  NOTES      PIC X(30).
           05  TXN REDEFINES ACCOUNT.
               10  TXN-ID     PIC 9(10)       COMP.
               10  AMOUNT     PIC S9(9)V99    COMP-3.
               10  MEMO       PIC X(40).
               10  QTY        PIC S9(5).
               10  TXN-DATE   PIC 9(8).
               10  CHANNEL    PIC X(7).
"""
VB_OPTIONS = {
    "record_format": "VB",
    "is_rdw_big_endian": "true",
    "is_bdw_big_endian": "true",
    "segment_field": "SEG-ID",
    "redefine_segment_id_map:0": "ACCOUNT => A",
    "redefine_segment_id_map:1": "TXN => T",
}

ODO_COPYBOOK = """\
       01  ORDER.
           05  ORDER-ID       PIC 9(8)        COMP.
           05  CUSTOMER       PIC X(20).
           05  LINE-COUNT     PIC 9(4)        COMP.
           05  LINES          OCCURS 0 TO {max} TIMES
                              DEPENDING ON LINE-COUNT.
               10  SKU        PIC X(3).
               10  QTY        PIC S9(5)       COMP-3.
           05  TOTAL          PIC S9(9)V99    COMP-3.
"""
VB_FIXED_OPTIONS = {"record_format": "VB", "is_rdw_big_endian": "true", "is_bdw_big_endian": "true"}

ODO_OPTIONS = {"record_format": "V", "is_rdw_big_endian": "true", "variable_size_occurs": "true"}

_LETTERS = np.array(list(range(0xC1, 0xCA)) + list(range(0xD1, 0xDA)) + list(range(0xE2, 0xEA)) + [0x40] * 6, np.uint8)


def _zoned(rng: np.random.Generator, n: int, digits: int, signed: bool) -> np.ndarray:
    out = (0xF0 + rng.integers(0, 10, size=(n, digits))).astype(np.uint8)
    if signed:
        neg = rng.random(n) < 0.3
        out[:, -1] = np.where(neg, 0xD0, 0xC0) | (out[:, -1] & 0x0F)
    return out


def _packed(rng: np.random.Generator, n: int, digits: int) -> np.ndarray:
    nbytes = digits // 2 + 1
    nib = rng.integers(0, 10, size=(n, 2 * nbytes)).astype(np.uint8)
    nib[:, -1] = np.where(rng.random(n) < 0.3, 0x0D, 0x0C)
    if digits % 2 == 0:
        nib[:, 0] = 0
    return (nib[:, 0::2] << 4) | nib[:, 1::2]


def _text(rng: np.random.Generator, n: int, width: int) -> np.ndarray:
    out = _LETTERS[rng.integers(0, len(_LETTERS), size=(n, width))]
    cut = rng.integers(width // 3, width, size=n)  # trailing spaces, as real names have
    out[np.arange(width)[None, :] >= cut[:, None]] = 0x40
    return out


def _binary(rng: np.random.Generator, n: int, width: int, high: int) -> np.ndarray:
    values = rng.integers(0, high, size=n, dtype=np.int64)
    return values.astype(f">i{width}" if width in (2, 4, 8) else ">i8").view(np.uint8).reshape(n, width)


def fixed_records(n: int, seed: int = 1) -> bytes:
    rng = np.random.default_rng(seed)
    parts = [
        _binary(rng, n, 4, 10**8),
        _text(rng, n, 30),
        _text(rng, n, 20),
        _packed(rng, n, 11),
        _zoned(rng, n, 7, True),
        _packed(rng, n, 5),
        _text(rng, n, 10),
        _binary(rng, n, 2, 9999),
        _zoned(rng, n, 8, False),
    ]
    mat = np.concatenate(parts, axis=1)
    assert mat.shape[1] == FIXED_LEN
    return mat.tobytes()


def vb_records(target_bytes: int, seed: int = 2) -> bytes:
    """Blocks of up to ~27 KB (BDW) of RDW-prefixed 'A' (150-byte) and 'T' (75-byte) records, mixed 1:4, so the
    records average 90 bytes like the fixed-length file's."""
    rng = np.random.default_rng(seed)
    n = max(1, target_bytes // 90)
    a = np.concatenate(
        [
            np.full((n, 1), 0xC1, np.uint8),
            _binary(rng, n, 4, 10**8),
            _text(rng, n, 40),
            _text(rng, n, 40),
            _zoned(rng, n, 8, False),
            _packed(rng, n, 13),
            _packed(rng, n, 9),
            _text(rng, n, 10),
            _binary(rng, n, 2, 9999),
            _packed(rng, n, 5),
            _text(rng, n, 30),
        ],
        axis=1,
    )
    t = np.concatenate(
        [
            np.full((n, 1), 0xE3, np.uint8),
            _binary(rng, n, 8, 10**10),
            _packed(rng, n, 11),
            _text(rng, n, 40),
            _zoned(rng, n, 5, True),
            _zoned(rng, n, 8, False),
            _text(rng, n, 7),
        ],
        axis=1,
    )
    assert a.shape[1] == 150 and t.shape[1] == 75
    is_a = rng.random(n) < 0.2
    out = bytearray()
    block = bytearray()
    for i in range(n):
        rec = (a[i] if is_a[i] else t[i]).tobytes()
        block += len(rec).to_bytes(2, "big") + b"\0\0" + rec
        if len(block) > 27_000:
            out += len(block).to_bytes(2, "big") + b"\0\0" + block
            block = bytearray()
        if len(out) >= target_bytes:
            break
    if block:
        out += len(block).to_bytes(2, "big") + b"\0\0" + block
    return bytes(out)


def vb_of_fixed(fixed: bytes, record_len: int = FIXED_LEN, block_limit: int = 27_000) -> bytes:
    """The fixed-length file's records, each behind an RDW, in blocks of up to ``block_limit`` bytes behind a BDW:
    the same layout and values as the fixed-length file, framed as VB (the fair VB/fixed comparison)."""
    recs = np.frombuffer(fixed, dtype=np.uint8).reshape(-1, record_len)
    framed = np.zeros((len(recs), 4 + record_len), dtype=np.uint8)
    framed[:, :2] = np.frombuffer(record_len.to_bytes(2, "big"), dtype=np.uint8)
    framed[:, 4:] = recs
    per_block = block_limit // (4 + record_len)
    out = bytearray()
    for i in range(0, len(framed), per_block):
        block = framed[i : i + per_block].tobytes()
        out += len(block).to_bytes(2, "big") + b"\0\0" + block
    return bytes(out)


def odo_records(target_bytes: int, max_count: int, seed: int = 3) -> bytes:
    """V records (RDW) of an order with 0..max_count lines of 6 bytes, each record only as long as its lines."""
    rng = np.random.default_rng(seed)
    avg = 36 + 6 * max_count / 2
    n = max(1, int(target_bytes / (avg + 4)))
    counts = rng.integers(0, max_count + 1, size=n)
    head = np.concatenate([_binary(rng, n, 4, 10**8), _text(rng, n, 20), _binary(rng, n, 2, 1)], axis=1)
    head[:, 24:26] = counts.astype(">u2").view(np.uint8).reshape(n, 2)
    tail = _packed(rng, n, 11)
    total = int(counts.sum())
    lines = np.concatenate([_text(rng, total, 3), _packed(rng, total, 5)], axis=1).tobytes()
    out = bytearray()
    pos = 0
    for i in range(n):
        body = head[i].tobytes() + lines[pos : pos + 6 * int(counts[i])] + tail[i].tobytes()
        pos += 6 * int(counts[i])
        out += len(body).to_bytes(2, "big") + b"\0\0" + body
    return bytes(out)


def write_fixed(path: Path, size_mb: int) -> None:
    per = max(1, (64 << 20) // FIXED_LEN)
    total = (size_mb << 20) // FIXED_LEN
    chunk = fixed_records(min(per, total))
    with open(path, "wb") as f:
        written = 0
        while written < total:
            k = min(per, total - written)
            f.write(chunk[: k * FIXED_LEN])
            written += k


# Timings are CPU seconds of this process (time.process_time): on a shared machine they measure what one core
# does; wall-clock time is printed beside them.
Timing = tuple[float, float]  # (cpu seconds, wall seconds)


def _timed(fn: Callable[[], object], repeat: int) -> Timing:
    """Best of ``repeat`` runs: the machine is shared, and the first run also loads Arrow's compute kernels."""
    cpu = wall = float("inf")
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        cpu = min(cpu, time.process_time() - c0)
        wall = min(wall, time.perf_counter() - w0)
    return cpu, wall


def _turns(fns: list[Callable[[], object]], repeat: int) -> list[Timing]:
    """Best of ``repeat`` runs of each, run in turns (first, second, ..., first, ...): the load of a shared machine
    moves over seconds, and taking turns exposes them all to the same moments of it."""
    best = [(float("inf"), float("inf")) for _ in fns]
    for _ in range(repeat):
        for k, fn in enumerate(fns):
            t = _timed(fn, 1)
            best[k] = (min(best[k][0], t[0]), min(best[k][1], t[1]))
    return best


def _decoder(path: Path, copybook: str, options: dict[str, str] | None, rows: list[int]) -> Callable[[], None]:
    def run() -> None:
        rows[0] = sum(batch.num_rows for batch in decode_file(path, copybook, options))

    return run


def ours(path: Path, copybook: str, options: dict[str, str] | None, repeat: int = 3) -> tuple[Timing, int]:
    rows = [0]
    return _timed(_decoder(path, copybook, options, rows), repeat), rows[0]


def ours_and_floor(
    path: Path, copybook: str, options: dict[str, str] | None, repeat: int = 5
) -> tuple[Timing, Timing, int]:
    """Ours and the codec floor on the same file, taking turns; returns (ours, floor, records)."""
    rows = [0]
    data = path.read_bytes()
    t_ours, t_floor = _turns([_decoder(path, copybook, options, rows), lambda: data.decode("cp037")], repeat)
    return t_ours, t_floor, rows[0]


def coboljsonifier_time(data: bytes, copybook: str, record_len: int) -> Timing | None:
    try:
        from coboljsonifier.config.parser_type_enum import ParseType
        from coboljsonifier.copybookextractor import CopybookExtractor
        from coboljsonifier.parser import Parser
    except ImportError:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".cpy", delete=False) as f:
        f.write(copybook)
        name = f.name
    try:
        parser = Parser(CopybookExtractor(name).dict_book_structure, ParseType.BINARY_EBCDIC).build()

        def run() -> None:
            for i in range(0, len(data) - record_len + 1, record_len):
                parser.parse(data[i : i + record_len])
                _ = parser.value

        return _timed(run, 1)
    finally:
        os.unlink(name)


def _mbs(nbytes: int, seconds: float) -> float:
    return nbytes / (1 << 20) / seconds


def _line(label: str, nbytes: int, t: Timing, extra: str = "") -> float:
    cpu = _mbs(nbytes, t[0])
    print(f"  {label:<34}{cpu:8.1f} MB/s cpu  ({_mbs(nbytes, t[1]):7.1f} MB/s wall){extra}")
    return cpu


def speed(size_mb: int, workdir: Path, repeat: int = 5) -> None:
    fixed = workdir / "fixed.dat"
    vb = workdir / "vb.dat"
    write_fixed(fixed, size_mb)
    vb.write_bytes(vb_records(size_mb << 20))
    fixed_bytes = fixed.read_bytes()
    vb_bytes = vb.read_bytes()

    _timed(lambda: sum(1 for _ in decode_file(fixed, FIXED_COPYBOOK, None)), 1)  # warm-up: Arrow's kernels load
    t_ours, t_floor, rows = ours_and_floor(fixed, FIXED_COPYBOOK, None, repeat)
    peer_slice = fixed_bytes[: min(len(fixed_bytes), 4 << 20) // FIXED_LEN * FIXED_LEN]
    t_peer = coboljsonifier_time(peer_slice, FIXED_COPYBOOK, FIXED_LEN)
    # The VB files take turns with the fixed-length file too: each VB/fixed ratio is of runs under the same load.
    vb_rows_seen = [0]
    vb_data = vb.read_bytes()
    fixed_run = _decoder(fixed, FIXED_COPYBOOK, None, [0])
    t_vb, t_vb_floor, t_vb_fixed = _turns(
        [_decoder(vb, VB_COPYBOOK, VB_OPTIONS, vb_rows_seen), lambda: vb_data.decode("cp037"), fixed_run], repeat
    )
    vb_rows = vb_rows_seen[0]
    vb_same = workdir / "vb_fixed_layout.dat"
    vb_same.write_bytes(vb_of_fixed(fixed_bytes))
    vb_same_size = vb_same.stat().st_size
    t_same, t_same_fixed = _turns([_decoder(vb_same, FIXED_COPYBOOK, VB_FIXED_OPTIONS, [0]), fixed_run], repeat)

    print(
        f"one core; best of {repeat} runs, taking turns (ours and the floor; each VB file and the fixed-length file);"
    )
    print("MB/s of CPU time of this process (wall-clock in brackets)")
    print(f"fixed-length: {len(fixed_bytes) / (1 << 20):.0f} MB, {rows:,} records of {FIXED_LEN} bytes")
    ours_mbs = _line("ours (to Arrow record batches)", len(fixed_bytes), t_ours)
    floor_mbs = _mbs(len(fixed_bytes), t_floor[0])
    _line("bytes.decode('cp037') floor", len(fixed_bytes), t_floor, f"   ours/floor = {ours_mbs / floor_mbs:.2f}")
    if t_peer is not None:
        peer_mbs = _mbs(len(peer_slice), t_peer[0])
        _line(
            f"coboljsonifier ({len(peer_slice) >> 20} MB slice)",
            len(peer_slice),
            t_peer,
            f"   ours/coboljsonifier = {ours_mbs / peer_mbs:.1f}x",
        )
    else:
        print("  coboljsonifier: not installed")
    print(f"VB multisegment: {len(vb_bytes) / (1 << 20):.0f} MB, {vb_rows:,} records (BDW+RDW, 2 segments)")
    vb_mbs = _mbs(len(vb_bytes), t_vb[0])
    vb_fixed_mbs = _mbs(len(fixed_bytes), t_vb_fixed[0])
    _line("ours (to Arrow record batches)", len(vb_bytes), t_vb, f"   VB/fixed = {vb_mbs / vb_fixed_mbs:.2f}")
    _line("bytes.decode('cp037') floor", len(vb_bytes), t_vb_floor)
    _line("ours, the fixed-length file", len(fixed_bytes), t_vb_fixed)
    print("  coboljsonifier: n/a (no RDW/BDW framing, no REDEFINES)")
    print(
        f"VB of the fixed-length layout: {vb_same_size / (1 << 20):.0f} MB, the same {rows:,} records (BDW+RDW, one "
        "segment)"
    )
    same_mbs = _mbs(vb_same_size, t_same[0])
    fixed_again = _mbs(len(fixed_bytes), t_same_fixed[0])
    _line("ours (to Arrow record batches)", vb_same_size, t_same, f"   VB/fixed = {same_mbs / fixed_again:.2f}")
    _line("ours, the fixed-length file", len(fixed_bytes), t_same_fixed)
    for max_count in (10, 9999):  # ODO goal: >= 50 MB/s
        odo = workdir / f"odo{max_count}.dat"
        odo.write_bytes(odo_records(max(1, size_mb // 4) << 20, max_count))
        t_odo, odo_rows = ours(odo, ODO_COPYBOOK.format(max=max_count), ODO_OPTIONS, repeat=2)
        size = odo.stat().st_size
        print(
            f"ODO, variable_size_occurs=true, V: {size / (1 << 20):.0f} MB, {odo_rows:,} records, 0..{max_count} lines"
        )
        _line("ours (to Arrow record batches)", size, t_odo)
    per_call(workdir)


def per_call(workdir: Path) -> None:
    """The fixed cost of one call on a small file: a fresh process's first call (imports done), then warm calls."""
    small_fixed = workdir / "small_fixed.dat"
    small_fixed.write_bytes(fixed_records(10))
    small_vb = workdir / "small_vb.dat"
    small_vb.write_bytes(vb_records(2000))
    print("per-call cost on small files (ms of CPU time, wall-clock in brackets; the first call in a fresh process")
    print("after the imports, then the median of 30 warm calls):")
    for label, path, kind in (
        ("fixed, 10 records", small_fixed, "fixed"),
        ("VB, 2 segments, 22 records", small_vb, "vb"),
    ):
        out = subprocess.run(
            [sys.executable, __file__, "--per-call", kind, str(path)], capture_output=True, text=True, check=True
        ).stdout.split()
        c_first, c_warm, w_first, w_warm = (float(x) for x in out)
        print(f"  {label:<34}first {c_first:6.2f} ms ({w_first:6.2f})   warm {c_warm:5.2f} ms ({w_warm:5.2f})")


def _child_per_call(kind: str, path: str) -> None:
    copybook, options = (FIXED_COPYBOOK, None) if kind == "fixed" else (VB_COPYBOOK, VB_OPTIONS)

    def once() -> tuple[float, float]:
        c0, w0 = time.process_time(), time.perf_counter()
        for _ in decode_file(path, copybook, options):
            pass
        return (time.process_time() - c0) * 1000, (time.perf_counter() - w0) * 1000

    first = once()
    warm = sorted(once() for _ in range(30))[15]
    print(f"{first[0]} {warm[0]} {first[1]} {warm[1]}")


def _child_decode(path: str) -> None:
    rows = 0
    for batch in decode_file(path, FIXED_COPYBOOK):
        rows += batch.num_rows
    # Linux keeps ru_maxrss across fork+exec, so a child started by a big parent reports the parent's peak; the
    # process's own high-water mark (VmHWM) is exact. Other systems: ru_maxrss.
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        with open("/proc/self/status") as f:
            peak_kb = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        pass
    print(f"{rows} {peak_kb}")


def memory(workdir: Path, sizes: list[int]) -> None:
    print("peak memory (max RSS of a fresh process decoding the fixed-length file):")
    for size in sizes:
        path = workdir / f"mem_{size}.dat"
        write_fixed(path, size)
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(path)], capture_output=True, text=True, check=True
        ).stdout.split()
        path.unlink()
        print(f"  {size:6d} MB file: {int(out[0]):>12,} records, peak RSS {int(out[1]) / 1024:7.1f} MB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=64, help="size of each generated file (default 64)")
    ap.add_argument("--memory", action="store_true", help="also compare peak memory for 100 MB vs 1 GB")
    ap.add_argument("--memory-sizes", default="100,1024", help="sizes in MB for --memory (default 100,1024)")
    ap.add_argument("--workdir", help="where to write the generated files (default: a temporary directory)")
    ap.add_argument(
        "--repeat", type=int, default=5, help="runs of each side taking turns, best kept (default 5; more under load)"
    )
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--per-call", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child_decode(args.child)
        return
    if args.per_call:
        _child_per_call(*args.per_call)
        return
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        speed(args.size_mb, work, args.repeat)
        if args.memory:
            memory(work, [int(s) for s in args.memory_sizes.split(",")])


if __name__ == "__main__":
    main()
