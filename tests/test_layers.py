"""Imports follow the data: ikabot/ → processes/ → task views → alerts/ → bot/ (demo/ apart).

A stage may use what comes before it, never what comes after: read from the source with `ast`
(every import, also one inside a function or under TYPE_CHECKING), so a shortcut against the
flow fails here rather than in a reviewer's head."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import telebot

ROOT = Path(telebot.__file__).parent

# (package or module, what it must never import)
RULES = [
    ("telebot.ikabot", ("telebot.processes", "telebot.alerts", "telebot.bot", "telebot.state",
                        "telebot.demo")),
    ("telebot.processes", ("telebot.alerts", "telebot.bot", "telebot.state", "telebot.demo")),
    ("telebot.alerts", ("telebot.bot", "telebot.demo")),
    ("telebot.menu", ("telebot.alerts", "telebot.bot", "telebot.state", "telebot.demo")),
    ("telebot.bot", ("telebot.demo",)),
    ("telebot.model", ("telebot.state", "telebot.alerts", "telebot.bot")),
] + [  # the task views and their words: telebot's memory is passed in as plain values
    (view, ("telebot.state", "telebot.alerts", "telebot.bot", "telebot.demo"))
    for view in ("telebot.tasks", "telebot.facts", "telebot.progress", "telebot.doubled",
                 "telebot.render", "telebot.detailsview", "telebot.clock")
]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    package = module_name(path) if path.name == "__init__.py" else \
        module_name(path).rsplit(".", 1)[0]
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
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def modules(prefix: str) -> list[Path]:
    path = ROOT.parent.joinpath(*prefix.split("."))
    return sorted(path.rglob("*.py")) if path.is_dir() else [path.with_suffix(".py")]


def against(prefix: str, forbidden: tuple[str, ...]) -> list[str]:
    bad = []
    for path in modules(prefix):
        for name in sorted(imports(path)):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                bad.append(f"{module_name(path)} imports {name}")
    return bad


@pytest.mark.parametrize(("prefix", "forbidden"), RULES, ids=[r[0] for r in RULES])
def test_no_import_against_the_flow(prefix: str, forbidden: tuple[str, ...]):
    assert against(prefix, forbidden) == []


def test_the_task_model_does_not_import_telebots_state():
    assert against("telebot.tasks", ("telebot.state",)) == []


def test_the_check_sees_a_shortcut():
    """The parser itself: relative, lazy and TYPE_CHECKING imports all count."""
    assert "telebot.telegram_errors" in imports(ROOT / "alerts" / "outbox.py")
    code = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..bot import poller\n"
            "def f():\n    import telebot.bot.app\n")
    assert {"telebot.bot.poller", "telebot.bot.app"} <= imports_of(code, "telebot.alerts")


async def test_a_handler_bug_is_logged_with_its_stack_without_the_token(caplog):
    """`handlers.on_error`: the traceback (where the bug is) in the log, secrets redacted."""
    import logging
    from types import SimpleNamespace

    from telebot import logsafe
    from telebot.bot.handlers import on_error

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
            if isinstance(node, ast.ClassDef) and \
                    node.end_lineno - node.lineno + 1 > LONGEST_CLASS:  # type: ignore[operator]
                out.append(f"{module_name(path)}.{node.name}: "
                           f"{node.end_lineno - node.lineno + 1} lines")  # type: ignore[operator]
    return out


def test_every_class_reads_on_one_page():
    assert long_classes(sorted(ROOT.rglob("*.py"))) == []


def runtime_asserts(paths: list[Path]) -> list[str]:
    """`assert` statements: `python -O` drops them, so none may guard a runtime path."""
    return [f"{module_name(path)}:{node.lineno}" for path in paths
            for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Assert)]


def test_no_assert_as_a_runtime_check():
    assert runtime_asserts(sorted(ROOT.rglob("*.py"))) == []


def test_the_readme_map_names_every_module():
    """README's "How it is built" is where a newcomer finds the room for a change: every
    module of telebot/ is named there."""
    readme = (ROOT.parent / "README.md").read_text()
    section = readme[readme.index("## How it is built"):]
    section = section[:section.find("\n## ", 1)] if "\n## " in section[1:] else section
    missing = [module_name(p) for p in sorted(ROOT.rglob("*.py"))
               if p.stem not in ("__init__", "__main__")
               and not re.search(rf"\b{re.escape(p.stem)}\b", section)]
    assert missing == []
