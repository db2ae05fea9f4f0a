"""`telebot demo` end to end, and the deployment files."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from util import DEADLINE

ROOT = Path(__file__).resolve().parent.parent


def test_demo_shows_the_whole_product(run_cli):
    r = run_cli("demo", timeout=60)
    assert r.code == 0, r.err
    out = r.out
    assert "👤 you: /status" in out and "ikabot tasks: 4 running" in out
    # the tasks are listed in the order the demo started them, the same on every run
    started = re.search(
        r"autoPirate \(pid (\d+), 5 runs\), webServer \(pid (\d+)\), "
        r"constructionList, and a second autoPirate \(pid (\d+)\)",
        out,
    )
    assert started, out
    status = out[out.index("👤 you: /status") : out.index("[taps")]
    listed = [int(pid) for pid in re.findall(r"🟢 \w+ (\d+)", status)]
    first, web, doomed = (int(pid) for pid in started.groups())
    assert listed[0] == first and listed[1] == web and listed[3] == doomed, status
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
    details = out[out.index("👤 you: /details") :]
    # the bar on a line of its own, after the sentence, never inside it
    ended = next(line for line in details.splitlines() if "Ended:" in line)
    assert ended.strip().startswith("Ended: finished: 5 of 5 runs done") and "█" not in ended
    below = details.splitlines()[details.splitlines().index(ended) + 1]
    assert below.strip() == "██████████"
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
    # an alert's few ms of CPU come first when the cores are contended (BENCHMARKS.md)
    assert int(unit["Service"]["CPUWeight"]) > 100  # systemd's default is 100
    # a private /tmp would hide ikabot's log (/tmp/ikabot.log) from telebot
    assert unit["Service"].get("PrivateTmp", "false") == "false"
    assert "pypi.org" not in (ROOT / "deploy" / "telebot.service").read_text()  # not there
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed")
    r = subprocess.run(
        [
            "systemd-analyze",
            "verify",
            "--user",
            "--man=no",
            str(ROOT / "deploy" / "telebot.service"),
        ],
        capture_output=True,
        text=True,
    )
    # the binary path exists only once installed; every other complaint is a real error
    problems = [
        ln
        for ln in (r.stdout + r.stderr).splitlines()
        if ln.strip()
        and "is not executable" not in ln
        and "No such file" not in ln
        and "Failed to " not in ln
        and "systemd-analyze" not in ln
    ]
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
    r = subprocess.run(
        [sys.executable, "-m", "telebot", "--version"], capture_output=True, text=True
    )
    assert r.returncode == 0 and r.stdout.startswith("telebot ")


def test_demo_stops_its_tasks_on_sigterm(tmp_path):
    """A demo ended by SIGTERM (a service manager, `kill`) leaves no task process behind."""
    import signal
    import time

    import psutil
    from conftest import clean_env

    p = subprocess.Popen(
        [sys.executable, "-m", "telebot", "demo", "--keep-running"],
        env=clean_env(tmp_path),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert p.stdout is not None
        for line in p.stdout:
            if "--keep-running" in line:
                break
        children = psutil.Process(p.pid).children(recursive=True)
        assert len(children) >= 3  # the demo's ikabot-style tasks
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=30)
        deadline = time.monotonic() + DEADLINE
        while (
            any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children)
            and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        assert not [
            c.pid for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE
        ]
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
    assert (
        status == f"Athens: Academy -> level {target} , current {ikabot_time(3600)} , "
        f"total {ikabot_time(3600)}"
    )


# Installed in every Python process of a demo under test (its PYTHONPATH): a connection,
# datagram or name lookup that would leave the machine is written down and refused.
NET_GUARD = """
import ipaddress, os, sys

def _local(host):
    if host is None or host in ("", "localhost"):
        return True
    if not isinstance(host, str):
        return False
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False

def _hook(event, args):
    if not event.startswith("socket."):
        return
    if event in ("socket.connect", "socket.sendto"):
        if not isinstance(args[1], tuple):
            return  # a Unix socket (ikabot's multiprocessing manager)
        host = args[1][0]
    elif event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex"):
        host = args[0]
    else:
        return
    if not _local(host):
        with open(os.environ["TEST_NET_LOG"], "a") as f:
            f.write(f"pid {os.getpid()} {event} {host!r} {sys.argv[:2]}\\n")
        raise ConnectionRefusedError("the test lets nothing leave loopback")

