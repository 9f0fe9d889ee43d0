"""Speed of CDCN_u with folded central difference convolution against the literal two-conv form.

    python benchmarks/bench_cdcn.py                      # CPU, 256x256, markdown table on stdout
    python benchmarks/bench_cdcn.py --device cuda --amp --channels-last --batch 32

Both formulations compute the same function (docs/methods/dum.md, "Central difference convolution";
tests/test_dum_model.py checks it, gradients included):

* literal: ``conv3x3(x, W) - theta * conv1x1(x, sum_k W)`` - two convolutions per layer, as the
  original code;
* folded: one 3x3 convolution whose centre tap is ``W_c - theta * sum(W)``;
* folded + fused (inference only): also every BatchNorm folded into the convolution before it
  (:func:`fas_core.fuse.fuse_for_inference`).

Training images/s time a whole step (forward, DUM loss on the sample, backward, Adam step) on
the same random batch; inference images/s time a forward pass under ``torch.inference_mode``.
Variants run interleaved within every repeat (the order rotating), so background load hits
them alike; the table gives the median over repeats and the speed-up over the literal form
measured in the same run and memory format.
"""

from __future__ import annotations

import argparse
import copy
import platform
import statistics
import sys
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from timing import seconds_per_call as timed  # noqa: E402  (benchmarks/timing.py, next to this file)

from dum.losses import mixed_batch_loss  # noqa: E402
from dum.model import build_model, reparameterize, set_literal  # noqa: E402
from fas_core.fuse import fuse_for_inference  # noqa: E402


def autocast_for(device: torch.device, amp: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16) if amp else nullcontext()


def train_step_fn(model: torch.nn.Module, x: torch.Tensor, label: torch.Tensor, device: torch.device,
                  amp: bool) -> Callable[[], None]:
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, weight_decay=5e-5)
    generated = torch.zeros(x.size(0), dtype=torch.bool, device=device)
    generated[-(x.size(0) // 4):] = True  # a mixed batch: 3/4 real, 1/4 generated

    def step() -> None:
        with autocast_for(device, amp):
            mu, logvar = model(x)
            pred = reparameterize(mu.float(), logvar.float())
            loss, _ = mixed_batch_loss(pred, label, generated, mu.float(), logvar.float())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def infer_fn(model: torch.nn.Module, x: torch.Tensor, device: torch.device, amp: bool) -> Callable[[], None]:
    def forward() -> None:
        with torch.inference_mode(), autocast_for(device, amp):
            model(x)

    return forward


def run_interleaved(fns: dict[str, Callable[[], None]], iters: int, repeats: int, warmup: int,
                    device: torch.device) -> dict[str, list[float]]:
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    names = list(fns)
    for r in range(repeats):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            times[name].append(timed(fns[name], iters, device))
    return times


def build_variants(args: argparse.Namespace, device: torch.device):
    torch.manual_seed(0)
    folded = build_model("cdcn_u").to(device)
    literal = set_literal(copy.deepcopy(folded), True)
    formats = [("NCHW", torch.contiguous_format)]
    if args.channels_last:
        formats.append(("channels_last", torch.channels_last))
    x = torch.randn(args.batch, 3, args.size, args.size, device=device)
    label = torch.rand(args.batch, args.size // 8, args.size // 8, device=device)
    train, infer = {}, {}
    for fmt_name, fmt in formats:
        xf = x.contiguous(memory_format=fmt)
        if not args.skip_train:
            for name, base in (("literal", literal), ("folded", folded)):
                m = copy.deepcopy(base).to(memory_format=fmt).train()
                train[(name, fmt_name)] = train_step_fn(m, xf, label, device, args.amp)
        if not args.skip_inference:
            lit, fol = copy.deepcopy(literal).eval(), copy.deepcopy(folded).eval()
            variants = {"literal": lit, "folded": fol, "folded + fused BN": fuse_for_inference(fol)}
            for name, m in variants.items():
                infer[(name, fmt_name)] = infer_fn(m.to(memory_format=fmt), xf, device, args.amp)
    return train, infer


def table(title: str, times: dict[tuple[str, str], list[float]], batch: int) -> list[str]:
    lines = [f"**{title}**", "", "| formulation | memory format | images/s (median) | min-max | speed-up vs literal |",
             "|---|---|---|---|---|"]
    for (name, fmt), ts in times.items():
        rates = [batch / t for t in ts]
        base = [batch / t for t in times[("literal", fmt)]]
        lines.append(f"| {name} | {fmt} | {statistics.median(rates):.2f} | {min(rates):.2f}-{max(rates):.2f} | "
                     f"{statistics.median(rates) / statistics.median(base):.2f}x |")
    return lines + [""]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", help="cpu | cuda (default cpu)")
    p.add_argument("--size", type=int, default=256, help="input side in pixels (default 256, the paper's)")
    p.add_argument("--batch", type=int, default=2, help="images per step (default 2)")
    p.add_argument("--iters", type=int, default=2, help="timed calls per variant and repeat (default 2)")
    p.add_argument("--repeats", type=int, default=3, help="interleaved repeats; the median is reported (default 3)")
    p.add_argument("--warmup", type=int, default=1, help="untimed calls per variant first (default 1)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--amp", action="store_true", help="bf16 autocast")
    p.add_argument("--channels-last", action="store_true", help="also measure every variant in channels_last")
    p.add_argument("--skip-train", action="store_true")
    p.add_argument("--skip-inference", action="store_true")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    train, infer = build_variants(args, device)
    hw = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{platform.processor() or 'cpu'}"
    print(f"CDCN_u, {args.size}x{args.size}, batch {args.batch}, device {device} ({hw}), "
          f"{torch.get_num_threads()} CPU threads, torch {torch.__version__}, amp {'bf16' if args.amp else 'off'}; "
          f"{args.repeats} interleaved repeats x {args.iters} calls\n")
    if train:
        print("\n".join(table("Training step (forward + DUM loss + backward + Adam)",
                              run_interleaved(train, args.iters, args.repeats, args.warmup, device), args.batch)))
    if infer:
        print("\n".join(table("Inference (forward, eval mode)",
                              run_interleaved(infer, args.iters, args.repeats, args.warmup, device), args.batch)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
