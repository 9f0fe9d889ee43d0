"""Offline crop cache (docs/data.md, stage 4 "Cropping"): 256x256 faces and 32x32 depth crops.

    python -m data.crop --frames <work>/frames --depth <work>/depth --out <work>/crops \\
        [--scale 1.3 | --scales 1.2 1.3 1.4 [--seed 0]] [--videos-from LIST] [--size 256] [--depth-size 32] \\
        [--workers W] [--shard I/N]

For every frame ``<frames>/<video>/<video>_<NNN>_scene.jpg`` with a face box
(``_scene.dat``), the box is scaled by ``--scale`` around its centre and clamped to the frame
(:func:`fas_core.crop_cache.write_entry`, the cache's contract); the face is resized to ``--size``
and written as ``<out>/<video>/<video>_<NNN>_scene.jpg`` (JPEG, ``--quality``), the frame-sized
depth map ``<depth>/<video>/<video>_<NNN>_depth1D.jpg`` (or ``.png``) cropped with the same box
and resized to ``--depth-size`` is written as ``<out>/<video>/<video>_<NNN>_depth1D.png``.

``--scales`` cuts every frame at one scale drawn from the set, once per frame and from
``(--seed, video, frame)`` only (:func:`fas_core.crop_cache.drawn_scale`): the original DUM's
training cache, whose frames are cut at ``randint(12, 15) / 10``. ``--videos-from`` limits the
run to the videos of protocol lists (e.g. a Train list: nothing else reads such a cache).

Counted, never fatal (the frame-level kinds are named frame by frame, ``<video>_<NNN>``):

* ``no_face``: a frame without a box (the detector found no face); skipped.
* ``missing_depth``: a frame with a box but no depth map. The face crop is still written and
  the depth crop is not, so the cache holds every face the detector found; a loader that needs
  depth for the frame sees that the ``_depth1D.png`` is absent.
* ``bad_depth``: a depth map that cannot be read or whose size differs from the frame; handled
  like ``missing_depth``.
* ``bad_box`` / ``corrupt_frame`` / ``unreadable_frame``: a bad ``.dat``, a corrupt frame, a
  frame this account may not read; the frame is skipped.
* ``not_detected`` (per video): the frames were extracted by this toolkit (``.done``) but face
  detection has not finished for the video (no ``faces.json``); the video is left for a later run.
* ``no_frames`` (per video): a frame folder without frames.

Frame folders prepared by other tools (CDCN / FAS-SGTD layout: frames and ``.dat`` files, no
``faces.json``) are used as they are. Every file is written atomically and ``.done`` marks a
finished video, so a run killed at any point and run again gives byte-identical outputs
(``summary.json`` aside, which records timings and what each run did).
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fas_core import fileio
from fas_core.crop_cache import CROP_CACHE, CropCacheSpec, drawn_scale, entry_paths, write_entry
from fas_core.oulu import read_list
from fas_core.shards import Shard
from fas_core.stage_cli import stage_main, stage_parser
from fas_core.stages import VideoResult, find_frame_videos, frames_or_failure, remove_temp_files, run_stage

FACES_INDEX = "faces.json"


def _read_depth(depth_root: Path, video: str, idx: int) -> tuple[np.ndarray | None, str | None]:
    """The frame's depth map (grey uint8) or ``(None, failure kind)``."""
    path = fileio.find_depth_map(depth_root, video, idx)
    if path is None:
        return None, "missing_depth"
    try:
        return fileio.read_image(path, grey=True), None
    except ValueError:
        return None, "bad_depth"


def crop_video(video: str, frames_root: str | Path, depth_root: str | Path, out_root: str | Path,
               spec: CropCacheSpec = CROP_CACHE, scales: Sequence[float] = (), seed: int = 0) -> VideoResult:
    """Crop every frame of ``video`` that has a box; write the cache entries (``spec``); mark done.

    With ``scales``, each frame's box scale is drawn from them (:func:`drawn_scale`) instead of ``spec.scale``.
    """
    cv2.setNumThreads(1)  # parallelism comes from the process pool
    frames_root, depth_root, out_root = Path(frames_root), Path(depth_root), Path(out_root)
    src = frames_root / video
    out = out_root / video
    res = VideoResult(video=video)
    indices = frames_or_failure(res, src)
    if not indices:
        return res
    if fileio.is_done(src) and not (src / FACES_INDEX).is_file():
        return res.fail("not_detected", f"{video}: face detection has not finished ({src / FACES_INDEX} missing); "
                                        "run data.detect_faces first")
    remove_temp_files(out)
    for idx in indices:
        res.frames += 1
        box_file = fileio.bbox_path(frames_root, video, idx)
        if not box_file.is_file():
            res.frame_failed("no_face", idx)
            continue
        try:
            box = fileio.read_bbox(box_file)
        except ValueError as e:
            res.frame_failed("bad_box", idx, str(e))
            continue
        try:
            image = fileio.read_image(fileio.frame_path(frames_root, video, idx))
        except PermissionError as e:
            res.frame_failed("unreadable_frame", idx, str(e))
            continue
        except ValueError as e:
            res.frame_failed("corrupt_frame", idx, str(e))
            continue
        depth, problem = _read_depth(depth_root, video, idx)
        if depth is not None and depth.shape[:2] != image.shape[:2]:
            problem, depth = "bad_depth", None
            res.messages.append(f"{video}: depth map of frame {idx} differs in size from the frame")
        if problem:
            res.frame_failed(problem, idx)
        frame_spec = replace(spec, scale=drawn_scale(scales, seed, video, idx)) if scales else spec
        write_entry(*entry_paths(out_root, video, idx), image, depth, box, frame_spec)
        res.faces += 1
    fileio.mark_done(out)
    return res


