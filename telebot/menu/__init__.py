"""/menu: ikabot's own menu in a pseudo-terminal, driven from Telegram (see docs/menu.md)."""
