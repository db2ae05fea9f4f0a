"""The shared poller's reading mark: Telegram restarts its update ids after a week without
updates, possibly lower, and telebot must read the new ones, not skip them as seen."""

from __future__ import annotations

import datetime as dt

from telegram import Chat, Message, Update, User

from telebot.bot.poller import Mark, pick_ours

T0 = 1_800_000_000.0


def update(update_id: int, at: float, text: str = "/status") -> Update:
    when = dt.datetime.fromtimestamp(at, dt.timezone.utc)
    chat = Chat(42, "private")
    return Update(
        update_id,
        message=Message(update_id, when, chat, text=text, from_user=User(42, "owner", False)),
    )


def test_ids_seen_are_skipped_and_new_ones_taken():
    mark, ours = pick_ours(
        (update(10, T0), update(11, T0 + 1)), Mark(10, T0), lambda u: True, started_at=T0 - 60
    )
    assert [u.update_id for u in ours] == [11]
    assert mark == Mark(10, T0)


def test_a_lower_id_with_a_newer_date_is_telegram_starting_again():
    restarted = (update(3, T0 + 3600), update(4, T0 + 3601))
    mark, ours = pick_ours(restarted, Mark(500, T0), lambda u: True, started_at=T0 - 60)
    assert [u.update_id for u in ours] == [3, 4]
    assert mark.update_id == 2
    assert mark.after(restarted) == Mark(4, T0 + 3601)  # read on from the new count


def test_not_ours_and_sent_before_the_start_are_left():
    batch = (update(1, T0), update(2, T0 + 120, "hello ikabot"), update(3, T0 + 120))
    _, ours = pick_ours(
        batch, Mark(0, 0.0), lambda u: u.message.text.startswith("/"), started_at=T0 + 60
    )
    assert [u.update_id for u in ours] == [3]
