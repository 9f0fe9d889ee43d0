"""Detection, crop, normalisation and scoring of one loaded model, on single frames or clips."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..face_detector import Face, FaceDetector
from ..fileio import bbox_as_stored
from .loading import LoadedModel
from .preprocess import crop_faces, face_depth_maps, normalise


@dataclass
class FaceResult:
    box: tuple[float, float, float, float]
    confidence: float
    score: float
    live: bool | None  # None when there is no threshold
    depth: np.ndarray = field(repr=False)  # [h, w] predicted depth map
    landmarks: np.ndarray | None = field(default=None, repr=False)  # [5, 2] MTCNN landmarks

    def to_json(self) -> dict[str, Any]:
        marks = None if self.landmarks is None else [[round(float(x), 2), round(float(y), 2)]
                                                     for x, y in np.asarray(self.landmarks)]
        return {"box": [round(float(v), 2) for v in self.box], "landmarks": marks,
                "confidence": round(self.confidence, 5),
                "score": float(self.score), "decision": decision_word(self.live),
                "depth_mean": float(np.mean(self.depth)), "depth_size": list(self.depth.shape)}


def decision_word(live: bool | None) -> str:
    return "undecided" if live is None else ("live" if live else "attack")


class Predictor:
    """Detection, crop, normalisation and scoring of one loaded model (single frames or clips)."""

    def __init__(self, loaded: LoadedModel, detector: FaceDetector, min_confidence: float = 0.9,
                 batch_size: int = 16) -> None:
        self.loaded = loaded
        self.detector = detector
        self.min_confidence = float(min_confidence)
        self.batch_size = max(1, int(batch_size))

    # -- the three steps, separately (the benchmark times each)
    def detect(self, frames_rgb: Sequence[np.ndarray]) -> list[list[Face]]:
        """All faces of each frame above ``min_confidence``, most confident first."""
        found = self.detector.detect_all(list(frames_rgb))
        return [[f for f in faces if f.confidence >= self.min_confidence] for faces in found]

    def prepare(self, frame_rgb: np.ndarray | Sequence[np.ndarray], faces: Sequence[Face]) -> torch.Tensor:
        """Normalised crops ``[N, 3, H, W]`` of a frame, or ``[N, T, 3, H, W]`` of a clip."""
        boxes = [bbox_as_stored(f.box) for f in faces]  # whole pixels, as the .dat files the test crops came from
        hw, scale, cache = self.loaded.input_hw, self.loaded.crop_scale, self.loaded.crop_cache
        if isinstance(frame_rgb, np.ndarray):
            crops = crop_faces(frame_rgb, boxes, scale, hw, cache)
        else:  # a clip: the same box crops every frame -> [N, T, H, W, 3]
            crops = np.stack([crop_faces(fr, boxes, scale, hw, cache) for fr in frame_rgb], axis=1)
        return torch.from_numpy(normalise(crops, self.loaded.normalisation))

    def face_depth(self, frame_rgb: np.ndarray | Sequence[np.ndarray], faces: Sequence[Face]) -> torch.Tensor:
        """``[N, H, W]`` built-in depth maps of the faces (a clip's first frame), cropped like the input."""
        frame = frame_rgb if isinstance(frame_rgb, np.ndarray) else frame_rgb[0]
        maps = face_depth_maps((frame.shape[1], frame.shape[0]), [bbox_as_stored(f.box) for f in faces],
                               [f.landmarks for f in faces], self.loaded.crop_scale, self.loaded.input_hw,
                               self.loaded.crop_cache)
        return torch.from_numpy(maps)

    @torch.no_grad()
    def run_model(self, inputs: torch.Tensor, face_depth: torch.Tensor | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
        """Scores ``[N]`` and depth maps ``[N, h, w]`` of prepared inputs (and their face depth maps), in batches."""
        scores, depths = [], []
        for start in range(0, len(inputs), self.batch_size):
            x = inputs[start:start + self.batch_size].to(self.loaded.device)
            fd = None if face_depth is None else face_depth[start:start + self.batch_size].to(self.loaded.device)
            s, d = self.loaded.score_faces(x, fd)
            scores.append(s.detach().float().cpu().reshape(-1).numpy())
            depths.append(d.detach().float().cpu().reshape(len(x), *d.shape[-2:]).numpy())
        if not scores:
            return np.zeros(0, np.float32), np.zeros((0, 1, 1), np.float32)
        return np.concatenate(scores), np.concatenate(depths)

    def decide(self, score: float) -> bool | None:
        thr = self.loaded.threshold
        return None if thr is None else bool(score >= thr)

    # -- whole frames and clips
    def predict_frames(self, frames_rgb: Sequence[np.ndarray]) -> list[list[FaceResult]]:
        """Per frame, the scored faces (an empty list when the frame has none)."""
        faces = self.detect(frames_rgb)
        pairs = [(fr, fs) for fr, fs in zip(frames_rgb, faces, strict=True) if fs]
        if not pairs:
            return [[] for _ in frames_rgb]
        inputs = torch.cat([self.prepare(fr, fs) for fr, fs in pairs])
        scores, depths = self.run_model(inputs, torch.cat([self.face_depth(fr, fs) for fr, fs in pairs]))
        return self._assemble(faces, scores, depths)

    def predict_clip(self, clip_rgb: Sequence[np.ndarray]) -> list[FaceResult]:
        """Scored faces of one clip (faces found on its first frame)."""
        faces = self.detect([clip_rgb[0]])[0]
        if not faces:
            return []
        scores, depths = self.run_model(self.prepare(list(clip_rgb), faces), self.face_depth(clip_rgb[0], faces))
        return self._assemble([faces], scores, depths)[0]

    def _assemble(self, faces: list[list[Face]], scores: np.ndarray, depths: np.ndarray) -> list[list[FaceResult]]:
        out, k = [], 0
        for fs in faces:
            row = []
            for f in fs:
                s = float(scores[k])
                row.append(FaceResult(box=tuple(float(v) for v in f.box), confidence=float(f.confidence), score=s,
                                      live=self.decide(s), depth=depths[k], landmarks=np.asarray(f.landmarks)))
                k += 1
            out.append(row)
        return out
