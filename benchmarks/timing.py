"""Timing shared by the benchmarks: device synchronisation, seconds per call, medians, a hardware line.

GPU work is queued: a timer read without :func:`sync` measures how fast the work was queued,
not how fast it ran. Every figure here synchronises before the clock starts and before it stops.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable

import torch


def sync(device: torch.device) -> None:
    """Wait until the GPU has finished the queued work (nothing to wait for on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seconds_per_call(fn: Callable[[], object], iters: int, device: torch.device) -> float:
    """Wall-clock seconds per call of ``fn``, over ``iters`` calls in a row."""
    if iters < 1:
        raise ValueError(f"iters must be at least 1, got {iters}")
    sync(device)
    start = time.perf_counter()
    for _ in range(iters):
        fn()
    sync(device)
    return (time.perf_counter() - start) / iters


def median(values: list[float]) -> float:
    return statistics.median(values)


def describe(device: torch.device) -> str:
    """One line naming the hardware, the CPU thread count and the torch version."""
    if device.type == "cuda":
        hw = torch.cuda.get_device_name(device)
    else:
        hw = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    return f"device {device} ({hw}), {torch.get_num_threads()} CPU threads, torch {torch.__version__}"
