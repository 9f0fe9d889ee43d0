"""MSU-MFSD: 35 clients, an android phone (``.mp4``) and a laptop webcam (``.mov``) (docs/datasets.md).

Tree::

    real/real_client<CCC>_<android|laptop>_SD_scene01.<mp4|mov>
    attack/attack_client<CCC>_<android|laptop>_SD_<printed_photo|ipad_video|iphone_video>_scene01.<mp4|mov>
    train_sub_list.txt, test_sub_list.txt     the official split: client ids, two digits per line

The split comes from the client: 15 train, 20 test clients (the lists above; when the tree
has them they must agree with the built-in ones). No dev split is official: it is the last
fifth of the training clients (53, 54, 55). The android real videos of clients 003, 005, 006,
007 and 008 are stored upside down (:attr:`VideoInfo.upside_down`). Protocol: ``default``.
"""

from __future__ import annotations

import re
from pathlib import Path

from .base import Dataset, VideoInfo, carve_dev, last_fifth

TRAIN_CLIENTS = (2, 3, 5, 6, 7, 8, 9, 11, 12, 21, 22, 34, 53, 54, 55)
TEST_CLIENTS = (1, 13, 14, 23, 24, 26, 28, 29, 30, 32, 33, 35, 36, 37, 39, 42, 48, 49, 50, 51)
DEV_CLIENTS = last_fifth(TRAIN_CLIENTS)
UPSIDE_DOWN_CLIENTS = frozenset((3, 5, 6, 7, 8))  # their android real videos
SPLIT_LISTS = {"train_sub_list.txt": TRAIN_CLIENTS, "test_sub_list.txt": TEST_CLIENTS}
SPECIES_OF_ATTACK = {"printed_photo": "print", "ipad_video": "replay", "iphone_video": "replay"}

_REAL = re.compile(r"^real/real_client(?P<client>\d{3})_(?P<device>android|laptop)_SD_scene01$")
_ATTACK = re.compile(r"^attack/attack_client(?P<client>\d{3})_(?P<device>android|laptop)_SD_"
                     r"(?P<attack>printed_photo|ipad_video|iphone_video)_scene01$")


def read_client_list(path: Path) -> tuple[int, ...]:
    """Client ids of a ``*_sub_list.txt`` (one per line); the error names the file and the line."""
    out = []
    for lineno, raw in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        text = raw.strip()
        if not text:
            continue
        if not text.isdigit():
            raise ValueError(f"{path}:{lineno}: expected a client id, got {text!r}")
        out.append(int(text))
    return tuple(sorted(out))


class MsuMfsd(Dataset):
    name = "msu_mfsd"
    title = "MSU-MFSD"
    protocols = ("default",)
    expected = ("real/real_client001_android_SD_scene01.mp4 or "
                "attack/attack_client001_laptop_SD_printed_photo_scene01.mov")
    dev_rule = (f"training clients {', '.join(f'{c:03d}' for c in sorted(DEV_CLIENTS))} "
                "(the last fifth of the 15 training clients)")

    def parse(self, video_id: str) -> VideoInfo:
        m = _REAL.match(video_id) or _ATTACK.match(video_id)
        if not m:
            raise ValueError(f"'{video_id}' is not a {self.title} video path: expected {self.expected}")
        client = int(m["client"])
        if client in TRAIN_CLIENTS:
            release = "train"
        elif client in TEST_CLIENTS:
            release = "test"
        else:
            raise ValueError(f"'{video_id}': client {client:03d} is in neither the train nor the test client list")
        attack = m.groupdict().get("attack") or ""
        species = SPECIES_OF_ATTACK[attack] if attack else "live"
        upside_down = species == "live" and m["device"] == "android" and client in UPSIDE_DOWN_CLIENTS
        return VideoInfo(video_id, f"{client:03d}", species, attack, carve_dev(release, client, DEV_CLIENTS),
                         release, device=m["device"], session="01", upside_down=upside_down)

    def in_protocol(self, info: VideoInfo, protocol: str, split: str) -> bool:
        self.check_protocol(protocol)
        return info.split == split

    def check_tree(self, root: Path) -> None:
        """The release's client lists, where present, must give the official split."""
        for name, official in SPLIT_LISTS.items():
            path = Path(root) / name
            if path.is_file() and read_client_list(path) != official:
                raise ValueError(f"{path} lists other clients than the official MSU-MFSD split "
                                 f"({' '.join(f'{c:02d}' for c in official)})")


DATASET = MsuMfsd()
