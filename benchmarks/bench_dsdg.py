"""DSDG speed: generator training images/s and generation images/s (CPU, or GPU when there is one).

    python benchmarks/bench_dsdg.py [--device cpu] [--threads 2] [--batch-size 2] [--steps 3] [--json OUT]

* training: full steps (forward, every loss, backward, Adam) of the real 256x256 networks on
  random pairs, without and with the LightCNN identity network (random weights: the speed is
  the same as with the released ones); a pair is two images (spoof + live);
* generation: decoder only (``cat(z_type, z_id, z_id)`` -> pair), and end to end through
  :func:`dsdg.generate.generate` (decode, MTCNN on every image, template depth, frames / depth /
  crop-cache files), with and without detection.

Figures are medians over the timed repetitions after one warm-up; on a machine shared with
other jobs they vary with the load.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from dsdg import generate as G  # noqa: E402
from dsdg import train as T  # noqa: E402
from dsdg.lightcnn import LightCNN29v2, freeze  # noqa: E402
from dsdg.model import DSDG  # noqa: E402
from fas_core.config import load_config  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_training(device: torch.device, batch: int, steps: int, identity: bool) -> dict[str, float]:
    cfg = load_config(T.DEFAULTS, None, ["identity_net.enabled=false", "loss.warmup_steps=0"])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        task = T.DSDGTask(cfg)
    if identity:
        task.ip_net = freeze(LightCNN29v2()).to(device)
    torch.manual_seed(0)
    model = DSDG().to(device)
    opt, _ = task.build_optimizer(model)
    data = {"spoof": torch.rand(batch, 3, 256, 256, device=device),
            "live": torch.rand(batch, 3, 256, 256, device=device),
            "type": torch.randint(0, 4, (batch,), device=device)}
    times, cpu = [], []
    for i in range(steps + 1):
        _sync(device)
        t, c = time.perf_counter(), time.process_time()
        loss, _ = task.training_step(model, data, i)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        _sync(device)
        if i:  # the first step warms up (allocations, kernel choice)
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
    sec = statistics.median(times)
    # CPU seconds (all threads) per step: what the step costs, less sensitive to other jobs than wall time
    return {"seconds_per_step": round(sec, 3), "cpu_seconds_per_step": round(statistics.median(cpu), 3),
            "pairs_per_s": round(batch / sec, 3), "images_per_s": round(2 * batch / sec, 3)}


def bench_decoder(device: torch.device, batch: int, reps: int) -> dict[str, float]:
    torch.manual_seed(0)
    model = DSDG().to(device).eval()
    times, cpu = [], []
    for i in range(reps + 1):
        z = G.group_noise(0, i, batch, model.hdim).to(device)
        _sync(device)
        t, c = time.perf_counter(), time.process_time()
        with torch.no_grad():
            G.to_uint8(model.decoder(z))
        _sync(device)
        if i:
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
    sec = statistics.median(times)
    return {"batch": batch, "images_per_s": round(2 * batch / sec, 2),
            "cpu_seconds_per_image": round(statistics.median(cpu) / (2 * batch), 4)}


def bench_generate(device: torch.device, pairs: int, detect: bool) -> dict[str, Any]:
    torch.manual_seed(0)
    model = DSDG().to(device).eval()
    finder = G.FaceFinder(detect=detect, geometry=None, device="cuda" if device.type == "cuda" else "cpu")
    with tempfile.TemporaryDirectory() as tmp:
        G.generate(model, Path(tmp) / "warm", 2, 2, finder=finder, grid_pairs=2)
        t = time.perf_counter()
        result = G.generate(model, Path(tmp) / "out", pairs, 10, batch_size=16, finder=finder, grid_pairs=4)
        sec = time.perf_counter() - t
    return {"pairs": pairs, "detect": detect, "images_per_s": round(2 * pairs / sec, 2), "seconds": result["seconds"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", help="cpu | cuda")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--batch-size", type=int, default=2, help="pairs per training step")
    p.add_argument("--steps", type=int, default=3, help="timed training steps (after one warm-up)")
    p.add_argument("--decode-batch", type=int, default=16, help="pairs per decoder call")
    p.add_argument("--pairs", type=int, default=32, help="pairs for the end-to-end generation timing")
    p.add_argument("--json", default=None, help="write the figures to this JSON file")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    res: dict[str, Any] = {"device": str(device), "threads": torch.get_num_threads(), "torch": torch.__version__}
    if device.type == "cuda":
        res["gpu"] = torch.cuda.get_device_name(device)
    res["train_no_identity"] = bench_training(device, args.batch_size, args.steps, identity=False)
    res["train_identity"] = bench_training(device, args.batch_size, args.steps, identity=True)
    res["decode"] = bench_decoder(device, args.decode_batch, 3)
    res["generate_no_detect"] = bench_generate(device, args.pairs, detect=False)
    res["generate_detect"] = bench_generate(device, args.pairs, detect=True)
    print(f"DSDG on {res.get('gpu', 'CPU')} ({res['threads']} threads), images 256x256, a pair = 2 images")
    for key, what in (("train_no_identity", "no identity net "), ("train_identity", "LightCNN losses  ")):
        r = res[key]
        print(f"  training, batch {args.batch_size} pairs, {what}: {r['images_per_s']:.2f} images/s "
              f"({r['seconds_per_step']} s/step, {r['cpu_seconds_per_step']} CPU-s/step)")
    print(f"  generation, decoder only (batch {args.decode_batch})      : {res['decode']['images_per_s']:.2f} images/s "
          f"({res['decode']['cpu_seconds_per_image']} CPU-s/image)")
    print(f"  generation, end to end, no detection      : {res['generate_no_detect']['images_per_s']:.2f} images/s")
    print(f"  generation, end to end, MTCNN + depth     : {res['generate_detect']['images_per_s']:.2f} images/s")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
