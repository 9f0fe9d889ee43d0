"""What the parts of benchmarks/gpu_check.py share: sizes per profile, the methods, the time budget, the report.

Two profiles: ``gpu`` (the papers' input sizes on one CUDA GPU) and ``dry-run`` (the same code on
the CPU at tiny sizes, to prove the script before it meets a GPU). The report is one markdown
file (and the same rows as JSON), rewritten after every row, so a run stopped at any point
leaves every figure measured so far.

The time budget (``--budget``, else ``$GPU_CHECK_BUDGET_S``, else 300 s) counts from the start
of gpu_check.sh (``$GPU_CHECK_T0``) and is shared out by :data:`PHASES`: each part ends by its
share of the budget, so a slow part cannot take the time of the ones after it.
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "benchmarks"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from gpu_check_tree import TreeShape  # noqa: E402

from fas_core import fileio  # noqa: E402

DEFAULTS_ONLY = ROOT / "tests" / "defaults_only.yaml"  # an experiment file that keeps a method's DEFAULTS
T0 = float(os.environ.get("GPU_CHECK_T0") or time.time())  # the shell script's start: the budget counts from it
DEFAULT_BUDGET_S = float(os.environ.get("GPU_CHECK_BUDGET_S") or 300.0)
# Each part's end, as a fraction of the budget (a part starts as soon as the one before it ends).
PHASES = {"setup": 0.2, "end to end": 0.6, "speed": 0.83, "loader": 0.88, "predict": 0.93, "compile": 0.98}


def log(message: str) -> None:
    """A progress line with the wall-clock time and the seconds since the start, flushed at once."""
    print(f"[gpu_check {time.strftime('%H:%M:%S')} +{time.time() - T0:6.1f}s] {message}", flush=True)


@dataclass(frozen=True)
class Profile:
    """Sizes and counts of one kind of run."""

    name: str
    device: str  # cuda | cpu
    size: int  # input side of the depth networks (DSDG's 256 is fixed by its decoder)
    tree: TreeShape
    e2e_steps: int  # optimiser steps of each end-to-end training run
    e2e_batch: int
    dsdg_batch: int  # pairs per step of DSDG's end-to-end run
    run_cap_s: float  # the longest one command-line run may take
    speed_row_s: float  # what one speed row may take: a row is skipped when less is left of its phase
    speed_batch: dict[str, int]  # per method: the batch of the timed training steps
    warmup: int  # untimed steps before the timed ones (the first one also compiles)
    timed: int
    dsdg_hdim: int
    loader_batches: int  # per worker (the rate is taken after the first wave of batches)
    predict_repeats: int
    compile_backend: str  # dry-run: "eager", TorchDynamo's graph capture alone (the shortest proof of the path)
    workers: int  # processes of the crop stage (the end-to-end runs load in their main process)
    e2e_precision: bool  # end-to-end runs in their MethodSpec.precision (a CPU emulates bf16 / fp16 slowly)
    default_variants: tuple[str, ...]


PROFILES = {
    # Batches per GPU of the original configs: DUM 64, CDCN++ 7, FAS-SGTD 42 (6 x 7 GPUs) and 2 clips,
    # DSDG 60 pairs (240 over 4 GPUs).
    "gpu": Profile("gpu", "cuda", 256, TreeShape((360, 480), (160, 85, 160, 190), 8), e2e_steps=3, e2e_batch=4,
                   dsdg_batch=4, run_cap_s=120, speed_row_s=8,
                   speed_batch={"cdcn_u": 64, "cdcnpp": 7, "sgtd_single": 42, "sgtd_multi": 2, "dsdg": 60},
                   warmup=2, timed=6, dsdg_hdim=128, loader_batches=4, predict_repeats=7,
                   compile_backend="inductor", workers=4, e2e_precision=True,
                   default_variants=("fp32", "bf16", "bf16_cl", "compile")),
    "dry-run": Profile("dry-run", "cpu", 32, TreeShape((96, 128), (40, 20, 48, 56), 6), e2e_steps=2, e2e_batch=2,
                       dsdg_batch=1, run_cap_s=900, speed_row_s=20,
                       speed_batch={"cdcn_u": 2, "cdcnpp": 2, "sgtd_single": 2, "sgtd_multi": 1, "dsdg": 1},
                       warmup=1, timed=2, dsdg_hdim=8, loader_batches=3, predict_repeats=1,
                       compile_backend="eager", workers=1, e2e_precision=False,
                       default_variants=("fp32", "compile")),
}


@dataclass(frozen=True)
class MethodSpec:
    """One method of the check: its CLI modules, training task and the figures' unit."""

    key: str
    label: str
    train: str  # module of the training CLI
    test: str | None  # module of the test CLI (None: not a liveness scorer)
    task: str  # "module:Class" of its training task
    unit: str  # what the training speed counts
    keys: tuple[str, ...] = ()  # key=value choosing the network (one task trains several)
    precision: tuple[str, ...] = ()  # key=value of its end-to-end run on the GPU: every path runs once