sys.addaudithook(_hook)
"""


class Demo:
    """`telebot demo --keep-running` as a process: its lines collected, lines typed in."""

    def __init__(self, tmp_path: Path) -> None:
        import threading

        import ikabotlog
        from conftest import clean_env

        site = tmp_path / "netguard"
        site.mkdir()
        (site / "sitecustomize.py").write_text(NET_GUARD + ikabotlog._SITECUSTOMIZE)
        self.net_log = tmp_path / "net.log"
        env = clean_env(tmp_path, TEST_NET_LOG=str(self.net_log))
        env["PYTHONPATH"] = os.pathsep.join([str(site), str(ROOT)])
        self.lines: list[str] = []
        self.p = subprocess.Popen(
            [sys.executable, "-m", "telebot", "demo", "--keep-running"],
            env=env,
            cwd=tmp_path,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.err: list[str] = []
        threading.Thread(target=self._read, args=(self.p.stdout, self.lines), daemon=True).start()
        threading.Thread(target=self._read, args=(self.p.stderr, self.err), daemon=True).start()

    @staticmethod
    def _read(stream, into: list[str]) -> None:
        for line in stream:
            into.append(line)

    @property
    def out(self) -> str:
        return "".join(self.lines)

    def shows(self, text: str, after: int = 0, timeout: float = 60) -> int:
        """Wait for `text` in the output after character `after`; returns where it ends."""
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.p.poll() is None:
            at = self.out.find(text, after)
            if at >= 0:
                return at + len(text)
            time.sleep(0.05)
        raise AssertionError(
            f"the demo never showed {text!r}:\n{self.out[after:][-3000:]}"
            f"\n{''.join(self.err)[-2000:]}"
        )

    def types(self, line: str) -> None:
        assert self.p.stdin is not None
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()

    def stop(self) -> None:
        import signal

        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def test_demo_menu_is_ikabots_menu_offline_and_nothing_leaves_loopback(tmp_path):
    """/menu in the demo opens ikabot's own menu with the network stubbed, on the demo's
    sample data, never the ikabot installed beside telebot (whose login would take what the
    player types to the game): no socket of the demo, its tasks or its menu leaves loopback."""
    import psutil

    demo = Demo(tmp_path)
    try:
        at = demo.shows("--keep-running")
        at = demo.shows("never your real ikabot", at)
        demo.types("/menu")
        at = demo.shows("📟 ikabot's menu", at)
        at = demo.shows("Mail:", at)
        menu = []
        for c in psutil.Process(demo.p.pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):  # a finished task, a zombie
                if "offline_ikabot" in " ".join(c.cmdline()):
                    menu.append(c)
        assert menu, "the menu is not the demo's offline ikabot"
        demo.types("demo.player@example.org")
        at = demo.shows("Player:DemoPlayer", at)  # logged in as the sample's account
        at = demo.shows("(17) Auto-Pirate", at)  # ikabot's own menu
        demo.types("17")
        demo.shows("How many pirate missions", at)  # autoPirate's first question
    finally:
        demo.stop()
    assert not demo.net_log.exists(), demo.net_log.read_text()
    assert "Traceback" not in "".join(demo.err), "".join(demo.err)[-3000:]


def test_demo_menu_without_ikabot_says_it_is_not_part_of_the_demo(monkeypatch, tmp_path):
    """Where ikabot is not installed, /menu in the demo says so (it never looks for an ikabot
    elsewhere)."""
    from telebot.demo import offline_ikabot
    from telebot.demo.run import DemoWorld

    monkeypatch.setattr(offline_ikabot, "available", lambda: False)
    argv = DemoWorld(tmp_path).menu_command()
    r = subprocess.run(argv, input="\n", capture_output=True, text=True, timeout=30)
    assert "its menu is not part of this demo" in r.stdout and r.returncode == 0, r
    assert not any("ikabot" in Path(a).name for a in argv)
