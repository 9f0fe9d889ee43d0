"""Runner shared by the preprocessing stages: parallel over videos, resumable, summarised.

A stage supplies ``process(video) -> VideoResult``. The runner

* holds the lock of the stage's output root while it runs (:mod:`fas_core.runlock`): a second
  run on the same folder is refused with a message naming the first,
* runs only the videos of its shard with ``shard`` (``--shard i/n``, :mod:`fas_core.shards`),
* skips videos whose output folder already holds the ``.done`` marker (resume),
* runs the rest in a process pool with a progress bar,
* never lets one bad video stop the stage: an exception is recorded as a failure of kind
  ``error`` with its message, and the stage goes on,
* writes ``summary.json`` into the stage's output root: counts of videos, frames, faces and
  failures by kind, with the videos (``failed_videos``) and the frames (``failed_frames``,
  ``<video>_<NNN>``) concerned, and ``videos_failed``: videos nothing usable came out of.
  A shard writes ``<stage>_summary.shard-i-of-n.json`` instead (with a record per video); once
  every shard of the stage has one, they are merged into ``summary.json``, as a single run
  would have written it (:func:`merge_shard_summaries`).

``process`` must write its outputs atomically (see :mod:`fas_core.fileio`) and call
``fileio.mark_done(out_dir)`` last, so an interrupted video is simply redone on the next run.
"""

from __future__ import annotations

import multiprocessing as mp
import re
import shlex
import sys
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from . import fileio
from .runlock import run_lock
from .shards import Shard

SUMMARY = "summary.json"
LOCK_NAME = "stage"  # <out_root>/.stage.lock: one stage run per output root at a time
MAX_MESSAGES = 200
SHOWN_FRAMES = 5  # failed frames named on screen per kind (all of them are in the summary file)
_SHARD_SUMMARY_RE = re.compile(r"^(?P<stage>.+)_summary\.shard-(?P<index>\d+)-of-(?P<count>\d+)\.json$")
_SHARD_ONLY_KEYS = ("shard", "summary_files", "per_video")


@dataclass
class VideoResult:
    """What one video contributed to a stage."""

    video: str
    frames: int = 0
    faces: int = 0
    skipped: bool = False  # already done by an earlier run
    failed: bool = False  # nothing usable came out of the video (it is tried again by the next run)
    failures: Counter = field(default_factory=Counter)  # kind -> count (e.g. no_face: 3)
    failed_frames: dict[str, list[int]] = field(default_factory=dict)  # kind -> frame numbers
    messages: list[str] = field(default_factory=list)  # human-readable details

    def fail(self, kind: str, message: str) -> VideoResult:
        """The whole video failed (``kind``, with ``message``); returns itself for ``return res.fail(...)``."""
        self.failed = True
        self.failures[kind] += 1
        self.messages.append(message)
        return self

    def frame_failed(self, kind: str, index: int, message: str | None = None) -> None:
        """Frame ``index`` (1-based) failed with ``kind``; counted and named in the summary."""
        self.failures[kind] += 1
        self.failed_frames.setdefault(kind, []).append(index)
        if message:
            self.messages.append(message)

    def to_record(self) -> dict[str, Any]:
        """The JSON form kept in a shard summary (what merging needs)."""
        return {"video": self.video, "frames": self.frames, "faces": self.faces, "skipped": self.skipped,
                "failed": self.failed, "failures": dict(sorted(self.failures.items())),
                "failed_frames": {k: sorted(v) for k, v in sorted(self.failed_frames.items())},
                "messages": [m for m in self.messages if not m.startswith("Traceback")]}

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> VideoResult:
        return cls(video=rec["video"], frames=rec["frames"], faces=rec["faces"], skipped=rec["skipped"],
                   failed=rec["failed"], failures=Counter(rec["failures"]),
                   failed_frames={k: list(v) for k, v in rec["failed_frames"].items()},
                   messages=list(rec["messages"]))


