"""File layout and IO shared by every stage and loader.

Names follow the de-facto convention of CDCN, FAS-SGTD and PRNet-Depth-Generation so that
folders preprocessed by those tools can be used unchanged:

    <frames_root>/<video>/<video>_<NNN>_scene.jpg     frame NNN (1-based, 3 digits)
                                                      (a video id with folders, ``train/real/x``,
                                                      keeps them: ``train/real/x/x_<NNN>_scene.jpg``)
    <frames_root>/<video>/<video>_<NNN>_scene.dat     face box: 4 lines x, y, w, h (full frame px)
    <frames_root>/<video>/faces.json                  per-video index: box, 5 landmarks, confidence
    <depth_root>/<video>/<video>_<NNN>_depth1D.jpg    depth map, frame size, 0..255, 0 off the face
    <crops_root>/<video>/<video>_<NNN>_scene.jpg      256x256 face crop (offline crop cache)
    <crops_root>/<video>/<video>_<NNN>_depth1D.png    32x32 depth crop (lossless)

Every writer here is atomic (temporary file + rename): an interrupted run never leaves a
half-written file behind, so a rerun can trust whatever exists. Written files get the mode a
plain ``open()`` gives (0666 less the umask), and a write removes the stale temporary files
that killed writes of the same target left (see ``STALE_TEMP_GRACE_S``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import socket
import stat
import time
import zlib
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .errors import UserError, os_reason

FRAME_RE = re.compile(r"^(?P<video>.+)_(?P<index>\d{3,})_scene\.(jpg|png)$")
DONE_MARKER = ".done"


def video_basename(video: str) -> str:
    """The last component of a video id: ``train/real/client001_x`` -> ``client001_x`` (OULU ids have one)."""
    return video.rsplit("/", 1)[-1]


def frame_name(video: str, index: int) -> str:
    """Stem shared by a frame's files, e.g. ``1_1_01_1_005`` (index is 1-based; named after the id's last part)."""
    return f"{video_basename(video)}_{index:03d}"


def frame_path(frames_root: str | Path, video: str, index: int, ext: str = "jpg") -> Path:
    return Path(frames_root) / video / f"{frame_name(video, index)}_scene.{ext}"


def bbox_path(frames_root: str | Path, video: str, index: int) -> Path:
    return Path(frames_root) / video / f"{frame_name(video, index)}_scene.dat"


def depth_path(depth_root: str | Path, video: str, index: int, ext: str = "jpg") -> Path:
    return Path(depth_root) / video / f"{frame_name(video, index)}_depth1D.{ext}"


def find_depth_map(depth_root: str | Path, video: str, index: int) -> Path | None:
    """The frame's depth map, ``_depth1D.jpg`` (as PRNet writes it) or ``.png``; None when there is neither."""
    for ext in ("jpg", "png"):
        p = depth_path(depth_root, video, index, ext)
        if p.is_file():
            return p
    return None


def list_frame_indices(folder: str | Path, video: str) -> list[int]:
    """Sorted 1-based indices of the ``*_scene.jpg|png`` frames of ``video`` inside ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    out = []
    for p in folder.iterdir():
        m = FRAME_RE.match(p.name)
        if m and m.group("video") == video_basename(video):
            out.append(int(m.group("index")))
    return sorted(out)


# ----------------------------------------------------------------------------- atomic writes
# A write goes to ``.<name>.<host>-<pid>-<random>.tmp`` next to its target (``...tmp.<ext>`` for a
# writer that picks the format by the extension), then is renamed over it.
# The temporary file is created with mode 0666 and the umask applies, as for a plain open():
# tempfile.mkstemp would make it (and so the target) 0600, unreadable by any other account.
TEMP_SUFFIX = ".tmp"
# A temporary file of a target is stale, and removed by the next write of that target, when
# nothing can still be writing it: made on this host by a process that is gone and untouched for
# STALE_TEMP_GRACE_S, or (made elsewhere, or named by an older version) untouched for STALE_TEMP_MAX_AGE_S.
STALE_TEMP_GRACE_S = 60.0
STALE_TEMP_MAX_AGE_S = 3600.0
HOST_TAG = f"{zlib.crc32(socket.gethostname().encode('utf-8')):08x}"
_TEMP_TAG_RE = re.compile(r"\.(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-[0-9a-f]{8}\.tmp(\.[^.]+)?$")


def _temp_path(path: Path, keep_suffix: bool = False) -> Path:
    ext = path.suffix if keep_suffix else ""
    return path.with_name(f".{path.name}.{HOST_TAG}-{os.getpid()}-{secrets.token_hex(4)}{TEMP_SUFFIX}{ext}")


def pid_is_running(pid: int) -> bool:
    """Whether a process with this id exists on this machine (one of another user counts)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def temp_target_of(name: str) -> str | None:
    """The target of a temporary file name ``.<target>.<tag>.tmp[.<ext of target>]`` (no dot in the tag), else None."""
    if not name.startswith("."):
        return None
    core, ext = name[1:], ""
    if not core.endswith(TEMP_SUFFIX):
        core, dot, ext = core.rpartition(".")
        ext = dot + ext
        if not core.endswith(TEMP_SUFFIX):
            return None
    target, _, tag = core[:-len(TEMP_SUFFIX)].rpartition(".")
    return target if target and tag and target.endswith(ext) else None


