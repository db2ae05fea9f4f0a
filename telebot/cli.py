"""The `telebot` command: run | status | check | health | ikabot | demo.

Expected failures end with one line on stderr and exit status 2 (DESIGN.md section 2); the
line says what to fix. Nothing here writes ikabot's files.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from telebot import __version__
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

if TYPE_CHECKING:
    from telebot.bot.chatcheck import ChatCheck


def _settings() -> tuple[Settings, list[Path]]:
    """The settings, and the `.env` files they were read from."""
    files = load_settings_files()
    return Settings.from_env(), files


def cmd_status(args: argparse.Namespace) -> int:
    from telebot.alerts.delivery import waiting, waiting_line
    from telebot.ikabot.store import open_store
    from telebot.state import StateDB
    from telebot.tasks.merge import annotate, build_tasks
    from telebot.views import render

    settings, _ = _settings()
    snap = open_store(settings).read()
    for warning in snap.warnings:
        print(f"telebot: warning: {warning}", file=sys.stderr)
    if snap.warnings and not snap.accounts:
        raise DataError(f"nothing in {snap.path} could be read ({snap.warnings[0]})")
    tasks = build_tasks(snap)
    held = None
    # what the bot saw (how tasks ended, the runs it counted): its database, read-only, in
    # a process of its own; a WAL reader never makes the bot wait
    state = StateDB.open_readonly(settings.state_dir)
    if state is not None:
        try:
            annotate(tasks, state.tracking)
            held = waiting(state)
        except sqlite3.Error as e:  # busy past the short wait, or an older database
            tasks = build_tasks(snap)
            print(f"telebot: warning: telebot's state in {settings.state_dir} could not be "
                  f"read ({e}); how tasks ended is not shown", file=sys.stderr)
        finally:
            state.close()
    if args.json:
        print(json.dumps({**render.as_json(tasks), "waiting_alerts": held}, indent=2,
                         ensure_ascii=False))
    else:
        print(render.status_table(tasks))
        if held is not None:
            print(waiting_line(held, render.fmt_clock(held["since"], time.time())))
    return 0


async def _ask_bot_api(token: str, base_url: str, chat: str,
                       send_test: bool) -> tuple[str, ChatCheck]:
    """getMe (the token), then the chat (`chatcheck`): who the bot is, and the chat's verdict."""
    from telegram import Bot
    from telegram.error import InvalidToken, NetworkError, TelegramError

    from telebot.bot.chatcheck import check_chat
    from telebot.logsafe import redact

    try:
        async with Bot(token, base_url=base_url) as bot:  # entering asks getMe
            me = bot.bot
            verdict = await check_chat(bot, chat, send_test=send_test)
    except InvalidToken as e:
        raise api_error(e, base_url) from None
    except NetworkError:
        raise ConfigError(f"cannot reach the Bot API at {redact(base_url)}: check the network "
                          "or TELEGRAM_API_BASE_URL") from None
    except TelegramError as e:
        raise ConfigError("the Bot API answered with an error: "
                          f"{redact(e.message)}") from None
    return (f"@{me.username}" if me.username else str(me.id)), verdict


def cmd_check(args: argparse.Namespace) -> int:
    from telebot.ikabot.log import IkabotLog
    from telebot.ikabot.safeio import owner_of
    from telebot.ikabot.store import open_store
    from telebot.tasks.merge import build_tasks

    files = load_settings_files()
    # first, before any check that can fail: the player sees which file was read
    print("settings: " + (", ".join(str(f) for f in files) if files else
                          f"environment only (no .env in {Path.cwd()} or {config_env_file()})"),
          flush=True)
    settings = Settings.from_env()
    store = open_store(settings)
    snap = store.read()
    tasks = build_tasks(snap)
    running = sum(t.state == "running" for t in tasks)
    print(f"ikabot data: {snap.layout} layout at {snap.path}")
    print(f"accounts: {len(snap.accounts)}"
          + (f" ({', '.join(a.key.label for a in snap.accounts)})" if snap.accounts else ""))
    print(f"tasks: {len(tasks)} recorded, {running} running")
    for w in snap.warnings:
        print(f"warning: {w}")
    ikalog = IkabotLog(settings.ikabot_log, owner=owner_of(settings.ikabot_path))
    ikalog.poll()
    print(f"ikabot's log: {settings.ikabot_log} (read to tell failed tasks from finished ones)"
          if ikalog.available else f"warning: ikabot's log: {ikalog.problem}; telebot works "
          "without it, but cannot tell a task that failed from one that finished")
    token, chat, source = resolve_telegram(settings, snap.telegram)
    print(f"telegram: token {mask_token(token)} (from {source}), chat {chat}")
    mode = "dedicated bot (long polling)" if for_ikabot(settings, snap.telegram).dedicated_token \
        else "shared with ikabot (polling without confirming young updates)"
    if shares_ikabots_token(settings, snap.telegram):
        mode += ("; TELEBOT_TOKEN is ikabot's own token, so telebot reads it the shared way "
                 "(ikabot keeps its captcha answers): leave TELEBOT_TOKEN unset, or give "
                 "telebot a bot of its own")
    print(f"mode: {mode}")
    who, verdict = asyncio.run(_ask_bot_api(token, settings.api_base_url, chat,
                                             args.send_test))
    print(f"Bot API: getMe ok, the bot is {who}")
    print(f"state: {settings.state_dir}")
    if not verdict.ok:
        raise ConfigError(verdict.line)
    print(verdict.line)
    print("all good")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from telebot.bot.app import run_bot

    return run_bot(_settings()[0])


