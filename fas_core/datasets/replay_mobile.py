"""Replay-Mobile (Idiap): 40 clients filmed by a smartphone and a tablet, ``.mov`` (docs/datasets.md).

Tree (split folders ``train``, ``devel``, ``test``)::

    <split>/real/client<CCC>_session<SS>_authenticate_<mobile|tablet>_<light>.mov
    <split>/attack/attack_client<CCC>_session<SS>_<print|mattescreen>_<fixed|hand>_<mobile|tablet>_<photo|video>_<lighton|lightoff>.mov
    enroll/<split>/client<CCC>_session<SS>_enroll_<mobile|tablet>_<lighton|lightoff>.mov   (never listed)

Real lighting is one of controlled, adverse, direct, lateral, diffuse. ``print`` attacks show a
printed photo (print species), ``mattescreen`` attacks a matte screen showing a photo or a
video (replay species); ``mobile`` / ``tablet`` is the capture device. Protocols, as the
release defines them: ``grandtest`` (every attack), ``print``, ``mattescreen``; all keep the
real videos.
"""

from __future__ import annotations

import re

from .base import ENROL, Dataset, VideoInfo, release_split_of

SPLIT_FOLDERS = {"train": "train", "devel": "dev", "test": "test"}
TRAIN_CLIENTS = frozenset((1, 3, 8, 11, 12, 16, 18, 20, 26, 34, 37, 38))
DEV_CLIENTS = frozenset((5, 6, 13, 14, 15, 23, 24, 25, 28, 29, 31, 32, 35, 36, 39, 40))
TEST_CLIENTS = frozenset(range(1, 41)) - TRAIN_CLIENTS - DEV_CLIENTS
CLIENTS = {"train": TRAIN_CLIENTS, "dev": DEV_CLIENTS, "test": TEST_CLIENTS}
REAL_LIGHTS = ("controlled", "adverse", "direct", "lateral", "diffuse")
DEVICES = ("mobile", "tablet")

_REAL = re.compile(r"^client(?P<client>\d{3})_session(?P<session>\d{2})_authenticate_(?P<device>mobile|tablet)_"
                   r"(?P<light>controlled|adverse|direct|lateral|diffuse)$")
_ATTACK = re.compile(r"^attack_client(?P<client>\d{3})_session(?P<session>\d{2})_(?P<instrument>print|mattescreen)_"
                     r"(?P<support>fixed|hand)_(?P<device>mobile|tablet)_(?P<sample>photo|video)_"
                     r"(?P<light>lighton|lightoff)$")
_ENROL = re.compile(r"^client(?P<client>\d{3})_session(?P<session>\d{2})_enroll_(?P<device>mobile|tablet)_"
                    r"(?P<light>lighton|lightoff)$")


class ReplayMobile(Dataset):
    name = "replay_mobile"
    title = "Replay-Mobile"
    protocols = ("grandtest", "print", "mattescreen")
    expected = ("<train|devel|test>/real/client001_session02_authenticate_mobile_adverse.mov or "
                "<split>/attack/attack_client001_session01_print_fixed_mobile_photo_lighton.mov")

    def parse(self, video_id: str) -> VideoInfo:
        parts = video_id.split("/")
        if len(parts) != 3 or not (parts[0] == "enroll" or parts[1] in ("real", "attack")):
            raise ValueError(f"'{video_id}' is not a {self.title} video path: expected {self.expected}")
        if parts[0] == "enroll":
            split, m, pattern = release_split_of(parts[1], SPLIT_FOLDERS, self.title), _ENROL.match(parts[2]), "enrol"
        else:
            split = release_split_of(parts[0], SPLIT_FOLDERS, self.title)
            m, pattern = (_REAL if parts[1] == "real" else _ATTACK).match(parts[2]), parts[1]
        if not m:
            raise ValueError(f"'{video_id}' is not named like a {self.title} {pattern} video: expected {self.expected}")
        client = int(m["client"])
        if client not in CLIENTS[split]:
            raise ValueError(f"'{video_id}': client {client} is not a {split} client")
        details = {k: v for k, v in m.groupdict().items() if k not in ("client", "session", "device")}
        instrument = details.get("instrument", "")
        if instrument == "print" and details["sample"] != "photo":
            raise ValueError(f"'{video_id}': a print attack shows a photo, not a {details['sample']}")
        species = {"": "live", "print": "print", "mattescreen": "replay"}[instrument]
        attack = f"{instrument}_{details['sample']}" if instrument else ""
        final = ENROL if pattern == "enrol" else split
        return VideoInfo(video_id, str(client), species, attack, final, final, device=m["device"],
                         session=m["session"], details=details)

    def in_protocol(self, info: VideoInfo, protocol: str, split: str) -> bool:
        self.check_protocol(protocol)
        if info.split != split:
            return False
        return info.species == "live" or protocol in ("grandtest", info.details["instrument"])


DATASET = ReplayMobile()
