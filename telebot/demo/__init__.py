"""`telebot demo`: the whole system on sample data, real task processes and a loopback Bot API."""
