"""What a training config's ``data.dataset`` means to the loaders: where its lists are, what its ids say.

``data.dataset`` is one of the datasets of :mod:`fas_core.datasets` or ``mcio``, the cross-domain
leave-one-out tasks, whose lists mix four datasets and whose ids carry their domain
(``O/1_1_01_1``; :mod:`fas_core.datasets.mcio`). A work tree serves every dataset the same way:
a video's frames, depth maps and crops lie under its id (``<work>/crops/O/1_1_01_1/``), so a
mixture is one list and one work tree with a folder per domain (docs/datasets.md,
"Training on any dataset").
"""

from __future__ import annotations

from pathlib import Path

from .. import oulu
from . import DATASETS, get_dataset, mcio
from .base import SPLIT_FILES, VideoInfo

MCIO = "mcio"
LIST_DATASETS = (*DATASETS, MCIO)  # the values of data.dataset
MCIO_TASKS = tuple(mcio.task_name(t) for t in mcio.SOURCES)  # OCI_to_M, OMI_to_C, OCM_to_I, ICM_to_O


def check_dataset(name: str) -> str:
    """``name`` when it is a ``data.dataset`` value; ValueError listing the valid ones otherwise."""
    if name not in LIST_DATASETS:
        raise ValueError(f"data.dataset: unknown dataset '{name}'; valid: {', '.join(LIST_DATASETS)}")
    return name


def protocols_of(dataset: str) -> tuple[str, ...]:
    """The protocols (folds spelled out) of a dataset; the cross-domain tasks for ``mcio``."""
    return MCIO_TASKS if check_dataset(dataset) == MCIO else get_dataset(dataset).protocols


def list_path(dataset: str, lists_root: str | Path, protocol: str, split: str) -> Path:
    """The list file of a protocol split, where ``data.make_lists`` writes it.

    OULU-NPU: ``Protocol_N/Train.txt`` (``Train_k.txt`` for folds); the other datasets:
    ``<protocol>/Train.txt`` (``<family>/Train_k.txt``); ``mcio``: ``<task>/Train.txt``.
    ValueError (naming the valid protocols) for a protocol the dataset does not have.
    """
    protocol = str(protocol)
    if check_dataset(dataset) == "oulu":
        return oulu.list_path(lists_root, protocol, split)
    if dataset != MCIO:
        return get_dataset(dataset).list_path(lists_root, protocol, split)
    if protocol not in MCIO_TASKS:
        raise ValueError(f"unknown cross-domain task '{protocol}'; valid: {', '.join(MCIO_TASKS)}")
    return Path(lists_root) / protocol / f"{SPLIT_FILES[split]}.txt"


def parse_listed(dataset: str, video_id: str) -> VideoInfo:
    """The record of a listed video; ValueError saying why the id is not one of ``dataset``'s.

    A cross-domain id ``O/1_1_01_1`` is parsed by its domain's reader; its subject becomes
    ``O/01`` (subjects of two datasets never merge).
    """
    if check_dataset(dataset) != MCIO:
        return get_dataset(dataset).parse(video_id)
    domain, inner = mcio.split_task_video_id(video_id)
    info = get_dataset(mcio.DOMAINS[domain]).parse(inner)
    return VideoInfo(video_id, f"{domain}/{info.subject}", info.species, info.attack, info.split, info.release_split,
                     info.device, info.session, dict(info.details), info.upside_down)


def domain_of(dataset: str, video_id: str) -> str:
    """The domain a listed video comes from: its letter for ``mcio`` ids, the dataset itself otherwise."""
    if dataset == MCIO:
        return mcio.split_task_video_id(video_id)[0]
    return dataset
