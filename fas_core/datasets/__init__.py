"""Datasets known to the toolkit, found by name so that only the reader asked for is imported.

Each name is a module of this package that defines ``DATASET``, a :class:`fas_core.datasets.base.Dataset`:
it parses a video path relative to the dataset root into a :class:`~fas_core.datasets.base.VideoInfo`
(subject, live/print/replay and the finer attack type, capture device, session, split), says
which videos each protocol split uses, where its list files go, and reads the face boxes the
dataset ships. docs/datasets.md describes every dataset's tree, protocols and dev split.
"""

from __future__ import annotations

import importlib

from .base import Dataset

DATASETS = ("oulu", "replay_attack", "casia_fasd", "msu_mfsd", "siw", "replay_mobile")  # module names here


def get_dataset(name: str) -> Dataset:
    """The reader of dataset ``name`` (module ``fas_core.datasets.<name>``); the error lists the known datasets."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset '{name}'; known datasets: {', '.join(DATASETS)}")
    return importlib.import_module(f"{__name__}.{name}").DATASET


def other_datasets(name: str) -> list[Dataset]:
    """Every reader but ``name``'s (to tell which dataset a tree resembles)."""
    return [get_dataset(n) for n in DATASETS if n != name]
