"""Score files: one line per video, ``video_name score label [species]`` (spec: docs/metrics.md).

* ``video_name`` stays a string (``1_1_01_1`` keeps its leading zeros; never parsed as a number).
* ``score``: a finite float, higher = more likely live.
* ``label``: ``1`` live, ``0`` attack.
* ``species`` (optional 4th column): ``live`` for live videos, any other word names the attack
  species. Without it, the species comes from the OULU file code when the name looks like an
  OULU video (``Phone_Session_User_File``, last ``_`` field: 1 live, 2/3 print, 4/5 replay);
  for any other name the label decides: ``live``, or ``attack`` for label 0.

Blank lines and lines starting with ``#`` are ignored. Fields are separated by whitespace, so a
name may not contain any. The writer always writes all four columns.

Per-frame score files keep the frame-level scores the video scores were averaged from:
``video_name frame_index score label`` per line (frame_index 1-based, as in the frame files).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import UserError
from .fileio import atomic_write_text
from .metrics import DEFAULT_ATTACK_SPECIES, LIVE_SPECIES

# Phone_Session_User_File (e.g. 1_1_01_1); optional folder prefix and .avi suffix tolerated.
OULU_NAME_RE = re.compile(r"^(?:.*/)?\d+_\d+_\d+_(?P<code>\d)(?:\.avi)?$")
OULU_CODE_SPECIES = {"1": LIVE_SPECIES, "2": "print", "3": "print", "4": "replay", "5": "replay"}

ScoreRow = tuple[str, float, int, "str | None"]
FrameRow = tuple[str, int, float, int]


class ScoreFileError(UserError, ValueError):
    """A malformed score file; the message names the file and the line."""


def oulu_species(name: str) -> str | None:
    """Species from an OULU video name's file code, or ``None`` if the name is not OULU-like."""
    m = OULU_NAME_RE.match(name)
    if not m:
        return None
    return OULU_CODE_SPECIES.get(m.group("code"))


def resolve_species(name: str, label: int, species: str | None = None) -> str:
    """The species of one video; raises ``ValueError`` when label and species/file code disagree.

    Order: explicit ``species``; else the OULU file code; else ``live`` / ``attack`` by label.
    """
    if label not in (0, 1):
        raise ValueError(f"label must be 1 (live) or 0 (attack), got {label!r}")
    if species is not None:
        species = str(species)
        if not species or any(c.isspace() for c in species):
            raise ValueError(f"species {species!r} is empty or contains whitespace")
        if (species == LIVE_SPECIES) != (label == 1):
            raise ValueError(f"label {label} contradicts species {species!r}")
        return species
    derived = oulu_species(name)
    if derived is not None:
        if (derived == LIVE_SPECIES) != (label == 1):
            raise ValueError(f"label {label} contradicts the OULU file code of {name!r} ({derived})")
        return derived
    return LIVE_SPECIES if label == 1 else DEFAULT_ATTACK_SPECIES


@dataclass
class ScoreSet:
    """Video-level scores of one split: parallel lists, species always resolved (never ``None``)."""

    names: list[str] = field(default_factory=list)
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0))
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    species: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.names)

    @classmethod
    def from_rows(cls, rows: Iterable[Sequence], source: str = "scores") -> ScoreSet:
        """Build from ``(video, score, label[, species-or-None])`` rows; ``source`` names them in errors."""
        names, scores, labels, species = [], [], [], []
        seen: set[str] = set()
        for i, row in enumerate(rows):
            where = f"{source}, row {i + 1}"
            if len(row) not in (3, 4):
                raise ValueError(f"{where}: expected (video, score, label[, species]), got {len(row)} fields")
            name, score, label = row[0], row[1], row[2]
            sp = row[3] if len(row) == 4 else None
            if not isinstance(name, str):
                raise ValueError(f"{where}: video name must be a string, got {type(name).__name__} {name!r}")
            try:
                if label not in (0, 1):  # also rejects 0.5, "1", None: int() would hide them
                    raise ValueError(f"label must be 1 (live) or 0 (attack), got {label!r}")
                label = int(label)
                species.append(_check_row(name, float(score), label, sp, seen))
            except ValueError as e:
                raise ValueError(f"{where}: {e}") from e
            names.append(name)
            scores.append(float(score))
            labels.append(label)
        return cls(names, np.asarray(scores, dtype=np.float64), np.asarray(labels, dtype=np.int64), species)

    def to_rows(self) -> list[tuple[str, float, int, str]]:
        return [(n, float(s), int(y), sp) for n, s, y, sp in zip(self.names, self.scores, self.labels, self.species,
                                                               strict=True)]


def _check_row(name: str, score: float, label: int, species: str | None, seen: set[str]) -> str:
    """Validate one video row (shared by the reader and :meth:`ScoreSet.from_rows`); returns its species."""
    if not name or any(c.isspace() for c in name):
        raise ValueError(f"video name {name!r} is empty or contains whitespace")
    if name in seen:
        raise ValueError(f"video {name!r} appears twice")
    if not math.isfinite(score):
        raise ValueError(f"score of {name!r} is not finite: {score}")
    seen.add(name)
    return resolve_species(name, label, species)


