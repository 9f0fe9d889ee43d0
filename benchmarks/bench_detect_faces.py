"""Face detection speed: data.detect_faces' batched, downscaled MTCNN against one full-resolution call per frame.

    python benchmarks/bench_detect_faces.py [--source synth|astronaut] [--frames DIR] [--n 48] [--threads 1]

Both ways run on the same frames in the same run, each in a fresh process (so that the peak
resident memory of each is its own): the baseline is facenet-pytorch's ``MTCNN()`` with its
defaults (minimum face 20 px, full resolution), called once per frame; the stage's way is
:class:`fas_core.face_detector.FaceDetector` with ``data.detect_faces``' defaults (batches,
frames shrunk to a 400-pixel longer side, minimum face 0.15 x the shorter side, pyramid step
0.6), alone and as the whole stage (``data.detect_faces`` reading JPEG frames, writing files). Box
quality is the mean IoU of the stage's boxes against the baseline's on the frames where the
baseline finds a face. Frames: ``--frames`` (a frames root, e.g. the demo's
``datasets/demo_work/frames``; the first ``--n`` frames of one size), else 640x480 frames made
from ``skimage.data.astronaut()`` with random scale, rotation and shift. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def astronaut_frames(n: int, size: tuple[int, int] = (640, 480), seed: int = 0) -> np.ndarray:
    """``n`` RGB frames: the portrait scaled, rotated and shifted at random, on a replicated border."""
    from skimage import data as skdata

    img = skdata.astronaut()
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        s = rng.uniform(0.9, 1.4)
        ang = rng.uniform(-12, 12)
        m = cv2.getRotationMatrix2D((225.0, 120.0), ang, s)
        m[:, 2] += [size[0] / 2 - 225.0 + rng.uniform(-120, 120), size[1] / 2 - 120.0 + rng.uniform(-60, 80)]
        out.append(cv2.warpAffine(img, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))
    return np.stack(out)


def synth_frames(n: int, size: tuple[int, int] = (640, 480), preset: str = "demo", seed: int = 0) -> np.ndarray:
    """``n`` RGB frames of the synthetic OULU-NPU (live, print and replay videos alike), rendered at ``size``."""
    from data.synth import SynthConfig, render_video

    cfg = SynthConfig(preset=preset, seed=seed, overrides={"width": size[0], "height": size[1]})
    names = cfg.spec.video_names()
    per_video = 4
    picked = names[:: max(1, len(names) // max(1, n // per_video))][: (n + per_video - 1) // per_video]
    out = []
    for name in picked:
        v = render_video(cfg, name)
        step = max(1, len(v.frames) // per_video)
        out += list(v.frames[::step][:per_video])
    return np.stack(out[:n])


def folder_frames(frames_root: Path, n: int) -> np.ndarray:
    """The first ``n`` frames of the most common size under a frames root (RGB), spread over videos."""
    from fas_core import fileio

    paths = sorted(frames_root.glob("*/*_scene.jpg"))
    if not paths:
        raise FileNotFoundError(f"no *_scene.jpg frames under {frames_root}")
    step = max(1, len(paths) // n)
    imgs = [cv2.cvtColor(fileio.read_image(p), cv2.COLOR_BGR2RGB) for p in paths[::step][: 4 * n]]
    shapes = [im.shape for im in imgs]
    common = max(set(shapes), key=shapes.count)
    return np.stack([im for im in imgs if im.shape == common][:n])


def peak_rss_kb() -> float:
    """Peak resident memory of this process image (kB): VmHWM on Linux, else ru_maxrss.

    ru_maxrss is not used on Linux because it carries over the forking parent's peak.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM"):
                    return float(line.split()[1])
    except OSError:
        pass
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def run_child(mode: str, frames_file: str, out_file: str, threads: int, device: str) -> None:
    """One way of detecting, in this (fresh) process; writes boxes and timings to ``out_file``."""
    import torch

    torch.set_num_threads(threads)
    frames = np.load(frames_file)["frames"]
    rss0 = peak_rss_kb()
    if mode == "per_frame":
        from facenet_pytorch import MTCNN

        mtcnn = MTCNN(keep_all=True, select_largest=False, device=device)  # library defaults otherwise

        def run(fr: np.ndarray) -> list:
            out = []
            for f in fr:
                with torch.inference_mode():
                    b, p = mtcnn.detect(f)
                if b is None or len(b) == 0:
                    out.append(None)
                else:
                    b = np.asarray(b, dtype=np.float64)[int(np.argmax(np.asarray(p, dtype=np.float64)))]
                    out.append([b[0], b[1], b[2] - b[0], b[3] - b[1]])
            return out
    elif mode == "stage":
        from data.detect_faces import detect_faces
        from fas_core import fileio
        from fas_core.face_detector import read_faces_index

        def write_root(root: Path, fr: np.ndarray, per_video: int = 16) -> None:
            for i, f in enumerate(fr):
                video = f"1_1_{i // per_video + 1:02d}_1"
                bgr = cv2.cvtColor(f, cv2.COLOR_RGB2BGR)
                fileio.write_image(fileio.frame_path(root, video, i % per_video + 1), bgr)

        tmp = Path(tempfile.mkdtemp())
        counter = iter(range(1000))

        def run(fr: np.ndarray) -> list:
            root = tmp / f"run{next(counter)}"
            write_root(root, fr)  # (small) part of the timed work: the stage reads JPEG files, not arrays
            detect_faces(root, device=device, threads=threads)
            out = []
            for video in sorted(p.name for p in root.iterdir() if p.is_dir()):
                index = read_faces_index(root / video / "faces.json")
                out += [None if f is None else list(f.box) for _, f in sorted(index.faces.items())]
            return out
    else:
        from data.detect_faces import default_detector

        det = default_detector(device=device)

        def run(fr: np.ndarray) -> list:
            return [None if f is None else list(f.box) for f in det.detect(list(fr))]
    run(frames[:2])  # warm-up (first-call allocations, lazy init)
    t, c = time.perf_counter(), time.process_time()
    boxes = run(frames)
    seconds, cpu_seconds = time.perf_counter() - t, time.process_time() - c
    rss1 = peak_rss_kb()
    if mode == "stage":
        shutil.rmtree(tmp, ignore_errors=True)
    with open(out_file, "w") as f:
        json.dump({"boxes": boxes, "seconds": seconds, "cpu_seconds": cpu_seconds, "peak_rss_mb": rss1 / 1024,
                   "rss_increase_mb": (rss1 - rss0) / 1024}, f)


