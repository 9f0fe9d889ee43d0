"""FAS-SGTD speed: the default forward paths against the literal reference, as a markdown table.

    python benchmarks/bench_sgtd.py --threads 2                      # 256x256, both stages
    python benchmarks/bench_sgtd.py --sizes 64 128 --stages single --modes inference
    python benchmarks/bench_sgtd.py --threads 2 --stages single --compile --retain-memory

Every row times two copies of one network with the same weights, interleaved (see
``benchmarks/timing.py``): ``literal`` is the reference formulation (``set_literal(model, True)``:
depthwise-convolution Sobel left to autograd, BatchNorm modules, the 288-channel OFFB
concatenation, the input's memory layout) and ``fast`` the default one (shifted-slice Sobel in
cache-sized chunks with a hand-written backward, BatchNorm folded on the fly in eval mode,
in-place sums and ReLUs, channels-last without gradients, the OFFB convolution split by input
channels). ``--compile`` adds ``torch.compile`` of the fast network for inference;
``--retain-memory`` keeps glibc from unmapping freed blocks (for every variant). Before timing,
the benchmark checks that both give the same outputs: the largest difference, divided by the
larger of 1 and the output's largest magnitude, must stay within ``--tolerance`` (1e-4).

Single frame: a training step is forward, MSE + L2 loss, backward, Adam step; inference a
forward in eval mode without gradients. Multi frame (5-frame clips): a training step runs the
frozen single-frame network without gradients on the 5 frames as one batch, then the STPM head
with its loss, backward and Adadelta. Random inputs in the normalised range; BatchNorm running
statistics are set from one batch first, so eval-mode activations have a realistic scale.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.timing import (  # noqa: E402
    add_timing_arguments,
    apply_timing_arguments,
    convolution_ceiling,
    interleaved,
    load_average,
    median,
    speedup,
)
from fas_core.config import AttrDict, materialise  # noqa: E402
from fas_core.fuse import compile_for_inference  # noqa: E402
from fas_core.layers import set_literal  # noqa: E402
from fas_sgtd_multi_frame.model import build_multi_frame  # noqa: E402
from fas_sgtd_multi_frame.train import DEFAULTS, multi_frame_loss  # noqa: E402
from fas_sgtd_single_frame.model import FaceMapNet  # noqa: E402

MULTI = materialise(DEFAULTS)

Step = Callable[[], object]


@torch.no_grad()
def calibrate_batchnorm(model: nn.Module, run: Callable[[], object]) -> None:
    """Set every BatchNorm's running statistics to those of one training-mode ``run()``."""
    norms = [m for m in model.modules() if getattr(m, "running_mean", None) is not None]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.momentum = 1.0
    model.train()
    run()
    for m, momentum in zip(norms, saved, strict=True):
        m.momentum = momentum


