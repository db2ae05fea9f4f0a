"""`telebot demo`: the whole product on an embedded default, no account, no Telegram.

A temporary ikabot data set in the directory layout, real child processes as tasks (an
autoPirate advancing through its missions, a webServer listening on loopback, a task that
finishes and one that gets killed), and telebot reading it all.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from telebot.alerts.texts import MARKS
from telebot.bot import callbacks
from telebot.demo import offline_ikabot
from telebot.demo.fakeapi import FakeBotAPI
from telebot.demo.sample_tasks import MAIN, launcher
from telebot.i18n import N_, _
from telebot.ikabot.safeio import atomic_write
from telebot.views import render

EMAIL = "demo.player@example.org"
USERNAME = "DemoPlayer"
WORLD, SERVER = "59", "en"
DEMO_TOKEN = "123456:DEMO"  # the loopback Bot API's; not a real token
DEMO_CHAT = 4242


@dataclass
class DemoWorld:
    """The sample ikabot data and its task processes."""

    root: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def ikabot_path(self) -> Path:
        return self.root / ".ikabot"

    def create(self) -> DemoWorld:
        users = self.ikabot_path / "users"
        users.mkdir(parents=True)
        atomic_write(
            self.ikabot_path / "global.json",
            json.dumps(
                {
                    "logLevel": 2,
                    "telegram": {"botToken": DEMO_TOKEN, "chatId": str(DEMO_CHAT)},
                    "discord": {},
                    "custom_modules": {},
                },
                indent=2,
            ),
        )
        return self

    def start(self, name: str, kind: str, total: int = 10, step: float = 1.0) -> int:
        """Start a task and wait until its entry is in the process list (as ikabot's menu
        has written it by the time it shows the next screen): one at a time, the tasks are
        listed in the order they were started, the same on every run."""
        p = subprocess.Popen(
            [
                sys.executable,
                str(launcher(self.root / "bin")),
                MAIN,
                kind,
                str(self.ikabot_path),
                EMAIL,
                USERNAME,
                WORLD,
                SERVER,
                str(total),
                str(step),
            ],
            stdin=subprocess.DEVNULL,
        )
        self.procs[name] = p
        wait_for(lambda: p.pid in self.recorded() or p.poll() is not None, 20)
        return p.pid

    def recorded(self) -> set[int]:
        """The pids in the sample data's process list."""
        from telebot.config import Settings
        from telebot.ikabot.store import open_store

        snap = open_store(Settings(ikabot_path=self.ikabot_path)).read()
        return {e["pid"] for a in snap.accounts for e in a.process_list}

    def menu_command(self) -> tuple[str, ...]:
        """What /menu starts in the demo: never the player's own ikabot (whose login would
        reach the game with what is typed), but ikabot's menu offline
        (`demo.offline_ikabot`) on the sample data; where ikabot is not installed, a stand-in
        that says /menu is not part of the demo."""
        if not offline_ikabot.available():
            return (sys.executable, "-c", offline_ikabot.not_installed())
        return (
            sys.executable,
            str(launcher(self.root / "bin")),
            offline_ikabot.MAIN,
            "--home",
            str(self.root),
            "--log",
            str(self.root / "ikabot.log"),
            "--account",
            f"{EMAIL},{USERNAME},{WORLD},{SERVER}",
        )

    def stop(self) -> None:
        """The demo's tasks end with it, and so do the ones started from its /menu (ikabot's
        offline menu forks them, and they outlive the menu by design): every process whose
        command line names the demo's directory."""
        import psutil

        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
            p.wait()
        for other in psutil.process_iter(["cmdline"]):
            with contextlib.suppress(psutil.Error):
                if any(str(self.root) in part for part in other.info["cmdline"] or []):
                    other.kill()


def wait_for(
    predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.05
) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


