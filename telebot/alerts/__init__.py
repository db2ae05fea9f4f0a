"""Alerts: tracking live tasks, telling how one ended, storms, the durable outbox, the texts."""