def temp_files_of(path: str | Path) -> list[Path]:
    """Temporary files of writes of ``path`` now in its folder."""
    path = Path(path)
    try:
        names = os.listdir(path.parent)
    except FileNotFoundError:
        return []
    return [path.parent / n for n in sorted(names) if temp_target_of(n) == path.name]


def is_stale_temp(temp: Path, now: float | None = None) -> bool:
    """Whether no live process can still be writing ``temp`` (the rule above STALE_TEMP_GRACE_S)."""
    try:
        age = (time.time() if now is None else now) - temp.stat().st_mtime
    except FileNotFoundError:
        return False
    m = _TEMP_TAG_RE.search(temp.name)
    if m and m["host"] == HOST_TAG and age >= STALE_TEMP_GRACE_S and not pid_is_running(int(m["pid"])):
        return True
    return age >= STALE_TEMP_MAX_AGE_S


def remove_stale_temps(path: str | Path) -> list[Path]:
    """Remove the stale temporary files that killed writes of ``path`` left; returns those removed."""
    now = time.time()
    return [temp for temp in temp_files_of(path) if _remove_if_stale(temp, now)]


# Listing a folder costs about a millisecond per thousand files, far more than writing a small file,
# so each process lists a folder at most once per STALE_TEMP_GRACE_S and keeps the temporary files
# it saw, by target. A temporary file cannot become stale sooner than that after it was last written,
# so a write still finds every stale one of its target, at most one interval late.
_TEMP_LISTINGS: OrderedDict[str, tuple[float, dict[str, list[str]]]] = OrderedDict()
_MAX_LISTINGS = 256


def _listed_temps(folder: Path, now: float) -> dict[str, list[str]]:
    key = str(folder)
    cached = _TEMP_LISTINGS.get(key)
    if cached is not None and now - cached[0] < STALE_TEMP_GRACE_S:
        _TEMP_LISTINGS.move_to_end(key)
        return cached[1]
    by_target: dict[str, list[str]] = {}
    try:
        names = os.listdir(folder)
    except OSError:  # not listable: nothing to clean, and the write itself will say what is wrong
        names = []
    for name in names:
        target = temp_target_of(name)
        if target is not None:
            by_target.setdefault(target, []).append(name)
    _TEMP_LISTINGS[key] = (now, by_target)
    if len(_TEMP_LISTINGS) > _MAX_LISTINGS:
        _TEMP_LISTINGS.popitem(last=False)
    return by_target


def _remove_stale_temps_listed(path: Path) -> None:
    """:func:`remove_stale_temps` through the folder listing kept by this process."""
    now = time.time()
    by_target = _listed_temps(path.parent, now)
    names = by_target.get(path.name)
    if names:
        by_target[path.name] = [n for n in names if not _remove_if_stale(path.parent / n, now)]


def _remove_if_stale(temp: Path, now: float) -> bool:
    """Remove ``temp`` when stale; True when it is gone (removed now or already)."""
    if not temp.exists():
        return True
    if not is_stale_temp(temp, now):
        return False
    try:
        temp.unlink(missing_ok=True)
    except OSError:  # another account's file in a folder we may not change: leave it
        return False
    return True


