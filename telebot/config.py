"""Settings from the environment (and a `.env` in the working directory).

The names are part of the contract in docs/contract.md section 2: tests outside the project set
them.
"""

from __future__ import annotations

import io
import os
import re
import shlex
import stat
from dataclasses import dataclass, field, replace
from datetime import tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from telebot.errors import ConfigError
from telebot.i18n import LANGS, N_, _

DEFAULT_API_BASE = "https://api.telegram.org/bot"


@dataclass(frozen=True)
class TelegramConfig:
    """What ikabot stores in `shared.telegram` (or the TELEBOT_* overrides)."""

    bot_token: str | None = field(default=None, repr=False)
    chat_id: str | None = None


def _state_dir_default() -> Path:
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return base / "telebot"


CHAT_ID = re.compile(r"-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31}")


def _chat_id(e: dict[str, str]) -> str | None:
    """A chat id Telegram could know: a number (a user, a group: -100…) or a public @name.
    Anything else would only fail later, at the first alert, as "chat not found"."""
    value = e.get("TELEBOT_CHAT_ID", "").strip()
    if value and not CHAT_ID.fullmatch(value):
        raise ConfigError(
            _(
                "TELEBOT_CHAT_ID must be a chat's number (a user or group id, such "
                "as -1001234567890) or a public @name; fix it in your .env"
            )
        )
    return value or None


