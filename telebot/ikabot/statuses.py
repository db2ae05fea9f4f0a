"""What ikabot's free-text status strings say, for tasks that wrote no `processDetails`.

Every format ikabot 7.7 writes has a case here (`FORMATS`) or is listed as saying nothing
beyond its own words (`SAYS_NOTHING`); `tests/test_ikabot_statuses.py` walks the installed
ikabot's source and fails on a `setStatus` format that is in neither, so a new ikabot release
is caught by the tests, not by players. Figures are read only where the string clearly means
them: a captcha counter (`Resolving captcha 3/20`) or a retry (`attempt 1/3`) is not progress,
a date is not a fraction. Producer-API style statuses (`Mission 5/10 complete`) are read too.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from telebot.ikabot.records import Parsed, Progress

MAX_COUNT = 10**9

_URL = re.compile(r"https?://[^\s,;'\"<>]+", re.I)
_MISSION = re.compile(r"\bmissions?\s+(\d{1,10})\s*/\s*(\d{1,10})\b", re.I)
_STEP = re.compile(r"\b(step|run|round|task|item)s?\s+(\d{1,10})\s*/\s*(\d{1,10})\b", re.I)
_DONE = re.compile(
    r"\b(\d{1,10})\s*/\s*(\d{1,10})\s+(missions?|runs?|done|complete|completed|finished)\b",
    re.I,
)
_DT = r"(\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d)"  # ikabot's getDateTime(): local YYYY-mm-dd_HH-MM-SS
_NUM = r"(\d[\d,.]{0,20})"  # a count, maybe with ikabot's thousand separators
_DURATION = re.compile(r"(\d{1,6})\s*([dhms])\b", re.I)
_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def ikabot_time(text: str) -> float | None:
    """ikabot's `getDateTime()` string as unix time (it is the machine's local time)."""
    try:
        return time.mktime(time.strptime(text, "%Y-%m-%d_%H-%M-%S"))
    except (ValueError, OverflowError):
        return None


def duration(text: str) -> float | None:
    """`1D 2H 3M 4S` (constructionList) or `1h 2m` as seconds; None if it is not one."""
    parts = _DURATION.findall(text)
    if not parts or _DURATION.sub("", text).strip(" ,"):
        return None
    return float(sum(int(n) * _SECONDS[unit.lower()] for n, unit in parts))


def _count(text: str) -> int | None:
    digits = re.sub(r"[,.]", "", text)
    return int(digits) if digits.isdigit() and int(digits) <= MAX_COUNT else None


# ---------------------------------------------------------------- ikabot's formats

Read = Callable[[re.Match[str]], dict[str, Any]]


@dataclass(frozen=True)
class Format:
    """One status format: the ikabot templates it reads (`{}` for each value, as the
    source-walking test writes them), its pattern, and what it says."""

    templates: tuple[str, ...]
    pattern: re.Pattern[str]
    read: Read


def _construction(m: re.Match[str]) -> dict[str, Any]:
    """The task's time left is ikabot's `total` (the building under way plus the rest of the
    queue); `current` is that one building's, kept as `remaining_time`."""
    current = (m["current"] or "").strip() or None
    total = (m["total"] or "").strip() or None
    return {
        "city": m["city"].strip(),
        "building": m["building"].strip(),
        "level": int(m["level"]),
        "remaining_time": current,
        "total_time": total,
        "time_left": duration(total) if total else None,
    }


def _then(m: re.Match[str], group: str | int = "at", plus: float = 0.0) -> float | None:
    at = ikabot_time(m[group])
    return None if at is None else at + plus


