"""Synthetic twins of Replay-Attack, CASIA-FASD, MSU-MFSD, SiW and Replay-Mobile (docs/datasets.md).

    python -m data.synth --layout DATASET --out DIR [--preset tiny|demo] [--seed S] [--difficulty D] [--workers K]

A twin has its dataset's real tree, file names and containers, quirks included: Replay-Attack's
``enroll/`` videos and ``face-locations/<id>.face`` files, CASIA-FASD's ``HR_`` names, MSU-MFSD's
``.mp4`` / ``.mov`` pair, client lists and upside-down android real videos, SiW's ``<stem>.face``
files and ``.m`` stems, Replay-Mobile's portrait videos and enrolment. Every reader of
:mod:`fas_core.datasets` reads a twin, and ``make_lists mcio`` runs on the O, C, I, M twins.
The domains look different (:mod:`data.synth_domains`): cameras, frame sizes, light and
instruments, and people (a domain's own identities).

Sizes: ``tiny`` (3 or 4 subjects, 4 frames; tests) and ``demo`` (5 to 9 subjects, 12 frames,
frames twice as large). The subjects keep the dataset's own numbers and splits.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fas_core import fileio
from fas_core.datasets import casia_fasd, msu_mfsd
from fas_core.stages import VideoResult

from .synth_domains import DOMAINS
from .synth_face import make_identity
from .synth_video import META_FILE, Shot, Style, Video, render_shot, run_generation, write_video

TWIN_VERSION = 1
FRAMES = {"tiny": 4, "demo": 12}
SCALE = {"tiny": 1, "demo": 2}
SUBJECTS: dict[str, dict[str, dict[str, tuple[int, ...]]]] = {
    "replay_attack": {"tiny": {"train": (1,), "devel": (3,), "test": (9,)},
                      "demo": {"train": (1, 2, 4), "devel": (3, 5), "test": (9, 11)}},
    "casia_fasd": {"tiny": {"train_release": (1, 20), "test_release": (1,)},
                   "demo": {"train_release": (1, 2, 3, 19, 20), "test_release": (1, 2, 3)}},
    "msu_mfsd": {"tiny": {"train": (3, 55), "test": (1,)}, "demo": {"train": (2, 3, 5, 54, 55), "test": (1, 13, 14)}},
    "siw": {"tiny": {"Train": (3, 144), "Test": (1, 153)},
            "demo": {"Train": (3, 6, 7, 144, 145), "Test": (1, 2, 4, 153)}},
    "replay_mobile": {"tiny": {"train": (1,), "devel": (5,), "test": (2,)},
                      "demo": {"train": (1, 3), "devel": (5, 6), "test": (2, 4)}},
}
SIW_DOT_M = (153, 154, 158, 161)


@dataclass(frozen=True)
class TwinVideo:
    """One video of a twin: where it goes and what it shows."""

    path: str  # relative to the twin's root, with the release's extension
    shot: Shot
    face_file: str = ""  # the face-box file the release ships for it ("" none)


class _Maker:
    """Shots of one twin: the domain's camera, light and instrument for each name."""

    def __init__(self, layout: str, size: str):
        self.layout, self.domain = layout, DOMAINS[layout]
        self.frames, self.scale = FRAMES[size], SCALE[size]
        self.size = size

    def video(self, video_id: str, ext: str, subject: int, kind: str, instrument: str, device: str, light: str,
              face_file: str = "", **look: Any) -> TwinVideo:
        d = self.domain
        tool = None if kind == "live" else (d.printers if kind == "print" else d.displays)[instrument]
        w, h = d.sizes[device]
        shot = Shot(f"{self.layout}/{video_id}", d.subject_offset + subject, kind, tool, d.lights[light],
                    d.rooms[light], d.cameras[device], self.frames, w * self.scale, h * self.scale, **look)
        return TwinVideo(video_id + ext, shot, face_file.format(id=video_id))

    def subjects(self) -> dict[str, tuple[int, ...]]:
        return SUBJECTS[self.layout][self.size]


