"""Errors that are the user's to fix, reported the same way by every command.

A :class:`UserError` (bad params, a missing path or dataset, an unusable device, a malformed
override) is printed by the command line as one line, ``error: <message>``, with exit status 2
and no traceback, before anything is computed. Everything else is a bug and keeps its traceback.
"""
from __future__ import annotations


class UserError(Exception):
    """Bad input from the user; the message names what is wrong and what is allowed."""