METHODS = {
    "cdcn_u": MethodSpec("cdcn_u", "CDCN_u (DUM)", "dum.train", "dum.test", "dum.train:DumTask", "images",
                         ("model.name=cdcn_u",)),
    "cdcnpp": MethodSpec("cdcnpp", "CDCN++", "dum.train", "dum.test", "dum.train:DumTask", "images",
                         ("model.name=cdcnpp",), ("train.amp=fp16",)),
    "sgtd_single": MethodSpec("sgtd_single", "FAS-SGTD single-frame", "fas_sgtd_single_frame.train",
                              "fas_sgtd_single_frame.test", "fas_sgtd_single_frame.train:SingleFrameTask", "images"),
    "sgtd_multi": MethodSpec("sgtd_multi", "FAS-SGTD multi-frame", "fas_sgtd_multi_frame.train",
                             "fas_sgtd_multi_frame.test", "fas_sgtd_multi_frame.train:MultiFrameTask", "clips",
                             (), ("train.amp=bf16", "train.channels_last=true")),
    "dsdg": MethodSpec("dsdg", "DSDG + LightCNN losses", "dsdg.train", None, "dsdg.train:DSDGTask", "pairs"),
}
VARIANTS = {  # name -> (train.amp, train.channels_last, compiled)
    "fp32": ("off", False, False),
    "bf16": ("bf16", False, False),
    "bf16_cl": ("bf16", True, False),
    "compile": ("bf16", True, True),
}
VARIANT_TEXT = {"fp32": "fp32", "bf16": "bf16 autocast", "bf16_cl": "bf16 + channels_last",
                "compile": "bf16 + channels_last + torch.compile"}


@dataclass
class Context:
    """Where this run writes, what it measures and how long it may take."""

    profile: Profile
    out: Path  # the report and the logs (small: what comes back from a remote machine)
    work: Path  # the tree, the runs and their checkpoints (hundreds of MB)
    methods: tuple[str, ...]
    variants: tuple[str, ...]
    in_process: bool = False  # CLIs called in this process (tests) instead of `python -m` processes
    budget_s: float = DEFAULT_BUDGET_S

    @property
    def tree(self) -> Path:
        return self.work / "tree"

    def run_dir(self, name: str) -> Path:
        return self.work / "runs" / name

    def log_file(self, name: str) -> Path:
        return self.out / "logs" / name

    @property
    def lightcnn(self) -> Path:
        return self.work / "lightcnn_random.pth.tar"

    @property
    def single_random(self) -> Path:
        """A single-frame checkpoint with random weights (the multi-frame speed runs start from it)."""
        return self.work / "sgtd_single_random.pt"

    def remaining(self, phase: str | None = None) -> float:
        """Seconds left of the budget, or of ``phase``'s share of it (:data:`PHASES`)."""
        end = self.budget_s * (PHASES[phase] if phase else 1.0)
        return end - (time.time() - T0)

    def timeout(self, cap: float, phase: str) -> float:
        """Seconds a run may take: at most ``cap``, and never past the end of ``phase``."""
        return max(0.0, min(cap, self.remaining(phase)))


@dataclass
class Report:
    """The check's rows by section, written as markdown and JSON after every change."""

    out: Path
    header: list[str] = field(default_factory=list)
    sections: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)  # rows come from several threads

    def add(self, section: str, row: dict[str, Any]) -> None:
        with self.lock:
            self.sections.setdefault(section, []).append(row)
            self.write()

    def note(self, section: str, text: str) -> None:
        with self.lock:
            self.notes.setdefault(section, []).append(text)
            self.write()

    def failures(self) -> list[str]:
        return [f"{s}: {r.get('what', '')}" for s, rows in self.sections.items() for r in rows
                if str(r.get("result", "ok")).startswith("FAIL")]

    def markdown(self) -> str:
        lines = ["# GPU check", "", *self.header, ""]
        for section, rows in self.sections.items():
            named = list(dict.fromkeys(k for r in rows for k in r))
            columns = [k for k in named if k != "result"] + (["result"] if "result" in named else [])  # result last
            lines += [f"## {section}", "", "| " + " | ".join(columns) + " |",
                      "|" + "|".join("---" for _ in columns) + "|"]
            lines += ["| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |" for r in rows]
            lines += ["", *self.notes.get(section, []), ""]
        failed = self.failures()
        lines.append(f"Result: {len(failed)} failed check(s)" + (": " + "; ".join(failed) if failed else "") + ".")
        return "\n".join(lines) + "\n"

    def write(self) -> None:
        fileio.atomic_write_text(self.out / "gpu_check.md", self.markdown())
        fileio.atomic_write_text(self.out / "gpu_check.json", json.dumps(
            {"header": self.header, "sections": self.sections, "notes": self.notes}, indent=1, default=str))


def cell(value: Any) -> str:
    """A table cell: numbers rounded to what the measurement supports, text without pipes."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return str(value).replace("|", "/").replace("\n", " ")


def failure(e: BaseException) -> str:
    """A failed row's result: the exception's type and the first line of its message (at most 300 characters)."""
    return f"FAIL: {type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"


def tail(path: Path, lines: int = 3) -> str:
    """The last lines of a log file, for a failure's note."""
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return f"(no log at {path})"
    return " / ".join(line.strip() for line in text[-lines:])[-400:]
