"""A fleet: three machines' telebots (three ikabot data sets written by ikabot's code, real
task processes), one loopback Bot API with three bots, one forum group with a topic per
machine, and a real Prometheus scraping the three (when the `prometheus` binary is installed;
else each exposition is read with prometheus-client's parser). A task killed on machine B is
told in B's topic only, shows in B's metrics by the next full scan, and the alert rule fires on
exactly those series in `promtool test rules`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import subprocess
import textwrap
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from botharness import Harness, fast_settings, running_bot
from conftest import ALICE, BOB
from ikabotdata import Account, IkabotDir
from test_metrics import samples, scrape, value
from util import DEADLINE

from telebot.demo.fakeapi import FakeBotAPI

FORUM = -1009876
OWNER = 42
CAROL = Account("carol@example.org", "carol", "7", "fr", password="carol-pw")
MACHINES = {
    "a": ("111:ALPHA", "alpha_telebot", ALICE),
    "b": ("222:BETA", "beta_telebot", BOB),
    "c": ("333:GAMMA", "gamma_telebot", CAROL),
}
DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "prometheus"
PROMETHEUS, PROMTOOL = shutil.which("prometheus"), shutil.which("promtool")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def api() -> Iterator[FakeBotAPI]:
    first = MACHINES["a"]
    with FakeBotAPI(token=first[0], bot_username=first[1]) as server:
        for token, name, _ in list(MACHINES.values())[1:]:
            server.add_bot(token, name)
        server.make_forum(FORUM)
        yield server


@contextlib.asynccontextmanager
async def fleet(api: FakeBotAPI, tmp_path: Path, spawn) -> AsyncIterator[dict[str, Any]]:
    machines: dict[str, Any] = {}
    async with contextlib.AsyncExitStack() as stack:
        for host, (token, name, account) in MACHINES.items():
            data = IkabotDir(tmp_path / host)
            task = spawn()
            data.add_pirate(account, task.pid, done=1, total=6)
            topic = api.add_topic(FORUM, host)
            port = free_port()
            textfile = tmp_path / f"{host}-textfile" / "telebot.prom"
            textfile.parent.mkdir()
            settings = fast_settings(
                data.path,
                api,
                tmp_path / f"state-{host}",
                token=token,
                chat_id=str(FORUM),
                host_label=host,
                topic_id=topic,
                owner_ids=frozenset({OWNER}),
                metrics_addr=("127.0.0.1", port),
                metrics_file=textfile,
            )
            bot = await stack.enter_async_context(running_bot(settings, api))
            machines[host] = {
                "bot": bot,
                "name": name,
                "task": task,
                "topic": topic,
                "port": port,
                "textfile": textfile,
            }
        yield machines


@contextlib.contextmanager
def prometheus(tmp_path: Path, ports: list[int]) -> Iterator[str | None]:
    """A real Prometheus scraping `ports` every second with telebot's rules, or None."""
    if PROMETHEUS is None:
        yield None
        return
    tmp_path.mkdir()
    shutil.copy(DEPLOY / "rules.yml", tmp_path / "rules.yml")
    config = tmp_path / "prometheus.yml"
    targets = ", ".join(f"'127.0.0.1:{p}'" for p in ports)
    config.write_text(
        textwrap.dedent(f"""\
        global: {{scrape_interval: 1s, evaluation_interval: 1s}}
        rule_files: [rules.yml]
        scrape_configs:
          - job_name: telebot
            honor_labels: true
            static_configs: [{{targets: [{targets}]}}]
        """)
    )
    port = free_port()
    log = (tmp_path / "prometheus.log").open("w")
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def query(base: str, expr: str) -> list[dict[str, Any]]:
    url = f"{base}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    try:
        with urllib.request.urlopen(url, timeout=DEADLINE) as r:
            return list(json.load(r)["data"]["result"])
    except OSError:  # not listening yet
        return []


def alerts(base: str) -> list[dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"{base}/api/v1/alerts", timeout=DEADLINE) as r:
            return list(json.load(r)["data"]["alerts"])
    except OSError:
        return []


