"""The Telegram bot: the Application, its handlers, the shared-token poller, its jobs."""
