"""File ingest speed and memory, side by side with the floor each step could reach.

    .venv/bin/python benchmarks/files.py                  # 256 MB files
    .venv/bin/python benchmarks/files.py --size-mb 1024   # the 1 GB of the issue
    .venv/bin/python benchmarks/files.py --only landing   # one of the two comparisons

Two comparisons, each run in fresh subprocesses (peak RSS per side, from ``wait4``), page cache warm for both:

1. **Landing**: one local file into the lake's landing zone with its sha256 (``FileIngest``, ``format="binary"``,
   a whole lake transaction with manifest and ledger) against ``cp`` of the file followed by ``sha256sum`` of the
   copy, the shell's floor for "copy and checksum".
2. **CSV to Parquet**: one CSV file ingested (bytes landed with sha256 *and* decoded into raw Parquet, one
   transaction) against ``pyarrow.csv.read_csv`` + ``pyarrow.parquet.write_table`` of the same file alone (zstd,
   as the lake writes), which does strictly less work.

A ratio is baseline time / our time: above 1.0 we are faster, 0.7 is the issue's bar.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def make_file(path: Path, size_mb: int) -> None:
    """Incompressible-ish bytes (a landing copy must not benefit from zeros)."""
    block = random.Random(7).randbytes(8 << 20)
    with path.open("wb") as out:
        for _ in range(max(1, size_mb // 8)):
            out.write(block)


def make_csv(path: Path, size_mb: int) -> None:
    """Orders-like CSV: int, two decimals-as-float, a date, short strings; about 60 bytes per row."""
    rng = random.Random(11)
    chunk_rows = 100_000
    with path.open("w") as out:
        out.write("order_id,customer,amount,tax,order_date,status,country\n")
        row = 0
        statuses = ["NEW", "PAID", "SHIPPED", "CANCELLED"]
        while out.tell() < size_mb << 20:
            lines = []
            for _ in range(chunk_rows):
                row += 1
                amount, tax = rng.randrange(10**7) / 100, rng.randrange(10**5) / 100
                day = f"2026-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
                country = "DE" if row % 3 else "FR"
                lines.append(
                    f"{row},C{rng.randrange(10**6):07d},{amount:.2f},{tax:.2f},{day},{statuses[row % 4]},{country}\n"
                )
            out.write("".join(lines))


def warm_bytecode(folder: Path, imports: str) -> None:
    """Give the sides (child processes) a private bytecode cache in ``folder``, warmed once by running ``imports``.

    pip compiles bytecode at install time; a venv without it (PYTHONDONTWRITEBYTECODE) recompiles pyarrow, pandas
    and Airflow sources at every start, as an installed package would not.
    """
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(folder / "pycache")
    subprocess.run([sys.executable, "-c", imports], cwd=REPO, check=True)


def timed(cmd: list[str]) -> tuple[float, float, float]:
    """Run ``cmd``; return wall seconds, seconds of work (what a side reports after its imports, else the wall
    time), and peak RSS in MB."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"{cmd} failed with status {status}")
    work = [float(line.split()[1]) for line in output.splitlines() if line.startswith("WORK ")]
    return elapsed, work[0] if work else elapsed, usage.ru_maxrss / 1024


# -- the sides, each run as `python benchmarks/files.py --side NAME SRC WORK` ----------------------------------------


def side_ours(kind: str, src: str, work: str) -> None:
    sys.path.insert(0, str(REPO))
    import pyarrow as pa

    from airflow_zaloni.lake import DatasetRef, Lake
    from airflow_zaloni.sources.files import FileIngest, FormatOptions
    from airflow_zaloni.sources.files.client import LocalFileSystem

    pa.array([0])  # pyarrow imports pandas on its first list conversion: count that as start-up, not as work
    started = time.perf_counter()
    lake = Lake(work)
    folder, name = os.path.split(src)
    ingest = FileIngest(
        fs=LocalFileSystem(),
        folder=folder,
        location=folder,
        pattern=name,
        options=FormatOptions(format="binary" if kind == "landing" else "csv"),
    )
    with lake.transaction(run_id="bench") as txn:
        result = ingest.run(
            txn,
            lake,
            landing=DatasetRef("landing", "bench", "files"),
            raw=None if kind == "landing" else DatasetRef("raw", "bench", "files"),
            partition="dt=2026-01-01",
        )
    assert len(result.landed) == 1
    print(f"WORK {time.perf_counter() - started:.3f}")


