"""Time zones from names and offsets, and this machine's own."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def local_zone() -> tzinfo:
    """
    This machine's time zone, with its daylight saving rules when known
    (C{$TZ}, else C{/etc/localtime}, else the current offset).
    """
    name = os.environ.get("TZ", "").lstrip(":")
    try:
        if name:
            return ZoneInfo(name)
        with open("/etc/localtime", "rb") as f:
            return ZoneInfo.from_file(f, key="localtime")
    except (OSError, ValueError, ZoneInfoNotFoundError):
        return datetime.now().astimezone().tzinfo or timezone.utc


def parse_zone(text: str) -> tzinfo:
    """
    A zone name (C{Europe/Berlin}, C{UTC}) or an offset (C{+01:00}, C{-0530}).

    @raise ValueError: if it is neither.
    """
    sign = {"+": 1, "-": -1}.get(text[:1])
    if sign is not None:
        digits = text[1:].replace(":", "")
        if len(digits) == 4 and digits.isdigit():
            hours, minutes = int(digits[:2]), int(digits[2:])
            if hours < 24 and minutes < 60:
                return timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        return ZoneInfo(text)
    except (ValueError, ZoneInfoNotFoundError):
        raise ValueError(
            f"unknown time zone {text!r} (use a name like Europe/Berlin or an"
            " offset like +01:00)"
        ) from None
