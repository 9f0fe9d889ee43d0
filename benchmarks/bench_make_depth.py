"""Built-in depth generator: agreement with the synthetic renderer's true depth, speed, peak memory.

    python benchmarks/bench_make_depth.py [--preset demo] [--videos 14] [--every 2] [--size 640x480]
    python benchmarks/bench_make_depth.py --oulu-root datasets/synth_oulu --work datasets/demo_work

Agreement (live synthetic frames): by default the live videos of a ``data.synth`` preset are
rendered in memory (``data.synth.render_video``), faces are found with ``data.detect_faces``'
detector settings, and the map ``data.make_depth`` would write (uint8, through a JPEG round
trip) is compared with the renderer's true depth. With ``--oulu-root``/``--work`` the maps a
preprocessing run already wrote (``<work>/depth``) are compared with ``<oulu-root>/true_depth``.
Reported, per frame then averaged:

* Pearson r on the face (pixels both maps call face; the written map's face is where it is at
  least 16, above the JPEG ringing around the outline): does the depth have the right shape;
* Pearson r on the true face mask, counting the generator's zeros there (shape and extent);
* the share of the true face the map covers, and the IoU of the two face masks (the renderer's
  face ends at the eyebrows, where its hair begins; the generator's covers the forehead).

Speed at 640x480 on one CPU core: the renderer alone, renderer + JPEG encoding, and the whole
``data.make_depth`` stage (read faces.json, render, write, one worker) in frames/s; peak
resident memory of the stage process. Prints markdown tables.
"""

from __future__ import annotations

import argparse
import json
import math
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

from fas_core import fileio  # noqa: E402
from fas_core.face_depth import pearson_inside, render_depth  # noqa: E402
from fas_core.face_detector import Face, make_faces_index, read_faces_index  # noqa: E402

# ----------------------------------------------------------------------------- agreement
# A written map's face pixels are >= ~90 (the template's rim stands well in front of its back);
# JPEG ringing puts values up to ~8 just outside the face. This level tells the two apart.
FACE_LEVEL = 16


def frame_scores(pred_u8: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """Agreement of one generated map (uint8, as written) with the true depth (float, 0 off the face)."""
    pred = pred_u8.astype(np.float32)
    pm, tm = pred >= FACE_LEVEL, true > 0
    both = pm & tm
    out = {
        "r_face": pearson_inside(np.where(both, pred, 0), np.where(both, true, 0)),
        "r_true_mask": pearson_inside(pred, true),
        "coverage": float(both.sum() / max(tm.sum(), 1)),
        "mask_iou": float(both.sum() / max((pm | tm).sum(), 1)),
    }
    return out


def _jpeg_roundtrip(img: np.ndarray, quality: int = 95) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)


