"""`telebot status` and `telebot check` as real processes, on data written by ikabot."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from conftest import ALICE, BOB, CHAT, TOKEN
from ikabotdata import IkabotDir, LegacyFile

from telebot.demo.fakeapi import FakeBotAPI


def files_of(path: Path) -> dict[Path, bytes]:
    if path.is_file():
        return {path: path.read_bytes()}
    return {p: p.read_bytes() for p in path.rglob("*") if p.is_file()}


def test_status_json_directory_layout(ikabot_dir: IkabotDir, spawn, run_cli):
    pirate, web, dead = spawn(), spawn(), spawn()
    reused = spawn(ikabot=False)  # the pid now belongs to another program
    ikabot_dir.add_pirate(ALICE, pirate.pid)
    ikabot_dir.add_webserver(BOB, web.pid)
    ikabot_dir.add_task(ALICE, dead.pid, "autoPirate", "Mission 3/10 complete")
    ikabot_dir.add_task(ALICE, reused.pid, "constructionList", date=time.time() - 7200)
    dead.kill()
    dead.wait()
    before = files_of(ikabot_dir.path)
    r = run_cli("status", "--json", IKABOT_PATH=str(ikabot_dir.path))
    assert r.code == 0, r.err
    procs = {p["pid"]: p for p in json.loads(r.out)["processes"]}
    assert set(procs) == {pirate.pid, web.pid, dead.pid, reused.pid}
    p = procs[pirate.pid]
    assert (p["action"], p["username"], p["world"], p["server"]) == (
        "autoPirate",
        "alice",
        "59",
        "en",
    )
    assert p["alive"] and p["state"] == "running"
    assert p["progress"]["done"] == 5 and p["progress"]["total"] == 10
    w = procs[web.pid]
    assert w["username"] == "bob" and w["urls"] == [
        "http://127.0.0.1:43527",
        "http://192.168.1.100:43527",
    ]
    assert not procs[dead.pid]["alive"] and procs[dead.pid]["state"] == "dead"
    assert procs[dead.pid]["progress"]["done"] == 3
    assert not procs[reused.pid]["alive"]
    assert files_of(ikabot_dir.path) == before


def test_status_json_legacy_layout(legacy_file: LegacyFile, spawn, run_cli):
    p = spawn()
    legacy_file.add_task(ALICE, p.pid, "autoPirate", "Mission 5/10 complete")
    r = run_cli(
        "status",
        "--json",
        IKABOT_PATH=str(legacy_file.path),
        IKABOT_EMAIL=ALICE.email,
        IKABOT_PASSWORD=ALICE.password,
    )
    assert r.code == 0, r.err
    (proc,) = json.loads(r.out)["processes"]
    assert proc["pid"] == p.pid and proc["progress"] == {"done": 5, "total": 10, "unit": "missions"}
    assert ALICE.password not in r.out + r.err


def test_status_table(ikabot_dir: IkabotDir, spawn, run_cli):
    p = spawn()
    ikabot_dir.add_task(ALICE, p.pid, "autoPirate", "Mission 5/10 complete")
    r = run_cli("status", IKABOT_PATH=str(ikabot_dir.path))
    assert r.code == 0
    assert "PID" in r.out and "[#####.....] 5 of 10 missions done" in r.out and str(p.pid) in r.out


def test_check_reports_everything_and_asks_getme(ikabot_dir: IkabotDir, spawn, run_cli):
    ikabot_dir.add_task(ALICE, spawn().pid, "autoPirate")
    with FakeBotAPI(token=TOKEN) as api:
        r = run_cli("check", IKABOT_PATH=str(ikabot_dir.path), TELEGRAM_API_BASE_URL=api.base_url)
        # the chat is asked too, and nothing is sent to it without --send-test
        assert [c.method for c in api.calls] == ["getMe", "getChat", "sendChatAction"]
        assert not api.sent()
    assert r.code == 0, r.err
    assert "directory layout" in r.out and "tasks: 1 recorded, 1 running" in r.out
    assert "token 123:***" in r.out and f"chat {CHAT}" in r.out
    assert "@telebot_test_bot" in r.out and f"chat {CHAT}: private chat" in r.out
    assert "settings: environment only (no .env in" in r.out
    assert TOKEN not in r.out + r.err


@pytest.mark.parametrize(
    ("state", "says"),
    [
        ("missing", "TELEBOT_CHAT_ID (or ikabot's chatId) is wrong"),
        ("blocked", "(403: bot was blocked by the user): open the bot in Telegram and press Start"),
        (
            "unstarted",
            "(403: bot can't initiate conversation with a user): open the bot in "
            "Telegram and press Start",
        ),
        ("kicked", "the bot is not in the group"),
    ],
)
def test_check_names_a_chat_that_refuses_the_bot(
    state: str, says: str, ikabot_dir: IkabotDir, run_cli
):
    """A wrong chat id, a bot never started or blocked, a group without the bot: `check`
    says which, in one line, with what to do, and exits 2."""
    with FakeBotAPI(token=TOKEN) as api:
        api.set_chat(int(CHAT), state)
        r = run_cli("check", IKABOT_PATH=str(ikabot_dir.path), TELEGRAM_API_BASE_URL=api.base_url)
    assert r.code == 2, r.out + r.err
    assert r.err.startswith("telebot: ") and r.err.count("\n") == 1 and says in r.err, r.err
    assert "all good" not in r.out and TOKEN not in r.out + r.err


@pytest.mark.parametrize(
    ("lang", "state", "says"),
    [
        (
            "es",
            "blocked",
            "(403: bot was blocked by the user): abre el bot en Telegram y pulsa Iniciar",
        ),
        ("pt", "missing", "TELEBOT_CHAT_ID (ou o chatId do ikabot) está errado"),
        ("es", "kicked", "el bot no está en el grupo"),
        ("pt", "ok", f"chat {CHAT}: chat privado"),
        ("es", "send-test", "mensaje de prueba enviado"),
    ],
)
def test_the_chats_verdict_speaks_telebot_lang(
    lang: str, state: str, says: str, ikabot_dir: IkabotDir, run_cli
):
    """The chat check's line, good or bad, and the test message, in TELEBOT_LANG (Telegram's
    own refusal stays as Telegram said it)."""
    with FakeBotAPI(token=TOKEN) as api:
        if state not in ("ok", "send-test"):
            api.set_chat(int(CHAT), state)
        extra = ("--send-test",) if state == "send-test" else ()
        r = run_cli(
            "check",
            *extra,
            IKABOT_PATH=str(ikabot_dir.path),
            TELEGRAM_API_BASE_URL=api.base_url,
            TELEBOT_LANG=lang,
        )
        sent = api.sent(int(CHAT))
    assert (r.code == 0) == (state in ("ok", "send-test")), r.out + r.err
    assert says in r.out + r.err, r.out + r.err
    if sent:
        assert sent[0]["text"] == "✅ telebot check: este chat recibe las alertas de telebot."


def test_check_send_test_sends_one_message_and_reads_the_canonical_env(
    ikabot_dir: IkabotDir, run_cli, tmp_path: Path
):
    """`--send-test` sends one message; the settings come from ~/.config/telebot/.env, which
    `check` names."""
    env_file = tmp_path / "clihome" / ".config" / "telebot" / ".env"
    env_file.parent.mkdir(parents=True)
    env_file.write_text(f"IKABOT_PATH={ikabot_dir.path}\n")
    env_file.chmod(0o600)
    with FakeBotAPI(token=TOKEN) as api:
        r = run_cli("check", "--send-test", TELEGRAM_API_BASE_URL=api.base_url)
        sent = api.sent(int(CHAT))
    assert r.code == 0, r.err
    assert f"settings: {env_file}" in r.out and "a test message sent" in r.out
    assert len(sent) == 1 and "telebot check" in sent[0]["text"]


def test_check_names_ikabots_log(ikabot_dir: IkabotDir, tmp_path: Path, run_cli):
    log = tmp_path / "ikabot.log"
    with FakeBotAPI(token=TOKEN) as api:
        missing = run_cli(
            "check",
            IKABOT_PATH=str(ikabot_dir.path),
            IKABOT_LOG=str(log),
            TELEGRAM_API_BASE_URL=api.base_url,
        )
        log.write_text("")
        present = run_cli(
            "check",
            IKABOT_PATH=str(ikabot_dir.path),
            IKABOT_LOG=str(log),
            TELEGRAM_API_BASE_URL=api.base_url,
        )
    assert missing.code == 0 and f"warning: ikabot's log: {log} does not exist" in missing.out
    assert present.code == 0 and f"ikabot's log: {log} (read to tell" in present.out


def test_check_rejected_token(ikabot_dir: IkabotDir, run_cli):
    with FakeBotAPI(token="999:OTHER") as api:
        r = run_cli("check", IKABOT_PATH=str(ikabot_dir.path), TELEGRAM_API_BASE_URL=api.base_url)
    assert r.code == 2 and "rejected the bot token" in r.err
    assert TOKEN not in r.out + r.err and "Traceback" not in r.err


def test_check_without_telegram_config(tmp_path: Path, run_cli):
    d = IkabotDir(tmp_path / "h")  # ikabot set up without Telegram
    r = run_cli("check", IKABOT_PATH=str(d.path))
    assert r.code == 2
    assert r.err.count("\n") == 1 and "TELEBOT_TOKEN" in r.err and "Traceback" not in r.err


@pytest.mark.parametrize(
    "case", ["missing", "wrong_password", "unknown_email", "empty", "corrupt", "bad_number"]
)
def test_bad_input_exit_2_one_line(
    case: str, legacy_file: LegacyFile, spawn, run_cli, tmp_path: Path
):
    legacy_file.add_task(ALICE, spawn().pid, "autoPirate")
    env = {
        "IKABOT_PATH": str(legacy_file.path),
        "IKABOT_EMAIL": ALICE.email,
        "IKABOT_PASSWORD": ALICE.password,
    }
    secret = "Wr0ng-Secret"
    if case == "missing":
        env["IKABOT_PATH"] = str(tmp_path / "nowhere")
    elif case == "wrong_password":
        env["IKABOT_PASSWORD"] = secret
    elif case == "unknown_email":
        env["IKABOT_EMAIL"] = "stranger@example.org"
    elif case == "empty":
        legacy_file.path.write_text("")
    elif case == "corrupt":
        legacy_file.path.write_text("not ikabot at all\n")
    elif case == "bad_number":
        env["TELEBOT_SCAN_SECONDS"] = "soon"
    before = files_of(legacy_file.path)
    for command in (["status"], ["status", "--json"], ["check"]):
        r = run_cli(*command, **env)
        assert r.code == 2, (case, command, r.err)
        assert r.err.startswith("telebot: ") and r.err.count("\n") == 1
        assert "Traceback" not in r.err
        # `check` names the settings file it read before anything (#17), then stops
        assert (
            r.out == ""
            if command != ["check"]
            else r.out.startswith("settings: ") and r.out.count("\n") == 1
        ), r.out
        assert secret not in r.err and ALICE.password not in r.err
    assert files_of(legacy_file.path) == before


def test_usage_errors(run_cli):
    r = run_cli("frobnicate")
    assert r.code == 2 and "invalid choice" in r.err
    assert run_cli().code == 2


def test_help_names_every_environment_variable(run_cli):
    """Each command's --help names the environment variables and .env (docs/contract.md,
    section 2)."""
    import inspect

    from telebot.config import Settings

    names = {
        "IKABOT_PATH",
        "IKABOT_EMAIL",
        "IKABOT_PASSWORD",
        "IKABOT_LOG",
        "TELEBOT_TOKEN",
        "TELEBOT_CHAT_ID",
        "TELEGRAM_API_BASE_URL",
        "TELEBOT_STATE_DIR",
        "TELEBOT_POLL_SECONDS",
        "TELEBOT_CONFIRM_AFTER_MINUTES",
        "TELEBOT_SCAN_SECONDS",
        "TELEBOT_REPORT_MINUTES",
        "TELEBOT_STALL_MINUTES",
        "TELEBOT_OWNER_IDS",
        "TELEBOT_HOST_LABEL",
        "TELEBOT_ALLOW_KILL",
        "TELEBOT_HEARTBEAT_URL",
        "TELEBOT_HEARTBEAT_MINUTES",
        "TELEBOT_TZ",
        "TELEBOT_ALLOW_MENU",
        "IKABOT_COMMAND",
        "TELEBOT_REPORT_PICTURE",
        "TELEBOT_LANG",
        "TELEBOT_KEEPALIVE",
        "TELEBOT_KEEPALIVE_MAX",
        "TELEBOT_KEEPALIVE_LOGIN",
        "TELEBOT_KEEPALIVE_BACKOFF_SECONDS",
    }
    read = set(
        re.findall(r'"((?:IKABOT|TELEBOT|TELEGRAM)_[A-Z_]+)"', inspect.getsource(Settings.from_env))
    )
    assert read and read <= names  # a variable Settings reads but the help would not name
    for command in ("run", "status", "check"):
        r = run_cli(command, "--help")
        assert r.code == 0 and ".env" in r.out
        assert all(n in r.out for n in names), command


def test_status_keeps_terminal_escapes_and_long_fields_out(ikabot_dir: IkabotDir, spawn, run_cli):
    """A status can hold anything: it must not retitle the terminal, clear it, or turn text
    around (U+202E), and a 5,000-character action stays one short cell."""
    p = spawn()
    ikabot_dir.add_task(
        ALICE, p.pid, "x" * 5000, "\x1b]0;pwned\x07\x1b[2J\u202eevil\u202c Pirating for 3 more runs"
    )
    r = run_cli("status", IKABOT_PATH=str(ikabot_dir.path))
    assert r.code == 0, r.err
    assert not any(c in r.out for c in ("\x1b", "\x07", "\u202e", "\u202c"))
    assert "pwned" in r.out and "x" * 5000 not in r.out and max(map(len, r.out.splitlines())) < 600
    r = run_cli("status", "--json", IKABOT_PATH=str(ikabot_dir.path))
    assert "\x1b" not in r.out and json.loads(r.out)["processes"][0]["action"] == "x" * 5000


def test_check_tells_a_wrong_base_url_from_a_wrong_token(ikabot_dir: IkabotDir, run_cli):
    """A base URL answering 404 is not a rejected token; a token pasted into the base URL is
    never printed back."""
    secret = "123456789:AAHk-SECRETSECRETSECRETSECRET_xyz"
    with FakeBotAPI(token=TOKEN) as api:
        wrong = api.base_url.rsplit("/bot", 1)[0] + "/nobot/"
        r = run_cli("check", IKABOT_PATH=str(ikabot_dir.path), TELEGRAM_API_BASE_URL=wrong)
        assert r.code == 2 and "404 Not Found" in r.err and "TELEGRAM_API_BASE_URL" in r.err, r.err
        assert "rejected the bot token" not in r.err
        pasted = f"http://127.0.0.1:1/bot{secret}/"
        r = run_cli("check", IKABOT_PATH=str(ikabot_dir.path), TELEGRAM_API_BASE_URL=pasted)
    assert r.code == 2 and r.err.count("\n") == 1, r.err
    assert secret not in r.out + r.err and secret.split(":")[1] not in r.out + r.err


@pytest.mark.parametrize(
    "env",
    [
        {"TELEBOT_SCAN_SECONDS": "1e308"},
        {"TELEBOT_REPORT_MINUTES": "1e308"},
        {"TELEBOT_POLL_SECONDS": "nan"},
        {"TELEBOT_STALL_MINUTES": "-1"},
        {"TELEBOT_STATE_DIR": "/dev/null/x"},
    ],
)
def test_bad_settings_are_one_line_and_exit_2(ikabot_dir: IkabotDir, run_cli, env):
    with FakeBotAPI(token=TOKEN) as api:
        r = run_cli(
            "run",
            IKABOT_PATH=str(ikabot_dir.path),
            TELEGRAM_API_BASE_URL=api.base_url,
            timeout=30,
            **env,
        )
    (name,) = env
    assert r.code == 2 and r.err.count("\n") == 1, r.err
    assert name in r.err and "Traceback" not in r.err and "internal error" not in r.err


def test_undated_entries_are_not_aged_from_1970(ikabot_dir: IkabotDir, spawn, run_cli):
    """ikabot's `"date": 0` (or none) means the start is unknown: no `20792 d` anywhere."""
    from util import dead_pid

    from telebot.config import Settings
    from telebot.ikabot.store import open_store
    from telebot.tasks.merge import build_tasks
    from telebot.views import render
    from telebot.views.page import details_html

    live, gone = spawn(), dead_pid()
    ikabot_dir.add_task(ALICE, live.pid, "autoPirate", "Pirating for 3 more runs", date=0)
    ikabot_dir.add_task(BOB, gone, "webServer", "started", date=0)
    r = run_cli("status", IKABOT_PATH=str(ikabot_dir.path))
    assert r.code == 0, r.err
    tasks = build_tasks(open_store(Settings(ikabot_path=ikabot_dir.path)).read())
    assert {live.pid, gone} <= {t.pid for t in tasks}
    now = time.time()
    shown = {
        "telebot status": r.out,
        "/status": "\n".join(p.text for p in render.status_view(tasks, now)),
        "stopped": render.stopped_page(tasks, 0, now).text,
        **{f"/details {t.pid}": details_html(t, now) for t in tasks},
    }
    for where, text in shown.items():
        assert not re.search(r"\b\d{4,} d\b|1970", text), f"{where}: {text}"
    assert r.out.count("start unknown") == 2, r.out
    assert all("Started: unknown" in details_html(t, now) for t in tasks)