# ----------------------------------------------------------------------------- layouts
def _replay_attack(m: _Maker) -> list[TwinVideo]:
    face, out = "face-locations/{id}.face", []
    pairs = [("fixed", "controlled"), ("hand", "adverse")]
    if m.size != "tiny":
        pairs += [("fixed", "adverse"), ("hand", "controlled")]
    for folder, clients in m.subjects().items():
        for c in clients:
            for light in ("controlled", "adverse"):
                for take in (1, 2):
                    vid = f"{folder}/real/client{c:03d}_session01_webcam_authenticate_{light}_{take}"
                    out.append(m.video(vid, ".mov", c, "live", "", "webcam", light, face, shake=0.1))
            out.append(m.video(f"enroll/{folder}/client{c:03d}_session01_webcam_enroll_controlled", ".mov", c, "live",
                               "", "webcam", "controlled", shake=0.1))
            for support, light in pairs:
                steady = {"motion": 0.15 if support == "fixed" else 1.0, "shake": 0.1}
                stem = f"{folder}/attack/{support}/attack_"
                out.append(m.video(f"{stem}print_client{c:03d}_session01_highdef_photo_{light}", ".mov", c, "print",
                                   "print", "webcam", light, face, **steady))
                out += [m.video(f"{stem}{dev}_client{c:03d}_session01_{dev}_{sample}_{light}", ".mov", c, "replay",
                                dev, "webcam", light, face, still=sample == "photo", **steady)
                        for dev in ("mobile", "highdef") for sample in ("photo", "video")]
    return out


def _casia_fasd(m: _Maker) -> list[TwinVideo]:
    out = []
    for release, folders in m.subjects().items():
        for k in folders:
            subject = k if release == "train_release" else 20 + k
            for name, (attack, quality) in casia_fasd.NAMES.items():
                kind = casia_fasd.SPECIES_OF_ATTACK[attack]
                look = {"bend": 3.0} if attack == "warped_photo" else {}
                out.append(m.video(f"{release}/{k}/{name}", ".avi", subject, kind, attack, quality, "indoor",
                                   shake=0.3, **look))
    return out


def _msu_mfsd(m: _Maker) -> list[TwinVideo]:
    out = []
    for clients in m.subjects().values():
        for c in clients:
            for device, ext in (("android", ".mp4"), ("laptop", ".mov")):
                shake = 1.0 if device == "android" else 0.1
                out.append(m.video(f"real/real_client{c:03d}_{device}_SD_scene01", ext, c, "live", "", device, "lab",
                                   upside_down=device == "android" and c in msu_mfsd.UPSIDE_DOWN_CLIENTS, shake=shake))
                for attack in ("printed_photo", "ipad_video", "iphone_video"):
                    kind = "print" if attack == "printed_photo" else "replay"
                    out.append(m.video(f"attack/attack_client{c:03d}_{device}_SD_{attack}_scene01", ext, c, kind,
                                       attack, device, "lab", shake=shake))
    return out


def _siw_video(m: _Maker, folder: str, s: int, kind: int, sensor: int, medium: int, session: int) -> TwinVideo:
    dot_m = ".m" if folder == "Test" and kind == 1 and sensor == 2 and s in SIW_DOT_M else ""
    vid = f"{folder}/{'live' if kind == 1 else 'spoof'}/{s:03d}/{s:03d}-{sensor}-{kind}-{medium}-{session}{dot_m}"
    species = {1: "live", 2: "print", 3: "replay"}[kind]
    return m.video(vid, ".mov", s, species, str(medium), str(sensor), str(session), "{id}.face")


def _siw(m: _Maker) -> list[TwinVideo]:
    """Per subject and session: live by both sensors, print media 1-2 and replay media 1-4 by sensor 1."""
    out = []
    sessions = (1,) if m.size == "tiny" else (1, 2)
    for folder, subjects in m.subjects().items():
        for s in subjects:
            for session in sessions:
                out += [_siw_video(m, folder, s, 1, sensor, 1, session) for sensor in (1, 2)]
                out += [_siw_video(m, folder, s, 2, 1, medium, session) for medium in (1, 2)]
                out += [_siw_video(m, folder, s, 3, 1, medium, session) for medium in (1, 2, 3, 4)]
    return out


def _replay_mobile(m: _Maker) -> list[TwinVideo]:
    out = []
    lights = ("controlled", "adverse") if m.size == "tiny" else ("controlled", "adverse", "direct", "lateral",
                                                                  "diffuse")
    attack_lights = ("lighton",) if m.size == "tiny" else ("lighton", "lightoff")
    for folder, clients in m.subjects().items():
        for c in clients:
            out.append(m.video(f"enroll/{folder}/client{c:03d}_session01_enroll_mobile_lighton", ".mov", c, "live", "",
                               "mobile", "lighton"))
            for dev in ("mobile", "tablet"):
                out += [m.video(f"{folder}/real/client{c:03d}_session02_authenticate_{dev}_{light}", ".mov", c, "live",
                                "", dev, light) for light in lights]
                for light in attack_lights:
                    stem = f"{folder}/attack/attack_client{c:03d}_session01_"
                    out += [m.video(f"{stem}print_{support}_{dev}_photo_{light}", ".mov", c, "print", "print", dev,
                                    light, motion=0.15 if support == "fixed" else 1.0) for support in ("fixed", "hand")]
                    out += [m.video(f"{stem}mattescreen_fixed_{dev}_{sample}_{light}", ".mov", c, "replay",
                                    "mattescreen", dev, light, still=sample == "photo", motion=0.15)
                            for sample in ("photo", "video")]
    return out


