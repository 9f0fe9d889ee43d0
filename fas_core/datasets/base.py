"""What every dataset reader shares: the video record, the reader interface, face-box files.

A reader turns a path relative to its dataset root (the *video id*: the path without its
extension, ``/``-separated, e.g. ``train/real/client001_session01_webcam_authenticate_adverse_1``)
into a :class:`VideoInfo`, and says which videos each protocol split uses. Everything comes
from the path alone, so list files can be rebuilt from any copy of a dataset (docs/datasets.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

SPLITS = ("train", "dev", "test")
SPLIT_FILES = {"train": "Train", "dev": "Dev", "test": "Test"}
ENROL = "enrol"  # enrolment videos (face recognition references): read, never listed
SPECIES = ("live", "print", "replay")
# List labels, as OULU-NPU's official lists write them: +1 bona fide, -1 print, -2 replay.
OFFICIAL_LABEL = {"live": 1, "print": -1, "replay": -2}
SPECIES_OF_LABEL = {v: k for k, v in OFFICIAL_LABEL.items()}
VIDEO_EXTENSIONS = (".avi", ".mp4", ".mov")

Box = tuple[int, int, int, int]  # x, y, w, h in pixels of the full frame (the .dat convention)


@dataclass(frozen=True)
class VideoInfo:
    """Everything a dataset's naming says about one video."""

    video_id: str  # path relative to the dataset root, without extension (OULU: the official name)
    subject: str  # as the dataset numbers it (CASIA test folder k is subject 20 + k)
    species: str  # live / print / replay
    attack: str  # finer presentation type ("" for live), e.g. "highdef_video", "warped_photo"
    split: str  # train / dev / test (after a carved dev split), or "enrol"
    release_split: str  # the split of the release itself: train / dev / test / enrol
    device: str = ""  # capture device or camera (OULU phone, SiW sensor, MSU android/laptop, ...)
    session: str = ""
    details: dict[str, str] = field(default_factory=dict, hash=False)  # other fields the name encodes
    upside_down: bool = False  # stored rotated by 180 degrees (five MSU-MFSD android videos)

    @property
    def label(self) -> int:
        """The list label: +1 live, -1 print, -2 replay."""
        return OFFICIAL_LABEL[self.species]


def list_line(video_id: str, species: str) -> str:
    """One list line, ``+1,video_id`` / ``-1,...`` / ``-2,...``."""
    return f"{OFFICIAL_LABEL[species]:+d},{video_id}"


def strip_video_extension(path: str) -> str:
    """A ``/``-separated path without its video extension (``.avi``, ``.mp4``, ``.mov``, any case)."""
    path = str(path).replace("\\", "/")
    for ext in VIDEO_EXTENSIONS:
        if path.lower().endswith(ext):
            return path[: -len(ext)]
    return path


def natural_key(text: str) -> tuple:
    """Sort key that orders digit runs by value (``client2`` before ``client10``)."""
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text))


def release_split_of(folder: str, names: dict[str, str], what: str) -> str:
    """Map a release folder name to train/dev/test; the error names the folder and the valid ones."""
    if folder not in names:
        raise ValueError(f"'{folder}' is not a {what} split folder ({', '.join(names)})")
    return names[folder]


def carve_dev(release_split: str, subject: int, dev_subjects: frozenset[int]) -> str:
    """The split after carving a dev split out of the training subjects."""
    if release_split == "train" and subject in dev_subjects:
        return "dev"
    return release_split


def last_fifth(subjects: tuple[int, ...]) -> frozenset[int]:
    """The rule for a dev split where none is official: the last fifth of the training subjects."""
    ordered = sorted(subjects)
    return frozenset(ordered[len(ordered) - round(len(ordered) / 5):])


