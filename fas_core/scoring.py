"""The one scoring loop: frame (or clip) scores -> per-video scores -> rows for the score files.

Every method's dev evaluation and ``test.py`` go through :func:`score_videos`; a method supplies
only its per-batch score (``score_batch(model, batch, device) -> (scores [B], depth [B, h, w])``,
by default its :class:`~fas_core.method.Method` score rule). A scoring dataset yields dicts with
the network input under ``"image"``, the face map under ``"map"`` and the ``"video"`` (index into
the split's video list) and ``"frame"`` (1-based index of the sample's first frame) of each sample.

A video's score is the mean of its samples' scores (the references do this; docs/metrics.md).
A sample whose score is not finite (the original DUM rule divides by an empty depth map) is left
out of the mean and counted; a video none of whose samples scored gets 0, the score of a flat map.
A sample whose file cannot be read (:mod:`fas_core.unreadable`) is left out and named in a
warning; a video none of whose samples could be read is left out of the rows and named.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from .unreadable import UNREADABLE_KEY
from .video_data import evenly_spaced

log = logging.getLogger("fas")

Row = tuple[str, float, int, "str | None"]
FrameRow = tuple[str, int, float, int]
BatchScorer = Callable[[nn.Module, dict[str, Any], torch.device], tuple[torch.Tensor, torch.Tensor]]


class VideoInfo(NamedTuple):
    name: str
    label: int  # 1 live, 0 attack
    species: str | None


@dataclass
class SplitScores:
    """What scoring one split gives."""

    rows: list[Row]  # per video: (video, score, label, species or None)
    frame_rows: list[FrameRow] = field(default_factory=list)  # (video, frame, score, label)
    depth_samples: list[tuple[Any, str]] = field(default_factory=list)  # (2-D array, title) for the depth grid
    unscored_samples: int = 0  # samples whose score was not finite
    unreadable: list[str] = field(default_factory=list)  # samples whose file could not be read (the reasons)
    unread_videos: list[str] = field(default_factory=list)  # videos left out: none of their samples could be read


def sample_videos(videos: Sequence[VideoInfo], n: int) -> set[int]:
    """Up to ``n`` videos for the depth grid: half live, half attack, spread over the split."""
    if n <= 0:
        return set()
    live = [i for i, v in enumerate(videos) if v.label == 1]
    attack = [i for i, v in enumerate(videos) if v.label != 1]
    picks: list[int] = []
    for group, k in ((live, n // 2), (attack, n - n // 2)):
        if group and k:
            picks += evenly_spaced(group, k)
    return set(picks)


def video_rows(videos: Sequence[VideoInfo], per_video: dict[int, list[float]]) -> list[Row]:
    """Per-video mean of the finite sample scores, in the split's order (videos without samples left out)."""
    rows = []
    for v, info in enumerate(videos):
        if v not in per_video:
            continue
        finite = [s for s in per_video[v] if math.isfinite(s)]
        rows.append((info.name, float(np.mean(finite)) if finite else 0.0, int(info.label), info.species))
    return rows


@torch.no_grad()
def score_videos(model: nn.Module, batches: Iterable[dict[str, Any]], videos: Sequence[VideoInfo],
                 score_batch: BatchScorer, depth_samples: int = 0) -> SplitScores:
    """Score every batch in eval mode; per-video means, frame rows and a few depth maps for the grid."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    per_video: dict[int, list[float]] = defaultdict(list)
    frame_rows: list[FrameRow] = []
    samples: list[tuple[Any, str]] = []
    want = sample_videos(videos, depth_samples)
    unscored, unreadable = 0, []
    try:
        for batch in batches:
            unreadable += _unreadable_of(batch)
            if not batch:
                continue
            scores, depth = score_batch(model, batch, device)
            scores, depth = scores.float().cpu(), depth.float().cpu()
            for j, (v, f) in enumerate(zip(_ints(batch["video"]), _ints(batch["frame"]), strict=True)):
                s = float(scores[j])
                per_video[v].append(s)
                if not math.isfinite(s):
                    unscored += 1
                    continue
                info = videos[v]
                frame_rows.append((info.name, f, s, int(info.label)))
                if v in want:
                    want.discard(v)
                    tag = "live" if info.label == 1 else (info.species or "attack")
                    samples.append((depth[j].reshape(depth.shape[-2:]).numpy(), f"{info.name} ({tag}) {s:.3f}"))
    finally:
        model.train(was_training)
    unread = [v.name for i, v in enumerate(videos) if i not in per_video] if unreadable else []
    if unread:
        log.warning(f"warning: {len(unread)} video(s) without a readable frame left out of the scores: "
                    + ", ".join(unread[:10]) + (" ..." if len(unread) > 10 else ""))
    return SplitScores(video_rows(videos, per_video), frame_rows, samples, unscored, unreadable, unread)


def _unreadable_of(batch: Any) -> list[str]:
    """The reasons of the batch's samples that could not be read (taken out of the batch), each warned about."""
    failed = batch.pop(UNREADABLE_KEY, []) if isinstance(batch, dict) else []
    for reason in failed:
        log.warning(f"warning: unreadable frame left out of the scores: {reason}")
    return list(failed)


def _ints(x: Any) -> list[int]:
    return [int(v) for v in (x.tolist() if isinstance(x, torch.Tensor) else x)]
