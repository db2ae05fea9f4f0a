"""telebot in English, Spanish and Portuguese: the catalogs are complete and match the code,
every translation keeps the English's placeholders and HTML, numbers and plural forms are the
language's own, and the compiled catalogs ship with the package."""

from __future__ import annotations

import gettext
import re
import string
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from telebot import i18n
from telebot.config import Settings
from telebot.demo.fakeapi import ApiError, parse_html
from telebot.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "telebot" / "locale"
LANGS = ("es", "pt")


def in_code() -> set[tuple[str | None, str]]:
    """(context, English text) of every text the code marks, as Babel extracts it."""
    found = set()
    for _file, _line, message, _comments, context in extract_from_dir(
        str(ROOT / "telebot"), method_map=[("**.py", "python")]
    ):
        found.add((context, message if isinstance(message, str) else message[0]))
    return found


def catalog(lang: str):
    with open(LOCALE / lang / "LC_MESSAGES" / "telebot.po", "rb") as f:
        return read_po(f, locale=lang)


def entries(lang: str):
    return [m for m in catalog(lang) if m.id]


def fields(text: str) -> list[str]:
    return sorted(name for _, name, _, _ in string.Formatter().parse(text) if name is not None)


def tags(text: str) -> list[str]:
    return re.findall(r"</?[a-z-]+", text)


def pairs(lang: str):
    """(English, translation) for every form of every entry (a plural's forms each against
    the English plural, its first against the singular)."""
    for m in entries(lang):
        if isinstance(m.id, str):
            yield m.id, m.string
        else:
            yield m.id[0], m.string[0]
            for form in m.string[1:]:
                yield m.id[1], form


@pytest.mark.parametrize("lang", LANGS)
def test_every_catalog_is_complete_and_matches_the_code(lang):
    marked = in_code()
    have = {(m.context, m.id if isinstance(m.id, str) else m.id[0]) for m in entries(lang)}
    assert marked - have == set(), "texts in the code the catalog lacks: run pybabel update"
    assert have - marked == set(), "entries no code uses any more: run pybabel update"
    for m in entries(lang):
        forms = [m.string] if isinstance(m.id, str) else list(m.string)
        assert all(forms), f"{lang}: untranslated: {m.id!r}"
        assert not m.fuzzy, f"{lang}: fuzzy: {m.id!r}"


@pytest.mark.parametrize("lang", LANGS)
def test_translations_keep_the_placeholders_and_the_html(lang):
    for english, translated in pairs(lang):
        assert fields(translated) == fields(english), (lang, english, translated)
        assert sorted(tags(translated)) == sorted(tags(english)), (lang, english, translated)
        sample = {name: "x" for name in fields(english)}
        try:
            parse_html(english.format(**sample))
        except ApiError:
            continue  # a plain-text line (the terminal's), not Telegram HTML
        parse_html(translated.format(**sample))  # what the strict loopback Bot API checks


@pytest.mark.parametrize("lang", LANGS)
def test_the_compiled_catalogs_are_the_po_files(lang):
    """The committed .mo says what its .po says (`pybabel compile` was run after the edit)."""
    mo = LOCALE / lang / "LC_MESSAGES" / "telebot.mo"
    with open(mo, "rb") as f:
        compiled = gettext.GNUTranslations(f)
    for m in entries(lang):
        key = m.id if isinstance(m.id, str) else m.id[0]
        if m.context:
            assert compiled.pgettext(m.context, key) == m.string
        elif isinstance(m.id, str):
            assert compiled.gettext(key) == m.string, key
        else:
            assert compiled.ngettext(m.id[0], m.id[1], 1) == m.string[0]
            assert compiled.ngettext(m.id[0], m.id[1], 2) == m.string[-1]


def test_plural_forms_and_numbers_are_the_languages():
    from telebot.tasks.facts import Facts
    from telebot.tasks.model import Progress
    from telebot.views.render import _unit, figure

    left = Facts("running", 0.0, None, 2, "runs")  # type: ignore[arg-type]

    def running(done: int) -> Facts:
        return Facts("running", 0.0, Progress(done, 5, "runs", current=done + 1))  # type: ignore[arg-type]

    with i18n.in_language("en"):
        assert (_unit(1, "runs"), _unit(2, "runs")) == ("run", "runs")
        assert i18n.number(48000) == "48,000" and i18n.number(2.5, digits=1) == "2.5"
        assert figure(left) == "2 runs left, this one included"
    with i18n.in_language("es"):
        assert (_unit(1, "runs"), _unit(2, "runs")) == ("ejecución", "ejecuciones")
        assert i18n.number(48000) == "48.000" and i18n.number(2.5, digits=1) == "2,5"
        assert figure(left) == "faltan 2 ejecuciones, incluida la actual"
        assert figure(running(1)) == "ejecución 2 de 5 (1 hecha)"  # not "1 hechas"
        assert figure(running(3)) == "ejecución 4 de 5 (3 hechas)"
    with i18n.in_language("pt"):
        assert (_unit(1, "runs"), _unit(2, "runs")) == ("execução", "execuções")
        assert i18n.number(48000) == "48.000"
    assert i18n.current() == "en"  # the block gives the language back