def _create_temp(path: Path, keep_suffix: bool = False) -> tuple[int, Path]:
    """A new empty temporary file next to ``path``, open for writing (stale ones of ``path`` are removed first)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps_listed(path)
    for _ in range(100):
        tmp = _temp_path(path, keep_suffix)
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file next to {path}")


@contextlib.contextmanager
def atomic_path(path: str | Path, keep_suffix: bool = False) -> Iterator[Path]:
    """A temporary file name to write ``path`` through: renamed to ``path`` when the block ends
    normally, removed when it raises. For writers that want a file name (torch.save); ``keep_suffix``
    ends the name with ``path``'s extension, for those that choose the format by it (cv2.VideoWriter)."""
    path = Path(path)
    fd, tmp = _create_temp(path, keep_suffix)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class OutputError(UserError, OSError):
    """An output place that cannot be written (a read-only or full disk, a file where a folder belongs)."""


def check_writable_folder(folder: str | Path, what: str = "output folder") -> Path:
    """Make ``folder`` (with its parents) and create and remove a file in it, so a run finds out before its work.

    Raises :class:`OutputError` naming ``what`` and the folder when that fails.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = _create_temp(folder / ".write_check")
        os.close(fd)
        tmp.unlink()
    except OSError as e:
        raise OutputError(f"{what} {folder} cannot be written: {os_reason(e)}") from None
    return folder


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    fd, tmp = _create_temp(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path: str | Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def write_image(path: str | Path, image: np.ndarray, jpeg_quality: int = 95) -> None:
    """Write a BGR (or grey) uint8 image atomically; format from the suffix."""
    path = Path(path)
    ext = path.suffix.lower()
    params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality] if ext in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(ext, image, params)
    if not ok:
        raise OSError(f"could not encode image for {path}")
    atomic_write_bytes(path, buf.tobytes())


def read_image(path: str | Path, grey: bool = False) -> np.ndarray:
    """Read an image as BGR uint8 (or single-channel); a clear error names a missing/bad file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_COLOR)
    if img is None:
        check_readable(path, "image")  # a permission problem is not a corrupt file
        raise ValueError(f"unreadable or corrupt image: {path}")
    return img


def check_readable(path: str | Path, what: str = "file") -> None:
    """Raise ``PermissionError`` naming the file, its owner and mode when this account may not read it."""
    path = Path(path)
    try:
        with open(path, "rb"):
            pass
    except PermissionError:
        st = path.stat()
        raise PermissionError(
            f"no permission to read {what} {path} (owner uid {st.st_uid}, mode {stat.filemode(st.st_mode)}; "
            f"this process runs as uid {os.geteuid()})") from None


# ----------------------------------------------------------------------------- boxes
def bbox_as_stored(box: Sequence[float]) -> tuple[int, int, int, int]:
    """A box as a ``.dat`` file holds it: x, y, w, h rounded to whole pixels."""
    x, y, w, h = (int(round(float(v))) for v in box)
    return x, y, w, h


def write_bbox(path: str | Path, box: tuple[float, float, float, float]) -> None:
    """Write a CDCN/FAS-SGTD ``.dat`` file: x, y, w, h (top-left corner and size), one per line."""
    x, y, w, h = bbox_as_stored(box)
    atomic_write_text(path, f"{x}\n{y}\n{w}\n{h}\n")


def read_bbox(path: str | Path) -> tuple[int, int, int, int]:
    """Read a ``.dat`` box file; the error names the file and what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"face box file not found: {path}")
    values = path.read_text().split()
    if len(values) < 4:
        raise ValueError(f"face box file {path} has {len(values)} values, expected 4 (x, y, w, h)")
    try:
        x, y, w, h = (int(round(float(v))) for v in values[:4])
    except ValueError as e:
        raise ValueError(f"face box file {path} is not numeric: {values[:4]}") from e
    if w <= 0 or h <= 0:
        raise ValueError(f"face box file {path} has a non-positive size w={w} h={h}")
    return x, y, w, h


def is_done(folder: str | Path) -> bool:
    return (Path(folder) / DONE_MARKER).is_file()


def mark_done(folder: str | Path) -> None:
    atomic_write_text(Path(folder) / DONE_MARKER, "")
