"""The Lake view on a big lake: ours (paged pages, read-only catalog, short cache) against the view before issue 17
(one page with every partition of every dataset, a catalog read with recovery on every request).

    .venv/bin/python benchmarks/lake_view.py                      # 10,000 partitions in one dataset
    .venv/bin/python benchmarks/lake_view.py --partitions 2000    # quicker

One partition is committed for real; the others are copies of it with their own manifest (what 10,000 daily runs
leave, without waiting for them). The baseline is the earlier ``lake_page.render`` taken from git history
(commit ``caa13d7``), fed by ``catalog(lake)`` as its endpoint did. Prints, per page load: HTML bytes, seconds and
Python peak memory (``tracemalloc``), and the ratios.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

BASELINE_COMMIT = "caa13d7"


def build(root: Path, partitions: int) -> None:
    from airflow_zaloni.lake import DatasetRef, Lake
    from tests.lake_view_data import land

    lake = Lake(str(root))
    ref = DatasetRef("raw", "bench", "daily")
    land(lake, ref, "dt=0000", 100)
    first = root / "raw" / "bench" / "daily" / "dt=0000"
    manifest = json.loads((first / "_manifest.json").read_text())
    for i in range(1, partitions):
        target = first.parent / f"dt={i:04d}"
        shutil.copytree(first, target)
        manifest.update(partition=target.name, run_id=f"scheduled__{i:04d}")
        (target / "_manifest.json").write_text(json.dumps(manifest))
    for name in ("a", "b", "c"):
        land(lake, DatasetRef("raw", "bench", name), "dt=0000", 10)


def baseline_renderer() -> Callable[..., str]:
    source = subprocess.run(
        ["git", "show", f"{BASELINE_COMMIT}:airflow_zaloni/plugins/lake_page.py"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    module = types.ModuleType("baseline_lake_page")
    exec(compile(source, "baseline_lake_page.py", "exec"), module.__dict__)
    return module.render  # type: ignore[no-any-return]


def measure(step: Callable[[], str]) -> dict[str, Any]:
    tracemalloc.start()
    started = time.perf_counter()
    html = step()
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"bytes": len(html.encode()), "seconds": seconds, "peak_mb": peak / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--partitions", type=int, default=10_000)
    args = parser.parse_args()

    from airflow_zaloni.lake import Lake
    from airflow_zaloni.lake.catalog import catalog
    from airflow_zaloni.plugins import lake_page
    from airflow_zaloni.plugins.lake_cache import TtlCache

    work = Path(tempfile.mkdtemp(prefix="lake-view-bench-"))
    try:
        root = work / "lake"
        started = time.perf_counter()
        build(root, args.partitions)
        print(f"built {args.partitions:,} partitions in {time.perf_counter() - started:.1f} s at {root}")
        old_render = baseline_renderer()
        from airflow_zaloni.plugins import redaction

        redaction.redact("warm-up")  # imports Airflow's masker, as the API server has long done before a request
        settings = lake_page.ViewSettings()
        cache: TtlCache[Any] = TtlCache()

        def baseline() -> str:
            return str(old_render(str(root), catalog(Lake(str(root)))))

        def read() -> Any:
            return catalog(Lake(str(root)), read_only=True, collect_errors=True)

        def ours_cold() -> str:
            cache.clear()
            return lake_page.render_lake(str(root), cache.get(str(root), 30, read).value, settings=settings)

        def ours_cached() -> str:
            return lake_page.render_lake(str(root), cache.get(str(root), 30, read).value, settings=settings)

        def ours_dataset_page() -> str:
            datasets = cache.get(str(root), 30, read).value
            big = next(d for d in datasets if d.name == "daily")
            return lake_page.render_dataset(str(root), big, settings=settings, page=2)

        results = {
            "before: one page, read every request": measure(baseline),
            "ours: main page, first read": measure(ours_cold),
            "ours: main page, cached": measure(ours_cached),
            "ours: dataset page 2, cached": measure(ours_dataset_page),
        }
        print(f"{'page load':<40}{'HTML KB':>10}{'seconds':>10}{'peak MB':>10}")
        for name, r in results.items():
            print(f"{name:<40}{r['bytes'] / 1024:>10.1f}{r['seconds']:>10.3f}{r['peak_mb']:>10.1f}")
        base = results["before: one page, read every request"]
        cached = results["ours: main page, cached"]
        print(
            f"ratios (before / ours cached): HTML {base['bytes'] / cached['bytes']:.0f}x smaller, "
            f"{base['seconds'] / cached['seconds']:.0f}x faster"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
