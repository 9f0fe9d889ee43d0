"""User errors and the command-line guard every entry point runs under.

A :class:`UserError` is a problem with what the user gave (a path, a config key, a checkpoint,
a list file), not a bug: the command prints one line naming the file or key and what is wrong,
and exits with status 2. Every other exception is a bug and keeps its traceback.
``--debug`` on the command line, or ``FAS_DEBUG=1`` in the environment, shows the traceback of
user errors too (see docs/architecture.md, "Errors").
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

EXIT_USER_ERROR = 2
DEBUG_FLAG = "--debug"


class UserError(Exception):
    """Bad input from the user: printed as one line, exit status 2."""


def debug_requested(argv: Sequence[str] | None = None) -> bool:
    argv = sys.argv[1:] if argv is None else argv
    return DEBUG_FLAG in argv or os.environ.get("FAS_DEBUG", "") not in ("", "0")


def strip_debug(argv: Sequence[str] | None) -> list[str] | None:
    """``argv`` without ``--debug`` (``None`` stays ``None``: argparse then reads ``sys.argv``)."""
    if argv is None:
        if DEBUG_FLAG in sys.argv:
            sys.argv = [a for a in sys.argv if a != DEBUG_FLAG]
        return None
    return [a for a in argv if a != DEBUG_FLAG]


def user_errors() -> tuple[type[BaseException], ...]:
    """Exception types that mean bad input wherever they come from (missing or unreadable files)."""
    return (UserError, FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)


def run_cli(main: Callable[[Sequence[str] | None], Any], argv: Sequence[str] | None = None) -> Any:
    """Run ``main(argv)``; a user error becomes one line on stderr and exit status 2."""
    debug = debug_requested(argv)
    argv = strip_debug(argv)
    try:
        return main(argv)
    except user_errors() as e:
        if debug:
            raise
        message = str(e) if not isinstance(e, OSError) or not e.filename else _os_message(e)
        print(f"error: {message}", file=sys.stderr, flush=True)
        raise SystemExit(EXIT_USER_ERROR) from None


def _os_message(e: OSError) -> str:
    what = {FileNotFoundError: "not found", PermissionError: "permission denied (not readable or not writable)",
            IsADirectoryError: "is a folder, not a file", NotADirectoryError: "is not a folder"}
    return f"{e.filename}: {what.get(type(e), e.strerror or type(e).__name__)}"