def cmd_health(args: argparse.Namespace) -> int:
    """Docker's HEALTHCHECK: is telebot's event loop beating (not just its process alive)?"""
    from telebot.bot.health import STALE_AFTER, heartbeat_age, heartbeat_path

    settings, _ = _settings()
    age = heartbeat_age(settings.state_dir)
    if age is None:
        print(f"telebot: no heartbeat at {heartbeat_path(settings.state_dir)}: telebot is not "
              "running with this TELEBOT_STATE_DIR", file=sys.stderr)
        return 1
    if age > STALE_AFTER:
        print(f"telebot: stuck: its loop last beat {age:.0f} s ago", file=sys.stderr)
        return 1
    print(f"healthy: its loop beat {max(0.0, age):.0f} s ago")
    return 0


def cmd_ikabot(args: argparse.Namespace) -> int:
    from telebot.menu.console import run_console

    return run_console(_settings()[0], list(args.args))


def cmd_demo(args: argparse.Namespace) -> int:
    from telebot.demo.run import run_demo

    return run_demo(keep_running=args.keep_running)


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
  TELEBOT_ALLOW_KILL             0 turns /kill off (1)
  TELEBOT_ALLOW_MENU             0 turns /menu and Run again off (1)
  IKABOT_COMMAND                 what starts ikabot's menu for /menu (ikabot beside ikabot)
  TELEBOT_HEARTBEAT_URL          requested while telebot runs (Uptime Kuma push, healthchecks.io)
  TELEBOT_HEARTBEAT_MINUTES      how often (5)
  TELEBOT_TZ                     time zone of every time shown, e.g. Europe/Berlin (the host's)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="telebot",
        description="Telegram status, web-server URLs and death alerts for ikabot tasks.",
        epilog=ENVIRONMENT, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"telebot {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    documented: dict[str, Any] = {"epilog": ENVIRONMENT,
                                  "formatter_class": argparse.RawDescriptionHelpFormatter}
    p = sub.add_parser("run", help="run the bot until SIGINT/SIGTERM", **documented)
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("status", help="print every ikabot task (what /status shows)", **documented)
    p.add_argument("--json", action="store_true", help="print the contract's JSON")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("check", help="check the set-up: ikabot data, Telegram config, Bot API, "
                       "the chat", **documented)
    p.add_argument("--send-test", action="store_true",
                   help="also send one test message to the chat")
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("health", help="exit 0 when telebot's loop beat within a minute "
                       "(a container HEALTHCHECK)", **documented)
    p.set_defaults(func=cmd_health)
    p = sub.add_parser("ikabot", help="ikabot's own menu in this terminal, its answers "
                       "recorded for Run again (start ikabot this way)", **documented)
    p.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS",
                   help="ikabot's answers given ahead, as `ikabot` takes them")
    p.set_defaults(func=cmd_ikabot)
    p = sub.add_parser("demo", help="see the whole thing work, no account or Telegram needed")
    p.add_argument("--keep-running", action="store_true",
                   help="leave the demo up until Ctrl-C, to watch it")
    p.set_defaults(func=cmd_demo)
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

        print(f"telebot: internal error ({type(e).__name__}): {redact(str(e))}; "
              "set TELEBOT_DEBUG=1 for the traceback", file=sys.stderr)
        return 1
