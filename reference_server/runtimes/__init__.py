"""Runtimes beyond the fake one: the real OpenCode (``opencode.py``)."""
