"""The measured parts of benchmarks/gpu_check.py: training step speed, the crop-cache loader, predict latency.

* Training speed: each method's real ``training_step`` through the engine's own step
  (:func:`fas_core.engine.step`: autocast, the fp16 scaler, clipping, the optimiser) on a run
  opened by :func:`fas_core.engine.open_run` (``train.amp``, ``train.channels_last``; the compiled
  variant through :func:`fas_core.engine.compile_if_asked`). The batch is one fixed batch of
  samples of the method's training set, on the device, reused every step; ``warmup`` untimed
  steps (the first one compiles), then ``timed`` steps between two CUDA synchronisations.
  Peak memory is ``torch.cuda.max_memory_allocated`` from the run's start.
* Loader: DUM's training set through a DataLoader with the paper config's ``train.num_workers``
  (dum/configs/oulu_p1.yaml), from the crop cache the check wrote at 256 px.
* Predict: :class:`fas_core.inference.predictor.Predictor` on a face photo (skimage's astronaut),
  MTCNN and the network on the GPU, timed apart by benchmarks/bench_predict.py's ``bench``.

Run as a script, it measures the compiled variant of the given methods: the check starts it as a
separate process while the end-to-end runs go, so that the compilation overlaps them; after its
warm-up steps it waits for the check's go-ahead (a file) before its timed steps, which then run
alone on the GPU. The check stops it at the end of the budget.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gpu_check_runs as runs
import numpy as np
import torch
from gpu_check_common import (
    DEFAULTS_ONLY,
    METHODS,
    PROFILES,
    ROOT,
    VARIANT_TEXT,
    VARIANTS,
    Context,
    MethodSpec,
    cell,
    failure,
    log,
)
from timing import seconds_per_call, sync

from fas_core import checkpoint as ckpt
from fas_core import dist as fdist
from fas_core import engine, fileio
from fas_core.config import load_config
from fas_core.prepare import ensure
from fas_core.task import Task

SPEED = "Training step speed (the engine's step, synthetic-tree batch reused)"
LOADER = "Crop-cache loader (DUM training set, DataLoader)"
PREDICT = "Predict latency per image (Predictor: MTCNN + network)"


def task_class(spec: MethodSpec) -> type[Task]:
    module, _, name = spec.task.partition(":")
    return getattr(importlib.import_module(module), name)


def method_config(ctx: Context, spec: MethodSpec, run_name: str, extra: Sequence[str] = ()) -> Any:
    """The method's config as its end-to-end run has it, with another run folder and ``extra`` keys."""
    keys = [k for k in runs.common_keys(ctx, run_name) if k not in ("--config", str(DEFAULTS_ONLY))]
    keys += runs.method_keys(ctx, spec)
    if spec.key == "sgtd_multi":  # the speed runs start from a random single-frame network
        keys = [k for k in keys if not k.startswith("model.single_checkpoint=")]
        keys.append(f"model.single_checkpoint={ctx.single_random}")
    return load_config(task_class(spec).defaults, DEFAULTS_ONLY, [*keys, *extra])


def write_random_checkpoints(ctx: Context) -> None:
    """The stand-ins: a random LightCNN-29 v2 (as released: ``module.`` keys under ``state_dict``), and a
    random single-frame network with its record, at the check's input size."""
    from dsdg.lightcnn import LightCNN29v2

    torch.manual_seed(0)
    net = LightCNN29v2()
    ckpt.save_checkpoint({"state_dict": {f"module.{k}": v for k, v in net.state_dict().items()}}, ctx.lightcnn)
    spec = METHODS["sgtd_single"]
    cfg = method_config(ctx, spec, "unused")
    task = task_class(spec)(cfg)
    model = task.build_model()
    ckpt.save_checkpoint({"model": model.state_dict(), **task.record(0, cfg).fields()}, ctx.single_random)


def fixed_batch(task: Task, size: int) -> Any:
    """``size`` samples of the task's training set, collated as its loader does."""
    dataset = task.train_dataset()
    return task.collate([dataset[(i % len(dataset), i)] for i in range(size)])


