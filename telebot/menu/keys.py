"""The line ikabot reads, rebuilt from the keys the player presses at the console.

ikabot reads every answer with `input()` (and `getpass`) from a terminal in canonical mode,
without readline: the kernel's line discipline edits the line (erase, kill, word erase, the
next key taken literally) and hands it over at Enter; an interrupt (^C), a quit or a suspend
throws it away. `LineEditor` does the same edits on a copy, with the control keys the terminal
has now (its termios), so the answer recorded is the line ikabot was given.
"""

from __future__ import annotations

import codecs
import termios
from dataclasses import dataclass
from typing import Any

_NUL = b"\x00"


@dataclass(frozen=True)
class Controls:
    """The terminal's editing keys now (each one byte, or None when turned off)."""

    canonical: bool
    erase: bytes | None = b"\x7f"
    kill: bytes | None = b"\x15"
    werase: bytes | None = b"\x17"
    lnext: bytes | None = b"\x16"
    eol: tuple[bytes, ...] = (b"\n", b"\r")  # with ICRNL, Enter (\r) ends it too
    discard: tuple[bytes, ...] = (b"\x03", b"\x1c", b"\x1a")  # intr, quit, susp (with ISIG)
    eof: bytes | None = b"\x04"

    @classmethod
    def of(cls, attrs: list[Any]) -> Controls:
        """From `termios.tcgetattr` of the terminal (its master side reads the same)."""
        iflag, lflag, cc = attrs[0], attrs[3], attrs[6]

        def key(index: int) -> bytes | None:
            value = cc[index]
            value = bytes([value]) if isinstance(value, int) else value
            return None if value in (_NUL, b"") else value

        extended = bool(lflag & termios.IEXTEN)
        ends = [b"\n"] + [
            k
            for k in (key(termios.VEOL), key(termios.VEOL2) if extended else None)
            if k is not None
        ]
        if iflag & termios.ICRNL and not iflag & termios.IGNCR:
            ends.append(b"\r")
        discard = (
            tuple(
                k
                for k in (key(termios.VINTR), key(termios.VQUIT), key(termios.VSUSP))
                if k is not None
            )
            if lflag & termios.ISIG
            else ()
        )
        return cls(
            bool(lflag & termios.ICANON),
            key(termios.VERASE),
            key(termios.VKILL),
            key(termios.VWERASE) if extended else None,
            key(termios.VLNEXT) if extended else None,
            tuple(ends),
            discard,
            key(termios.VEOF),
        )


class LineEditor:
    """The line being typed: its text, and whether a line has begun since the last Enter."""

    def __init__(self) -> None:
        self.chars: list[str] = []
        self.active = False  # a key of this line has been pressed
        self._literal = False
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def reset(self) -> None:
        self.chars.clear()
        self.active = self._literal = False
        self._decoder.reset()

    def take(self, data: bytes, keys: Controls) -> tuple[int, str | None]:
        """Feed keys up to the first line end: (bytes used, the line ended there or None).
        The caller passes the rest on after ikabot has seen this line."""
        if not keys.canonical:  # a raw read (no ikabot prompt does it): no line to keep
            self.reset()
            return len(data), None
        for i in range(len(data)):
            b = data[i : i + 1]
            self.active = True
            if self._literal:
                self._literal = False
                self._add(b)
            elif b in keys.eol:
                line = "".join(self.chars)
                self.reset()
                return i + 1, line
            elif b == keys.erase:
                self._decoder.reset()
                if self.chars:
                    self.chars.pop()
            elif b == keys.kill:
                self.chars.clear()
            elif b == keys.werase:
                self._erase_word()
            elif b in keys.discard:
                self.reset()
            elif b == keys.eof:
                if not self.chars:
                    self.reset()  # an empty line at EOF: ikabot's read() asks again
            elif b == keys.lnext:
                self._literal = True
            else:
                self._add(b)
        return len(data), None

    def _add(self, b: bytes) -> None:
        self.chars.extend(self._decoder.decode(b))

    def _erase_word(self) -> None:
        while self.chars and self.chars[-1].isspace():
            self.chars.pop()
        while self.chars and not self.chars[-1].isspace():
            self.chars.pop()
