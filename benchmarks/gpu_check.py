"""One prepared check of the GPU path: every method trained and tested on CUDA, and its speed.

    bash benchmarks/gpu_check.sh [--out DIR] [--budget SECONDS]      # one CUDA GPU, 300 s
    bash benchmarks/gpu_check.sh --dry-run                             # the same code on the CPU, tiny sizes

The parts, in this order, each ending by its share of the time budget (``--budget``, else
``$GPU_CHECK_BUDGET_S``, else 300 s, counted from the start of gpu_check.sh; shares in
benchmarks/gpu_check_common.py's ``PHASES``). What would not fit is reported as skipped, and the
table is rewritten after every row, so a run stopped at any point leaves what it measured:

1. a synthetic preprocessed tree at full resolution (benchmarks/gpu_check_tree.py), its crop
   cache made by ``python -m data.crop``, a randomly initialised LightCNN-29 v2 standing in for
   the released one (DSDG's identity losses run, their values mean nothing);
2. side by side: end to end, through the project's entry points, ``python -m <method>.train ...
   train.device=cuda`` then ``python -m <method>.test`` on the checkpoint it wrote, for CDCN_u,
   CDCN++ (fp16 with the gradient scaler), FAS-SGTD single and multi (bf16, channels_last; 5-frame
   clips) and DSDG with the LightCNN losses (then ``python -m dsdg.generate``); DDP:
   ``torchrun --standalone --nproc_per_node=1`` (an NCCL process group of one); and, in a
   process of its own, CDCN_u compiled with ``torch.compile`` (bf16 + channels_last) up to its
   timed steps, which wait for step 6;
3. training speed per method in fp32, bf16 autocast, bf16 + channels_last, with peak GPU memory;
4. DUM's crop-cache loader with the paper config's workers, against CDCN_u's training speed;
5. predict latency per image on the GPU (MTCNN and the network apart);
6. the compiled CDCN_u's timed steps (alone on the GPU), then the loader's verdict against every
   CDCN_u variant measured.

The table goes to stdout and to ``<out>/gpu_check.md`` (rows also in ``gpu_check.json``), ``<out>``
being ``--out``, else ``$OUT``, else ``work_dirs/gpu_check``; the log of every run is in
``<out>/logs``. The tree, runs and checkpoints go to ``--work`` (default ``<out>/work``; with
``$OUT``, a temporary folder removed at the end, so that only the report and logs come back from
a remote machine). The exit status is 1 when a check failed.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gpu_check_common as common
import gpu_check_runs as runs
import gpu_check_speed as speed
import torch
from gpu_check_common import DEFAULT_BUDGET_S, METHODS, PROFILES, ROOT, Context, Report, log, tail
from gpu_check_tree import make_tree

from fas_core import fileio

SETUP = "Set-up"
COMPILE_WORKER = Path(__file__).resolve().parent / "gpu_check_speed.py"
COMPILED = ("cdcn_u",)  # torch.compile takes about a minute per network on a cold machine: one fits the budget


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--out", default=None, help="output folder (default: $OUT, else work_dirs/gpu_check)")
    p.add_argument("--work", default=None,
                   help="folder of the tree and the runs (default: <out>/work; with $OUT: a temporary folder)")
    p.add_argument("--dry-run", action="store_true", help="on the CPU at tiny sizes (proves the script)")
    p.add_argument("--budget", type=float, default=DEFAULT_BUDGET_S,
                   help="seconds for the whole check, from the start of gpu_check.sh (default: $GPU_CHECK_BUDGET_S, "
                        "else 300)")
    p.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of: " + ", ".join(METHODS))
    p.add_argument("--variants", default=None,
                   help="comma-separated subset of: " + ", ".join(common.VARIANTS) + " (default: all; --dry-run: fp32, "
                        "compile, as the CPU emulates bf16 slowly)")
    p.add_argument("--in-process", action="store_true",
                   help="call the CLIs' main() in this process instead of starting `python -m` (tests)")
    args = p.parse_args(argv)
    if args.variants is None:
        args.variants = ",".join(PROFILES["dry-run" if args.dry_run else "gpu"].default_variants)
    for name, known in (("methods", METHODS), ("variants", common.VARIANTS)):
        unknown = [v for v in getattr(args, name).split(",") if v not in known]
        if unknown:
            p.error(f"--{name}: unknown {', '.join(unknown)} (known: {', '.join(known)})")
    return args


def output_folder(arg: str | None) -> Path:
    return Path(arg or os.environ.get("OUT") or ROOT / "work_dirs" / "gpu_check").resolve()


def work_folder(arg: str | None, out_arg: str | None) -> tuple[Path, bool]:
    """``(folder, made here)`` for the tree and the runs: ``--work``, else ``<out>/work``; when the output
    folder is ``$OUT`` (a folder copied back from a remote machine), a temporary folder removed at the end."""
    if arg:
        return Path(arg).resolve(), False
    if out_arg is None and os.environ.get("OUT"):
        return Path(tempfile.mkdtemp(prefix="gpu_check_work_")), True
    return output_folder(out_arg) / "work", False


def environment(ctx: Context) -> list[str]:
    """The header: hardware, versions, the profile and what stands in for what."""
    device = torch.device(ctx.profile.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or "CPU")
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    try:
        import facenet_pytorch

        mtcnn = f"facenet-pytorch from {Path(facenet_pytorch.__file__).parent.parent}"
    except ImportError as e:
        mtcnn = f"facenet-pytorch NOT importable ({e}): predict and DSDG's detection fail"
    return [f"- Device: {device} ({name}), {os.cpu_count()} CPU cores; profile `{ctx.profile.name}`, "
            f"budget {ctx.budget_s:.0f} s",
            f"- Python {platform.python_version()} ({sys.executable}), torch {torch.__version__}, CUDA "
            f"{torch.version.cuda}, cuDNN {cudnn}; {mtcnn}",
            "- LightCNN-29 v2: a randomly initialised network stands in for the released checkpoint (DSDG's "
            "identity and pair losses run at full cost; their values mean nothing).",
            f"- Data: a synthetic tree ({ctx.profile.tree.frame_hw[1]}x{ctx.profile.tree.frame_hw[0]} frames, "
            f"{ctx.profile.tree.frames} per video, 35 videos, OULU-NPU protocol 1 names) written by "
            "benchmarks/gpu_check_tree.py; crop cache at 256 px by `python -m data.crop`."]


def prepare(ctx: Context, report: Report) -> bool:
    """The tree, its crop cache and the random stand-in checkpoints (nothing else runs without them)."""
    if ctx.remaining("setup") < 10:
        report.add(SETUP, {"what": "tree", "result": "skipped (time budget): nothing else ran"})
        return False
    log(f"tree: writing {ctx.tree}")
    if ctx.tree.exists():
        shutil.rmtree(ctx.tree)
    counts = make_tree(ctx.tree, ctx.profile.tree)
    crops = ["--frames", str(ctx.tree / "frames"), "--depth", str(ctx.tree / "depth"), "--out",
             str(ctx.tree / "crops"), "--workers", str(ctx.profile.workers)]
    log("tree: python -m data.crop (256 px crop cache)")
    log_path = ctx.log_file("data.crop.log")
    rc, seconds = runs.run_module(ctx, "data.crop", crops, log_path, ctx.timeout(120, "setup"))
    ok = rc == 0 and (ctx.tree / "crops" / "summary.json").is_file()
    if ok:
        speed.write_random_checkpoints(ctx)
    report.add(SETUP, {"what": "tree", "videos": sum(counts.values()), "crop stage s": seconds,
                       "result": "ok" if ok else f"FAIL: data.crop exit {rc}: {tail(log_path)}"})
    return ok


def eager_speed(ctx: Context, report: Report) -> dict[str, float]:
    """The eager variants of every method; CDCN_u's rates by variant (for the loader's verdict)."""
    cdcn_u: dict[str, float] = {}
    for key in ctx.methods:
        for variant in (v for v in ctx.variants if v != "compile"):
            if ctx.remaining("speed") < ctx.profile.speed_row_s:
                report.add(speed.SPEED, {"what": f"{key} {variant}", "method": METHODS[key].label,
                                         "variant": common.VARIANT_TEXT[variant], "result": "skipped (time budget)"})
                continue
            log(f"speed: {key} {variant}, batch {ctx.profile.speed_batch[key]}")
            row = speed.guarded_step(ctx, METHODS[key], variant)
            report.add(speed.SPEED, row)
            if key == "cdcn_u" and row.get("result") == "ok":
                cdcn_u[variant] = float(row["per s"])
    return cdcn_u


def compile_args(ctx: Context) -> list[str]:
    return ["--profile", ctx.profile.name, "--out", str(ctx.out), "--work", str(ctx.work), "--methods",
            ",".join(compiled_methods(ctx)), "--json", str(ctx.out / "compile_rows.json"), "--go",
            str(ctx.work / "compile.go"), "--wait-s", f"{ctx.budget_s:.0f}"]


def compiled_methods(ctx: Context) -> list[str]:
    return [k for k in ctx.methods if k in COMPILED] if "compile" in ctx.variants else []


def start_compile(ctx: Context) -> subprocess.Popen | None:
    """The compiling process, started now so that its compilation overlaps the end-to-end runs (not in-process)."""
    if ctx.in_process or not compiled_methods(ctx):
        return None
    (ctx.out / "compile_rows.json").unlink(missing_ok=True)
    (ctx.work / "compile.go").unlink(missing_ok=True)
    command = [sys.executable, str(COMPILE_WORKER), *compile_args(ctx)]
    log(f"compile: {', '.join(compiled_methods(ctx))} in a process of its own (logs/compile.log)")
    ctx.log_file("compile.log").parent.mkdir(parents=True, exist_ok=True)
    with open(ctx.log_file("compile.log"), "w") as out:
        out.write("$ " + " ".join(command) + "\n")
        out.flush()
        return subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ))


def finish_compile(ctx: Context, process: subprocess.Popen | None) -> int:
    """The go-ahead for the compiled variant's timed steps, then its wait (stopped at the budget); its exit code."""
    if not compiled_methods(ctx):
        return 0
    fileio.atomic_write_text(ctx.work / "compile.go", "go\n")
    if process is None:  # in-process: only when its share of the budget is left
        return speed.compile_worker(compile_args(ctx)) if ctx.remaining("compile") > ctx.profile.speed_row_s else 0
    timeout = ctx.timeout(600, "compile")
    log(f"compile: timed steps, waiting at most {timeout:.0f} s")
    try:
        return process.wait(timeout=max(timeout, 1.0))
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return 124


