"""Test the FAS-SGTD single-frame network: dev and test scores, metrics.json, plots (docs/metrics.md).

    python -m fas_sgtd_single_frame.test [--config FILE] [--checkpoint CKPT] [--out DIR] [key=value ...]

Scores ``test.frames_per_video`` (6) evenly spaced frames per video, each ``sigmoid(2d - 1)``
with ``d`` the mean predicted depth over the face (``eval.score``: the depth map > 0, or the
face box); a video's score is the mean of its frames. The threshold is the dev EER point,
applied to test.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fas_core.runner import test_main

from .train import SingleFrameTask


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    return test_main(SingleFrameTask, argv)


if __name__ == "__main__":
    main()