def free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def measure_step(ctx: Context, spec: MethodSpec, variant: str,
                 before_timing: Callable[[], None] = lambda: None) -> dict[str, Any]:
    """Throughput and peak memory of one method's training step in one precision variant.

    ``before_timing`` is called between the warm-up and the timed steps (the compiled variant waits there).
    """
    amp, channels_last, compiled = VARIANTS[variant]
    batch_size = ctx.profile.speed_batch[spec.key]
    cfg = method_config(ctx, spec, f"speed_{spec.key}_{variant}",
                        [f"train.amp={amp}", f"train.channels_last={str(channels_last).lower()}",
                         f"train.batch_size={batch_size}", "train.threads=0"])
    row: dict[str, Any] = {"what": f"{spec.key} {variant}", "method": spec.label, "variant": VARIANT_TEXT[variant],
                           "batch": batch_size, "unit": f"{spec.unit}/s"}
    device = torch.device(ctx.profile.device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    task = task_class(spec)(cfg)
    ensure(task.prerequisites(), task.name)
    run = engine.open_run(task, cfg, fdist.DistInfo(device=device))
    logging.getLogger("fas").setLevel(logging.WARNING)
    run.ddp_model = engine.compile_if_asked(engine.wrap_for_ddp(run), compiled, backend=ctx.profile.compile_backend)
    batch = engine.move_batch(run, fixed_batch(task, batch_size))
    start = time.time()
    engine.step(run, batch)
    sync(device)
    row["first step s"] = time.time() - start
    for _ in range(ctx.profile.warmup - 1):
        engine.step(run, batch)
    sync(device)
    before_timing()
    seconds = seconds_per_call(lambda: engine.step(run, batch), ctx.profile.timed, device)
    row.update({"per s": batch_size / seconds, "ms/step": 1000.0 * seconds,
                "peak MiB": torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else math.nan,
                "result": "ok"})
    if run.writer is not None:
        run.writer.close()
    return row


def guarded_step(ctx: Context, spec: MethodSpec, variant: str,
                 before_timing: Callable[[], None] = lambda: None) -> dict[str, Any]:
    """:func:`measure_step`, an error (out of memory included) becoming a failed row."""
    try:
        return measure_step(ctx, spec, variant, before_timing)
    except Exception as e:  # any failure is a finding of the check, reported in its row
        return {"what": f"{spec.key} {variant}", "method": spec.label, "variant": VARIANT_TEXT[variant],
                "result": failure(e)}
    finally:
        free_memory()


def loader_rate(task: Task, batch_size: int, batches: int, workers: int) -> tuple[float, float]:
    """``(samples/s, seconds to the first batch)`` of the task's training set through a DataLoader.

    The rate is taken after the first ``max(workers, 1)`` batches: the workers start together, so
    their first batches arrive at once and would overstate it.
    """
    dataset = task.train_dataset()
    plan = [[(j % len(dataset), j) for j in range(b * batch_size, (b + 1) * batch_size)] for b in range(batches)]
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=plan, num_workers=workers, collate_fn=task.collate)
    start = time.time()
    arrivals = []
    for _ in loader:
        arrivals.append(time.time())
    wave = min(max(workers, 1), batches - 1)
    return (batches - wave) * batch_size / max(arrivals[-1] - arrivals[wave - 1], 1e-9), arrivals[0] - start


def measure_loader(ctx: Context) -> list[dict[str, Any]]:
    """DUM's loader with the paper config's workers and in one process, against the CDCN_u training speed."""
    paper = load_config(task_class(METHODS["cdcn_u"]).defaults, ROOT / "dum" / "configs" / "oulu_p1.yaml")
    workers = int(paper.train.num_workers)
    spec, batch_size = METHODS["cdcn_u"], ctx.profile.speed_batch["cdcn_u"]
    task = task_class(spec)(method_config(ctx, spec, "loader"))
    rows = []
    for n, batches in ((workers, ctx.profile.loader_batches * max(workers, 1)), (0, ctx.profile.loader_batches)):
        log(f"loader: {batches} batches of {batch_size} with {n} worker(s)")
        rate, startup = loader_rate(task, batch_size, batches, n)
        rows.append({"what": f"loader {n} workers", "loader": "dum.dataset.DepthTrainSet (crop cache, 256 px JPEG)",
                     "workers": n, "batch": batch_size, "images/s": rate,
                     "images/s per worker": rate / max(n, 1), "first batch s": startup, "result": "ok"})
    return rows


