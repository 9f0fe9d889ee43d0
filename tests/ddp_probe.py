"""``dum.train`` that also saves every process's weights at the end, for the multi-node test.

    python -m tests.ddp_probe [dum.train arguments]

The engine saves checkpoints from rank 0 only; the test needs to see what rank 1 ended with, so
after the run each process writes ``<run_dir>/weights.rank<RANK>.pt``: ``{"params": ...,
"buffers": ...}`` of its network (parameters and BatchNorm statistics apart).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dum.train import DumTask
from fas_core.runner import train_main


class ProbeTask(DumTask):
    built: nn.Module | None = None  # the network the engine trains (set when it is built)

    def build_model(self) -> nn.Module:
        model = super().build_model()
        ProbeTask.built = model
        return model


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    summary = train_main(ProbeTask, argv)
    model = ProbeTask.built
    if model is not None and summary:  # nothing to save after --prepare-only
        state = {"params": {k: v.detach().cpu() for k, v in model.named_parameters()},
                 "buffers": {k: v.detach().cpu() for k, v in model.named_buffers()}}
        torch.save(state, Path(summary["run_dir"]) / f"weights.rank{os.environ.get('RANK', '0')}.pt")
    return summary


if __name__ == "__main__":
    main()
