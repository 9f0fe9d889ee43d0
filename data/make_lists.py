"""Protocol list files from the videos found in a folder (docs/data.md stage 5; docs/datasets.md).

    python -m data.make_lists DATASET --videos ROOT --out DIR [--protocol NAME]
    python -m data.make_lists mcio --target {O,C,I,M,all} --root O=DIR --root C=DIR --root I=DIR --root M=DIR --out DIR

DATASET is one of ``oulu``, ``replay_attack``, ``casia_fasd``, ``msu_mfsd``, ``siw``,
``replay_mobile``. Videos are found under ``--videos`` (files ``*.avi``/``*.mp4``/``*.mov`` or
frame folders, named as the release names them, see :mod:`fas_core.datasets`) and each
protocol's lists are written as ``DIR/<protocol>/{Train,Dev,Test}.txt`` (``Train_k.txt`` for
the folds of a protocol family; OULU-NPU keeps its release names ``DIR/Protocol_N/...``), one
line ``label,video_id`` per video: ``+1`` live, ``-1`` print, ``-2`` replay. ``DIR/summary.json``
counts the videos by split and species, the lines of every list, and names the files that
match no video name of the dataset. A folder that holds another dataset is refused.

``mcio`` writes the cross-domain leave-one-out task (:mod:`fas_core.datasets.mcio`) to
``DIR/<task>/{Train,Dev,Test}.txt`` (e.g. ``DIR/OCI_to_M/``) with ``<domain>/<video_id>`` ids and
a ``summary.json`` per task.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from fas_core import fileio
from fas_core.datasets import DATASETS, get_dataset, mcio
from fas_core.datasets.base import SPECIES, SPLIT_FILES, SPLITS
from fas_core.datasets.lists import split_counts, write_list, write_protocol_lists
from fas_core.datasets.scan import ScanResult, find_dataset_videos, scan_tree
from fas_core.stage_cli import stage_main

SHOWN_NAMES = 200  # unmatched names kept in summary.json


def find_video_names(root: str | Path) -> tuple[list[str], list[str]]:
    """OULU-NPU video names under ``root`` (files or frame folders) and the video files named otherwise."""
    oulu = get_dataset("oulu")
    result = scan_tree(oulu, root)
    names = [v.video_id for v in sorted(result.videos.values(), key=oulu.sort_key)]
    return names, result.unmatched


def _scan_summary(result: ScanResult) -> dict[str, Any]:
    upside_down = sorted(v.video_id for v in result.videos.values() if v.upside_down)
    return {
        "videos_dir": str(result.root),
        "videos": len(result.videos),
        "splits": split_counts(result.videos.values()),
        "unmatched": result.unmatched[:SHOWN_NAMES],
        "unmatched_count": len(result.unmatched),
        "enrolment_skipped": len(result.enrolment),
        "upside_down": upside_down,
    }


def make_dataset_lists(dataset_name: str, videos_dir: str | Path, out_dir: str | Path,
                       protocol: str = "all") -> dict[str, Any]:
    """Write the lists of ``protocol`` (a name, a fold family or ``all``) for the videos under ``videos_dir``."""
    dataset = get_dataset(dataset_name)
    protocols = dataset.expand_protocol(protocol)
    result = find_dataset_videos(dataset, videos_dir)
    out_dir = Path(out_dir)
    lists = write_protocol_lists(dataset, result.videos.values(), out_dir, protocols)
    summary = {
        "stage": "make_lists", "dataset": dataset.name, "title": dataset.title, "protocols": protocols,
        **_scan_summary(result),
        "dev_rule": dataset.dev_rule or None,
        "notes": {p: dataset.notes[p] for p in protocols if p in dataset.notes},
        "lists": lists,
    }
    fileio.write_json(out_dir / "summary.json", summary)
    return summary


def make_oulu_lists(videos_dir: str | Path, out_dir: str | Path, protocol: str = "all") -> dict[str, Any]:
    """OULU-NPU's official lists (``Protocol_N/Train.txt`` ...) for the videos under ``videos_dir``."""
    return make_dataset_lists("oulu", videos_dir, out_dir, protocol)


# ----------------------------------------------------------------------------- cross-domain tasks
def parse_roots(values: list[str] | None) -> dict[str, str]:
    """``['O=/data/oulu', ...]`` -> ``{'O': '/data/oulu', ...}``; all four domains are needed."""
    roots: dict[str, str] = {}
    for value in values or []:
        domain, sep, folder = value.partition("=")
        if not sep or domain not in mcio.DOMAINS or not folder:
            raise ValueError(f"--root {value!r}: expected D=DIR with D one of {', '.join(mcio.DOMAINS)}")
        if domain in roots:
            raise ValueError(f"--root {domain} is given twice")
        roots[domain] = folder
    missing = [d for d in mcio.DOMAINS if d not in roots]
    if missing:
        raise ValueError("every task uses all four domains: give " + " ".join(f"--root {d}=DIR" for d in missing))
    return roots


def scan_domains(roots: dict[str, str]) -> dict[str, ScanResult]:
    """Each domain's videos; an error says which ``--root`` it concerns."""
    scans = {}
    for domain, name in mcio.DOMAINS.items():
        try:
            scans[domain] = find_dataset_videos(get_dataset(name), roots[domain])
        except (FileNotFoundError, ValueError) as e:
            raise type(e)(f"--root {domain} ({get_dataset(name).title}): {e}") from None
    return scans