def agreement_in_memory(preset: str, n_videos: int, every: int, size: tuple[int, int] | None,
                        seed: int = 0) -> tuple[list[dict], int, str]:
    import torch

    from data.detect_faces import default_detector
    from data.synth import SynthConfig, render_video

    torch.set_num_threads(1)
    overrides = {"width": size[0], "height": size[1]} if size else {}
    cfg = SynthConfig(preset=preset, seed=seed, overrides=overrides)
    live = [n for n in cfg.spec.video_names() if n.endswith("_1")]
    # Spread the chosen videos over users, phones and sessions.
    step = max(1, len(live) // max(n_videos, 1))
    names = live[::step][:n_videos]
    det = default_detector()
    scores, missed = [], 0
    for name in names:
        v = render_video(cfg, name)
        idx = list(range(0, len(v.frames), every))
        faces = det.detect([v.frames[i] for i in idx])
        for i, face in zip(idx, faces, strict=True):
            if face is None:
                missed += 1
                continue
            h, w = v.frames[i].shape[:2]
            pred = _jpeg_roundtrip(render_depth((w, h), face.landmarks, face.box))
            scores.append(frame_scores(pred, v.depth[i].astype(np.float32)))
    h, w = cfg.spec.height, cfg.spec.width
    return scores, missed, f"{len(names)} live videos of preset '{preset}' ({w}x{h}, every {every}. frame)"


def agreement_from_files(oulu_root: Path, work: Path) -> tuple[list[dict], int, str]:
    scores, missed = [], 0
    files = sorted((oulu_root / "true_depth").glob("*.npz"))
    if not files:
        raise FileNotFoundError(f"no true depth files in {oulu_root / 'true_depth'}")
    n_videos = 0
    for f in files:
        video = f.stem
        index_path = work / "frames" / video / "faces.json"
        if not index_path.is_file():
            continue
        n_videos += 1
        true = np.load(f)["depth"]
        index = read_faces_index(index_path)
        for idx, face in sorted(index.faces.items()):
            dpath = fileio.depth_path(work / "depth", video, idx)
            if face is None or not dpath.is_file() or idx > len(true):
                missed += 1
                continue
            pred = fileio.read_image(dpath, grey=True)
            scores.append(frame_scores(pred, true[idx - 1].astype(np.float32)))
    return scores, missed, f"{n_videos} live videos preprocessed in {work} (frames extracted with every=1)"


# ----------------------------------------------------------------------------- speed
def _posed_faces(n: int, size: tuple[int, int], seed: int = 0) -> list[Face]:
    """Plausible faces (landmarks + box) of random size, position and yaw in a ``size`` frame."""
    from fas_core.face_depth import build_template

    rng = np.random.default_rng(seed)
    tpl = build_template()
    W, H = size
    faces = []
    for _ in range(n):
        s = rng.uniform(0.12, 0.2) * W
        a, b = math.radians(rng.uniform(-25, 25)), math.radians(rng.uniform(-10, 10))
        ry = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
        rx = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
        c = np.array([rng.uniform(0.35, 0.65) * W, rng.uniform(0.3, 0.45) * H])
        lm = s * (tpl.landmarks @ (rx @ ry).T)[:, :2] + c
        box = (c[0] - 1.05 * s, c[1] - 0.95 * s, 2.1 * s, 2.6 * s)
        faces.append(Face(box=box, landmarks=lm, confidence=1.0))
    return faces


def speed(n: int, size: tuple[int, int]) -> dict[str, float]:
    faces = _posed_faces(n, size)
    render_depth(size, faces[0].landmarks, faces[0].box)  # template cache
    out = {}
    for name, fn in (("render", lambda f: render_depth(size, f.landmarks, f.box)),
                     ("render + JPEG", lambda f: cv2.imencode(".jpg", render_depth(size, f.landmarks, f.box),
                                                             [cv2.IMWRITE_JPEG_QUALITY, 95]))):
        t, c = time.perf_counter(), time.process_time()
        for f in faces:
            fn(f)
        out[name] = (n / (time.perf_counter() - t), n / (time.process_time() - c))
    return out


def stage_speed(n: int, size: tuple[int, int]) -> tuple[float, float, float]:
    """frames/s (wall, CPU) and peak RSS (MB) of ``python -m data.make_depth`` on ``n`` faces, one worker."""
    faces = _posed_faces(n, size, seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        frames = Path(tmp) / "frames"
        per_video = 50
        for v in range(0, n, per_video):
            video = f"1_1_{v // per_video + 1:02d}_1"
            chunk = {i + 1: f for i, f in enumerate(faces[v:v + per_video])}
            (frames / video).mkdir(parents=True)
            fileio.write_json(frames / video / "faces.json", make_faces_index(video, size, chunk))
        # VmHWM (peak RSS of this process image) rather than ru_maxrss, which Linux carries over
        # from the forking parent.
        cmd = [sys.executable, "-c",
               "import sys, time; from data.make_depth import main; "
               "t, c = time.perf_counter(), time.process_time(); "
               f"main(['--frames', {str(frames)!r}, '--out', {str(Path(tmp) / 'depth')!r}]); "
               "hwm = [ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('VmHWM')][0]; "
               "print('BENCH', time.perf_counter() - t, time.process_time() - c, hwm, file=sys.stderr)"]
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
        line = [ln for ln in r.stderr.splitlines() if ln.startswith("BENCH")][-1].split()
        wall, cpu, rss = float(line[1]), float(line[2]), float(line[3]) / 1024
        written = len(list((Path(tmp) / "depth").rglob("*_depth1D.jpg")))
        assert written == n, f"the stage wrote {written} maps, expected {n}"
    return n / wall, n / cpu, rss


def _size(text: str) -> tuple[int, int]:
    w, h = text.lower().split("x")
    return int(w), int(h)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="demo", help="synthetic preset whose live videos are rendered (default demo)")
    p.add_argument("--videos", type=int, default=14, help="live videos to render (default 14)")
    p.add_argument("--every", type=int, default=2, help="use every k-th frame (default 2)")
    p.add_argument("--size", type=_size, default=None, help="render the synthetic videos at WxH instead")
    p.add_argument("--oulu-root", type=Path, default=None, help="score a finished preprocessing run instead: "
                   "the synthetic dataset (true_depth/) ...")
    p.add_argument("--work", type=Path, default=None, help="... and its work root (frames/, depth/)")
    p.add_argument("--speed-frames", type=int, default=300, help="frames for the speed measurements (default 300)")
    p.add_argument("--skip-agreement", action="store_true")
    args = p.parse_args(argv)
    cv2.setNumThreads(1)

    if not args.skip_agreement:
        if args.oulu_root or args.work:
            if not (args.oulu_root and args.work):
                p.error("--oulu-root and --work go together")
            scores, missed, what = agreement_from_files(args.oulu_root, args.work)
        else:
            scores, missed, what = agreement_in_memory(args.preset, args.videos, args.every, args.size)
        keys = ("r_face", "r_true_mask", "coverage", "mask_iou")
        arr = {k: np.array([s[k] for s in scores], dtype=np.float64) for k in keys}
        print(f"\nBuilt-in depth vs the renderer's true depth: {len(scores)} live frames ({what}); "
              f"{missed} frames without a detected face\n")
        print("| figure | mean | 10th percentile | min |")
        print("|---|---|---|---|")
        names = {"r_face": "Pearson r on the face (pixels both maps call face)",
                 "r_true_mask": "Pearson r on the true face mask (zeros of the map counted)",
                 "coverage": "share of the true face covered", "mask_iou": "IoU of the face masks"}
        for k in keys:
            a = arr[k][np.isfinite(arr[k])]
            print(f"| {names[k]} | {a.mean():.3f} | {np.percentile(a, 10):.3f} | {a.min():.3f} |")

    size = (640, 480)
    sp = speed(args.speed_frames, size)
    fps_w, fps_c, rss = stage_speed(args.speed_frames, size)
    print(f"\nSpeed at {size[0]}x{size[1]}, one CPU core, {args.speed_frames} frames\n")
    print("| what | frames/s (wall) | frames/s (CPU time) | peak RSS (MB) |")
    print("|---|---|---|---|")
    for name, (w, c) in sp.items():
        print(f"| {name} | {w:.0f} | {c:.0f} | |")
    print(f"| data.make_depth stage (read faces.json, render, write JPEG; 1 worker) | {fps_w:.0f} | {fps_c:.0f} | "
          f"{rss:.0f} |")
    print(json.dumps({"stage_fps_wall": round(fps_w, 1), "stage_fps_cpu": round(fps_c, 1), "stage_peak_rss_mb":
                      round(rss, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
