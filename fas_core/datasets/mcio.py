"""The cross-domain leave-one-out tasks O&C&I->M, O&M&I->C, O&C&M->I, I&C&M->O (docs/datasets.md).

Domains: O = OULU-NPU, C = CASIA-FASD, I = Replay-Attack (Idiap), M = MSU-MFSD. Each task trains
on three domains and tests on the fourth. What a domain contributes, as a source or as the
target, is what the cross-domain literature uses: every video of C and M, the train and test
splits of I and O (Replay-Attack's devel and enrolment videos and OULU-NPU's dev users are left
out). Those left-out videos are held-out source data: ``Dev.txt`` lists them for the source
domains, so a model and its threshold can be chosen without the target's labels.

A task's video id is ``<domain>/<video id in that dataset>`` (``O/1_1_01_1``,
``C/train_release/1/HR_1``): ids stay unique across domains, the domain of every line is
readable from its id, and a work tree keeps each domain's preprocessing under its letter
(``<work>/frames/O/1_1_01_1/...``), or :func:`work_path` maps each domain to its own work root.
"""

from __future__ import annotations

from pathlib import Path

from .base import SPLITS, VideoInfo

DOMAINS = {"O": "oulu", "C": "casia_fasd", "I": "replay_attack", "M": "msu_mfsd"}
# The source order the literature writes for each target.
SOURCES = {"M": ("O", "C", "I"), "C": ("O", "M", "I"), "I": ("O", "C", "M"), "O": ("I", "C", "M")}
WHOLE_DOMAINS = frozenset(("C", "M"))  # every video is used; I and O give their train and test splits


def task_name(target: str) -> str:
    """``'OCI_to_M'`` for target M (the folder of the task's lists)."""
    if target not in SOURCES:
        raise ValueError(f"unknown target domain '{target}'; valid: {', '.join(SOURCES)}")
    return "".join(SOURCES[target]) + "_to_" + target


def task_title(target: str) -> str:
    """``'O&C&I->M'``, as papers write the task."""
    task_name(target)
    return "&".join(SOURCES[target]) + "->" + target


def literature_video(domain: str, info: VideoInfo) -> bool:
    """Whether the cross-domain literature uses the video (as a source or as the target)."""
    if domain in WHOLE_DOMAINS:
        return info.release_split in SPLITS
    return info.release_split in ("train", "test")


def held_out_video(domain: str, info: VideoInfo) -> bool:
    """A video of a source domain the literature leaves out (Replay-Attack devel, OULU-NPU dev users)."""
    return domain not in WHOLE_DOMAINS and info.release_split == "dev"


def task_split(target: str, domain: str, info: VideoInfo) -> str | None:
    """``'train'``, ``'dev'`` or ``'test'`` for the video in the task with ``target``; None when unused."""
    task_name(target)
    if domain == target:
        return "test" if literature_video(domain, info) else None
    if literature_video(domain, info):
        return "train"
    return "dev" if held_out_video(domain, info) else None


def task_video_id(domain: str, video_id: str) -> str:
    """``'O/1_1_01_1'``."""
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain '{domain}'; valid: {', '.join(DOMAINS)}")
    return f"{domain}/{video_id}"


def split_task_video_id(task_id: str) -> tuple[str, str]:
    """``'O/1_1_01_1'`` -> ``('O', '1_1_01_1')``; the error names the id."""
    domain, sep, video_id = task_id.partition("/")
    if not sep or domain not in DOMAINS or not video_id:
        raise ValueError(f"'{task_id}' is not a cross-domain video id (<{'|'.join(DOMAINS)}>/<video id>)")
    return domain, video_id


def work_path(work_roots: dict[str, str | Path], task_id: str) -> Path:
    """The folder of a task video under its domain's work root (e.g. ``{"O": "work_oulu/frames", ...}``)."""
    domain, video_id = split_task_video_id(task_id)
    if domain not in work_roots:
        raise ValueError(f"no work root given for domain {domain} (video {task_id})")
    return Path(work_roots[domain]) / video_id
