"""Human-readable sizes and times for the CLI and the Lake view."""

from __future__ import annotations

import datetime as dt
from typing import Any


def human_size(n: int | float) -> str:
    """``1536`` -> ``'1.5 KB'`` (binary units, as ``ls -h`` prints them)."""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def utc_time(ts: Any) -> str:
    """A Unix timestamp as ``YYYY-MM-DD HH:MM:SS UTC``; ``-`` for none."""
    if ts is None or ts == "":
        return "-"
    return dt.datetime.fromtimestamp(float(ts), tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
