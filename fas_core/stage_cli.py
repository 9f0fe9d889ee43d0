"""Command line shared by the ``data.<stage>`` modules (docs/data.md, "Preprocessing stages").

Every stage is run as ``python -m data.<stage> --<input root> DIR --out DIR [--workers W]
[--shard i/n] ...`` and answers bad input (a missing folder, an impossible setting, an output
folder another run holds) with one line ``<stage>: error: <what is wrong>`` on stderr and exit
status 2, never a traceback (``--debug`` shows it). A finished run exits 0 (failures of single videos are counted in
``summary.json``, not fatal), unless nothing usable came out of any of its videos: then 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .errors import run_cli
from .shards import Shard
from .stages import all_videos_failed

USAGE_ERROR = 2  # exit status of bad input, as argparse uses for bad arguments
STAGE_FAILED = 1  # every video of the stage failed


def shard_arg(text: str) -> Shard:
    """``--shard i/n`` for argparse."""
    try:
        return Shard.parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def stage_parser(name: str, description: str, folders: Mapping[str, str], workers: bool = True
                 ) -> argparse.ArgumentParser:
    """The parser of ``python -m data.<name>``: the required folder options, ``--workers`` and ``--shard``.

    ``folders`` maps each required folder option to its help, e.g. ``{"--frames": "frames root"}``;
    the stage adds its own options to the returned parser. ``workers=False`` (a stage that does
    not run over videos) leaves out ``--workers`` and ``--shard``.
    """
    parser = argparse.ArgumentParser(prog=f"python -m data.{name}", description=description)
    for flag, help_text in folders.items():
        parser.add_argument(flag, required=True, help=help_text)
    if workers:
        parser.add_argument("--workers", type=int, default=1, help="parallel processes, one video each (default 1)")
        parser.add_argument("--shard", type=shard_arg, default=None, metavar="I/N",
                            help="run only shard I of N (1-based; a video's shard is CRC-32 of its name mod N, plus "
                                 "1); its summary goes to <stage>_summary.shard-I-of-N.json, merged into "
                                 "summary.json once all N shards have run")
    return parser


def stage_main(name: str, parser: argparse.ArgumentParser, run: Callable[[argparse.Namespace], Any],
               argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and ``run`` the stage; bad input exits 2, a stage where every video failed 1.

    ``--debug`` (or ``FAS_DEBUG=1``) shows the traceback of bad input too.
    """
    return run_cli(lambda a: _run_stage(name, parser, run, a), argv, prog=name, also=(ValueError,), return_status=True)


def _run_stage(name: str, parser: argparse.ArgumentParser, run: Callable[[argparse.Namespace], Any],
               argv: Sequence[str] | None) -> int:
    result = run(parser.parse_args(argv))
    if all_videos_failed(result):
        kinds = ", ".join(f"{k}: {v}" for k, v in result["failures"].items())
        print(f"{name}: error: all {result['videos']} videos failed ({kinds}); nothing for the next stage",
              file=sys.stderr)
        return STAGE_FAILED
    return 0
