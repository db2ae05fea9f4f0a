"""ikabot 7.7.2's own menu, offline, for the tests: `python offline_ikabot.py --home H --log L
--gates G`. It is the demo's (`telebot.demo.offline_ikabot`: only the network stubbed, every
connection off the machine refused), with the tests' gates: a task's mission waits for the
gate `G/<pid>-run-k`. With the gate `G/slow-menu` there, the menu, back from a task's
configurator, waits for the gate `G/menu-back` before it shows its main menu again (a slow
redraw, made certain).
"""

from __future__ import annotations

import os

from telebot.demo.offline_ikabot import prepare, until


def main() -> None:
    args, command_line = prepare()
    shown = command_line.show_proxy  # called as each main menu starts to be drawn
    visits = iter(range(10**6))

    def show_proxy(session: object) -> None:
        if next(visits) and args.gates and os.path.exists(os.path.join(args.gates, "slow-menu")):
            until(args.gates, "menu-back")
        shown(session)

    command_line.show_proxy = show_proxy
    command_line.main()


if __name__ == "__main__":
    main()
