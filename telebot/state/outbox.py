"""The alert outbox: an alert is written here before it is sent, and marked sent only after
Telegram said ok (never lost, never twice); an edit of a sent alert is an item of its own."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from telebot.state.db import Database
from telebot.state.rows import OutboxItem

_ITEM_COLUMNS = (
    "id, dedup_key, chat_id, kind, text, created_at, not_before, attempts, edits, "
    "message_id, markup"
)


@dataclass(frozen=True)
class Pending:
    """What was pending at one moment, read on the writer thread, and the outbox's `taken`
    count then: while no item was taken out since (sent, dropped, superseded), every item of
    the list may still be sent (a storm may have retexted one meanwhile: the deliverer's
    `mark_sent_and_follow` then queues the edit that brings it up to date)."""

    items: list[OutboxItem]
    taken: int


class OutboxReads:
    """What the outbox holds: its reads, one statement each (the writes: `OutboxStore`)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        # one more at the start of every write that takes items out of what is pending (sent,
        # dropped, superseded: the deliverer's; writer thread); the event loop reads it to
        # know whether a `Pending` handed over may still be sent
        self.taken = 0

    def item(self, item_id: int) -> OutboxItem | None:
        row = self.db.conn.execute(
            f"SELECT {_ITEM_COLUMNS} FROM outbox WHERE id=?", (item_id,)
        ).fetchone()
        return None if row is None else OutboxItem(**dict(row))

    def latest_text(self, item_id: int) -> str | None:
        """What the message of `item_id` says now, or will once its edits are sent: the
        newest of its edits, else its own text (a message several writers edit in turn)."""
        row = self.db.conn.execute(
            "SELECT text FROM outbox WHERE (id=? OR edits=?) AND "
            "dropped=0 ORDER BY id DESC LIMIT 1",
            (item_id, item_id),
        ).fetchone()
        return None if row is None else str(row[0])

    def by_key(self, dedup_key: str) -> OutboxItem | None:
        row = self.db.conn.execute(
            f"SELECT {_ITEM_COLUMNS} FROM outbox WHERE dedup_key=?", (dedup_key,)
        ).fetchone()
        return None if row is None else OutboxItem(**dict(row))

    def pending(self, now: float | None = None) -> list[OutboxItem]:
        now = time.time() if now is None else now
        rows = self.db.conn.execute(
            f"SELECT {_ITEM_COLUMNS} FROM outbox WHERE sent_at IS NULL AND dropped=0 AND "
            "not_before<=? ORDER BY id",
            (now,),
        ).fetchall()
        return [OutboxItem(**dict(r)) for r in rows]

    def pending_now(self, now: float | None = None) -> Pending:
        """`pending`, with the `taken` count it was read at (for a step that hands it over)."""
        taken = self.taken
        return Pending(self.pending(now), taken)

    def next_not_before(self) -> float | None:
        row = self.db.conn.execute(
            "SELECT MIN(not_before) FROM outbox WHERE sent_at IS NULL AND dropped=0"
        ).fetchone()
        return None if row[0] is None else float(row[0])

    def unsent(self) -> tuple[int, float | None]:
        """How many alerts wait to be sent (held by a mute too), and the oldest one's time."""
        row = self.db.conn.execute(
            "SELECT COUNT(*), MIN(created_at) FROM outbox WHERE sent_at IS NULL AND dropped=0"
        ).fetchone()
        return int(row[0]), row[1]

    def sent(self) -> list[dict[str, Any]]:
        return [
            dict(r)
            for r in self.db.conn.execute(
                "SELECT * FROM outbox WHERE sent_at IS NOT NULL ORDER BY id"
            )
        ]


