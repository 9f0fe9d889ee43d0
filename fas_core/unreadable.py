"""Inputs that cannot be read: replaced (training) or skipped (scoring), counted, never a crash at step N.

A training set of many thousand crop files may hold a few that a full disk, a killed copy or a bad
sector left damaged. Found only when a batch reads them, they would end a run with everything
since its last checkpoint lost. So the engine reads its training set through
:class:`ReplaceUnreadable`: a sample whose file cannot be read is replaced by another sample of
the same group (class, domain: :meth:`fas_core.task.Task.sample_groups`) drawn from the sample's
own seed, so batches keep their make-up and a resumed run reads what an uninterrupted one did.
Each failed read travels with its batch to the main process, where :class:`UnreadableTally`
keeps the running count for the log and TensorBoard and stops the run, with a message naming
the first files, once the share of failed reads passes ``train.max_unreadable``.

The scoring loop reads through :class:`SkipUnreadable`: an unreadable test frame is left out
and named; a video none of whose frames could be read is left out of the scores and named.
See docs/reliability.md.
"""

from __future__ import annotations

import pickle
from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from .errors import UserError

# What reading a damaged or missing file raises: OS errors, the readers' ValueErrors naming the file
# (fas_core.fileio), OpenCV's own errors, and a truncated NumPy or pickle file.
READ_ERRORS: tuple[type[BaseException], ...] = (OSError, ValueError, EOFError, cv2.error, pickle.UnpicklingError)
MAX_TRIES = 8  # replacements tried for one sample before the group is taken to be unreadable
MIN_READS = 100  # the share of failed reads is judged once this many reads were made (0 allowed: at once)
NAMED = 5  # distinct failures named in a message


class UnreadableDataError(UserError):
    """Too many training inputs could not be read to go on."""


def describe(e: BaseException) -> str:
    """One line for a failed read: the reader's message (it names the file) or the exception's type."""
    text = " ".join(str(e).split())
    return text or type(e).__name__


class ReplaceUnreadable(Dataset):
    """A training dataset (items ``(index, seed)``) whose unreadable samples are replaced within their group.

    ``__getitem__`` returns ``(sample, failures)``: the sample read, and one line per failed read
    on the way to it (empty almost always). :func:`collate_with_failures` batches these.
    """

    def __init__(self, dataset: Dataset, groups: Sequence[Hashable] | None = None) -> None:
        self.dataset = dataset
        n = len(dataset)  # type: ignore[arg-type]
        self.groups = list(groups) if groups is not None else [0] * n
        if len(self.groups) != n:
            raise ValueError(f"{len(self.groups)} sample groups for {n} samples")
        members: dict[Hashable, list[int]] = defaultdict(list)
        for index, group in enumerate(self.groups):
            members[group].append(index)
        self.members = dict(members)

    def __len__(self) -> int:
        return len(self.groups)

    def replacement(self, index: int, seed: int, attempt: int) -> int:
        """The ``attempt``-th stand-in for sample ``index``: a member of its group drawn from (seed, index, attempt)."""
        pool = self.members[self.groups[index]]
        others = [i for i in pool if i != index] or pool
        return others[int(np.random.default_rng([int(seed) & 0xFFFFFFFF, index, attempt]).integers(len(others)))]

    def __getitem__(self, key: tuple[int, int] | int) -> tuple[Any, list[str]]:
        index, seed = (int(key[0]), int(key[1])) if isinstance(key, (tuple, list)) else (int(key), int(key))
        failures: list[str] = []
        target, last = index, None
        for attempt in range(MAX_TRIES + 1):
            try:
                return self.dataset[(target, seed)], failures
            except READ_ERRORS as e:
                failures.append(describe(e))
                last = e
            target = self.replacement(index, seed, attempt + 1)
        raise UnreadableDataError(f"{MAX_TRIES + 1} training samples of one group (that of sample {index}) could "
                                  f"not be read in a row; the last: {failures[-1]}") from last


def collate_with_failures(collate: Callable[[list[Any]], Any]) -> Callable[[list[tuple[Any, list[str]]]], Any]:
    """A collate function for :class:`ReplaceUnreadable`: ``(collate(samples), failures of the batch)``."""

    def collate_pairs(pairs: list[tuple[Any, list[str]]]) -> tuple[Any, list[str]]:
        return collate([sample for sample, _ in pairs]), [f for _, failed in pairs for f in failed]

    return collate_pairs


@dataclass
class UnreadableTally:
    """Failed and total reads of a training run (kept in ``last.pt``, so the tally survives a resume)."""

    limit: float  # the share of reads that may fail (train.max_unreadable)
    reads: int = 0
    failed: int = 0
    first: list[str] = field(default_factory=list)  # the first distinct failures, for messages
    seen: set[str] = field(default_factory=set)  # every distinct failure of this process

    def add(self, samples: int, failures: Sequence[str]) -> list[str]:
        """Count a batch of ``samples`` read with ``failures`` on the way; returns the failures not seen before."""
        self.reads += samples + len(failures)
        self.failed += len(failures)
        new = [f for f in dict.fromkeys(failures) if f not in self.seen and f not in self.first]
        self.seen.update(new)
        self.first += new[:max(0, NAMED - len(self.first))]
        return new

    @property
    def share(self) -> float:
        return self.failed / self.reads if self.reads else 0.0

    def check(self, where: str) -> None:
        """Stop the run when the failed share passes the limit (judged after ``MIN_READS`` reads, or at once at 0)."""
        if not self.failed or self.share <= self.limit:
            return
        if self.limit > 0 and self.reads < MIN_READS:
            return
        raise UnreadableDataError(
            f"{where}: {self.failed} of {self.reads} training reads failed ({100 * self.share:.1f}%, more than "
            f"train.max_unreadable={self.limit:g}); first: {'; '.join(self.first)}. Fix or remake those files "
            f"(the preprocessing stages redo what is missing), or raise train.max_unreadable")

    def state(self) -> dict[str, Any]:
        return {"reads": self.reads, "failed": self.failed, "first": list(self.first)}

    def load(self, state: dict[str, Any] | None) -> None:
        if state:
            self.reads, self.failed, self.first = int(state["reads"]), int(state["failed"]), list(state["first"])


# ---------------------------------------------------------------------------------------- scoring
UNREADABLE_KEY = "unreadable"  # the scoring batch's list of frames that could not be read


class SkipUnreadable(Dataset):
    """A scoring dataset whose unreadable samples come out as ``None`` with the reason (:func:`collate_skipping`)."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[Any, str | None]:
        try:
            return self.dataset[index], None
        except READ_ERRORS as e:
            return None, describe(e)


def collate_skipping(pairs: list[tuple[Any, str | None]]) -> dict[str, Any]:
    """The batch of the samples read (default collation), with the reasons of the others under ``unreadable``."""
    read = [sample for sample, _ in pairs if sample is not None]
    batch = dict(torch.utils.data.default_collate(read)) if read else {}
    batch[UNREADABLE_KEY] = [reason for _, reason in pairs if reason is not None]
    return batch
