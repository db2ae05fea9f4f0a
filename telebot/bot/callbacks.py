"""Button data: what a tap on one of telebot's buttons asks for, encoded in one place.

Telegram gives a button at most 64 bytes of `callback_data` and hands them back verbatim on a
press. telebot's all start with `tb:` (`PREFIX`): the shared-token poller passes only those to
telebot (ikabot reads the same token), then `pattern` routes each kind to its handler (one
`CallbackQueryHandler` per concern, as in python-telegram-bot's examples).

The wire shapes are the ones telebot always used, so buttons already in a chat keep working:
`tb:<kind>:<arg>`, and for the stop buttons `tb:<kind>:<machine>:<arg>` (the machine marker
lets two telebots on one token each act on their own buttons only). Data that does not decode
is an old or foreign button: `decode` returns None and the caller says so.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from telegram import CallbackQuery, Update

PREFIX = "tb:"
MAX_BYTES = 64  # Telegram's limit on callback_data


class Kind(enum.Enum):
    """Every button telebot makes; the value is the short code on the wire."""

    STOPPED_LIST = "e"  # /status: the tasks not running, as a message of their own
    REFRESH = "r"  # /status: this page again (arg: page)
    STOPPED_PAGE = "n"  # ◀ ▶ in the list of stopped tasks (arg: page)
    DETAILS = "d"  # 🔎 a task's /details (arg: pid)
    ALERT_SWITCH = "a"  # /alerts: switch one kind of alert (arg: died, finished, stalled)
    KILL_ASK = "kq"  # 🛑 ask for a confirmation to stop (arg: pid)
    KILL_CONFIRM = "k"  # 🛑 Stop it (arg: the confirmation's nonce)
    KILL_CANCEL = "kx"  # Cancel (arg: the confirmation's nonce)
    MENU_KEY = "m"  # /menu: a choice, ⏎ or ✖ (arg: "<session token>.<number|e|x>")
    AGAIN_ASK = "ra"  # 🔁 Run again: show the recorded answers (arg: "<pid>.<start ticks>")
    AGAIN_RUN = "rr"  # 🔁 Run it (arg: the confirmation's one-time nonce)
    AGAIN_CANCEL = "rx"  # Cancel a Run again (arg: pid)
    KEEP_ON = "ka"  # ♻️ Keep alive (arg: "<pid>.<start ticks>")
    KEEP_OFF = "ko"  # ♻️ off: no longer kept alive (arg: "<pid>.<start ticks>")
    ALL_ASK = "ba"  # 🔁 Run all again, after a reboot (arg: the reboot's tag)
    ALL_RUN = "br"  # 🔁 Run them (arg: the confirmation's one-time batch nonce)


_INT_ARG = {
    Kind.STOPPED_LIST,
    Kind.REFRESH,
    Kind.STOPPED_PAGE,
    Kind.DETAILS,
    Kind.KILL_ASK,
    Kind.AGAIN_CANCEL,
}
_PAIR = {Kind.MENU_KEY, Kind.AGAIN_ASK, Kind.KEEP_ON, Kind.KEEP_OFF}  # "<first>.<second>"
# both numbers: a pid and its start ticks
_NUMBER_PAIR = {Kind.AGAIN_ASK, Kind.KEEP_ON, Kind.KEEP_OFF}
_MACHINE = {Kind.KILL_ASK, Kind.KILL_CONFIRM, Kind.KILL_CANCEL}  # carry a machine marker
_BY_CODE = {k.value: k for k in Kind}


@dataclass(frozen=True)
class Button:
    """One button's data: its kind, its argument (an int for pages and pids, else text), and
    for the stop buttons the marker of the machine that made it."""

    kind: Kind
    arg: int | str
    machine: str = ""

    @property
    def number(self) -> int:
        """The argument of a page or pid button."""
        if not isinstance(self.arg, int):
            raise TypeError(f"{self.kind.name} carries text, not a number")
        return self.arg

    @property
    def text(self) -> str:
        return str(self.arg)

    @property
    def pair(self) -> tuple[str, str]:
        """The two halves of a /menu key or a 🔁 Run again argument."""
        if self.kind not in _PAIR:
            raise TypeError(f"{self.kind.name} carries no pair")
        first, _, second = self.text.partition(".")
        return first, second


def _pair_ok(kind: Kind, arg: str) -> bool:
    first, dot, second = arg.partition(".")
    if not (dot and first and second and "." not in second):
        return False
    if kind is Kind.MENU_KEY:  # a choice's number, ⏎ (e) or ✖ (x)
        return second in ("e", "x") or (second.isascii() and second.isdigit())
    return kind not in _NUMBER_PAIR or all(p.isascii() and p.isdigit() for p in (first, second))


def encode(button: Button) -> str:
    """The callback_data for `button`; ValueError if it could not come back as the same."""
    kind, arg = button.kind, button.arg
    if (kind in _INT_ARG) != (isinstance(arg, int) and not isinstance(arg, bool)):
        raise ValueError(f"{kind.name} takes {'a number' if kind in _INT_ARG else 'text'}")
    if isinstance(arg, int) and arg < 0:
        raise ValueError(f"{kind.name}: a negative number")
    if (kind in _MACHINE) != bool(button.machine):
        raise ValueError(
            f"{kind.name}: a machine marker {'is' if button.machine else 'is not'} expected"
        )
    parts = [kind.value, *([button.machine] if button.machine else []), str(arg)]
    if any(":" in p or not p for p in parts[1:]):
        raise ValueError(f"{kind.name}: an empty part or a ':' in {parts[1:]}")
    if kind in _PAIR and not _pair_ok(kind, str(arg)):
        raise ValueError(f"{kind.name} takes '<first>.<second>', not {arg!r}")
    data = PREFIX + ":".join(parts)
    if len(data.encode()) > MAX_BYTES:
        raise ValueError(f"{kind.name}: {len(data.encode())} bytes, Telegram takes {MAX_BYTES}")
    return data


def make(kind: Kind, arg: int | str, machine: str = "") -> str:
    """`encode(Button(kind, arg, machine))`, the way the keyboards build their buttons."""
    return encode(Button(kind, arg, machine))


def decode(data: object) -> Button | None:
    """The button `data` stands for, or None for data no telebot of this version makes."""
    if not isinstance(data, str) or not data.startswith(PREFIX) or len(data.encode()) > MAX_BYTES:
        return None
    code, _, rest = data[len(PREFIX) :].partition(":")
    kind = _BY_CODE.get(code)
    if kind is None:
        return None
    machine = ""
    if kind in _MACHINE:
        machine, _, rest = rest.partition(":")
        if not machine:
            return None
    if not rest or ":" in rest:
        return None
    if kind in _INT_ARG:
        if not (rest.isascii() and rest.isdigit()):
            return None
        return Button(kind, int(rest), machine)
    if kind in _PAIR and not _pair_ok(kind, rest):
        return None
    return Button(kind, rest, machine)


def pattern(*kinds: Kind) -> Callable[[object], bool]:
    """A `CallbackQueryHandler(pattern=…)` that takes the buttons of these kinds."""
    wanted = frozenset(kinds)

    def matches(data: object) -> bool:
        button = decode(data)
        return button is not None and button.kind in wanted

    return matches


def pressed(update: Update) -> tuple[CallbackQuery, Button]:
    """The press and its button, for a handler routed by `pattern` (which lets only
    decodable data through)."""
    query = update.callback_query
    button = decode(query.data if query is not None else None)
    if query is None or button is None:
        raise ValueError("a button handler got an update that is not one of its buttons")
    return query, button


def is_ours(data: object) -> bool:
    """telebot's prefix (decodable or not): for the shared-token poller and the fallback."""
    return isinstance(data, str) and data.startswith(PREFIX)
