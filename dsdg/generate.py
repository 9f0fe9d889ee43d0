"""Sample (spoof, live) pairs from a trained DSDG generator and hand them to DUM (docs/methods/dsdg.md, Generation).

    python -m dsdg.generate --run-dir work_dirs/dsdg_demo --out datasets/demo_work/dsdg_generated [--preset paper]

For each pair, ``z_type`` and ``z_id`` are drawn from N(0, I) and ``cat(z_type, z_id, z_id)`` is
decoded (the same identity noise in both identity slots). Pairs are grouped ``--frames-per-video``
at a time into two "videos", ``gen_<GGGGG>_spoof`` and ``gen_<GGGGG>_live``: frame ``NNN`` of
the one is the spoof half of the pair whose live half is frame ``NNN`` of the other. Images are
quantised with ``round(255 * x)``.

How many (:data:`PRESETS`): ``--num-pairs`` / ``--frames-per-video`` when given, else those of
``--preset``, else of the generator's training config (``generate.preset``; the DSDG paper
config says ``paper``): ``demo`` is 200 pairs in videos of 10; ``paper`` the original's DUM list,
350 live and 350 spoof videos of 99 frames (its loader draws frames 1-99 of each generated video).

Written under ``--out``:

* ``frames/<video>/<video>_<NNN>_scene.jpg`` + ``_scene.dat`` (face box) + ``faces.json``;
* ``depth/<video>/<video>_<NNN>_depth1D.jpg``: live frames get the built-in template depth
  (:mod:`fas_core.face_depth`) fitted to the 5 MTCNN landmarks detected on the generated face;
  when MTCNN finds no face (or a box that does not cover the centred face), the landmarks are the
  mean landmark layout of the generator's training crops (stored in the checkpoint), else the
  detector's mean layout inside the crop box. ``faces.json`` records which (``"source"``:
  ``mtcnn`` / ``template``). Spoof frames get all-zero depth (DUM's attack label);
* ``crops/<video>/<video>_<NNN>_scene.jpg`` (256x256) + ``_depth1D.png`` (32x32): the crop-cache
  entries DUM trains on. A generated image *is* a face crop (scale 1.0 around the detector box,
  the DSDG training crop), so the cache entry is the whole image and its depth resized to 32;
* ``generated.txt``: the list DUM reads (``data.generated_list``), generated videos only:
  ``1,gen_<G>_live`` and ``0,gen_<G>_spoof``; DUM mixes them with the real Train list itself
  (``data.generated_crops`` = ``<out>/crops``);
* ``samples.png``: a grid of sampled pairs (spoof left, live right);
* ``summary.json``: settings and counts, written last: a run whose summary matches the settings
  is complete and is skipped (``--force`` redoes it). An interrupted run resumes: the noise of
  video group ``g`` depends only on ``(seed, g)`` and finished groups (``.done``) are kept.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fas_core import checkpoint as ckpt
from fas_core import fileio
from fas_core.crop import crop_face_and_depth
from fas_core.dist import choose_device
from fas_core.errors import UserError, run_cli
from fas_core.methods import Restored, restore

from .model import DSDG, IMAGE_SIZE, sample_latents

LIST_NAME = "generated.txt"
SUMMARY_NAME = "summary.json"
SETTINGS_NAME = "settings.json"  # written first: a resumed run must use the same settings
FULL_BOX = (0.0, 0.0, float(IMAGE_SIZE), float(IMAGE_SIZE))  # a generated image is the face crop
MIN_IOU = 0.4  # a detection must cover the centred face this well to be trusted
PRESETS = {"demo": (200, 10), "paper": (350 * 99, 99)}  # (pairs, pairs per video pair)


def video_names(group: int) -> tuple[str, str]:
    """``(spoof, live)`` video names of pair group ``group`` (0-based): ``gen_00001_spoof`` ..."""
    return f"gen_{group + 1:05d}_spoof", f"gen_{group + 1:05d}_live"


def group_noise(seed: int, group: int, n: int, hdim: int) -> torch.Tensor:
    """Decoder input ``cat(z_type, z_id, z_id)`` ``[n, 3*hdim]`` of one group, from ``(seed, group)`` only."""
    g_seed = int(np.random.SeedSequence([int(seed), int(group)]).generate_state(1)[0])
    z_type, z_id = sample_latents(n, hdim, torch.Generator().manual_seed(g_seed))
    return torch.cat((z_type, z_id, z_id), dim=1)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """``[N, 3, H, W]`` in [0, 1] -> ``[N, H, W, 3]`` RGB uint8 with ``round(255 * x)`` (not truncation)."""
    return (images.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def restore_generator(path: str | Path) -> Restored:
    """A DSDG training checkpoint rebuilt from its record; another method's checkpoint is an error."""
    restored = restore(path)
    if restored.method.name != "dsdg":
        raise UserError(f"{path} is a '{restored.method.name}' checkpoint, not a DSDG generator")
    return restored


