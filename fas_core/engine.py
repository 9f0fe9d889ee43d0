"""The one training engine. A method supplies a :class:`~fas_core.task.Task`; :func:`train` does the rest.

Read :func:`train` top to bottom: open the run (refusing a resume whose settings changed,
before any file of the run directory is touched), build the network and optimiser, resume,
wrap for DDP, then a plain loop of ``training_step -> backward -> step`` with logging, periodic
dev evaluation (checkpoint selection on dev ACER, never on test) and atomic checkpoints.

Determinism and resume: batches come from :class:`~fas_core.sampling.SeededBatchSampler` and
every sample carries its own augmentation seed. ``last.pt`` stores the step, the optimiser and
scheduler states and the RNG states, so a run killed at any point and started again continues
from its last checkpoint and ends with the same weights as a run that was never interrupted
(CPU, fixed seed). Checkpoints carry the network's record (method, ``model_args``, input spec,
score rule; :mod:`fas_core.methods`), so every tool rebuilds the network from them alone.

Bad input: one run at a time holds ``train.run_dir`` (:mod:`fas_core.runlock`); a training
sample whose file cannot be read is replaced by another of its group and counted, up to
``train.max_unreadable`` (:mod:`fas_core.unreadable`; docs/reliability.md).
"""

from __future__ import annotations

import logging
import math
import random
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from . import checkpoint as ckpt
from . import dist as fdist
from .config import Typed, save_config, to_plain
from .crossdomain import Selection
from .errors import UserError
from .runlock import run_lock
from .sampling import SeededBatchSampler, sample_seed, set_seed  # noqa: F401  (the engine's public names)
from .task import Task
from .unreadable import ReplaceUnreadable, UnreadableTally, collate_with_failures

ENGINE_DEFAULTS: dict[str, Any] = {
    "run_dir": "work_dirs/run",  # every output of the run goes here
    "seed": 0,
    "device": Typed(str, "auto", choices=("auto", "cpu", "cuda")),
    "max_iters": Typed(int, 1000, low=0),  # optimiser steps in all
    "batch_size": Typed(int, 8, low=1),  # per process (DDP batches are per-process)
    "num_workers": Typed(int, 0, low=0),  # DataLoader worker processes
    "log_every": Typed(int, 10, low=1),  # console + TensorBoard scalars every N steps
    "image_every": Typed(int, 100, low=0),  # TensorBoard images every N steps (0: never)
    "eval_every": Typed(int, 200, low=0),  # dev evaluation every N steps (0: only at the end)
    # No dev evaluation before this step; a run that ends before it still evaluates once, at its last
    # step, so that it leaves a best.pt (which the test command and the multi-frame stage load).
    "eval_after": Typed(int, 0, low=0),
    "ckpt_every": Typed(int, 100, low=1),  # last.pt every N steps (and at the end)
    "resume": True,  # continue from run_dir/last.pt when it exists (false: start afresh, replacing it)
    "allow_changes": Typed(list, [], item=str),  # on resume, these keys may differ (e.g. [data.work]); see RESUME_FREE
    "amp": Typed(str, "off", choices=("off", "bf16", "fp16")),  # autocast dtype; fp16 adds a gradient scaler
    "channels_last": False,  # NHWC memory format of the network and image batches (pays on GPUs with tensor cores)
    "compile": False,  # torch.compile the trained module (first steps slow while it compiles; same numbers to rounding)
    "sync_bn": False,  # SyncBatchNorm under DDP
    "grad_clip": Typed(float, 0.0, low=0.0),  # max gradient norm (0: off)
    "threads": Typed(int, 0, low=0),  # torch CPU threads (0: torch's default)
    # Share of training-sample reads that may fail (a damaged or missing file): such a sample is replaced by
    # another of its class and counted (log, TensorBoard train/unreadable); above the share the run stops.
    # 0: the first unreadable file stops the run (the original code crashed there).
    "max_unreadable": Typed(float, 0.05, low=0.0, high=1.0),
}
UNREADABLE_NAMED_IN_LOG = 20  # distinct unreadable training files named in the log, one line each
# Keys that may change when a run resumes: budget, cadence, logging, workers, scoring. Any other
# difference (model, data, batch, optimiser, seed) makes a different run, and resume refuses it.
RESUME_FREE = ("train.max_iters", "train.log_every", "train.image_every", "train.eval_every", "train.eval_after",
               "train.ckpt_every", "train.num_workers", "train.threads", "train.device", "train.resume",
               "train.compile", "train.allow_changes", "train.run_dir", "train.max_unreadable", "eval.", "test.",
               "generate.", "data.preprocess_config")