@pytest.mark.parametrize("line", ["TELEBOT_SCAN_SECONDS=soon", "IKABOT_PATH={missing}"])
def test_check_names_the_settings_file_before_a_check_fails(tmp_path: Path, run_cli, line: str):
    """#17: whatever `check` finds wrong, it first says which settings file it read."""
    env_file = tmp_path / "clihome" / ".config" / "telebot" / ".env"
    env_file.parent.mkdir(parents=True)
    env_file.write_text(line.format(missing=tmp_path / "nowhere" / "data") + "\n")
    env_file.chmod(0o600)
    r = run_cli("check")
    assert r.code == 2, r.out + r.err
    assert r.out.startswith(f"settings: {env_file}\n"), r.out
    assert "Traceback" not in r.err


@pytest.mark.parametrize("layout", ["directory", "legacy"])
@pytest.mark.parametrize("json_flag", [True, False])
def test_status_prints_each_warning_once(
    ikabot_dir: IkabotDir, legacy_file: LegacyFile, spawn, run_cli, layout: str, json_flag: bool
):
    data = ikabot_dir if layout == "directory" else legacy_file
    data.add_task(ALICE, spawn().pid, "autoPirate", "Pirating for 3 more runs", date=0)
    r = run_cli(
        "status",
        *(["--json"] if json_flag else []),
        IKABOT_PATH=str(data.path),
        IKABOT_EMAIL=ALICE.email,
        IKABOT_PASSWORD=ALICE.password,
    )
    assert r.code == 0, r.err
    lines = r.err.splitlines()
    assert lines and len(lines) == len(set(lines)), r.err


def test_every_command_help_says_what_it_does_and_dash_v_is_version(capsys):
    from telebot import __version__, cli

    for name, help_line in (
        ("run", "SIGTERM"),
        ("status", "/status"),
        ("check", "set-up"),
        ("health", "HEALTHCHECK"),
        ("demo", "no account"),
    ):
        assert cli.main([name, "--help"]) == 0
        out = capsys.readouterr().out
        described = out.split("\n\n")[1]  # argparse: usage, then the description
        assert described.startswith(f"telebot {name}:") and help_line in described, out
    assert cli.main(["-V"]) == 0
    assert capsys.readouterr().out.strip() == f"telebot {__version__}"
    assert cli.main(["--help"]) == 0
    assert "beside ikabot)" not in capsys.readouterr().out
