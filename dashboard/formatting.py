"""Numbers and dates the way people read them."""

from __future__ import annotations

from datetime import datetime, timezone


def file_size(num_bytes: int | float | None) -> str:
    if num_bytes is None:
        return "–"
    size = float(num_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def when(value: str | float | datetime | None) -> str:
    """ISO-8601 text, a Unix time or a datetime, shown as 'YYYY-MM-DD HH:MM UTC'."""
    if value is None or value == "":
        return "–"
    if isinstance(value, (int, float)):
        moment = datetime.fromtimestamp(value, tz=timezone.utc)
    elif isinstance(value, str):
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    else:
        moment = value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def seconds(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


def count(value: int | float | None) -> str:
    return "–" if value is None else f"{int(value):,}"


def duration(total_seconds: float) -> str:
    """A validity period: '45 s', '15 min', '1 h', '7 days'."""
    if total_seconds < 60:
        return f"{total_seconds:.0f} s"
    if total_seconds < 3600:
        return f"{total_seconds / 60:.0f} min"
    if total_seconds < 2 * 86400:
        return f"{total_seconds / 3600:.3g} h"
    return f"{total_seconds / 86400:.3g} days"
