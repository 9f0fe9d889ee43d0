"""Protocol list files from the videos found in a folder (data.md, stage 5 "Lists").

    python -m data.make_lists oulu --protocol {1,2,3,4,all} --videos DIR --out DIR

Finds OULU-NPU video names under ``--videos`` (recursively: ``*.avi``/``*.mp4``/``*.mov`` files,
or frame folders named like videos, e.g. ``<work>/frames/1_1_01_1/``) and writes the official
lists ``<out>/Protocol_N/{Train,Dev,Test}.txt`` (``Train_k.txt`` ... for the six folds of
protocols 3 and 4) with :mod:`fas_core.oulu`. Names that are not OULU names are counted and
ignored. A ``summary.json`` in ``--out`` gives the lines per list.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from fas_core import fileio, oulu
from fas_core.stage_cli import stage_main


def find_video_names(root: str | Path) -> tuple[list[str], list[str]]:
    """OULU video names under ``root`` (files with a video extension or folders named like videos).

    Returns ``(names, ignored)``: the sorted unique names, and the video files/folders whose
    names are not OULU names. Frame folders are not searched further.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"video folder not found: {root}")
    names: set[str] = set()
    ignored: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        keep = []
        for d in sorted(dirnames):
            if oulu.is_video_name(d):
                names.add(d)  # a frame folder: its content is frames, not videos
            elif not d.startswith("."):
                keep.append(d)
        dirnames[:] = keep
        for f in filenames:
            if f.lower().endswith(oulu.VIDEO_EXTENSIONS):
                if oulu.is_video_name(f):
                    names.add(oulu.parse_video_name(f).name)
                else:
                    ignored.append(str(Path(dirpath, f).relative_to(root)))
    return sorted(names, key=oulu.sort_key), sorted(ignored)


def make_oulu_lists(videos_dir: str | Path, out_dir: str | Path, protocol: str = "all") -> dict[str, Any]:
    """Write the lists of ``protocol`` (1, 2, 3, 4 or all) for the videos under ``videos_dir``."""
    names, ignored = find_video_names(videos_dir)
    if not names:
        raise ValueError(
            f"no OULU-NPU videos (Phone_Session_User_File.avi/.mp4/.mov or frame folders) found under {videos_dir}"
        )
    protocols = oulu.expand_protocol(protocol)
    out_dir = Path(out_dir)
    lists: dict[str, dict[str, int]] = {}
    for p in protocols:
        for split in oulu.SPLITS:
            path = oulu.list_path(out_dir, p, split)
            videos = oulu.protocol_split(names, p, split)
            oulu.write_list(path, videos)
            counts = Counter(oulu.species_of(v) for v in videos)
            lists[str(path.relative_to(out_dir))] = {"lines": len(videos), **{s: counts[s] for s in
                                                                              ("live", "print", "replay")}}
    summary = {
        "stage": "make_lists",
        "dataset": "oulu",
        "videos_dir": str(videos_dir),
        "videos": len(names),
        "protocols": protocols,
        "ignored_non_oulu_names": ignored[:200],
        "ignored_count": len(ignored),
        "lists": lists,
    }
    fileio.write_json(out_dir / "summary.json", summary)
    return summary


def print_summary(summary: dict[str, Any]) -> None:
    """One line per list; the six folds of a split share a line."""
    print(f"[make_lists] {summary['videos']} videos, protocols {', '.join(summary['protocols'])}"
          + (f", {summary['ignored_count']} non-OULU names ignored" if summary["ignored_count"] else ""))
    groups: dict[str, list[dict[str, int]]] = {}
    for path, counts in summary["lists"].items():
        folder, _, file = path.rpartition("/")
        split, _, fold = file[:-4].partition("_")
        groups.setdefault(f"{folder}/{split}_k.txt" if fold else path, []).append(counts)
    for label, counts in groups.items():
        c = counts[0]
        if all(x == c for x in counts):
            folds = f" ({len(counts)} folds)" if len(counts) > 1 else ""
            print(f"  {label}{folds}: {c['lines']} lines (live {c['live']}, print {c['print']}, replay {c['replay']})")
        else:
            print(f"  {label}: lines per fold {', '.join(str(x['lines']) for x in counts)}")
    empty = sum(1 for v in summary["lists"].values() if v["lines"] == 0)
    if empty:
        print(f"  ! {empty} lists are empty (no video of the dataset fits them)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m data.make_lists",
        description="Write OULU-NPU protocol lists (official format '+1,1_1_01_1') for the videos found in a folder.",
    )
    parser.add_argument("dataset", choices=["oulu"], help="dataset whose protocols to write")
    parser.add_argument("--protocol", default="all", choices=["1", "2", "3", "4", "all"],
                        help="protocol (3 and 4 write their six folds); default: all")
    parser.add_argument("--videos", required=True,
                        help="folder searched recursively for videos (*.avi, *.mp4, *.mov) or frame folders")
    parser.add_argument("--out", required=True, help="output folder; lists go to <out>/Protocol_N/")
    return parser


def main(argv: list[str] | None = None) -> int:
    return stage_main("make_lists", build_parser(),
                      lambda a: print_summary(make_oulu_lists(a.videos, a.out, a.protocol)), argv)


if __name__ == "__main__":
    sys.exit(main())
