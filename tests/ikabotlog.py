"""ikabot's log in the test process goes into a temporary directory, never `/tmp/ikabot.log`.

ikabot attaches its rotating file handler when `ikabot.helpers.logging` is first imported, at
the path `ikabot.config.LOGS_DIRECTORY_FILE` holds then (`/tmp/ikabot.log` on Linux, not
configurable): that is the player's real log on a Raspberry Pi. conftest imports this module
before anything imports ikabot's logging; child tasks set the same variable themselves
(`ikabotdata.IKABOT_TASK`), with the test's own log file.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import ikabot.config

HOST_LOG = Path("/tmp/ikabot.log")
_DIR = Path(tempfile.mkdtemp(prefix="telebot-tests-ikabot-log-"))
TEST_IKABOT_LOG = _DIR / "ikabot.log"
ikabot.config.LOGS_DIRECTORY_FILE = str(TEST_IKABOT_LOG)
atexit.register(shutil.rmtree, _DIR, True)
