"""Synthetic OULU-NPU: the toolkit's embedded default dataset (docs/data.md, "Synthetic OULU-NPU").

    python -m data.synth --out datasets/synth_oulu --preset demo --seed 0 [--difficulty D] [--workers K]
    python -m data.synth --layout DATASET --out DIR ...     a twin of another dataset (data.synth_twins)

Writes the OULU-NPU release layout, so every stage and loader that reads OULU-NPU reads it:

    DIR/{Train,Dev,Test}_files/<Phone>_<Session>_<User>_<File>.avi   MJPG videos
    DIR/Protocols/Protocol_{1,2,3,4}/...                              official lists (fas_core.oulu)
    DIR/true_depth/<video>.npz                                        live videos: key "depth",
                                                                      float16 [T, H, W] in [0, 1],
                                                                      larger = closer, 0 off the face
    DIR/synth_meta.json                                               settings and every identity
    DIR/summary.json                                                  videos, frames, failures

* 6 phones = 6 camera models (:data:`data.synth_render.PHONES`); 3 sessions = 3 lighting and
  room conditions (:data:`data.synth_render.SESSIONS`); users keep OULU's ranges (train 1-20,
  dev 21-35, test 36-55) and are distinct identities (:mod:`data.synth_face`).
* File 1: a live 3D head turning and nodding (yaw, pitch, roll, translation) in front of the
  room. Files 2, 3: a printed photo of the subject moved (and slightly bent) as a sheet.
  Files 4, 5: the subject's video on a screen moved as a plane (:mod:`data.synth_video`).
* ``--difficulty`` in [0, 1] scales the attack artefacts down (1: nearly invisible, only
  the rigid planar motion differs from a live head; 0: obvious). Above 0.6 the head pose
  shown by a photo or a replayed video also spreads towards the live head's range of poses
  (:meth:`SynthConfig.pose_match`; at 1 a single attack frame shows the poses a live frame
  shows, so that only the motion across frames tells them apart). The default, 0.6, keeps
  halftone and moiré visible but makes colour shifts small, so that the colour-histogram
  baseline (:mod:`data.baseline`) does not separate live from attacks (test ACER of at least
  10% on the demo preset's protocol 1).
* Deterministic: every video is drawn from a seed derived from ``(seed, video name)``, so the
  output does not depend on ``--workers`` or on which videos a preset keeps.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fas_core import fileio, oulu
from fas_core.errors import run_cli
from fas_core.stages import VideoResult

from .synth_attacks import DISPLAYS, PRINTERS
from .synth_face import make_identity
from .synth_render import PHONES, SESSIONS
from .synth_twins import FRAMES as TWIN_FRAMES
from .synth_twins import generate_twin
from .synth_video import (
    DEFAULT_DIFFICULTY,
    FPS,
    META_FILE,
    Shot,
    Style,
    Video,
    content_pose_offset,
    read_video,
    render_shot,
    run_generation,
    write_depth,
    write_video,
)

GENERATOR_VERSION = 2  # 2: attack content takes live-like poses above difficulty 0.6
LAYOUTS = ("oulu", "replay_attack", "casia_fasd", "msu_mfsd", "siw", "replay_mobile")
read_avi = read_video  # the OULU-NPU layout's videos are .avi


@dataclass(frozen=True)
class Preset:
    """Which part of OULU-NPU to generate, and at which frame size and length."""

    users: tuple[int, ...]
    phones: tuple[int, ...]
    sessions: tuple[int, ...]
    files: tuple[int, ...]
    frames: int
    width: int
    height: int
    description: str = ""

    def video_names(self) -> list[str]:
        names = [f"{p}_{s}_{u:02d}_{f}" for p in self.phones for s in self.sessions for u in self.users
                 for f in self.files]
        return sorted(names, key=oulu.sort_key)


PRESETS: dict[str, Preset] = {
    "tiny": Preset((1, 21, 36), (1,), (1, 2, 3), (1, 2, 3, 4, 5), 6, 160, 120,
                   "unit tests: 45 short small videos, protocol 1 has live, print and replay in each split"),
    "demo": Preset((1, 2, 3, 21, 22, 36, 37), (1, 2), (1, 2, 3), (1, 2, 3, 4, 5), 20, 320, 240,
                   "default: 210 videos (3 train, 2 dev, 2 test users; phones 1-2; all sessions and files)"),
    "full": Preset(tuple(oulu.USERS), tuple(oulu.PHONES), tuple(oulu.SESSIONS), tuple(oulu.FILES), 30, 640, 480,
                   "all 4950 videos of OULU-NPU"),
}


@dataclass(frozen=True)
class SynthConfig(Style):
    """Generator settings; ``overrides`` replaces fields of the preset (e.g. ``{"users": (36,)}``)."""

    preset: str = "demo"
    overrides: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def spec(self) -> Preset:
        base = PRESETS[self.preset]
        return Preset(**{**asdict(base), **self.overrides}) if self.overrides else base


def shot_of(cfg: SynthConfig, name: str) -> Shot:
    """What OULU-NPU video ``name`` shows: user = subject, session = lighting and room, phone = camera."""
    parsed = oulu.parse_video_name(name)
    phone, session, user, code = parsed.ints()
    kind = oulu.SPECIES_OF_FILE[code]
    instrument = PRINTERS.get(code) or DISPLAYS.get(code)
    p = cfg.spec
    return Shot(parsed.name, user, kind, instrument, SESSIONS[session], session, PHONES[phone], p.frames, p.width,
                p.height)


def render_video(cfg: SynthConfig, name: str) -> Video:
    """Render one video of the synthetic OULU-NPU (deterministic from ``cfg.seed`` and ``name``)."""
    return render_shot(cfg, shot_of(cfg, name))


def _content_pose_offset(cfg: SynthConfig, name: str) -> np.ndarray:
    """The head pose offset an attack video shows (:func:`data.synth_video.content_pose_offset`)."""
    return content_pose_offset(cfg, name)


# ----------------------------------------------------------------------------- files
def video_path(root: str | Path, name: str) -> Path:
    return Path(root) / oulu.folder_of(name) / f"{name}.avi"


def true_depth_path(root: str | Path, name: str) -> Path:
    return Path(root) / "true_depth" / f"{name}.npz"


def _is_complete(root: Path, name: str) -> bool:
    if not video_path(root, name).is_file():
        return False
    return oulu.species_of(name) != "live" or true_depth_path(root, name).is_file()


def _make_video(cfg: SynthConfig, root: str, name: str) -> VideoResult:
    """Render and write one video (and its true depth); the stage runner's ``process``."""
    v = render_video(cfg, name)
    if v.depth is not None:
        write_depth(true_depth_path(root, name), v.depth)
    write_video(video_path(root, name), v.frames)  # last: its presence marks the video done
    res = VideoResult(video=name, frames=len(v.frames), faces=sum(b is not None for b in v.boxes))
    if res.faces < res.frames:
        res.failures["face_out_of_frame"] += res.frames - res.faces
    return res


