"""An idle telebot loads only what an idle telebot uses (issue 28, item 3: ≤ 60 MB RSS).

`telebot run` as its own process (`python -m telebot run`, with an `atexit` that writes the
names in `sys.modules` when it stops), watching ikabot tasks, scanning, answering /status and
alerting a death: the modules below must not be among them. Each is loaded where it is needed
(the menu's terminal emulator at the first /menu, matplotlib at the first /timeline,
prometheus-client when metrics are on, pycryptodome for ikabot's encrypted legacy data,
psutil for /kill and /menu), and together they are ~12 MB of an idle telebot's memory
(BENCHMARKS.md, "Idle cost").
"""

from __future__ import annotations

import signal
import subprocess
import sys

from botharness import OWNER
from conftest import ALICE, clean_env
from test_alerts import alerts, pirate

NOT_AT_IDLE = {
    "pyte": "the menu's terminal emulator (the first /menu imports it)",
    "wcwidth": "pyte's width tables",
    "ptyprocess": "the menu's pseudo-terminal",
    "matplotlib": "/timeline's picture",
    "prometheus_client": "TELEBOT_METRICS_ADDR / TELEBOT_METRICS_FILE",
    "Crypto": "ikabot's encrypted legacy data (this data is the directory layout)",
    "cryptography": "python-telegram-bot's Telegram Passport (never used)",
    "psutil": "/kill's owner check and /menu's new tasks",
}


# `python -m telebot run`, and at its clean exit the modules it had loaded, one a line
PROBE = """
import atexit, runpy, sys
OUT = sys.argv[1]
def names():
    with open(OUT, "w") as out:
        out.write("\\n".join(n for n, m in sys.modules.items() if m is not None))
atexit.register(names)
sys.argv = ["telebot", "run"]
runpy.run_module("telebot", run_name="__main__", alter_sys=True)
"""


def test_an_idle_telebot_has_not_imported_the_menu_the_timeline_or_metrics(
    ikabot_dir, spawn, api, tmp_path
):
    tasks = [pirate(ikabot_dir, spawn, done=i) for i in range(3)]
    ikabot_dir.add_task(ALICE, spawn().pid, "constructionList", "Athens: queued 2 upgrades")
    loaded_file = tmp_path / "modules"
    env = clean_env(
        tmp_path,
        IKABOT_PATH=str(ikabot_dir.path),
        TELEGRAM_API_BASE_URL=api.base_url,
        TELEBOT_POLL_SECONDS="0.05",
        TELEBOT_SCAN_SECONDS="0.2",
        TELEBOT_STATE_DIR=str(tmp_path / "state"),
    )
    bot = subprocess.Popen(
        [sys.executable, "-c", PROBE, str(loaded_file)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert api.wait_for(
            lambda: any("telebot is watching" in m["text"] for m in api.sent(OWNER)), 30
        )
        api.add_message("/status", chat_id=OWNER)
        assert api.wait_for(lambda: any("ikabot tasks" in m["text"] for m in api.sent(OWNER)), 30)
        tasks[0].kill()
        tasks[0].wait()
        assert api.wait_for(lambda: alerts(api, "killed"), 30)
        # and a few idle scans (every 0.2 s) and polls after it: 40 polls ≈ 2 s
        polls = sum(c.method == "getUpdates" for c in api.calls)
        assert api.wait_for(
            lambda: sum(c.method == "getUpdates" for c in api.calls) >= polls + 40, 60
        )
    finally:
        bot.send_signal(signal.SIGTERM)
        assert bot.wait(30) == 0
    names = {name.split(".")[0] for name in loaded_file.read_text().split()}
    assert {"telegram", "telebot", "sqlite3"} <= names  # the probe sees imports at all
    loaded = {name: why for name, why in NOT_AT_IDLE.items() if name in names}
    assert not loaded, f"imported by an idle telebot: {loaded}"