def crop_all(frames_root: str | Path, depth_root: str | Path, out_root: str | Path,
             scale: float = CROP_CACHE.scale, size: int = CROP_CACHE.face_size,
             depth_size: int = CROP_CACHE.depth_size, workers: int = 1,
             quality: int = CROP_CACHE.jpeg_quality, shard: Shard | None = None,
             scales: Sequence[float] = (), seed: int = 0, videos_from: Sequence[str | Path] = ()) -> dict[str, Any]:
    """Run the crop stage over every video folder under ``frames_root`` (those of ``shard``); returns the summary.

    ``scales``: one scale per frame drawn from them (``seed``) instead of ``scale``; ``videos_from``:
    only the videos named in these list files.
    """
    if not Path(depth_root).is_dir():
        raise FileNotFoundError(f"depth folder not found: {depth_root} (run data.make_depth first)")
    if min((scale, *scales)) <= 0 or size < 1 or depth_size < 1:
        raise ValueError(f"scales, size and depth size must be positive (got {list(scales) or scale}, {size}, "
                         f"{depth_size})")
    spec = CropCacheSpec(face_size=size, depth_size=depth_size, jpeg_quality=quality, scale=scale)
    videos = listed_videos(find_frame_videos(frames_root), videos_from)
    if not videos:
        raise ValueError(f"no video folders under {frames_root}"
                         + (f" named in {', '.join(map(str, videos_from))}" if videos_from else ""))
    process = functools.partial(crop_video, frames_root=str(frames_root), depth_root=str(depth_root),
                                out_root=str(out_root), spec=spec, scales=tuple(scales), seed=seed)
    drawn = {"scales": list(scales), "seed": seed} if scales else {"scale": scale}
    return run_stage("crop", videos, process, out_root, workers=workers, shard=shard,
                     extra_summary={**drawn, "size": size, "depth_size": depth_size,
                                    "frames_root": str(frames_root), "depth_root": str(depth_root)})


def listed_videos(videos: Sequence[str], lists: Sequence[str | Path]) -> list[str]:
    """The ``videos`` named in any of the protocol ``lists`` (all of them when no list is given)."""
    if not lists:
        return list(videos)
    named = {video for path in lists for video, _ in read_list(path, zero_is_attack=True)}
    return [v for v in videos if v in named]


def build_parser() -> argparse.ArgumentParser:
    parser = stage_parser(
        "crop", "Offline crop cache: face crops (JPEG) and depth crops (PNG) of every frame with a face box.",
        {"--frames": "frames root with .dat boxes, e.g. <work>/frames", "--depth": "depth root, e.g. <work>/depth",
         "--out": "crop cache root, e.g. <work>/crops"})
    parser.add_argument("--scale", type=float, default=CROP_CACHE.scale,
                        help="box scale around its centre (default %(default)s)")
    parser.add_argument("--scales", type=float, nargs="+", default=[], metavar="S",
                        help="cut each frame at one of these scales, drawn once per frame (replaces --scale; "
                             "the original DUM training crop: 1.2 1.3 1.4)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the per-frame draws of --scales (default 0)")
    parser.add_argument("--videos-from", action="append", default=[], metavar="LIST",
                        help="crop only the videos of this protocol list (repeatable; default: every video)")
    parser.add_argument("--size", type=int, default=CROP_CACHE.face_size,
                        help="face crop size in pixels (default %(default)s)")
    parser.add_argument("--depth-size", type=int, default=CROP_CACHE.depth_size,
                        help="depth crop size in pixels (default %(default)s)")
    parser.add_argument("--quality", type=int, default=CROP_CACHE.jpeg_quality,
                        help="JPEG quality of the face crops (default %(default)s)")
    return parser


def main(argv: list[str] | None = None) -> int:
    def run(a: argparse.Namespace) -> dict[str, Any]:
        return crop_all(a.frames, a.depth, a.out, a.scale, a.size, a.depth_size, a.workers, a.quality, a.shard,
                        a.scales, a.seed, a.videos_from)

    return stage_main("crop", build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
