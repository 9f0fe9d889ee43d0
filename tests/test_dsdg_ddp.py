"""DSDG's batch statistics under DDP: two gloo processes of batch 4 train as one process of batch 8.

The latent mean distance ("MMD") and the orthogonality term are statistics of the whole batch;
the training step gathers the latents of every process (with gradients), so the losses and the
averaged gradients of N processes equal those of one process on the concatenated batch.
A DSDG-shaped toy network (linear encoders and decoder on 3x4x4 images) keeps the test fast;
the step is ``DSDGTask.training_step`` itself.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

HDIM, BATCH, WORLD = 6, 8, 2


class ToyDSDG(nn.Module):
    """The outputs of :class:`dsdg.model.DSDG` from linear layers; latents at their means (no sampling noise)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.enc_spoof = nn.Linear(48, 4 * HDIM)
        self.enc_live = nn.Linear(48, 2 * HDIM)
        self.decoder = nn.Linear(3 * HDIM, 96)
        self.classifier = nn.Linear(HDIM, 4)

    def forward(self, spoof: torch.Tensor, live: torch.Tensor) -> dict[str, torch.Tensor]:
        mu_s, logvar_s, mu_t, logvar_t = self.enc_spoof(spoof.flatten(1)).split(HDIM, dim=1)
        mu_l, logvar_l = self.enc_live(live.flatten(1)).split(HDIM, dim=1)
        rec = torch.sigmoid(self.decoder(torch.cat((mu_t, mu_s, mu_l), dim=1))).view(-1, 6, 4, 4)
        return {"mu_spoof": mu_s, "logvar_spoof": logvar_s, "mu_type": mu_t, "logvar_type": logvar_t,
                "mu_live": mu_l, "logvar_live": logvar_l, "z_type": mu_t, "z_spoof": mu_s, "z_live": mu_l,
                "type_logits": self.classifier(mu_t), "rec": rec}


def batch() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return {"spoof": torch.rand(BATCH, 3, 4, 4, generator=g), "live": torch.rand(BATCH, 3, 4, 4, generator=g),
            "type": torch.randint(0, 4, (BATCH,), generator=g)}


def step(model: nn.Module, part: dict[str, torch.Tensor]) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """One training step of the real task: the logged terms and the parameter gradients."""
    from dsdg.train import DEFAULTS, DSDGTask
    from fas_core.config import load_config

    task = DSDGTask(load_config(DEFAULTS, None, ["identity_net.enabled=false"]))
    loss, logs = task.training_step(model, part, step=10)
    loss.backward()
    core = model.module if hasattr(model, "module") else model
    return logs, {n: p.grad.detach().clone() for n, p in core.named_parameters()}


def worker(rank: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        torch.set_num_threads(1)
        share = BATCH // WORLD
        part = {k: v[rank * share:(rank + 1) * share] for k, v in batch().items()}
        model = nn.parallel.DistributedDataParallel(ToyDSDG())
        logs, grads = step(model, part)
        torch.save({"logs": logs, "grads": grads}, Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_two_processes_equal_one_process_of_the_whole_batch(tmp_path):
    mp.spawn(worker, args=(free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    single_logs, single_grads = step(ToyDSDG(), batch())
    for rank in range(WORLD):
        got = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        for term in ("mmd", "ort"):  # batch statistics: over all 8 samples in every process
            assert got["logs"][term] == pytest.approx(single_logs[term], abs=1e-6), (rank, term)
        for name, grad in single_grads.items():  # DDP's average of the processes' gradients
            assert torch.allclose(got["grads"][name], grad, rtol=0, atol=1e-6), (rank, name)
    # Without the gather, each process's own half gives other values (the statistics are not additive).
    from dsdg import losses as L

    out = ToyDSDG()(batch()["spoof"][:4], batch()["live"][:4])
    half = float(L.mean_distance_loss(out["z_spoof"], out["z_live"]))
    assert abs(half - single_logs["mmd"]) > 1e-3
