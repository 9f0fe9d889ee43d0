"""The preprocessing chain, driven by one YAML config (data.md, "Preprocessing stages").

    python -m data.preprocess --config data/configs/demo.yaml [key=value ...] [--dry-run]

Runs, in order, each as ``python -m data.<stage>``:

1. ``synth``          only when ``synth.enabled`` and ``oulu_root`` holds no dataset yet;
2. ``extract_frames`` ``<oulu_root>`` videos -> ``<work>/frames``;
3. ``detect_faces``   MTCNN boxes (``.dat``) and ``faces.json`` into ``<work>/frames``;
4. ``make_depth``     depth maps -> ``<work>/depth`` (or PRNet maps from ``depth.prnet_dir``);
5. ``crop``           offline crop cache -> ``<work>/crops``;
6. ``make_lists``     protocol lists -> ``<work>/lists``.

A stage whose outputs are complete for every video is skipped (its saved summary is shown);
otherwise it runs and, being resumable itself, redoes only the unfinished videos. The
resolved config is saved as ``<work>/preprocess_config.yaml`` and the summaries are
recapped at the end.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fas_core import fileio
from fas_core.config import config_argparser, load_config, save_config
from fas_core.crop_cache import CROP_CACHE
from fas_core.stages import print_summary

DEFAULTS: dict[str, Any] = {
    "oulu_root": "datasets/synth_oulu",  # OULU-NPU tree: {Train,Dev,Test}_files/*.avi, Protocols/
    "work_root": "datasets/demo_work",  # frames/, depth/, crops/, lists/
    "synth": {
        "enabled": True,  # generate the synthetic dataset when oulu_root is missing
        "preset": "demo",  # tiny | demo | full
        "seed": 0,
        "difficulty": None,  # None: the generator's default
    },
    "frames": {"every": 1, "max_frames": None},  # keep every k-th frame, at most N per video
    # Options of data.detect_faces; None leaves the stage's own default.
    "detect": {"batch_size": None, "threads": None, "min_face_size": None, "min_face_frac": None,
               "downscale": None, "max_side": None, "device": None},
    "depth": {"prnet_dir": None},  # folder of PRNet depth maps made elsewhere (same file names)
    "crop": {"scale": CROP_CACHE.scale, "size": CROP_CACHE.face_size, "depth_size": CROP_CACHE.depth_size},
    "lists": {"protocol": "all", "source": "videos"},  # source: videos (oulu_root) or crops (<work>/crops)
    "workers": 2,  # parallel processes of the stages that run over videos
}

STAGES = ("synth", "extract_frames", "detect_faces", "make_depth", "crop", "make_lists")
DATASET_FOLDERS = ("Train_files", "Dev_files", "Test_files")
# frames/ is the output root of two stages; detect_faces' summary.json replaces extract_frames',
# which also keeps its own copy under this name.
EXTRACT_SUMMARY = "extract_frames_summary.json"


@dataclass
class Stage:
    name: str
    argv: list[str]  # after "python -m data.<name>"
    summary: Path | None  # summary.json the stage writes
    is_complete: Callable[[], bool]


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def _options(section: dict[str, Any]) -> list[str]:
    """``{'batch_size': 32, 'device': None}`` -> ``['--batch-size', '32']`` (None: stage default)."""
    out: list[str] = []
    for key, value in section.items():
        if value is not None:
            out += [_flag(key), str(value)]
    return out


def _video_dirs(root: Path, marker: str) -> list[str]:
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / marker).is_file())


def has_dataset(oulu_root: Path) -> bool:
    return any((oulu_root / d).is_dir() for d in DATASET_FOLDERS)


def build_plan(cfg: Any) -> list[Stage]:
    """The stages and their command lines for a resolved config."""
    oulu_root, work = Path(cfg.oulu_root), Path(cfg.work_root)
    frames, depth, crops, lists = work / "frames", work / "depth", work / "crops", work / "lists"
    workers = ["--workers", str(cfg.workers)]

    def extracted() -> list[str]:
        return _video_dirs(frames, fileio.DONE_MARKER)

    def detected() -> list[str]:
        return _video_dirs(frames, "faces.json")

    def all_videos_extracted() -> bool:
        from data.extract_frames import find_videos

        names = list(find_videos(oulu_root)) if oulu_root.is_dir() else []
        return bool(names) and set(names) <= set(extracted())

    def all_done_under(root: Path, needed: Callable[[], list[str]]) -> Callable[[], bool]:
        return lambda: bool(needed()) and set(needed()) <= set(_video_dirs(root, fileio.DONE_MARKER))

    synth = ["--out", str(oulu_root), "--preset", str(cfg.synth.preset), "--seed", str(cfg.synth.seed), *workers]
    if cfg.synth.difficulty is not None:
        synth += ["--difficulty", str(cfg.synth.difficulty)]
    extract = ["--videos", str(oulu_root), "--out", str(frames), "--every", str(cfg.frames.every), *workers]
    if cfg.frames.max_frames is not None:
        extract += ["--max-frames", str(cfg.frames.max_frames)]
    make_depth = ["--frames", str(frames), "--out", str(depth), *workers]
    if cfg.depth.prnet_dir:
        make_depth += ["--prnet-dir", str(cfg.depth.prnet_dir)]
    crop = ["--frames", str(frames), "--depth", str(depth), "--out", str(crops), "--scale", str(cfg.crop.scale),
            "--size", str(cfg.crop.size), "--depth-size", str(cfg.crop.depth_size), *workers]
    if cfg.lists.source not in ("videos", "crops"):
        raise ValueError(f"lists.source must be 'videos' or 'crops', got {cfg.lists.source!r}")
    list_videos = oulu_root if cfg.lists.source == "videos" else crops
    return [
        Stage("synth", synth, None, lambda: has_dataset(oulu_root) or not cfg.synth.enabled),
        Stage("extract_frames", extract, frames / EXTRACT_SUMMARY, all_videos_extracted),
        Stage("detect_faces", ["--frames", str(frames), *workers, *_options(cfg.detect)], frames / "summary.json",
              lambda: bool(extracted()) and set(extracted()) <= set(detected())),
        Stage("make_depth", make_depth, depth / "summary.json", all_done_under(depth, detected)),
        Stage("crop", crop, crops / "summary.json", all_done_under(crops, detected)),
        Stage("make_lists", ["oulu", "--protocol", str(cfg.lists.protocol), "--videos", str(list_videos),
                             "--out", str(lists)], lists / "summary.json", lambda: False),
    ]


def _show_saved_summary(stage: Stage) -> None:
    """Print the summary a stage saved (frames/ holds two stages' outputs: match by stage name)."""
    if stage.summary is None or not stage.summary.is_file():
        return
    summary = fileio.read_json(stage.summary)
    if summary.get("stage") == stage.name and "failures" in summary:
        print_summary(summary)


def run_plan(plan: list[Stage], dry_run: bool = False) -> list[tuple[str, str, float]]:
    """Run the stages in order; stop at the first that fails. Returns ``(stage, status, seconds)``."""
    recap = []
    for stage in plan:
        cmd = [sys.executable, "-m", f"data.{stage.name}", *stage.argv]
        if stage.is_complete():
            print(f"== {stage.name}: complete, skipped")
            _show_saved_summary(stage)
            recap.append((stage.name, "skipped (complete)", 0.0))
            continue
        print(f"== {stage.name}: python {' '.join(cmd[1:])}", flush=True)
        if dry_run:
            recap.append((stage.name, "dry run", 0.0))
            continue
        start = time.time()
        rc = subprocess.call(cmd)
        seconds = time.time() - start
        if rc != 0:
            recap.append((stage.name, f"FAILED (exit {rc})", seconds))
            _print_recap(recap)
            raise SystemExit(f"preprocess: stage {stage.name} failed with exit code {rc}; fix it and rerun "
                             "(finished videos are kept)")
        recap.append((stage.name, "ran", seconds))
    return recap


def _print_recap(recap: list[tuple[str, str, float]]) -> None:
    print("== preprocessing recap")
    for name, status, seconds in recap:
        print(f"  {name:15s} {status:20s} {seconds:8.1f} s")


def main(argv: list[str] | None = None) -> int:
    parser = config_argparser("Run the preprocessing stages (synth, extract_frames, detect_faces, make_depth, "
                              "crop, make_lists) from a YAML config.", DEFAULTS)
    parser.prog = "python -m data.preprocess"
    parser.add_argument("--dry-run", action="store_true", help="print the stage commands without running them")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(DEFAULTS, args.config, args.overrides)
        oulu_root = Path(cfg.oulu_root)
        if not has_dataset(oulu_root) and not cfg.synth.enabled:
            raise ValueError(f"no OULU-NPU dataset at oulu_root={oulu_root} (expected {', '.join(DATASET_FOLDERS)}); "
                             "point oulu_root at your copy or set synth.enabled=true")
        plan = build_plan(cfg)
    except ValueError as e:  # ConfigError is a ValueError
        print(f"preprocess: error: {e}", file=sys.stderr)
        return 2
    if not args.dry_run:
        save_config(cfg, Path(cfg.work_root) / "preprocess_config.yaml")
    _print_recap(run_plan(plan, dry_run=args.dry_run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
