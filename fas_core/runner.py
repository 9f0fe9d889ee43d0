"""Command-line entry points shared by every method's ``train.py`` and ``test.py``.

``train_main`` parses ``--config`` (default: the task's demo experiment) and ``key=value``
overrides, makes missing prerequisites (:mod:`fas_core.prepare`) and runs the engine.
``test_main`` rebuilds the network from a checkpoint's record (``best.pt`` of the run by default,
or an original release with ``--released``), scores the dev and test splits through the core's
scoring loop, writes score files, ``metrics.json``, plots and a model card
(:mod:`fas_core.report`), prints the result line, and then stores the dev threshold and the score
rule it was chosen with in the checkpoint (beside it, when the checkpoint cannot be rewritten),
so that predict and export need nothing else.
"""

from __future__ import annotations

import errno
import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from . import checkpoint as ckpt
from .config import config_argparser, config_from_cli, to_plain
from .crossdomain import ORACLE_CHECKPOINT, describe_rules, oracle_figures, rules_from_figures
from .dist import choose_device, launched_by_torchrun
from .engine import train
from .errors import UserError, run_cli
from .fileio import check_writable_folder, write_json
from .methods import (
    Restored,
    cached_sidecar_path,
    checkpoint_identity,
    restore,
    restore_released,
    sidecar_path,
    update_record,
)
from .prepare import ensure
from .task import Task


def train_main(task_cls: type[Task], argv: Sequence[str] | None = None) -> dict[str, Any]:
    """``python -m <method>.train``: the config, its prerequisites, then the engine.

    ``--prepare-only`` makes the prerequisites and stops (the launcher runs it once before it
    starts DDP processes, which never make anything themselves).
    """
    return run_cli(lambda a: _train(task_cls, a), argv)


def _load(task_cls: type[Task], argv: Sequence[str] | None, parser=None):
    return config_from_cli(task_cls.description, task_cls.defaults, argv, parser=parser,
                           default_config=task_cls.default_config)


def _train(task_cls: type[Task], argv: Sequence[str] | None) -> dict[str, Any]:
    parser = config_argparser(task_cls.description, task_cls.defaults, task_cls.default_config)
    parser.add_argument("--prepare-only", action="store_true", help="make missing inputs (the demo data), then exit")
    cfg, args = _load(task_cls, argv, parser)
    task = task_cls(cfg)
    # Under torchrun (even as its only process) nothing is made: a child training run would join its process group.
    single_process = int(os.environ.get("WORLD_SIZE", "1")) == 1 and not launched_by_torchrun()
    ensure(task.prerequisites(), task.name, may_run=single_process)
    if args.prepare_only:
        return {}
    return train(task, cfg)


def test_main(task_cls: type[Task], argv: Sequence[str] | None = None) -> dict[str, Any]:
    """``python -m <method>.test``: dev and test scores, reports, and the dev threshold for predict."""
    return run_cli(lambda a: _test(task_cls, a), argv)


def _test_parser(task_cls: type[Task]):
    parser = config_argparser(task_cls.description, task_cls.defaults, task_cls.default_config)
    parser.add_argument("--checkpoint", default=None,
                        help="checkpoint to test (default: <train.run_dir>/best.pt, else last.pt)")
    parser.add_argument("--released", default=None,
                        help="an original released checkpoint (e.g. CDCN_U_P1.pkl) instead of --checkpoint; "
                             "scored with the original score rule unless eval.score=... is given")
    parser.add_argument("--out", default=None, help="output folder (default: <train.run_dir>/test)")
    return parser


def _test(task_cls: type[Task], argv: Sequence[str] | None) -> dict[str, Any]:
    cfg, args = _load(task_cls, argv, parser=_test_parser(task_cls))
    probe = task_cls(cfg)
    restored = _restore_for_test(probe, cfg, args)
    record = restored.record
    cfg.data.input_size = record.input.size  # the network's input decides how faces are cut
    if restored.released and not any(o.startswith("eval.score=") for o in args.overrides):
        cfg.eval.score = record.score_rule or cfg.eval.score
    task = task_cls(cfg)
    original_rule = restored.released and cfg.eval.score == restored.method.released_score_rule
    print(f"[{task.name}] scoring with eval.score={cfg.eval.score}"
          + (" (the original code's rule)" if original_rule else ""), flush=True)
    out_dir = Path(args.out) if args.out else Path(cfg.train.run_dir) / "test"
    check_writable_folder(out_dir, "--out folder" if args.out else "test output folder")  # before the scoring
    model = task.prepare_for_test(restored.model.to(choose_device(cfg.train.device)).eval())
    t = cfg.test
    with torch.no_grad():
        dev = task.score_split(model, "dev", int(t.frames_per_video), int(t.depth_samples))
        test = task.score_split(model, "test", int(t.frames_per_video), int(t.depth_samples))
    figures = _write_report(task, cfg, restored, out_dir, dev, test)
    from .report import add_selection_rules  # plots (matplotlib) only when a test runs

    add_selection_rules(out_dir, figures, _selection_rules(task, cfg, restored, figures))
    threshold = float(figures["threshold"])
    print(f"[{task.name}] test report in {out_dir}: APCER {figures['APCER']:.4f} BPCER {figures['BPCER']:.4f} "
          f"ACER {figures['ACER']:.4f} (threshold {threshold:.4f} from dev)" + _unreadable_note(dev, test), flush=True)
    for line in describe_rules(figures["selection_rules"]):
        print(f"[{task.name}]   {line}", flush=True)
    _store_threshold(restored, task, out_dir, threshold, figures)
    return figures


