"""Test CDCN / CDCN++ / CDCN_u: per-video dev and test scores, metrics.json, plots, model card.

    python -m dum.test --config dum/configs/demo.yaml                 # <train.run_dir>/best.pt
    python -m dum.test --config dum/configs/oulu_p1.yaml --released CDCN_U_P1.pkl data.input_size=256

A video's score is the mean of its frames' scores (``test.frames_per_video`` evenly spaced
frames, 0 = all); a frame's score is ``eval.score``: the mean of the predicted depth (``mu``)
over the face by default, the original ``sum(mu) / sum(map)`` as an option (dum/inference.py).
The threshold is the dev EER point, applied unchanged to test (fas_core.metrics); outputs go
to ``<train.run_dir>/test`` (``--out``) through ``fas_core.runner.test_main``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from fas_core.runner import test_main

from .train import DEFAULTS, DumTask


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    return test_main(DumTask, copy.deepcopy(DEFAULTS), "Test CDCN / CDCN++ / CDCN_u on the dev and test splits.",
                     argv)


if __name__ == "__main__":
    main()
