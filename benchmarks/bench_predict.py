"""End-to-end prediction latency on the CPU: per image (detection + crop + model) and per 5-frame clip.

    python benchmarks/bench_predict.py [--repeats 5] [--threads 1] [--methods cdcn cdcn_u ...] [--out FILE.md]

Times what ``python -m fas_core.predict`` does for one input: MTCNN on the full frame
(``fas_core.face_detector``), the 1.3x crop resized to the model input and normalised, and the
method's ``score_faces`` on the inference graph (CDC folded, BatchNorm fused; the network as
trained is timed too). The multi-frame FAS-SGTD model is timed per clip: detection on the clip's
first frame, five crops, the model on ``[1, 5, 3, S, S]``. Weights are random (latency does not
depend on them) unless ``--checkpoint`` is given. Each figure is the median of ``--repeats``
runs after one warm-up run; the table is markdown.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from fas_core.crop import TEST_CROP_SCALE  # noqa: E402
from fas_core.export import fuse_model  # noqa: E402
from fas_core.face_detector import PIPELINE_DETECTOR, FaceDetector  # noqa: E402
from fas_core.inference.loading import LoadedModel, load_model, meta_view  # noqa: E402
from fas_core.inference.predictor import Predictor  # noqa: E402
from fas_core.methods import ModelRecord, Restored, get_method  # noqa: E402

SINGLE = ("cdcn", "cdcnpp", "cdcn_u", "sgtd_single")
CLIP_METHOD = "sgtd_multi"


def loaded_random(method: str, size: int, fuse: bool) -> LoadedModel:
    """A method's network with random weights, as predict loads a checkpoint of it (paper score rule)."""
    m = get_method(method)
    args = m.model_args({"input_size": size} if "input_size" in m.default_model_args else {})
    spec = m.input_spec(size, TEST_CROP_SCALE, clip_frames=5 if m.clip else 1, clip_interval=3 if m.clip else 1)
    model = m.build(args).eval()
    meta = meta_view(Restored(model, ModelRecord(method, args, spec, m.default_score_rule), m, "random weights"))
    if fuse:
        model = fuse_model(model)
    return LoadedModel(model=model, meta=meta, module=m, device=torch.device("cpu"), threshold=0.5,
                       threshold_source="benchmark", source="random weights")


def median_ms(fn: Callable[[], Any], repeats: int) -> float:
    """Median wall time of ``fn`` in milliseconds over ``repeats`` runs, after one warm-up run."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000.0 * statistics.median(times)


def bench(predictor: Predictor, plain: Predictor, frame: np.ndarray, clip: int | None, repeats: int) -> dict:
    """Median ms of detection, crop + normalise + face depth map, model (fused and as trained) and the whole chain."""
    frames = [frame] * clip if clip else [frame]
    faces = predictor.detect([frame])[0]
    if not faces:
        raise SystemExit("error: no face found in the benchmark image")
    faces = faces[:1]
    source = frames if clip else frame
    inputs, face_depth = predictor.prepare(source, faces), predictor.face_depth(source, faces)
    with torch.inference_mode():
        row = {
            "detect": median_ms(lambda: predictor.detect([frame]), repeats),
            "crop": median_ms(lambda: (predictor.prepare(source, faces), predictor.face_depth(source, faces)), repeats),
            "model": median_ms(lambda: predictor.run_model(inputs, face_depth), repeats),
            "model_plain": median_ms(lambda: plain.run_model(inputs, face_depth), repeats),
            "total": median_ms(lambda: predictor.predict_clip(frames) if clip else predictor.predict_frames(frames),
                               repeats),
        }
    return row


def table(rows: Sequence[tuple[str, str, dict]], repeats: int, threads: int, image: str) -> str:
    lines = [
        f"CPU latency, median of {repeats} runs (one warm-up), {threads} torch thread(s), "
        f"{platform.processor() or platform.machine()}, torch {torch.__version__}; input {image}.",
        "",
        "| model | unit | MTCNN detect (ms) | crop, normalise, face depth map (ms) | model, fused (ms) "
        "| model as trained (ms) | end to end (ms) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, unit, r in rows:
        lines.append(f"| {name} | {unit} | {r['detect']:.0f} | {r['crop']:.1f} | {r['model']:.0f} | "
                     f"{r['model_plain']:.0f} | {r['total']:.0f} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--methods", nargs="+", default=[*SINGLE, CLIP_METHOD],
                   help=f"methods to time (single-frame: {', '.join(SINGLE)}; clips: {CLIP_METHOD})")
    p.add_argument("--checkpoint", default=None, help="time this checkpoint instead of random weights")
    p.add_argument("--image", default=None, help="image file (default: skimage.data.astronaut(), 512x512)")
    p.add_argument("--input-size", type=int, default=256, help="model input size for random-weight models")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per figure (median)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--out", default=None, help="also write the markdown table here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.image:
        import cv2

        bgr = cv2.imread(args.image)
        if bgr is None:
            p.error(f"{args.image}: not a readable image")
        frame, image_name = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), args.image
    else:
        from skimage import data

        frame, image_name = np.ascontiguousarray(data.astronaut()), "skimage astronaut 512x512"
    detector = FaceDetector(**PIPELINE_DETECTOR)  # predict's defaults (data.detect_faces's settings)
    rows = []
    if args.checkpoint:
        loaded, plain = load_model(args.checkpoint, fuse=True), load_model(args.checkpoint)
        targets = [(loaded.method, loaded, plain)]
    else:
        targets = [(m, loaded_random(m, args.input_size, True), loaded_random(m, args.input_size, False))
                   for m in args.methods]
    for name, loaded, plain in targets:
        clip = loaded.clip[0] if loaded.clip else None
        r = bench(Predictor(loaded, detector), Predictor(plain, detector), frame, clip, args.repeats)
        s = loaded.input_hw[0]
        unit = f"{clip}-frame clip, {s}x{s}" if clip else f"image, {s}x{s} crop"
        rows.append((name, unit, r))
        print(f"{name}: {r}", file=sys.stderr, flush=True)
    text = table(rows, args.repeats, args.threads, image_name)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