def compiler_hint() -> str:
    """What Triton (torch.compile's GPU backend) lacks on this machine, if anything: it builds its kernel
    launcher with a C compiler against Python's headers."""
    if not any(c and shutil.which(c) for c in (os.environ.get("CC"), "cc", "gcc", "clang")):
        return " (this machine has no C compiler on PATH, which Triton needs)"
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").is_file():
        return " (this Python has no Python.h, which Triton needs)"
    return ""


def compiled_speed(ctx: Context, report: Report, process: subprocess.Popen | None, cdcn_u: dict[str, float]) -> None:
    """The compiled variant's rows (CDCN_u's rate joins ``cdcn_u``), a row per method that has none."""
    if not compiled_methods(ctx):
        return
    rc = finish_compile(ctx, process)
    results = ctx.out / "compile_rows.json"
    rows = fileio.read_json(results) if results.is_file() else []
    for row in rows:
        if str(row.get("result", "")).startswith("FAIL"):
            row["result"] += compiler_hint()
        report.add(speed.SPEED, row)
        if row["what"] == "cdcn_u compile" and row.get("result") == "ok":
            cdcn_u["compile"] = float(row["per s"])
    done = {r["what"].split()[0] for r in rows}
    for i, key in enumerate(k for k in compiled_methods(ctx) if k not in done):
        result = "skipped (time budget)"
        if i == 0 and rc == 124:
            result = "stopped by the time budget while compiling"
        elif i == 0 and rc != 0:
            result = (f"FAIL: the compiling process exited with {rc}{compiler_hint()}: "
                      f"{tail(ctx.log_file('compile.log'))}")
        report.add(speed.SPEED, {"what": f"{key} compile", "method": METHODS[key].label,
                                 "variant": common.VARIANT_TEXT["compile"], "result": result})
    report.note(speed.SPEED, f"Compiled with torch.compile(backend={ctx.profile.compile_backend!r}), "
                             f"{', '.join(METHODS[k].label for k in compiled_methods(ctx))} only (the budget); "
                             "compiled while the end-to-end runs went, so its first step s is the compilation "
                             "on a busy machine; its timed steps ran alone. Log: logs/compile.log.")


