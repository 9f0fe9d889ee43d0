"""The command line of ``python -m fas_core.predict``: sources in, one line per face out, exit status.

Exit status: 0 when every input had a face, 3 when at least one input had none
(``EXIT_NO_FACE``), 1 when an input could not be read or processed, 2 for a usage error (such as
a checkpoint without a threshold and no ``--threshold``, or a checkpoint that cannot be used).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from ..dist import choose_device
from ..errors import run_cli
from ..face_detector import PIPELINE_DETECTOR, FaceDetector
from ..fileio import check_writable_folder, write_image, write_json
from .drawing import VideoSink, annotate, depth_to_grey
from .loading import UsageError, load_model, method_names
from .predictor import FaceResult, Predictor, decision_word
from .sources import Source, expand_inputs, iter_frames, read_rgb

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_NO_FACE = 0, 1, 2, 3


@contextlib.contextmanager
def _stream(sink: VideoSink | None, rec: dict[str, Any]) -> Iterator[None]:
    """Around a frame loop: Ctrl-C ends the input early (what was scored is kept), the video is closed."""
    try:
        yield
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    finally:
        if sink is not None:
            sink.close()
            rec["saved"] = [str(sink.path)]


class Run:
    """Processes sources, prints one line per face and keeps what ``--json`` and the exit status need."""

    def __init__(self, predictor: Predictor, save_dir: Path | None = None, every: int = 1,
                 clip_stride: int | None = None, max_frames: int | None = None, quiet: bool = False,
                 out: Any = None) -> None:
        self.p = predictor
        self.save_dir = save_dir
        self.every = max(1, int(every))
        self.clip_stride = clip_stride
        self.max_frames = max_frames
        self.quiet = quiet
        self.out = out  # None: whatever sys.stdout is when printing
        self.records: list[dict[str, Any]] = []
        self.no_face: list[str] = []
        self.failed: list[str] = []
        self._saved_names: set[str] = set()

    @property
    def threshold(self) -> float | None:
        return self.p.loaded.threshold

    def emit(self, line: str) -> None:
        print(line, file=self.out or sys.stdout, flush=True)

    def face_lines(self, label: str, faces: Sequence[FaceResult]) -> None:
        if not faces:
            self.emit(f"{label} no face found (not scored)")
            return
        thr = "none" if self.threshold is None else f"{self.threshold:.4f}"
        for i, f in enumerate(faces):
            x, y, w, h = (int(round(v)) for v in f.box)
            self.emit(f"{label} face={i + 1}/{len(faces)} score={f.score:.4f} decision={decision_word(f.live)} "
                      f"threshold={thr} box={x},{y},{w},{h} confidence={f.confidence:.3f}")

    def _save_name(self, name: str, suffix: str) -> Path:
        """A unique output path in ``save_dir`` from an input's name (inputs may share a stem)."""
        assert self.save_dir is not None
        stem = Path(name).stem if name else "camera"
        candidate, k = f"{stem}{suffix}", 1
        while candidate in self._saved_names:
            k += 1
            candidate = f"{stem}_{k}{suffix}"
        self._saved_names.add(candidate)
        return self.save_dir / candidate

    # -- sources
    def run(self, sources: Sequence[Source]) -> None:
        for src in sources:
            try:
                if src.kind == "image":
                    self.run_image(src)
                elif self.p.loaded.clip is not None:
                    self.run_clips(src)
                else:
                    self.run_video(src)
            except (OSError, ValueError, RuntimeError, cv2.error) as e:
                self.failed.append(src.name)
                print(f"error: {e}", file=sys.stderr, flush=True)

    def run_image(self, src: Source) -> None:
        if self.p.loaded.clip is not None:
            frames, interval = self.p.loaded.clip
            raise ValueError(f"{src.name}: the multi-frame model scores clips of {frames} frames {interval} apart; "
                             f"give a video, a folder of frames or a camera, not a single image")
        frame = read_rgb(src.files[0])
        faces = self.p.predict_frames([frame])[0]
        self.face_lines(src.name, faces)
        if not faces:
            self.no_face.append(src.name)
        rec: dict[str, Any] = {"input": src.name, "kind": "image", "faces": [f.to_json() for f in faces]}
        if self.save_dir is not None:
            out = self._save_name(src.name, "_pred.png")
            write_image(out, annotate(frame, faces, self.threshold))
            rec["saved"] = [str(out)]
            for i, f in enumerate(faces):
                dpath = out.with_name(out.stem.removesuffix("_pred") + f"_face{i + 1}_depth.png")
                write_image(dpath, depth_to_grey(f.depth))
                rec["saved"].append(str(dpath))
        self.records.append(rec)

    def _frames(self, src: Source) -> tuple[Iterator[tuple[int, np.ndarray]], float]:
        it, fps = iter_frames(src)
        if self.max_frames is not None:
            it = (pair for pair in it if pair[0] <= self.max_frames)
        return it, fps

    def _sink(self, src: Source, fps: float) -> VideoSink | None:
        if self.save_dir is None:
            return None
        return VideoSink(self._save_name(src.name or "camera", "_pred.mp4"), fps)

    def run_video(self, src: Source) -> None:
        """Single-frame model on every ``every``-th frame; the video score is the mean of the first face."""
        frames, fps = self._frames(src)
        sink = self._sink(src, fps)
        rec = {"input": src.name, "kind": src.kind, "frames": []}
        latest: list[FaceResult] | None = None
        n_read = 0
        # a camera answers frame by frame; files are read in batches (faster detection)
        batch = 1 if src.kind == "camera" else self.p.batch_size
        with _stream(sink, rec):
            chunk: list[tuple[int, np.ndarray]] = []
            for idx, frame in frames:
                n_read = idx
                chunk.append((idx, frame))
                if sum(1 for i, _ in chunk if (i - 1) % self.every == 0) >= batch:
                    latest = self._video_chunk(src, chunk, rec, sink, latest)
                    chunk = []
            if chunk:
                latest = self._video_chunk(src, chunk, rec, sink, latest)
        self._finish_sequence(src, rec, n_read, "frames")

    def _video_chunk(self, src: Source, chunk: list[tuple[int, np.ndarray]], rec: dict, sink: VideoSink | None,
                     latest: list[FaceResult] | None) -> list[FaceResult] | None:
        picked = [(i, fr) for i, fr in chunk if (i - 1) % self.every == 0]
        results = dict(zip([i for i, _ in picked], self.p.predict_frames([fr for _, fr in picked]), strict=True))
        for idx, frame in chunk:
            if idx in results:
                latest = results[idx]
                self._record_step(src, rec, idx, latest, "frame")
            if sink is not None:
                sink.write(annotate(frame, latest, self.threshold))
        return latest

    def run_clips(self, src: Source) -> None:
        """Multi-frame model: clips of T frames k apart, a new clip every ``clip_stride`` frames."""
        t, k = self.p.loaded.clip  # type: ignore[misc]
        span = (t - 1) * k + 1
        stride = self.clip_stride or span
        frames, fps = self._frames(src)
        sink = self._sink(src, fps)
        rec = {"input": src.name, "kind": src.kind, "clip": {"frames": t, "interval": k, "stride": stride},
               "frames": []}
        buf: deque[tuple[int, np.ndarray]] = deque(maxlen=span)
        next_start, latest, n_read = 1, None, 0
        with _stream(sink, rec):
            for idx, frame in frames:
                n_read = idx
                buf.append((idx, frame))
                if len(buf) == span and buf[0][0] == next_start:
                    latest = self.p.predict_clip([fr for _, fr in list(buf)[::k]])
                    self._record_step(src, rec, next_start, latest, "clip")
                    next_start += stride
                if sink is not None:
                    note = None if latest is not None else f"collecting {span} frames for a clip"
                    sink.write(annotate(frame, latest, self.threshold, note=note))
        if n_read and n_read < span:
            raise ValueError(f"{src.name}: {n_read} frames, too short for one clip of {t} frames {k} apart "
                             f"({span} frames needed)")
        self._finish_sequence(src, rec, n_read, "clips")

    def _record_step(self, src: Source, rec: dict, idx: int, faces: list[FaceResult], what: str) -> None:
        rec["frames"].append({"frame": idx, "faces": [f.to_json() for f in faces]})
        if not self.quiet:
            self.face_lines(f"{src.name} {what}={idx}", faces)

    def _finish_sequence(self, src: Source, rec: dict[str, Any], n_read: int, unit: str) -> None:
        """Video summary: mean score of the most confident face over the scored frames/clips (docs/metrics.md)."""
        steps = rec["frames"]
        firsts = [s["faces"][0]["score"] for s in steps if s["faces"]]
        summary: dict[str, Any] = {"frames_read": n_read, unit: len(steps), f"{unit}_with_face": len(firsts)}
        if n_read == 0:
            raise ValueError(f"{src.name}: no frames could be read")
        if firsts:
            score = float(np.mean(firsts))
            live = self.p.decide(score)
            summary.update(score=score, decision=decision_word(live))
            thr = "none" if self.threshold is None else f"{self.threshold:.4f}"
            self.emit(f"{src.name} summary {unit}={len(steps)} with_face={len(firsts)} score={score:.4f} "
                      f"decision={decision_word(live)} threshold={thr}")
        else:
            self.no_face.append(src.name)
            self.emit(f"{src.name} summary {unit}={len(steps)} no face found (not scored)")
        rec["summary"] = summary
        self.records.append(rec)

    def exit_code(self) -> int:
        if self.failed:
            return EXIT_ERROR
        return EXIT_NO_FACE if self.no_face else EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m fas_core.predict",
        description="Face anti-spoofing on images, folders, videos or a camera: MTCNN finds every face, each is "
                    "cropped at the checkpoint's test scale and scored; prints one line per face: score "
                    "(higher = live), decision (live when score >= threshold) and the threshold used.",
        epilog="Exit status: 0 every input had a face; 3 some input had no face (reported, never scored); "
               "1 an input could not be read; 2 usage error (e.g. no threshold, a damaged checkpoint). Output "
               "lines look like 'photo.jpg face=1/1 score=0.8731 decision=live threshold=0.5120 box=180,61,88,111 "
               "confidence=1.000' (videos: 'clip.avi frame=12 face=...', then a 'summary' line).")
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="image, folder of images/videos, or video file")
    p.add_argument("--checkpoint", required=True, help="checkpoint written by train.py/test.py, or an original "
                   "release (with --method)")
    p.add_argument("--method", choices=method_names(), default=None,
                   help="method of a checkpoint without metadata (original releases such as DUM's CDCN_U_P1.pkl)")
    p.add_argument("--threshold", type=float, default=None,
                   help="decision threshold; default: the dev threshold stored in the checkpoint by test.py")
    p.add_argument("--camera", type=int, default=None, metavar="N", help="read camera N (cv2.VideoCapture index)")
    p.add_argument("--save", default=None, metavar="DIR", help="write annotated frames with depth maps (PNG; "
                   "videos: an annotated .mp4) into DIR")
    p.add_argument("--json", default=None, metavar="OUT", help="write all results as JSON")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default: %(default)s)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--min-face", type=float, default=PIPELINE_DETECTOR["min_face_size"],
                   help="smallest face side to detect, in pixels (default: %(default)s)")
    p.add_argument("--min-face-frac", type=float, default=PIPELINE_DETECTOR["min_face_frac"],
                   help="smallest face side as a fraction of the frame's shorter side; lower it for small faces, "
                        "0 turns it off (default: %(default)s)")
    p.add_argument("--min-confidence", type=float, default=0.9,
                   help="MTCNN confidence below which a face is ignored (default: %(default)s)")
    p.add_argument("--detect-max-side", type=int, default=int(PIPELINE_DETECTOR["max_side"]),
                   help="frames larger than this are downscaled for detection; boxes map back to full size "
                        "(default: %(default)s)")
    p.add_argument("--pyramid-factor", type=float, default=PIPELINE_DETECTOR["factor"],
                   help="scale step of MTCNN's image pyramid (default: %(default)s). The detector defaults are "
                        "data.detect_faces's, so faces are cut from the boxes the test split was cut with")
    p.add_argument("--batch-size", type=int, default=16,
                   help="frames per detection batch and faces per model batch (default: %(default)s)")
    p.add_argument("--every", type=int, default=1,
                   help="single-frame model on video: score every N-th frame (default: %(default)s)")
    p.add_argument("--clip-stride", type=int, default=None,
                   help="multi-frame model: frames between clip starts (default: one clip span, no overlap)")
    p.add_argument("--max-frames", type=int, default=None, help="stop a video or the camera after this many frames")
    p.add_argument("--quiet", action="store_true", help="videos: print only the summary line")
    p.add_argument("--no-fuse", action="store_true",
                   help="run the network as trained (default: CDC folded and BatchNorm fused, same scores, faster)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """The exit status (see the module docstring); a usage error exits 2 with one line (``--debug``: traceback)."""
    return run_cli(_main, argv)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.inputs and args.camera is None:
        parser.error("give at least one INPUT or --camera N")
    if args.threshold is not None and not math.isfinite(args.threshold):
        parser.error("--threshold must be a finite number")
    if args.batch_size < 1 or args.every < 1:
        parser.error("--batch-size and --every must be at least 1")
    for folder, what in ((args.save, "--save folder"), (args.json and Path(args.json).parent, "--json folder")):
        if folder:
            check_writable_folder(folder, what)  # before any work, not after it
    if args.threads:
        torch.set_num_threads(args.threads)
    device = choose_device(args.device)
    loaded = load_model(args.checkpoint, method=args.method, threshold=args.threshold, device=device,
                        fuse=not args.no_fuse)
    if loaded.threshold is None:
        raise UsageError(f"checkpoint {args.checkpoint} has no dev threshold (test.py stores one after testing on "
                         f"the dev set): pass --threshold T")
    if loaded.threshold_source == "--threshold" and loaded.checkpoint_threshold is not None:
        print(f"note: using --threshold {loaded.threshold:.4f} instead of the checkpoint's "
              f"{loaded.checkpoint_threshold:.4f}", file=sys.stderr)
    sources, errors = expand_inputs(args.inputs, clip_mode=loaded.clip is not None)
    if args.camera is not None:
        sources.append(Source("camera", f"camera{args.camera}", camera=args.camera))
    for _, message in errors:
        print(f"error: {message}", file=sys.stderr)
    detector = FaceDetector(min_face_size=args.min_face, min_face_frac=args.min_face_frac,
                            max_side=args.detect_max_side, factor=args.pyramid_factor, batch_size=args.batch_size,
                            device=str(device))
    predictor = Predictor(loaded, detector, min_confidence=args.min_confidence, batch_size=args.batch_size)
    run = Run(predictor, save_dir=Path(args.save) if args.save else None, every=args.every,
              clip_stride=args.clip_stride, max_frames=args.max_frames, quiet=args.quiet)
    run.run(sources)
    run.failed += [name for name, _ in errors]
    if args.json:
        write_json(args.json, {"checkpoint": str(args.checkpoint), **loaded.describe(), "results": run.records,
                               "no_face": run.no_face, "failed": run.failed})
    code = run.exit_code()
    if run.no_face:
        print(f"no face found in {len(run.no_face)} input(s): {', '.join(run.no_face)}", file=sys.stderr)
    return code
