"""FAS-SGTD speed: training and inference throughput of both stages, as a markdown table.

    python benchmarks/bench_sgtd.py [--sizes 64 128] [--width 1.0] [--device cpu|cuda] [--threads N]

Single frame: images/s (a training step = forward, loss, backward, Adam step). Multi frame:
clips/s of 5 frames (a training step runs the frozen network without gradients, then the STPM
with its loss, backward and Adadelta). Random inputs; data loading is not included.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fas_core.config import AttrDict  # noqa: E402
from fas_sgtd_multi_frame.model import build_multi_frame  # noqa: E402
from fas_sgtd_multi_frame.train import DEFAULTS as MULTI  # noqa: E402
from fas_sgtd_multi_frame.train import multi_frame_loss  # noqa: E402
from fas_sgtd_single_frame.model import FaceMapNet  # noqa: E402


def timed(fn: Callable[[], None], iters: int, warmup: int, device: torch.device) -> float:
    """Seconds per call of ``fn`` (after ``warmup`` calls), synchronising the GPU."""
    for _ in range(warmup):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / iters


def throughput(model: torch.nn.Module, opt: torch.optim.Optimizer, loss: Callable[[], torch.Tensor],
               infer: Callable[[], object], batch: int, iters: int, warmup: int,
               device: torch.device) -> tuple[float, float]:
    """Samples/s of a training step (``loss()``, backward, ``opt`` step) and of ``infer()`` in eval mode."""

    def train_step() -> None:
        model.train()
        value = loss()
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()

    @torch.no_grad()
    def infer_step() -> None:
        model.eval()
        infer()

    return batch / timed(train_step, iters, warmup, device), batch / timed(infer_step, iters, warmup, device)


def bench_single(size: int, width: float, batch: int, device: torch.device, iters: int,
                 warmup: int) -> tuple[float, float]:
    net = FaceMapNet(width=width).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    x = torch.randn(batch, 3, size, size, device=device)
    target = torch.rand(batch, 1, size // 8, size // 8, device=device)

    def loss() -> torch.Tensor:
        return torch.nn.functional.mse_loss(net(x), target) + net.l2_penalty()

    return throughput(net, opt, loss, lambda: net(x), batch, iters, warmup, device)


def bench_multi(size: int, width: float, batch: int, device: torch.device, iters: int,
                warmup: int) -> tuple[float, float]:
    cfg = AttrDict(dict(MULTI["model"], width=width))
    model = build_multi_frame(cfg, size).to(device)
    opt = torch.optim.Adadelta(model.head.parameters(), lr=0.01, rho=0.95, eps=1e-8)
    clip = torch.randn(batch, 5, 3, size, size, device=device)
    batch_data = {"depth": torch.rand(batch, 5, 1, size // 8, size // 8, device=device),
                  "label": torch.tensor([1, 0] * batch, device=device)[:batch]}
    loss_cfg = AttrDict(MULTI["loss"])

    def loss() -> torch.Tensor:
        depth, feats = model.extract(clip)
        value, _ = multi_frame_loss(model.head(depth, feats), batch_data, loss_cfg)
        return value + model.head.l2_penalty(5e-4)

    return throughput(model, opt, loss, lambda: model(clip), batch, iters, warmup, device)


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128], help="input sizes (the paper: 256)")
    parser.add_argument("--width", type=float, default=1.0, help="channel multiplier (1.0: the paper)")
    parser.add_argument("--batch-single", type=int, default=8)
    parser.add_argument("--batch-multi", type=int, default=2)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    rows = ["| stage | input | width | batch | training | inference |", "|---|---|---|---|---|---|"]
    for size in args.sizes:
        tr, inf = bench_single(size, args.width, args.batch_single, device, args.iters, args.warmup)
        rows.append(f"| single frame | {size} | {args.width:g} | {args.batch_single} | {tr:.2f} img/s "
                    f"| {inf:.2f} img/s |")
        tr, inf = bench_multi(size, args.width, args.batch_multi, device, args.iters, args.warmup)
        rows.append(f"| multi frame (5-frame clips) | {size} | {args.width:g} | {args.batch_multi} | {tr:.2f} clips/s "
                    f"| {inf:.2f} clips/s |")
    table = f"FAS-SGTD throughput on {where} (torch {torch.__version__})\n\n" + "\n".join(rows)
    print(table)
    return table


if __name__ == "__main__":
    main()
