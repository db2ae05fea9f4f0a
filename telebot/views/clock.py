"""Times as the player reads them: one zone (TELEBOT_TZ) for every time telebot shows, and the
zone said beside the time, never epoch numbers.

In Docker the host's zone is usually UTC while the player lives elsewhere: TELEBOT_TZ names
theirs (an IANA name such as `Europe/Berlin`, read through `zoneinfo`). Unset: the host's zone.
The zone is read from the environment (after `.env`) when a time is shown; `Settings.from_env`
checks the name first, so a bad one is one line and exit 2 at start.
"""

from __future__ import annotations

import os
from datetime import datetime, tzinfo
from functools import lru_cache

from telebot import i18n
from telebot.config import parse_zone
from telebot.errors import ConfigError

ENV = "TELEBOT_TZ"


@lru_cache(maxsize=8)
def _zone(name: str) -> tzinfo | None:
    try:
        return parse_zone(name)
    except ConfigError:
        return None  # checked at start; a later bad value falls back to the host's zone


def zone() -> tzinfo | None:
    """The zone of every time shown (None: the host's)."""
    return _zone(os.environ.get(ENV, ""))


def at(ts: float) -> datetime:
    """A unix time in the zone shown."""
    z = zone()
    return (
        datetime.fromtimestamp(ts, z) if z is not None else datetime.fromtimestamp(ts).astimezone()
    )


def zone_name(ts: float) -> str:
    """'CET', 'UTC', '+03': how the zone of that moment is written."""
    return at(ts).strftime("%Z") or at(ts).strftime("%z")


def day(ts: float) -> str:
    """'Nov 26' in English, '26 nov' in Spanish and Portuguese (Babel's month names)."""
    from babel.dates import format_date

    lang = i18n.current()
    return format_date(at(ts), "MMM dd" if lang == "en" else "dd MMM", locale=lang)


def weekday(ts: float) -> str:
    """'Mon 04' / 'lun 04' / 'seg. 04': a day on a week's axis."""
    from babel.dates import format_date

    return format_date(at(ts), "EEE dd", locale=i18n.current())


def clock(ts: float, now: float) -> str:
    """'14:35 CET' today, else 'Nov 26 14:35 CET'."""
    t = at(ts)
    text = t.strftime("%H:%M") if at(now).date() == t.date() else f"{day(ts)} {t.strftime('%H:%M')}"
    return f"{text} {zone_name(ts)}"


def time_of_day(ts: float) -> str:
    """'14:35:02' (the zone is said once, beside the list it belongs to)."""
    return at(ts).strftime("%H:%M:%S")


def stamp(ts: float) -> str:
    """'2026-12-05 14:35 CET': a date and time in full."""
    return f"{at(ts).strftime('%Y-%m-%d %H:%M')} {zone_name(ts)}"
