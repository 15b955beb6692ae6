"""X (Twitter) posts to Arrow: the typed conversion of the Twitter source, side by side with two common baselines.

    .venv/bin/python benchmarks/twitter.py                 # 100,000 posts (1,000 pages of 100)
    .venv/bin/python benchmarks/twitter.py --posts 500000

The input is what X API v2 pages hold: posts with public_metrics, entities (hashtags, mentions, urls),
referenced_tweets, attachments and an RFC 3339 ``created_at``, already decoded from JSON (the HTTP part is X's, and
rate-limited far below any of these rates). Each side runs in a fresh subprocess (peak RSS from ``wait4``):

* **ours**: ``to_batch`` of ``airflow_zaloni.sources.twitter.schema``, one batch per page as the source yields
  them -- the full typed POST_SCHEMA (nested structs and lists, timestamps parsed, unknown keys kept as JSON);
* **pandas**: ``pandas.json_normalize`` of each page + ``pyarrow.Table.from_pandas`` -- the usual notebook route;
  flattens the structs to dotted columns and leaves lists as Python objects and ``created_at`` as text;
* **pyarrow infer**: ``pyarrow.Table.from_pylist`` with inferred types -- the floor: no schema, no timestamp parsing,
  and a different schema whenever a page lacks a field.

A ratio is baseline time / our time: above 1.0 we are faster.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PAGE = 100


def make_pages(posts: int) -> Iterator[list[dict[str, Any]]]:
    """Pages of X-like posts, deterministic, made one at a time (as they arrive from X)."""
    page: list[dict[str, Any]] = []
    for i in range(posts):
        pid = str(1_800_000_000_000_000_000 + i * 7919)
        text = f"post {i} about #airflow and #spark with @user{i % 97} https://t.co/x{i}"
        post: dict[str, Any] = {
            "id": pid,
            "text": text,
            "edit_history_tweet_ids": [pid],
            "author_id": str(1000 + i % 997),
            "conversation_id": pid,
            "created_at": f"2026-11-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:{(i * 7) % 60:02d}.000Z",
            "lang": "en",
            "possibly_sensitive": False,
            "reply_settings": "everyone",
            "public_metrics": {
                "retweet_count": i % 13,
                "reply_count": i % 7,
                "like_count": i % 101,
                "quote_count": i % 3,
                "bookmark_count": i % 5,
                "impression_count": i * 3,
            },
            "entities": {
                "hashtags": [{"start": 14, "end": 22, "tag": "airflow"}, {"start": 27, "end": 33, "tag": "spark"}],
                "mentions": [{"start": 39, "end": 45, "username": f"user{i % 97}", "id": str(2000 + i % 97)}],
                "urls": [
                    {
                        "start": 46,
                        "end": 69,
                        "url": f"https://t.co/x{i}",
                        "expanded_url": "https://x.org",
                        "display_url": "x.org",
                    }
                ],
            },
        }
        if i % 3 == 0:
            post["referenced_tweets"] = [{"type": "replied_to", "id": str(int(pid) - 7919)}]
        if i % 4 == 0:
            post["attachments"] = {"media_keys": [f"3_{pid}"]}
        page.append(post)
        if len(page) == PAGE:
            yield page
            page = []
    if page:
        yield page


def run_side(side: str, posts: int) -> None:
    """Convert ``posts`` posts one way and print rows and seconds (run in a child process)."""
    import pyarrow as pa

    pages = list(make_pages(posts))  # decoded JSON in memory before timing; peak RSS counts it for every side
    start = time.perf_counter()
    rows = 0
    if side == "ours":
        from airflow_zaloni.sources.twitter.schema import POST_SCHEMA, to_batch

        for page in pages:  # as the source does: one typed batch per page
            rows += to_batch(page, POST_SCHEMA, what="post").num_rows
    elif side == "pandas":
        import pandas as pd

        for page in pages:
            rows += pa.Table.from_pandas(pd.json_normalize(page)).num_rows
    else:
        for page in pages:
            rows += pa.Table.from_pylist(page).num_rows
    print(rows, time.perf_counter() - start)


def measure(side: str, posts: int) -> tuple[float, float]:
    """Seconds of the conversion and peak RSS in MB of a child that does it."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, __file__, "--side", side, "--posts", str(posts)], stdout=subprocess.PIPE, env=env, text=True
    )
    _, status, usage = os.wait4(proc.pid, 0)
    assert proc.stdout is not None
    out = proc.stdout.read().split()
    if status != 0 or int(out[0]) != posts:
        raise SystemExit(f"{side} failed: status {status}, output {out}")
    return float(out[1]), usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--side", choices=["ours", "pandas", "infer"])
    args = parser.parse_args()
    if args.side:
        run_side(args.side, args.posts)
        return
    ours, ours_mb = measure("ours", args.posts)
    print(f"{args.posts:,} posts in pages of {PAGE}")
    print(f"{'side':<42}{'seconds':>9}{'posts/s':>12}{'peak MB':>9}{'ratio':>7}")
    print(f"{'ours (typed POST_SCHEMA, nested)':<42}{ours:>9.2f}{args.posts / ours:>12,.0f}{ours_mb:>9.0f}{1:>7.2f}")
    for side, label in (("pandas", "pandas json_normalize + from_pandas"), ("infer", "pyarrow from_pylist (inferred)")):
        seconds, mb = measure(side, args.posts)
        print(f"{label:<42}{seconds:>9.2f}{args.posts / seconds:>12,.0f}{mb:>9.0f}{seconds / ours:>7.2f}")


if __name__ == "__main__":
    main()
