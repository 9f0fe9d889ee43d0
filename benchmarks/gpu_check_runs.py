"""The command-line runs of benchmarks/gpu_check.py: every method's train -> test, DSDG generation, DDP.

Each run is the project's own entry point, ``python -m <method>.train ... train.device=cuda``
(the runner and the engine), on the synthetic tree at the papers' input sizes; a run passes when
it exits 0, every logged loss is finite, ``last.pt`` holds the last step, and ``test.py`` reads
the checkpoint back and writes its metrics. The one-process DDP run starts torchrun itself:
``python -m torch.distributed.run --standalone --nproc_per_node=1 -m dum.train ...`` (torchrun
puts even a single process in a process group, NCCL on a GPU).

The runs are small and mostly start-up (imports, CUDA initialisation, scoring set-up), so the
methods' chains and the DDP run go side by side, one thread each starting its processes; only
the multi-frame stage waits for the single-frame one it starts from.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import math
import os
import re
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from gpu_check_common import DEFAULTS_ONLY, METHODS, ROOT, Context, MethodSpec, Report, log, tail

from fas_core import checkpoint as ckpt

LOSS_LINE = re.compile(r"step (\d+)/(\d+) loss (\S+)")
E2E = "End to end: python -m <method>.train / .test"
DDP = "DDP: one process under torchrun"
PHASE = "end to end"
MIN_RUN_S = 15.0  # a run is started only with at least this much of the phase left
CHAINS = (("sgtd_single", "sgtd_multi"), ("dsdg",), ("cdcn_u",), ("cdcnpp",))  # longest first


def run_module(ctx: Context, module: str, args: Sequence[str], log_path: Path, timeout: float,
               launcher: Sequence[str] = ()) -> tuple[int, float]:
    """Run ``python [launcher] -m module args`` (or ``module.main(args)`` here when in-process); ``(exit code, s)``.

    A ``module`` ending in ``.py`` is a script run by its path. The output goes to ``log_path``; a
    run past ``timeout`` is stopped with exit code 124.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.time()
    if ctx.in_process and not launcher:
        return call_main(module, args, log_path), time.time() - start
    target = [module] if module.endswith(".py") else ["-m", module]
    command = [sys.executable, *launcher, *target, *args]
    with open(log_path, "w") as out:
        out.write("$ " + " ".join(command) + "\n")
        out.flush()
        try:
            rc = subprocess.run(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, timeout=max(timeout, 1.0),
                                env=dict(os.environ)).returncode
        except subprocess.TimeoutExpired:
            out.write(f"\nstopped after {timeout:.0f} s (the check's time budget)\n")
            rc = 124
    return rc, time.time() - start


def call_main(module: str, args: Sequence[str], log_path: Path) -> int:
    """``module.main(args)`` in this process, its output in ``log_path``; the exit code it would have had."""
    with open(log_path, "w") as out, contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        print("$ python -m " + module + " " + " ".join(args), flush=True)
        try:
            result = importlib.import_module(module).main(list(args))
            return result if isinstance(result, int) and not isinstance(result, bool) else 0
        except SystemExit as e:
            return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except Exception:  # a bug: its traceback goes to the log, the row fails
            traceback.print_exc()
            return 1


def common_keys(ctx: Context, name: str) -> list[str]:
    """key=value settings of every end-to-end run: a few steps on the tree, dev scoring at the end."""
    p = ctx.profile
    return ["--config", str(DEFAULTS_ONLY), f"data.work={ctx.tree}", f"train.run_dir={ctx.run_dir(name)}",
            f"train.device={p.device}", f"train.max_iters={p.e2e_steps}", f"train.batch_size={p.e2e_batch}",
            "train.log_every=1", f"train.image_every={p.e2e_steps}", "train.eval_every=0", "train.eval_after=0",
            f"train.ckpt_every={p.e2e_steps}", "train.num_workers=0", "train.resume=false"]


def method_keys(ctx: Context, spec: MethodSpec) -> list[str]:
    """The method's own settings: input size, short scoring, and what ties the stages together."""
    p = ctx.profile
    if spec.key == "dsdg":
        return [f"identity_net.checkpoint={ctx.lightcnn}", "identity_net.enabled=true", f"model.hdim={p.dsdg_hdim}",
                f"train.batch_size={p.dsdg_batch}",
                "data.frames_per_video=4", f"data.workers={p.workers}", "eval.pairs=2", "eval.batch_size=2",
                "eval.grid_samples=2", "loss.warmup_steps=1"]
    keys = [*spec.keys, f"data.input_size={p.size}", "eval.frames_per_video=2", "eval.batch_size=8",
            "test.frames_per_video=2", "test.depth_samples=2"]
    if spec.key == "sgtd_multi":
        keys += [f"model.single_checkpoint={ctx.run_dir('sgtd_single') / 'last.pt'}", "data.clip_frames=5",
                 "data.clip_interval=1", "eval.batch_size=2"]
    return keys