def load_generator(path: str | Path, device: torch.device | str = "cpu") -> tuple[DSDG, dict[str, Any]]:
    """The DSDG networks of a training checkpoint (eval mode, rebuilt from its record) and the record's extras."""
    restored = restore_generator(path)
    return restored.model.to(device).eval(), dict(restored.record.extra)


def resolve_volume(args: argparse.Namespace, train_config: dict[str, Any]) -> str:
    """Fill ``args.num_pairs`` / ``args.frames_per_video`` left unset from the preset (see the module docstring)."""
    preset = args.preset or str((train_config.get("generate") or {}).get("preset") or "demo")
    if preset not in PRESETS:
        raise UserError(f"generate.preset must be one of {', '.join(PRESETS)}, got {preset!r}")
    pairs, per_video = PRESETS[preset]
    args.num_pairs = pairs if args.num_pairs is None else args.num_pairs
    args.frames_per_video = per_video if args.frames_per_video is None else args.frames_per_video
    return preset


def default_checkpoint(run_dir: str | Path) -> Path:
    """The final weights of a run (``last.pt``); ``best.pt`` only when there is no ``last.pt``."""
    return ckpt.find_checkpoint(run_dir, prefer=("last.pt", "best.pt"))


def fallback_landmarks(geometry: Sequence[Sequence[float]] | None) -> np.ndarray:
    """Landmarks of the centred face of a generated crop: training mean layout, else the detector's."""
    if geometry is not None:
        return np.asarray(geometry, dtype=np.float64).reshape(5, 2) * IMAGE_SIZE
    from fas_core.face_depth import landmarks_from_box

    return landmarks_from_box(FULL_BOX)


class FaceFinder:
    """MTCNN on generated images, with the centred-face fallback."""

    def __init__(self, detect: bool, geometry: Sequence[Sequence[float]] | None, device: str = "cpu") -> None:
        self.detector = None
        if detect:
            from fas_core.face_detector import FaceDetector

            # Faces fill the crop: a large minimum size skips MTCNN's fine pyramid levels.
            self.detector = FaceDetector(min_face_size=IMAGE_SIZE * 0.35, batch_size=32, device=device)
        self.template = fallback_landmarks(geometry)

    def settings(self) -> dict[str, Any]:
        return {"detector": self.detector.settings() if self.detector else None, "min_iou": MIN_IOU,
                "fallback_landmarks": np.round(self.template, 2).tolist()}

    def find(self, images_rgb: Sequence[np.ndarray]) -> list[dict[str, Any]]:
        """Per image: ``{"box", "landmarks", "confidence", "source"}`` (``mtcnn`` or ``template``)."""
        from fas_core.face_detector import box_iou

        found = self.detector.detect(list(images_rgb)) if self.detector else [None] * len(images_rgb)
        out = []
        for face in found:
            if face is not None and box_iou(face.box, FULL_BOX) >= MIN_IOU:
                out.append({"box": tuple(float(v) for v in face.box), "landmarks": np.asarray(face.landmarks),
                            "confidence": float(face.confidence), "source": "mtcnn"})
            else:
                out.append({"box": FULL_BOX, "landmarks": self.template.copy(), "confidence": 0.0,
                            "source": "template"})
        return out