def box_iou(a, b) -> float:
    from fas_core.face_detector import box_iou as iou

    return iou(a, b)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--source", choices=("synth", "astronaut"), default="synth",
                   help="synth: frames of the synthetic OULU-NPU (demo preset's videos, all kinds) rendered at "
                        "640x480; astronaut: the portrait at random scale/rotation/shift (default synth)")
    p.add_argument("--frames", default=None, help="take the frames from this frames root instead")
    p.add_argument("--n", type=int, default=48, help="number of frames (default 48)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1: one CPU core)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--child", nargs=3, metavar=("MODE", "FRAMES", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        run_child(args.child[0], args.child[1], args.child[2], args.threads, args.device)
        return 0
    if args.frames:
        frames, source = folder_frames(Path(args.frames), args.n), args.frames
    elif args.source == "synth":
        frames, source = synth_frames(args.n), "synthetic OULU-NPU, demo videos of every kind rendered at 640x480"
    else:
        frames, source = astronaut_frames(args.n), "skimage astronaut, random scale/rotation/shift"
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        ff = str(Path(tmp) / "frames.npz")
        np.savez(ff, frames=frames)
        for mode in ("per_frame", "batched", "stage"):
            out = str(Path(tmp) / f"{mode}.json")
            r = subprocess.run([sys.executable, __file__, "--threads", str(args.threads), "--device", args.device,
                                "--child", mode, ff, out], capture_output=True, text=True)
            if r.returncode != 0:
                print(r.stdout, r.stderr, file=sys.stderr)
                raise SystemExit(f"the {mode} run failed (exit {r.returncode})")
            results[mode] = json.loads(Path(out).read_text())
    from data.detect_faces import DEFAULT_BATCH, DEFAULT_FACTOR, DEFAULT_MAX_SIDE, DEFAULT_MIN_FACE_FRAC

    base, fast, stage = results["per_frame"], results["batched"], results["stage"]

    def ious_of(r: dict) -> list[float]:
        pairs = [(a, b) for a, b in zip(base["boxes"], r["boxes"], strict=True) if a is not None]
        return [box_iou(a, b) if b is not None else 0.0 for a, b in pairs]

    ious = ious_of(fast)
    n = len(frames)
    h, w = frames.shape[1:3]
    print(f"\nFace detection, {n} frames {w}x{h} ({source}), device {args.device}, {args.threads} torch thread(s)\n")
    print("| method | frames/s (wall) | frames/s (CPU time) | faces found | mean IoU vs full-res | peak RSS (MB) "
          "| RSS increase (MB) |")
    print("|---|---|---|---|---|---|---|")
    rows = [("MTCNN full resolution, one call per frame (min face 20 px)", base, 1.0),
            (f"data.detect_faces' detector (batches of {DEFAULT_BATCH}, max side {DEFAULT_MAX_SIDE}, min face "
             f"{DEFAULT_MIN_FACE_FRAC:g} x short side, pyramid step {DEFAULT_FACTOR:g})", fast, float(np.mean(ious))),
            ("python -m data.detect_faces stage (reads the JPEG frames, writes .dat + faces.json; 1 worker)", stage,
             float(np.mean(ious_of(stage))))]
    for name, r, iou in rows:
        print(f"| {name} | {n / r['seconds']:.1f} | {n / r['cpu_seconds']:.1f} | "
              f"{sum(b is not None for b in r['boxes'])}/{n} | {iou:.3f} | {r['peak_rss_mb']:.0f} | "
              f"{r['rss_increase_mb']:.0f} |")
    for name, r in (("detector", fast), ("stage", stage)):
        iou = ious_of(r)
        print(f"\nspeed-up of the {name}: {base['seconds'] / r['seconds']:.2f}x wall, "
              f"{base['cpu_seconds'] / r['cpu_seconds']:.2f}x CPU time; "
              f"IoU min {min(iou):.3f}, mean {np.mean(iou):.3f} over {len(iou)} frames")
    return 0


if __name__ == "__main__":
    sys.exit(main())