class Dataset:
    """A dataset reader. Subclasses set the attributes and implement :meth:`parse` and :meth:`in_protocol`."""

    name = ""  # registry name, e.g. "replay_attack"
    title = ""  # as the dataset calls itself, e.g. "Replay-Attack"
    short = ""  # a short name for messages ("non-OULU names"); the title when empty
    protocols: tuple[str, ...] = ()  # every protocol, folds spelled out (P2_1, ...)
    folds: dict[str, int] = {}  # protocol family -> number of folds (P2 -> 4)
    expected = ""  # what a video path looks like, for error messages
    dev_rule = ""  # how the dev split is made where the release has none
    notes: dict[str, str] = {}  # per-protocol notes a loader must honour (e.g. SiW P1's 60 frames)

    def parse(self, video_id: str) -> VideoInfo:
        """The record of one video; ValueError (saying what is wrong) when the path is not one of this dataset."""
        raise NotImplementedError

    def in_protocol(self, info: VideoInfo, protocol: str, split: str) -> bool:
        """Whether ``protocol``'s ``split`` (train/dev/test) uses the video."""
        raise NotImplementedError

    def matches(self, video_id: str) -> bool:
        try:
            self.parse(video_id)
        except ValueError:
            return False
        return True

    def expand_protocol(self, protocol: str) -> list[str]:
        """``'all'`` -> every protocol; a family with folds (``'P2'``) -> its folds; a name -> itself."""
        p = str(protocol)
        if p == "all":
            return list(self.protocols)
        if p in self.folds:
            return [f"{p}_{k}" for k in range(1, self.folds[p] + 1)]
        if p in self.protocols:
            return [p]
        valid = ", ".join(list(self.protocols) + list(self.folds) + ["all"])
        raise ValueError(f"unknown {self.title} protocol '{protocol}'; valid: {valid}")

    def check_protocol(self, protocol: str) -> None:
        if protocol not in self.protocols:
            raise ValueError(f"unknown {self.title} protocol '{protocol}'; valid: {', '.join(self.protocols)}")

    def list_path(self, out_dir: str | Path, protocol: str, split: str) -> Path:
        """``<out>/<protocol>/Train.txt``; a fold ``P2_3`` of a family writes ``<out>/P2/Train_3.txt``."""
        self.check_protocol(protocol)
        family, _, fold = protocol.rpartition("_")
        if family in self.folds:
            return Path(out_dir) / family / f"{SPLIT_FILES[split]}_{fold}.txt"
        return Path(out_dir) / protocol / f"{SPLIT_FILES[split]}.txt"

    def sort_key(self, info: VideoInfo) -> tuple:
        return natural_key(info.video_id)

    def face_boxes(self, root: str | Path, video_id: str) -> dict[int, Box] | None:
        """Face boxes the dataset ships for a video, by 0-based video frame; None when it ships none."""
        return None

    def check_tree(self, root: Path) -> None:
        """Check files of the release other than videos (e.g. split lists); ValueError names the file."""


# ----------------------------------------------------------------------------- face-box files
def _numbers(path: Path, lineno: int, raw: str, count: int, layout: str) -> list[int]:
    parts = raw.replace(",", " ").split()
    if len(parts) != count:
        raise ValueError(f"{path}:{lineno}: expected '{layout}', got {raw.strip()!r}")
    try:
        return [int(round(float(p))) for p in parts]
    except ValueError:
        raise ValueError(f"{path}:{lineno}: expected numbers '{layout}', got {raw.strip()!r}") from None


def _lines(path: str | Path) -> list[tuple[int, str]]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"face box file not found: {path}")
    text = path.read_text(encoding="utf-8", errors="replace")
    return [(i, raw) for i, raw in enumerate(text.splitlines(), start=1) if raw.strip()]


def read_frame_boxes(path: str | Path) -> dict[int, Box]:
    """A ``frame x y w h`` file (Replay-Attack's face-locations); frames without a box are absent.

    A row with a zero width or height means no face in that frame.
    """
    boxes: dict[int, Box] = {}
    for lineno, raw in _lines(path):
        frame, x, y, w, h = _numbers(Path(path), lineno, raw, 5, "frame x y w h")
        if frame < 0:
            raise ValueError(f"{path}:{lineno}: negative frame number {frame}")
        if w > 0 and h > 0:
            boxes[frame] = (x, y, w, h)
    return boxes


def read_corner_boxes(path: str | Path) -> dict[int, Box]:
    """An ``x1 y1 x2 y2`` file, one row per frame from frame 0 (SiW); ``0 0 0 0`` means no face."""
    boxes: dict[int, Box] = {}
    for frame, (lineno, raw) in enumerate(_lines(path)):
        x1, y1, x2, y2 = _numbers(Path(path), lineno, raw, 4, "x1 y1 x2 y2")
        if (x1, y1, x2, y2) == (0, 0, 0, 0):
            continue
        if x2 <= x1 or y2 <= y1:
            raise ValueError(f"{path}:{lineno}: corner box {x1} {y1} {x2} {y2} has no area")
        boxes[frame] = (x1, y1, x2 - x1, y2 - y1)
    return boxes


def box_of_frame(boxes: dict[int, Box], index: int, every: int = 1) -> Box | None:
    """The shipped box of an extracted frame: ``index`` is 1-based, frames taken every ``every`` video frames."""
    return boxes.get((index - 1) * every)
