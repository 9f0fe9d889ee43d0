"""Pictures of the results: annotated frames with the predicted depth maps, and annotated videos."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from .predictor import FaceResult, decision_word

LIVE_BGR, ATTACK_BGR = (40, 200, 40), (40, 40, 230)


def depth_to_grey(depth: np.ndarray) -> np.ndarray:
    """A predicted depth map (about 0..1) as uint8 grey levels 0..255 (what ``--save`` writes)."""
    d = np.clip(np.nan_to_num(np.asarray(depth, np.float32)), 0.0, 1.0)
    return (d * 255).round().astype(np.uint8)


def depth_to_image(depth: np.ndarray, size: int) -> np.ndarray:
    """A depth map (about 0..1) as a ``size x size`` grey BGR tile."""
    tile = cv2.resize(depth_to_grey(depth), (size, size), interpolation=cv2.INTER_NEAREST)
    return cv2.cvtColor(tile, cv2.COLOR_GRAY2BGR)


def annotate(frame_rgb: np.ndarray, faces: Sequence[FaceResult] | None, threshold: float | None,
             note: str | None = None) -> np.ndarray:
    """BGR canvas: the frame with boxes, scores and decisions, and the depth maps in a column beside it.

    ``faces=None`` means "not scored yet" (a video before its first result); an empty list
    means no face was found. The panel width depends only on the frame height, so every frame of a
    video gives the same canvas size.
    """
    img = cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR)
    h, w = img.shape[:2]
    thick = max(1, round(max(h, w) / 400))
    fscale = max(0.4, max(h, w) / 1000)
    for i, f in enumerate(faces or []):
        colour = LIVE_BGR if f.live else ATTACK_BGR
        x, y, bw, bh = (int(round(v)) for v in f.box)
        cv2.rectangle(img, (x, y), (x + bw, y + bh), colour, thick)
        label = f"{i + 1}: {decision_word(f.live)} {f.score:.3f}"
        cv2.putText(img, label, (max(0, x), max(int(14 * fscale), y - 4)), cv2.FONT_HERSHEY_SIMPLEX, fscale, colour,
                    thick, cv2.LINE_AA)
    status = note or ("no face found" if faces is not None and not faces else None)
    thr_text = "threshold " + ("none" if threshold is None else f"{threshold:.4f}")
    for row, text in enumerate(t for t in (thr_text, status) if t):
        cv2.putText(img, text, (4, int((row + 1) * 22 * fscale)), cv2.FONT_HERSHEY_SIMPLEX, fscale, (255, 255, 255),
                    thick, cv2.LINE_AA)
    panel_w = int(np.clip(h // 2, 96, 256))
    panel = np.zeros((h, panel_w, 3), np.uint8)
    if faces:
        tile = max(8, min(panel_w, h // len(faces)))
        for i, f in enumerate(faces[: max(1, h // tile)]):
            y0 = i * tile
            panel[y0:y0 + tile, :tile] = depth_to_image(f.depth, tile)
            colour = LIVE_BGR if f.live else ATTACK_BGR
            # a frame in the decision colour: an all-black (flat) map stays visible
            cv2.rectangle(panel, (0, y0), (tile - 1, y0 + tile - 1), colour, 1)
            cv2.putText(panel, f"depth {i + 1}", (3, y0 + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)
    return np.hstack([img, panel])


class VideoSink:
    """Annotated frames -> a video file (mp4v ``.mp4``; MJPG ``.avi`` when mp4 cannot be written)."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path, self.fps, self.writer = path, fps, None

    def write(self, canvas: np.ndarray) -> None:
        if self.writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            size = (canvas.shape[1], canvas.shape[0])
            self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, size)
            if not self.writer.isOpened():
                self.path = self.path.with_suffix(".avi")
                self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"MJPG"), self.fps, size)
            if not self.writer.isOpened():
                raise OSError(f"could not write video {self.path}")
        self.writer.write(canvas)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
