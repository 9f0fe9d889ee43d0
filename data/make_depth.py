"""Depth pseudo-labels (docs/data.md, stage 3): built-in template depth, or PRNet maps made elsewhere.

    python -m data.make_depth --frames <work>/frames --out <work>/depth [--prnet-dir DIR] [--workers W] [--shard I/N]

For every frame with a face in ``<frames>/<video>/faces.json`` (written by
``data.detect_faces``) this writes ``<out>/<video>/<video>_<NNN>_depth1D.jpg``: a single-channel
uint8 map of the frame's size, face depth min-max scaled to 0-255 (nose brightest), exactly 0
outside the face: the format of PRNet-Depth-Generation that CDCN, DSDG and FAS-SGTD read.

* Default: the built-in generator (:mod:`fas_core.face_depth`), a 3D face template fitted to
  the 5 MTCNN landmarks and the box and rendered with a z-buffer. No extra dependency, no
  download, well over 100 frames/s on one CPU core at 640x480.
* ``--prnet-dir DIR``: maps made elsewhere with PRNet, same names
  (``DIR/<video>/<video>_<NNN>_depth1D.jpg`` or ``.png``), are validated (readable, frame-sized)
  and copied byte for byte.

Attack videos get maps too: the FAS-SGTD loader uses the map as a face mask at test time (the
training label of an attack is all zeros, set by the loaders). Counted, never fatal:
``no_face`` (frame without a face), ``unreadable_frame`` (as recorded by detection),
``not_detected`` (no ``faces.json`` yet: the video is left for a later run), ``bad_faces_index``,
``fit_failed`` (landmarks no face template fits, e.g. mirrored), ``missing_prnet_map``,
``bad_prnet_map`` (the frame-level kinds are named frame by frame). Resumable:
``<out>/<video>/.done`` marks a finished video; every file is written atomically.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fas_core import fileio
from fas_core.face_depth import render_depth
from fas_core.face_detector import faces_index_path, read_faces_index
from fas_core.shards import Shard
from fas_core.stage_cli import stage_main, stage_parser
from fas_core.stages import VideoResult, find_frame_videos, remove_temp_files, run_stage

DEFAULT_QUALITY = 95  # JPEG quality of the written maps (the depth1D.jpg convention)


def check_prnet_map(path: Path, frame_size: tuple[int, int]) -> str | None:
    """Why a PRNet map cannot be used (``None`` when it can): unreadable, or not frame-sized."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        try:
            fileio.check_readable(path, "depth map")
        except PermissionError as e:
            return str(e)
        return f"unreadable depth map {path}"
    if img.dtype != np.uint8 or img.ndim not in (2, 3):
        return f"depth map {path} is not an 8-bit image (dtype {img.dtype}, shape {img.shape})"
    if (img.shape[1], img.shape[0]) != tuple(frame_size):
        return (f"depth map {path} is {img.shape[1]}x{img.shape[0]}, the frame is "
                f"{frame_size[0]}x{frame_size[1]}")
    return None


def depth_video(video: str, frames_root: str | Path, out_root: str | Path, prnet_dir: str | Path | None = None,
                quality: int = DEFAULT_QUALITY) -> VideoResult:
    """Write the depth maps of every face frame of ``video``; mark the video done."""
    cv2.setNumThreads(1)  # parallelism comes from the process pool
    frames_root, out_root = Path(frames_root), Path(out_root)
    res = VideoResult(video=video)
    index_file = faces_index_path(frames_root, video)
    if not index_file.is_file():
        return res.fail("not_detected", f"{video}: {index_file} missing; run data.detect_faces first")
    try:
        index = read_faces_index(index_file)
    except ValueError as e:
        return res.fail("bad_faces_index", str(e))
    out = out_root / video
    remove_temp_files(out)
    out.mkdir(parents=True, exist_ok=True)
    for idx in sorted(index.faces):
        res.frames += 1
        face = index.faces[idx]
        if face is None:
            res.frame_failed(index.failures.get(idx, "no_face"), idx)
            continue
        size = index.sizes[idx]
        if prnet_dir is not None:
            src = fileio.find_depth_map(Path(prnet_dir), video, idx)
            if src is None:
                res.frame_failed("missing_prnet_map", idx, f"{video}: no PRNet map for frame {idx} in "
                                                           f"{Path(prnet_dir) / video}")
                continue
            problem = check_prnet_map(src, size)
            if problem:
                res.frame_failed("bad_prnet_map", idx, problem)
                continue
            ext = src.suffix.lstrip(".")
            fileio.atomic_write_bytes(fileio.depth_path(out_root, video, idx, ext), src.read_bytes())
        else:
            try:
                depth = render_depth(size, face.landmarks, face.box)
            except ValueError as e:
                res.frame_failed("fit_failed", idx, f"{video} frame {idx}: {e}")
                continue
            fileio.write_image(fileio.depth_path(out_root, video, idx), depth, jpeg_quality=quality)
        res.faces += 1
    fileio.mark_done(out)
    return res


def make_depth(frames_root: str | Path, out_root: str | Path, prnet_dir: str | Path | None = None, workers: int = 1,
               quality: int = DEFAULT_QUALITY, overwrite: bool = False, shard: Shard | None = None) -> dict[str, Any]:
    """Run the depth stage over every video folder under ``frames_root`` (those of ``shard``); returns the summary."""
    if prnet_dir is not None and not Path(prnet_dir).is_dir():
        raise FileNotFoundError(f"PRNet depth folder not found: {prnet_dir}")
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be in 1..100, got {quality}")
    videos = find_frame_videos(frames_root)
    if not videos:
        raise ValueError(f"no video folders under {frames_root}")
    process = functools.partial(depth_video, frames_root=str(frames_root), out_root=str(out_root),
                                prnet_dir=None if prnet_dir is None else str(prnet_dir), quality=quality)
    mode = {"mode": "prnet" if prnet_dir is not None else "template",
            "prnet_dir": None if prnet_dir is None else str(prnet_dir)}
    return run_stage("make_depth", videos, process, out_root, workers=workers, overwrite=overwrite, shard=shard,
                     extra_summary=mode)


def build_parser() -> argparse.ArgumentParser:
    p = stage_parser(
        "make_depth", "Write <out>/<video>/<video>_<NNN>_depth1D.jpg depth pseudo-labels for every face frame: the "
                      "built-in 3D template fitted to the MTCNN landmarks, or PRNet maps made elsewhere (--prnet-dir).",
        {"--frames": "frames root holding <video>/faces.json (data.detect_faces)",
         "--out": "depth root: <out>/<video>/<video>_<NNN>_depth1D.jpg"})
    p.add_argument("--prnet-dir", default=None,
                   help="take PRNet maps from DIR/<video>/<video>_<NNN>_depth1D.jpg|png instead (copied unchanged)")
    p.add_argument("--quality", type=int, default=DEFAULT_QUALITY, help=f"JPEG quality (default {DEFAULT_QUALITY})")
    p.add_argument("--overwrite", action="store_true", help="redo videos already marked done")
    return p


def main(argv: list[str] | None = None) -> int:
    def run(a: argparse.Namespace) -> dict[str, Any]:
        return make_depth(a.frames, a.out, prnet_dir=a.prnet_dir, workers=a.workers, quality=a.quality,
                          overwrite=a.overwrite, shard=a.shard)

    return stage_main("make_depth", build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
