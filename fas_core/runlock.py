"""One run at a time per output folder: an advisory lock that names whoever holds it.

A whole run takes ``<root>/.<name>.lock`` exclusively. A shard run (``--shard i/n``) takes that
file shared and ``<root>/.<name>.shard-i-of-n.lock`` exclusively, so the shards of one job run
side by side, while a second run of the same shard, or a whole run next to shards, is refused.

The lock is ``flock``: the kernel drops it when its holder ends, ``kill -9`` included, so a lock
never outlives its run. The locked file holds one JSON line naming the holder (pid, host, start
time, command), cleared when the run ends; a run that finds that line left behind, by a holder
killed before it could clear it, takes the lock over and says so. A refused run gets
:class:`RunLockedError`, whose one-line message names the other run. Lock files are never
removed (removing one while another process waits on it would let two runs hold "the" lock).
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import shlex
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import UserError
from .shards import Shard


class RunLockedError(UserError, RuntimeError):
    """Another run holds the lock of the folder."""


def lock_path(root: str | Path, name: str, shard: Shard | None = None) -> Path:
    return Path(root) / (f".{name}.{shard.tag}.lock" if shard else f".{name}.lock")


def _holder_info() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname(),
            "since": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": shlex.join([Path(sys.executable).name, *sys.argv])}


def describe_holder(text: str) -> str:
    """``pid 12 on host h since 2025-01-01T10:00:00+00:00 (python -m data.crop ...)`` from a lock file's line."""
    try:
        info = json.loads(text)
        return f"pid {info['pid']} on host {info['host']} since {info['since']} ({info['command']})"
    except (ValueError, KeyError, TypeError):
        return "a run that did not say who it is"


def _open(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except PermissionError:
        raise PermissionError(f"no permission to open the lock file {path} for writing (this process runs as uid "
                              f"{os.geteuid()}): is the folder another account's?") from None


def _read(fd: int) -> str:
    return os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()


def _write(fd: int, text: str) -> None:
    os.ftruncate(fd, 0)
    if text:
        os.pwrite(fd, text.encode("utf-8"), 0)


def _try_flock(fd: int, exclusive: bool) -> bool:
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _note_takeover(fd: int, path: Path) -> None:
    """Held now, yet naming a holder: that run was killed before it could clear the file."""
    left = _read(fd)
    if left:
        print(f"note: taking over the lock {path} of an earlier run that ended without releasing it "
              f"({describe_holder(left)})", file=sys.stderr)
        _write(fd, "")


def _shard_holders(root: Path, name: str) -> list[str]:
    """Who holds the shard locks of ``root`` now (a shard file that can be locked is held by nobody)."""
    out = []
    for path in sorted(root.glob(f".{name}.shard-*.lock")):
        fd = _open(path)
        try:
            if not _try_flock(fd, exclusive=False):
                index, _, count = path.name.split(".")[2].removeprefix("shard-").partition("-of-")
                out.append(f"shard {index}/{count}: {describe_holder(_read(fd))}")
        finally:
            os.close(fd)
    return out


def _refuse(root: Path, holders: list[str]) -> RunLockedError:
    who = "; ".join(holders) or "another run"
    return RunLockedError(f"{root} is in use by another run: {who}; wait for it to end or stop it")


def _acquire(root: Path, name: str, shard: Shard | None) -> list[int]:
    """The locked file descriptors (whole-run lock first); :class:`RunLockedError` when held elsewhere."""
    main_path = lock_path(root, name)
    main = _open(main_path)
    if not _try_flock(main, exclusive=shard is None):
        holders = [describe_holder(_read(main))] if _read(main) else _shard_holders(root, name)
        os.close(main)
        raise _refuse(root, holders)
    _note_takeover(main, main_path)
    if shard is None:
        _write(main, json.dumps(_holder_info()))
        return [main]
    own_path = lock_path(root, name, shard)
    own = _open(own_path)
    if not _try_flock(own, exclusive=True):
        holder = describe_holder(_read(own))
        os.close(own)
        os.close(main)
        raise _refuse(root, [f"shard {shard}: {holder}"])
    _note_takeover(own, own_path)
    _write(own, json.dumps(_holder_info()))
    return [main, own]


@contextlib.contextmanager
def run_lock(root: str | Path, name: str, shard: Shard | None = None) -> Iterator[None]:
    """Hold the lock of ``root`` (for shard ``shard``, or the whole of it) while the block runs."""
    fds = _acquire(Path(root), name, shard)
    try:
        yield
    finally:
        _write(fds[-1], "")  # the file this run wrote its name into
        for fd in reversed(fds):
            os.close(fd)
