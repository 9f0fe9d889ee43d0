"""The preprocessing chain, driven by one YAML config (docs/data.md, "Preprocessing stages").

    python -m data.preprocess --config data/configs/demo.yaml [key=value ...] [--dry-run] [--shard I/N]
    python -m data.preprocess merge-summaries <work>      (the summaries of shard runs, merged)

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
recapped at the end. The chain holds ``<work>/.preprocess.lock`` while it runs (and each stage
the lock of its output folder): a second chain on the same work folder is refused, naming the first.

``--shard I/N`` runs stages 2-5 for the videos of shard I only (see :mod:`fas_core.shards`), so
N chains, on one machine or several sharing the work folder, split the work. The dataset must
exist first (no shard generates it); ``make_lists`` is left to a whole run once every shard is
done. Each stage merges the shard summaries into its ``summary.json`` once all N are present;
``merge-summaries`` does it by hand.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fas_core import fileio
from fas_core.config import Typed, config_argparser, load_config, save_config
from fas_core.crop_cache import CROP_CACHE
from fas_core.errors import run_cli
from fas_core.runlock import run_lock
from fas_core.shards import Shard
from fas_core.stage_cli import shard_arg
from fas_core.stages import SUMMARY, merge_folder, print_summary, shard_summary_name

DEFAULTS: dict[str, Any] = {
    "oulu_root": "datasets/synth_oulu",  # OULU-NPU tree: {Train,Dev,Test}_files/*.avi, Protocols/
    "work_root": "datasets/demo_work",  # frames/, depth/, crops/, lists/
    "synth": {
        "enabled": True,  # generate the synthetic dataset when oulu_root is missing
        "preset": Typed(str, "demo", choices=("tiny", "demo", "full")),
        "seed": 0,
        "difficulty": Typed(float, None, low=0.0, high=1.0),  # null: the generator's default
    },
    # keep every k-th frame, at most N per video (null: all)
    "frames": {"every": Typed(int, 1, low=1), "max_frames": Typed(int, None, low=1)},
    # Options of data.detect_faces; null leaves the stage's own default.
    "detect": {"batch_size": Typed(int, None, low=1), "threads": Typed(int, None, low=0),
               "min_face_size": Typed(float, None, low=0.0), "min_face_frac": Typed(float, None, low=0.0),
               "downscale": Typed(float, None, low=0.0), "max_side": Typed(int, None, low=1),
               "device": Typed(str, None)},
    "depth": {"prnet_dir": Typed(str, None)},  # folder of PRNet depth maps made elsewhere (same file names)
    "crop": {"scale": CROP_CACHE.scale, "size": CROP_CACHE.face_size, "depth_size": CROP_CACHE.depth_size},
    "lists": {"protocol": "all", "source": "videos"},  # source: videos (oulu_root) or crops (<work>/crops)
    "workers": Typed(int, 2, low=1),  # parallel processes of the stages that run over videos
}

STAGES = ("synth", "extract_frames", "detect_faces", "make_depth", "crop", "make_lists")
SHARDED_STAGES = ("extract_frames", "detect_faces", "make_depth", "crop")
MERGE_COMMAND = "merge-summaries"
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
    not_here: str | None = None  # why this run leaves the stage to another (a shard run and make_lists)


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


def _stage_argv(cfg: Any) -> dict[str, list[str]]:
    """Each stage's arguments after ``python -m data.<stage>`` for a resolved config."""
    oulu_root, work = Path(cfg.oulu_root), Path(cfg.work_root)
    frames, depth, crops, lists = work / "frames", work / "depth", work / "crops", work / "lists"
    workers = ["--workers", str(cfg.workers)]
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
    return {"synth": synth, "extract_frames": extract,
            "detect_faces": ["--frames", str(frames), *workers, *_options(cfg.detect)],
            "make_depth": make_depth, "crop": crop,
            "make_lists": ["oulu", "--protocol", str(cfg.lists.protocol), "--videos", str(list_videos),
                           "--out", str(lists)]}


def build_plan(cfg: Any, shard: Shard | None = None) -> list[Stage]:
    """The stages and their command lines for a resolved config (for the videos of ``shard`` only, if given)."""
    oulu_root, work = Path(cfg.oulu_root), Path(cfg.work_root)
    frames, depth, crops, lists = work / "frames", work / "depth", work / "crops", work / "lists"

    def mine(names: list[str]) -> list[str]:
        return [v for v in names if shard is None or shard.selects(v)]

    def extracted() -> list[str]:
        return mine(_video_dirs(frames, fileio.DONE_MARKER))

    def detected() -> list[str]:
        return mine(_video_dirs(frames, "faces.json"))

    def all_videos_extracted() -> bool:
        from data.extract_frames import find_videos

        names = mine(list(find_videos(oulu_root))) if oulu_root.is_dir() else []
        return bool(names) and set(names) <= set(extracted())

    def all_done_under(root: Path, needed: Callable[[], list[str]]) -> Callable[[], bool]:
        return lambda: bool(needed()) and set(needed()) <= set(_video_dirs(root, fileio.DONE_MARKER))

    def summary(root: Path, stage: str, name: str = SUMMARY) -> Path:
        return root / (shard_summary_name(stage, shard) if shard else name)

    argv = _stage_argv(cfg)
    if shard is not None:
        for name in SHARDED_STAGES:
            argv[name] += ["--shard", str(shard)]
    return [
        Stage("synth", argv["synth"], None, lambda: has_dataset(oulu_root) or not cfg.synth.enabled),
        Stage("extract_frames", argv["extract_frames"], summary(frames, "extract_frames", EXTRACT_SUMMARY),
              all_videos_extracted),
        Stage("detect_faces", argv["detect_faces"], summary(frames, "detect_faces"),
              lambda: bool(extracted()) and set(extracted()) <= set(detected())),
        Stage("make_depth", argv["make_depth"], summary(depth, "make_depth"), all_done_under(depth, detected)),
        Stage("crop", argv["crop"], summary(crops, "crop"), all_done_under(crops, detected)),
        Stage("make_lists", argv["make_lists"], lists / SUMMARY, lambda: False,
              not_here=None if shard is None else "it needs every shard: run the chain without --shard once all "
                                                  "shards are done (finished stages are skipped)"),
    ]