async def eventually(check, timeout: float = 60.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = await asyncio.to_thread(check)
        if found:
            return found
        assert loop.time() < deadline, "not within the deadline"
        await asyncio.sleep(0.1)


def promtool_test(tmp_path: Path, labels: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`promtool test rules` on telebot's rules with B's down series as scraped: it fires."""
    tmp_path.mkdir()
    shutil.copy(DEPLOY / "rules.yml", tmp_path / "rules.yml")
    selector = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    expected = "\n".join(
        f"              {k}: {json.dumps(v)}"
        for k, v in sorted({**labels, "severity": "warning"}.items())
    )
    (tmp_path / "fleet.test.yml").write_text(f"""\
rule_files: [rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'ikabot_task_up{{{selector}}}'
        values: '0x10'
    alert_rule_test:
      - eval_time: 4m
        alertname: IkabotTaskDown
        exp_alerts: []
      - eval_time: 5m
        alertname: IkabotTaskDown
        exp_alerts:
          - exp_labels:
{expected}
            exp_annotations:
              summary: {json.dumps(f"autoPirate {labels['pid']} is down on b")}
              description: {
        json.dumps(
            f"ikabot's autoPirate (pid {labels['pid']}) of bob (s12-de) on b has not "
            f"been running for 5 minutes. /details {labels['pid']} in that machine's "
            "topic says how it ended; 🔁 Run again starts it.",
            ensure_ascii=False,
        )
    }
""")
    return subprocess.run(
        [PROMTOOL or "promtool", "test", "rules", "fleet.test.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def in_topic(api: FakeBotAPI, topic: int) -> list[dict[str, Any]]:
    return [m for m in api.sent(FORUM) if m.get("message_thread_id") == topic]


async def next_scans(path: Path, count: int) -> str:
    """The textfile after `count` more scans replaced it (each write is a new file, renamed
    into place), as the last of them wrote it."""
    seen = path.stat().st_ino
    for _ in range(count):

        def replaced(old: int = seen) -> int | None:
            ino = path.stat().st_ino
            return ino if ino != old else None

        seen = await eventually(replaced, 30)
    return path.read_text()


@pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (apt-get install prometheus)"
)
async def test_a_task_killed_on_b_is_bs_alone(api, tmp_path, spawn):
    async with fleet(api, tmp_path, spawn) as machines:
        a, b, c = machines["a"], machines["b"], machines["c"]
        with prometheus(tmp_path / "prom", [m["port"] for m in machines.values()]) as prom:
            if prom is not None:  # the real one sees all three machines' tasks running
                assert await eventually(lambda: len(query(prom, "ikabot_task_up == 1")) == 3)
            victim = b["task"]
            victim.kill()
            victim.wait()
            harness: Harness = b["bot"]
            assert await harness.wait(
                lambda: any("💀 autoPirate killed" in m["text"] for m in api.sent(FORUM)), 30
            )

            # told in B's topic only, by B's bot
            deaths = [m for m in api.sent(FORUM) if "💀" in m["text"]]
            assert [(m["bot"], m["message_thread_id"]) for m in deaths] == [(b["name"], b["topic"])]
            assert str(victim.pid) in deaths[0]["text"]
            for other in (a, c):
                assert all(
                    "💀" not in m["text"] and m["bot"] == other["name"]
                    for m in in_topic(api, other["topic"])
                )

            # B's metrics by the next full scan (a scan under way may have read before)
            text = await next_scans(b["textfile"], 2)
            down = samples(text)
            assert value(down, "ikabot_task_up", pid=str(victim.pid), host="b") == 0
            assert value(down, "ikabot_task_ends_total", host="b", how="killed") == 1
            for other, account in ((a, ALICE), (c, CAROL)):  # the others: untouched
                theirs = samples(await asyncio.to_thread(scrape, other["port"]))
                assert (
                    value(
                        theirs,
                        "ikabot_task_up",
                        pid=str(other["task"].pid),
                        username=account.username,
                    )
                    == 1
                )
                assert (value(theirs, "ikabot_task_ends_total", how="killed") or 0) == 0
            labels = next(
                dict(ls) for (n, ls), v in down.items() if n == "ikabot_task_up" and v == 0
            )

            if prom is not None:  # the real Prometheus: B's series down, its rule pending
                result = await eventually(lambda: query(prom, "ikabot_task_up == 0"))
                assert [r["metric"]["host"] for r in result] == ["b"]
                pending = await eventually(
                    lambda: [
                        x for x in alerts(prom) if x["labels"]["alertname"] == "IkabotTaskDown"
                    ]
                )
                assert [(x["state"], x["labels"]["pid"]) for x in pending] == [
                    ("pending", str(victim.pid))
                ]
                labels["job"] = "telebot"  # what Prometheus adds when scraping

    done = promtool_test(tmp_path / "rules-test", labels)
    assert done.returncode == 0, done.stdout + done.stderr
