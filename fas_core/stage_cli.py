"""Command line shared by the ``data.<stage>`` modules (data.md, "Preprocessing stages").

Every stage is run as ``python -m data.<stage> --<input root> DIR --out DIR [--workers W] ...``
and answers bad input (a missing folder, an impossible setting) with one line
``<stage>: error: <what is wrong>`` on stderr and exit status 2, never a traceback; a finished
run exits 0 (failures of single videos are counted in ``summary.json``, not fatal).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

USAGE_ERROR = 2  # exit status of bad input, as argparse uses for bad arguments


def stage_parser(name: str, description: str, folders: Mapping[str, str], workers: bool = True
                 ) -> argparse.ArgumentParser:
    """The parser of ``python -m data.<name>``: the required folder options and ``--workers``.

    ``folders`` maps each required folder option to its help, e.g. ``{"--frames": "frames root"}``;
    the stage adds its own options to the returned parser.
    """
    parser = argparse.ArgumentParser(prog=f"python -m data.{name}", description=description)
    for flag, help_text in folders.items():
        parser.add_argument(flag, required=True, help=help_text)
    if workers:
        parser.add_argument("--workers", type=int, default=1, help="parallel processes, one video each (default 1)")
    return parser


def stage_main(name: str, parser: argparse.ArgumentParser, run: Callable[[argparse.Namespace], Any],
               argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and ``run`` the stage; bad input (``FileNotFoundError``, ``ValueError``) exits 2."""
    args = parser.parse_args(argv)
    try:
        run(args)
    except (FileNotFoundError, ValueError) as e:
        print(f"{name}: error: {e}", file=sys.stderr)
        return USAGE_ERROR
    return 0