def _model_name(restored: Restored) -> str:
    step = restored.record.step
    return Path(restored.source).name + ("" if step is None else f" (step {step})")


def _selection_rules(task: Task, cfg: Any, restored: Restored, figures: Mapping[str, Any]) -> dict[str, Any]:
    """The ``selection_rules`` section of metrics.json (:mod:`fas_core.crossdomain`): the default rule and the
    literature's threshold on this model (from the report's ``figures``), and with ``eval.selection:
    target_oracle`` the literature's model."""
    rules: dict[str, Any] = rules_from_figures(figures, _model_name(restored))
    if str(cfg.eval.get("selection", "source_dev")) != "target_oracle" or restored.released:
        return rules
    path = Path(cfg.train.run_dir) / ORACLE_CHECKPOINT
    if not path.is_file():
        print(f"[{task.name}] note: no {path} (eval.selection=target_oracle keeps it during training)", flush=True)
        return rules
    oracle = restore(path)
    model = task.prepare_for_test(oracle.model.to(choose_device(cfg.train.device)).eval())
    with torch.no_grad():
        scores = task.score_split(model, "test", int(cfg.test.frames_per_video))
    rules["target_oracle"] = oracle_figures(scores.rows, _model_name(oracle))
    return rules


def _restore_for_test(task: Task, cfg: Any, args: Any) -> Restored:
    if args.released:
        return restore_released(args.released, task.name)
    path = Path(args.checkpoint) if args.checkpoint else ckpt.find_checkpoint(Path(cfg.train.run_dir))
    restored = restore(path)
    if restored.method.name not in task.accepts():
        raise UserError(f"{path} is a {restored.method.name} checkpoint; this test scores "
                        f"{' / '.join(task.accepts())} models")
    return restored


def _write_report(task: Task, cfg: Any, restored: Restored, out_dir: Path, dev: Any, test: Any) -> dict[str, Any]:
    from .report import write_test_report

    card = {"method": task.name, "checkpoint": restored.source, "config": to_plain(cfg),
            "command": shlex.join(sys.argv)}
    depth = test.depth_samples or dev.depth_samples
    return write_test_report(out_dir, dev.rows, test.rows, frame_scores={"dev": dev.frame_rows,
                             "test": test.frame_rows}, depth_samples=depth, model_card=card)


def _store_threshold(restored: Restored, task: Task, out_dir: Path, threshold: float,
                     figures: Mapping[str, Any]) -> None:
    """The dev threshold and its score rule into the checkpoint, so predict scores as test did.

    A release is never rewritten: a converted copy is saved in ``out_dir``. A checkpoint that
    cannot be rewritten (read-only file or folder) gets a sidecar file beside it, or, when even
    that fails, one in the user's cache (where predict finds it too) and one in ``out_dir``; the
    message says where. The results are printed before any of this.
    """
    values = {"threshold": threshold, "score_rule": task.score_rule(), "test_metrics": _scalars(figures)}
    if restored.released:
        record = restored.record
        record.threshold, record.score_rule = threshold, task.score_rule()
        path = out_dir / "converted.pt"
        ckpt.save_checkpoint({"model": restored.model.state_dict(), **record.fields(),
                              "test_metrics": values["test_metrics"]}, path)
        print(f"converted checkpoint with its dev threshold: {path}")
        return
    source = Path(restored.source)
    try:
        if not os.access(source, os.W_OK):  # a rename would replace a file its owner made read-only
            raise PermissionError(errno.EACCES, "the checkpoint is read-only", str(source))
        update_record(source, **values)
        return
    except OSError as e:
        reason = e.strerror or type(e).__name__
    stored = _write_sidecars(source, out_dir, values)
    if stored:
        print(f"note: {source} could not be updated ({reason}); its dev threshold is in {' and '.join(stored)}",
              flush=True)
    else:
        print(f"warning: the dev threshold {threshold:.4f} could not be stored anywhere ({reason})", file=sys.stderr)


def _write_sidecars(source: Path, out_dir: Path, values: dict[str, Any]) -> list[str]:
    """Beside the checkpoint; failing that, in the user's cache and in ``out_dir``. Returns where it went."""
    try:
        write_json(sidecar_path(source), values)
        return [str(sidecar_path(source))]
    except OSError:
        pass
    stored = []
    for target, extra in ((cached_sidecar_path(source), checkpoint_identity(source)),
                          (out_dir / sidecar_path(source).name, {})):
        try:
            write_json(target, {**values, **extra})
            stored.append(str(target))
        except OSError:
            continue
    return stored


def _unreadable_note(dev: Any, test: Any) -> str:
    frames = len(dev.unreadable) + len(test.unreadable)
    videos = len(dev.unread_videos) + len(test.unread_videos)
    if not frames:
        return ""
    return f"; {frames} unreadable frame(s) left out" + (f", {videos} video(s) with none left" if videos else "")


def _scalars(figures: Mapping[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in figures.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