def losses_of(log_file: Path) -> list[float]:
    """Every ``step i/N loss X`` of a run's log."""
    text = log_file.read_text(errors="replace") if log_file.is_file() else ""
    return [float(m.group(3)) for m in LOSS_LINE.finditer(text)]


def check_training(run_dir: Path, steps: int) -> tuple[str, float]:
    """``(problem or "", last loss)`` of a finished training run."""
    losses = losses_of(run_dir / "log.txt")
    if not losses:
        return "no loss in log.txt", math.nan
    if not all(math.isfinite(v) for v in losses):
        return f"non-finite loss: {losses}", losses[-1]
    last = run_dir / "last.pt"
    if not last.is_file():
        return "no last.pt", losses[-1]
    record = ckpt.load_file(last)
    if record.get("step") != steps:
        return f"last.pt holds step {record.get('step')}, not {steps}", losses[-1]
    return "", losses[-1]


def train_and_test(ctx: Context, report: Report, spec: MethodSpec) -> bool:
    """One method's training run, then its test run reading the checkpoint back; one row."""
    run_dir = ctx.run_dir(spec.key)
    precision = spec.precision if ctx.profile.e2e_precision else ()
    args = common_keys(ctx, spec.key) + method_keys(ctx, spec) + list(precision)
    amp = next((k.split("=", 1)[1] for k in precision if k.startswith("train.amp=")), "fp32")
    cl = "train.channels_last=true" in precision
    batch = ctx.profile.dsdg_batch if spec.key == "dsdg" else ctx.profile.e2e_batch
    row: dict[str, Any] = {"what": spec.key, "method": spec.label, "steps": ctx.profile.e2e_steps, "batch": batch,
                           "precision": amp + (" + channels_last" if cl else "")}
    log(f"{spec.key}: python -m {spec.train} ({ctx.profile.e2e_steps} steps on {ctx.profile.device})")
    rc, seconds = run_module(ctx, spec.train, args, ctx.log_file(f"{spec.key}.train.log"),
                             ctx.timeout(ctx.profile.run_cap_s, PHASE))
    problem, loss = check_training(run_dir, ctx.profile.e2e_steps) if rc == 0 else (f"exit {rc}", math.nan)
    row.update({"final loss": loss, "train s": seconds})
    if problem:
        row["result"] = f"FAIL train: {problem}: {tail(ctx.log_file(f'{spec.key}.train.log'))}"
        report.add(E2E, row)
        return False
    row["result"] = test_or_generate(ctx, spec, args, row)
    report.add(E2E, row)
    return row["result"] == "ok"


def test_or_generate(ctx: Context, spec: MethodSpec, args: list[str], row: dict[str, Any]) -> str:
    """``test.py`` on the run's checkpoint (a liveness method) or ``dsdg.generate`` (the generator)."""
    run_dir = ctx.run_dir(spec.key)
    if spec.test is None:
        return generate(ctx, run_dir, row)
    log(f"{spec.key}: python -m {spec.test} (reads {run_dir / 'best.pt'})")
    log_path = ctx.log_file(f"{spec.key}.test.log")
    rc, seconds = run_module(ctx, spec.test, args, log_path, ctx.timeout(ctx.profile.run_cap_s, PHASE))
    row["test s"] = seconds
    metrics = run_dir / "test" / "metrics.json"
    if rc != 0 or not metrics.is_file():
        return f"FAIL test: exit {rc}: {tail(log_path)}"
    stored = ckpt.load_file(run_dir / "best.pt").get("threshold")
    row["test ACER"] = float(json.loads(metrics.read_text())["ACER"])
    return "ok" if stored is not None else "FAIL test: no dev threshold stored in best.pt"


