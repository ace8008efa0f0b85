"""The conversation and case rules: states, transitions, guards, texts and free-text reading.

Pure code: nothing here does I/O or imports a channel library, a web framework or SQLAlchemy.
"""