def live_depth(face: dict[str, Any]) -> np.ndarray:
    """Template depth of a generated live face (uint8, image size)."""
    from fas_core.face_depth import render_depth

    return render_depth((IMAGE_SIZE, IMAGE_SIZE), face["landmarks"], face["box"])


def write_video(out: Path, video: str, images_rgb: Sequence[np.ndarray], faces: Sequence[dict[str, Any]],
                live: bool, detector: dict[str, Any]) -> None:
    """All files of one generated video (frames, boxes, faces.json, depth, crop cache), then ``.done``."""
    from fas_core.face_detector import Face, faces_index_path, make_faces_index

    frames_root, depth_root, crops_root = out / "frames", out / "depth", out / "crops"
    index_faces, sources = {}, {}
    for k, (rgb, face) in enumerate(zip(images_rgb, faces, strict=True), start=1):
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        depth = live_depth(face) if live else np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.uint8)
        fileio.write_image(fileio.frame_path(frames_root, video, k), bgr)
        fileio.write_bbox(fileio.bbox_path(frames_root, video, k), face["box"])
        fileio.write_image(fileio.depth_path(depth_root, video, k), depth)
        crop, dcrop = crop_face_and_depth(bgr, depth, FULL_BOX, scale=1.0, image_size=IMAGE_SIZE, depth_size=32)
        fileio.write_image(fileio.frame_path(crops_root, video, k), crop)
        fileio.write_image(fileio.depth_path(crops_root, video, k, "png"), dcrop)
        index_faces[k] = Face(box=face["box"], landmarks=face["landmarks"], confidence=face["confidence"])
        sources[f"{k:03d}"] = face["source"]
    index = make_faces_index(video, (IMAGE_SIZE, IMAGE_SIZE), index_faces, detector=detector)
    for key, source in sources.items():  # where the landmarks come from (read_faces_index ignores it)
        index["frames"][key]["source"] = source
    fileio.write_json(faces_index_path(frames_root, video), index)
    for root in (depth_root, crops_root, frames_root):  # frames last: it marks the video complete
        fileio.mark_done(root / video)


def group_done(out: Path, group: int) -> bool:
    return all(fileio.is_done(out / root / v) for v in video_names(group) for root in ("frames", "depth", "crops"))


def write_list(out: Path, groups: int) -> Path:
    """``generated.txt``: ``1,gen_G_live`` / ``0,gen_G_spoof`` for every group."""
    lines = []
    for g in range(groups):
        spoof, live = video_names(g)
        lines += [f"1,{live}", f"0,{spoof}"]
    path = out / LIST_NAME
    fileio.atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def write_grid(out: Path, pairs: Sequence[tuple[np.ndarray, np.ndarray]], per_row: int = 4) -> Path:
    """``samples.png``: pairs side by side (spoof | live), ``per_row`` pairs per row, 128 px tiles."""
    import cv2

    tile, pad = 128, 4
    rows = (len(pairs) + per_row - 1) // per_row
    canvas = np.full((rows * (tile + pad) + pad, per_row * (2 * tile + 3 * pad) + pad, 3), 255, np.uint8)
    for i, (spoof, live) in enumerate(pairs):
        r, c = divmod(i, per_row)
        y = pad + r * (tile + pad)
        x = pad + c * (2 * tile + 3 * pad)
        for j, img in enumerate((spoof, live)):
            small = cv2.resize(img, (tile, tile), interpolation=cv2.INTER_AREA)
            canvas[y:y + tile, x + j * (tile + pad):x + j * (tile + pad) + tile] = small
    path = out / "samples.png"
    fileio.write_image(path, canvas[:, :, ::-1])
    return path


def settings_of(args: argparse.Namespace, checkpoint: Path) -> dict[str, Any]:
    return {"checkpoint": str(checkpoint.resolve()), "num_pairs": int(args.num_pairs), "seed": int(args.seed),
            "frames_per_video": int(args.frames_per_video), "detect": not args.no_detect}


