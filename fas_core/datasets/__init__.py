"""Datasets known to the toolkit, found by name so that only the reader asked for is imported.

Each entry names a module that defines ``DATASET``, a :class:`fas_core.datasets.base.Dataset`:
it parses a video path relative to the dataset root into a :class:`~fas_core.datasets.base.VideoInfo`
(subject, live/print/replay and the finer attack type, capture device, session, split), says
which videos each protocol split uses, where its list files go, and reads the face boxes the
dataset ships. docs/datasets.md describes every dataset's tree, protocols and dev split.
"""

from __future__ import annotations

import importlib

from .base import Dataset

DATASETS: dict[str, str] = {
    "oulu": "fas_core.datasets.oulu",
    "replay_attack": "fas_core.datasets.replay_attack",
    "casia_fasd": "fas_core.datasets.casia_fasd",
    "msu_mfsd": "fas_core.datasets.msu_mfsd",
    "siw": "fas_core.datasets.siw",
    "replay_mobile": "fas_core.datasets.replay_mobile",
}


def get_dataset(name: str) -> Dataset:
    """The reader of dataset ``name``; the error lists the known datasets."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset '{name}'; known datasets: {', '.join(DATASETS)}")
    return importlib.import_module(DATASETS[name]).DATASET


def other_datasets(name: str) -> list[Dataset]:
    """Every reader but ``name``'s (to tell which dataset a tree resembles)."""
    return [get_dataset(n) for n in DATASETS if n != name]
