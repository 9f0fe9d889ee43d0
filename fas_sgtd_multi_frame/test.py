"""Test the FAS-SGTD multi-frame network: dev and test scores, metrics.json, plots (docs/metrics.md).

    python -m fas_sgtd_multi_frame.test [--config FILE] [--checkpoint CKPT] [--out DIR] [key=value ...]
    python -m fas_sgtd_multi_frame.test --config fas_sgtd_multi_frame/configs/released_p1.yaml --released CKPT

Every weight, the frozen single-frame network's included, comes from the multi-frame checkpoint.
Scores ``test.frames_per_video`` evenly spaced clips per video (``sigmoid(1.2 d + 0.8 p_live - 1)``);
a video's score is the mean over its clips; the threshold is the dev EER point, applied to test.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fas_core.runner import test_main

from .train import MultiFrameTask


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    return test_main(MultiFrameTask, argv)


if __name__ == "__main__":
    main()
