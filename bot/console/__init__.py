"""The operator console: accounts and sessions, the queue, case take-over and case work."""
