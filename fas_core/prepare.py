"""Prerequisites of a run: what must exist before training starts, and the command that makes it.

A task lists its :class:`Prerequisite` s (the preprocessed demo data, DSDG's scale-1.0 crop
cache, the single-frame checkpoint the multi-frame stage starts from). :func:`ensure` runs the
command of each missing one when the config allows it (``data.preprocess_config`` set, for the
demo configs), and otherwise stops with one line saying what is missing and the command that
makes it. This is the only place that makes missing inputs (docs/architecture.md).
Commands run as separate processes (``python -m <module> ...``), so the core imports no stage.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import UserError


@dataclass(frozen=True)
class Prerequisite:
    path: Path  # exists when the prerequisite is met
    command: tuple[str, ...]  # makes it (run from the repository root)
    what: str  # e.g. "the preprocessed demo data"
    automatic: bool  # the config allows running the command unasked

    def met(self) -> bool:
        return self.path.exists()


class PrerequisiteError(UserError):
    """A missing input that this run may not make by itself."""


def python_module(module: str, *args: str) -> tuple[str, ...]:
    """A command running ``python -m module args`` with this interpreter."""
    return (sys.executable, "-m", module, *args)


def show(command: Sequence[str]) -> str:
    """A command as a user would type it (shell-quoted, ``python`` for this interpreter)."""
    words = ["python" if w == sys.executable else w for w in command]
    return shlex.join(words)


def ensure(prerequisites: Sequence[Prerequisite], tag: str, may_run: bool = True) -> None:
    """Make every missing prerequisite, in order; stop with the command to run where that is not allowed.

    ``may_run`` false (a DDP process other than the first) never runs anything: the launcher
    makes prerequisites before it starts the processes.
    """
    for p in prerequisites:
        if p.met():
            continue
        if not (p.automatic and may_run):
            raise PrerequisiteError(f"{p.what} not found ({p.path}): make it first with: {show(p.command)}")
        print(f"[{tag}] {p.what} not found ({p.path}): running {show(p.command)}", flush=True)
        rc = subprocess.call(list(p.command))
        if rc != 0:
            raise PrerequisiteError(f"making {p.what} failed (exit {rc}): {show(p.command)}")
        if not p.met():
            raise PrerequisiteError(f"{show(p.command)} finished but {p.path} is still missing")