def _show_saved_summary(stage: Stage) -> None:
    """Print the summary a stage saved (frames/ holds two stages' outputs: match by stage name)."""
    if stage.summary is None or not stage.summary.is_file():
        return
    summary = fileio.read_json(stage.summary)
    if summary.get("stage") == stage.name and "failures" in summary:
        print_summary(summary, stage.summary)


def command_line(stage: Stage) -> list[str]:
    return [sys.executable, "-m", f"data.{stage.name}", *stage.argv]


def run_plan(plan: list[Stage], dry_run: bool = False) -> list[tuple[str, str, float]]:
    """Run the stages in order; stop at the first that fails. Returns ``(stage, status, seconds)``."""
    recap = []
    for stage in plan:
        if stage.not_here:
            print(f"== {stage.name}: not run here: {stage.not_here}")
            recap.append((stage.name, "left to a whole run", 0.0))
            continue
        if stage.is_complete():
            print(f"== {stage.name}: complete, skipped")
            _show_saved_summary(stage)
            recap.append((stage.name, "skipped (complete)", 0.0))
            continue
        cmd = command_line(stage)
        print(f"== {stage.name}: python {shlex.join(cmd[1:])}", flush=True)
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


def merge_summaries_main(argv: list[str]) -> int:
    """``python -m data.preprocess merge-summaries DIR ...``: merge the shard summaries found there."""
    parser = argparse.ArgumentParser(
        prog=f"python -m data.preprocess {MERGE_COMMAND}",
        description="Merge the shard summaries (<stage>_summary.shard-I-of-N.json) of each stage into its "
                    "summary.json, as a single run would have written it.")
    parser.add_argument("dirs", nargs="+", help="stage output folders (frames, depth, crops) or work roots")
    args = parser.parse_args(argv)
    try:
        merged = []
        for d in map(Path, args.dirs):
            if not d.is_dir():
                raise FileNotFoundError(f"folder not found: {d}")
            for folder in [d, *sorted(p for p in d.iterdir() if p.is_dir() and not p.name.startswith("."))]:
                merged += merge_folder(folder, order=STAGES)
        if not merged:
            raise ValueError(f"no shard summaries (<stage>_summary.shard-I-of-N.json) in {', '.join(args.dirs)} "
                             "or the folders inside")
    except (FileNotFoundError, ValueError) as e:
        print(f"preprocess {MERGE_COMMAND}: error: {e}", file=sys.stderr)
        return 2
    for summary, path in merged:
        print_summary(summary, path)
    return 0


def _check_shard_run(plan: list[Stage], shard: Shard | None) -> None:
    """Shards run side by side: none of them may generate the dataset, which all of them read."""
    synth = next(s for s in plan if s.name == "synth")
    if shard is not None and not synth.is_complete():
        raise ValueError(f"--shard {shard}: no dataset yet; generate it once before the shards run: "
                         f"{shlex.join(['python', *command_line(synth)[1:]])}")


def main(argv: list[str] | None = None) -> int:
    """Exit status 0; bad input (config, paths, a folder another run holds) 2 with one line (``--debug``: traceback)."""
    return run_cli(_main, argv, prog="preprocess", also=(ValueError,), return_status=True)


def _main(argv: list[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == [MERGE_COMMAND]:
        return merge_summaries_main(argv[1:])
    parser = config_argparser("Run the preprocessing stages (synth, extract_frames, detect_faces, make_depth, "
                              "crop, make_lists) from a YAML config. "
                              f"'{MERGE_COMMAND} DIR...' merges the summaries of shard runs instead.", DEFAULTS)
    parser.prog = "python -m data.preprocess"
    parser.add_argument("--dry-run", action="store_true", help="print the stage commands without running them")
    parser.add_argument("--shard", type=shard_arg, default=None, metavar="I/N",
                        help=f"run the video stages ({', '.join(SHARDED_STAGES)}) for shard I of N only")
    args = parser.parse_args(argv)
    cfg = load_config(DEFAULTS, args.config, args.overrides)
    oulu_root = Path(cfg.oulu_root)
    if not has_dataset(oulu_root) and not cfg.synth.enabled:
        raise ValueError(f"no OULU-NPU dataset at oulu_root={oulu_root} (expected {', '.join(DATASET_FOLDERS)}); "
                         "point oulu_root at your copy or set synth.enabled=true")
    plan = build_plan(cfg, args.shard)
    _check_shard_run(plan, args.shard)
    if args.dry_run:
        _print_recap(run_plan(plan, dry_run=True))
        return 0
    with run_lock(cfg.work_root, "preprocess", args.shard):
        save_config(cfg, Path(cfg.work_root) / "preprocess_config.yaml")
        _print_recap(run_plan(plan))
    return 0


if __name__ == "__main__":
    sys.exit(main())
