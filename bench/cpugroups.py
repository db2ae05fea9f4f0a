"""CPU control groups for a benchmark: telebot in one, the CPU hog in a sibling, each with a
weight, as systemd puts a unit with `CPUWeight=` beside the processes it competes with.

A user unit's `Nice=` below 0 needs a privilege a user manager lacks; `CPUWeight=` does not
(systemd ≥ 252 delegates the cpu controller to user@.service). To measure what that setting
does to an alert's latency under a hog, this builds the same tree by hand: cgroup v2's
`cpu.weight` (1–10000, default 100) or, on a cgroup v1 host, `cpu.shares` (weight × 1024 / 100,
the mapping systemd uses). Needs root; the tree is removed again on leaving.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from types import TracebackType

ROOT = Path("/sys/fs/cgroup")


class CpuGroups:
    """`with CpuGroups({"telebot": 1000, "hog": 100}) as g: g.join("telebot", pid)`."""

    def __init__(self, weights: dict[str, int]) -> None:
        self.weights = weights
        v1 = ROOT / "cpu"
        self.v2 = (ROOT / "cgroup.controllers").exists()
        base = ROOT if self.v2 else v1
        if not (base / ("cgroup.controllers" if self.v2 else "cpu.shares")).exists():
            raise SystemExit(f"no cpu cgroup controller under {ROOT}: run without --weight")
        self.top = base / f"telebot-bench-{os.getpid()}"

    def __enter__(self) -> CpuGroups:
        try:
            self.top.mkdir()
            if self.v2:
                (self.top / "cgroup.subtree_control").write_text("+cpu")
            for name, weight in self.weights.items():
                group = self.top / name
                group.mkdir()
                if self.v2:
                    (group / "cpu.weight").write_text(str(weight))
                else:
                    (group / "cpu.shares").write_text(str(weight * 1024 // 100))
        except OSError as e:
            self._remove()
            raise SystemExit(
                f"cannot make cpu cgroups under {self.top.parent} ({e.strerror}): "
                "--weight needs root and a writable cgroup tree"
            ) from None
        return self

    def join(self, name: str, pid: int) -> None:
        """Moves the process `pid` (all its threads, and what it starts later) into `name`."""
        (self.top / name / "cgroup.procs").write_text(str(pid))

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._remove()

    def _remove(self) -> None:
        """A group is removed only once empty: its processes are moved back to the root first
        (a process that is exiting may linger a moment, so retry briefly)."""
        if not self.top.exists():
            return
        parent = self.top.parent
        deadline = time.monotonic() + 5
        for group in [*(self.top / name for name in self.weights), self.top]:
            while group.exists():
                with contextlib.suppress(OSError):
                    for pid in (group / "cgroup.procs").read_text().split():
                        with contextlib.suppress(OSError):
                            (parent / "cgroup.procs").write_text(pid)
                    group.rmdir()
                if group.exists():
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.05)
