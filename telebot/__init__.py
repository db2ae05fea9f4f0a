"""telebot: a Telegram front end for ikabot tasks (status, web-server URLs, death alerts)."""

__version__ = "0.1.0"
