"""Stand-in ikabot tasks for `telebot demo`: real processes that report like ikabot tasks.

Each registers itself in the sample data's processList (as ikabot's menu does for its
children), then reports through the producer API, as an ikabot task would with telebot's
help. Run through `launcher` (as ikabot's console script is run) with `MAIN` as the code and
`KIND IKABOT_PATH EMAIL USERNAME WORLD SERVER [N STEP]` as its arguments.
"""

from __future__ import annotations

import http.server
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from telebot.details import Target, save_process_details
from telebot.ikabot.producer import modify_account

LAUNCHER = """import sys
if __name__ == "__main__":  # not when a multiprocessing child imports it again
    code = sys.argv.pop(1)
    exec(compile(code, "<ikabot task>", "exec"), {"__name__": "__main__"})
"""
MAIN = (
    "import sys; from telebot.demo.sample_tasks import main; raise SystemExit(main(sys.argv[1:]))"
)


def launcher(directory: Path) -> Path:
    """A script named `ikabot` that runs the Python code given as its first argument.

    Started as `python <directory>/ikabot CODE ARG…`, a stand-in task has the command line of
    ikabot's console script (`python /venv/bin/ikabot …`); telebot takes a process for an ikabot
    task only when its command line or name is ikabot's (`liveness.is_ikabot`).
    """
    path = directory / "ikabot"
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        path.write_text(LAUNCHER, encoding="utf-8")
    return path


def set_entry(target: Target, pid: int, **fields: Any) -> None:
    """Create or update this pid's processList row, the way ikabot's setStatus does."""

    def edit(server: dict[str, Any]) -> None:
        plist = server.setdefault("processList", [])
        for entry in plist:
            if entry.get("pid") == pid:
                entry.update(fields)
                return
        plist.append({"pid": pid, "date": time.time(), "status": "started", **fields})

    modify_account(target, edit)


def pirate(target: Target, pid: int, total: int, step: float) -> None:
    """autoPirate as ikabot 7.7 runs it: before each run its status says how many runs are
    left, the current one included (`Pirating for N more runs`), so the last one it writes is
    `Pirating for 1 more runs`; after the last run the task ends with `os._exit(0)` (ikabot's
    `@task` wrapper calls `session.logout()`). The missions are also published through the
    producer API, as an ikabot task would with telebot's help."""
    set_entry(target, pid, action="autoPirate")
    for done in range(total):
        set_entry(target, pid, status=f"Pirating for {total - done} more runs")
        save_process_details(
            target,
            pid,
            {
                "action": "autoPirate",
                "missions": {"total": total, "completed": done, "remaining": total - done},
                "schedule": {"enabled": False},
            },
        )
        time.sleep(step)
    os._exit(0)


def remaining_time(seconds: float) -> str:
    """A duration as ikabot 7.7's constructionList writes it (`_formatRemainingTime`:
    upper-case units, zero parts left out, `0S` for nothing left); the demo does not import
    ikabot, which is no runtime dependency of telebot."""
    rest = max(0, int(seconds))
    days, rest = divmod(rest, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, rest = divmod(rest, 60)
    parts = ((days, "D"), (hours, "H"), (minutes, "M"), (rest, "S"))
    return " ".join(f"{value}{unit}" for value, unit in parts if value) or "0S"


def construction(target: Target, pid: int, total: int, step: float) -> None:
    """constructionList: a building queue worked through one level at a time, from level 3
    to level 3 + total (a step stands for an hour of building)."""
    hour = 3600.0
    set_entry(
        target,
        pid,
        action="constructionList",
        status=f"Athens: queued {total} upgrades | total {remaining_time(total * hour)}",
    )
    for done in range(total + 1):
        level = 3 + done
        save_process_details(
            target,
            pid,
            {
                "action": "constructionList",
                "city": {"id": "1", "name": "Athens"},
                "buildings": [
                    {
                        "name": "Academy",
                        "current_level": level,
                        "target_level": 3 + total,
                        "status": "building" if done < total else "done",
                    }
                ],
                "progress": {"done": done, "total": total, "unit": "levels"},
            },
        )
        if done < total:  # ikabot's status names the level being built, up to the target
            set_entry(
                target,
                pid,
                status=f"Athens: Academy -> level {level + 1} , current "
                f"{remaining_time(hour)} , total "
                f"{remaining_time((total - done) * hour)}",
            )
            time.sleep(step)


def web_server(target: Target, pid: int) -> None:
    """webServer: really listens on a loopback port, and says where."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<h1>ikabot web server (telebot demo)</h1>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    port = server.server_address[1]
    set_entry(target, pid, action="webServer", status=f"running on http://127.0.0.1:{port} ")
    save_process_details(
        target,
        pid,
        {
            "action": "webServer",
            "port": port,
            "custom_port": False,
            "urls": [f"http://127.0.0.1:{port}"],
        },
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    threading.Event().wait()


def main(argv: list[str]) -> int:
    kind, path, email, username, world, server = argv[:6]
    total = int(argv[6]) if len(argv) > 6 else 10
    step = float(argv[7]) if len(argv) > 7 else 1.0
    target = Target(email, username, world, server, None, Path(path))
    pid = os.getpid()
    if kind == "autoPirate":
        pirate(target, pid, total, step)
    elif kind == "constructionList":
        construction(target, pid, total, step)
    elif kind == "webServer":
        web_server(target, pid)
    else:
        print(f"unknown demo task {kind}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