def _number(
    env: dict[str, str],
    name: str,
    default: float,
    *,
    minimum: float = 0,
    maximum: float,
    why: str = "",
) -> float:
    """A number within sane bounds: `1e308` seconds would overflow the scheduler, not wait.
    `why`: what the bounds protect, said with the error."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(
            _("{setting} is not a number; set it to e.g. {default}").format(
                setting=f"{name}={raw!r}", default=f"{default:g}"
            )
        ) from None
    if not minimum <= value <= maximum:  # NaN fails both
        # the figures as the setting is written (a point, never a comma), in any language
        raise ConfigError(
            _("{setting} must be a number from {minimum} to {maximum}, e.g. {default}").format(
                setting=f"{name}={raw[:40]!r}",
                minimum=f"{minimum:g}",
                maximum=f"{maximum:g}",
                default=f"{default:g}",
            )
            + (_(why) if why else "")
        )
    return value


def api_error(error: Exception, base_url: str) -> ConfigError:
    """What a 401 or 404 from the Bot API means for the player (python-telegram-bot calls
    both InvalidToken): a wrong token, or a wrong TELEGRAM_API_BASE_URL."""
    from telebot.logsafe import redact

    said = f"{error} {error.__cause__ or ''}".lower()  # Bot.initialize wraps get_me's error
    if "not found" in said:
        return ConfigError(
            _(
                "the Bot API at {url} answered 404 Not Found: check "
                "TELEGRAM_API_BASE_URL (Telegram's is https://api.telegram.org/bot) "
                "and the token's form (digits:letters)"
            ).format(url=redact(base_url))
        )
    return ConfigError(
        _(
            "Telegram rejected the bot token (401): check TELEBOT_TOKEN or "
            "ikabot's Telegram settings"
        )
    )


# ikabot reads the player's captcha answers and `pid:action` replies every 3 minutes
# (`alertAttacks`, `getUserResponse`), without confirming them: telebot, reading the same
# token, must leave an update unconfirmed longer than that, with room for a slow cycle
CONFIRM_AFTER_MIN_MINUTES = 5.0

HOST_LABEL_MAX = 24  # the label heads every message; room is kept for it in render's limit


def _flag(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(
        _("{setting} is not a switch; set it to 1 or 0").format(setting=f"{name}={raw!r}")
    )


def _actions(env: dict[str, str], name: str) -> frozenset[str]:
    """ikabot action names, comma-separated (`all`: every action)."""
    names = [n.strip() for n in env.get(name, "").split(",") if n.strip()]
    bad = [n for n in names if not (n.isascii() and n.replace("_", "").isalnum())]
    if bad:
        raise ConfigError(
            _(
                "{name}: {bad} is no ikabot action name; list them comma-separated "
                "as ikabot's process list names them (e.g. "
                "autoPirate,constructionList), or write all"
            ).format(name=name, bad=repr(bad[0][:40]))
        )
    return frozenset(names)


def _command(env: dict[str, str]) -> tuple[str, ...] | None:
    raw = env.get("IKABOT_COMMAND", "").strip()
    if not raw:
        return None
    try:
        argv = tuple(shlex.split(raw))
    except ValueError as e:
        raise ConfigError(
            _(
                "IKABOT_COMMAND: {why}; write it as in a shell, e.g. "
                "IKABOT_COMMAND='/home/me/venv/bin/ikabot'"
            ).format(why=e)
        ) from None
    return argv or None


def _label(env: dict[str, str]) -> str | None:
    raw = " ".join(env.get("TELEBOT_HOST_LABEL", "").split())
    if len(raw) > HOST_LABEL_MAX or any(not c.isprintable() for c in raw):
        raise ConfigError(
            _(
                "TELEBOT_HOST_LABEL={value}: use a short name for this machine (at "
                "most {n} printable characters), e.g. pi-kitchen"
            ).format(value=repr(raw), n=HOST_LABEL_MAX)
        )
    return raw or None


def _topic(env: dict[str, str]) -> int | None:
    raw = env.get("TELEBOT_TOPIC_ID", "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 1 <= int(raw) < 2**31:
        raise ConfigError(
            _(
                "TELEBOT_TOPIC_ID={value}: use the number of a topic of the forum "
                "group (the number after the group in a topic's link, "
                "t.me/c/<group>/<topic>), or leave it unset"
            ).format(value=repr(raw[:40]))
        )
    return int(raw)


def parse_metrics_addr(raw: str) -> tuple[str, int]:
    """`host:port` (`[::1]:9464` for IPv6) as (host, port); ConfigError when it is not one."""
    host, sep, port = raw.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if (
        not sep
        or not host
        or not port.isdigit()
        or not 0 < int(port) < 65536
        or any(c.isspace() or c in "/[]" for c in host)
    ):
        raise ConfigError(
            _(
                "TELEBOT_METRICS_ADDR={value}: write host:port, e.g. 127.0.0.1:9464 "
                "(0.0.0.0:9464 to let another machine's Prometheus scrape "
                "it)"
            ).format(value=repr(raw[:60]))
        )
    return host, int(port)


def _metrics_addr(env: dict[str, str]) -> tuple[str, int] | None:
    raw = env.get("TELEBOT_METRICS_ADDR", "").strip()
    return parse_metrics_addr(raw) if raw else None


def _metrics_file(env: dict[str, str]) -> Path | None:
    raw = env.get("TELEBOT_METRICS_FILE", "").strip()
    if not raw:
        return None
    path = Path(raw).expanduser()
    if not path.name.endswith(".prom") or not path.parent.is_dir():
        raise ConfigError(
            _(
                "TELEBOT_METRICS_FILE={value}: name a file ending in .prom in an "
                "existing directory (node_exporter's "
                "--collector.textfile.directory), e.g. "
                "/var/lib/node_exporter/textfile_collector/telebot.prom"
            ).format(value=repr(raw[:80]))
        )
    return path


def parse_zone(name: str | None) -> tzinfo | None:
    """TELEBOT_TZ's value as a zone; None for the host's zone; ConfigError for a bad name."""
    name = (name or "").strip()
    if not name:
        return None
    try:
        if name.startswith(("/", ".")) or ".." in name:
            raise ValueError(name)  # a name, not a path to some file
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ConfigError(
            _(
                "TELEBOT_TZ={value} is not a time zone: use an IANA name such as "
                "Europe/Berlin or UTC (or leave it unset for the host's "
                "zone)"
            ).format(value=repr(name[:60]))
        ) from None


def _zone(env: dict[str, str]) -> str | None:
    raw = env.get("TELEBOT_TZ", "").strip()
    parse_zone(raw)  # a bad name is one line, exit 2
    return raw or None


def _owner_ids(env: dict[str, str]) -> frozenset[int]:
    # a stand-in until the bottrust branch's TELEBOT_OWNER_IDS lands (theirs wins at merge)
    raw = [x.strip() for x in env.get("TELEBOT_OWNER_IDS", "").split(",") if x.strip()]
    if not all(x.isdigit() for x in raw):
        raise ConfigError(
            _(
                "TELEBOT_OWNER_IDS: list Telegram user ids separated by commas, "
                "e.g. 123456789,987654321"
            )
        )
    return frozenset(int(x) for x in raw)


def _url(env: dict[str, str], name: str) -> str | None:
    raw = env.get(name, "").strip()
    if raw and not raw.startswith(("http://", "https://")):
        raise ConfigError(
            _(
                "{name} must be an http:// or https:// URL (an Uptime Kuma push "
                "URL or a healthchecks.io ping URL)"
            ).format(name=name)
        )
    return raw or None


def _lang(env: dict[str, str]) -> str | None:
    raw = env.get("TELEBOT_LANG", "").strip().lower()
    if raw and raw not in LANGS:
        # in English, always: the setting that would choose the language is what is wrong
        raise ConfigError(
            f"TELEBOT_LANG={raw[:20]!r}: telebot speaks {', '.join(LANGS)}; set "
            "one of them, or leave it unset for the owner's Telegram language"
        )
    return raw or None


@dataclass(frozen=True)
class Settings:
    ikabot_path: Path
    email: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    chat_id: str | None = None
    api_base_url: str = DEFAULT_API_BASE
    state_dir: Path = field(default_factory=_state_dir_default)
    poll_seconds: float = 3.0
    confirm_after_minutes: float = 30.0
    scan_seconds: float = 15.0
    report_minutes: float = 60.0
    stall_minutes: float = 0.0
    host_label: str | None = None
    allow_kill: bool = True
    allow_menu: bool = True
    ikabot_command: tuple[str, ...] | None = None  # None: `ikabot` found beside ikabot
    owner_ids: frozenset[int] = frozenset()
    ikabot_log: Path = field(default_factory=lambda: Path("/tmp/ikabot.log"))
    heartbeat_url: str | None = field(default=None, repr=False)
    heartbeat_minutes: float = 5.0
    tz: str | None = None  # TELEBOT_TZ, checked (`clock`); None: the host's zone
    topic_id: int | None = None  # TELEBOT_TOPIC_ID: the forum topic this telebot writes in
    metrics_addr: tuple[str, int] | None = None  # TELEBOT_METRICS_ADDR: /metrics served there
    metrics_file: Path | None = None  # TELEBOT_METRICS_FILE: node_exporter's textfile
    # TELEBOT_KEEPALIVE: actions restarted when they end badly ("all": every one)
    keepalive: frozenset[str] = frozenset()
    keepalive_max: int = 5  # TELEBOT_KEEPALIVE_MAX: restarts of one chain within an hour
    keepalive_login: bool = False  # TELEBOT_KEEPALIVE_LOGIN: type IKABOT_PASSWORD at its prompt
    keepalive_backoff: float = 10.0  # TELEBOT_KEEPALIVE_BACKOFF_SECONDS: the first back-off
    report_picture: bool = False  # TELEBOT_REPORT_PICTURE: the report carries /timeline's
    lang: str | None = None  # TELEBOT_LANG (en|es|pt); None: the owner's Telegram language
    short_slice: bool = True  # TELEBOT_SHORT_SLICE: the alert's threads preempt at wake-up

    @property
    def dedicated_token(self) -> bool:
        """True when TELEBOT_TOKEN names a bot of telebot's own (normal long polling)."""
        return self.token is not None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        e = dict(os.environ if env is None else env)
        path = e.get("IKABOT_PATH", "").strip()
        return cls(
            ikabot_path=Path(path).expanduser() if path else Path.home() / ".ikabot",
            email=e.get("IKABOT_EMAIL", "").strip() or None,
            password=e.get("IKABOT_PASSWORD") or None,
            token=e.get("TELEBOT_TOKEN", "").strip() or None,
            chat_id=_chat_id(e),
            api_base_url=e.get("TELEGRAM_API_BASE_URL", "").strip() or DEFAULT_API_BASE,
            state_dir=Path(e["TELEBOT_STATE_DIR"]).expanduser()
            if e.get("TELEBOT_STATE_DIR", "").strip()
            else _state_dir_default(),
            poll_seconds=_number(e, "TELEBOT_POLL_SECONDS", 3.0, minimum=0.05, maximum=3600),
            confirm_after_minutes=_number(
                e,
                "TELEBOT_CONFIRM_AFTER_MINUTES",
                30.0,
                minimum=CONFIRM_AFTER_MIN_MINUTES,
                maximum=24 * 60,
                why=N_(
                    " (ikabot reads captcha answers only every 3 "
                    "minutes: confirming sooner takes them away)"
                ),
            ),
            scan_seconds=_number(e, "TELEBOT_SCAN_SECONDS", 15.0, minimum=0.05, maximum=3600),
            report_minutes=_number(e, "TELEBOT_REPORT_MINUTES", 60.0, maximum=7 * 24 * 60),
            stall_minutes=_number(e, "TELEBOT_STALL_MINUTES", 0.0, maximum=7 * 24 * 60),
            host_label=_label(e),
            allow_kill=_flag(e, "TELEBOT_ALLOW_KILL", True),
            allow_menu=_flag(e, "TELEBOT_ALLOW_MENU", True),
            ikabot_command=_command(e),
            owner_ids=_owner_ids(e),
            ikabot_log=Path(e["IKABOT_LOG"]).expanduser()
            if e.get("IKABOT_LOG", "").strip()
            else Path("/tmp/ikabot.log"),
            heartbeat_url=_url(e, "TELEBOT_HEARTBEAT_URL"),
            heartbeat_minutes=_number(
                e, "TELEBOT_HEARTBEAT_MINUTES", 5.0, minimum=0.01, maximum=24 * 60
            ),
            tz=_zone(e),
            topic_id=_topic(e),
            metrics_addr=_metrics_addr(e),
            metrics_file=_metrics_file(e),
            keepalive=_actions(e, "TELEBOT_KEEPALIVE"),
            keepalive_max=int(_number(e, "TELEBOT_KEEPALIVE_MAX", 5, minimum=1, maximum=1000)),
            keepalive_login=_flag(e, "TELEBOT_KEEPALIVE_LOGIN", False),
            keepalive_backoff=_number(
                e, "TELEBOT_KEEPALIVE_BACKOFF_SECONDS", 10.0, minimum=0.1, maximum=1800
            ),
            report_picture=_flag(e, "TELEBOT_REPORT_PICTURE", False),
            lang=_lang(e),
            short_slice=_flag(e, "TELEBOT_SHORT_SLICE", True),
        )


