"""The one training engine. A method supplies a :class:`Task`; the loop below does the rest.

Read it top to bottom: set-up (run directory, seeding, DDP, resume), then a plain loop of
``training_step -> backward -> step`` with logging, periodic dev evaluation (checkpoint
selection on dev ACER, never on test) and atomic checkpoints.

Determinism and resume: batches are drawn from :class:`SeededBatchSampler`, whose order for
epoch ``e`` depends only on ``(seed, e)``, and every sample carries its own augmentation seed.
``last.pt`` stores the step, the optimiser/scheduler states and the torch RNG state, so a run
killed at any point and started again continues from its last checkpoint and ends with the
same weights as a run that was never interrupted (CPU, fixed seed).
"""

from __future__ import annotations

import logging
import math
import random
import sys
import time
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from . import checkpoint as ckpt
from . import dist as fdist
from .config import save_config, to_plain

ENGINE_DEFAULTS: dict[str, Any] = {
    "run_dir": "work_dirs/run",  # every output of the run goes here
    "seed": 0,
    "device": "auto",  # auto | cpu | cuda
    "max_iters": 1000,  # optimiser steps in all
    "batch_size": 8,  # per process (DDP batches are per-process)
    "num_workers": 0,  # DataLoader worker processes
    "log_every": 10,  # console + TensorBoard scalars every N steps
    "image_every": 100,  # TensorBoard images every N steps (0: never)
    "eval_every": 200,  # dev evaluation every N steps (0: only at the end)
    "eval_after": 0,  # no dev evaluation before this step
    "ckpt_every": 100,  # last.pt every N steps (and at the end)
    "resume": True,  # continue from run_dir/last.pt when it exists
    "amp": False,  # bf16 autocast (CUDA only)
    "channels_last": False,  # NHWC memory format on CUDA
    "sync_bn": False,  # SyncBatchNorm under DDP
    "grad_clip": 0.0,  # max gradient norm (0: off)
    "threads": 0,  # torch CPU threads (0: torch's default)
}


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def sample_seed(seed: int, epoch: int, position: int) -> int:
    """A per-sample augmentation seed from (run seed, epoch, position in the epoch)."""
    return int(np.random.SeedSequence([seed, epoch, position]).generate_state(1)[0])


class SeededBatchSampler(Sampler):
    """Deterministic batches of ``(index, sample_seed)`` pairs, resumable at any batch.

    The batches of epoch ``e`` come from ``batches_fn(epoch_rng)`` (default: a shuffled
    permutation cut into ``batch_size`` pieces, last partial batch dropped); with DDP each
    process takes every ``world``-th batch. ``start_batch`` skips batches already trained on.
    """

    def __init__(self, n_items: int, batch_size: int, seed: int, rank: int = 0, world: int = 1,
                 batches_fn=None, start_epoch: int = 0, start_batch: int = 0) -> None:
        self.n_items, self.batch_size, self.seed = n_items, batch_size, seed
        self.rank, self.world = rank, world
        self.batches_fn = batches_fn or self._shuffled_batches
        self.epoch, self.start_batch = start_epoch, start_batch

    def _shuffled_batches(self, rng: np.random.Generator) -> list[list[int]]:
        order = rng.permutation(self.n_items).tolist()
        n = len(order) // self.batch_size
        return [order[i * self.batch_size:(i + 1) * self.batch_size] for i in range(n)]

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        rng = np.random.default_rng([self.seed, epoch])
        batches = self.batches_fn(rng)
        usable = len(batches) - len(batches) % self.world
        return batches[self.rank:usable:self.world]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        batches = self.epoch_batches(self.epoch)
        for b in range(self.start_batch, len(batches)):
            global_batch = b * self.world + self.rank  # unique across processes
            yield [(idx, sample_seed(self.seed, self.epoch, global_batch * self.batch_size + j))
                   for j, idx in enumerate(batches[b])]

    def __len__(self) -> int:
        return len(self.epoch_batches(self.epoch)) - self.start_batch


