"""`telebot demo` end to end, and the deployment files."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_demo_shows_the_whole_product(run_cli):
    r = run_cli("demo", timeout=60)
    assert r.code == 0, r.err
    out = r.out
    assert "👤 you: /status" in out and "ikabot tasks: 4 running" in out
    assert re.search(r"run \d+ of (5|10) \(\d+ done\)", out)  # a progress figure
    assert "(edited its message)" in out  # Refresh edited in place
    assert re.search(r"http://127\.0\.0\.1:\d+ really answers: HTTP 200", out)  # a live URL
    assert re.search(r"Pirating for \d more runs", out)  # as ikabot's autoPirate writes it
    # kill -9: the alert states the run the narration saw it killed in
    said = re.search(r"killed during run (\d+) of 10, with (\d+) done", out)
    assert said, out
    assert f"💀 autoPirate killed (SIGKILL) during run {said[1]} of 10 ({said[2]} done)" in out
    assert "✅ autoPirate finished: 5 of 5 runs done" in out  # ended by itself, no error
    assert "✅ constructionList finished: 3 of 3 levels done" in out
    # /details a person reads: the same figure, no JSON, no epoch number
    details = out[out.index("👤 you: /details"):]
    assert "Ended: ██████████ finished: 5 of 5 runs done" in details
    assert "{" not in details and not re.search(r"\b1[789]\d{8}\b", details)
    assert " died" not in out  # nothing that ended by itself is reported as a death
    assert "Traceback" not in r.err and "123456:DEMO" not in out + r.err


def test_systemd_unit_parses():
    import configparser

    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(ROOT / "deploy" / "telebot.service")
    assert set(unit.sections()) == {"Unit", "Service", "Install"}
    assert unit["Service"]["ExecStart"].endswith("telebot run")
    assert unit["Service"]["Restart"] == "on-failure"
    # a hung loop is restarted too: telebot pings the watchdog from its loop (test_health)
    assert unit["Service"]["Type"] == "notify" and int(unit["Service"]["WatchdogSec"]) >= 30
    # the one settings file `telebot check` reads too: ~/.config/telebot/.env
    assert unit["Service"]["WorkingDirectory"] == "%h/.config/telebot"
    assert unit["Service"]["RestartPreventExitStatus"] == "2"  # a config error won't heal
    assert unit["Install"]["WantedBy"] == "default.target"  # a user unit
    # a private /tmp would hide ikabot's log (/tmp/ikabot.log) from telebot
    assert unit["Service"].get("PrivateTmp", "false") == "false"
    assert "pypi.org" not in (ROOT / "deploy" / "telebot.service").read_text()  # not there
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed")
    r = subprocess.run(["systemd-analyze", "verify", "--user", "--man=no",
                        str(ROOT / "deploy" / "telebot.service")],
                       capture_output=True, text=True)
    # the binary path exists only once installed; every other complaint is a real error
    problems = [ln for ln in (r.stdout + r.stderr).splitlines()
                if ln.strip() and "is not executable" not in ln and "No such file" not in ln
                and "Failed to " not in ln and "systemd-analyze" not in ln]
    assert problems == []


def test_refuses_world_readable_env_with_password(run_cli, tmp_path):
    env_file = tmp_path / "cwd" / ".env"
    env_file.parent.mkdir(exist_ok=True)
    env_file.write_text("IKABOT_PASSWORD=hunter2-secret\n")
    env_file.chmod(0o644)
    r = run_cli("status")
    assert r.code == 2 and "chmod 600" in r.err and "hunter2" not in r.err
    assert r.err.count("\n") == 1


def test_python_dash_m_works():
    r = subprocess.run([sys.executable, "-m", "telebot", "--version"], capture_output=True,
                       text=True)
    assert r.returncode == 0 and r.stdout.startswith("telebot ")



def test_demo_stops_its_tasks_on_sigterm(tmp_path):
    """A demo ended by SIGTERM (a service manager, `kill`) leaves no task process behind."""
    import signal
    import time

    import psutil
    from conftest import clean_env

    p = subprocess.Popen([sys.executable, "-m", "telebot", "demo", "--keep-running"],
                         env=clean_env(tmp_path), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert p.stdout is not None
        for line in p.stdout:
            if "--keep-running" in line:
                break
        children = psutil.Process(p.pid).children(recursive=True)
        assert len(children) >= 3  # the demo's ikabot-style tasks
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=30)
        deadline = time.monotonic() + 10
        while any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children) \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [c.pid for c in children
                    if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_demo_construction_writes_what_ikabot_writes(ikabot_dir):
    """The demo's constructionList statuses are ikabot 7.7.2's own (`_formatRemainingTime`:
    `3H`, `1H`, no `0D`/`0M`), and the last one names the queue's target level."""
    from conftest import ALICE
    from ikabot.function.constructionList import _formatRemainingTime as ikabot_time

    from telebot.demo import sample_tasks as tasks

    for seconds in (0, 1, 59, 60, 3600, 3660, 3720, 86400, 93784, 10800):
        assert tasks.remaining_time(seconds) == ikabot_time(seconds)
    ikabot_dir.add_task(ALICE, 4242, "constructionList")
    tasks.construction(ikabot_dir.target(ALICE), 4242, 3, 0.0)
    server = ikabot_dir.session_data(ALICE)
    status = server["processList"][0]["status"]
    target = server["processDetails"]["4242"]["buildings"][0]["target_level"]
    assert status == f"Athens: Academy -> level {target} , current {ikabot_time(3600)} , " \
                     f"total {ikabot_time(3600)}"