def find_frame_videos(frames_root: str | Path) -> list[str]:
    """Names of the video folders under ``frames_root`` (sorted); a missing root is an error."""
    frames_root = Path(frames_root)
    if not frames_root.is_dir():
        raise FileNotFoundError(f"frames folder not found: {frames_root} (run data.extract_frames first)")
    return sorted(p.name for p in frames_root.iterdir() if p.is_dir() and not p.name.startswith("."))


def frames_or_failure(res: VideoResult, folder: Path) -> list[int]:
    """Frame numbers of the ``<video>_<NNN>_scene.jpg`` frames in ``folder``; none fails the video (``no_frames``)."""
    indices = fileio.list_frame_indices(folder, res.video)
    if not indices:
        res.fail("no_frames", f"{res.video}: no *_scene.jpg frames in {folder}")
    return indices


def remove_temp_files(folder: Path) -> None:
    """Temp files (``.<name>.*.tmp``, see :mod:`fas_core.fileio`) of writes an interrupted run never finished.

    Only for a video's own folder as its processing starts: the stage lock and the shard rule
    make sure no other process writes there.
    """
    if folder.is_dir():
        for p in folder.iterdir():
            if fileio.temp_target_of(p.name) is not None:
                p.unlink(missing_ok=True)


def _safe_call(args: tuple[Callable[[str], VideoResult], str]) -> VideoResult:
    process, video = args
    try:
        return process(video)
    except Exception as e:  # one bad video must not stop the stage
        res = VideoResult(video=video).fail("error", f"{video}: {type(e).__name__}: {e}")
        res.messages.append(traceback.format_exc(limit=3))
        return res


def _process_all(name: str, todo: list[str], process: Callable[[str], VideoResult], workers: int
                 ) -> list[VideoResult]:
    # In a log file (no terminal) a bar redrawn 10 times a second is noise: redraw every 10 s there.
    bar = tqdm(total=len(todo), desc=name, unit="video", dynamic_ncols=True,
               mininterval=0.1 if sys.stderr.isatty() else 10.0)
    results = []
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
    return results


