"""The README is a player's first page and links to the rest (docs/, CONTRIBUTING.md): every
relative link there resolves, every page in docs/ is reachable from the README, and the Quick
start's two commands come first and are the ones CI runs (`.ci/run`)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def relative_links(page: Path) -> list[str]:
    """The link targets in `page` that point into the repository (not a URL, not an anchor)."""
    return [
        target.split("#", 1)[0]
        for target in LINK.findall(page.read_text())
        if not re.match(r"[a-z]+:", target) and not target.startswith("#")
    ]


def test_every_relative_link_resolves():
    broken = [
        f"{page.relative_to(ROOT)} → {target}"
        for page in PAGES
        for target in relative_links(page)
        if not (page.parent / target).exists()
    ]
    assert broken == []


def test_every_docs_page_is_linked_from_the_readme():
    linked = {(ROOT / target).resolve() for target in relative_links(ROOT / "README.md")}
    orphans = [p.name for p in sorted((ROOT / "docs").glob("*.md")) if p.resolve() not in linked]
    assert orphans == []


def test_the_quick_start_comes_first_and_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    first = readme.split("\n## ", 2)[1]
    assert first.startswith("Quick start\n")
    commands = [
        line
        for line in first.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
        if line and not line.startswith("#")
    ]
    assert commands == [
        "python3 -m venv .venv && .venv/bin/pip install -q . && .venv/bin/telebot demo",
        'python3 -m venv .venv && .venv/bin/pip install -q -e ".[test]"'
        " && .venv/bin/python -m pytest -q",
    ]
    assert commands[1] in (ROOT / ".ci" / "run").read_text().splitlines()


def test_the_code_cites_only_pages_the_repository_has():
    """Docstrings cite the contract by its page (docs/contract.md), never a file from outside
    the repository (the design notes it grew from)."""
    cited = {
        (path.relative_to(ROOT), page)
        for path in sorted((ROOT / "telebot").rglob("*.py")) + sorted(ROOT.glob("tests/*.py"))
        for page in re.findall(r"\bdocs/[\w.-]+\.md|\bDESIGN(?:\.md)?\b", path.read_text())
    }
    assert [(str(path), page) for path, page in sorted(cited) if not (ROOT / page).is_file()] == []


def test_every_variable_is_in_the_contract_and_the_configuration_page():
    """`.env.example` lists every variable telebot reads; each is promised in the contract and
    explained to the player."""
    names = set(
        re.findall(r"\b(?:TELEBOT|IKABOT|TELEGRAM)_[A-Z_]+\b", (ROOT / ".env.example").read_text())
    )
    assert names
    for page in ("contract.md", "configuration.md"):
        text = (ROOT / "docs" / page).read_text()
        assert sorted(n for n in names if not re.search(rf"`{n}[`=]", text)) == [], page