def flatten(cfg: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    out: dict[str, Any] = {}
    for k, v in (cfg or {}).items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def changed_settings(old: Any, new: Any, allowed: list[str]) -> list[str]:
    """``key: old -> new`` for every setting that differs and may not change on resume."""
    a, b = flatten(to_plain(old)), flatten(to_plain(new))
    free = tuple(RESUME_FREE) + tuple(k for k in allowed if k)
    out = []
    for key in sorted(set(a) | set(b)):
        if any(key == f or (f.endswith(".") and key.startswith(f)) for f in free):
            continue
        if a.get(key, "(absent)") != b.get(key, "(absent)"):
            out.append(f"{key}: {a.get(key, '(absent)')!r} -> {b.get(key, '(absent)')!r}")
    return out


def load_resume_state(cfg: Any, tag: str) -> dict[str, Any] | None:
    """``last.pt`` of the run to continue, after checking it is the same run; None to start afresh.

    Nothing of the run (config, log, checkpoints) is written before this check: a refused run
    leaves the old run's ``config.yaml`` and checkpoints as they were.
    """
    tc = cfg.train
    last = Path(tc.run_dir) / "last.pt"
    if not tc.resume or not last.is_file():
        return None
    state = ckpt.load_file(last)
    old = state.get("config") or (state.get("meta") or {}).get("config") or {}
    changed = changed_settings(old, cfg, list(tc.allow_changes))
    if changed:
        raise UserError(f"[{tag}] {last} was trained with other settings: " + "; ".join(changed[:8])
                        + (" ..." if len(changed) > 8 else "") + ". Use another train.run_dir, or train.resume=false "
                        "to start afresh there (its checkpoints are replaced), or train.allow_changes=[KEY,...] to "
                        "continue with the change")
    return state


def setup_logging(run_dir: Path, is_main: bool) -> logging.Logger:
    logger = logging.getLogger("fas")
    logger.handlers.clear()
    logger.setLevel(logging.INFO if is_main else logging.WARNING)
    logger.propagate = False
    fmt = logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S")
    console = logging.StreamHandler(sys.stdout)
    console.setFormatter(fmt)
    logger.addHandler(console)
    if is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(run_dir / "log.txt")
        fh.setFormatter(fmt)
        logger.addHandler(fh)
    return logger


def make_writer(run_dir: Path, enabled: bool):
    if not enabled:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is in requirements.txt; keep training if it is absent
        return None
    return SummaryWriter(str(run_dir / "tb"))


def _rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "python": list(random.getstate()[1])}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate((3, tuple(state["python"]), None))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if hasattr(model, "module") else model


