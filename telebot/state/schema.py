"""telebot's tables, and every migration from an older database: the one place that knows."""

from __future__ import annotations

from telebot.state.fallback import Connection

SCHEMA_VERSION = 2

SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tracked (
    pid INTEGER NOT NULL, start_ticks INTEGER NOT NULL, started REAL NOT NULL,
    email TEXT, username TEXT NOT NULL, world TEXT NOT NULL, server TEXT NOT NULL,
    action TEXT NOT NULL, status TEXT NOT NULL, progress TEXT, remaining INTEGER,
    urls TEXT NOT NULL, first_seen REAL NOT NULL, last_seen_alive REAL NOT NULL,
    last_change REAL NOT NULL, stalled_at REAL, ended_at REAL, end_kind TEXT,
    exit_status INTEGER, signal TEXT, cause TEXT,
    PRIMARY KEY (pid, start_ticks));
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, dedup_key TEXT UNIQUE NOT NULL,
    chat_id TEXT NOT NULL, kind TEXT NOT NULL, text TEXT NOT NULL, created_at REAL NOT NULL,
    not_before REAL NOT NULL DEFAULT 0, sent_at REAL, attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT, dropped INTEGER NOT NULL DEFAULT 0,
    edits INTEGER, message_id INTEGER, markup TEXT);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (sent_at, dropped, id);
CREATE TABLE IF NOT EXISTS history (
    pid INTEGER NOT NULL, start_ticks INTEGER NOT NULL, at REAL NOT NULL, status TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS history_task ON history (pid, start_ticks, at);
CREATE TABLE IF NOT EXISTS kill_buttons (
    nonce TEXT PRIMARY KEY, pid INTEGER NOT NULL, start_ticks INTEGER NOT NULL,
    started REAL NOT NULL, action TEXT NOT NULL, account TEXT NOT NULL,
    expires_at REAL NOT NULL, used_at REAL);
CREATE TABLE IF NOT EXISTS again_buttons (
    nonce TEXT PRIMARY KEY, pid INTEGER NOT NULL, start_ticks INTEGER NOT NULL,
    acknowledged TEXT NOT NULL, expires_at REAL NOT NULL, used_at REAL);
CREATE TABLE IF NOT EXISTS stop_requests (
    pid INTEGER NOT NULL, start_ticks INTEGER NOT NULL, who TEXT NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (pid, start_ticks));
CREATE TABLE IF NOT EXISTS menu_recordings (
    pid INTEGER NOT NULL, start_ticks INTEGER NOT NULL, action TEXT NOT NULL, email TEXT,
    username TEXT NOT NULL, world TEXT NOT NULL, server TEXT NOT NULL, steps TEXT NOT NULL,
    recorded_at REAL NOT NULL, again_of_pid INTEGER, again_of_ticks INTEGER,
    PRIMARY KEY (pid, start_ticks));
CREATE TABLE IF NOT EXISTS keepalive (
    pid INTEGER NOT NULL, start_ticks INTEGER NOT NULL, action TEXT NOT NULL DEFAULT '',
    want INTEGER, chain TEXT NOT NULL, of_pid INTEGER, of_ticks INTEGER,
    gave_up INTEGER NOT NULL DEFAULT 0, due_at REAL, alert_id INTEGER, note TEXT,
    PRIMARY KEY (pid, start_ticks));
CREATE TABLE IF NOT EXISTS menu_processes (
    pid INTEGER NOT NULL, start_ticks INTEGER NOT NULL, boot_id TEXT NOT NULL,
    started_at REAL NOT NULL, PRIMARY KEY (pid, start_ticks, boot_id));
CREATE TABLE IF NOT EXISTS keepalive_restarts (chain TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS keepalive_chain ON keepalive_restarts (chain, at);
"""

# Version 1 keyed tasks by psutil's create time (moved by NTP steps) and knew nothing of how a
# task ended; its open rows are converted when their process still runs, else reported.
_MIGRATE_1 = [
    "ALTER TABLE tracked RENAME COLUMN create_time TO start_ticks",
    "ALTER TABLE tracked ADD COLUMN exit_status INTEGER",
    "ALTER TABLE tracked ADD COLUMN signal TEXT",
    "ALTER TABLE tracked ADD COLUMN cause TEXT",
    "ALTER TABLE outbox ADD COLUMN edits INTEGER",
    "ALTER TABLE outbox ADD COLUMN message_id INTEGER",
]


def migrate(conn: Connection) -> None:
    """Bring an older database up to `SCHEMA_VERSION`; call inside a transaction."""
    cols = {r[1] for r in conn.execute("PRAGMA table_info(tracked)")}
    if "create_time" not in cols:
        return
    from telebot.processes import liveness

    for sql in _MIGRATE_1:
        conn.execute(sql)
    for pid, created in conn.execute(
        "SELECT pid, start_ticks FROM tracked WHERE ended_at IS NULL"
    ).fetchall():
        ticks = liveness.start_ticks(pid)
        if ticks is not None and abs(liveness.psutil_create_time(pid) - created) < 0.05:
            conn.execute(
                "UPDATE tracked SET start_ticks=? WHERE pid=? AND start_ticks=?",
                (ticks, pid, created),
            )


def add_columns(conn: Connection) -> None:
    """Columns added since a database was made (each a plain ALTER, no data moved)."""
    if "markup" not in {r[1] for r in conn.execute("PRAGMA table_info(outbox)")}:
        conn.execute("ALTER TABLE outbox ADD COLUMN markup TEXT")


def create(conn: Connection) -> None:
    """Migrate, then create what is missing (every statement is IF NOT EXISTS)."""
    conn.execute("BEGIN")
    try:
        migrate(conn)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.executescript(SCHEMA)
    add_columns(conn)
    conn.execute(
        "INSERT INTO kv(key, value) VALUES('schema_version', ?) ON CONFLICT(key) DO "
        "UPDATE SET value=excluded.value",
        (str(SCHEMA_VERSION),),
    )
