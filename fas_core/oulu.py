"""OULU-NPU names, protocols and list files (docs/data.md, "OULU-NPU").

Videos are named ``Phone_Session_User_File`` (``1_1_01_1``): 6 phones, 3 sessions, 55 users
(two digits) and 5 file codes. The file code gives the presentation: ``1`` bona fide, ``2``/``3``
print (printer 1/2), ``4``/``5`` video replay (display 1/2). Users 01-20 are train, 21-35 dev,
36-55 test.

The four protocols (docs/data.md table):

=====  ==========================================  =====================================
  P    train / dev                                 test
=====  ==========================================  =====================================
  1    sessions 1,2; all phones; all files         session 3
  2    all sessions; files 1,2,4                   files 1,3,5
  3_k  phones other than k; all sessions/files     phone k
  4_k  sessions 1,2; phones other than k;          session 3; phone k; files 1,3,5
       files 1,2,4
=====  ==========================================  =====================================

Dev always uses dev users with the train conditions, test uses test users.

List files use the official line format ``label,video`` (``+1,1_1_01_1``): ``+1`` bona fide,
``-1`` print, ``-2`` replay. Readers derive the attack species from the file code, never from
the label, and map the label to 1 (live) / 0 (attack).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from . import fileio
from .datasets.base import VIDEO_EXTENSIONS, strip_video_extension  # noqa: F401 (VIDEO_EXTENSIONS: re-exported)
from .errors import UserError

PHONES = (1, 2, 3, 4, 5, 6)
SESSIONS = (1, 2, 3)
USERS = tuple(range(1, 56))
FILES = (1, 2, 3, 4, 5)
USER_RANGES = {"train": range(1, 21), "dev": range(21, 36), "test": range(36, 56)}
SPLITS = ("train", "dev", "test")
SPLIT_FOLDERS = {"train": "Train_files", "dev": "Dev_files", "test": "Test_files"}
SPLIT_FILES = {"train": "Train", "dev": "Dev", "test": "Test"}
SPECIES_OF_FILE = {1: "live", 2: "print", 3: "print", 4: "replay", 5: "replay"}
# Official list labels: +1 bona fide, -1 print, -2 replay.
OFFICIAL_LABEL = {"live": 1, "print": -1, "replay": -2}
FOLDS = (1, 2, 3, 4, 5, 6)
PROTOCOLS = ("1", "2") + tuple(f"3_{k}" for k in FOLDS) + tuple(f"4_{k}" for k in FOLDS)

_NAME_RE = re.compile(r"^(\d+)_(\d+)_(\d{2})_(\d+)$")


class OuluName(NamedTuple):
    """The four parts of an OULU-NPU video name, as written in the name (user keeps 2 digits)."""

    phone: str
    session: str
    user: str
    file: str

    @property
    def name(self) -> str:
        return f"{self.phone}_{self.session}_{self.user}_{self.file}"

    def ints(self) -> tuple[int, int, int, int]:
        return int(self.phone), int(self.session), int(self.user), int(self.file)


class ListFileError(UserError, ValueError):
    """A protocol list file that cannot be used; the message names the file (and the line)."""


class MissingVideosError(UserError, ValueError):
    """A list names videos that the dataset folder does not have."""


def _strip_extension(name: str) -> str:
    """``name`` without a video extension; folders stay (list lines may name ``O/1_1_01_1``)."""
    return strip_video_extension(name)


@lru_cache(maxsize=65536)  # protocol code parses the same few thousand names many times
def parse_video_name(name: str) -> OuluName:
    """Parse ``Phone_Session_User_File`` (a video extension and folders are allowed); ValueError says what is wrong."""
    stem = _strip_extension(name).rsplit("/", 1)[-1]
    m = _NAME_RE.match(stem)
    if not m:
        raise ValueError(
            f"'{name}' is not an OULU-NPU video name: expected Phone_Session_User_File "
            "with a two-digit user, e.g. 1_1_01_1"
        )
    parsed = OuluName(*m.groups())
    phone, session, user, file = parsed.ints()
    for what, value, valid in (("phone", phone, PHONES), ("session", session, SESSIONS),
                               ("user", user, USERS), ("file code", file, FILES)):
        if value not in valid:
            raise ValueError(f"'{name}': {what} {value} is out of range {valid[0]}-{valid[-1]}")
    return parsed


def is_video_name(name: str) -> bool:
    """True when ``name`` parses as an OULU-NPU video name."""
    try:
        parse_video_name(name)
    except ValueError:
        return False
    return True


def species_of(name: str) -> str:
    """``'live'``, ``'print'`` or ``'replay'`` from the file code (1 / 2,3 / 4,5)."""
    return SPECIES_OF_FILE[int(parse_video_name(name).file)]


def label_of(name: str) -> int:
    """1 for bona fide (file code 1), 0 for an attack."""
    return 1 if species_of(name) == "live" else 0


def official_label(name: str) -> int:
    """The label the official lists write: +1 bona fide, -1 print, -2 replay."""
    return OFFICIAL_LABEL[species_of(name)]


def split_of_user(user: int | str) -> str:
    """``'train'`` (01-20), ``'dev'`` (21-35) or ``'test'`` (36-55)."""
    u = int(user)
    for split, users in USER_RANGES.items():
        if u in users:
            return split
    raise ValueError(f"user {user} is outside OULU-NPU's 1-55")


def folder_of(name: str) -> str:
    """The release folder holding a video: ``Train_files``, ``Dev_files`` or ``Test_files``."""
    return SPLIT_FOLDERS[split_of_user(parse_video_name(name).user)]


def all_video_names() -> list[str]:
    """All 4950 OULU-NPU video names (6 phones x 3 sessions x 55 users x 5 files), sorted."""
    return [f"{p}_{s}_{u:02d}_{f}" for p in PHONES for s in SESSIONS for u in USERS for f in FILES]


def sort_key(name: str) -> tuple[int, int, int, int]:
    """Numeric order phone, session, user, file (the order the lists are written in)."""
    return parse_video_name(name).ints()


# ----------------------------------------------------------------------------- protocols
def expand_protocol(protocol: str | int) -> list[str]:
    """``'3'`` -> ``['3_1', ..., '3_6']``; ``'1'`` -> ``['1']``; ``'all'`` -> every protocol."""
    p = str(protocol)
    if p == "all":
        return list(PROTOCOLS)
    if p in ("3", "4"):
        return [f"{p}_{k}" for k in FOLDS]
    if p in PROTOCOLS:
        return [p]
    raise ValueError(f"unknown OULU-NPU protocol '{protocol}'; valid: 1, 2, 3, 4, 3_1..3_6, 4_1..4_6, all")


def protocol_conditions(protocol: str, split: str) -> dict[str, frozenset[int]]:
    """Allowed users, phones, sessions and files of one protocol split (docs/data.md table)."""
    protocol = str(protocol)
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown OULU-NPU protocol '{protocol}'; valid: {', '.join(PROTOCOLS)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split '{split}'; valid: {', '.join(SPLITS)}")
    test = split == "test"
    phones, sessions, files = set(PHONES), set(SESSIONS), set(FILES)
    major, _, fold = protocol.partition("_")
    if major in ("1", "4"):  # unseen illumination: train/dev sessions 1,2, test session 3
        sessions = {3} if test else {1, 2}
    if major in ("2", "4"):  # unseen attack instrument: printer 1/display 1 vs printer 2/display 2
        files = {1, 3, 5} if test else {1, 2, 4}
    if major in ("3", "4"):  # leave one phone out: fold k holds phone k out for testing
        k = int(fold)
        phones = {k} if test else set(PHONES) - {k}
    return {
        "users": frozenset(USER_RANGES[split]),
        "phones": frozenset(phones),
        "sessions": frozenset(sessions),
        "files": frozenset(files),
    }


def protocol_split(video_names: Iterable[str], protocol: str, split: str) -> list[str]:
    """The videos of ``video_names`` that ``protocol``'s ``split`` uses, in list order.

    ``protocol`` is ``'1'``, ``'2'``, ``'3_1'``..``'3_6'`` or ``'4_1'``..``'4_6'``; ``split`` is
    ``'train'``, ``'dev'`` or ``'test'``. Names that are not OULU names raise ValueError.
    """
    cond = protocol_conditions(str(protocol), split)
    out = set()
    for name in video_names:
        phone, session, user, file = parse_video_name(name).ints()
        if (user in cond["users"] and phone in cond["phones"] and session in cond["sessions"]
                and file in cond["files"]):
            out.add(_strip_extension(name))
    return sorted(out, key=sort_key)


def list_path(protocols_root: str | Path, protocol: str, split: str) -> Path:
    """``Protocol_1/Train.txt``; folds of protocols 3 and 4 are ``Protocol_3/Train_2.txt``."""
    protocol = str(protocol)
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown OULU-NPU protocol '{protocol}'; valid: {', '.join(PROTOCOLS)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split '{split}'; valid: {', '.join(SPLITS)}")
    major, _, fold = protocol.partition("_")
    stem = SPLIT_FILES[split] + (f"_{fold}" if fold else "")
    return Path(protocols_root) / f"Protocol_{major}" / f"{stem}.txt"


def write_protocol(video_names: Sequence[str], protocols_root: str | Path, protocol: str | int) -> list[Path]:
    """Write the Train/Dev/Test lists of one protocol (all six folds for ``'3'``/``'4'``)."""
    written = []
    for p in expand_protocol(protocol):
        for split in SPLITS:
            path = list_path(protocols_root, p, split)
            write_list(path, protocol_split(video_names, p, split))
            written.append(path)
    return written


def write_all_protocols(video_names: Sequence[str], protocols_root: str | Path) -> None:
    """Write ``Protocol_1``..``Protocol_4`` list files under ``protocols_root`` (folds for 3, 4)."""
    names = list(video_names)
    for p in PROTOCOLS:
        write_protocol(names, protocols_root, p)


# ----------------------------------------------------------------------------- list IO
def format_line(video: str, label: int | None = None) -> str:
    """One official list line. ``label`` 1/0 (or None: from the name); attacks get -1/-2 by species."""
    name = _strip_extension(video)
    oulu = is_video_name(name)
    if label is None:
        if not oulu:
            raise ValueError(f"'{video}' is not an OULU-NPU name; give its label (1 live, 0 attack)")
        label = label_of(name)
    if label > 0:
        if oulu and label_of(name) != 1:
            raise ValueError(f"'{video}' is an attack (file code {parse_video_name(name).file}) but labelled live")
        return f"+1,{name}"
    if oulu:
        if label_of(name) == 1:
            raise ValueError(f"'{video}' is bona fide (file code 1) but labelled as an attack")
        return f"{official_label(name)},{name}"
    return f"-1,{name}"


def write_list(path: str | Path, entries: Iterable[str | tuple[str, int]]) -> None:
    """Write a list file atomically. ``entries``: video names, or ``(video, label)`` with label 1/0."""
    lines = []
    for e in entries:
        if isinstance(e, str):
            lines.append(format_line(e))
        else:
            video, label = e
            lines.append(format_line(video, int(label)))
    fileio.atomic_write_text(path, "".join(line + "\n" for line in lines))


def read_list(path: str | Path, zero_is_attack: bool = False) -> list[tuple[str, int]]:
    """Read ``label,video`` lines into ``(video, label)`` with label 1 (live) / 0 (attack).

    Blank lines are skipped. A malformed line, or an OULU name whose label contradicts its file
    code, is an error naming the file and the line number. Label ``0`` is an error (OULU writes
    ``-1``/``-2`` for attacks) unless ``zero_is_attack`` (DSDG's ``generated.txt`` writes ``0``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"list file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ListFileError(f"{path}: not a text list of 'label,video' lines (byte {e.start} is not UTF-8)") from None
    out = []
    for i, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 2 or not parts[1]:
            raise ListFileError(f"{path}:{i}: expected 'label,video' (e.g. +1,1_1_01_1), got {raw!r}")
        try:
            value = int(parts[0])
        except ValueError as e:
            raise ListFileError(f"{path}:{i}: label {parts[0]!r} is not an integer (+1 live, -1/-2 attack)") from e
        if value == 0 and not zero_is_attack:
            raise ListFileError(f"{path}:{i}: label 0 is neither live (+1) nor attack (negative)")
        video = _strip_extension(parts[1])
        label = 1 if value > 0 else 0
        if is_video_name(video) and label_of(video) != label:
            raise ListFileError(
                f"{path}:{i}: label {parts[0]} contradicts the file code of {video} ({species_of(video)})"
            )
        out.append((video, label))
    return out


def check_missing(list_entries: Iterable[str | tuple[str, int]], available_names: Iterable[str],
                  allow_missing: bool = False, what: str = "list") -> list[str]:
    """Return the listed videos that are not available; raise unless ``allow_missing``.

    Real copies of the dataset can lack videos (the DSDG Dev list misses ``1_1_22_3``), so the
    error (or, when allowed, the warning) gives the count and the names.
    """
    available = {_strip_extension(n) for n in available_names}
    listed = [_strip_extension(e if isinstance(e, str) else e[0]) for e in list_entries]
    missing = sorted({v for v in listed if v not in available}, key=lambda v: (not is_video_name(v), v))
    if missing:
        shown = ", ".join(missing[:20]) + (f", ... ({len(missing) - 20} more)" if len(missing) > 20 else "")
        msg = f"{len(missing)} of {len(listed)} videos of the {what} are missing: {shown}"
        if not allow_missing:
            raise MissingVideosError(msg + " (pass allow_missing to go on without them)")
        warnings.warn(msg + "; going on without them", stacklevel=2)
    return missing
