"""Settings and the .env permission check."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from telebot.config import Settings, load_dotenv_file, mask_token
from telebot.errors import ConfigError

SECRET = "s3cr3t-pass"


def test_defaults_and_overrides(tmp_path: Path):
    s = Settings.from_env({"HOME": str(tmp_path)})
    assert s.poll_seconds == 3 and s.confirm_after_minutes == 30 and s.scan_seconds == 15
    assert s.report_minutes == 60 and s.stall_minutes == 0
    assert not s.dedicated_token
    s = Settings.from_env(
        {
            "IKABOT_PATH": str(tmp_path / "x"),
            "TELEBOT_TOKEN": "123:TEST",
            "TELEBOT_POLL_SECONDS": "0.5",
            "TELEBOT_STATE_DIR": str(tmp_path),
        }
    )
    assert s.ikabot_path == tmp_path / "x" and s.dedicated_token and s.poll_seconds == 0.5
    assert s.state_dir == tmp_path


@pytest.mark.parametrize("value", ["abc", "-1", "nan", "inf"])
def test_bad_number_is_one_clear_line(value: str):
    with pytest.raises(ConfigError) as e:
        Settings.from_env({"TELEBOT_SCAN_SECONDS": value})
    assert "TELEBOT_SCAN_SECONDS" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("value", ["0", "2", "4.9"])
def test_confirm_after_below_ikabots_reply_polling_is_refused(value: str, run_cli):
    """ikabot reads captcha answers every 3 minutes: confirming sooner takes them away."""
    with pytest.raises(ConfigError):
        Settings.from_env({"TELEBOT_CONFIRM_AFTER_MINUTES": value})
    assert Settings.from_env({"TELEBOT_CONFIRM_AFTER_MINUTES": "5"}).confirm_after_minutes == 5
    r = run_cli("run", TELEBOT_CONFIRM_AFTER_MINUTES=value)
    assert r.code == 2 and "Traceback" not in r.err
    (line,) = [x for x in r.err.splitlines() if x.strip()]
    assert "TELEBOT_CONFIRM_AFTER_MINUTES" in line and "5" in line


def test_settings_repr_hides_secrets(tmp_path: Path):
    s = Settings.from_env({"IKABOT_PASSWORD": SECRET, "TELEBOT_TOKEN": "123:TEST"})
    assert SECRET not in repr(s) and "123:TEST" not in repr(s)


def test_mask_token_keeps_only_the_bot_id():
    assert mask_token("123456:ABCdef") == "123456:***"
    assert "ABC" not in mask_token("garbage-ABC")
    assert mask_token(None) == "(none)"


def test_world_readable_env_with_password_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    env = tmp_path / ".env"
    env.write_text(f"IKABOT_PASSWORD={SECRET}\n")
    env.chmod(0o644)
    monkeypatch.setenv("IKABOT_PASSWORD", "placeholder")  # so teardown restores the env
    monkeypatch.delenv("IKABOT_PASSWORD")
    with pytest.raises(ConfigError) as e:
        load_dotenv_file(env)
    assert "chmod 600" in str(e.value) and SECRET not in str(e.value)
    assert "IKABOT_PASSWORD" not in os.environ
    env.chmod(0o600)
    assert load_dotenv_file(env) == env
    assert os.environ["IKABOT_PASSWORD"] == SECRET


def test_world_readable_env_without_secrets_is_fine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    env = tmp_path / ".env"
    env.write_text("TELEBOT_SCAN_SECONDS=7\n")
    env.chmod(0o644)
    monkeypatch.setenv("TELEBOT_SCAN_SECONDS", "1")
    monkeypatch.delenv("TELEBOT_SCAN_SECONDS")
    assert load_dotenv_file(env) == env
    assert Settings.from_env().scan_seconds == 7


def _other_uid() -> int:
    """A uid that is not ours (root can give a file away; others cannot)."""
    import pwd

    for entry in pwd.getpwall():
        if entry.pw_uid != os.getuid():
            return entry.pw_uid
    return 65534


def test_planted_env_is_refused_whatever_it_holds(tmp_path: Path, run_cli):
    """A `.env` another user owns or may write would steer where the token goes."""
    from telebot.demo.fakeapi import FakeBotAPI

    cwd = tmp_path / "cwd"
    cwd.mkdir(exist_ok=True)
    env = cwd / ".env"
    with FakeBotAPI() as planted:
        env.write_text(f"TELEGRAM_API_BASE_URL={planted.base_url}\n")
        env.chmod(0o666)  # writable by anyone
        r = run_cli("check")
        assert r.code == 2 and r.err.count("\n") == 1, r.err
        assert "chmod go-w" in r.err and "Traceback" not in r.err
        if os.geteuid() == 0:  # owned by another user, not writable by anyone else
            env.chmod(0o644)
            os.chown(env, _other_uid(), -1)
            r = run_cli("check")
            assert r.code == 2 and "belongs to another user" in r.err, r.err
        assert planted.calls == []  # the token never went to the planted address
    os.chown(env, os.getuid(), -1)
    env.chmod(0o644)
    assert "TELEGRAM_API_BASE_URL" not in run_cli("check").err


def test_time_zone_is_an_iana_name(run_cli):
    """TELEBOT_TZ: a bad name is one line naming the variable, exit 2, no traceback."""
    assert Settings.from_env({"TELEBOT_TZ": "Europe/Berlin"}).tz == "Europe/Berlin"
    assert Settings.from_env({}).tz is None
    for bad in ("Mars/Olympus", "../../etc/passwd", "CET+99"):
        with pytest.raises(ConfigError) as e:
            Settings.from_env({"TELEBOT_TZ": bad})
        assert "TELEBOT_TZ" in str(e.value) and "\n" not in str(e.value)
    r = run_cli("status", TELEBOT_TZ="Mars/Olympus")
    assert r.code == 2 and r.err.count("\n") == 1 and "TELEBOT_TZ" in r.err
    assert "Traceback" not in r.err


def test_times_are_shown_in_telebot_tz(monkeypatch):
    """Every time shown is in TELEBOT_TZ, with the zone said (not the host's zone)."""
    from telebot.views import clock

    ts = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC
    monkeypatch.setenv("TELEBOT_TZ", "UTC")
    assert clock.stamp(ts) == "2027-01-15 08:00 UTC"
    monkeypatch.setenv("TELEBOT_TZ", "Asia/Tokyo")
    assert clock.stamp(ts) == "2027-01-15 17:00 JST"
    assert clock.clock(ts + 60, ts) == "17:01 JST"


@pytest.mark.parametrize(
    ("text", "line"),
    [('TELEBOT_SCAN_SECONDS=7\n\nTELEBOT_CHAT_ID="424242\n', 3), ("# ok\nthis is garbage\n", 2)],
)
def test_malformed_env_line_is_named_with_its_file_and_line(
    tmp_path: Path, run_cli, text: str, line: int
):
    """python-dotenv skips such a line with a warning naming no file: the setting would be
    dropped in silence and `check` would say all is well."""
    cwd = tmp_path / "cwd"
    cwd.mkdir(exist_ok=True)
    env = cwd / ".env"
    env.write_text(text)
    env.chmod(0o600)
    r = run_cli("check")
    assert r.code == 2 and "Traceback" not in r.err, r.err
    (said,) = [x for x in r.err.splitlines() if x.strip()]
    assert f"{env}, line {line}:" in said and "424242" not in said


def test_chat_id_is_a_number_or_a_public_name(run_cli):
    for good in ("424242", "-1001234567890", "@my_channel"):
        assert Settings.from_env({"TELEBOT_CHAT_ID": good}).chat_id == good
    for bad in ("424242x", "my chat", "@ab", "1.5"):
        with pytest.raises(ConfigError) as e:
            Settings.from_env({"TELEBOT_CHAT_ID": bad})
        assert "TELEBOT_CHAT_ID" in str(e.value) and "\n" not in str(e.value)
    r = run_cli("check", TELEBOT_CHAT_ID="chat-of-mine")
    assert r.code == 2 and "TELEBOT_CHAT_ID" in r.err and "Traceback" not in r.err


@pytest.mark.parametrize(
    ("env", "says"),
    [
        (
            {"TELEBOT_LANG": "es", "TELEBOT_TZ": "Marte/Olimpo"},
            "telebot: TELEBOT_TZ='Marte/Olimpo' no es una zona horaria",
        ),
        (
            {"TELEBOT_LANG": "pt", "TELEBOT_ALLOW_KILL": "talvez"},
            "telebot: TELEBOT_ALLOW_KILL='talvez' não é uma chave liga/desliga; coloque 1 ou 0",
        ),
        (
            {"TELEBOT_LANG": "es", "TELEBOT_SCAN_SECONDS": "1e9"},
            "telebot: TELEBOT_SCAN_SECONDS='1e9' debe ser un número de 0.05 a 3600, p. ej. 15",
        ),
        # the language itself misconfigured: English, and the other errors in English too
        ({"TELEBOT_LANG": "fr"}, "telebot: TELEBOT_LANG='fr': telebot speaks en, es, pt"),
        (
            {"TELEBOT_LANG": "klingon", "TELEBOT_CHAT_ID": "abc"},
            "telebot: TELEBOT_CHAT_ID must be a chat's number",
        ),
    ],
)
def test_a_bad_setting_is_said_in_telebot_lang(env: dict[str, str], says: str, run_cli):
    r = run_cli("status", **env)
    assert r.code == 2 and r.err.startswith(says) and r.err.count("\n") == 1, r.err


def test_a_dotenvs_language_says_the_dotenvs_errors(tmp_path: Path, run_cli):
    """TELEBOT_LANG in the .env: the settings' errors are in it. A .env that cannot be read
    says so in the environment's TELEBOT_LANG (its own is not read)."""
    (tmp_path / "cwd").mkdir(exist_ok=True)
    env = tmp_path / "cwd" / ".env"
    env.write_text("TELEBOT_LANG=pt\nTELEBOT_OWNER_IDS=eu\n")
    env.chmod(0o600)
    r = run_cli("status")
    assert r.code == 2 and r.err.startswith(
        "telebot: TELEBOT_OWNER_IDS: escreva ids de usuário do Telegram"
    ), r.err
    env.write_text('TELEBOT_LANG=pt\nTELEBOT_CHAT_ID="424242\n')
    r = run_cli("check", TELEBOT_LANG="es")
    assert r.code == 2 and f"{env}, línea 2: no es un ajuste CLAVE=valor" in r.err, r.err


def test_ikabots_missing_data_is_said_in_telebot_lang(tmp_path: Path, run_cli):
    """What to fix about IKABOT_PATH, in the language (ikabot's words would stay ikabot's)."""
    r = run_cli("status", IKABOT_PATH=str(tmp_path / "nowhere"), TELEBOT_LANG="es")
    assert r.code == 2 and r.err.startswith(
        f"telebot: {tmp_path / 'nowhere'} no existe: pon en IKABOT_PATH los datos de ikabot"
    ), r.err