class Task:
    """What a method defines. Every hook has a sensible default except the first four."""

    name = "task"

    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg

    # --- required ---------------------------------------------------------------------
    def build_model(self) -> nn.Module:
        raise NotImplementedError

    def train_dataset(self) -> Dataset:
        """A dataset whose ``__getitem__((index, seed))`` returns one augmented sample."""
        raise NotImplementedError

    def training_step(self, model: nn.Module, batch: Any, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        """Return the loss to minimise and a dict of floats to log."""
        raise NotImplementedError

    def evaluate(self, model: nn.Module, split: str) -> list[tuple[str, float, int, str | None]]:
        """Per-video ``(video, score, label, species)`` rows of a split ("dev")."""
        raise NotImplementedError

    # --- optional ---------------------------------------------------------------------
    def build_optimizer(self, model: nn.Module) -> tuple[torch.optim.Optimizer, Any]:
        """Optimiser and per-iteration scheduler (or None). Default: Adam lr 1e-4."""
        return torch.optim.Adam(model.parameters(), lr=1e-4), None

    def trainable_module(self, model: nn.Module) -> nn.Module:
        """The part that DDP wraps and the optimiser trains (default: the whole model)."""
        return model

    def batches_fn(self, dataset: Dataset):
        """Custom epoch batch composition (``rng -> list of index lists``), or None for shuffling."""
        return None

    def collate(self, samples: list[Any]) -> Any:
        return torch.utils.data.default_collate(samples)

    def to_device(self, batch: Any, device: torch.device) -> Any:
        if isinstance(batch, torch.Tensor):
            return batch.to(device, non_blocking=True)
        if isinstance(batch, dict):
            return {k: self.to_device(v, device) for k, v in batch.items()}
        if isinstance(batch, (list, tuple)):
            return type(batch)(self.to_device(v, device) for v in batch)
        return batch

    def log_images(self, writer: Any, model: nn.Module, batch: Any, step: int) -> None:
        """Write TensorBoard images (depth maps, samples) for the current batch."""

    def checkpoint_meta(self) -> dict[str, Any]:
        """Inference metadata stored in every checkpoint (method, input size, normalisation)."""
        return {"method": self.name}

    def selection_metric(self, rows: list[tuple[str, float, int, str | None]]) -> tuple[float, dict[str, Any]]:
        """Lower is better. Default: dev ACER at the dev EER threshold."""
        from .metrics import evaluate_split
        from .scores import ScoreSet

        dev = ScoreSet.from_rows(rows, source="dev scores")
        figures = evaluate_split(dev, dev)
        return float(figures["ACER"]), {"dev_ACER": figures["ACER"], "dev_EER": figures["EER_dev"],
                                        "dev_threshold": figures["threshold"]}


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


def train(task: Task, cfg: Any) -> dict[str, Any]:
    """Run (or resume) training as configured in ``cfg.train``; returns the final summary."""
    tc = cfg.train
    info = fdist.init_distributed(tc.device)
    run_dir = Path(tc.run_dir)
    log = setup_logging(run_dir, info.is_main)
    if tc.threads:
        torch.set_num_threads(int(tc.threads))
    set_seed(int(tc.seed) + info.rank)
    if info.is_main:
        save_config(cfg, run_dir / "config.yaml")

    model = task.build_model().to(info.device)
    if tc.channels_last and info.device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    trainable = task.trainable_module(model)
    optimizer, scheduler = task.build_optimizer(trainable)
    n_params = count_parameters(trainable)
    log.info(f"[{task.name}] {n_params:,} trainable parameters, device {info.device}, world {info.world_size}")

    step, epoch, batch_in_epoch, best = 0, 0, 0, {"metric": math.inf}
    last_path = run_dir / "last.pt"
    if tc.resume and last_path.is_file():
        state = ckpt.load_file(last_path)
        _unwrap(model).load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])
        step, epoch, batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        best = dict(state.get("best", best))
        _set_rng_state(state["rng"])
        log.info(f"[{task.name}] resumed from {last_path} at step {step} (epoch {epoch}, batch {batch_in_epoch})")

    if info.enabled:
        if tc.sync_bn:
            trainable = nn.SyncBatchNorm.convert_sync_batchnorm(trainable)
        ddp_model = torch.nn.parallel.DistributedDataParallel(
            trainable, device_ids=[info.device.index] if info.device.type == "cuda" else None)
    else:
        ddp_model = trainable

    dataset = task.train_dataset()
    sampler = SeededBatchSampler(len(dataset), int(tc.batch_size), int(tc.seed), info.rank, info.world_size,
                                 task.batches_fn(dataset), start_epoch=epoch, start_batch=batch_in_epoch)
    if len(sampler.epoch_batches(0)) == 0:
        raise ValueError(f"[{task.name}] the training set ({len(dataset)} samples) gives no full batch of "
                         f"{tc.batch_size} per process: lower train.batch_size or add data")
    writer = make_writer(run_dir, info.is_main)
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if tc.amp and info.device.type == "cuda"
                else nullcontext())

    def save_last() -> None:
        if info.is_main:
            ckpt.save_checkpoint({
                "model": _unwrap(model).state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "step": step, "epoch": epoch, "batch_in_epoch": batch_in_epoch, "best": best,
                "rng": _rng_state(), "meta": {**task.checkpoint_meta(), "config": to_plain(cfg), "step": step},
            }, last_path)

    def evaluate_dev() -> None:
        nonlocal best
        if info.is_main:
            rows = task.evaluate(_unwrap(model), "dev")
            value, figures = task.selection_metric(rows)
            log.info(f"[{task.name}] step {step} dev: " + ", ".join(f"{k} {v:.4f}" for k, v in figures.items()))
            if writer:
                for k, v in figures.items():
                    writer.add_scalar(f"dev/{k}", v, step)
            if value < best["metric"]:
                best = {"metric": value, "step": step, **figures}
                ckpt.save_checkpoint({"model": _unwrap(model).state_dict(), "step": step, "best": best,
                                      "meta": {**task.checkpoint_meta(), "config": to_plain(cfg), "step": step}},
                                     run_dir / "best.pt")
                log.info(f"[{task.name}] new best on dev (step {step}) -> {run_dir / 'best.pt'}")
        fdist.barrier(info)

    t0, seen = time.time(), 0
    while step < tc.max_iters:
        sampler.epoch, sampler.start_batch = epoch, batch_in_epoch
        # A private generator: creating a DataLoader iterator draws a seed, and drawing it from the
        # global RNG would make a resumed run diverge from an uninterrupted one.
        loader = DataLoader(dataset, batch_sampler=sampler, num_workers=int(tc.num_workers),
                            collate_fn=task.collate, generator=torch.Generator().manual_seed(int(tc.seed) + epoch))
        for batch in loader:
            model.train()
            batch = task.to_device(batch, info.device)
            with autocast:
                loss, logs = task.training_step(ddp_model, batch, step)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"[{task.name}] loss is {loss.item()} at step {step}: stopping "
                                         f"(last good checkpoint: {last_path})")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if tc.grad_clip:
                torch.nn.utils.clip_grad_norm_(trainable.parameters(), float(tc.grad_clip))
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            step += 1
            batch_in_epoch += 1
            seen += int(tc.batch_size) * info.world_size
            if info.is_main and (step % tc.log_every == 0 or step == 1):
                rate = seen / max(time.time() - t0, 1e-9)
                log.info(f"[{task.name}] step {step}/{tc.max_iters} loss {loss.item():.4f} "
                         + " ".join(f"{k} {v:.4f}" for k, v in logs.items()) + f" ({rate:.1f} img/s)")
                if writer:
                    writer.add_scalar("train/loss", loss.item(), step)
                    for k, v in logs.items():
                        writer.add_scalar(f"train/{k}", v, step)
                    writer.add_scalar("train/lr", optimizer.param_groups[0]["lr"], step)
            if writer and tc.image_every and step % tc.image_every == 0:
                with torch.no_grad():
                    task.log_images(writer, _unwrap(model), batch, step)
            at_end = step >= tc.max_iters
            if step >= tc.eval_after and ((tc.eval_every and step % tc.eval_every == 0) or at_end):
                evaluate_dev()
            if step % tc.ckpt_every == 0 or at_end:
                save_last()
            if at_end:
                break
        else:
            epoch += 1
            batch_in_epoch = 0
            continue
        break

    if writer:
        writer.close()
    summary = {"step": step, "best": best, "run_dir": str(run_dir)}
    if info.is_main and best.get("step") is not None:
        what = "ACER" if "dev_ACER" in best else "selection metric"  # a task may select on something else
        value = best.get("dev_ACER", best["metric"])
        log.info(f"[{task.name}] done: best dev step {best['step']} ({what} {value:.4f})")
    fdist.cleanup(info)
    return summary


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of parameters (the trainable ones by default), as the parameter-count tests state them."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)