class Transcript:
    """Prints the chat as the player sees it: what they typed, what the bot said."""

    def __init__(self, api: FakeBotAPI, chat_id: int = DEMO_CHAT, out: TextIO = sys.stdout):
        self.api, self.chat_id, self.out = api, chat_id, out
        self._seen: dict[int, int] = {}  # message_id → edits printed

    def say(self, text: str) -> None:
        print("\n" + _("👤 you: {text}").format(text=text), file=self.out, flush=True)
        self.api.add_message(text, chat_id=self.chat_id, user_id=self.chat_id)

    def press(self, label: str, data: str, message_id: int) -> None:
        print("\n" + _("👤 you: [taps {label}]").format(label=label), file=self.out, flush=True)
        self.api.add_callback(data, message_id, chat_id=self.chat_id, user_id=self.chat_id)

    def new(self) -> list[dict[str, Any]]:
        return [
            m
            for m in self.api.sent(self.chat_id)
            if self._seen.get(m["message_id"], -1) < m["edits"]
        ]

    def flush(self) -> list[dict[str, Any]]:
        shown = self.new()
        for m in shown:
            edited = m["message_id"] in self._seen
            self._seen[m["message_id"]] = m["edits"]
            text = render.html_to_text(m["html"]) if m.get("parse_mode") == "HTML" else m["text"]
            alert = text.startswith(MARKS)
            who = (
                _("🔔 push alert")
                if alert
                else (_("🤖 telebot (edited its message)") if edited else "🤖 telebot")
            )
            body = "\n".join("   " + line for line in text.splitlines())
            print(f"\n{who}:\n{body}", file=self.out, flush=True)
            buttons = [
                b["text"]
                for row in (m.get("reply_markup") or {}).get("inline_keyboard", [])
                for b in row
            ]
            if buttons:
                print("   " + "  ".join(f"[{b}]" for b in buttons), file=self.out, flush=True)
        return shown

    def expect(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Wait until the new messages satisfy `predicate`, then print them."""
        self.api.wait_for(lambda: predicate(self.new()), timeout)
        return self.flush()


def _url_answers(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            return f"HTTP {r.status}"
    except OSError as e:
        return _("no answer ({why})").format(why=e)


def run_demo(keep_running: bool = False, lang: str | None = None) -> int:
    """`lang`: the demo's telebot speaks it (TELEBOT_LANG), whatever the environment says;
    the narration too."""
    from telebot import i18n
    from telebot.config import Settings
    from telebot.logsafe import install_filter

    lang = lang or Settings.from_env().lang
    i18n.use(i18n.choose(lang, None))

    install_filter()
    logging.getLogger("telebot").setLevel(logging.WARNING)

    def terminated(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM ends the demo as Ctrl-C does: its tasks stop too

    signal.signal(signal.SIGTERM, terminated)
    with (
        tempfile.TemporaryDirectory(prefix="telebot-demo-") as tmp,
        FakeBotAPI(token=DEMO_TOKEN) as api,
    ):
        world = DemoWorld(Path(tmp)).create()
        t = Transcript(api)
        print(
            _(
                "telebot demo: a sample ikabot data set (directory layout, {path}),\nreal task "
                "processes, and a Telegram Bot API on loopback ({url}). Nothing leaves this "
                "machine."
            ).format(path=world.ikabot_path, url=api.base_url.rsplit("/", 1)[0])
        )
        try:
            # one at a time, each recorded before the next starts: the same order every run
            pirate = world.start("pirate", "autoPirate", 5, 0.6)
            web = world.start("web", "webServer")
            world.start("builder", "constructionList", 3, 1.0)
            doomed = world.start("doomed", "autoPirate", 10, 0.35)
            settings = Settings(
                ikabot_path=world.ikabot_path,
                api_base_url=api.base_url,
                state_dir=Path(tmp) / "state",
                poll_seconds=0.1,
                scan_seconds=0.5,
                report_minutes=0,
                # its own (empty) ikabot log: never the host's /tmp/ikabot.log
                ikabot_log=Path(tmp) / "ikabot.log",
                ikabot_command=world.menu_command(),
                lang=lang,
            )
            from telebot.ikabot.store import open_store
            from telebot.tasks.merge import collect

            wait_for(
                lambda: (
                    len(collect(open_store(settings))) == 4
                    and all(
                        t.urls for t in collect(open_store(settings)) if t.action == "webServer"
                    )
                )
            )
            print(
                "\n"
                + _(
                    "Started 4 ikabot tasks: autoPirate (pid {pirate}, 5 runs), "
                    "webServer (pid {web}), constructionList, and a second autoPirate "
                    "(pid {doomed}) that will be killed."
                ).format(pirate=pirate, web=web, doomed=doomed)
            )
            asyncio.run(_conversation(settings, world, t, keep_running))
        except KeyboardInterrupt:
            pass
        finally:
            world.stop()
    return 0


async def _conversation(settings: Any, world: DemoWorld, t: Transcript, keep_running: bool) -> None:
    from telebot.bot.app import serve

    stop, ready = asyncio.Event(), asyncio.Event()
    bot = asyncio.create_task(serve(settings, stop=stop, ready=ready))
    await asyncio.wait_for(ready.wait(), 20)

    async def expect(
        predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        return await asyncio.to_thread(t.expect, predicate, timeout)

    def has(word: str) -> Callable[[list[dict[str, Any]]], bool]:
        return lambda msgs: any(word in m["text"] for m in msgs)

    try:
        await expect(has("👀"))  # telebot is watching …, in whichever language it speaks
        t.say("/status")
        status = await expect(has("👤"))  # an account's header
        shown = _mission(world, "pirate")  # a run later, Refresh has something to show
        await asyncio.to_thread(wait_for, lambda: _mission(world, "pirate") > shown, 10)
        t.press(_("🔄 Refresh"), callbacks.make(callbacks.Kind.REFRESH, 0), status[0]["message_id"])
        await expect(lambda msgs: any(m["edits"] for m in msgs))
        t.say("/webserver")
        (reply,) = await expect(has("http://127.0.0.1"))
        url = next(w for w in reply["text"].split() if w.startswith("http://127.0.0.1"))
        print(
            "   "
            + _("(and {url} really answers: {answer})").format(url=url, answer=_url_answers(url))
        )
        print(
            "\n"
            + _(
                "... the first autoPirate completes its 5 runs, a constructionList "
                "finishes its queue, and the second autoPirate is killed (kill -9, as "
                "ikabot's Kill tasks menu does) partway through ..."
            )
        )
        await asyncio.to_thread(wait_for, lambda: _mission(world, "doomed") >= 3, 10)
        world.procs["doomed"].kill()
        world.procs["doomed"].wait()
        done = _mission(world, "doomed")
        print(
            "   "
            + _(
                "(it was killed during run {run} of 10, with {done} done: the alert "
                "below says the same)"
            ).format(run=done + 1, done=done)
        )
        from telebot.views.render import how_word

        finished, killed = how_word("finished"), how_word("killed")
        await expect(
            lambda msgs: (
                has(f"autoPirate {finished}")(msgs)
                and has(f"constructionList {finished}")(msgs)
                and has(killed)(msgs)
            ),
            15,
        )
        t.say(f"/details {world.procs['pirate'].pid}")
        await expect(has(_("Ended: {how}").split("{")[0]))
        if keep_running:
            print(
                "\n"
                + _(
                    "--keep-running: the bot stays up. Type commands (/status, "
                    "/webserver, /details <pid>, /alerts, /menu ...) and press Enter; "
                    "Ctrl-C to stop."
                )
            )
            print(
                _(_MENU_HINT).format(email=EMAIL)
                if offline_ikabot.available()
                else "   "
                + _("/menu: ikabot is not installed here, so its menu is not part of the demo.")
            )
            await _interactive(t)
    finally:
        stop.set()
        await bot


def _mission(world: DemoWorld, name: str) -> int:
    from telebot.details import Target, get_process_details

    pid = world.procs[name].pid
    d = (
        get_process_details(Target(EMAIL, USERNAME, WORLD, SERVER, None, world.ikabot_path), pid)
        or {}
    )
    missions = d.get("missions") or {}
    return int(missions.get("completed", 0))


_MENU_HINT = N_(
    "   /menu opens ikabot's own menu, offline (on the sample data, never your "
    "real ikabot):\n   answer Mail: with {email}, then a choice's number (17: "
    "Auto-Pirate); nothing\n   typed there leaves this machine."
)


async def _interactive(t: Transcript) -> None:
    """Lines typed are sent as the player's messages. Standard input that is not a terminal
    (a pipe, /dev/null, a service) may end at once: the demo then keeps running until a
    signal, and says so, rather than ending silently."""
    loop = asyncio.get_running_loop()
    tty = sys.stdin.isatty()
    if not tty:
        print(
            "   "
            + _(
                "(standard input is not a terminal: lines it gives are typed as "
                "commands, and the demo keeps running until Ctrl-C or SIGTERM.)"
            ),
            flush=True,
        )
    lines: asyncio.Queue[str | None] = asyncio.Queue()

    def reader() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(lines.put_nowait, line.strip())
        loop.call_soon_threadsafe(lines.put_nowait, None)

    threading.Thread(target=reader, daemon=True).start()
    while True:
        try:
            line = await asyncio.wait_for(lines.get(), 0.3)
        except asyncio.TimeoutError:
            t.flush()  # alerts and edits arrive on their own
            continue
        if line is None:
            if tty:
                return  # Ctrl-D at the terminal: the player is done
            continue  # a pipe that ended: keep running until a signal
        if line:
            t.say(line)
