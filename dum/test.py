"""Test CDCN / CDCN++ / CDCN_u: per-video dev and test scores, metrics.json, plots, model card.

    python -m dum.test [--config dum/configs/demo.yaml]        # <train.run_dir>/best.pt
    python -m dum.test --config dum/configs/oulu_p1.yaml --released CDCN_U_P1.pkl

The network is rebuilt from the checkpoint's record; faces are cut at its input size. A video's
score is the mean of its frames' scores (``test.frames_per_video`` evenly spaced frames, 0 = all);
a frame's score is the ``eval.score`` rule of :mod:`dum.method` (a release: the original rule).
The threshold is the dev EER point, applied unchanged to test; outputs go to
``<train.run_dir>/test`` (``--out``) through :func:`fas_core.runner.test_main`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fas_core.runner import test_main

from .train import DumTask


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    return test_main(DumTask, argv)


if __name__ == "__main__":
    main()
