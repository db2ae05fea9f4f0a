"""ikabot's log in test processes goes into a temporary directory, never `/tmp/ikabot.log`.

ikabot attaches its rotating file handler when `ikabot.helpers.logging` is first imported, at
the path `ikabot.config.LOGS_DIRECTORY_FILE` holds then (`/tmp/ikabot.log` on Linux, not
configurable): that is the player's real log on a Raspberry Pi. conftest imports this module
before anything imports ikabot's logging. Child processes (a task written in a test, a
`python -c` that imports ikabot) get the same through a `sitecustomize` on their PYTHONPATH,
which points ikabot's log at `TEST_IKABOT_LOG_FILE` before any of their code runs; tasks that
want their own log file (`ikabotdata.IKABOT_TASK`) set it again themselves.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import ikabot.config

HOST_LOG = Path("/tmp/ikabot.log")
ENV = "TEST_IKABOT_LOG_FILE"  # not TELEBOT_/IKABOT_: clean_env keeps it for the CLI's children
_INHERITED = os.environ.get(ENV)  # a test's child process: its parent's directory
_DIR = (
    Path(_INHERITED).parent
    if _INHERITED and Path(_INHERITED).parent.is_dir()
    else Path(tempfile.mkdtemp(prefix="telebot-tests-ikabot-log-"))
)
# the directory this process made (None: its parent's), removed when it ends, even by SIGKILL
# (tests/sessionguard.py)
MADE = None if (Path(_INHERITED).parent if _INHERITED else None) == _DIR else _DIR
TEST_IKABOT_LOG = _DIR / "ikabot.log"

_SITECUSTOMIZE = '''"""telebot's tests: ikabot's log into a temp dir (tests/ikabotlog.py)."""
import os

if os.environ.get("TEST_IKABOT_LOG_FILE"):
    try:
        import ikabot.config
    except ImportError:
        pass
    else:
        ikabot.config.LOGS_DIRECTORY_FILE = os.environ["TEST_IKABOT_LOG_FILE"]
'''

ikabot.config.LOGS_DIRECTORY_FILE = str(TEST_IKABOT_LOG)
if MADE is not None:
    (_DIR / "site").mkdir()
    (_DIR / "site" / "sitecustomize.py").write_text(_SITECUSTOMIZE)
os.environ[ENV] = str(TEST_IKABOT_LOG)
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(_DIR / "site"), os.environ.get("PYTHONPATH", "")) if p
)
if MADE is not None:
    atexit.register(shutil.rmtree, _DIR, True)
