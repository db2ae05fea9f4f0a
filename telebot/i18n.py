"""telebot's languages: English, Spanish (`es`) and Portuguese (`pt`), through gettext.

Every text telebot writes goes through `_` (or `ngettext` when it counts something), and every
figure through `number`; ikabot's own words (its statuses, its menu screen) never do: they are
shown as ikabot wrote them. The catalogs live in `telebot/locale/<lang>/LC_MESSAGES/telebot.po`
(made with Babel: `pybabel extract`, `pybabel update`, `pybabel compile`, see
docs/languages.md); the compiled `.mo` files are committed beside them and shipped as package
data, so an installed telebot, editable or not, has them without a build step of its own.

Which language: `TELEBOT_LANG` (en|es|pt) when set; else the owner's Telegram `language_code`
(`es-419` → es, `pt-br` → pt; the bot learns it from the owner's first update and keeps it in
its database); else English. telebot talks to one owner, so the language is one per process
(`use`), not per message.

A text defined at import time (a constant, the command list) is marked with `N_` and
translated where it is used, with `_`: the language is only known once telebot runs.
"""

from __future__ import annotations

import gettext
from functools import lru_cache
from pathlib import Path

LANGS = ("en", "es", "pt")
DOMAIN = "telebot"
LOCALE_DIR = Path(__file__).parent / "locale"

_current = "en"


@lru_cache(maxsize=8)
def _catalog(lang: str) -> gettext.NullTranslations:
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[lang], fallback=True)


def language_of(code: str | None) -> str | None:
    """A Telegram `language_code` (an IETF tag: `es`, `es-419`, `pt-br`) as one of LANGS,
    or None when telebot does not speak it."""
    base = (code or "").strip().lower().replace("_", "-").split("-")[0]
    return base if base in LANGS else None


def choose(fixed: str | None, owners: str | None) -> str:
    """TELEBOT_LANG, else the owner's Telegram language, else English."""
    return language_of(fixed) or language_of(owners) or "en"


def use(lang: str) -> None:
    """Speak `lang` from now on (one of LANGS; anything else is English)."""
    global _current
    _current = lang if lang in LANGS else "en"


def current() -> str:
    return _current


def _(message: str) -> str:
    """`message` in the current language (English when it has no translation)."""
    return message if _current == "en" else _catalog(_current).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form for `n` in the current language ('{n} run' / '{n} runs'); format it after."""
    if _current == "en":
        return singular if n == 1 else plural
    return _catalog(_current).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark a text for the catalog without translating it now (translated where used)."""
    return message


def number(value: float, *, digits: int = 0) -> str:
    """A figure written the language's way: 48,000 / 48.000; 2.5 / 2,5 (Babel's CLDR data)."""
    return _number(value, digits, _current)


@lru_cache(maxsize=4096)
def _number(value: float, digits: int, lang: str) -> str:
    """Kept once written: a death's alert writes the same few figures (runs, pids, minutes)
    the scans did, and Babel parses the locale and the pattern on every call (a fifth of the
    end's writer step, issue 28)."""
    from babel.numbers import format_decimal

    pattern = "#,##0" + ("." + "#" * digits if digits else "")
    return format_decimal(value, format=pattern, locale=lang)


def in_language(lang: str) -> _Speaking:
    """`with in_language("es"): ...`: speak `lang` inside the block (tests, the command list
    set once per language)."""
    return _Speaking(lang)


class _Speaking:
    def __init__(self, lang: str) -> None:
        self.lang, self.before = lang, _current

    def __enter__(self) -> None:
        self.before = _current
        use(self.lang)

    def __exit__(self, *exc: object) -> None:
        use(self.before)


def pgettext(context: str, message: str) -> str:
    """`message` in the current language, as meant in `context` (one English word that two
    languages say two ways: 'finished' as a headline, and as a label)."""
    return message if _current == "en" else _catalog(_current).pgettext(context, message)
