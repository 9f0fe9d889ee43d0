"""Timing shared by the benchmarks: warm-up, interleaved repeats, medians, device synchronisation.

Variants compared in one benchmark run interleaved: every repeat times each variant once, the
order rotating from repeat to repeat, so background load and thermal drift hit them alike.
Figures are medians over the repeats; a speed-up is the ratio of two medians from the same run.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping

import torch
from torch.profiler import ProfilerActivity, profile


def sync(device: torch.device) -> None:
    """Wait for queued GPU work (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seconds_per_call(fn: Callable[[], object], iters: int, device: torch.device) -> float:
    """Wall-clock seconds per call of ``fn``, averaged over ``iters`` back-to-back calls."""
    if iters < 1:
        raise ValueError(f"iters must be at least 1, got {iters}")
    sync(device)
    start = time.perf_counter()
    for _ in range(iters):
        fn()
    sync(device)
    return (time.perf_counter() - start) / iters


def rotated(names: list[str], shift: int) -> list[str]:
    """``names`` rotated left by ``shift`` (the order of one interleaved repeat)."""
    k = shift % len(names)
    return names[k:] + names[:k]


def interleaved(fns: Mapping[str, Callable[[], object]], iters: int = 1, repeats: int = 3, warmup: int = 1,
                device: torch.device | None = None) -> dict[str, list[float]]:
    """Seconds per call of every variant, one figure per repeat: ``{name: [s, s, ...]}``.

    Each variant first runs ``warmup`` untimed calls (allocations, oneDNN kernel selection).
    """
    device = device or torch.device("cpu")
    if iters < 1 or repeats < 1 or warmup < 0:
        raise ValueError(f"iters and repeats must be >= 1 and warmup >= 0, got {iters}, {repeats}, {warmup}")
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    sync(device)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for r in range(repeats):
        for name in rotated(list(fns), r):
            times[name].append(seconds_per_call(fns[name], iters, device))
    return times


CONVOLUTION_MARKERS = ("convolution", "conv2d", "conv_depthwise")  # aten op names, forward and backward


def convolution_share(fn: Callable[[], object]) -> float:
    """Fraction of one call's CPU time (op self times, torch.profiler) spent in convolutions.

    Forward and backward kernels alike (``aten::mkldnn_convolution``, ``aten::convolution_backward``,
    the slow and depthwise fallbacks). ``1 / share`` bounds what any change that leaves the
    convolutions as they are can gain: the step could at best shrink to its convolution time.
    """
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    conv = sum(e.self_cpu_time_total for e in events if any(m in e.key for m in CONVOLUTION_MARKERS))
    return conv / total if total else 0.0


def convolution_ceiling(fast: Callable[[], object], literal_times: list[float],
                        fast_times: list[float]) -> tuple[float, float]:
    """``(share, ceiling)``: the fast step's :func:`convolution_share` and the speed-up over the literal form
    that a fast step made of its convolutions alone would reach (median times; ``inf`` without convolutions)."""
    share = convolution_share(fast)
    ceiling = median(literal_times) / (median(fast_times) * share) if share else float("inf")
    return share, ceiling


def median(values: list[float]) -> float:
    return statistics.median(values)


def speedup(times: Mapping[str, list[float]], name: str, reference: str) -> float:
    """How many times faster ``name`` ran than ``reference`` (ratio of the median times)."""
    return median(times[reference]) / median(times[name])


def load_average() -> str:
    """The 1-, 5- and 15-minute load averages as text (shared machines: note them with each figure)."""
    if not hasattr(os, "getloadavg"):
        return "n/a"
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def set_threads(threads: int) -> None:
    """Use ``threads`` torch CPU threads (0 keeps torch's default)."""
    if threads < 0:
        raise ValueError(f"--threads must be >= 0, got {threads}")
    if threads:
        torch.set_num_threads(threads)


# glibc mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3


def retain_freed_memory(limit_bytes: int = 1 << 30) -> bool:
    """Let glibc keep freed blocks up to ``limit_bytes`` for reuse instead of returning them to the OS.

    By default glibc maps every block above 32 MiB (one 128-channel 256x256 float map is 33.5 MB)
    freshly and unmaps it when freed, so each such tensor pays a page fault per 4 KiB page when
    first written; on these virtual machines that costs more than the arithmetic. Raising the
    mmap and trim thresholds makes later tensors reuse the heap (what jemalloc or tcmalloc would
    do). Process-wide; returns False where glibc's ``mallopt`` is not available.
    """
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    if libc is None or not hasattr(libc, "mallopt"):
        return False
    trim = min(2 * limit_bytes, 2**31 - 1)  # both are C ints
    return bool(libc.mallopt(M_MMAP_THRESHOLD, limit_bytes)) and bool(libc.mallopt(M_TRIM_THRESHOLD, trim))


def add_timing_arguments(parser: argparse.ArgumentParser, iters: int = 1) -> None:
    """The options every benchmark shares: device, repeats, warm-up, threads, allocator."""
    parser.add_argument("--device", default="cpu", help="cpu | cuda (default cpu)")
    parser.add_argument("--iters", type=int, default=iters,
                        help=f"timed calls per variant and repeat (default {iters})")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats; medians are reported (default 3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed calls per variant first (default 1)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--retain-memory", action="store_true",
                        help="let glibc reuse freed large blocks, for every variant (see retain_freed_memory)")


def apply_timing_arguments(args: argparse.Namespace) -> tuple[torch.device, str]:
    """Set threads and the allocator from :func:`add_timing_arguments`' options; ``(device, header line)``."""
    set_threads(args.threads)
    retained = args.retain_memory and retain_freed_memory()
    device = torch.device(args.device)
    memory = "retained" if retained else "returned to the OS (glibc default)"
    return device, (f"{describe(device)}; median of {args.repeats} interleaved repeats x {args.iters} call(s) "
                    f"after {args.warmup} warm-up; freed memory {memory}")


def describe(device: torch.device) -> str:
    """One line naming the hardware, the thread count and the torch version."""
    if device.type == "cuda":
        hw = torch.cuda.get_device_name(device)
    else:
        hw = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    return f"device {device} ({hw}), {torch.get_num_threads()} CPU threads, torch {torch.__version__}"
