"""Closed sets are StrEnums stored as the same strings; one AccountKey words an account;
the store reads an IkabotData, not telebot's settings; no file name twice; one import path
for the producer API."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from conftest import ALICE

from telebot.config import Settings
from telebot.ikabot.records import AccountKey
from telebot.ikabot.store import IkabotData, open_store
from telebot.menu.recorded import Recording, Step, StepKind, from_row, to_row
from telebot.menu.screen import Question
from telebot.state import StateDB, Tracked
from telebot.tasks.facts import HOWS, End, How


def test_how_a_task_ended_is_one_of_five_words_stored_as_before(tmp_path: Path):
    assert [h.value for h in How] == ["finished", "failed", "killed", "died", "stopped"]
    assert tuple(How) == HOWS
    assert End("killed").how is How.KILLED  # a plain word becomes the member
    with pytest.raises(ValueError):
        End("crashed")
    assert End.from_json({"how": "stopped"}).how is How.STOPPED
    assert End.from_json({"how": "crashed"}) is None
    assert json.loads(json.dumps(End(How.DIED).as_json()))["how"] == "died"
    assert f"{How.FAILED}" == str(How.FAILED) == "failed"
    db = StateDB(tmp_path)
    now = time.time()
    db.tracking.track(
        Tracked(
            7,
            70,
            now,
            "a@b.c",
            "u",
            "1",
            "en",
            "autoPirate",
            "s",
            None,
            None,
            [],
            now,
            now,
            now,
            None,
            None,
            None,
        )
    )
    assert db.tracking.end(7, 70, How.DIED, now)
    assert db.db.conn.execute("SELECT typeof(end_kind), end_kind FROM tracked").fetchone()[:] == (
        "text",
        "died",
    )
    db.close()


def test_a_menu_answers_kind_is_one_of_four_words_stored_as_before():
    q = Question("Choose", ())
    step = Step(q, "", "enter")
    assert step.kind is StepKind.ENTER and step.describe() == "⏎"
    assert step.to_json()["kind"] == "enter"
    assert Step.from_json(json.loads(json.dumps(step.to_json()))) == step
    assert {k.value for k in StepKind} == {"choice", "text", "enter", "secret"}
    with pytest.raises(ValueError):
        Step(q, "1", "button")


def test_one_account_key_words_an_account():
    key = AccountKey("a@b.c", "alice", "59", "en")
    assert key.label == "alice (s59-en)" and key.compact == "alice s59-en"
    assert key.fields == ("a@b.c", "alice", "59", "en")
    assert key.player == AccountKey(None, "alice", "59", "en").player
    rec = Recording(1, 2, "autoPirate", key, (Step(Question("?", ()), "5", "text"),), 3.0, None)
    row = to_row(rec)
    assert (row["email"], row["username"], row["world"], row["server"]) == key.fields
    assert from_row({**row, "recorded_at": 3.0}) == rec


def test_the_store_reads_a_path_an_email_and_a_password(ikabot_dir):
    ikabot_dir.add_task(ALICE, 4242, "autoPirate")
    source = IkabotData(ikabot_dir.path, ALICE.email, "Sup3r-secret")
    assert "Sup3r-secret" not in repr(source)
    by_source = open_store(source).read()
    by_settings = open_store(Settings(ikabot_path=ikabot_dir.path, email=ALICE.email)).read()
    assert [a.key for a in by_source.accounts] == [a.key for a in by_settings.accounts]
    assert by_source.accounts[0].process_list[0]["pid"] == 4242


TELEBOT = Path(__file__).resolve().parent.parent / "telebot"


def test_no_file_name_twice():
    """A file's name says one thing: `records.py` in two packages made a reader ask which."""
    seen: dict[str, list[str]] = {}
    for path in sorted(TELEBOT.rglob("*.py")):
        if path.stem not in ("__init__", "__main__"):
            seen.setdefault(path.name, []).append(str(path.relative_to(TELEBOT)))
    assert {name: paths for name, paths in seen.items() if len(paths) > 1} == {}


def producer_api_uses(text: str) -> list[str]:
    """The producer API's names reached by a path other than `telebot.details`."""
    import telebot.details

    api = set(telebot.details.__all__)
    found = [
        name
        for names in re.findall(r"from telebot\.ikabot\.producer import \(?([^)\n]+)", text)
        for name in re.findall(r"\w+", names)
        if name in api
    ]
    found += [m for m in re.findall(r"\bproducer\.(\w+)", text) if m in api]
    return found + re.findall(r"telebot\.ikabot\.details", text)


def test_the_producer_api_has_one_import_path():
    """Tests, benchmarks, the demo and the docs reach the producer API as `telebot.details`,
    the contract's path; only the package that implements it names its home."""
    root = TELEBOT.parent
    files = [
        *sorted((root / "tests").glob("*.py")),
        *sorted((root / "bench").glob("*.py")),
        *sorted(TELEBOT.rglob("*.py")),
        root / "README.md",
        root / "CONTRIBUTING.md",
        *sorted((root / "docs").glob("*.md")),
    ]
    offenders = {
        str(p.relative_to(root)): uses
        for p in files
        if p.parent != TELEBOT / "ikabot"
        and p != TELEBOT / "details.py"
        and (uses := producer_api_uses(p.read_text()))
    }
    assert offenders == {}
    assert "from telebot.details import" in (root / "docs" / "producer-api.md").read_text()


@pytest.mark.parametrize("world", ["59", "s59", "S59", "s59-en", " s59 "])
def test_the_world_is_said_once_whatever_form_it_is_written_in(world: str):
    """ikabot writes `59`; the seed (and Ikariam's host names) `s59`: either is `s59-en`,
    never `ss59-en`. The record's own field stays as written (it locates the data)."""
    key = AccountKey(None, "alice", world, "en")
    assert key.where == "s59-en" and key.label == "alice (s59-en)"
    assert key.world_number == "59" and key.world == world
    assert AccountKey(None, "alice", "alpha", "en").where == "salpha-en"  # no number: as is


async def test_a_world_written_s59_is_shown_once_in_telegram_and_the_terminal(
    ikabot_dir, spawn, api, tmp_path, run_cli
):
    """Data written by ikabot's own code under world `s59`: /status and `telebot status` name
    the account `s59-en`, its header `world 59`, and nowhere `ss59`."""
    from botharness import fast_settings, running_bot
    from ikabotdata import Account

    seeded = Account("sam@example.org", "sam", "s59", "en", password="sam-pw")
    p = spawn()
    ikabot_dir.add_pirate(seeded, p.pid, done=1, total=4)
    r = run_cli("status", IKABOT_PATH=str(ikabot_dir.path))
    assert r.code == 0 and "s59-en" in r.out and "ss59" not in r.out, r.out
    async with running_bot(fast_settings(ikabot_dir.path, api, tmp_path / "s"), api) as bot:
        (reply,) = await bot.ask("/status")
        (details,) = await bot.ask(f"/details {p.pid}")
        (kill,) = await bot.ask(f"/kill {p.pid}")
    shown = " ".join(m["text"] for m in (reply, details, kill))
    assert "world 59" in reply["text"], reply["text"]
    assert "s59-en" in shown and "ss59" not in shown and "world s59" not in shown, shown
