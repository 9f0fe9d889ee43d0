"""User errors and the command-line guard every entry point runs under.

A :class:`UserError` is a problem with what the user gave (a path, a config key, a checkpoint,
a list file), not a bug: the command prints one line naming the file or key and what is wrong,
and exits with status 2. Every other exception is a bug and keeps its traceback.
``--debug`` on the command line, or ``FAS_DEBUG=1`` in the environment, shows the traceback of
user errors too (see docs/architecture.md, "Errors"; docs/reliability.md lists the cases).
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130  # what a shell reports for a command ended by Ctrl-C
DEBUG_FLAG = "--debug"
# OS errors that say something about the place the user chose to write to, never about the code.
_PLACE_ERRNOS = {errno.EROFS: "read-only file system", errno.ENOSPC: "no space left on the device",
                 errno.EDQUOT: "disk quota exceeded", errno.EACCES: "permission denied",
                 errno.ENAMETOOLONG: "file name too long"}
_debug_depth = 0  # > 0 while a command runs with --debug


class UserError(Exception):
    """Bad input from the user: printed as one line, exit status 2."""


def debug_requested(argv: Sequence[str] | None = None) -> bool:
    argv = sys.argv[1:] if argv is None else argv
    return DEBUG_FLAG in argv or os.environ.get("FAS_DEBUG", "") not in ("", "0")


def debug_active() -> bool:
    """Whether the command now running asked for tracebacks (``--debug`` or ``FAS_DEBUG=1``)."""
    return _debug_depth > 0 or os.environ.get("FAS_DEBUG", "") not in ("", "0")


def strip_debug(argv: Sequence[str] | None) -> list[str] | None:
    """``argv`` without ``--debug`` (``None`` stays ``None``: argparse then reads ``sys.argv``)."""
    if argv is None:
        if DEBUG_FLAG in sys.argv:
            sys.argv = [a for a in sys.argv if a != DEBUG_FLAG]
        return None
    return [a for a in argv if a != DEBUG_FLAG]


def user_errors() -> tuple[type[BaseException], ...]:
    """Exception types that mean bad input wherever they come from (missing or unreadable files)."""
    return (UserError, FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, FileExistsError)


def is_user_error(e: BaseException, also: tuple[type[BaseException], ...] = ()) -> bool:
    """A user error: one of :func:`user_errors`, one of ``also``, or an OS error about the place written to."""
    if isinstance(e, user_errors() + tuple(also)):
        return True
    return isinstance(e, OSError) and e.errno in _PLACE_ERRNOS


def error_line(e: BaseException) -> str:
    """The one line a user error prints: the message, or ``<file>: <what is wrong>`` for an OS error."""
    if isinstance(e, OSError) and e.filename and not isinstance(e, UserError):
        return _os_message(e)
    text = str(e).strip() or type(e).__name__
    return " ".join(text.split())  # a message that spans lines still prints as one


def run_cli(main: Callable[[Sequence[str] | None], Any], argv: Sequence[str] | None = None, prog: str | None = None,
            also: tuple[type[BaseException], ...] = (), return_status: bool = False) -> Any:
    """Run ``main(argv)``; a user error becomes one line on stderr and exit status 2.

    ``prog`` prefixes the line (``crop: error: ...``); ``also`` adds exception types that are user
    errors for this command (e.g. ``ValueError`` where every check of the input raises it).
    Ctrl-C ends the command with one line and status 130. ``return_status``: return the status
    instead of raising ``SystemExit`` (for a ``main`` that returns its exit status).
    """
    global _debug_depth
    debug = debug_requested(argv)
    argv = strip_debug(argv)
    _debug_depth += int(debug)
    try:
        return main(argv)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"{prog + ': ' if prog else ''}interrupted", file=sys.stderr, flush=True)
        return _exit(EXIT_INTERRUPTED, return_status)
    except Exception as e:
        if debug or not is_user_error(e, also):
            raise
        print(f"{prog + ': ' if prog else ''}error: {error_line(e)}", file=sys.stderr, flush=True)
        return _exit(EXIT_USER_ERROR, return_status)
    finally:
        _debug_depth -= int(debug)


def _exit(status: int, return_status: bool) -> int:
    if return_status:
        return status
    raise SystemExit(status)


def os_reason(e: OSError) -> str:
    """What an OS error says about its file, in words (``no such file or folder``, ``read-only file system``)."""
    what = {FileNotFoundError: "no such file or folder",
            PermissionError: "permission denied (not readable or not writable)",
            IsADirectoryError: "is a folder, not a file",
            NotADirectoryError: "a part of the path is a file, not a folder", FileExistsError: "already exists"}
    if isinstance(e, FileExistsError) and e.filename and not os.path.isdir(e.filename):
        return "exists and is not a folder"  # a file where the path needs a folder
    return what.get(type(e)) or _PLACE_ERRNOS.get(e.errno or 0) or e.strerror or type(e).__name__


def _os_message(e: OSError) -> str:
    return f"{e.filename}: {os_reason(e)}"