def loader(ctx: Context, report: Report) -> list[dict[str, Any]]:
    """The loader's rows (its verdict is written at the end, against every CDCN_u variant measured)."""
    if "cdcn_u" not in ctx.methods or ctx.remaining("loader") < 5:
        return []
    try:
        rows = speed.measure_loader(ctx)
    except Exception as e:  # a failure of the loader is a finding, reported in its row
        report.add(speed.LOADER, {"what": "loader", "result": f"FAIL: {type(e).__name__}: {e}"})
        return []
    for row in rows:
        report.add(speed.LOADER, row)
    return rows


def add_notes(ctx: Context, report: Report) -> None:
    p = ctx.profile
    report.note(speed.SPEED, f"Per step: {p.warmup} untimed steps, then {p.timed} timed between CUDA "
                             "synchronisations; peak MiB: torch.cuda.max_memory_allocated from the run's start. "
                             "Multi-frame: 5-frame clips; DSDG: (spoof, live) pairs of 256 px images.")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    profile = PROFILES["dry-run" if args.dry_run else "gpu"]
    out = output_folder(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work, temporary = work_folder(args.work, args.out)
    ctx = Context(profile, out, work, tuple(args.methods.split(",")), tuple(args.variants.split(",")),
                  args.in_process, args.budget)
    try:
        return check(ctx)
    finally:
        if temporary:
            shutil.rmtree(work, ignore_errors=True)


def check(ctx: Context) -> int:
    """Every part in turn; the exit status (1 when a check failed)."""
    out, profile = ctx.out, ctx.profile
    report = Report(out)
    if profile.device == "cuda" and not torch.cuda.is_available():
        report.header = ["No CUDA device is visible to torch: nothing was checked (--dry-run runs on the CPU)."]
        report.add(SETUP, {"what": "cuda", "result": "FAIL: torch.cuda.is_available() is false"})
        print(report.markdown())
        return 1
    report.header = environment(ctx)
    report.write()
    log(f"writing {out / 'gpu_check.md'}")
    add_notes(ctx, report)
    if prepare(ctx, report):
        compiling = start_compile(ctx)
        checkpoints = runs.end_to_end(ctx, report)
        cdcn_u = eager_speed(ctx, report)
        loader_rows = loader(ctx, report)
        if checkpoints and ctx.remaining("predict") > 5:
            for row in speed.measure_predict(ctx, checkpoints):
                report.add(speed.PREDICT, row)
        compiled_speed(ctx, report, compiling, cdcn_u)
        if loader_rows:
            report.note(speed.LOADER, speed.loader_verdict(loader_rows, cdcn_u))
    log("done")
    print(report.markdown(), flush=True)
    return 1 if report.failures() else 0


if __name__ == "__main__":
    raise SystemExit(main())
