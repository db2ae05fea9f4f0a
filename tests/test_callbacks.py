"""The button codec: every kind round-trips, Telegram's 64 bytes are enforced, and data no
telebot of this version makes decodes to None (the bot then says the button is old)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telebot.bot import callbacks
from telebot.bot.callbacks import MAX_BYTES, Button, Kind, decode, encode, make
from telebot.bot.hostlabel import marker

NUMBERED = [Kind.STOPPED_LIST, Kind.REFRESH, Kind.STOPPED_PAGE, Kind.DETAILS]


@given(st.sampled_from(NUMBERED), st.integers(0, 2**31))
def test_numbered_buttons_round_trip(kind, n):
    assert decode(make(kind, n)) == Button(kind, n)


@given(
    st.sampled_from([Kind.KILL_CONFIRM, Kind.KILL_CANCEL]),
    st.text(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=1, max_size=40
    ),
)
def test_stop_buttons_round_trip_with_their_machine(kind, nonce):
    mark = marker("pi")
    assert decode(make(kind, nonce, mark)) == Button(kind, nonce, mark)


def test_the_wire_shapes_stay_the_ones_in_chats():
    """Buttons sent by earlier versions are still in chats: their data must mean the same."""
    assert make(Kind.REFRESH, 0) == "tb:r:0"
    assert make(Kind.DETAILS, 123) == "tb:d:123"
    assert make(Kind.ALERT_SWITCH, "died") == "tb:a:died"
    assert make(Kind.KILL_ASK, 77, "abc123") == "tb:kq:abc123:77"
    assert decode("tb:kx:abc123:n0nce") == Button(Kind.KILL_CANCEL, "n0nce", "abc123")
    assert decode("tb:e:0") == Button(Kind.STOPPED_LIST, 0)
    assert make(Kind.AGAIN_RUN, "n0nce") == "tb:rr:n0nce"  # a one-time nonce (issue 23)
    # an older telebot's 🔁 Run it (pid.ticks, no nonce): decoded, and refused as expired
    assert decode("tb:rr:12.34") == Button(Kind.AGAIN_RUN, "12.34")
    assert decode("tb:m:a1b2c3.e").pair == ("a1b2c3", "e")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "data",
    [
        "tb:zz:1",
        "tb:r",
        "tb:r:",
        "tb:r:x",
        "tb:r:-1",
        "tb:r:1:2",
        "tb:d:١٢",
        "tb:kq:12",
        "tb:k::n",
        "tb:",
        "r:1",
        "",
        None,
        5,
        "tb:a:" + "x" * 70,
        # /menu keys and 🔁 Run again carry a pair, pid and ticks in numbers: one codec checks it
        "tb:m:abc",
        "tb:m:abc.",
        "tb:m:.1",
        "tb:ra:12",
        "tb:ra:12.x",
        "tb:ra:²2.3",
        "tb:ra:1.2.3",
        "tb:m:abc.²",
        "tb:m:abc.q",
    ],
)
def test_what_no_telebot_makes_is_not_a_button(data):
    assert decode(data) is None


@pytest.mark.parametrize(
    "button",
    [
        Button(Kind.REFRESH, "0"),  # a page is a number
        Button(Kind.ALERT_SWITCH, 1),  # a switch is a word
        Button(Kind.REFRESH, -1),
        Button(Kind.REFRESH, True),
        Button(Kind.KILL_ASK, 5),  # no machine marker
        Button(Kind.DETAILS, 5, "abc"),  # a marker where none belongs
        Button(Kind.KILL_CONFIRM, "a:b", "abc"),
        Button(Kind.ALERT_SWITCH, ""),
        Button(Kind.KILL_CONFIRM, "n" * MAX_BYTES, "abc"),  # over Telegram's 64 bytes
        Button(Kind.AGAIN_ASK, "12"),  # a pid without its start ticks
        Button(Kind.MENU_KEY, "a1b2c3"),  # a session without its key
    ],
)
def test_encode_refuses_what_would_not_come_back(button):
    with pytest.raises(ValueError):
        encode(button)


def test_patterns_route_by_kind():
    pages = callbacks.pattern(Kind.REFRESH, Kind.STOPPED_PAGE)
    assert pages("tb:r:1") and pages("tb:n:2")
    assert not pages("tb:d:1") and not pages("tb:r:x") and not pages(None)
    assert callbacks.is_ours("tb:zz") and not callbacks.is_ours("pid:action")
