"""A rebuild's pace and time left, as `status` and `watch` print them: ``12/s``, ``~2m10s left``."""

from __future__ import annotations

from semsearch.api.v1 import types_pb2


def duration(seconds: float) -> str:
    """Compact: ``45s``, ``2m10s``, ``1h05m``, ``3d04h``."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def time_left(progress: types_pb2.RebuildProgress) -> str:
    """``~2m10s left``, or empty while the server has no estimate (or nothing is left)."""
    if not progress.HasField("seconds_left") or progress.chunks_done >= progress.chunks_total:
        return ""
    return f"~{duration(progress.seconds_left)} left"


def pace(progress: types_pb2.RebuildProgress) -> str:
    """``12/s · ~2m10s left``: chunks embedded per second and the estimate; empty when unknown."""
    rate = progress.chunks_per_second
    parts = []
    if rate > 0:
        parts.append(f"{rate:.0f}/s" if rate >= 10 else f"{rate:.1f}/s")
    left = time_left(progress)
    if left:
        parts.append(left)
    return " · ".join(parts)