def loader_verdict(loader_rows: list[dict[str, Any]], training: dict[str, float]) -> str:
    """Whether the loader keeps up with CDCN_u's training step, and how many workers would."""
    if not loader_rows or not training:
        return "Verdict: not available (the loader or the CDCN_u speed rows are missing)."
    with_workers, single = loader_rows[0], loader_rows[-1]
    fastest_variant = max(training, key=training.get)
    need = training[fastest_variant]
    per_process = max(single["images/s"], 1e-9)
    workers_needed = math.ceil(need / per_process)
    keeps_up = with_workers["images/s"] >= need
    verdict = "is not" if keeps_up else "IS"
    figures = ", ".join(f"{cell(r)} ({VARIANT_TEXT[v]})" for v, r in training.items())
    return (f"Verdict: the loader {verdict} the bottleneck: {cell(with_workers['images/s'])} images/s with "
            f"{with_workers['workers']} workers (dum/configs/oulu_p1.yaml's train.num_workers) against CDCN_u "
            f"training at {figures} images/s. One process loads {cell(per_process)} images/s: the fastest variant "
            f"needs at least {workers_needed} worker(s).")


def face_photo() -> np.ndarray:
    """skimage's astronaut (512x512 RGB, a frontal face), read from the package's own file."""
    import skimage

    path = Path(skimage.__file__).parent / "data" / "astronaut.png"
    image = fileio.read_image(path) if path.is_file() else None
    if image is None:
        from skimage import data

        return np.ascontiguousarray(data.astronaut())
    return np.ascontiguousarray(image[:, :, ::-1])


def measure_predict(ctx: Context, checkpoints: dict[str, Path]) -> list[dict[str, Any]]:
    """Median latency of detection, crops, the network (fused and as trained) and the whole chain, per model."""
    from bench_predict import bench

    from fas_core.face_detector import PIPELINE_DETECTOR, FaceDetector
    from fas_core.inference.loading import load_model
    from fas_core.inference.predictor import Predictor

    device = torch.device(ctx.profile.device)
    detector = FaceDetector(**PIPELINE_DETECTOR, device=str(device))
    frame, rows = face_photo(), []
    for key, path in checkpoints.items():
        row: dict[str, Any] = {"what": f"predict {key}", "model": METHODS[key].label, "checkpoint": path.name}
        if ctx.remaining("predict") < 3:
            rows.append({**row, "result": "skipped (time budget)"})
            continue
        try:
            fused, plain = load_model(path, device=device, fuse=True), load_model(path, device=device)
            clip = fused.clip[0] if fused.clip else None
            r = bench(Predictor(fused, detector), Predictor(plain, detector), frame, clip, ctx.profile.predict_repeats)
            row.update({"unit": f"{clip}-frame clip" if clip else "image", "MTCNN ms": r["detect"],
                        "crop ms": r["crop"], "network ms (fused)": r["model"],
                        "network ms (as trained)": r["model_plain"], "end to end ms": r["total"], "result": "ok"})
        except (Exception, SystemExit) as e:  # SystemExit: bench's "no face found"
            row["result"] = failure(e)
        rows.append(row)
    return rows


def wait_for(go: Path, seconds: float) -> None:
    """Until the file ``go`` exists (the check's go-ahead), at most ``seconds``, or until the check is gone."""
    parent, end = os.getppid(), time.time() + seconds
    log(f"compile: waiting for {go}")
    while not go.exists() and time.time() < end:
        if os.getppid() != parent:
            raise SystemExit("the check that started this process is gone")
        time.sleep(0.2)


def compile_worker(argv: Sequence[str] | None = None) -> int:
    """The compiled variant of ``--methods``, each row appended to ``--json`` as soon as it is measured."""
    p = argparse.ArgumentParser(description="compiled training steps (started by benchmarks/gpu_check.py)")
    p.add_argument("--profile", choices=sorted(PROFILES), required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--methods", required=True)
    p.add_argument("--json", required=True)
    p.add_argument("--go", required=True, help="file whose existence lets the timed steps start")
    p.add_argument("--wait-s", type=float, default=600.0, help="the longest wait for --go")
    args = p.parse_args(argv)
    methods = tuple(args.methods.split(","))
    ctx = Context(PROFILES[args.profile], Path(args.out), Path(args.work), methods, ("compile",))
    rows: list[dict[str, Any]] = []
    for key in methods:
        log(f"compile: {key}")
        rows.append(guarded_step(ctx, METHODS[key], "compile", lambda: wait_for(Path(args.go), args.wait_s)))
        fileio.write_json(args.json, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(compile_worker())
