"""Speed of CDCN_u with folded central difference convolution against the literal two-conv form.

    python benchmarks/bench_cdcn.py                      # CPU, 256x256, markdown table on stdout
    python benchmarks/bench_cdcn.py --device cuda --amp --channels-last --batch 32

Both formulations compute the same function (docs/methods/dum.md, "Central difference convolution";
tests/test_dum_model.py checks it, gradients included):

* literal: ``conv3x3(x, W) - theta * conv1x1(x, sum_k W)`` - two convolutions per layer, as the
  original code (``dum.model.set_literal(model, True)``);
* folded: one 3x3 convolution whose centre tap is ``W_c - theta * sum(W)``, and in-place ReLUs;
* folded + fused (inference only): also every BatchNorm folded into the convolution before it
  (:func:`fas_core.fuse.fuse_for_inference`).

Training images/s time a whole step (forward, DUM loss on the sample, backward, Adam step) on
the same random batch; inference images/s time a forward pass under ``torch.inference_mode``.
Variants run interleaved within every repeat (``benchmarks/timing.py``), so background load
hits them alike; the table gives the median over repeats and the speed-up over the literal form
measured in the same run and memory format. Before timing, the folded and literal outputs are
compared (training mode, largest difference relative to max(1, |output|)).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import timing  # noqa: E402
from benchmarks.timing import add_timing_arguments, apply_timing_arguments, interleaved, load_average  # noqa: E402
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


def output_difference(folded: torch.nn.Module, literal: torch.nn.Module, x: torch.Tensor) -> float:
    """Largest difference of ``(mu, logvar)`` in training mode, relative to max(1, |output|)."""
    with torch.no_grad():
        a, b = copy.deepcopy(folded).train()(x), copy.deepcopy(literal).train()(x)
    return max((u - v).abs().max().item() / max(1.0, v.abs().max().item()) for u, v in zip(a, b, strict=True))


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
    print(f"max output difference folded vs literal: {output_difference(folded, literal, x):.1e}\n")
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
    p.add_argument("--size", type=int, default=256, help="input side in pixels (default 256, the paper's)")
    p.add_argument("--batch", type=int, default=2, help="images per step (default 2)")
    add_timing_arguments(p, iters=2)
    p.add_argument("--amp", action="store_true", help="bf16 autocast")
    p.add_argument("--channels-last", action="store_true", help="also measure every variant in channels_last")
    p.add_argument("--profile", action="store_true",
                   help="profile one folded step: its share of CPU time in convolutions and the ceiling it leaves")
    p.add_argument("--skip-train", action="store_true")
    p.add_argument("--skip-inference", action="store_true")
    args = p.parse_args(argv)
    device, setup = apply_timing_arguments(args)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    print(f"CDCN_u, {args.size}x{args.size}, batch {args.batch}, amp {'bf16' if args.amp else 'off'}: {setup}\n")
    train, infer = build_variants(args, device)
    for title, fns in (("Training step (forward + DUM loss + backward + Adam)", train),
                       ("Inference (forward, eval mode)", infer)):
        if fns:
            before = load_average()
            times = interleaved(fns, args.iters, args.repeats, args.warmup, device)
            print("\n".join(table(title, times, args.batch)))
            print(f"load average (1/5/15 min): {before} -> {load_average()}\n")
            if args.profile:
                print(ceiling_line(times, fns) + "\n")
    return 0


def ceiling_line(times: dict[tuple[str, str], list[float]], fns: dict[tuple[str, str], Callable[[], None]]) -> str:
    """The folded step's share of CPU time in convolutions (one profiled call) and the speed-up over
    the literal form that the folded step's convolutions alone would reach."""
    key = ("folded", "NCHW")
    share, ceiling = timing.convolution_ceiling(fns[key], times[("literal", "NCHW")], times[key])
    return (f"folded, NCHW: {100 * share:.0f}% of the step's CPU time is convolution (torch.profiler); "
            f"with everything else free it would be at most {ceiling:.2f}x the literal form")


if __name__ == "__main__":
    sys.exit(main())
