"""Two "machines" on localhost through scripts/launch.sh: torchrun's own rendezvous, one gloo process each.

Each launcher gets what a real node gets (NNODES=2, NODE_RANK=0/1, MASTER_ADDR, MASTER_PORT) and
runs ``launch_train`` with one process per node, so the two processes form one DDP world of 2.
They train on different batches (the sampler splits by rank), and DDP's all-reduce must leave
both with the same weights: ``tests/ddp_probe.py`` (``dum.train`` plus a save of every rank's
weights) lets the test see rank 1's.
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import torch

from fas_core import checkpoint as ckpt
from fas_core.engine import set_seed
from fas_core.methods import get_method
from tests.test_dum_cli import common

ROOT = Path(__file__).resolve().parents[1]
STEPS = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def node(rank: int, port: int, args: list[str]) -> subprocess.Popen:
    env = dict(os.environ, NNODES="2", NODE_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
               OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    script = 'source scripts/launch.sh && launch_train tests.ddp_probe 1 "$@"'
    return subprocess.Popen(["bash", "-c", script, "node", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def test_two_nodes_end_with_the_same_weights(fake_work, tmp_path):
    run_dir = tmp_path / "two_nodes"
    args = common(fake_work["root"], run_dir, **{"train.max_iters": STEPS, "train.ckpt_every": STEPS,
                                                  "train.image_every": 0})
    port = free_port()
    nodes = [node(rank, port, args) for rank in (0, 1)]
    outputs = []
    try:
        for proc in nodes:
            outputs.append(proc.communicate(timeout=240)[0])
    finally:
        for proc in nodes:
            proc.kill()
    for proc, out in zip(nodes, outputs, strict=True):
        assert proc.returncode == 0, out[-3000:]
    assert "world 2 (DDP, gloo)" in outputs[0] and f"step {STEPS}/{STEPS}" in outputs[0]

    ranks = [torch.load(run_dir / f"weights.rank{r}.pt") for r in (0, 1)]
    first = ranks[0]["params"]
    assert first.keys() == ranks[1]["params"].keys() and len(first) == 38  # every parameter of CDCN_u
    for key, value in first.items():
        assert torch.equal(value, ranks[1]["params"][key]), key  # all-reduced gradients: one model
    saved = ckpt.load_file(run_dir / "last.pt")
    assert saved["step"] == STEPS
    assert all(torch.equal(saved["model"][k], v) for k, v in first.items())  # rank 0's checkpoint is that model
    set_seed(0)  # rank 0's initial network (rank 1 drew other weights: DDP starts every rank from rank 0's)
    initial = dict(get_method("cdcn_u").build({"theta": 0.7}).named_parameters())
    assert sum(not torch.equal(initial[k], v) for k, v in first.items()) > len(first) // 2  # it trained
