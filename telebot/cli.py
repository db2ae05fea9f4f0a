"""The `telebot` command: run | status | check | health | ikabot | demo.

Expected failures end with one line on stderr and exit status 2 (docs/contract.md section 2); the
line says what to fix. Nothing here writes ikabot's files.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sqlite3
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from telebot import __version__, i18n
from telebot.config import (
    Settings,
    api_error,
    config_env_file,
    for_ikabot,
    load_settings_files,
    mask_token,
    resolve_telegram,
    shares_ikabots_token,
)
from telebot.errors import ConfigError, DataError, UsageError
from telebot.i18n import _

if TYPE_CHECKING:
    from telebot.bot.chatcheck import ChatCheck
    from telebot.ikabot.records import Snapshot


def _settings() -> tuple[Settings, list[Path]]:
    """The settings, and the `.env` files they were read from."""
    files = load_settings_files()
    env_language()  # a .env's TELEBOT_LANG: a bad setting below is said in it
    settings = Settings.from_env()
    speak(settings)
    return settings, files


def env_language() -> None:
    """TELEBOT_LANG as the environment (and the .env files read) say it, before the settings
    are checked: their errors are said in it. A TELEBOT_LANG telebot does not speak is English
    (and its own error says so, in English)."""
    i18n.use(i18n.choose(os.environ.get("TELEBOT_LANG"), None))


def speak(settings: Settings) -> None:
    """The terminal's language: TELEBOT_LANG, else the owner's Telegram language as the bot
    last saw it (its database, read-only), else English."""
    from telebot.state import StateDB

    owners = None
    if not settings.lang:
        state = StateDB.open_readonly(settings.state_dir)
        if state is not None:
            try:
                owners = state.settings.owner_language()
            except sqlite3.Error:
                owners = None
            finally:
                state.close()
    i18n.use(i18n.choose(settings.lang, owners))


def _require_readable(snap: Snapshot) -> None:
    """`check` and `status` fail alike when ikabot's data is there but none of it reads."""
    if snap.warnings and not snap.accounts:
        raise DataError(
            _("nothing in {path} could be read ({why})").format(
                path=snap.path, why=snap.warnings[0]
            )
        )


def cmd_status(args: argparse.Namespace) -> int:
    from telebot.alerts.delivery import waiting, waiting_line
    from telebot.ikabot.store import open_store
    from telebot.keepalive.status import keepalive_json
    from telebot.state import StateDB
    from telebot.tasks.merge import annotate, build_tasks
    from telebot.views import render

    settings, _files = _settings()
    snap = open_store(settings).read()
    for warning in snap.warnings:
        print(_("telebot: warning: {warning}").format(warning=warning), file=sys.stderr)
    _require_readable(snap)
    tasks = build_tasks(snap)
    held = None
    kept: list[dict[str, object]] = []
    # what the bot saw (how tasks ended, the runs it counted): its database, read-only, in
    # a process of its own; a WAL reader never makes the bot wait
    state = StateDB.open_readonly(settings.state_dir)
    if state is not None:
        try:
            annotate(tasks, state.tracking)
            held = waiting(state)
            kept = [keepalive_json(state, settings, t) for t in tasks]
        except sqlite3.Error as e:  # busy past the short wait, or an older database
            tasks = build_tasks(snap)
            print(
                _(
                    "telebot: warning: telebot's state in {dir} could not be read ({why}); "
                    "how tasks ended is not shown"
                ).format(dir=settings.state_dir, why=e),
                file=sys.stderr,
            )
        finally:
            state.close()
    if args.json:
        shown = render.as_json(tasks)
        for i, entry in enumerate(shown["processes"]):
            entry["keepalive"] = (
                kept[i] if i < len(kept) else keepalive_json(None, settings, tasks[i])
            )
        print(json.dumps({**shown, "waiting_alerts": held}, indent=2, ensure_ascii=False))
    else:
        print(render.status_table(tasks))
        if held is not None:
            print(waiting_line(held, render.fmt_clock(held["since"], time.time())))
    return 0