def is_complete(out: Path, settings: dict[str, Any]) -> bool:
    """True when ``out`` holds a finished generation made with the same settings."""
    path = out / SUMMARY_NAME
    if not path.is_file():
        return False
    try:
        done = fileio.read_json(path)
    except ValueError:
        return False
    return all(done.get("settings", {}).get(k) == v for k, v in settings.items())


def generate(model: DSDG, out: Path, num_pairs: int, frames_per_video: int = 10, seed: int = 0,
             batch_size: int = 16, finder: FaceFinder | None = None, grid_pairs: int = 16) -> dict[str, Any]:
    """Write ``num_pairs`` pairs under ``out`` (see the module docstring); returns counts and timings."""
    if num_pairs < 1 or frames_per_video < 1:
        raise ValueError(f"num_pairs ({num_pairs}) and frames_per_video ({frames_per_video}) must be at least 1")
    finder = finder or FaceFinder(detect=False, geometry=None)
    device = next(model.parameters()).device
    n_groups = (num_pairs + frames_per_video - 1) // frames_per_video
    sizes = [min(frames_per_video, num_pairs - g * frames_per_video) for g in range(n_groups)]
    pending = [g for g in range(n_groups) if not group_done(out, g)]
    counts = {"mtcnn": 0, "template": 0}
    t_decode = t_write = 0.0
    grid: list[tuple[np.ndarray, np.ndarray]] = []
    t0 = time.time()
    # Whole groups per decoder batch (at least one group), so a group's files are written together.
    chunk: list[int] = []
    for i, g in enumerate(pending):
        chunk.append(g)
        if i + 1 < len(pending) and sum(sizes[c] for c in chunk) + sizes[pending[i + 1]] <= batch_size:
            continue
        t1 = time.time()
        z = torch.cat([group_noise(seed, c, sizes[c], model.hdim) for c in chunk]).to(device)
        with torch.no_grad():
            fake = model.decoder(z)
        spoof_all, live_all = to_uint8(fake[:, :3]), to_uint8(fake[:, 3:])
        t2 = time.time()
        faces_all = finder.find(list(spoof_all) + list(live_all))
        n = len(spoof_all)
        start = 0
        for c in chunk:
            sl = slice(start, start + sizes[c])
            spoof_v, live_v = video_names(c)
            write_video(out, spoof_v, spoof_all[sl], faces_all[:n][sl], live=False, detector=finder.settings())
            write_video(out, live_v, live_all[sl], faces_all[n:][sl], live=True, detector=finder.settings())
            start += sizes[c]
        for f in faces_all:
            counts[f["source"]] += 1
        if len(grid) < grid_pairs:
            grid += list(zip(spoof_all, live_all, strict=True))[:grid_pairs - len(grid)]
        t_decode += t2 - t1
        t_write += time.time() - t2
        done = sum(sizes[c] for c in pending[:i + 1])
        print(f"[dsdg.generate] {done}/{sum(sizes[c] for c in pending)} pairs "
              f"({2 * done / max(time.time() - t0, 1e-9):.1f} images/s)", flush=True)
        chunk = []
    if len(grid) < min(grid_pairs, num_pairs):  # resumed run: read the first pairs back for the grid
        grid = []
        for g in range(n_groups):
            spoof_v, live_v = video_names(g)
            for k in range(1, sizes[g] + 1):
                if len(grid) >= grid_pairs:
                    break
                grid.append(tuple(fileio.read_image(fileio.frame_path(out / "frames", v, k))[:, :, ::-1]
                                  for v in (spoof_v, live_v)))
    list_path = write_list(out, n_groups)
    grid_path = write_grid(out, grid)
    generated = sum(sizes[c] for c in pending)
    return {"pairs": num_pairs, "groups": n_groups, "videos": 2 * n_groups, "generated_now": generated,
            "landmarks_from": counts, "list": str(list_path), "crops": str(out / "crops"), "grid": str(grid_path),
            "seconds": {"decode": round(t_decode, 2), "detect_depth_write": round(t_write, 2),
                        "total": round(time.time() - t0, 2)},
            "images_per_s_decode": round(2 * generated / t_decode, 2) if t_decode > 0 else None}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Sample (spoof, live) pairs from a trained DSDG generator; write frames, depth, crop cache and "
                    "the generated list that DUM trains on (data.generated_list / data.generated_crops).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--checkpoint", default=None, help="generator checkpoint (a DSDG last.pt / best.pt)")
    src.add_argument("--run-dir", default="work_dirs/dsdg_demo", help="training run: uses its last.pt")
    p.add_argument("--out", default="datasets/demo_work/dsdg_generated", help="output folder")
    p.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help="demo: 200 pairs, 10 per video; paper: 350 videos of 99 pairs, the original's DUM list "
                        "(default: the generator's training config, generate.preset)")
    p.add_argument("--num-pairs", type=int, default=None, help="pairs to sample (default: the preset's)")
    p.add_argument("--frames-per-video", type=int, default=None,
                   help="pairs per generated video (default: the preset's)")
    p.add_argument("--seed", type=int, default=0, help="noise seed")
    p.add_argument("--batch-size", type=int, default=16, help="decoder batch size")
    p.add_argument("--grid-pairs", type=int, default=16, help="pairs shown in samples.png")
    p.add_argument("--no-detect", action="store_true",
                   help="skip MTCNN: live depth from the centred-face landmark layout for every frame")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--force", action="store_true", help="regenerate even when a matching run is complete")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(_main, argv)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    given = [v for v in (args.num_pairs, args.frames_per_video, args.batch_size) if v is not None]
    if min(given) < 1:
        parser.error("--num-pairs, --frames-per-video and --batch-size must be at least 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    checkpoint = Path(args.checkpoint) if args.checkpoint else default_checkpoint(args.run_dir)
    out = Path(args.out)
    restored = restore_generator(checkpoint)
    preset = resolve_volume(args, restored.record.config)
    print(f"[dsdg.generate] {args.num_pairs} pairs in videos of {args.frames_per_video} (preset {preset}; "
          f"--num-pairs / --frames-per-video override it)", flush=True)
    settings = settings_of(args, checkpoint)
    if not args.force and is_complete(out, settings):
        print(f"[dsdg.generate] {out} already holds {args.num_pairs} pairs from {checkpoint}: skipped "
              f"(--force to redo)")
        return 0
    previous = fileio.read_json(out / SETTINGS_NAME) if (out / SETTINGS_NAME).is_file() else None
    if args.force or (previous is not None and previous != settings):
        # never mix two generations: other settings (or --force) start from scratch
        _clear(out)
    elif previous is not None:
        print(f"[dsdg.generate] resuming the unfinished generation in {out}")
    fileio.write_json(out / SETTINGS_NAME, settings)
    device = choose_device(args.device)
    model, meta = restored.model.to(device).eval(), dict(restored.record.extra)
    if not meta.get("identity_net", True):
        print("[dsdg.generate] note: this generator was trained without the identity network (identity losses off)")
    finder = FaceFinder(detect=not args.no_detect, geometry=meta.get("face_geometry"),
                        device="cuda" if device.type == "cuda" else "cpu")
    result = generate(model, out, args.num_pairs, args.frames_per_video, args.seed, args.batch_size, finder,
                      args.grid_pairs)
    summary = {"settings": settings, **result, "finder": finder.settings()}
    fileio.write_json(out / SUMMARY_NAME, summary)
    lm = result["landmarks_from"]
    print(f"[dsdg.generate] {args.num_pairs} pairs in {result['videos']} videos under {out}; landmarks: "
          f"{lm['mtcnn']} detected, {lm['template']} from the centred-face layout; list {result['list']}; "
          f"grid {result['grid']}")
    return 0


def _clear(out: Path) -> None:
    """Remove a previous generation's outputs (only the folders and files this tool writes)."""
    import shutil

    for name in ("frames", "depth", "crops"):
        if (out / name).is_dir():
            shutil.rmtree(out / name)
    for name in (LIST_NAME, SUMMARY_NAME, SETTINGS_NAME, "samples.png"):
        (out / name).unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