FORMATS: tuple[Format, ...] = (
    Format(
        ("Pirating for {} more runs",),
        re.compile(r"^Pirating for (\d{1,10}) more runs?$", re.I),
        lambda m: {"remaining": int(m[1]), "remaining_unit": "runs"},
    ),
    # the `{}` is the line below, built by .format() first; the other two append to it
    Format(
        ("{}", "{} , free speedup sent", "{} , waiting for zero-cost speedup"),
        re.compile(
            r"^(?P<city>[^:]{1,80}):\s*(?P<building>.+?)\s*->\s*level\s+"
            r"(?P<level>\d{1,4})(?:\s*,\s*current\s+(?P<current>[^,]+?))?"
            r"(?:\s*,\s*total\s+(?P<total>[^,]+?))?\s*(?:,.*)?$"
        ),
        _construction,
    ),
    Format(
        ("{}: queued {} upgrades | total {}",),
        re.compile(
            r"^(?P<city>[^:]{1,80}):\s*queued\s+(?P<n>\d{1,6})\s+upgrades?\s*\|"
            r"\s*total\s+(?P<total>.+?)\s*$"
        ),
        lambda m: {
            "city": m["city"].strip(),
            "remaining": int(m["n"]),
            "remaining_unit": "upgrades",
            "total_time": m["total"].strip(),
            "time_left": duration(m["total"]),
        },
    ),
    # ikabot 7.5.1's constructionList
    Format(
        (),
        re.compile(
            rf"^Waiting until {_DT}, (?P<building>.+?) (?P<l>\d{{1,4}}) -> "
            r"(?P<level>\d{1,4}) in (?P<city>.+?), final lvl: \d{1,4}$"
        ),
        lambda m: {
            "next_at": _then(m, 1),
            "building": m["building"],
            "city": m["city"],
            "level": int(m["level"]),
        },
    ),
    Format(
        ("Activated {} @{}, iterations left: {}",),
        re.compile(rf"^Activated .+ @{_DT}, iterations left: (\d{{1,10}})$"),
        lambda m: {"remaining": int(m[2]), "remaining_unit": "activations"},
    ),
    Format(
        ("Miracle {} is activated. Available at: {}",),
        re.compile(rf"^Miracle .+ is activated\. Available at: {_DT}$"),
        lambda m: {"next_at": _then(m, 1)},
    ),
    # activateShrine builds its status in a variable: `Activated {gods} @{dt}, current favor: {n}`
    Format(
        ("{}",),
        re.compile(rf"^Activated .+ @{_DT}, current favor: {_NUM}$"),
        lambda m: {"total": f"favour {m[2]}"},
    ),
    Format(
        ("Not enough favor @{}, re-trying in 3h.",),
        re.compile(rf"^Not enough favor @{_DT}, re-trying in 3h\.$"),
        lambda m: {"next_at": _then(m, 1, 3 * 3600)},
    ),
    Format(
        ("Sent {} resources from {} -> {} | Total sent: {} | Next shipment at {}",),
        re.compile(
            rf"^Sent {_NUM} resources from .+ -> (?P<dst>.+?) \| Total sent: {_NUM} "
            rf"\| Next shipment at {_DT}$"
        ),
        lambda m: {"city": m["dst"], "total": f"total sent {m[3]}", "next_at": _then(m, 4)},
    ),
    Format(
        ("Checking cities... | Total Donated: {}",),
        re.compile(rf"^Checking cities\.\.\. \| Total Donated: {_NUM}$"),
        lambda m: {"total": f"total donated {m[1]}"},
    ),
    Format(
        ("Donated: {} | Total: {} @{}",),
        re.compile(rf"^Donated: {_NUM} \| Total: {_NUM} @{_DT}$"),
        lambda m: {"total": f"total donated {m[2]}"},
    ),
    Format(
        ("Last activity @{}, next activity @{}",),
        re.compile(rf"^Last activity @{_DT}, next activity @{_DT}$"),
        lambda m: {"next_at": _then(m, 2)},
    ),
    Format(
        ("Experiment done in {} @{}, left = {} time (s)",),
        re.compile(
            rf"^Experiment done in (?P<city>.+?) @{_DT}, left = (\d{{1,10}}) time"
            r" ?\(s\)$"
        ),
        lambda m: {"city": m["city"], "remaining": int(m[3]), "remaining_unit": "experiments"},
    ),
    Format(
        ("Experiment done in {} @{}", "Cooldown is still in effect in {} @{}"),
        re.compile(
            rf"^(?:Experiment done|Cooldown is still in effect) in (?P<city>.+?) "
            rf"@{_DT}$"
        ),
        lambda m: {"city": m["city"]},
    ),
    Format(
        ("Experiment skipped in {}, not enough crystal ({}) @{}",),
        re.compile(
            rf"^Experiment skipped in (?P<city>.+?), not enough crystal \(.*\) "
            rf"@{_DT}$"
        ),
        lambda m: {"city": m["city"]},
    ),
    Format(
        ("{} -> {} | Shipments: {} | Next: {}", "{} -> {} cities | Shipments: {} | Next: {}"),
        re.compile(rf"^.+ -> .+ \| Shipments: {_NUM} \| Next: {_DT}$"),
        lambda m: {"total": f"{m[1]} shipments", "next_at": _then(m, 2)},
    ),
    Format(
        ("Workshop upgrade in progress (~{}m)...", "Upgrade in progress (~{}m)..."),
        re.compile(r"^(?:Workshop u|U)pgrade in progress \(~(\d{1,6})m\)\.\.\.$"),
        lambda m: {"time_left": int(m[1]) * 60.0},
    ),
)

