"""telebot's settings and marks, with typed accessors over the `kv` table.

Every value is read once when telebot starts and kept in memory, so a handler reads a setting
without touching SQLite; a change is written through (`set_*`: on the writer thread, through
`Database.run`, like every write).
"""

from __future__ import annotations

import json
from typing import Any

from telebot.state.db import Database

ALERT_KINDS = ("died", "finished", "stalled")


class SettingsStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._values: dict[str, Any] = {
            key: json.loads(value) for key, value in db.conn.execute("SELECT key, value FROM kv")
        }

    def _get(self, key: str, default: Any = None) -> Any:
        return self._values.get(key, default)

    def _put(self, key: str, value: Any) -> None:
        with self.db.transaction() as c:
            c.execute(
                "INSERT INTO kv(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE "
                "SET value=excluded.value",
                (key, json.dumps(value)),
            )
        self._values[key] = value

    # ---- /report

    def report_minutes(self, default: float) -> float:
        """The progress report's interval (0: off); `default` until /report set one."""
        return float(self._get("report_minutes", default))

    def set_report_minutes(self, minutes: float) -> None:
        self._put("report_minutes", minutes)

    def report_signature(self) -> str | None:
        """What the last report showed (the next is sent only when it changed)."""
        value = self._get("report_signature")
        return value if isinstance(value, str) else None

    def set_report_signature(self, signature: str) -> None:
        self._put("report_signature", signature)

    # ---- /mute and /alerts

    def mute_until(self) -> float:
        return float(self._get("mute_until", 0.0))

    def set_mute_until(self, ts: float) -> None:
        self._put("mute_until", ts)

    def alert_kinds(self) -> dict[str, bool]:
        return {**dict.fromkeys(ALERT_KINDS, True), **self._get("alert_kinds", {})}

    def set_alert_kind(self, kind: str, on: bool) -> None:
        self._put("alert_kinds", {**self.alert_kinds(), kind: on})

    # ---- the shared-token poller's marks, per bot (see `bot/poller.Mark`)

    def update_mark(self, bot_id: str) -> dict[str, float] | None:
        """{"id": highest update handled, "date": newest message date seen}, or None."""
        mark = self._get(f"updates:{bot_id}")
        return mark if isinstance(mark, dict) else None

    def set_update_mark(self, bot_id: str, update_id: int, date: float) -> None:
        self._put(f"updates:{bot_id}", {"id": update_id, "date": date})

    def legacy_last_update(self) -> int | None:
        """The single mark of telebot before marks were kept per bot."""
        value = self._get("last_update_id")
        return None if value is None else int(value)

    # ---- a chat that refuses alerts (`alerts/delivery.Hold`)

    def chat_refusal(self) -> dict[str, Any] | None:
        """{"since": when, "reason": why} while the chat refuses alerts, else None."""
        value = self._get("chat_refusal")
        return value if isinstance(value, dict) else None

    def set_chat_refusal(self, refusal: dict[str, Any] | None) -> None:
        self._put("chat_refusal", refusal)

    # ---- the machine's boot (start ticks mean nothing across a reboot)

    def boot_id(self) -> str | None:
        value = self._get("boot_id")
        return value if isinstance(value, str) else None

    def set_boot_id(self, boot: str) -> None:
        self._put("boot_id", boot)

    def reboot_ended(self) -> tuple[str, list[tuple[int, int]]] | None:
        """The last reboot's tasks that 🔁 Run all again replays: (its tag, [(pid, ticks)])."""
        value = self._get("reboot_ended")
        if not isinstance(value, dict):
            return None
        return str(value["tag"]), [(int(p), int(t)) for p, t in value["tasks"]]

    def set_reboot_ended(self, tag: str, tasks: list[tuple[int, int]]) -> None:
        self._put("reboot_ended", {"tag": tag, "tasks": [list(t) for t in tasks]})

    def owner_language(self) -> str | None:
        """The owner's Telegram `language_code`, as last seen (for TELEBOT_LANG unset)."""
        value = self._get("owner_language")
        return value if isinstance(value, str) else None

    def set_owner_language(self, code: str) -> None:
        self._put("owner_language", code)
