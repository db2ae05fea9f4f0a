"""deploy/prometheus/: the scrape config and the alert rules as promtool reads them (`check
config`, `check rules`, the rules' own unit test `test rules`), run when promtool is installed
(Debian's `prometheus` package; CI installs it); and the names the rules and the Grafana
dashboard use are names telebot exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from telebot.config import Settings
from telebot.metrics.exporter import MetricsExporter
from telebot.metrics.snapshot import ScanFigures, TaskFigures

DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "prometheus"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (apt-get install prometheus)"
)


def promtool(*args: str, cwd: Path = DEPLOY) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PROMTOOL or "promtool", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


@needs_promtool
@pytest.mark.parametrize(
    "args",
    [
        ("check", "config", "prometheus.yml"),
        ("check", "rules", "rules.yml"),
        ("test", "rules", "rules.test.yml"),
    ],
)
def test_promtool_accepts_the_deploy_files(args):
    done = promtool(*args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


@needs_promtool
@pytest.mark.parametrize(
    "plant",
    [
        ("for: 5m", "for: 4m"),  # fires a minute early
        ("ikabot_task_up == 0", "ikabot_task_up == 1"),
        ("telebot_alerts_waiting > 0", "telebot_alerts_waiting > 5"),
    ],
)
def test_the_rules_unit_test_catches_a_wrong_rule(tmp_path, plant):
    """The unit test can fail: a rule changed in a copy of the files fails it."""
    for name in ("rules.yml", "rules.test.yml"):
        shutil.copy(DEPLOY / name, tmp_path / name)
    rules = tmp_path / "rules.yml"
    assert plant[0] in rules.read_text()
    rules.write_text(rules.read_text().replace(plant[0], plant[1], 1))
    done = promtool("test", "rules", "rules.test.yml", cwd=tmp_path)
    assert done.returncode != 0 and "FAILED" in done.stdout + done.stderr


def exported_names() -> set[str]:
    """Every sample name telebot's exposition holds (histogram parts included)."""
    exporter = MetricsExporter(Settings(ikabot_path=Path("/nonexistent")), time.time, host="h")
    exporter.collector.publish(
        ScanFigures(
            "h",
            0.0,
            (TaskFigures(("h", "u", "1", "en", "autoPirate", "1"), 1, 0.5),),
            (("running", 1), ("finished", 0), ("dead", 0)),
        ),
        0,
    )
    text = generate_latest(exporter.registry).decode()
    return {
        line.split("{")[0].split(" ")[0]
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def names_in(exprs: list[str]) -> set[str]:
    return {m for e in exprs for m in re.findall(r"\b((?:ikabot|telebot)_[a-z_]+)", e)}


def test_rules_and_dashboard_use_only_exported_names():
    exported = exported_names()
    assert {
        "ikabot_tasks",
        "ikabot_task_up",
        "ikabot_task_progress_ratio",
        "ikabot_task_ends_total",
        "telebot_alert_seconds_bucket",
        "telebot_alerts_waiting",
        "telebot_last_heartbeat_timestamp_seconds",
        "telebot_build_info",
        "telebot_keepalive_gave_up",
    } <= exported
    rules = re.findall(r"expr: (.+?)\n\s+(?:for|labels):", (DEPLOY / "rules.yml").read_text(), re.S)
    assert len(rules) == 4 and names_in(rules) <= exported
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs.append(dashboard["templating"]["list"][1]["definition"])
    assert names_in(exprs) and names_in(exprs) <= exported
    titles = {p["title"] for p in dashboard["panels"]}
    assert {"Tasks by state", "Progress", "Ends by kind", "Alert latency"} <= titles
    by_state = next(p for p in dashboard["panels"] if p["title"] == "Tasks by state")
    assert "by (host, state)" in by_state["targets"][0]["expr"]  # per host
