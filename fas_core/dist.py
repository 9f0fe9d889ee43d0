"""Distributed set-up from ``torchrun``'s environment: gloo on CPU, nccl on GPU.

Any process started by torchrun joins a process group, one process included
(``torchrun --nproc_per_node=1``, or ``DDP=1 bash <method>/train.sh 1``): the DDP code path can be
run on a single GPU. A plain ``python -m`` process trains without one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as torch_dist


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    distributed: bool = False  # in a process group (under torchrun, even as its only process)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.distributed or self.world_size > 1

    @property
    def backend(self) -> str:
        return torch_dist.get_backend() if torch_dist.is_initialized() else "none"


def choose_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """``auto`` takes the GPU of this process when there is one, else the CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("device 'cuda' asked for, but no CUDA GPU is available (use device=cpu)")
        return torch.device("cuda", local_rank)
    return torch.device(name)


def launched_by_torchrun() -> bool:
    """torchrun's agent names its run in every worker's environment."""
    return "TORCHELASTIC_RUN_ID" in os.environ


def init_distributed(device: str = "auto") -> DistInfo:
    """Start the process group when launched by torchrun (or WORLD_SIZE > 1); otherwise one plain process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = choose_device(device, local)
    if (world > 1 or launched_by_torchrun()) and not torch_dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        torch_dist.init_process_group(backend=backend)
    return DistInfo(rank=rank, world_size=world, local_rank=local, device=dev, distributed=torch_dist.is_initialized())


def barrier(info: DistInfo) -> None:
    if info.enabled:
        torch_dist.barrier()


def cleanup(info: DistInfo) -> None:
    if info.enabled and torch_dist.is_initialized():
        torch_dist.destroy_process_group()
