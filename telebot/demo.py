"""`telebot demo`: the whole product on an embedded default, no account, no Telegram.

A temporary ikabot data set in the directory layout, real child processes as tasks (an
autoPirate advancing through its missions, a webServer listening on loopback, a task that
finishes and one that gets killed), and telebot reading it all.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from telebot.details import atomic_write

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
        atomic_write(self.ikabot_path / "global.json", json.dumps({
            "logLevel": 2, "telegram": {"botToken": DEMO_TOKEN, "chatId": str(DEMO_CHAT)},
            "discord": {}, "custom_modules": {}}, indent=2))
        return self

    def start(self, name: str, kind: str, total: int = 10, step: float = 1.0) -> int:
        p = subprocess.Popen(
            [sys.executable, "-m", "telebot.demotask", kind, str(self.ikabot_path), EMAIL,
             USERNAME, WORLD, SERVER, str(total), str(step)],
            stdin=subprocess.DEVNULL)
        self.procs[name] = p
        return p.pid

    def stop(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
            p.wait()


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def run_demo(keep_running: bool = False) -> int:
    from telebot import render
    from telebot.config import Settings
    from telebot.store import open_store
    from telebot.tasks import collect

    with tempfile.TemporaryDirectory(prefix="telebot-demo-") as tmp:
        world = DemoWorld(Path(tmp)).create()
        try:
            world.start("pirate", "autoPirate", 10, 0.4)
            world.start("web", "webServer")
            world.start("builder", "constructionList", 3, 0.3)
            doomed = world.start("doomed", "autoPirate", 10, 0.4)
            store = open_store(Settings(ikabot_path=world.ikabot_path,
                                        state_dir=Path(tmp) / "state"))
            wait_for(lambda: len(collect(store)) == 4 and
                     all(t.urls for t in collect(store) if t.action == "webServer"))
            print("$ telebot status   # four ikabot tasks started\n")
            print(render.status_table(collect(store)))
            wait_for(lambda: any(t.pid == doomed and (t.progress and t.progress.done >= 3)
                                 for t in collect(store)))
            world.procs["doomed"].kill()
            world.procs["doomed"].wait()
            wait_for(lambda: any(t.state == "finished" for t in collect(store)))
            print("\n$ telebot status   # one finished, one was killed mid-way\n")
            print(render.status_table(collect(store)))
            if keep_running:
                print("\n(--keep-running: Ctrl-C to stop)")
                while True:
                    time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            world.stop()
    return 0