class OutboxStore(OutboxReads):
    """The outbox's writes, each one transaction."""

    def enqueue(
        self,
        dedup_key: str,
        chat_id: str,
        kind: str,
        text: str,
        not_before: float = 0.0,
        *,
        edits: int | None = None,
        markup: str | None = None,
    ) -> int | None:
        """Store an alert to send (or, with `edits`, a new text for an alert already sent);
        None when this very alert was stored before. `markup`: its buttons, as JSON."""
        with self.db.transaction() as c:
            cur = c.execute(
                "INSERT INTO outbox(dedup_key, chat_id, kind, text, created_at, not_before, "
                "edits, markup) VALUES(?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(dedup_key) DO "
                "NOTHING",
                (dedup_key, chat_id, kind, text, time.time(), not_before, edits, markup),
            )
        return cur.lastrowid if cur.rowcount == 1 else None

    def retext_pending(self, item_id: int, text: str) -> bool:
        """Give a not-yet-sent item a new text (a storm grew before its message went out)."""
        with self.db.transaction() as c:
            cur = c.execute(
                "UPDATE outbox SET text=? WHERE id=? AND sent_at IS NULL AND dropped=0",
                (text, item_id),
            )
        return cur.rowcount == 1

    def supersede_edits(self, edits: int, newer_than: int) -> None:
        """Older pending edits of one message are moot once a newer text is there."""
        self.taken += 1
        with self.db.transaction() as c:
            c.execute(
                "UPDATE outbox SET sent_at=?, last_error='superseded' WHERE edits=? AND "
                "id<? AND sent_at IS NULL",
                (time.time(), edits, newer_than),
            )

    def mark_sent(self, item_id: int, message_id: int | None = None) -> None:
        self.taken += 1
        with self.db.transaction() as c:
            c.execute(
                "UPDATE outbox SET sent_at=?, attempts=attempts+1, message_id="
                "coalesce(?, message_id) WHERE id=?",
                (time.time(), message_id, item_id),
            )

    def mark_sent_and_follow(self, item: OutboxItem, message_id: int | None) -> bool:
        """Mark `item` sent; if its text changed while it was on its way (a storm grew), queue
        the edit that brings the message up to date (True). One transaction."""
        self.taken += 1
        with self.db.transaction():
            self.mark_sent(item.id, message_id)
            now = self.item(item.id)
            if now is None or now.text == item.text:
                return False
            self.enqueue(
                f"edit:{item.id}:after-send:{time.monotonic_ns()}",
                item.chat_id,
                item.kind,
                now.text,
                edits=item.id,
            )
            return True

    def retarget(self, item: OutboxItem, head: OutboxItem | None, message_id: int | None) -> None:
        """An edit went out as a new message: later edits of `head` go to that message."""
        self.taken += 1
        with self.db.transaction() as c:
            self.mark_sent(item.id, message_id)
            if head is not None and message_id is not None:
                c.execute("UPDATE outbox SET message_id=? WHERE id=?", (message_id, head.id))

    def record_failure(self, item_id: int, error: str, *, drop: bool = False) -> None:
        self.taken += 1
        with self.db.transaction() as c:
            c.execute(
                "UPDATE outbox SET attempts=attempts+1, last_error=?, dropped=? WHERE id=?",
                (error[:500], 1 if drop else 0, item_id),
            )

    def drop_pending_before(self, created_before: float, error: str) -> int:
        """Give up on unsent alerts created before this time; how many."""
        self.taken += 1
        with self.db.transaction() as c:
            cur = c.execute(
                "UPDATE outbox SET dropped=1, last_error=? WHERE sent_at IS NULL AND "
                "dropped=0 AND created_at<?",
                (error[:500], created_before),
            )
        return cur.rowcount

    def release_held(self) -> None:
        """Unmuted: alerts held back until the mute's end may go now."""
        with self.db.transaction() as c:
            c.execute("UPDATE outbox SET not_before=0 WHERE sent_at IS NULL AND dropped=0")

    def prune(self, older_than: float) -> None:
        """Forget alerts sent (or dropped) before this."""
        with self.db.transaction() as c:
            c.execute(
                "DELETE FROM outbox WHERE (sent_at IS NOT NULL OR dropped=1) AND created_at < ?",
                (older_than,),
            )