# ----------------------------------------------------------------------------- dataset
def meta_of(cfg: SynthConfig) -> dict[str, Any]:
    p = cfg.spec
    return {
        "generator": "data.synth", "version": GENERATOR_VERSION,
        "preset": cfg.preset, "seed": cfg.seed, "difficulty": cfg.difficulty,
        "frames": p.frames, "width": p.width, "height": p.height, "fps": FPS,
        "users": list(p.users), "phones": list(p.phones), "sessions": list(p.sessions), "files": list(p.files),
        "videos": len(p.video_names()),
        "sessions_lighting": {str(k): v.name for k, v in SESSIONS.items() if k in p.sessions},
        "phones_model": {str(k): asdict(v) for k, v in PHONES.items() if k in p.phones},
        "printers": {str(k): v.name for k, v in PRINTERS.items()},
        "displays": {str(k): v.name for k, v in DISPLAYS.items()},
        "identities": {f"{u:02d}": make_identity(cfg.seed, u).to_json() for u in p.users},
        "true_depth": "true_depth/<video>.npz key 'depth': float16 [T,H,W], 1 = frontal nose tip, "
                      "0 = head base plane, >= 0.02 on the face, exactly 0 off the face (live videos only)",
    }


_SETTINGS_KEYS = ("version", "preset", "seed", "difficulty", "frames", "width", "height", "users", "phones",
                  "sessions", "files")


