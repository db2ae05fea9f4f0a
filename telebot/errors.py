"""Errors that end a command with one line on stderr and exit status 2.

Every expected failure (bad path, wrong password, no Telegram config, ...) is raised as a
`UsageError` whose message says what to fix; the CLI prints it alone, never a traceback.
"""

from __future__ import annotations


class UsageError(Exception):
    """Bad configuration or input: the message is the single line shown to the player."""

    exit_code = 2


class DataError(UsageError):
    """ikabot's data cannot be read (missing, corrupt, wrong password, unknown e-mail)."""


class ConfigError(UsageError):
    """telebot's own configuration is missing or invalid."""


class TornRead(Exception):
    """A read caught ikabot in the middle of rewriting a file; retry, never trust it."""
