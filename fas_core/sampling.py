"""Deterministic, resumable batches for the training engine.

Batches are drawn by :class:`SeededBatchSampler`, whose order for epoch ``e`` depends only on
``(seed, e)``, and every sample carries its own augmentation seed from :func:`sample_seed`, so
a resumed run sees exactly the samples an uninterrupted run would have seen.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence

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
        self.batches_fn = batches_fn or shuffled_batches(n_items, batch_size)
        self.epoch, self.start_batch = start_epoch, start_batch

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


BatchesFn = Callable[[np.random.Generator], list[list[int]]]


def shuffled_batches(n_items: int, batch_size: int) -> BatchesFn:
    """The engine's default epoch: a shuffled permutation cut into full batches."""

    def batches(rng: np.random.Generator) -> list[list[int]]:
        order = rng.permutation(n_items).tolist()
        return [order[i * batch_size:(i + 1) * batch_size] for i in range(len(order) // batch_size)]

    return batches


def domain_balanced(batches_fn: BatchesFn, domains: Sequence[str | None]) -> BatchesFn:
    """``batches_fn`` with every batch holding (as near as it can) as many samples of each domain.

    The method's own rule draws the epoch (which samples, how many batches); each batch then
    keeps its samples without a domain (``None``: e.g. generated data, whose share the method
    fixes) and fills its other places from the epoch's samples of each domain in turn, an equal
    quota per domain (the remainder going to the domains in rotation). A domain whose samples run
    out starts over on them in a new order, so a small domain is seen more often, as the
    cross-domain methods' per-domain loaders do.
    """

    def batches(rng: np.random.Generator) -> list[list[int]]:
        base = batches_fn(rng)
        pools: dict[str, list[int]] = {}
        for i in (i for b in base for i in b):
            if domains[i] is not None:
                pools.setdefault(str(domains[i]), []).append(i)
        if len(pools) < 2:
            return base
        names = sorted(pools)
        queues = {d: _Cycle(pools[d], rng) for d in names}
        out = []
        for k, b in enumerate(base):
            kept = [i for i in b if domains[i] is None]
            share, extra = divmod(len(b) - len(kept), len(names))
            picks = []
            for j, d in enumerate(names):
                picks += queues[d].take(share + (1 if (j - k) % len(names) < extra else 0))
            out.append(picks + kept)
        return out

    return batches


class _Cycle:
    """Samples of one domain, handed out in order and reshuffled each time they run out."""

    def __init__(self, items: list[int], rng: np.random.Generator) -> None:
        self.items, self.rng, self.order, self.pos = list(items), rng, list(items), 0

    def take(self, n: int) -> list[int]:
        out = []
        for _ in range(n):
            if self.pos == len(self.order):
                self.order, self.pos = self.rng.permutation(self.items).tolist(), 0
            out.append(self.order[self.pos])
            self.pos += 1
        return out