def run_stage(
    name: str,
    videos: Iterable[str],
    process: Callable[[str], VideoResult],
    out_root: str | Path,
    workers: int = 1,
    is_finished: Callable[[str], bool] | None = None,
    extra_summary: dict[str, Any] | None = None,
    overwrite: bool = False,
    shard: Shard | None = None,
    summary_names: Sequence[str] = (SUMMARY,),
) -> dict[str, Any]:
    """Run ``process`` over ``videos`` (those of ``shard``) and write the summary; return the summary.

    ``process`` must be picklable (a module-level function or a ``functools.partial``) when
    ``workers > 1``. ``is_finished(video)`` defaults to "``<out_root>/<video>/.done`` exists";
    ``overwrite`` redoes finished videos too. The summary goes to each of ``summary_names``
    in ``out_root`` (for a shard: once every shard has run). Raises
    :class:`fas_core.runlock.RunLockedError` when another run holds ``out_root``.
    """
    out_root = Path(out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    with run_lock(out_root, LOCK_NAME, shard):
        videos = [v for v in videos if shard is None or shard.selects(v)]
        finished = is_finished or (lambda v: fileio.is_done(out_root / v))
        done = set() if overwrite else {v for v in videos if finished(v)}
        start = time.time()
        results = [VideoResult(video=v, skipped=True) for v in videos if v in done]
        results += _process_all(name, [v for v in videos if v not in done], process, workers)
        summary = summarise(name, results, time.time() - start)
        summary.update(extra_summary or {})
        where = _save_summary(out_root, summary, results, shard, summary_names)
        print_summary(summary, where)
        if shard is not None:
            _merge_when_complete(out_root, name, shard.count)
    return summary


def summarise(name: str, results: list[VideoResult], seconds: float) -> dict[str, Any]:
    """The stage summary of per-video results (in video order, so it does not depend on the run's order)."""
    results = sorted(results, key=lambda r: r.video)
    failures: Counter = Counter()
    failed_videos: dict[str, list[str]] = defaultdict(list)
    failed_frames: dict[str, list[str]] = defaultdict(list)
    messages: list[str] = []
    for r in results:
        failures.update(r.failures)
        for kind in r.failures:
            failed_videos[kind].append(r.video)
        for kind, indices in r.failed_frames.items():
            failed_frames[kind] += [fileio.frame_name(r.video, i) for i in sorted(indices)]
        messages.extend(m for m in r.messages if not m.startswith("Traceback"))
    processed = [r for r in results if not r.skipped]
    return {
        "stage": name,
        "videos": len(results),
        "videos_processed_now": len(processed),
        "videos_skipped_already_done": len(results) - len(processed),
        "videos_failed": sum(r.failed for r in processed),
        "frames": sum(r.frames for r in processed),
        "faces": sum(r.faces for r in processed),
        "failures": dict(sorted(failures.items())),
        "failed_videos": {k: sorted(v) for k, v in sorted(failed_videos.items())},
        "failed_frames": dict(sorted(failed_frames.items())),
        "messages": messages[:MAX_MESSAGES],
        "seconds": round(seconds, 2),
    }


def all_videos_failed(summary: Any) -> bool:
    """Whether a stage summary had videos and nothing usable came out of any of them."""
    if not isinstance(summary, dict):
        return False
    return summary.get("videos", 0) > 0 and summary.get("videos_failed") == summary["videos"]


def print_summary(summary: dict[str, Any], where: str | Path | None = None) -> None:
    """The summary on screen; failed frames by kind, the first few named, the rest in ``where``."""
    fails = ", ".join(f"{k}: {v}" for k, v in summary["failures"].items()) or "none"
    print(
        f"[{summary['stage']}] videos {summary['videos']} "
        f"(processed {summary['videos_processed_now']}, already done "
        f"{summary['videos_skipped_already_done']}), frames {summary['frames']}, "
        f"faces {summary['faces']}, failures: {fails}, {summary['seconds']} s"
    )
    for m in summary["messages"][:10]:
        print(f"  ! {m}")
    for kind, frames in summary.get("failed_frames", {}).items():
        more = f", ... (all {len(frames)} in {where or 'summary.json'}, key failed_frames)" \
            if len(frames) > SHOWN_FRAMES else ""
        print(f"  {kind}: {len(frames)} frame(s): {', '.join(frames[:SHOWN_FRAMES])}{more}")
    if where is not None:
        print(f"  summary: {where}")


# ----------------------------------------------------------------------------- summaries of shards
def shard_summary_name(stage: str, shard: Shard) -> str:
    return f"{stage}_summary.{shard.tag}.json"


def _save_summary(out_root: Path, summary: dict[str, Any], results: list[VideoResult], shard: Shard | None,
                  summary_names: Sequence[str]) -> Path:
    """Write the summary where it belongs; returns the file that holds it."""
    stage = summary["stage"]
    if shard is None:
        for name in summary_names:
            fileio.write_json(out_root / name, summary)
        for paths in find_shard_summaries(out_root).get(stage, {}).values():
            for path in paths.values():  # superseded by this whole run
                path.unlink(missing_ok=True)
        return out_root / summary_names[0]
    path = out_root / shard_summary_name(stage, shard)
    records = [r.to_record() for r in sorted(results, key=lambda r: r.video)]
    fileio.write_json(path, {**summary, "shard": str(shard), "summary_files": list(summary_names),
                             "per_video": records})
    return path


def find_shard_summaries(root: str | Path) -> dict[str, dict[int, dict[int, Path]]]:
    """Shard summaries in ``root``: stage -> shard count -> shard index -> file."""
    found: dict[str, dict[int, dict[int, Path]]] = defaultdict(lambda: defaultdict(dict))
    root = Path(root)
    if root.is_dir():
        for p in sorted(root.iterdir()):
            m = _SHARD_SUMMARY_RE.match(p.name)
            if m:
                found[m["stage"]][int(m["count"])][int(m["index"])] = p
    return {stage: dict(by_count) for stage, by_count in found.items()}


def merge_summaries(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One stage summary from shard summaries, equal to a single run's (``seconds``: the longest shard's)."""
    stage = parts[0]["stage"]
    records = [rec for part in parts for rec in part["per_video"]]
    seen: set[str] = set()
    for rec in records:
        if rec["video"] in seen:
            raise ValueError(f"video {rec['video']} is in two shard summaries of {stage}")
        seen.add(rec["video"])
    merged = summarise(stage, [VideoResult.from_record(r) for r in records], max(p["seconds"] for p in parts))
    for key, value in parts[0].items():
        if key in merged or key in _SHARD_ONLY_KEYS:
            continue
        other = next((p[key] for p in parts[1:] if p.get(key) != value), value)
        if other != value:
            raise ValueError(f"shard summaries of {stage} disagree on {key}: {value!r} vs {other!r}")
        merged[key] = value
    return merged


def merge_shard_summaries(root: str | Path, stage: str, count: int) -> dict[str, Any]:
    """Merge the summaries of shards 1..``count`` of ``stage`` in ``root`` and write the stage's summary files.

    A missing shard or shards that disagree on a setting raise ``ValueError`` naming it.
    """
    root = Path(root)
    paths = [root / shard_summary_name(stage, Shard(i, count)) for i in range(1, count + 1)]
    missing = [str(i) for i, p in enumerate(paths, 1) if not p.is_file()]
    if missing:
        raise ValueError(f"{root}: no summary yet of {stage} shard(s) {', '.join(missing)} of {count} "
                         f"(expected {paths[int(missing[0]) - 1].name})")
    parts = [fileio.read_json(p) for p in paths]
    merged = merge_summaries(parts)
    for name in parts[0].get("summary_files", [SUMMARY]):
        fileio.write_json(root / name, merged)
    return merged


def _merge_when_complete(root: Path, stage: str, count: int) -> None:
    """After a shard's run: merge when every shard has a summary, else say what is still missing."""
    have = find_shard_summaries(root).get(stage, {}).get(count, {})
    if len(have) < count:
        print(f"  {len(have)} of {count} shard summaries present; {SUMMARY} is written once all shards have run "
              f"(or: {shlex.join(['python', '-m', 'data.preprocess', 'merge-summaries', str(root)])})")
        return
    try:
        merged = merge_shard_summaries(root, stage, count)
    except ValueError as e:
        print(f"  ! shard summaries not merged: {e}")
        return
    print(f"  all {count} shards done: merged summary ({merged['videos']} videos, "
          f"{merged['videos_failed']} failed) in {root / SUMMARY}")


def merge_folder(folder: str | Path, order: Sequence[str] = ()) -> list[tuple[dict[str, Any], Path]]:
    """Merge every stage's shard summaries in ``folder``: ``(merged summary, file)`` per stage.

    Stages named in ``order`` are merged in that order, so that when two stages share a folder
    (frames/), ``summary.json`` ends with the later one's. ``ValueError`` when a stage's shard
    summaries are incomplete or come from runs with different shard counts.
    """
    folder = Path(folder)
    found = find_shard_summaries(folder)
    rank = {name: i for i, name in enumerate(order)}
    out = []
    for stage in sorted(found, key=lambda s: (rank.get(s, len(rank)), s)):
        counts = sorted(found[stage])
        if len(counts) > 1:
            raise ValueError(f"{folder}: shard summaries of {stage} from runs with {' and '.join(map(str, counts))} "
                             "shards; remove the stale ones")
        merged = merge_shard_summaries(folder, stage, counts[0])
        out.append((merged, folder / SUMMARY))
    return out