def test_which_language():
    assert i18n.choose("pt", "es") == "pt"  # TELEBOT_LANG wins
    assert i18n.choose(None, "es-419") == "es" and i18n.choose(None, "pt-br") == "pt"
    assert i18n.choose(None, "de") == "en" and i18n.choose(None, None) == "en"
    assert Settings.from_env({"TELEBOT_LANG": "ES"}).lang == "es"
    with pytest.raises(ConfigError, match="TELEBOT_LANG"):
        Settings.from_env({"TELEBOT_LANG": "fr"})


def test_a_built_wheel_carries_the_compiled_catalogs(tmp_path):
    """What `pip install .` installs: the wheel setuptools builds from pyproject (from a copy
    of the source: an in-tree build leaves build/ behind)."""
    import shutil

    src = tmp_path / "src"
    shutil.copytree(ROOT / "telebot", src / "telebot", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(src),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("*telebot-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for lang in LANGS:
        assert f"telebot/locale/{lang}/LC_MESSAGES/telebot.mo" in names


@pytest.mark.parametrize("lang", ("en", *LANGS))
def test_alerts_in_every_language_are_html_telegram_accepts(lang):
    """An end, a storm of mixed ends, a stall: each text passes the strict Bot API's HTML
    check, and says its word in the language."""
    import time as _time

    from telebot.alerts import texts
    from telebot.alerts.ending import Ending
    from telebot.state import Tracked
    from telebot.tasks.facts import How

    now = _time.time()
    row = Tracked(
        7,
        70,
        now - 3600,
        "a@b.c",
        "alice",
        "59",
        "en",
        "autoPirate",
        "Pirating for 3 more runs",
        {"done": 7, "total": 10, "unit": "runs"},
        3,
        [],
        now - 3600,
        now - 5,
        now - 900,
        None,
        None,
        None,
    )
    killed = texts.Ended(row, Ending(How.KILLED, None, "SIGKILL", None), now)
    failed = texts.Ended(row, Ending(How.FAILED, 1, None, "Error <in> & out"), now)
    with i18n.in_language(lang):
        one = "\n".join(texts.alert_lines(killed))
        storm = "\n".join(texts.storm_lines([killed, failed]))
        stalled = texts.stalled_text(row, now)
    for text in (one, storm, stalled):
        parse_html(text)
    word = {"en": "killed", "es": "eliminada", "pt": "encerrada à força"}[lang]
    assert word in parse_html(one).split("\n")[0]
    run = {
        "en": "with 7 of 10 runs done",
        "es": "con 7 de 10 ejecuciones",
        "pt": "com 7 de 10 execuções",
    }[lang]
    assert run in one


# ---------------------------------------------------------------- the bot, in each language


@pytest.fixture
def world(ikabot_dir, spawn):
    from conftest import ALICE

    pirate = spawn()
    ikabot_dir.add_pirate(ALICE, pirate.pid)
    return ikabot_dir


async def test_the_bot_speaks_telebot_lang_and_sets_its_commands_per_language(world, api, tmp_path):
    from botharness import fast_settings, running_bot

    s = fast_settings(world.path, api, tmp_path / "state", lang="es")
    async with running_bot(s, api) as bot:
        assert "👀 telebot está vigilando 1 tarea en 1 cuenta. /status" in bot.texts()
        (reply,) = await bot.ask("/help", language_code="pt-br")  # TELEBOT_LANG wins
        assert "vigila las tareas que ikabot ejecuta por ti" in reply["text"]
        (reply,) = await bot.ask("/status")
        assert "Tareas de ikabot" in reply["text"] and "en marcha" in reply["text"]
        (reply,) = await bot.ask("/report 0.001")
        assert reply["text"].startswith("Uso: /report")
        (reply,) = await bot.ask("/nada")
        assert "No conozco /nada" in reply["text"]
    described = {
        lang: {c["command"]: c["description"] for c in api.commands(language_code=lang)}
        for lang in ("", "en", "es", "pt")
    }
    assert (
        described[""]["status"] == described["en"]["status"] == "every ikabot task, with progress"
    )
    assert described["es"]["status"] == "todas las tareas de ikabot, con su progreso"
    assert described["pt"]["status"] == "todas as tarefas do ikabot, com o progresso"


async def test_unset_the_owners_telegram_language_chooses_and_is_remembered(world, api, tmp_path):
    from botharness import OWNER, fast_settings, running_bot

    s = fast_settings(world.path, api, tmp_path / "state")
    async with running_bot(s, api) as bot:
        assert any("telebot is watching" in t for t in bot.texts())  # nothing known: English
        (reply,) = await bot.ask("/help", language_code="de")  # not spoken: still English
        assert "watches the tasks" in reply["text"]
        (reply,) = await bot.ask("/help", language_code="pt-br")
        assert "acompanha as tarefas" in reply["text"]
        api.add_message("/help", chat_id=666, user_id=666, language_code="es")  # a stranger
        (reply,) = await bot.ask("/status")
        assert "Tarefas do ikabot" in reply["text"]  # a stranger does not choose
    async with running_bot(s, api) as bot:  # restarted: it remembers the owner's language
        assert any("O telebot está acompanhando 1 tarefa" in t for t in bot.texts(OWNER))
    i18n.use("en")


@pytest.mark.parametrize("lang", LANGS)
def test_the_demo_runs_in_each_language(run_cli, lang):
    r = run_cli("demo", "--lang", lang, timeout=90)
    assert r.code == 0, r.err[-2000:]
    assert "Traceback" not in r.err
    words = {
        "es": ("Tareas de ikabot", "eliminada (SIGKILL)", "autoPirate terminó"),
        "pt": ("Tarefas do ikabot", "encerrada à força (SIGKILL)", "autoPirate concluída"),
    }[lang]
    for word in words:
        assert word in r.out, (word, r.out[-3000:])
    for english in english_narration(lang):  # the narration too, not only the bot
        assert english not in r.out, (english, r.out[-3000:])
    assert "👤 you:" not in r.out and "🔔 push alert" not in r.out


def english_narration(lang: str) -> list[str]:
    """The English words of the demo's narration (its marked texts, each cut at its
    placeholders), less those the language says the same way."""
    from babel.messages.extract import extract_from_file

    found = []
    for name in ("run.py", "offline_ikabot.py"):
        for _line, message, _comments, _context in extract_from_file(
            "python", str(ROOT / "telebot" / "demo" / name)
        ):
            with i18n.in_language(lang):
                translated = i18n._(message)
            found += [
                piece.strip()
                for piece in re.split(r"\{[^}]*\}", message)
                if len(piece.strip()) >= 8 and piece.strip() not in translated
            ]
    assert len(found) >= 10  # the narration is marked for translation at all
    return found


def test_the_terminal_speaks_telebot_lang_and_its_errors_are_one_line(tmp_path, run_cli):
    out = tmp_path / "t.png"
    r = run_cli("timeline", "--hours", "500", "--out", str(out), TELEBOT_LANG="pt")
    assert r.code == 2 and r.err.startswith("telebot: --hours '500': informe um número")
    assert r.err.count("\n") == 1
    r = run_cli("health", TELEBOT_LANG="es", TELEBOT_STATE_DIR=str(tmp_path / "none"))
    assert r.code == 1 and "no hay latido en" in r.err


KILL_WORDS = {
    "es": {
        "pick": "¿Qué tarea quieres detener?",
        "ask": "❓ ¿Detener autoPirate",
        "grace": "SIGTERM y, pasados 5 s, SIGKILL. Este botón vale durante 5 minutos.",
        "stop": "🛑 Detenerla",
        "cancel": "Cancelar",
        "cancelled": "Cancelado",
        "kept": "sigue en marcha",
        "stopping": "Deteniendo autoPirate",
        "stopped": "🛑 Detenida autoPirate",
        "by": "a petición de User42 (42)",
        "spent": "caducó o ya se usó",
        "usage": "Uso: /kill &lt;pid&gt;",
        "none": "Ninguna tarea de ikabot en marcha",
        "list": "🛑 Detener autoPirate",
        "off": "no se pueden detener tareas",
    },
    "pt": {
        "pick": "Qual tarefa você quer parar?",
        "ask": "❓ Parar autoPirate",
        "grace": "SIGTERM e, depois de 5 s, SIGKILL. Este botão vale por 5 minutos.",
        "stop": "🛑 Parar",
        "cancel": "Cancelar",
        "cancelled": "Cancelado",
        "kept": "continua rodando",
        "stopping": "Parando autoPirate",
        "stopped": "🛑 Parada autoPirate",
        "by": "a pedido de User42 (42)",
        "spent": "expirou ou já foi usado",
        "usage": "Uso: /kill &lt;pid&gt;",
        "none": "Nenhuma tarefa do ikabot rodando",
        "list": "🛑 Parar autoPirate",
        "off": "não dá para parar tarefas",
    },
}


@pytest.mark.parametrize("lang", LANGS)
async def test_kill_speaks_the_language_from_question_to_outcome(
    ikabot_dir, spawn, api, tmp_path, lang
):
    """/kill through the strict loopback Bot API in Spanish and Portuguese: the pick, the
    confirmation and its buttons, Cancel, Stop it, the spent button, the refusals."""
    from botharness import OWNER, fast_settings, running_bot
    from conftest import ALICE
    from util import buttons, dead_pid

    w = KILL_WORDS[lang]
    pirate = spawn()
    pid = pirate.pid
    ikabot_dir.add_pirate(ALICE, pid)
    s = fast_settings(ikabot_dir.path, api, tmp_path / "state", lang=lang)
    async with running_bot(s, api) as bot:

        async def press(data: str, message: dict) -> str:
            n = len(api.calls)
            api.add_callback(data, message["message_id"], chat_id=OWNER, user_id=OWNER)
            assert await bot.wait(
                lambda: any(c.method == "answerCallbackQuery" for c in api.calls[n:])
            )
            return next(
                str(c.params.get("text", ""))
                for c in api.calls[n:]
                if c.method == "answerCallbackQuery"
            )

        def now(message: dict) -> str:
            return next(m for m in api.sent(OWNER) if m["message_id"] == message["message_id"])[
                "text"
            ]

        (pick,) = await bot.ask("/kill")
        assert pick["text"].startswith(w["pick"]) and f"🛑 autoPirate {pid}" in buttons(pick)
        (usage,) = await bot.ask("/kill abc")
        assert usage["text"].startswith(parse_html(w["usage"]))
        (none,) = await bot.ask(f"/kill {dead_pid()}")
        assert none["text"].startswith(w["none"])
        (details,) = await bot.ask(f"/details {pid}")
        assert f"{w['list']} {pid}" in buttons(details)
        (ask,) = await bot.ask(f"/kill {pid}")
        assert ask["text"].startswith(w["ask"]) and w["grace"] in ask["text"]
        assert set(buttons(ask)) == {w["stop"], w["cancel"]}
        assert await press(buttons(ask)[w["cancel"]], ask) == w["cancelled"]
        assert await bot.wait(lambda: w["kept"] in now(ask))
        assert w["spent"] in await press(buttons(ask)[w["cancel"]], ask)
        (ask,) = await bot.ask(f"/kill {pid}")
        assert (await press(buttons(ask)[w["stop"]], ask)).startswith(w["stopping"])
        assert await bot.wait(lambda: now(ask).startswith(w["stopped"]), 20), now(ask)
        assert w["by"] in now(ask)
    s = fast_settings(ikabot_dir.path, api, tmp_path / "state", lang=lang, allow_kill=False)
    async with running_bot(s, api) as bot:
        (off,) = await bot.ask("/kill")
        assert w["off"] in off["text"]


def test_the_shared_tokens_notice_speaks_the_language():
    """The notice of the shared token's blind spot (`poller.blind_spot_text`), in each
    language, with the figure of the language."""
    from telebot.bot.poller import blind_spot_text

    said = {}
    for lang in ("en", *LANGS):
        with i18n.in_language(lang):
            said[lang] = blind_spot_text("14:05 IST", 30.0)
    assert (
        said["en"].startswith("⚠️ telebot cannot see your commands for now (until about 14:05 IST)")
        and "30 minutes old" in said["en"]
    )
    assert (
        said["es"].startswith(
            "⚠️ Por ahora telebot no ve tus comandos (hasta aproximadamente 14:05 IST)"
        )
        and "30 minutos" in said["es"]
    )
    assert (
        said["pt"].startswith("⚠️ Por enquanto o telebot não vê seus comandos")
        and "30 minutos" in said["pt"]
    )


def test_the_database_notices_speak_the_language():
    """What the owner is told when telebot's own disk fails: the reason and the notice."""
    import sqlite3

    from telebot.state.fallback import disk_failure

    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = sqlite3.SQLITE_FULL  # type: ignore[attr-defined]
    with i18n.in_language("es"):
        assert disk_failure(full) == "el disco está lleno"
    with i18n.in_language("pt"):
        assert disk_failure(full) == "o disco está cheio"
    assert disk_failure(full) == "the disk is full"