async def _ask_bot_api(
    token: str, base_url: str, chat: str, send_test: bool, topic_id: int | None = None
) -> tuple[str, ChatCheck]:
    """getMe (the token), then the chat (`chatcheck`): who the bot is, and the chat's verdict."""
    from telegram import Bot
    from telegram.error import InvalidToken, NetworkError, TelegramError

    from telebot.bot.chatcheck import check_chat
    from telebot.logsafe import redact

    try:
        async with Bot(token, base_url=base_url) as bot:  # entering asks getMe
            me = bot.bot
            verdict = await check_chat(bot, chat, send_test=send_test, topic_id=topic_id)
    except InvalidToken as e:
        raise api_error(e, base_url) from None
    except NetworkError:
        raise ConfigError(
            _(
                "cannot reach the Bot API at {url}: check the network or TELEGRAM_API_BASE_URL"
            ).format(url=redact(base_url))
        ) from None
    except TelegramError as e:
        raise ConfigError(
            _("the Bot API answered with an error: {why}").format(why=redact(e.message))
        ) from None
    return (f"@{me.username}" if me.username else str(me.id)), verdict


def cmd_check(args: argparse.Namespace) -> int:
    from telebot.ikabot.log import IkabotLog
    from telebot.ikabot.safeio import owner_of
    from telebot.ikabot.store import open_store
    from telebot.tasks.merge import build_tasks

    files = load_settings_files()
    env_language()
    # first, before any check that can fail: the player sees which file was read
    print(
        _("settings: {files}").format(files=", ".join(str(f) for f in files))
        if files
        else _("settings: environment only (no .env in {cwd} or {file})").format(
            cwd=Path.cwd(), file=config_env_file()
        ),
        flush=True,
    )
    settings = Settings.from_env()
    speak(settings)
    store = open_store(settings)
    snap = store.read()
    tasks = build_tasks(snap)
    running = sum(t.state == "running" for t in tasks)
    print(_("ikabot data: {layout} layout at {path}").format(layout=snap.layout, path=snap.path))
    print(
        _("accounts: {n}").format(n=len(snap.accounts))
        + (f" ({', '.join(a.key.label for a in snap.accounts)})" if snap.accounts else "")
    )
    print(_("tasks: {n} recorded, {running} running").format(n=len(tasks), running=running))
    for w in snap.warnings:
        print(_("warning: {warning}").format(warning=w))
    _require_readable(snap)
    ikalog = IkabotLog(settings.ikabot_log, owner=owner_of(settings.ikabot_path))
    ikalog.poll()
    print(
        _("ikabot's log: {path} (read to tell failed tasks from finished ones)").format(
            path=settings.ikabot_log
        )
        if ikalog.available
        else _(
            "warning: ikabot's log: {problem}; telebot works without it, but cannot tell a "
            "task that failed from one that finished"
        ).format(problem=ikalog.problem)
    )
    token, chat, source = resolve_telegram(settings, snap.telegram)
    print(
        _("telegram: token {token} (from {source}), chat {chat}").format(
            token=mask_token(token), source=source, chat=chat
        )
    )
    mode = (
        _("dedicated bot (long polling)")
        if for_ikabot(settings, snap.telegram).dedicated_token
        else _("shared with ikabot (polling without confirming young updates)")
    )
    if shares_ikabots_token(settings, snap.telegram):
        mode += _(
            "; TELEBOT_TOKEN is ikabot's own token, so telebot reads it the shared way "
            "(ikabot keeps its captcha answers): leave TELEBOT_TOKEN unset, or give "
            "telebot a bot of its own"
        )
    print(_("mode: {mode}").format(mode=mode))
    who, verdict = asyncio.run(
        _ask_bot_api(token, settings.api_base_url, chat, args.send_test, settings.topic_id)
    )
    print(_("Bot API: getMe ok, the bot is {who}").format(who=who))
    print(_("state: {dir}").format(dir=settings.state_dir))
    if not verdict.ok:
        raise ConfigError(verdict.line)
    print(verdict.line)
    print(_("all good"))
    return 0