def side_pyarrow(src: str, work: str) -> None:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    started = time.perf_counter()
    pq.write_table(pacsv.read_csv(src), os.path.join(work, "out.parquet"), compression="zstd")
    print(f"WORK {time.perf_counter() - started:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=256)
    parser.add_argument("--only", choices=["landing", "csv"], help="run one of the two comparisons")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side, alternating; the best counts")
    parser.add_argument("--side", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        name, src, work = args.side
        if name == "pyarrow":
            side_pyarrow(src, work)
        else:
            side_ours(name, src, work)
        return

    me = [sys.executable, str(Path(__file__).resolve()), "--side"]
    with tempfile.TemporaryDirectory(prefix="zaloni-bench-files-", dir=os.environ.get("BENCH_TMP")) as tmp:
        root = Path(tmp)
        warm_bytecode(
            root,
            "import pyarrow as pa, pyarrow.csv, pyarrow.parquet; pa.array([0]); import airflow_zaloni.sources.files",
        )
        blob, csv = root / "in" / "blob.bin", root / "in" / "orders.csv"
        blob.parent.mkdir()
        make_file(blob, args.size_mb)
        if args.only != "landing":
            make_csv(csv, args.size_mb)
        else:
            csv.write_bytes(b"")
        rows = []

        def fresh(name: str) -> str:
            path = root / name
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir()
            return str(path)

        # warm the page cache for both sides alike
        subprocess.run(["cat", str(blob), str(csv)], stdout=subprocess.DEVNULL, check=True)

        def best(runs: list[tuple[float, float, float]]) -> tuple[float, float, float]:
            return min(r[0] for r in runs), min(r[1] for r in runs), max(r[2] for r in runs)

        if args.only != "csv":
            base_runs, our_runs = [], []
            for _ in range(args.repeat):
                copy = fresh("cp") + "/blob.bin"
                t_cp, _, m_cp = timed(["cp", str(blob), copy])
                t_sum, _, m_sum = timed(["sha256sum", copy])
                base_runs.append((t_cp + t_sum, t_cp + t_sum, max(m_cp, m_sum)))
                our_runs.append(timed([*me, "landing", str(blob), fresh("lake1")]))
            rows.append(("landing + sha256", "cp + sha256sum", *best(base_runs), *best(our_runs)))
        if args.only != "landing":
            base_runs, our_runs = [], []
            for _ in range(args.repeat):
                base_runs.append(timed([*me, "pyarrow", str(csv), fresh("pa")]))
                our_runs.append(timed([*me, "csv", str(csv), fresh("lake2")]))
            rows.append(("CSV -> Parquet (+landing)", "read_csv + write_table", *best(base_runs), *best(our_runs)))

    print(f"\n{args.size_mb} MB per file, {os.cpu_count()} CPUs, best of {args.repeat} alternating runs per side.")
    print("'wall': whole process (interpreter start and imports")
    print("included); 'work': after the imports. ratio = baseline / ours (above 1: ours faster; the bar is 0.7)\n")
    header = f"{'step':26} {'baseline':23} {'wall s':>7} {'work s':>7} {'peak MB':>8}"
    print(f"{header} {'ours wall':>9} {'work s':>7} {'peak MB':>8} {'ratio wall':>10} {'ratio work':>10}")
    for step, base, tb, wb, mb, to, wo, mo in rows:
        print(
            f"{step:26} {base:23} {tb:7.2f} {wb:7.2f} {mb:8.0f} {to:9.2f} {wo:7.2f} {mo:8.0f} {tb / to:10.2f}"
            f" {wb / wo:10.2f}"
        )


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    main()
