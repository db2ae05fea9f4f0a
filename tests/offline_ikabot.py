"""ikabot 7.7.2's own menu, offline, for the tests: `python offline_ikabot.py --home H --log L
--gates G`. It is the demo's (`telebot.demo.offline_ikabot`: only the network stubbed, every
connection off the machine refused), with the tests' gates: a task's mission waits for the
gate `G/<pid>-run-k`."""

from __future__ import annotations

from telebot.demo.offline_ikabot import main

if __name__ == "__main__":
    raise SystemExit(main())
