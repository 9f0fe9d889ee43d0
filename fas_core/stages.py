"""Runner shared by the preprocessing stages: parallel over videos, resumable, summarised.

A stage supplies ``process(video) -> VideoResult``. The runner

* skips videos whose output folder already holds the ``.done`` marker (resume),
* runs the rest in a process pool with a progress bar,
* never lets one bad video stop the stage: an exception is recorded as a failure of kind
  ``error`` with its message, and the stage goes on,
* writes ``summary.json`` into the stage's output root: counts of videos, frames, faces and
  failures by kind (with the names of the videos concerned).

``process`` must write its outputs atomically (see :mod:`fas_core.fileio`) and call
``fileio.mark_done(out_dir)`` last, so an interrupted video is simply redone on the next run.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from . import fileio


@dataclass
class VideoResult:
    """What one video contributed to a stage."""

    video: str
    frames: int = 0
    faces: int = 0
    skipped: bool = False  # already done by an earlier run
    failures: Counter = field(default_factory=Counter)  # kind -> count (e.g. no_face: 3)
    messages: list[str] = field(default_factory=list)  # human-readable details


def find_frame_videos(frames_root: str | Path) -> list[str]:
    """Names of the video folders under ``frames_root`` (sorted); a missing root is an error."""
    frames_root = Path(frames_root)
    if not frames_root.is_dir():
        raise FileNotFoundError(f"frames folder not found: {frames_root} (run data.extract_frames first)")
    return sorted(p.name for p in frames_root.iterdir() if p.is_dir() and not p.name.startswith("."))


def frames_or_failure(res: VideoResult, folder: Path) -> list[int]:
    """Frame numbers of the ``<video>_<NNN>_scene.jpg`` frames in ``folder``; none is counted as ``no_frames``."""
    indices = fileio.list_frame_indices(folder, res.video)
    if not indices:
        res.failures["no_frames"] += 1
        res.messages.append(f"{res.video}: no *_scene.jpg frames in {folder}")
    return indices


def remove_temp_files(folder: Path) -> None:
    """Temp files (``.<name>.*.tmp``, see :mod:`fas_core.fileio`) of writes an interrupted run never finished."""
    if folder.is_dir():
        for p in folder.iterdir():
            if p.name.startswith(".") and p.name.endswith(".tmp"):
                p.unlink(missing_ok=True)


def _safe_call(args: tuple[Callable[[str], VideoResult], str]) -> VideoResult:
    process, video = args
    try:
        return process(video)
    except Exception as e:  # one bad video must not stop the stage
        res = VideoResult(video=video)
        res.failures["error"] += 1
        res.messages.append(f"{video}: {type(e).__name__}: {e}")
        res.messages.append(traceback.format_exc(limit=3))
        return res


def run_stage(
    name: str,
    videos: Iterable[str],
    process: Callable[[str], VideoResult],
    out_root: str | Path,
    workers: int = 1,
    is_finished: Callable[[str], bool] | None = None,
    extra_summary: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run ``process`` over ``videos`` and write ``<out_root>/summary.json``; return the summary.

    ``process`` must be picklable (a module-level function or a ``functools.partial``) when
    ``workers > 1``. ``is_finished(video)`` defaults to "``<out_root>/<video>/.done`` exists".
    """
    out_root = Path(out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    videos = list(videos)
    finished = is_finished or (lambda v: fileio.is_done(out_root / v))
    todo = [v for v in videos if not finished(v)]
    results: list[VideoResult] = [VideoResult(video=v, skipped=True) for v in videos if finished(v)]
    start = time.time()
    # In a log file (no terminal) a bar redrawn 10 times a second is noise: redraw every 10 s there.
    bar = tqdm(total=len(todo), desc=name, unit="video", dynamic_ncols=True,
               mininterval=0.1 if sys.stderr.isatty() else 10.0)
    if workers > 1 and len(todo) > 1:
        ctx = mp.get_context("fork")
        with ctx.Pool(workers) as pool:
            for res in pool.imap_unordered(_safe_call, [(process, v) for v in todo]):
                results.append(res)
                bar.update(1)
    else:
        for v in todo:
            results.append(_safe_call((process, v)))
            bar.update(1)
    bar.close()
    summary = summarise(name, results, time.time() - start)
    if extra_summary:
        summary.update(extra_summary)
    fileio.write_json(out_root / "summary.json", summary)
    print_summary(summary)
    return summary


def summarise(name: str, results: list[VideoResult], seconds: float) -> dict[str, Any]:
    failures: Counter = Counter()
    failed_videos: dict[str, list[str]] = defaultdict(list)
    messages: list[str] = []
    for r in results:
        failures.update(r.failures)
        for kind in r.failures:
            failed_videos[kind].append(r.video)
        messages.extend(m for m in r.messages if not m.startswith("Traceback"))
    processed = [r for r in results if not r.skipped]
    return {
        "stage": name,
        "videos": len(results),
        "videos_processed_now": len(processed),
        "videos_skipped_already_done": len(results) - len(processed),
        "frames": sum(r.frames for r in processed),
        "faces": sum(r.faces for r in processed),
        "failures": dict(sorted(failures.items())),
        "failed_videos": {k: sorted(v) for k, v in sorted(failed_videos.items())},
        "messages": messages[:200],
        "seconds": round(seconds, 2),
    }


def print_summary(summary: dict[str, Any]) -> None:
    fails = ", ".join(f"{k}: {v}" for k, v in summary["failures"].items()) or "none"
    print(
        f"[{summary['stage']}] videos {summary['videos']} "
        f"(processed {summary['videos_processed_now']}, already done "
        f"{summary['videos_skipped_already_done']}), frames {summary['frames']}, "
        f"faces {summary['faces']}, failures: {fails}, {summary['seconds']} s"
    )
    for m in summary["messages"][:10]:
        print(f"  ! {m}")
