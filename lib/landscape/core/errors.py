"""Errors that are the user's to fix, reported the same way by every command.

A :class:`UserError` (bad params, a missing path or dataset, an unusable device, a malformed
override, a folder that cannot be written) is printed by the command line as one line,
``error: <message>``, with exit status 2 and no traceback, before anything is computed. In a
notebook (JupyterLab, or a render's kernel) it is shown as one line too, ``<kind>: <message>``
(IPython shows ``_render_traceback_`` instead of a traceback). Everything else is a bug and keeps
its traceback.
"""
from __future__ import annotations


def one_line(message: object) -> str:
    """``message`` on one line (every run of white space, newlines included, made one space)."""
    return " ".join(str(message).split())


class UserError(Exception):
    """Bad input from the user; the message names what is wrong and what is allowed."""

    def _render_traceback_(self) -> list[str]:
        """What IPython shows for this error in a notebook: one line, no traceback."""
        return [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {one_line(self)}"]


class ParamsError(UserError, ValueError):
    """Invalid report parameters; the message names the key and what is allowed."""
