"""Clips for the FAS-SGTD multi-frame stage (docs/methods/fas_sgtd.md, "Data and training details").

A clip is ``T`` frames ``k`` apart (``data.clip_frames``, ``data.clip_interval``; 5 and 3 in the
paper), all cut with the box of the first frame and augmented with one draw
(:class:`fas_sgtd_single_frame.dataset.ClipDataset` reads them). Here: which clips a video gives
for training and for scoring.
"""

from __future__ import annotations

from collections.abc import Sequence

from fas_core.video_data import VideoEntry
from fas_sgtd_single_frame.dataset import pick_for_test

Item = tuple[int, list[int]]  # (video index, frame indices of the clip)


def clip_indices(frames: Sequence[int], length: int, interval: int) -> list[list[int]]:
    """All clips ``[s, s + k, ..., s + (T-1) k]`` whose frames are all usable (one starting at every usable frame)."""
    have = set(frames)
    return [[s + j * interval for j in range(length)] for s in frames
            if all(s + j * interval in have for j in range(length))]


def train_clips(entries: Sequence[VideoEntry], length: int, interval: int) -> list[Item]:
    """Every candidate training clip of every video."""
    return [(vi, clip) for vi, e in enumerate(entries) for clip in clip_indices(e.frames, length, interval)]


def test_clips(entries: Sequence[VideoEntry], per_video: int, length: int, interval: int, mode: str = "even"
               ) -> tuple[list[Item], list[str]]:
    """``per_video`` clips of every video (0: all; picked by ``pick_for_test``), and the videos too short for one."""
    items, short = [], []
    for vi, e in enumerate(entries):
        clips = clip_indices(e.frames, length, interval)
        if not clips:
            short.append(e.video)
        items += [(vi, clip) for clip in pick_for_test(clips, per_video, mode)]
    return items, short
