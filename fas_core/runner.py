"""Command-line entry points shared by every method's ``train.py`` and ``test.py``.

``train_main`` parses ``--config`` and ``key=value`` overrides and runs the engine.
``test_main`` scores the dev and test splits with a checkpoint (``best.pt`` of the run by
default, or an original release with ``--released``), writes score files, ``metrics.json``,
plots and a model card through :mod:`fas_core.report`, and stores the dev threshold in the
checkpoint's metadata so that ``fas_core.predict`` needs nothing else.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import checkpoint as ckpt
from .config import config_argparser, config_from_cli, to_plain
from .dist import choose_device
from .engine import Task, train

Row = tuple[str, float, int, "str | None"]


@dataclass
class SplitScores:
    """What a method's scoring of one split returns."""

    rows: list[Row]  # per video: (video, score, label, species or None)
    frame_rows: list[tuple[str, int, float, int]] = field(default_factory=list)  # (video, frame, score, label)
    depth_samples: list[tuple[Any, str]] = field(default_factory=list)  # (2-D array, title) for the depth grid


def train_main(task_cls: type[Task], defaults: Mapping[str, Any], description: str,
               argv: Sequence[str] | None = None) -> dict[str, Any]:
    cfg, _ = config_from_cli(description, defaults, argv)
    return train(task_cls(cfg), cfg)


def _score(task: Task, model: torch.nn.Module, split: str) -> SplitScores:
    scorer = getattr(task, "score_split", None)
    if scorer is not None:
        return scorer(model, split)
    return SplitScores(rows=task.evaluate(model, split))


def test_main(task_cls: type[Task], defaults: Mapping[str, Any], description: str,
              argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = config_argparser(description, defaults)
    parser.add_argument("--checkpoint", default=None,
                        help="checkpoint to test (default: <train.run_dir>/best.pt, else last.pt)")
    parser.add_argument("--released", default=None,
                        help="an original released checkpoint (e.g. CDCN_U_P1.pkl) instead of --checkpoint")
    parser.add_argument("--out", default=None, help="output folder (default: <train.run_dir>/test)")
    cfg, args = config_from_cli(description, defaults, argv, parser=parser)
    task = task_cls(cfg)
    run_dir = Path(cfg.train.run_dir)
    out_dir = Path(args.out) if args.out else run_dir / "test"
    device = choose_device(cfg.train.device)
    model = task.build_model()
    if args.released:
        loader = getattr(task, "load_released", None)
        if loader is None:
            parser.exit(2, f"--released is not supported by method {task.name}\n")
        state, released_meta = loader(args.released)
        ckpt.load_weights(model, state)
        ckpt_path, meta = None, {**task.checkpoint_meta(), **released_meta, "config": to_plain(cfg)}
    else:
        ckpt_path = Path(args.checkpoint) if args.checkpoint else _default_checkpoint(run_dir)
        ckpt.load_weights(model, ckpt_path)
        meta = ckpt.read_meta(ckpt_path)
    model.to(device).eval()
    with torch.no_grad():
        dev, test = _score(task, model, "dev"), _score(task, model, "test")

    from .report import write_test_report

    card = {
        "method": task.name,
        "checkpoint": str(ckpt_path or args.released),
        "config": to_plain(cfg),
        "command": " ".join(shlex.quote(a) for a in sys.argv),
    }
    figures = write_test_report(out_dir, dev.rows, test.rows, frame_scores={"dev": dev.frame_rows,
                                "test": test.frame_rows}, depth_samples=test.depth_samples or dev.depth_samples,
                                model_card=card)
    threshold = float(figures["threshold"])
    if ckpt_path is not None:
        ckpt.update_meta(ckpt_path, threshold=threshold, test_metrics=_scalars(figures))
    else:  # never rewrite a user's released file: save a converted copy that predict can use
        meta.update(threshold=threshold, test_metrics=_scalars(figures))
        ckpt.save_checkpoint({"model": model.state_dict(), "meta": meta}, out_dir / "converted.pt")
        print(f"converted checkpoint with its dev threshold: {out_dir / 'converted.pt'}")
    print(f"[{task.name}] test report in {out_dir}: APCER {figures['APCER']:.4f} BPCER {figures['BPCER']:.4f} "
          f"ACER {figures['ACER']:.4f} (threshold {threshold:.4f} from dev)")
    return figures


def _default_checkpoint(run_dir: Path) -> Path:
    for name in ("best.pt", "last.pt"):
        if (run_dir / name).is_file():
            return run_dir / name
    raise FileNotFoundError(f"no checkpoint in {run_dir} (looked for best.pt, last.pt): train first or pass "
                            f"--checkpoint")


def _scalars(figures: Mapping[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in figures.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
