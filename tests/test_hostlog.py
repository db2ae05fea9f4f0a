"""The player's real ikabot log (`/tmp/ikabot.log`) is never written or read by the tests or
the demo (`.ci/run` also compares it before and after the suite)."""

from __future__ import annotations

from pathlib import Path

import ikabotlog


def test_ikabots_logging_in_the_test_process_writes_into_a_temp_dir():
    import logging

    import ikabot.helpers.logging as ikabot_logging

    handler = ikabot_logging.rotatingFileHandler
    assert Path(handler.baseFilename) == ikabotlog.TEST_IKABOT_LOG
    assert Path(handler.baseFilename) != ikabotlog.HOST_LOG
    files = {
        Path(h.baseFilename)
        for h in logging.getLogger().handlers
        if isinstance(h, logging.FileHandler)
    }
    assert ikabotlog.HOST_LOG not in files


def test_demo_reads_its_own_ikabot_log(monkeypatch):
    """`telebot demo` is a sample world: it reads its own (empty) log, whatever IKABOT_LOG
    or the host's /tmp/ikabot.log hold."""
    from telebot.bot import app
    from telebot.demo.run import run_demo

    opened: list[Path] = []

    class Recorded(app.IkabotLog):  # type: ignore[misc,name-defined]
        def __init__(self, path: Path, *args, **kwargs) -> None:
            opened.append(Path(path))
            super().__init__(path, *args, **kwargs)

    monkeypatch.setattr(app, "IkabotLog", Recorded)
    monkeypatch.setenv("IKABOT_LOG", str(ikabotlog.HOST_LOG))
    assert run_demo() == 0  # the whole conversation, every expected alert included
    assert opened and all(p != ikabotlog.HOST_LOG and p.name == "ikabot.log" for p in opened)


def test_a_child_python_that_imports_ikabots_logging_writes_into_the_temp_dir():
    """Any `python -c` a test starts (a task, a lock holder) inherits the redirection."""
    import subprocess
    import sys

    code = "import ikabot.helpers.logging as l; print(l.rotatingFileHandler.baseFilename)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()) == ikabotlog.TEST_IKABOT_LOG


def test_a_test_task_process_makes_no_temp_dirs_of_its_own(tmp_path):
    """Task processes import the test helpers and are killed (no atexit): they take their
    parent's directories instead of leaving an `ikabot-bin-*` or a log dir each. The child
    gets a temporary directory of its own, so another suite on this host making such
    directories in /tmp meanwhile is not counted."""
    import os
    import subprocess
    import sys

    child_tmp = tmp_path / "tmp"
    child_tmp.mkdir()

    def made() -> set[Path]:
        return {
            p
            for pattern in ("ikabot-bin-*", "telebot-tests-ikabot-log-*")
            for p in child_tmp.glob(pattern)
        }

    tests = str(Path(__file__).parent)
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([tests, os.environ.get("PYTHONPATH", "")]),
        TMPDIR=str(child_tmp),
    )
    subprocess.run(
        [sys.executable, "-c", "import os, ikabotlog, ikabotdata; os._exit(0)"],
        env=env,
        check=True,
        timeout=60,
    )
    assert made() == set()