def generate(ctx: Context, run_dir: Path, row: dict[str, Any]) -> str:
    """Four generated pairs from the trained generator (MTCNN on the generated faces)."""
    out = ctx.run_dir("dsdg_generated")
    log_path = ctx.log_file("dsdg.generate.log")
    log("dsdg: python -m dsdg.generate (4 pairs)")
    rc, seconds = run_module(ctx, "dsdg.generate", ["--checkpoint", str(run_dir / "last.pt"), "--out", str(out),
                                                    "--num-pairs", "4", "--frames-per-video", "2", "--batch-size", "4",
                                                    "--device", ctx.profile.device, "--force"], log_path,
                             ctx.timeout(ctx.profile.run_cap_s, PHASE))
    row["generate s"] = seconds
    listed = (out / "generated.txt").read_text().split() if (out / "generated.txt").is_file() else []
    if rc != 0 or len(listed) != 4:
        return f"FAIL generate: exit {rc}, {len(listed)} list lines: {tail(log_path)}"
    return "ok"


def run_chain(ctx: Context, report: Report, keys: Sequence[str], passed: dict[str, Path]) -> None:
    """One after the other, the methods' runs of one chain; a liveness method that passed adds its checkpoint."""
    for key in keys:
        if ctx.remaining(PHASE) < MIN_RUN_S:
            report.add(E2E, {"what": key, "method": METHODS[key].label, "result": "skipped (time budget)"})
            continue
        try:
            if train_and_test(ctx, report, METHODS[key]) and METHODS[key].test:
                passed[key] = ctx.run_dir(key) / "best.pt"
        except Exception as e:  # a bug of the check itself: the other chains go on
            report.add(E2E, {"what": key, "method": METHODS[key].label, "result": f"FAIL: {type(e).__name__}: {e}"})


def end_to_end(ctx: Context, report: Report) -> dict[str, Path]:
    """Every method's runs and the DDP run, side by side (one after the other in-process); the checkpoints
    that passed, in the methods' order."""
    p = ctx.profile
    report.note(E2E, f"Each run: {p.e2e_steps} optimiser steps of batch {p.e2e_batch} on the synthetic tree at "
                     f"{p.size} px (DSDG: {p.dsdg_batch} pairs of 256 px images, hdim {p.dsdg_hdim}), dev scoring "
                     "at the end, then test.py on best.pt (DSDG: dsdg.generate). The chains of runs go side by "
                     "side (their seconds include sharing the GPU and CPUs). Logs: logs/*.log.")
    passed: dict[str, Path] = {}
    jobs: list[Callable[[], None]] = [functools.partial(run_chain, ctx, report, keys, passed) for keys in
                                      ([k for k in chain if k in ctx.methods] for chain in CHAINS) if keys]
    jobs.append(functools.partial(ddp_one_process, ctx, report))
    # In-process runs share this process's stdout redirection: one at a time.
    with ThreadPoolExecutor(1 if ctx.in_process else len(jobs)) as pool:
        for future in [pool.submit(job) for job in jobs]:
            future.result()
    return {k: passed[k] for k in METHODS if k in passed}


def ddp_one_process(ctx: Context, report: Report) -> None:
    """torchrun with one process: the process group (NCCL on a GPU), DDP wrapping, a few steps, a checkpoint."""
    if ctx.remaining(PHASE) < MIN_RUN_S:
        report.add(DDP, {"what": "ddp", "result": "skipped (time budget)"})
        return
    spec = METHODS["cdcn_u"]
    run_dir = ctx.run_dir("ddp")
    args = common_keys(ctx, "ddp") + method_keys(ctx, spec)
    launcher = ("-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1")
    log("ddp: python -m torch.distributed.run --standalone --nproc_per_node=1 -m dum.train")
    log_path = ctx.log_file("ddp.train.log")
    rc, seconds = run_module(ctx, spec.train, args, log_path, ctx.timeout(ctx.profile.run_cap_s, PHASE),
                             launcher=launcher)
    text = log_path.read_text(errors="replace") if log_path.is_file() else ""
    backend = "nccl" if ctx.profile.device == "cuda" else "gloo"
    problem = check_training(run_dir, ctx.profile.e2e_steps)[0] if rc == 0 else f"exit {rc}"
    if not problem and f"world 1 (DDP, {backend})" not in text:
        problem = f"the log does not show a {backend} process group"
    report.add(DDP, {"what": "ddp", "launcher": "torchrun --standalone --nproc_per_node=1", "method": "dum.train",
                     "world": 1, "backend": backend, "steps": ctx.profile.e2e_steps, "s": seconds,
                     "result": f"FAIL: {problem}: {tail(log_path)}" if problem else "ok"})
