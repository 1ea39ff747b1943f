"""Persistence of conversations and feedback (SQLite by default), behind protocols."""
