"""What ikabot's free-text status strings say, for tasks that wrote no `processDetails`.

This is the seed's Phase 1 fallback. It is deliberately conservative: a figure is reported
only where the string clearly means progress ("Mission 5/10"), never from any `a/b` (a captcha
counter "Resolving captcha 3/20" is not mission progress, a date is not a fraction).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from telebot.model import Parsed, Progress

MAX_COUNT = 10**9

_URL = re.compile(r"https?://[^\s,;'\"<>]+", re.I)
_MISSION = re.compile(r"\bmissions?\s+(\d{1,10})\s*/\s*(\d{1,10})\b", re.I)
_STEP = re.compile(r"\b(step|run|round|task|item)s?\s+(\d{1,10})\s*/\s*(\d{1,10})\b", re.I)
_DONE = re.compile(
    r"\b(\d{1,10})\s*/\s*(\d{1,10})\s+(missions?|runs?|done|complete|completed|finished)\b",
    re.I,
)
_PIRATING = re.compile(r"\bpirating for\s+(\d{1,10})\s+more runs?\b", re.I)
_CONSTRUCTION = re.compile(
    r"^(?P<city>[^:]{1,80}):\s*(?P<building>.+?)\s*->\s*level\s+(?P<level>\d{1,4})"
    r"(?:\s*,\s*current\s+(?P<current>[^,]+?))?(?:\s*,\s*total\s+(?P<total>[^,]+?))?"
    r"\s*(?:,.*)?$"
)
_QUEUED = re.compile(
    r"^(?P<city>[^:]{1,80}):\s*queued\s+(?P<n>\d{1,6})\s+upgrades?\s*\|\s*total\s+(?P<total>.+?)\s*$"
)


def _progress(done: str, total: str, unit: str) -> Progress | None:
    d, t = int(done), int(total)
    if 0 < t <= MAX_COUNT and 0 <= d <= t:
        return Progress(d, t, unit)
    return None


def valid_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and (
        port is None or 0 < port < 65536
    )


def urls_in(status: str) -> tuple[str, ...]:
    found: list[str] = []
    for m in _URL.finditer(status):
        url = m.group(0).rstrip(".)")
        if valid_url(url) and url not in found:
            found.append(url)
    return tuple(found)


def parse_status(action: Any, status: Any) -> Parsed:
    """Never raises; returns an empty Parsed when the string says nothing we can trust."""
    if not isinstance(status, str) or not status.strip():
        return Parsed()
    if not isinstance(action, str):
        action = ""
    return _parse_cached(action, status)


@lru_cache(maxsize=4096)
def _parse_cached(action: str, status: str) -> Parsed:
    """Statuses repeat from one scan to the next: parse each distinct one once."""
    status = status.strip()[:2000]
    if "captcha" in status.lower():
        return Parsed()

    urls = urls_in(status) if (action == "webServer" or "http" in status) else ()

    m = _CONSTRUCTION.match(status)
    if m:
        return Parsed(urls=urls, city=m["city"].strip(), building=m["building"].strip(),
                      level=int(m["level"]), remaining_time=(m["current"] or None),
                      total_time=(m["total"] or None))
    m = _QUEUED.match(status)
    if m:
        return Parsed(urls=urls, city=m["city"].strip(), remaining=int(m["n"]),
                      total_time=m["total"].strip())

    progress: Progress | None = None
    m = _MISSION.search(status)
    if m:
        progress = _progress(m[1], m[2], "missions")
    if progress is None and (m := _STEP.search(status)):
        progress = _progress(m[2], m[3], m[1].lower() + "s")
    if progress is None and (m := _DONE.search(status)):
        unit = m[3].lower()
        progress = _progress(m[1], m[2], unit if unit.startswith(("mission", "run")) else "")

    remaining = None
    m = _PIRATING.search(status)
    if m and int(m[1]) <= MAX_COUNT:
        remaining = int(m[1])
    return Parsed(progress=progress, remaining=remaining, urls=urls)
