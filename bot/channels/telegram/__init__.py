"""Telegram: the aiogram client, polling or webhook in, the paced outbox out (see channel.py)."""