def task_entries(target: str, scans: dict[str, ScanResult]) -> dict[str, list[tuple[str, str, str]]]:
    """``{split: [(task video id, species, domain), ...]}``: sources in the literature's order, then the target."""
    entries: dict[str, list[tuple[str, str, str]]] = {s: [] for s in SPLITS}
    for domain in mcio.SOURCES[target] + (target,):
        dataset = get_dataset(mcio.DOMAINS[domain])
        for info in sorted(scans[domain].videos.values(), key=dataset.sort_key):
            split = mcio.task_split(target, domain, info)
            if split is not None:
                entries[split].append((mcio.task_video_id(domain, info.video_id), info.species, domain))
    return entries


def _entry_counts(entries: list[tuple[str, str, str]]) -> dict[str, Any]:
    species = Counter(s for _, s, _ in entries)
    domains = Counter(d for _, _, d in entries)
    return {"lines": len(entries), **{s: species[s] for s in SPECIES}, "domains": dict(sorted(domains.items()))}


def make_mcio_task(target: str, scans: dict[str, ScanResult], out_dir: str | Path) -> dict[str, Any]:
    """Write ``<out>/<task>/{Train,Dev,Test}.txt`` and its ``summary.json``; returns the summary."""
    folder = Path(out_dir) / mcio.task_name(target)
    lists = {}
    for split, entries in task_entries(target, scans).items():
        name = f"{SPLIT_FILES[split]}.txt"
        write_list(folder / name, ((v, s) for v, s, _ in entries))
        lists[name] = _entry_counts(entries)
    summary = {
        "stage": "make_lists", "dataset": "mcio", "task": mcio.task_title(target), "target": target,
        "sources": list(mcio.SOURCES[target]),
        "domains": {d: {"dataset": mcio.DOMAINS[d], **_scan_summary(r)} for d, r in scans.items()},
        "lists": lists,
    }
    fileio.write_json(folder / "summary.json", summary)
    return summary


def make_mcio_lists(target: str, roots: dict[str, str], out_dir: str | Path) -> list[dict[str, Any]]:
    """One task (target O, C, I or M) or all four (``'all'``)."""
    targets = list(mcio.SOURCES) if target == "all" else [target]
    for t in targets:
        mcio.task_name(t)
    scans = scan_domains(roots)
    return [make_mcio_task(t, scans, out_dir) for t in targets]


# ----------------------------------------------------------------------------- command line
def _counts_text(c: dict[str, Any]) -> str:
    return f"{c['lines']} lines (live {c['live']}, print {c['print']}, replay {c['replay']})"


def print_summary(summary: dict[str, Any]) -> None:
    """One line per list; the folds of a split share a line."""
    title = get_dataset(summary["dataset"]).short or summary["title"]
    print(f"[make_lists] {summary['videos']} videos, protocols {', '.join(summary['protocols'])}"
          + (f", {summary['unmatched_count']} non-{title} names ignored" if summary["unmatched_count"] else "")
          + (f", {summary['enrolment_skipped']} enrolment videos left out" if summary["enrolment_skipped"] else ""))
    groups: dict[str, list[dict[str, int]]] = {}
    for path, counts in summary["lists"].items():
        folder, _, file = path.rpartition("/")
        split, _, fold = file[:-4].partition("_")
        groups.setdefault(f"{folder}/{split}_k.txt" if fold else path, []).append(counts)
    for label, counts in groups.items():
        c = counts[0]
        if all(_counts_text(x) == _counts_text(c) for x in counts):
            folds = f" ({len(counts)} folds)" if len(counts) > 1 else ""
            print(f"  {label}{folds}: {_counts_text(c)}")
        else:
            print(f"  {label}: lines per fold {', '.join(str(x['lines']) for x in counts)}")
    empty = sum(1 for v in summary["lists"].values() if v["lines"] == 0)
    if empty:
        print(f"  ! {empty} lists are empty (no video of the dataset fits them)")


def print_mcio_summary(summary: dict[str, Any]) -> None:
    print(f"[make_lists] {summary['task']}")
    for name, c in summary["lists"].items():
        domains = ", ".join(f"{d} {n}" for d, n in c["domains"].items())
        print(f"  {name}: {_counts_text(c)}; by domain: {domains or 'none'}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m data.make_lists",
        description="Write protocol lists ('+1,video_id' lines) for the videos of a dataset found in a folder, "
                    "or the lists of a cross-domain leave-one-out task (mcio).",
    )
    parser.add_argument("dataset", choices=list(DATASETS) + ["mcio"], help="dataset, or mcio for the O/C/I/M tasks")
    parser.add_argument("--videos", help="dataset root, searched recursively for videos or frame folders")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--protocol", default="all",
                        help="protocol name, a family with folds (oulu 3, 4; siw P2, P3) or all (default)")
    parser.add_argument("--target", choices=list(mcio.SOURCES) + ["all"], help="mcio: the held-out domain")
    parser.add_argument("--root", action="append", metavar="D=DIR", help="mcio: a domain's dataset root (all four)")
    return parser


def run(args: argparse.Namespace) -> None:
    if args.dataset == "mcio":
        if args.videos or not args.target:
            raise ValueError("mcio takes --target {O,C,I,M,all} and --root D=DIR for each domain, not --videos")
        for summary in make_mcio_lists(args.target, parse_roots(args.root), args.out):
            print_mcio_summary(summary)
        return
    if not args.videos:
        raise ValueError(f"--videos is required for dataset {args.dataset}")
    if args.target or args.root:
        raise ValueError("--target and --root belong to mcio")
    print_summary(make_dataset_lists(args.dataset, args.videos, args.out, args.protocol))


def main(argv: list[str] | None = None) -> int:
    return stage_main("make_lists", build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
