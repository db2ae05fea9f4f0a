"""What ikabot's screen says, for a phone: its text without the banner art, its `(N) text`
choices, and the question being asked (what a recorded answer is matched against).

Pure functions of the terminal's rows: the emulator (`terminal`) owns the bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from telebot.i18n import _, ngettext, number
from telebot.views.render import tg_len

MAX_CHARS = 3500  # of the visible text; Telegram allows 4096 with the HTML taken out
MAX_CHOICES = 96  # Telegram allows 100 buttons a message; the rest are ⏎ and ✖
WIDTH = 80

_CHOICE = re.compile(r"^\s*\((\d{1,6})\)\s+(\S.*?)\s*$")
# ikabot's banner (`helpers/gui.banner`): eight rows of ASCII art, each with "MM" in it, then
# the version tag alone on a row, far to the right
_VERSION_TAG = re.compile(r"^\s{20,}v?\d+(\.\d+)+\S*\s*$")


def _is_art(line: str) -> bool:
    return (
        "MM" in line and not _CHOICE.match(line) and not re.search(r"[a-z]{3,} [a-z]{3,}", line)
    ) or bool(_VERSION_TAG.match(line))


@dataclass(frozen=True)
class Choice:
    number: int
    text: str


@dataclass(frozen=True)
class Question:
    """What is asked: the prompt (the text right before the answer is typed) and the choices
    offered. Two screens ask the same question when both are equal."""

    prompt: str
    choices: tuple[Choice, ...]

    def describe(self) -> str:
        shown = ", ".join(f"({c.number}) {c.text}" for c in self.choices[:6])
        if len(self.choices) > 6:
            shown += " … " + ngettext("({n} choice)", "({n} choices)", len(self.choices)).format(
                n=number(len(self.choices))
            )
        return f"“{self.prompt}”" + (
            _(" with {choices}").format(choices=shown) if self.choices else ""
        )


def visible(lines: list[str]) -> list[str]:
    """The rows a phone shows: art dropped, trailing spaces and blank runs collapsed."""
    out: list[str] = []
    for raw in lines:
        line = raw.rstrip()[:WIDTH]
        if _is_art(line):
            continue
        if not line and (not out or not out[-1]):
            continue
        out.append(line)
    while out and not out[-1]:
        out.pop()
    return out


def text_for_chat(lines: list[str], limit: int = MAX_CHARS) -> str:
    """The screen's text within `limit` characters; the bottom (the question) is kept."""
    rows = visible(lines)
    while rows and sum(tg_len(r) + 1 for r in rows) > limit:  # as Telegram counts: UTF-16
        rows.pop(0)
    return "\n".join(rows) or " "


def choices(lines: list[str]) -> list[Choice]:
    """Every `(N) text` on the screen, in screen order, each number once (the last wins:
    the lower one is the menu being asked)."""
    found: dict[int, Choice] = {}
    for line in lines:
        m = _CHOICE.match(line.rstrip())
        if m:
            found.pop(int(m.group(1)), None)
            found[int(m.group(1))] = Choice(int(m.group(1)), m.group(2)[:60])
    return list(found.values())[-MAX_CHOICES:]


def question(lines: list[str], cursor_row: int) -> Question:
    """The question the cursor waits at: the cursor's row (ikabot's ` >>  `, `Mail:`,
    `Password:`) with the last text row above it that is no choice and no blank, and the
    choices of the block right above the cursor. Rows ikabot rewrites on every visit (the
    process list, the banner) are outside it, so a menu asks the same question every time."""
    rows = [line.rstrip() for line in lines[: cursor_row + 1]]
    here = rows[-1].strip() if rows else ""
    block: list[Choice] = []
    above = ""
    for j in range(len(rows) - 2, -1, -1):
        line = rows[j]
        m = _CHOICE.match(line)
        if m:
            block.insert(0, Choice(int(m.group(1)), m.group(2)[:60]))
            continue
        if block and not line.strip():
            break  # the row before a choice block (blank): the menu's title is not part
        if line.strip() and not _is_art(line):
            above = _unwrapped(lines, j).strip()
            break
    prompt = f"{above}\n{here}".strip() if not block or above else here
    return Question(prompt, tuple(block))


def _unwrapped(lines: list[str], j: int) -> str:
    """Row `j` with the rows it continues: a row filled to the last column was wrapped by the
    terminal, and the next row carries on the same line of text."""
    text = lines[j].rstrip()
    while j > 0 and len(lines[j - 1]) >= WIDTH and lines[j - 1][WIDTH - 1] != " ":
        j -= 1
        text = lines[j][:WIDTH] + text
    return text