LAYOUTS = {"replay_attack": _replay_attack, "casia_fasd": _casia_fasd, "msu_mfsd": _msu_mfsd, "siw": _siw,
           "replay_mobile": _replay_mobile}


@functools.lru_cache(maxsize=16)
def twin_videos(layout: str, size: str = "tiny") -> dict[str, TwinVideo]:
    """Every video of a twin, by relative path."""
    if layout not in LAYOUTS:
        raise ValueError(f"no synthetic twin of '{layout}'; twins: {', '.join(LAYOUTS)}")
    if size not in FRAMES:
        raise ValueError(f"twin size '{size}' is not one of {', '.join(FRAMES)}")
    return {v.path: v for v in LAYOUTS[layout](_Maker(layout, size))}


# ----------------------------------------------------------------------------- files
def face_file_text(layout: str, boxes: list) -> str:
    """The release's face-box format: Replay-Attack ``frame x y w h``, SiW ``x1 y1 x2 y2`` (``0 0 0 0``: none)."""
    rows = []
    for i, b in enumerate(boxes):
        if layout == "siw":
            rows.append("0 0 0 0" if b is None else
                        f"{round(b[0])} {round(b[1])} {round(b[0] + b[2])} {round(b[1] + b[3])}")
        else:
            rows.append(f"{i} 0 0 0 0" if b is None else f"{i} {round(b[0])} {round(b[1])} {round(b[2])} {round(b[3])}")
    return "".join(r + "\n" for r in rows)


def _is_complete(root: Path, layout: str, size: str, path: str) -> bool:
    tv = twin_videos(layout, size)[path]
    return (root / tv.path).is_file() and (not tv.face_file or (root / tv.face_file).is_file())


def _make_twin_video(layout: str, size: str, style: Style, root: Path, path: str) -> VideoResult:
    """Render one twin video and write its face-box file and the video (last: it marks the video done)."""
    tv = twin_videos(layout, size)[path]
    v: Video = render_shot(style, tv.shot)
    if tv.face_file:
        fileio.atomic_write_text(root / tv.face_file, face_file_text(layout, v.boxes))
    write_video(root / tv.path, v.frames, DOMAINS[layout].fps)
    res = VideoResult(video=path, frames=len(v.frames), faces=sum(b is not None for b in v.boxes))
    if res.faces < res.frames:
        res.failures["face_out_of_frame"] += res.frames - res.faces
    return res


def twin_meta(layout: str, size: str, style: Style) -> dict[str, Any]:
    d = DOMAINS[layout]
    subjects = sorted({v.shot.subject for v in twin_videos(layout, size).values()})
    return {
        "generator": "data.synth", "layout": layout, "version": TWIN_VERSION, "preset": size, "seed": style.seed,
        "difficulty": style.difficulty, "frames": FRAMES[size], "fps": d.fps, "videos": len(twin_videos(layout, size)),
        "cameras": {k: asdict(v) for k, v in d.cameras.items()},
        "frame_sizes": {k: [w * SCALE[size], h * SCALE[size]] for k, (w, h) in d.sizes.items()},
        "lights": {k: v.name for k, v in d.lights.items()},
        "printers": {k: v.name for k, v in d.printers.items()},
        "displays": {k: v.name for k, v in d.displays.items()},
        "identities": {str(s - d.subject_offset): make_identity(style.seed, s).to_json() for s in subjects},
    }


_SETTINGS_KEYS = ("layout", "version", "preset", "seed", "difficulty", "frames")


def generate_twin(layout: str, out: str | Path, style: Style, size: str = "tiny", workers: int = 1,
                  overwrite: bool = False) -> dict[str, Any]:
    """Write the twin of ``layout`` into ``out``; returns the stage summary. Reruns keep finished videos."""
    root = Path(out)
    videos = twin_videos(layout, size)
    meta = twin_meta(layout, size, style)
    summary = run_generation(root, meta, _SETTINGS_KEYS, list(videos),
                             functools.partial(_make_twin_video, layout, size, style, root),
                             functools.partial(_is_complete, root, layout, size), workers, overwrite,
                             {"layout": layout, "preset": size, "seed": style.seed, "difficulty": style.difficulty})
    if layout == "msu_mfsd":  # the release ships its client split as two lists
        for name, clients in msu_mfsd.SPLIT_LISTS.items():
            fileio.atomic_write_text(root / name, "".join(f"{c:02d}\n" for c in clients))
    meta["seconds"] = summary["seconds"]
    fileio.write_json(root / META_FILE, meta)
    return summary