def cmd_timeline(args: argparse.Namespace) -> int:
    """/timeline's picture, written to a file, from telebot's database (read-only)."""
    from telebot.bot.timeline_commands import gather
    from telebot.state import StateDB
    from telebot.views import timeline

    try:
        hours = timeline.hours_arg(args.hours)
    except ValueError:
        raise UsageError(
            _("--hours {value}: give a number of hours from 1 to {max}, e.g. --hours 48").format(
                value=repr(args.hours), max=timeline.MAX_HOURS
            )
        ) from None
    out = Path(args.out)
    if out.is_dir() or not out.parent.is_dir():
        raise UsageError(
            _("--out {file}: name a file in an existing directory, e.g. --out timeline.png").format(
                file=out
            )
        )
    settings, _files = _settings()
    state = StateDB.open_readonly(settings.state_dir)
    if state is None:
        raise ConfigError(
            _(
                "no telebot database in {dir}: the picture is drawn from what a "
                "running telebot saw (telebot run), or set TELEBOT_STATE_DIR"
            ).format(dir=settings.state_dir)
        )
    now = time.time()
    try:
        spans = gather(state, now, hours)
    except sqlite3.Error as e:
        raise ConfigError(
            _("telebot's state in {dir} could not be read ({why})").format(
                dir=settings.state_dir, why=e
            )
        ) from None
    finally:
        state.close()
    pic = timeline.png(spans, now, hours)
    try:
        out.write_bytes(pic.png)
    except OSError as e:
        raise UsageError(
            _("cannot write {file} ({why}): choose another --out").format(file=out, why=e.strerror)
        ) from None
    print(f"{out}: {pic.caption}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    with _without_passport():
        from telebot.bot.app import run_bot

    return run_bot(_settings()[0])


@contextlib.contextmanager
def _without_passport() -> Iterator[None]:
    """python-telegram-bot imports `cryptography`, when it is installed (ikabot needs it), for
    Telegram Passport alone, which telebot never uses: ~7.5 MB of an idle telebot's memory
    (BENCHMARKS.md, idle cost). While python-telegram-bot is first imported, `cryptography`
    reads as absent (its own `CRYPTO_INSTALLED = False` path); afterwards it is importable
    again for anything that needs it."""
    if "telegram" in sys.modules or "cryptography" in sys.modules:
        yield
        return
    sys.modules["cryptography"] = None  # type: ignore[assignment]  # an import raises ImportError
    try:
        yield
    finally:
        if "cryptography" in sys.modules and sys.modules["cryptography"] is None:
            del sys.modules["cryptography"]


def cmd_health(args: argparse.Namespace) -> int:
    """Docker's HEALTHCHECK: is telebot's event loop beating (not just its process alive)?"""
    from telebot.bot.health import STALE_AFTER, heartbeat_age, heartbeat_path

    settings, _files = _settings()
    age = heartbeat_age(settings.state_dir)
    if age is None:
        print(
            _(
                "telebot: no heartbeat at {path}: telebot is not running with this "
                "TELEBOT_STATE_DIR"
            ).format(path=heartbeat_path(settings.state_dir)),
            file=sys.stderr,
        )
        return 1
    if age > STALE_AFTER:
        print(
            _("telebot: stuck: its loop last beat {s} s ago").format(s=f"{age:.0f}"),
            file=sys.stderr,
        )
        return 1
    print(_("healthy: its loop beat {s} s ago").format(s=f"{max(0.0, age):.0f}"))
    return 0


def cmd_ikabot(args: argparse.Namespace) -> int:
    from telebot.menu.console import run_console

    return run_console(_settings()[0], list(args.args))


def cmd_demo(args: argparse.Namespace) -> int:
    from telebot.demo.run import run_demo

    return run_demo(keep_running=args.keep_running, lang=args.lang)


ENVIRONMENT = """\
environment (also read from ~/.config/telebot/.env and a .env in the working directory; it
must be yours, not writable by others, and private when it holds a password or token):
  IKABOT_PATH                    ikabot's data: ~/.ikabot, a file (<= 7.5) or directory (7.6+)
  IKABOT_EMAIL, IKABOT_PASSWORD  ikabot <= 7.5's encrypted file only (and legacy migration)
  IKABOT_LOG                     ikabot's log, to tell failed from finished (/tmp/ikabot.log)
  TELEBOT_TOKEN, TELEBOT_CHAT_ID a bot of telebot's own and its chat (default: ikabot's)
  TELEGRAM_API_BASE_URL          the Bot API (https://api.telegram.org/bot)
  TELEBOT_STATE_DIR              telebot's own database (~/.local/state/telebot)
  TELEBOT_POLL_SECONDS           shared token: how often to read updates (3)
  TELEBOT_CONFIRM_AFTER_MINUTES  shared token: age at which updates are confirmed (30, min 5)
  TELEBOT_SCAN_SECONDS           how often ikabot's data is read again (15)
  TELEBOT_REPORT_MINUTES         progress report interval, 0 = off (60)
  TELEBOT_STALL_MINUTES          stall alert after this long without change, 0 = off (0)
  TELEBOT_OWNER_IDS              Telegram user ids who may change settings and stop tasks
  TELEBOT_HOST_LABEL             this machine's name on every message
  TELEBOT_TOPIC_ID               the forum topic this machine writes in (a group with topics)
  TELEBOT_METRICS_ADDR           serve Prometheus metrics at host:port/metrics
  TELEBOT_METRICS_FILE           write them for node_exporter's textfile collector (*.prom)
  TELEBOT_ALLOW_KILL             0 turns /kill off (1)
  TELEBOT_ALLOW_MENU             0 turns /menu and Run again off (1)
  IKABOT_COMMAND                 what starts ikabot's menu for /menu (the ikabot beside telebot)
  TELEBOT_KEEPALIVE              actions restarted when they die (names, or all; /keepalive)
  TELEBOT_KEEPALIVE_MAX          restarts of one task chain in an hour before giving up (5)
  TELEBOT_KEEPALIVE_LOGIN        1: a restart types IKABOT_PASSWORD at ikabot's prompt (0)
  TELEBOT_KEEPALIVE_BACKOFF_SECONDS  the first wait before a restart, then x3 (10)
  TELEBOT_HEARTBEAT_URL          requested while telebot runs (Uptime Kuma push, healthchecks.io)
  TELEBOT_HEARTBEAT_MINUTES      how often (5)
  TELEBOT_TZ                     time zone of every time shown, e.g. Europe/Berlin (the host's)
  TELEBOT_REPORT_PICTURE         1: the progress report carries /timeline's picture (0)
  TELEBOT_LANG                   en, es or pt (the owner's Telegram language, else en)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="telebot",
        description="Telegram status, web-server URLs and death alerts for ikabot tasks.",
        epilog=ENVIRONMENT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-V", "--version", action="version", version=f"telebot {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    documented: dict[str, Any] = {
        "epilog": ENVIRONMENT,
        "formatter_class": argparse.RawDescriptionHelpFormatter,
    }
    p = sub.add_parser("run", help="run the bot until SIGINT/SIGTERM", **documented)
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("status", help="print every ikabot task (what /status shows)", **documented)
    p.add_argument("--json", action="store_true", help="print the contract's JSON")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser(
        "check",
        help="check the set-up: ikabot data, Telegram config, Bot API, the chat",
        **documented,
    )
    p.add_argument(
        "--send-test", action="store_true", help="also send one test message to the chat"
    )
    p.set_defaults(func=cmd_check)
    p = sub.add_parser(
        "timeline", help="draw /timeline's picture of what ran into a PNG file", **documented
    )
    p.add_argument("--hours", default=None, help="how far back, 1 to 168 (24)")
    p.add_argument("--out", required=True, help="the PNG file to write")
    p.set_defaults(func=cmd_timeline)
    p = sub.add_parser(
        "health",
        help="exit 0 when telebot's loop beat within a minute (a container HEALTHCHECK)",
        **documented,
    )
    p.set_defaults(func=cmd_health)
    p = sub.add_parser(
        "ikabot",
        help="ikabot's own menu in this terminal, its answers "
        "recorded for Run again (start ikabot this way)",
        **documented,
    )
    p.add_argument(
        "args",
        nargs=argparse.REMAINDER,
        metavar="ARGS",
        help="ikabot's answers given ahead, as `ikabot` takes them",
    )
    p.set_defaults(func=cmd_ikabot)
    p = sub.add_parser("demo", help="see the whole thing work, no account or Telegram needed")
    p.add_argument(
        "--keep-running", action="store_true", help="leave the demo up until Ctrl-C, to watch it"
    )
    p.add_argument(
        "--lang",
        choices=("en", "es", "pt"),
        default=None,
        help="the language telebot speaks in the demo (TELEBOT_LANG)",
    )
    p.set_defaults(func=cmd_demo)
    for action in sub._choices_actions:  # each command's --help says what it does, too
        command = sub.choices[action.dest]
        command.description = command.description or f"telebot {action.dest}: {action.help}."
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse already printed its one-line usage error
        return int(e.code or 0) if e.code in (0, None) else 2
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    # TELEBOT_LANG from the environment at once (a bad --hours is said in it); `speak` refines
    # it once the settings (.env, the owner's language in the database) are read
    env_language()
    try:
        return int(args.func(args) or 0)
    except UsageError as e:
        print(f"telebot: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # a bug: one redacted line unless asked for the traceback
        if os.environ.get("TELEBOT_DEBUG"):
            raise
        from telebot.logsafe import redact

        print(
            _(
                "telebot: internal error ({kind}): {what}; set TELEBOT_DEBUG=1 for the traceback"
            ).format(kind=type(e).__name__, what=redact(str(e))),
            file=sys.stderr,
        )
        return 1
