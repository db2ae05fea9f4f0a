"""What the menu prints, bounded before the terminal emulator (pyte) sees it.

pyte keeps a screen of fixed size, but three things it reads grow without bound, and each
can come from text ikabot prints (a city, a player or an alliance named by another player):

- an OSC sequence (`ESC ]`, a window title) is collected until its terminator: a menu that
  prints one without end costs its whole length in memory;
- a CSI sequence's digits (`ESC [ 999…`) are collected, then converted to a number, whatever
  their count;
- combining marks (`e` + U+0301 …) are appended to one cell, each one normalising the whole
  cell again: quadratic, a few thousand of them hold the event loop for seconds.

`OutputFilter` passes everything else through unchanged, chunk by chunk (a sequence or a run of
marks may be split between two reads): OSC sequences are dropped (telebot shows no title; one
longer than `OSC_MAX` is abandoned, as a terminal abandons it, so the text after it shows),
a CSI sequence longer than `CSI_MAX` is dropped whole, and at most `MARKS_MAX` combining
marks follow a character.
"""

from __future__ import annotations

import codecs
import enum
import functools
import re
import sys
import unicodedata

CSI_MAX = 32  # characters of a CSI sequence's parameters (ikabot's longest: about 8)
OSC_MAX = 4096  # characters of an OSC sequence before it is abandoned
MARKS_MAX = 4  # combining marks on one character

ESC, CSI_C1, OSC_C1, ST_C1, BEL = "\x1b", "\x9b", "\x9d", "\x9c", "\x07"
# what pyte takes as a CSI sequence's parameters (everything else ends it)
_IN_CSI = frozenset("0123456789;?> \x07\x08\x09\x0a\x0b\x0c\x0d")
_SPECIAL = re.compile(f"[{ESC}{CSI_C1}{OSC_C1}]")
_OSC_END = re.compile(f"[{BEL}{ST_C1}{ESC}]")


@functools.cache
def _marks() -> re.Pattern[str]:
    """Runs of combining marks (what pyte appends to the cell before), as one pattern."""
    ranges: list[tuple[int, int]] = []
    for cp in range(0x300, min(sys.maxunicode, 0x1FFFF) + 1):
        if unicodedata.combining(chr(cp)):
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))
    cls = "".join(
        f"{re.escape(chr(a))}-{re.escape(chr(b))}" if a != b else re.escape(chr(a))
        for a, b in ranges
    )
    return re.compile(f"[{cls}]+")


class _State(enum.Enum):
    TEXT = "text"
    ESC = "esc"  # after ESC: what comes next decides
    CSI = "csi"
    OSC = "osc"
    OSC_ESC = "osc-esc"  # ESC inside an OSC: `\` ends it


class OutputFilter:
    """One terminal's output, decoded (UTF-8, as ikabot writes) and bounded; stateful across
    chunks. `feed` returns the text to hand pyte."""

    def __init__(self) -> None:
        self._decode = codecs.getincrementaldecoder("utf-8")("replace").decode
        self._state = _State.TEXT
        self._csi: list[str] = []  # the CSI sequence so far (its introducer included)
        self._csi_len = 0
        self._osc_len = 0
        self._marks_before = 0  # marks at the end of what was handed on (a run may go on)

    def feed(self, data: bytes) -> str:
        text = self._decode(data)
        out: list[str] = []
        i, n = 0, len(text)
        while i < n:
            state = self._state
            if state is _State.TEXT:
                m = _SPECIAL.search(text, i)
                end = m.start() if m else n
                if end > i:
                    out.append(self._plain(text[i:end]))
                i = end
                if m is None:
                    break
                c = text[i]
                i += 1
                if c == ESC:
                    self._state = _State.ESC
                elif c == CSI_C1:
                    self._start_csi(c)
                else:
                    self._start_osc()
            elif state is _State.ESC:
                c = text[i]
                i += 1
                if c == "[":
                    self._start_csi(ESC + c)
                elif c == "]":
                    self._start_osc()
                else:  # a one-character escape (pyte reads what it needs of the rest)
                    out.append(ESC + c)
                    self._state = _State.TEXT
                    self._marks_before = 0
            elif state is _State.CSI:
                i = self._csi_part(text, i, out)
            else:
                i = self._osc_part(text, i)
        return "".join(out)

    def _plain(self, text: str) -> str:
        """Text without escapes: at most MARKS_MAX marks after a character."""
        marks = _marks()
        lead = marks.match(text)
        if lead is not None:  # a run from the previous chunk goes on
            room = max(0, MARKS_MAX - self._marks_before)
            text = text[: min(room, lead.end())] + text[lead.end() :]
        text = marks.sub(lambda m: m.group(0)[:MARKS_MAX], text)
        k = 0
        while k < len(text) and k <= MARKS_MAX and unicodedata.combining(text[-1 - k]):
            k += 1
        self._marks_before = self._marks_before + k if k == len(text) else k
        return text

    def _start_csi(self, introducer: str) -> None:
        self._state = _State.CSI
        self._csi, self._csi_len = [introducer], 0

    def _csi_part(self, text: str, i: int, out: list[str]) -> int:
        n = len(text)
        start = i
        while i < n and text[i] in _IN_CSI:
            i += 1
        if self._csi_len <= CSI_MAX:
            self._csi.append(text[start:i][: CSI_MAX + 1 - self._csi_len])
        self._csi_len += i - start
        if i < n:  # its last character
            if self._csi_len <= CSI_MAX:
                out.append("".join(self._csi) + text[i])
            self._csi = []
            self._state = _State.TEXT
            self._marks_before = 0
            i += 1
        return i

    def _start_osc(self) -> None:
        self._state, self._osc_len = _State.OSC, 0

    def _osc_part(self, text: str, i: int) -> int:
        """Skip the OSC sequence's part in `text` from `i`; where the text goes on after it."""
        n = len(text)
        if i < n and self._osc_len == 0 and text[i] in "RP":  # the Linux console's palette
            self._state = _State.TEXT  # codes: pyte reads the code alone, so does this
            return i + 1
        while i < n:
            if self._state is _State.OSC_ESC:  # ESC \ ends it; ESC and anything else not
                self._osc_len += 1
                self._state = _State.TEXT if text[i] == "\\" else _State.OSC
                i += 1
                if self._state is _State.TEXT:
                    return i
                continue
            stop = min(n, i + OSC_MAX + 1 - self._osc_len)
            m = _OSC_END.search(text, i, stop)
            j = m.end() if m else stop
            self._osc_len += j - i
            i = j
            if m is not None and m.group() == ESC:
                self._state = _State.OSC_ESC
            elif m is not None or self._osc_len > OSC_MAX:  # ended, or abandoned
                self._state = _State.TEXT
                return i
        return i
