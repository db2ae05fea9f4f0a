"""Imports follow the data, floor by floor (`docs/architecture.md`):

    errors, logsafe, i18n → config → ikabot/ → processes/ → tasks/ → views/ → state/ → alerts/
        → metrics/ → menu/ → keepalive/ → bot/ → details (the producer API's path), demo/, cli

A module may use its own floor and the floors below it, never one above: read from the source
with `ast` (every import, also one inside a function or under TYPE_CHECKING), so a shortcut
against the flow fails here rather than in a reviewer's head. Between modules no import
circle either, so every room can be read bottom-up."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import telebot

ROOT = Path(telebot.__file__).parent

FLOORS = [
    ("telebot.errors", "telebot.logsafe", "telebot.compat", "telebot.i18n", "telebot.__init__"),
    ("telebot.config",),
    ("telebot.ikabot",),
    ("telebot.processes",),
    ("telebot.tasks",),
    ("telebot.views",),
    ("telebot.state",),
    ("telebot.alerts",),
    ("telebot.metrics",),
    ("telebot.menu",),
    ("telebot.keepalive",),
    ("telebot.bot",),
    ("telebot.details", "telebot.demo", "telebot.cli", "telebot.__main__"),
]


def floor_of(module: str) -> int | None:
    for i, names in enumerate(FLOORS):
        if any(module == n or module.startswith(n + ".") for n in names):
            return i
    return 0 if module == "telebot" else None


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, name: str | None = None) -> set[str]:
    name = name or module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    return imports_of(path.read_text(), package)


def imports_of(source: str, package: str) -> set[str]:
    """Every module `source` (a module of `package`) imports, as absolute names; `from
    telebot import x` counts as `telebot.x` too, since x may be a module."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def telebot_imports(name: str, known: dict[str, Path]) -> set[str]:
    """The telebot modules `name` imports (a name that is a class, not a module, is dropped)."""
    return {n for n in imports(known[name], name) if n in known}


def upward(modules: dict[str, Path]) -> list[str]:
    bad = []
    for name in modules:
        mine = floor_of(name)
        for used in sorted(telebot_imports(name, modules)):
            theirs = floor_of(used)
            if mine is None or theirs is None or theirs > mine:
                bad.append(f"{name} (floor {mine}) imports {used} (floor {theirs})")
    return bad


def circles(modules: dict[str, Path]) -> list[list[str]]:
    """Import cycles between telebot's modules (a package's __init__ re-exporting its own
    modules is no cycle: it is the package)."""
    graph = {
        name: {
            u for u in telebot_imports(name, modules) if u != name and not name.startswith(u + ".")
        }
        for name in modules
    }
    found, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                found.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    return found


def test_every_module_has_a_floor():
    assert [m for m in all_modules() if floor_of(m) is None] == []


def test_no_import_against_the_flow():
    assert upward(all_modules()) == []


def test_no_import_circle():
    assert circles(all_modules()) == []


def test_telegram_is_spoken_only_in_the_bot_stage():
    """alerts/ decides and hands a typed `Send`/`Edit` to the bot side (`bot/alert_out.py`);
    neither it nor anything below it (the menu, the state, ikabot's files) imports
    python-telegram-bot."""
    bot_floor = floor_of("telebot.bot") or 0
    below_bot = [name for name in all_modules() if (floor_of(name) or 0) < bot_floor]
    speaking = [
        name
        for name in below_bot
        if any(
            m == "telegram" or m.startswith("telegram.") for m in imports(all_modules()[name], name)
        )
    ]
    assert speaking == []
    assert any(m.startswith("telegram") for m in imports(ROOT / "bot" / "alert_out.py"))


def test_the_task_model_does_not_import_what_is_computed_from_it():
    modules = all_modules()
    assert (
        telebot_imports("telebot.tasks.model", modules)
        & {"telebot.tasks.facts", "telebot.tasks.merge", "telebot.tasks.progress"}
        == set()
    )


def test_the_check_sees_a_shortcut(tmp_path):
    """The parser itself: relative, lazy and TYPE_CHECKING imports all count; so do a cycle
    and an import up the floors (planted in files of our own, not in telebot)."""
    assert "telebot.alerts.sending" in imports(ROOT / "alerts" / "delivery.py")
    code = (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..bot import poller\n"
        "def f():\n    import telebot.bot.app\n"
    )
    assert {"telebot.bot.poller", "telebot.bot.app"} <= imports_of(code, "telebot.alerts")
    (tmp_path / "a.py").write_text("def f():\n    import telebot.tasks.b\n")
    (tmp_path / "b.py").write_text("from telebot.tasks import a\n")
    (tmp_path / "c.py").write_text("from telebot.bot import app\n")
    planted = {
        "telebot.tasks.a": tmp_path / "a.py",
        "telebot.tasks.b": tmp_path / "b.py",
        "telebot.ikabot.c": tmp_path / "c.py",
        "telebot.bot.app": tmp_path / "a.py",
    }
    assert [set(c) for c in circles(planted)] == [{"telebot.tasks.a", "telebot.tasks.b"}]
    assert any(
        line.startswith("telebot.ikabot.c (floor 2) imports telebot.bot.app")
        for line in upward(planted)
    )


async def test_a_handler_bug_is_logged_with_its_stack_without_the_token(caplog):
    """`fallbacks.on_error`: the traceback (where the bug is) in the log, secrets redacted."""
    import logging
    from types import SimpleNamespace

    from telebot import logsafe
    from telebot.bot.fallbacks import on_error

    token = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"
    logsafe.add_secret(token)

    def buggy_handler() -> None:
        raise KeyError(f"https://api.telegram.org/bot{token}/sendMessage")

    try:
        buggy_handler()
    except KeyError as e:
        error = e
    caplog.set_level(logging.WARNING)
    await on_error(None, SimpleNamespace(error=error))  # what PTB passes: context.error
    assert "Traceback" in caplog.text and "buggy_handler" in caplog.text
    assert token not in caplog.text and "KeyError" in caplog.text


LONGEST_CLASS = 150  # lines: a class one reads on one page


def long_classes(paths: list[Path]) -> list[str]:
    out = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > LONGEST_CLASS:  # type: ignore[operator]
                out.append(
                    f"{module_name(path)}.{node.name}: {node.end_lineno - node.lineno + 1} lines"
                )  # type: ignore[operator]
    return out


def test_every_class_reads_on_one_page():
    assert long_classes(sorted(ROOT.rglob("*.py"))) == []


def runtime_asserts(paths: list[Path]) -> list[str]:
    """`assert` statements: `python -O` drops them, so none may guard a runtime path."""
    return [
        f"{module_name(path)}:{node.lineno}"
        for path in paths
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Assert)
    ]


def test_no_assert_as_a_runtime_check():
    assert runtime_asserts(sorted(ROOT.rglob("*.py"))) == []


def test_the_module_map_names_every_module():
    """docs/architecture.md ("How it is built", linked from README and CONTRIBUTING) is where
    a newcomer finds the room for a change: every module of telebot/ is named there."""
    section = (ROOT.parent / "docs" / "architecture.md").read_text()
    missing = [
        module_name(p)
        for p in sorted(ROOT.rglob("*.py"))
        if p.stem not in ("__init__", "__main__")
        and not re.search(rf"\b{re.escape(p.stem)}\b", section)
    ]
    assert missing == []