def generate(cfg: SynthConfig, out: str | Path, workers: int = 1, overwrite: bool = False) -> dict[str, Any]:
    """Generate the dataset into ``out``; returns the stage summary. Reruns keep finished videos."""
    root = Path(out)
    meta = meta_of(cfg)
    names = cfg.spec.video_names()
    summary = run_generation(root, meta, _SETTINGS_KEYS, names, functools.partial(_make_video, cfg, str(root)),
                             lambda v: _is_complete(root, v), workers, overwrite,
                             {"preset": cfg.preset, "seed": cfg.seed, "difficulty": cfg.difficulty})
    present = [v for v in names if _is_complete(root, v)]
    oulu.write_all_protocols(present, root / "Protocols")
    meta["seconds"] = summary["seconds"]
    meta["videos_written"] = len(present)
    fileio.write_json(root / META_FILE, meta)
    return summary


def _difficulty(text: str) -> float:
    v = float(text)
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"difficulty must be in [0, 1], got {v}")
    return v


def build_parser() -> argparse.ArgumentParser:
    presets = "\n".join(f"  {k}: {v.description} ({v.frames} frames of {v.width}x{v.height})"
                        for k, v in PRESETS.items())
    parser = argparse.ArgumentParser(
        prog="python -m data.synth",
        description="Generate the synthetic OULU-NPU (videos, protocol lists, true depth of live videos), "
                    "or with --layout a synthetic twin of another dataset.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="presets (oulu layout):\n" + presets + "\ntwins (other layouts): tiny (tests), demo",
    )
    parser.add_argument("--out", required=True, help="output root (the dataset's own layout)")
    parser.add_argument("--layout", choices=LAYOUTS, default="oulu",
                        help="dataset whose tree and names to write (default: oulu)")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="demo", help="size (default: demo)")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed (default: 0)")
    parser.add_argument("--difficulty", type=_difficulty, default=DEFAULT_DIFFICULTY,
                        help=f"attack artefact visibility, 0 obvious .. 1 nearly invisible (default: "
                             f"{DEFAULT_DIFFICULTY}: a colour-histogram baseline is not enough)")
    parser.add_argument("--workers", type=int, default=1, help="parallel processes (default: 1)")
    parser.add_argument("--overwrite", action="store_true",
                        help="regenerate every video even if the folder holds a finished or different dataset")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Exit status 0, 1 when videos failed; an output that cannot be written exits 2 with one line."""
    return run_cli(_main, argv, prog="synth", return_status=True)


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    workers = max(1, args.workers)
    if args.layout == "oulu":
        cfg = SynthConfig(preset=args.preset, seed=args.seed, difficulty=args.difficulty)
        summary = generate(cfg, args.out, workers=workers, overwrite=args.overwrite)
    else:
        if args.preset not in TWIN_FRAMES:
            parser.error(f"a {args.layout} twin comes in sizes {', '.join(TWIN_FRAMES)}, not '{args.preset}'")
        summary = generate_twin(args.layout, args.out, Style(args.seed, args.difficulty), args.preset, workers,
                                args.overwrite)
    print(json.dumps({k: summary[k] for k in ("videos", "frames", "failures", "seconds")}))
    return 1 if summary["failures"].get("error") else 0


if __name__ == "__main__":
    sys.exit(main())