ENV_MAX_BYTES = 64 * 1024


def config_env_file() -> Path:
    """The one canonical `.env`: `$XDG_CONFIG_HOME/telebot/.env` (`~/.config/telebot/.env`).
    The systemd unit runs in that directory, so `check`, `run` and the unit read the same."""
    xdg = os.environ.get("XDG_CONFIG_HOME", "").strip()
    return (Path(xdg) if xdg else Path.home() / ".config") / "telebot" / ".env"


def load_settings_files() -> list[Path]:
    """Read `./.env` (docs/contract.md section 2), then the canonical `config_env_file()`; what
    is set first wins (the real environment before both). Returns the files read, for `check`
    to name."""
    read: list[Path] = []
    for candidate in (Path.cwd() / ".env", config_env_file()):
        if any(candidate.resolve() == p.resolve() for p in read):
            continue
        found = load_dotenv_file(candidate)
        if found is not None:
            read.append(found)
    return read


def load_dotenv_file(path: Path | None = None) -> Path | None:
    """Read `.env` (without overriding the real environment), if it is the player's own.

    A `.env` decides where the bot token is sent (TELEGRAM_API_BASE_URL) and who gets /status
    (TELEBOT_CHAT_ID): one that another user owns or may write is refused whatever it holds,
    or a planted file in a shared directory would steer telebot. One that holds
    IKABOT_PASSWORD or TELEBOT_TOKEN must not be readable by others either: on a shared VPS
    that would hand out the player's Ikariam account. The file is checked and read through
    one descriptor, so it cannot be swapped in between.
    """
    from dotenv import dotenv_values

    env_path = path or Path.cwd() / ".env"
    try:
        fd = os.open(env_path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ConfigError(
            _("cannot read {file} ({why}); fix it or remove it").format(
                file=env_path, why=e.strerror
            )
        ) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            if stat.S_ISDIR(st.st_mode):
                return None
            raise ConfigError(_("{file} is not a regular file; remove it").format(file=env_path))
        if st.st_uid != os.getuid():
            raise ConfigError(
                _(
                    "{file} belongs to another user (uid {uid}), so telebot will not "
                    "take settings from it; remove it, or create your own"
                ).format(file=env_path, uid=st.st_uid)
            )
        if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise ConfigError(
                _(
                    "other users can change {file}, so telebot will not take "
                    "settings from it; run: chmod go-w {file}"
                ).format(file=env_path)
            )
        raw = os.read(fd, ENV_MAX_BYTES + 1)
    finally:
        os.close(fd)
    if len(raw) > ENV_MAX_BYTES:
        raise ConfigError(
            _("{file} is over {kb} KB; is it really a .env?").format(
                file=env_path, kb=ENV_MAX_BYTES // 1024
            )
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(
            _("{file} is not UTF-8 text; fix it or remove it").format(file=env_path)
        ) from None
    refuse_malformed_lines(env_path, text)
    values = dotenv_values(stream=io.StringIO(text))
    secret = any(values.get(k) for k in ("IKABOT_PASSWORD", "TELEBOT_TOKEN"))
    if secret and st.st_mode & (stat.S_IRGRP | stat.S_IROTH):
        raise ConfigError(
            _(
                "{file} holds a password or token but other users can read it; "
                "run: chmod 600 {file}"
            ).format(file=env_path)
        )
    for key, value in values.items():
        if value is not None:
            os.environ.setdefault(key, value)
    return env_path


def refuse_malformed_lines(env_path: Path, text: str) -> None:
    """python-dotenv skips a line it cannot parse (an unclosed quote, a line of garbage) with a
    warning that names no file, and the setting on it is silently not applied: `check` would
    then say all is well about a chat id that was never read. Name the file and the line
    instead (never the line's text: it may hold the token)."""
    from dotenv.parser import parse_stream

    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            raw = binding.original.string
            blank = raw[: len(raw) - len(raw.lstrip())]
            line = binding.original.line + blank.count("\n")
            raise ConfigError(
                _(
                    "{file}, line {line}: not a KEY=value setting (an unclosed "
                    "quote?); fix or remove that line"
                ).format(file=env_path, line=line)
            )


def mask_token(token: str | None) -> str:
    """Show enough of a token to recognise it, never enough to use it."""
    if not token:
        return "(none)"
    bot_id, _, _secret = token.partition(":")
    return f"{bot_id}:***" if bot_id.isdigit() else "***"


def shares_ikabots_token(settings: Settings, ikabot_telegram: TelegramConfig) -> bool:
    """TELEBOT_TOKEN set to ikabot's own token is still the shared token.

    Normal long polling would confirm every update, and ikabot would lose the captcha answers
    and `pid:action` replies it reads without confirming: so that token is read the shared way.
    """
    return settings.token is not None and settings.token == ikabot_telegram.bot_token


def for_ikabot(settings: Settings, ikabot_telegram: TelegramConfig) -> Settings:
    """The settings to run with: shared-token mode whenever the token is ikabot's own."""
    if shares_ikabots_token(settings, ikabot_telegram):
        return replace(settings, token=None)
    return settings


def resolve_telegram(settings: Settings, ikabot_telegram: TelegramConfig) -> tuple[str, str, str]:
    """(token, chat id, where the token came from): TELEBOT_* wins over ikabot's own config."""
    token = settings.token or ikabot_telegram.bot_token
    chat = settings.chat_id or ikabot_telegram.chat_id
    source = (
        _("TELEBOT_TOKEN, the same as ikabot's")
        if shares_ikabots_token(settings, ikabot_telegram)
        else "TELEBOT_TOKEN"
        if settings.token
        else _("ikabot's shared.telegram")
    )
    if not token:
        raise ConfigError(
            _(
                "no Telegram bot token: set up Telegram in ikabot's menu, or set "
                "TELEBOT_TOKEN (and TELEBOT_CHAT_ID) in the environment or .env"
            )
        )
    if not chat:
        raise ConfigError(
            _("no Telegram chat id: set up Telegram in ikabot's menu, or set TELEBOT_CHAT_ID")
        )
    return token, str(chat), source