def max_difference(a: object, b: object) -> float:
    """Largest difference between two outputs (tensors, or dicts / lists of them), relative to the
    larger of 1 and the reference's largest magnitude: absolute for outputs within [-1, 1]."""
    if isinstance(a, dict):
        return max(max_difference(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return max(max_difference(x, y) for x, y in zip(a, b, strict=True))
    scale = max(1.0, b.float().abs().max().item())
    return (a.float() - b.float()).abs().max().item() / scale


def train_step(model: nn.Module, opt: torch.optim.Optimizer, loss: Callable[[], torch.Tensor]) -> Step:
    def step() -> None:
        model.train()
        value = loss()
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()

    return step


def infer_step(model: nn.Module, forward: Callable[[], object]) -> Step:
    @torch.no_grad()
    def step() -> object:
        model.eval()
        return forward()

    return step


def single_frame_steps(net: nn.Module, x: torch.Tensor, target: torch.Tensor) -> dict[str, Step]:
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)

    def loss() -> torch.Tensor:
        return F.mse_loss(net(x), target) + net.l2_penalty()

    return {"training": train_step(net, opt, loss), "inference": infer_step(net, lambda: net(x))}


def multi_frame_steps(model: nn.Module, clip: torch.Tensor, batch: dict[str, torch.Tensor]) -> dict[str, Step]:
    opt = torch.optim.Adadelta(model.head.parameters(), lr=0.01, rho=0.95, eps=1e-8)
    loss_cfg = AttrDict(MULTI["loss"])

    def loss() -> torch.Tensor:
        depth, feats = model.extract(clip)
        value, _ = multi_frame_loss(model.head(depth, feats), batch, loss_cfg)
        return value + model.head.l2_penalty(5e-4)

    return {"training": train_step(model, opt, loss), "inference": infer_step(model, lambda: model(clip))}


def build_single(size: int, args: argparse.Namespace, device: torch.device):
    net = FaceMapNet(width=args.width).to(device)
    x = torch.rand(args.batch_single, 3, size, size, device=device) - 0.5  # (pixel - 127.5) / 255
    calibrate_batchnorm(net, lambda: net(x))
    target = torch.rand(args.batch_single, 1, size // 8, size // 8, device=device)
    return net, (x,), lambda m: single_frame_steps(m, x, target)


def build_multi(size: int, args: argparse.Namespace, device: torch.device):
    model = build_multi_frame(AttrDict(dict(MULTI["model"], width=args.width)), size).to(device)
    b = args.batch_multi
    clip = torch.rand(b, 5, 3, size, size, device=device) - 0.5
    calibrate_batchnorm(model.single, lambda: model.single(clip.flatten(0, 1)))
    calibrate_batchnorm(model, lambda: model(clip))
    batch = {"depth": torch.rand(b, 5, 1, size // 8, size // 8, device=device),
             "label": torch.tensor([1, 0] * b, device=device)[:b]}
    return model, (clip,), lambda m: multi_frame_steps(m, clip, batch)


def check_equal(fast: nn.Module, literal: nn.Module, inputs: tuple) -> dict[str, float]:
    """Max output difference (:func:`max_difference`) in eval mode and in training mode (batch statistics).

    A multi-frame network is checked in its two parts, each on identical inputs: the frozen
    network's depth maps and features, then the head on the literal network's features. End to
    end, a random untrained head amplifies float-rounding differences of its input features (its
    literal form does the same with perturbed inputs), which says nothing about the formulation.
    """
    diffs = {}
    with torch.no_grad():
        for mode in ("eval", "train"):
            fast.train(mode == "train")
            literal.train(mode == "train")
            if hasattr(fast, "head"):
                depth, feats = literal.extract(*inputs)
                diffs[mode] = max(max_difference(fast.extract(*inputs), (depth, feats)),
                                  max_difference(fast.head(depth, feats), literal.head(depth, feats)))
            else:
                diffs[mode] = max_difference(fast(*inputs), literal(*inputs))
    return diffs


def compiled_inference(fast: nn.Module, literal: nn.Module, inputs: tuple) -> tuple[Step, float, float]:
    """``torch.compile`` (inductor, frozen weights) of an eval copy of ``fast``: ``(step, compile seconds, diff)``.

    See :func:`fas_core.fuse.compile_for_inference`.
    """
    model = compile_for_inference(fast)
    with torch.no_grad():
        start = time.perf_counter()
        out = model(*inputs)
        seconds = time.perf_counter() - start
        diff = max_difference(out, literal.eval()(*inputs))
    return infer_step(model, lambda: model(*inputs)), seconds, diff


def table_row(stage: str, size: int, batch: int, step: str, times: dict[str, list[float]], name: str,
              diff: float, before: str) -> str:
    unit = "img" if stage == "single" else "clip"
    return (f"| {stage} frame | {size} | {batch} | {step} | {median(times['literal']):.2f} "
            f"| {median(times[name]):.2f} | {batch / median(times[name]):.2f} {unit}/s "
            f"| **{speedup(times, name, 'literal'):.2f}x** | {diff:.1e} | {before} -> {load_average()} |")


def bench_stage(stage: str, size: int, args: argparse.Namespace, device: torch.device) -> list[str]:
    builder = build_single if stage == "single" else build_multi
    fast, inputs, steps_for = builder(size, args, device)
    literal = set_literal(copy.deepcopy(fast), True)
    diffs = check_equal(fast, literal, inputs)
    worst = max(diffs.values())
    if worst > args.tolerance:
        raise SystemExit(f"error: {stage} frame at {size}: fast and literal outputs differ by {worst:.3g} "
                         f"(> --tolerance {args.tolerance:g})")
    fast_steps, literal_steps = steps_for(fast), steps_for(literal)
    batch = args.batch_single if stage == "single" else args.batch_multi
    rows = []
    for mode in args.modes:
        fns = {"literal": literal_steps[mode], "fast": fast_steps[mode]}
        if mode == "inference" and args.compile:
            fns["compiled"], compile_s, compiled_diff = compiled_inference(fast, literal, inputs)
        before = load_average()
        times = interleaved(fns, args.iters, args.repeats, args.warmup, device)
        rows.append(table_row(stage, size, batch, mode, times, "fast",
                              diffs["eval" if mode == "inference" else "train"], before))
        if "compiled" in fns:
            rows.append(table_row(stage, size, batch, f"inference, torch.compile (compiled in {compile_s:.0f} s)",
                                  times, "compiled", compiled_diff, before))
        print("\n".join(rows[-2:] if "compiled" in fns else rows[-1:]), flush=True)
        if args.profile:
            rows.append(ceiling_row(stage, size, batch, mode, times, fast_steps[mode]))
            print(rows[-1], flush=True)
    return rows


def ceiling_row(stage: str, size: int, batch: int, mode: str, times: dict[str, list[float]], fast: Step) -> str:
    """A table row: the fast step's share of CPU time in convolutions, and the speed-up over the
    literal form that a fast step made of its convolutions alone would reach (the ceiling for any
    change that leaves the convolutions as they are)."""
    share, ceiling = convolution_ceiling(fast, times["literal"], times["fast"])
    return (f"| {stage} frame | {size} | {batch} | {mode}: fast step's convolutions alone | | "
            f"{median(times['fast']) * share:.2f} | | **{ceiling:.2f}x** at most "
            f"({100 * share:.0f}% of the fast step is convolution) | | |")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[256], help="input sizes (default 256, the paper's)")
    p.add_argument("--stages", nargs="+", choices=("single", "multi"), default=["single", "multi"])
    p.add_argument("--modes", nargs="+", choices=("training", "inference"), default=["training", "inference"])
    p.add_argument("--width", type=float, default=1.0, help="channel multiplier (1.0: the paper)")
    p.add_argument("--batch-single", type=int, default=1, help="images per single-frame step (default 1)")
    p.add_argument("--batch-multi", type=int, default=1, help="5-frame clips per multi-frame step (default 1)")
    p.add_argument("--tolerance", type=float, default=1e-4,
                   help="max output difference allowed, relative to max(1, |output|) (default 1e-4)")
    p.add_argument("--profile", action="store_true",
                   help="after each row, profile one fast step (torch.profiler): its share of CPU time in "
                        "convolutions, and the speed-up ceiling that share leaves (CPU)")
    p.add_argument("--compile", action="store_true",
                   help="also time inference of the fast network under torch.compile (inductor, frozen weights)")
    add_timing_arguments(p)
    args = p.parse_args(argv)
    if min(args.sizes) < 8 or any(s % 8 for s in args.sizes):
        p.error(f"--sizes must be multiples of 8, got {args.sizes}")
    return args


def main(argv: Sequence[str] | None = None) -> str:
    args = parse_args(argv)
    device, setup = apply_timing_arguments(args)
    torch.manual_seed(0)
    header = [f"FAS-SGTD, literal reference vs default forward, width {args.width:g}: {setup}", "",
              "| stage | input | batch | step | literal (s) | fast (s) | fast throughput | speed-up "
              "| max output diff (rel.) | load avg (1/5/15 min) before -> after |",
              "|---|---|---|---|---:|---:|---:|---:|---:|---|"]
    print("\n".join(header), flush=True)
    rows = [row for size in args.sizes for stage in args.stages for row in bench_stage(stage, size, args, device)]
    return "\n".join(header + rows)


if __name__ == "__main__":
    main()
