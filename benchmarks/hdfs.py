"""Landing a file into a lake on HDFS, against ``hdfs dfs -put`` of the same file on the same cluster (the floor).

    make hadoop-up                                        # the local Hadoop (writes .hadoop/env)
    .venv/bin/python benchmarks/hdfs.py                   # 1 GB, WebHDFS and native (hdfs-native) roots
    .venv/bin/python benchmarks/hdfs.py --size-mb 256 --only webhdfs --env /path/to/.hadoop/env

Each side runs in a fresh subprocess (peak RSS from ``wait4``), alternating, best of ``--repeat``, page cache warm:

* **floor**: ``hdfs dfs -put -f`` (Hadoop's own client, a JVM: its start-up is part of its time);
* **webhdfs**: the file landed with its sha256 into ``webhdfs://<user>@nn1:port,nn2:port/...`` (``FileIngest``,
  ``format="binary"``: a whole lake transaction with manifest, ledger and commit), the NameNodes named as in the
  cluster's ``AIRFLOW_CONN_WEBHDFS_DEFAULT``;
* **hdfs**: the same into ``hdfs://<nameservice>/...`` through hdfs-native, configured by ``HADOOP_CONF_DIR``.

ratio = floor time / our time (above 1: ours faster; the issue's aim is 0.7). 'work' is our time after the
interpreter's imports; the floor's JVM start is not taken out of its time, so 'ratio wall' is the fair one.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from urllib.parse import unquote, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
# The landing side, the test file and the timing are those of benchmarks/files.py.
from files import make_file, timed, warm_bytecode

REPO = Path(__file__).resolve().parents[1]
FILES = Path(__file__).resolve().parent / "files.py"


def read_env(path: Path) -> dict[str, str]:
    """The ``export NAME=value`` lines of ``.hadoop/env`` (written by ``make hadoop-up``)."""
    if not path.exists():
        raise SystemExit(f"{path} not found: start the local Hadoop with `make hadoop-up`, or pass --env")
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("export ") and "=" in line:
            name, _, value = line[len("export ") :].partition("=")
            env[name] = os.path.expandvars(" ".join(shlex.split(value)))
    return env


def namenodes_of(conn: str) -> tuple[str, str]:
    """``(user, "nn1:port,nn2:port")`` from a webhdfs connection, in JSON or URI form."""
    if conn.lstrip().startswith("{"):
        fields = json.loads(conn)
        user, host, port = fields.get("login") or "hdfs", fields["host"], fields.get("port")
    else:
        user_part, _, netloc = urlsplit(conn).netloc.rpartition("@")
        user = unquote(user_part) or "hdfs"
        host, _, port = unquote(netloc).rpartition(":") if netloc.count(":") == 1 else (unquote(netloc), "", None)
    entries = [h.strip() for h in host.split(",") if h.strip()]
    return user, ",".join(h if ":" in h or not port else f"{h}:{port}" for h in entries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--only", choices=["webhdfs", "hdfs"], help="only one of our two roots")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each side, alternating; the best counts")
    parser.add_argument("--env", type=Path, default=REPO / ".hadoop" / "env", help="the cluster's env file")
    args = parser.parse_args()

    cluster = read_env(args.env)
    os.environ.update(cluster)
    hdfs_cli = Path(cluster.get("HADOOP_BIN", "")) / "hdfs" if cluster.get("HADOOP_BIN") else None
    hdfs = str(hdfs_cli) if hdfs_cli and hdfs_cli.exists() else "hdfs"  # .hadoop/bin is on the env's PATH
    user, namenodes = namenodes_of(cluster["AIRFLOW_CONN_WEBHDFS_DEFAULT"])
    nameservice = (
        subprocess.run([hdfs, "getconf", "-confKey", "dfs.nameservices"], capture_output=True, text=True, check=True)
        .stdout.split(",")[0]
        .strip()
    )
    run = f"/bench/{uuid.uuid4().hex[:8]}"
    roots = {
        "webhdfs": lambda i: f"webhdfs://{user}@{namenodes}{run}/webhdfs-{i}",
        "hdfs": lambda i: f"hdfs://{nameservice}{run}/native-{i}",
    }
    sides = [args.only] if args.only else ["webhdfs", "hdfs"]

    with tempfile.TemporaryDirectory(prefix="zaloni-bench-hdfs-", dir=os.environ.get("BENCH_TMP")) as tmp:
        warm_bytecode(
            Path(tmp), "import pyarrow as pa, pyarrow.parquet; pa.array([0]); import airflow_zaloni.sources.files"
        )
        blob = Path(tmp) / "blob.bin"
        make_file(blob, args.size_mb)
        subprocess.run(["cat", str(blob)], stdout=subprocess.DEVNULL, check=True)  # warm the page cache

        subprocess.run([hdfs, "dfs", "-mkdir", "-p", run], capture_output=True, check=True)
        results: dict[str, list[tuple[float, float, float]]] = {"floor": [], **{s: [] for s in sides}}
        for i in range(args.repeat):
            results["floor"].append(timed([hdfs, "dfs", "-put", "-f", str(blob), f"{run}/floor-{i}.bin"]))
            for side in sides:
                results[side].append(
                    timed([sys.executable, str(FILES), "--side", "landing", str(blob), roots[side](i)])
                )
        subprocess.run([hdfs, "dfs", "-rm", "-r", "-skipTrash", run], capture_output=True)

    def best(runs: list[tuple[float, float, float]]) -> tuple[float, float, float]:
        return min(r[0] for r in runs), min(r[1] for r in runs), max(r[2] for r in runs)

    floor_wall, _, floor_mb = best(results["floor"])
    print(f"\n{args.size_mb} MB, {os.cpu_count()} CPUs, best of {args.repeat} alternating runs per side.")
    rate = args.size_mb / floor_wall
    print(f"floor: hdfs dfs -put  {floor_wall:7.2f} s wall  {rate:7.1f} MB/s  peak {floor_mb:6.0f} MB")
    print(f"{'ours':28} {'wall s':>7} {'work s':>7} {'MB/s':>7} {'peak MB':>8} {'ratio wall':>10} {'ratio work':>10}")
    for side in sides:
        wall, work, peak = best(results[side])
        name = "landing via WebHDFS" if side == "webhdfs" else "landing via hdfs-native (RPC)"
        print(
            f"{name:28} {wall:7.2f} {work:7.2f} {args.size_mb / wall:7.1f} {peak:8.0f} {floor_wall / wall:10.2f}"
            f" {floor_wall / work:10.2f}"
        )


if __name__ == "__main__":
    main()