@dataclass
class Progress:
    """Where a run is: what ``last.pt`` stores besides the weights and optimiser."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    best: dict[str, Any] = field(default_factory=lambda: {"metric": math.inf})
    images_seen: int = 0
    extra_best: dict[str, dict[str, Any]] = field(default_factory=dict)  # per extra selection (eval.selection)


@dataclass
class Run:
    """One training run's moving parts, passed between the steps of :func:`train`."""

    task: Task
    cfg: Any
    info: fdist.DistInfo
    log: logging.Logger
    model: nn.Module
    trainable: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    progress: Progress
    run_dir: Path
    writer: Any = None
    scaler: Any = None
    ddp_model: nn.Module | None = None
    unreadable: UnreadableTally = field(default_factory=lambda: UnreadableTally(0.0))

    def save_last(self) -> None:
        if not self.info.is_main:
            return
        p = self.progress
        ckpt.save_checkpoint({
            "model": _unwrap(self.model).state_dict(), **self.task.record(p.step, self.cfg).fields(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "epoch": p.epoch, "batch_in_epoch": p.batch_in_epoch, "best": p.best, "rng": _rng_state(),
            "extra_best": p.extra_best,
            "unreadable": self.unreadable.state(),
        }, self.run_dir / "last.pt")

    def evaluate_dev(self) -> None:
        """Dev scores -> selection metric; a new best is saved as ``best.pt`` (dev only, never test)."""
        p, task = self.progress, self.task
        if self.info.is_main:
            value, figures = task.selection_metric(task.evaluate(_unwrap(self.model), "dev"))
            self.log.info(f"[{task.name}] step {p.step} dev: " + ", ".join(f"{k} {v:.4f}" for k, v in figures.items()))
            for k, v in figures.items():
                if self.writer:
                    self.writer.add_scalar(f"dev/{k}", v, p.step)
            if value < p.best["metric"]:
                p.best = {"metric": value, "step": p.step, **figures}
                ckpt.save_checkpoint({"model": _unwrap(self.model).state_dict(),
                                      **task.record(p.step, self.cfg).fields(), "best": p.best},
                                     self.run_dir / "best.pt")
                self.log.info(f"[{task.name}] new best on dev (step {p.step}) -> {self.run_dir / 'best.pt'}")
            for selection in task.extra_selections():
                self.keep_extra_best(selection)
        fdist.barrier(self.info)

    def keep_extra_best(self, sel: Selection) -> None:
        """A checkpoint chosen by another rule (e.g. the literature's target oracle), besides ``best.pt``."""
        p, task = self.progress, self.task
        value, figures = sel.metric(task.evaluate(_unwrap(self.model), sel.split))
        shown = ", ".join(f"{k} {v:.4f}" for k, v in figures.items())
        self.log.info(f"[{task.name}] step {p.step} {sel.name}: {shown}")
        if value < p.extra_best.get(sel.name, {}).get("metric", math.inf):
            p.extra_best[sel.name] = {"metric": value, "step": p.step, **figures}
            ckpt.save_checkpoint({"model": _unwrap(self.model).state_dict(), **task.record(p.step, self.cfg).fields(),
                                  "best": p.extra_best[sel.name], "selection": sel.name},
                                 self.run_dir / sel.checkpoint)


def train(task: Task, cfg: Any) -> dict[str, Any]:
    """Run (or resume) training as configured in ``cfg.train``; returns the final summary.

    The main process holds the lock of ``train.run_dir`` throughout: a second run on the same
    folder is refused with a line naming the first (:mod:`fas_core.runlock`).
    """
    check_engine_settings(cfg)
    info = fdist.init_distributed(cfg.train.device)
    with run_lock(cfg.train.run_dir, "train") if info.is_main else nullcontext():
        resume_state = load_resume_state(cfg, task.name)
        run = open_run(task, cfg, info)
        if resume_state is not None:
            resume(run, resume_state)
        run.ddp_model = compile_if_asked(wrap_for_ddp(run), bool(cfg.train.compile))
        loop(run)
        return finish(run)


def check_engine_settings(cfg: Any) -> None:
    """``train.*`` against the engine's types and bounds.

    A method's defaults give some keys their own default value (``{**ENGINE_DEFAULTS, "batch_size": 64}``),
    which leaves the key without the engine's bounds: ``train.batch_size=0`` is caught here.
    """
    for key, spec in ENGINE_DEFAULTS.items():
        if isinstance(spec, Typed) and key in cfg.train:
            spec.check(f"train.{key}", cfg.train[key], "config")


def open_run(task: Task, cfg: Any, info: fdist.DistInfo) -> Run:
    """Logging, seeding, the saved config, the network, optimiser and gradient scaler."""
    tc = cfg.train
    run_dir = Path(tc.run_dir)
    log = setup_logging(run_dir, info.is_main)
    if tc.threads:
        torch.set_num_threads(int(tc.threads))
    set_seed(int(tc.seed) + info.rank)
    if info.is_main:
        save_config(cfg, run_dir / "config.yaml")
    model = task.build_model().to(info.device)
    if tc.channels_last:
        model = model.to(memory_format=torch.channels_last)
    trainable = task.trainable_module(model)
    optimizer, scheduler = task.build_optimizer(trainable)
    scaler = torch.amp.GradScaler(info.device.type) if tc.amp == "fp16" else None
    log.info(f"[{task.name}] {count_parameters(trainable):,} trainable parameters, device {info.device}, "
             f"world {info.world_size}" + (f" (DDP, {info.backend})" if info.enabled else "")
             + (f", autocast {tc.amp}" if tc.amp != "off" else "") + (", channels_last" if tc.channels_last else "")
             + (", torch.compile" if tc.compile else ""))
    return Run(task, cfg, info, log, model, trainable, optimizer, scheduler, Progress(), run_dir,
               writer=make_writer(run_dir, info.is_main), scaler=scaler,
               unreadable=UnreadableTally(float(tc.get("max_unreadable", 0.0))))


def resume(run: Run, state: dict[str, Any]) -> None:
    """Weights, optimiser, scheduler, scaler, position and RNG state from ``last.pt``."""
    _unwrap(run.model).load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    if run.scheduler is not None and state.get("scheduler") is not None:
        run.scheduler.load_state_dict(state["scheduler"])
    if run.scaler is not None and state.get("scaler") is not None:
        run.scaler.load_state_dict(state["scaler"])
    run.progress = Progress(step=int(state["step"]), epoch=int(state["epoch"]),
                            batch_in_epoch=int(state["batch_in_epoch"]),
                            best=dict(state.get("best") or {"metric": math.inf}),
                            extra_best=dict(state.get("extra_best") or {}))
    _set_rng_state(state["rng"])
    run.unreadable.load(state.get("unreadable"))
    p = run.progress
    run.log.info(f"[{run.task.name}] resumed from {run.run_dir / 'last.pt'} at step {p.step} "
                 f"(epoch {p.epoch}, batch {p.batch_in_epoch})")


def wrap_for_ddp(run: Run) -> nn.Module:
    """The trainable part wrapped in DistributedDataParallel under torchrun, else as it is."""
    if not run.info.enabled:
        return run.trainable
    trainable = run.trainable
    if run.cfg.train.sync_bn:
        trainable = nn.SyncBatchNorm.convert_sync_batchnorm(trainable)
    device = run.info.device
    return torch.nn.parallel.DistributedDataParallel(trainable, device_ids=[device.index] if device.type == "cuda"
                                                     else None)


def compile_if_asked(module: nn.Module, enabled: bool, backend: str = "inductor") -> nn.Module:
    """``torch.compile`` of the module the training step calls (the DDP wrapper, when there is one).

    The saved weights come from the uncompiled model, so checkpoints do not depend on this key.
    """
    return torch.compile(module, backend=backend) if enabled else module


def to_channels_last(batch: Any) -> Any:
    """Every 4-D tensor of a batch (image batches) in NHWC memory order; values and shapes unchanged."""
    if isinstance(batch, torch.Tensor):
        return batch.contiguous(memory_format=torch.channels_last) if batch.dim() == 4 else batch
    if isinstance(batch, dict):
        return {k: to_channels_last(v) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_channels_last(v) for v in batch)
    return batch


def move_batch(run: Run, batch: Any) -> Any:
    """A loader batch on the run's device, channels_last when the network is."""
    batch = run.task.to_device(batch, run.info.device)
    return to_channels_last(batch) if run.cfg.train.channels_last else batch


def loop(run: Run) -> None:
    """Epochs of seeded batches until ``train.max_iters`` optimiser steps."""
    tc, task, p = run.cfg.train, run.task, run.progress
    raw = task.train_dataset()
    sampler = SeededBatchSampler(len(raw), int(tc.batch_size), int(tc.seed), run.info.rank, run.info.world_size,
                                 task.batches_fn(raw), start_epoch=p.epoch, start_batch=p.batch_in_epoch)
    dataset = ReplaceUnreadable(raw, task.sample_groups(raw))
    if len(sampler.epoch_batches(0)) == 0:
        raise UserError(f"[{task.name}] the training set ({len(dataset)} samples) gives no full batch of "
                        f"{tc.batch_size} per process: lower train.batch_size or add data")
    t0 = time.time()
    while p.step < tc.max_iters:
        sampler.epoch, sampler.start_batch = p.epoch, p.batch_in_epoch
        # A private generator: creating a DataLoader iterator draws a seed, and drawing it from the
        # global RNG would make a resumed run diverge from an uninterrupted one.
        loader = DataLoader(dataset, batch_sampler=sampler, num_workers=int(tc.num_workers),
                            collate_fn=collate_with_failures(task.collate),
                            generator=torch.Generator().manual_seed(int(tc.seed) + p.epoch))
        for batch, failures in loader:
            count_unreadable(run, failures)
            batch = move_batch(run, batch)
            loss, logs = step(run, batch)
            p.step += 1
            p.batch_in_epoch += 1
            p.images_seen += int(tc.batch_size) * run.info.world_size
            after_step(run, batch, loss, logs, t0)
            if p.step >= tc.max_iters:
                return
        p.epoch += 1
        p.batch_in_epoch = 0


def count_unreadable(run: Run, failures: list[str]) -> None:
    """Tally the reads of a batch; name each newly failed file (the first :data:`UNREADABLE_NAMED_IN_LOG`) and stop
    past the limit."""
    tally = run.unreadable
    new = tally.add(int(run.cfg.train.batch_size), failures)
    named_before = len(tally.seen) - len(new)
    for failure in new[:max(0, UNREADABLE_NAMED_IN_LOG - named_before)]:
        run.log.warning(f"[{run.task.name}] unreadable training input, replaced by another sample of its class: "
                        f"{failure}")
    tally.check(f"[{run.task.name}] step {run.progress.step}")


def step(run: Run, batch: Any) -> tuple[torch.Tensor, dict[str, float]]:
    """One optimiser step: forward under autocast, backward (scaled for fp16), clip, step."""
    tc, p = run.cfg.train, run.progress
    run.model.train()
    amp = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(str(tc.amp))
    with torch.autocast(run.info.device.type, dtype=amp) if amp is not None else nullcontext():
        loss, logs = run.task.training_step(run.ddp_model, batch, p.step)
    if not torch.isfinite(loss):
        raise FloatingPointError(f"[{run.task.name}] loss is {loss.item()} at step {p.step}: stopping "
                                 f"(last good checkpoint: {run.run_dir / 'last.pt'})")
    run.optimizer.zero_grad(set_to_none=True)
    if run.scaler is not None:
        run.scaler.scale(loss).backward()
        run.scaler.unscale_(run.optimizer)
    else:
        loss.backward()
    if tc.grad_clip:
        torch.nn.utils.clip_grad_norm_(run.trainable.parameters(), float(tc.grad_clip))
    if run.scaler is not None:
        run.scaler.step(run.optimizer)
        run.scaler.update()
    else:
        run.optimizer.step()
    if run.scheduler is not None:
        run.scheduler.step()
    return loss, logs


def after_step(run: Run, batch: Any, loss: torch.Tensor, logs: dict[str, float], t0: float) -> None:
    """Logging, TensorBoard images, dev evaluation and checkpoints at their cadences."""
    tc, p = run.cfg.train, run.progress
    if run.info.is_main and (p.step % tc.log_every == 0 or p.step == 1):
        rate = p.images_seen / max(time.time() - t0, 1e-9)
        bad = run.unreadable.failed
        run.log.info(f"[{run.task.name}] step {p.step}/{tc.max_iters} loss {loss.item():.4f} "
                     + " ".join(f"{k} {v:.4f}" for k, v in logs.items()) + f" ({rate:.1f} img/s)"
                     + (f" [{bad} unreadable input(s) replaced so far]" if bad else ""))
        if run.writer:
            scalars = {"loss": loss.item(), **logs, "lr": run.optimizer.param_groups[0]["lr"]}
            for k, v in {**scalars, **({"unreadable": bad} if bad else {})}.items():
                run.writer.add_scalar(f"train/{k}", v, p.step)
    if run.writer and tc.image_every and p.step % tc.image_every == 0:
        with torch.no_grad():
            run.task.log_images(run.writer, _unwrap(run.model), batch, p.step)
    at_end = p.step >= tc.max_iters
    due = bool(tc.eval_every) and p.step % tc.eval_every == 0
    if p.step >= tc.eval_after and (due or at_end):
        run.evaluate_dev()
    elif at_end and "step" not in p.best:
        run.log.info(f"[{run.task.name}] the run ends at step {p.step}, before train.eval_after={tc.eval_after}: "
                     "one dev evaluation now, so that best.pt exists")
        run.evaluate_dev()
    if p.step % tc.ckpt_every == 0 or at_end:
        run.save_last()


def finish(run: Run) -> dict[str, Any]:
    if run.writer:
        run.writer.close()
    best = run.progress.best
    summary = {"step": run.progress.step, "best": best, "run_dir": str(run.run_dir)}
    if run.info.is_main and best.get("step") is not None:
        what = "ACER" if "dev_ACER" in best else "selection metric"  # a task may select on something else
        run.log.info(f"[{run.task.name}] done: best dev step {best['step']} ({what} "
                     f"{best.get('dev_ACER', best['metric']):.4f})")
    fdist.cleanup(run.info)
    return summary


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of parameters (the trainable ones by default), as the parameter-count tests state them."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)