# ----------------------------------------------------------------------------- video-level files
def _parse_label(text: str) -> int:
    if text not in ("0", "1"):
        raise ValueError(f"label must be 1 (live) or 0 (attack), got {text!r}")
    return int(text)


def _parse_score(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"score {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"score {text!r} is not finite")
    return value


def _data_lines(path: Path) -> Iterable[tuple[int, list[str]]]:
    if not path.is_file():
        raise FileNotFoundError(f"score file not found: {path}")
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            text = line.strip()
            if text and not text.startswith("#"):
                yield lineno, text.split()


def read_scores(path: str | Path) -> ScoreSet:
    """Read a video-level score file; a malformed line raises :class:`ScoreFileError` (file:line: why)."""
    path = Path(path)
    names, scores, labels, species = [], [], [], []
    seen: set[str] = set()
    for lineno, fields in _data_lines(path):
        try:
            if len(fields) not in (3, 4):
                raise ValueError(f"expected 'video_name score label [species]', got {len(fields)} fields")
            name, score, label = fields[0], _parse_score(fields[1]), _parse_label(fields[2])
            species.append(_check_row(name, score, label, fields[3] if len(fields) == 4 else None, seen))
        except ValueError as e:
            raise ScoreFileError(f"{path}:{lineno}: {e}") from None
        names.append(name)
        scores.append(score)
        labels.append(label)
    if not names:
        raise ScoreFileError(f"{path}: no score lines")
    return ScoreSet(names, np.asarray(scores, dtype=np.float64), np.asarray(labels, dtype=np.int64), species)


def write_scores(path: str | Path, scores: ScoreSet | Iterable[Sequence]) -> ScoreSet:
    """Write ``video_name score label species`` lines atomically; returns the (validated) set.

    Scores are written with Python's shortest exact float repr, so reading back gives equal floats.
    """
    ss = scores if isinstance(scores, ScoreSet) else ScoreSet.from_rows(scores, source=str(path))
    lines = [f"{n} {float(s)!r} {int(y)} {sp}\n" for n, s, y, sp in ss.to_rows()]
    atomic_write_text(path, "".join(lines))
    return ss


# ----------------------------------------------------------------------------- frame-level files
def write_frame_scores(path: str | Path, rows: Iterable[Sequence]) -> int:
    """Write ``video_name frame_index score label`` lines atomically; returns the number of lines."""
    lines = []
    for i, row in enumerate(rows):
        where = f"{path}, row {i + 1}"
        if len(row) != 4:
            raise ValueError(f"{where}: expected (video, frame_index, score, label), got {len(row)} fields")
        name, index, score, label = row
        if not isinstance(name, str) or not name or any(c.isspace() for c in name):
            raise ValueError(f"{where}: bad video name {name!r}")
        if int(index) != index or int(index) < 0:
            raise ValueError(f"{where}: frame index must be a non-negative integer, got {index!r}")
        if not math.isfinite(float(score)):
            raise ValueError(f"{where}: score is not finite: {score}")
        if int(label) not in (0, 1):
            raise ValueError(f"{where}: label must be 1 or 0, got {label!r}")
        lines.append(f"{name} {int(index)} {float(score)!r} {int(label)}\n")
    atomic_write_text(path, "".join(lines))
    return len(lines)


def read_frame_scores(path: str | Path) -> list[FrameRow]:
    """Read a per-frame score file; malformed lines raise :class:`ScoreFileError` (file:line: why)."""
    path = Path(path)
    rows: list[FrameRow] = []
    for lineno, fields in _data_lines(path):
        try:
            if len(fields) != 4:
                raise ValueError(f"expected 'video_name frame_index score label', got {len(fields)} fields")
            if not fields[1].isdigit():
                raise ValueError(f"frame index {fields[1]!r} is not a non-negative integer")
            rows.append((fields[0], int(fields[1]), _parse_score(fields[2]), _parse_label(fields[3])))
        except ValueError as e:
            raise ScoreFileError(f"{path}:{lineno}: {e}") from None
    return rows


def video_scores_from_frames(rows: Iterable[Sequence]) -> list[tuple[str, float, int, None]]:
    """Average frame scores per video (what the references do); videos keep first-seen order."""
    sums: dict[str, list[float]] = {}
    labels: dict[str, int] = {}
    for name, _index, score, label in rows:
        if name in labels and labels[name] != int(label):
            raise ValueError(f"video {name!r} has frames with labels {labels[name]} and {int(label)}")
        labels[name] = int(label)
        sums.setdefault(name, []).append(float(score))
    return [(n, float(np.mean(v)), labels[n], None) for n, v in sums.items()]
