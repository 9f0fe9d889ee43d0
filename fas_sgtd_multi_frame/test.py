"""Test the FAS-SGTD multi-frame network: dev and test scores, metrics.json, plots (metrics.md).

    python -m fas_sgtd_multi_frame.test [--config FILE] [--checkpoint CKPT] [--out DIR] [key=value ...]

Scores about ``data.test_per_video`` (6) evenly spaced clips per video, each
``sigmoid(1.2 d + 0.8 p_live - 1)`` with ``d`` the mean of the four fused depth maps over the
face mask of the clip's first frame and ``p_live`` the classifier's live probability
(NaN/inf -> 0); a video's score is the mean of its clips. Every weight comes from the checkpoint
(the single-frame checkpoint is not read). The threshold is the dev EER point, applied to test.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fas_core.runner import test_main

from .train import DEFAULTS, MultiFrameTestTask


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    return test_main(MultiFrameTestTask, DEFAULTS, __doc__, argv)


if __name__ == "__main__":
    main()
