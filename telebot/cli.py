"""The `telebot` command: run | status | check | demo.

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
from collections.abc import Sequence
from typing import Any

from telebot import __version__
from telebot.config import (
    Settings,
    api_error,
    for_ikabot,
    load_dotenv_file,
    mask_token,
    resolve_telegram,
    shares_ikabots_token,
)
from telebot.errors import ConfigError, DataError, UsageError


def _settings() -> Settings:
    load_dotenv_file()
    return Settings.from_env()


def cmd_status(args: argparse.Namespace) -> int:
    from telebot import render
    from telebot.ikabot.store import open_store
    from telebot.state import StateDB
    from telebot.tasks import annotate, build_tasks

    settings = _settings()
    snap = open_store(settings).read()
    for warning in snap.warnings:
        print(f"telebot: warning: {warning}", file=sys.stderr)
    if snap.warnings and not snap.accounts:
        raise DataError(f"nothing in {snap.path} could be read ({snap.warnings[0]})")
    tasks = build_tasks(snap)
    state = StateDB.open_readonly(settings.state_dir)  # what telebot saw end, if it runs here
    if state is not None:
        try:
            annotate(tasks, state.tracking)
        except sqlite3.Error:
            pass  # a locked or older database: the tasks as ikabot recorded them
        finally:
            state.close()
    if args.json:
        print(json.dumps(render.as_json(tasks), indent=2, ensure_ascii=False))
    else:
        print(render.status_table(tasks))
    return 0


async def _get_me(token: str, base_url: str) -> str:
    from telegram import Bot
    from telegram.error import InvalidToken, NetworkError, TelegramError

    from telebot.logsafe import redact

    try:
        async with Bot(token, base_url=base_url) as bot:  # entering asks getMe
            me = bot.bot
    except InvalidToken as e:
        raise api_error(e, base_url) from None
    except NetworkError:
        raise ConfigError(f"cannot reach the Bot API at {redact(base_url)}: check the network "
                          "or TELEGRAM_API_BASE_URL") from None
    except TelegramError as e:
        raise ConfigError("the Bot API answered getMe with an error: "
                          f"{redact(e.message)}") from None
    return f"@{me.username}" if me.username else str(me.id)


def cmd_check(args: argparse.Namespace) -> int:
    from telebot.ikabot.log import IkabotLog
    from telebot.ikabot.store import open_store
    from telebot.tasks import build_tasks

    settings = _settings()
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
    ikalog = IkabotLog(settings.ikabot_log)
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
    who = asyncio.run(_get_me(token, settings.api_base_url))
    print(f"Bot API: getMe ok, the bot is {who}")
    print(f"state: {settings.state_dir}")
    print("all good")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from telebot.bot.app import run_bot

    return run_bot(_settings())


def cmd_demo(args: argparse.Namespace) -> int:
    from telebot.demo.run import run_demo

    return run_demo(keep_running=args.keep_running)


ENVIRONMENT = """\
environment (also read from a .env in the working directory; it must be yours, not writable
by others, and private when it holds a password or token):
  IKABOT_PATH                    ikabot's data: ~/.ikabot, a file (<= 7.5) or directory (7.6+)
  IKABOT_EMAIL, IKABOT_PASSWORD  ikabot <= 7.5's encrypted file only (and legacy migration)
  IKABOT_LOG                     ikabot's log, to tell failed from finished (/tmp/ikabot.log)
  TELEBOT_TOKEN, TELEBOT_CHAT_ID a bot of telebot's own and its chat (default: ikabot's)
  TELEGRAM_API_BASE_URL          the Bot API (https://api.telegram.org/bot)
  TELEBOT_STATE_DIR              telebot's own database (~/.local/state/telebot)
  TELEBOT_POLL_SECONDS           shared token: how often to read updates (3)
  TELEBOT_CONFIRM_AFTER_MINUTES  shared token: age at which updates are confirmed (30)
  TELEBOT_SCAN_SECONDS           how often ikabot's data is read again (15)
  TELEBOT_REPORT_MINUTES         progress report interval, 0 = off (60)
  TELEBOT_STALL_MINUTES          stall alert after this long without change, 0 = off (0)
  TELEBOT_OWNER_IDS              Telegram user ids who may change settings and stop tasks
  TELEBOT_HOST_LABEL             this machine's name on every message
  TELEBOT_ALLOW_KILL             0 turns /kill off (1)
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
    p = sub.add_parser("check", help="check the set-up: ikabot data, Telegram config, Bot API",
                       **documented)
    p.set_defaults(func=cmd_check)
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
