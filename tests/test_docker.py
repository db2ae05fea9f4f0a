"""The Docker files, checked without a Docker engine (none on the build machines): the
compose file's pid namespaces, the Dockerfile's stages and HEALTHCHECK, `.dockerignore`; the
HEALTHCHECK's command is run against a live telebot."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import yaml
from botharness import fast_settings, running_bot

ROOT = Path(__file__).resolve().parent.parent


def compose() -> dict:
    return yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    return [
        (ln.split(None, 1)[0].upper(), ln.split(None, 1)[1] if " " in ln.strip() else "")
        for ln in (x.strip() for x in text.splitlines())
        if ln and not ln.startswith("#")
    ]


def test_neither_ikabot_nor_telebot_owns_the_shared_pid_namespace():
    """Quitting ikabot's menu ends ikabot's container; if its menu were the namespace's first
    process, the kernel would kill telebot with it. A do-nothing container owns it instead."""
    services = compose()["services"]
    ikabot, telebot = services["ikabot"], services["telebot"]
    owner_name = ikabot["pid"].removeprefix("container:")
    assert telebot["pid"] == ikabot["pid"]  # the same pids on both sides
    (owner,) = [s for s in services.values() if s.get("container_name") == owner_name]
    assert owner is not ikabot and owner is not telebot and "pid" not in owner
    assert owner.get("init") is True  # a reaper as PID 1 (tasks whose menu is gone)
    assert owner.get("restart") == "unless-stopped"
    assert "build" not in owner and "stdin_open" not in owner  # nothing that could quit
    owner_service = next(k for k, v in services.items() if v is owner)
    assert all(owner_service in s["depends_on"] for s in (ikabot, telebot))


def test_compose_shares_data_and_log_read_only_and_sets_the_time_zone():
    services = compose()["services"]
    tb = services["telebot"]
    assert tb["environment"]["IKABOT_PATH"] and tb["environment"]["TELEBOT_STATE_DIR"]
    # the short form: `required:` in env_file needs Compose >= 2.24 (Debian has 1.29)
    assert all(isinstance(f, str) for f in tb.get("env_file", []))
    data_volume = services["ikabot"]["volumes"][0].split(":")[0]
    assert any(v.startswith(f"{data_volume}:") and v.endswith(":ro") for v in tb["volumes"])
    tmp_volume = next(
        v.split(":")[0] for v in services["ikabot"]["volumes"] if v.split(":")[1] == "/tmp"
    )
    mount = next(v for v in tb["volumes"] if v.startswith(f"{tmp_volume}:"))
    assert mount.endswith(":ro")
    assert tb["environment"]["IKABOT_LOG"] == mount.split(":")[1] + "/ikabot.log"
    assert "TZ" in tb["environment"] and "TZ" in services["ikabot"]["environment"]
    # how to show times in another zone than ikabot's is said where the settings are
    assert "# TELEBOT_TZ: " in (ROOT / "deploy" / "compose.yaml").read_text()


def test_dockerfile_builds_in_a_stage_with_a_compiler_and_runs_without_it():
    steps = dockerfile_instructions()
    froms = [arg for op, arg in steps if op == "FROM"]
    assert len(froms) == 2 and froms[0].endswith(" AS build")
    split = [i for i, (op, _) in enumerate(steps) if op == "FROM"][1]
    build, final = steps[:split], steps[split:]
    assert any(op == "RUN" and "gcc" in arg and "pip install" not in arg for op, arg in build)
    assert any(op == "RUN" and "pip install" in arg for op, arg in build)
    assert not any("gcc" in arg for _, arg in final)
    assert any(op == "COPY" and "--from=build" in arg for op, arg in final)
    assert any(op == "RUN" and "tzdata" in arg for op, arg in final)  # TZ works
    assert ("USER", "telebot") in final
    assert ("ENTRYPOINT", '["telebot"]') in final
    # every file the build copies is in the context, and .dockerignore keeps it out of nothing
    copied = [w for op, arg in build if op == "COPY" for w in arg.split()[:-1]]
    assert copied and all((ROOT / c).exists() for c in copied)
    ignored = [
        ln.strip()
        for ln in (ROOT / ".dockerignore").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    assert {".venv", ".git", ".env"} <= set(ignored)
    assert not set(copied) & set(ignored)


def healthcheck() -> list[str]:
    (arg,) = [arg for op, arg in dockerfile_instructions() if op == "HEALTHCHECK"]
    assert "--interval=" in arg and "--start-period=" in arg
    cmd = json.loads(arg.split("CMD", 1)[1])
    assert cmd[0] == "telebot"
    return cmd


async def test_the_healthcheck_command_says_a_live_telebot_is_healthy(
    ikabot_dir, api, tmp_path: Path
):
    cmd = [sys.executable, "-m", *healthcheck()]  # `telebot …` as the console script runs it
    s = fast_settings(ikabot_dir.path, api, tmp_path / "state")
    from conftest import clean_env

    env = clean_env(tmp_path, TELEBOT_STATE_DIR=str(s.state_dir))
    before = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert before.returncode == 1  # no telebot yet
    async with running_bot(s, api):
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("healthy"), r.stderr