# Formats whose words are all there is: shown as they are, no figure read from them.
SAYS_NOTHING: dict[str, str] = {
    "Outside of scheduled hours, waiting for the next range": "a state",
    "Resolving captcha {}/20": "a captcha counter, not progress",
    "Retrying captcha {}/20": "a captcha counter, not progress",
    "Got captcha: {}": "a captcha",
    "running on http://127.0.0.1:{} {}": "webServer: the URLs, read by urls_in",
    "Waiting to activate {}...": "a state",
    "waiting for availability of ({}) boats": "a state (boats needed, not progress)",
    "Waiting for round (round: {})": "a state (the barbarians' round)",
    "Looting remaining resources": "a state",
    "Bought {} {} for {} gold from {} ({}) ---> {} | {}": "the last purchase",
    "Sold {} {} for {} gold to {} ({}) <--- {} | {}": "the last sale",
    "{} -> {}| Processing...": "a state",
    "Waiting 55s to watch video for wood bonus": "a state",
    "Waiting 55s to watch video for luxury good bonus": "a state",
    "Waiting 55s to watch video for favour cultural bonus": "a state",
    "Waiting 55s to watch video for ambrosia bonus": "a state",
    "{} @{}": "research's summary (Done/No crystal/Cooldown counts) and its time",
    "One-time shipment completed: {} -> {}": "done; the task ends",
    "One-time distribution completed: {} -> {}": "done; the task ends",
    "{} -> {} | Waiting for shipping lock (attempt {}/{})...": "a retry counter, not progress",
    "{} -> {} | Found {} {}, attempting to send...": "a state",
    "{} -> {} | Waiting for {} (checked for {}s)...": "a state",
    "{} -> {} | Sending resources...": "a state",
    "Checked islands {} @ {}": "the last check (a time of day only)",
    "Equilibrium check @{}": "the last check",
    "Waiting for upgrade to start...": "a state",
    "All workshop upgrades completed": "done; the task ends",
    "Upgrading {} ({}) {}→{}": "what is being upgraded",
    "Failed to upgrade {} ({})": "an error, shown as it is",
    "Error checking upgrade/building progress": "an error, shown as it is",
    "Upgrade aborted: {}": "an error, shown as it is",
    "Failed to send Telegram notification": "an error, shown as it is",
    " Sending {}W, {}V, {}M, {}C, {}S | {} ---> {} ": "what is still to send, as it is",
}


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
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and (port is None or 0 < port < 65536)
    )


def urls_in(status: str) -> tuple[str, ...]:
    found: list[str] = []
    for m in _URL.finditer(status):
        url = m.group(0).rstrip(".)")
        if valid_url(url) and url not in found:
            found.append(url)
    return tuple(found)


# What the parser reads of a status, and so what its cache keeps: every status ikabot writes
# is a line or two (a webServer's URLs included); a runaway one must cost the cache 2,000
# characters, not its whole length, times PARSE_CACHE.
STATUS_PARSE_MAX = 2000
ACTION_PARSE_MAX = 64  # an action name is one word; the parser only compares it
PARSE_CACHE = 4096  # distinct (action, status) pairs kept parsed: more than ikabot has tasks


def parse_status(action: Any, status: Any) -> Parsed:
    """Never raises; returns an empty Parsed when the string says nothing we can trust."""
    if not isinstance(status, str) or not status.strip():
        return Parsed()
    if not isinstance(action, str):
        action = ""
    return _parse_cached(action[:ACTION_PARSE_MAX], status.strip()[:STATUS_PARSE_MAX])


@lru_cache(maxsize=PARSE_CACHE)
def _parse_cached(action: str, status: str) -> Parsed:
    """Statuses repeat from one scan to the next: parse each distinct one once."""
    if "captcha" in status.lower():
        return Parsed()

    urls = urls_in(status) if (action == "webServer" or "http" in status) else ()
    for fmt in FORMATS:
        m = fmt.pattern.match(status)
        if m:
            try:
                fields = fmt.read(m)
            except (ValueError, OverflowError):
                continue
            remaining = fields.get("remaining")
            if remaining is not None and remaining > MAX_COUNT:
                fields["remaining"] = None
            return Parsed(urls=urls, **fields)

    # statuses of the producer API's tasks and custom modules: `Mission 5/10 complete`, …
    progress: Progress | None = None
    m = _MISSION.search(status)
    if m:
        progress = _progress(m[1], m[2], "missions")
    if progress is None and (m := _STEP.search(status)):
        progress = _progress(m[2], m[3], m[1].lower() + "s")
    if progress is None and (m := _DONE.search(status)):
        unit = m[3].lower()
        progress = _progress(m[1], m[2], unit if unit.startswith(("mission", "run")) else "")
    return Parsed(progress=progress, urls=urls)
