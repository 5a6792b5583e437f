"""Block times as integer (seconds, nanos) pairs, and their RFC 3339 text in CometBFT's RPC JSON.

Python `datetime` drops nanoseconds, and a header hash covers them, so no datetime is used here.
"""

from __future__ import annotations

import re

from app.client.light.errors import MalformedData

__all__ = ["Timestamp", "parse_rfc3339", "format_rfc3339", "timestamp_to_ns"]

Timestamp = tuple[int, int]

_NANOS_PER_SECOND = 10**9
_SECONDS_PER_DAY = 86_400
# ASCII digits only (\d would take any Unicode digit), matched whole (fullmatch: $ allows a final "\n").
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})", re.ASCII
)


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    return era * 146_097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719_468


def _civil_from_days(days: int) -> tuple[int, int, int]:
    """The (year, month, day) of a day count since 1970-01-01."""
    days += 719_468
    era = days // 146_097
    doe = days - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, doy - (153 * mp + 2) // 5 + 1


def parse_rfc3339(text: str) -> Timestamp:
    """Parse an RFC 3339 time with up to 9 fractional digits into UTC (seconds, nanos)."""
    match = _RFC3339.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise MalformedData(f"time {text!r} is not RFC 3339 (e.g. 2024-01-02T03:04:05.123456789Z)")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    days = _days_from_civil(year, month, day)
    if _civil_from_days(days) != (year, month, day) or hour > 23 or minute > 59 or second > 59:
        raise MalformedData(f"time {text!r} is not a valid calendar time")
    nanos = int((match.group(7) or "").ljust(9, "0"))
    offset = 0
    if match.group(8) != "Z":
        sign = -1 if match.group(8)[0] == "-" else 1
        offset = sign * (int(match.group(8)[1:3]) * 3600 + int(match.group(8)[4:6]) * 60)
    return days * _SECONDS_PER_DAY + hour * 3600 + minute * 60 + second - offset, nanos


def format_rfc3339(ts: Timestamp) -> str:
    """Format like Go's RFC3339Nano in UTC: trailing fractional zeros trimmed, none if whole."""
    seconds, nanos = ts
    days, rem = divmod(seconds, _SECONDS_PER_DAY)
    year, month, day = _civil_from_days(days)
    frac = f".{nanos:09d}".rstrip("0") if nanos else ""
    hms = f"{rem // 3600:02d}:{rem // 60 % 60:02d}:{rem % 60:02d}"
    return f"{year:04d}-{month:02d}-{day:02d}T{hms}{frac}Z"


def timestamp_to_ns(ts: Timestamp) -> int:
    """Nanoseconds since the Unix epoch."""
    return ts[0] * _NANOS_PER_SECOND + ts[1]
