"""Deterministic, resumable batches for the training engine.

Batches are drawn by :class:`SeededBatchSampler`, whose order for epoch ``e`` depends only on
``(seed, e)``, and every sample carries its own augmentation seed from :func:`sample_seed`, so
a resumed run sees exactly the samples an uninterrupted run would have seen.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Sampler


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def sample_seed(seed: int, epoch: int, position: int) -> int:
    """A per-sample augmentation seed from (run seed, epoch, position in the epoch)."""
    return int(np.random.SeedSequence([seed, epoch, position]).generate_state(1)[0])


class SeededBatchSampler(Sampler):
    """Deterministic batches of ``(index, sample_seed)`` pairs, resumable at any batch.

    The batches of epoch ``e`` come from ``batches_fn(epoch_rng)`` (default: a shuffled
    permutation cut into ``batch_size`` pieces, last partial batch dropped); with DDP each
    process takes every ``world``-th batch. ``start_batch`` skips batches already trained on.
    """

    def __init__(self, n_items: int, batch_size: int, seed: int, rank: int = 0, world: int = 1,
                 batches_fn=None, start_epoch: int = 0, start_batch: int = 0) -> None:
        self.n_items, self.batch_size, self.seed = n_items, batch_size, seed
        self.rank, self.world = rank, world
        self.batches_fn = batches_fn or self._shuffled_batches
        self.epoch, self.start_batch = start_epoch, start_batch

    def _shuffled_batches(self, rng: np.random.Generator) -> list[list[int]]:
        order = rng.permutation(self.n_items).tolist()
        n = len(order) // self.batch_size
        return [order[i * self.batch_size:(i + 1) * self.batch_size] for i in range(n)]

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        rng = np.random.default_rng([self.seed, epoch])
        batches = self.batches_fn(rng)
        usable = len(batches) - len(batches) % self.world
        return batches[self.rank:usable:self.world]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        batches = self.epoch_batches(self.epoch)
        for b in range(self.start_batch, len(batches)):
            global_batch = b * self.world + self.rank  # unique across processes
            yield [(idx, sample_seed(self.seed, self.epoch, global_batch * self.batch_size + j))
                   for j, idx in enumerate(batches[b])]

    def __len__(self) -> int:
        return len(self.epoch_batches(self.epoch)) - self.start_batch
