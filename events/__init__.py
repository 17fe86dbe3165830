"""Schemas of every message that crosses a process boundary, with their codecs."""
