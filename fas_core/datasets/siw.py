"""SiW (Spoof in the Wild): 165 subjects, 1080p ``.mov`` videos at 30 fps (docs/datasets.md).

Tree::

    <Train|Test>/<live|spoof>/<SSS>/<SSS>-<sensor>-<type>-<medium>-<session>.mov
    <Train|Test>/<live|spoof>/<SSS>/<stem>.face      one row per frame: x1 y1 x2 y2 (0 0 0 0: no face)

Type 1 is live, 2 print (medium 1-2), 3 replay (medium 1-4). Sixteen test live videos have a
stem ending in ``.m`` (``153-2-1-1-1.m.mov``): the id keeps it, the parse ignores it.

Protocols: ``P1`` (every video; training uses the first 60 frames of each Train video),
``P2_1``..``P2_4`` (live and replay; train on replay media other than k, test on medium k),
``P3_1`` (train print, test replay) and ``P3_2`` (train replay, test print). No dev split is
official: it is the last fifth of the 90 Train subjects (144-165), with the train conditions.
"""

from __future__ import annotations

import re
from pathlib import Path

from .base import Box, Dataset, VideoInfo, carve_dev, last_fifth, read_corner_boxes

# The 90 subjects of the release's Train folder (the other 75 of 1-165 are Test subjects).
TRAIN_SUBJECTS = (
    3, 6, 7, 11, 14, 16, 17, 22, 28, 30, 32, 33, 34, 35, 38, 40, 41, 42, 45, 46, 47, 51, 54, 55, 56, 58, 60, 62,
    63, 68, 69, 70, 72, 74, 76, 77, 78, 80, 81, 86, 89, 91, 92, 93, 96, 98, 99, 100, 101, 103, 104, 105, 107, 111,
    112, 113, 115, 117, 119, 120, 121, 123, 127, 128, 129, 131, 133, 134, 135, 136, 140, 143, 144, 145, 146, 147,
    148, 149, 150, 151, 152, 155, 156, 157, 159, 160, 162, 163, 164, 165,
)
TEST_SUBJECTS = tuple(s for s in range(1, 166) if s not in TRAIN_SUBJECTS)
DEV_SUBJECTS = last_fifth(TRAIN_SUBJECTS)
SPLIT_FOLDERS = {"Train": "train", "Test": "test"}
SPECIES_OF_TYPE = {1: "live", 2: "print", 3: "replay"}
MEDIA = {2: (1, 2), 3: (1, 2, 3, 4)}  # print media, replay media
REPLAY_MEDIA = MEDIA[3]
P1_TRAIN_FRAMES = 60

_NAME = re.compile(r"^(?P<subject>\d{3})-(?P<sensor>[12])-(?P<type>[123])-(?P<medium>\d)-(?P<session>\d)(?P<m>\.m)?$")


class Siw(Dataset):
    name = "siw"
    title = "SiW"
    protocols = ("P1",) + tuple(f"P2_{k}" for k in REPLAY_MEDIA) + ("P3_1", "P3_2")
    folds = {"P2": len(REPLAY_MEDIA), "P3": 2}
    expected = ("<Train|Test>/<live|spoof>/<SSS>/<SSS>-<sensor>-<type>-<medium>-<session>.mov, "
                "e.g. Train/spoof/003/003-1-3-1-1.mov")
    dev_rule = f"Train subjects {min(DEV_SUBJECTS)}-{max(DEV_SUBJECTS)} (the last fifth of the 90 Train subjects)"
    notes = {"P1": f"training uses the first {P1_TRAIN_FRAMES} frames of each training video"}

    def parse(self, video_id: str) -> VideoInfo:
        parts = video_id.split("/")
        m = _NAME.match(parts[-1])
        if len(parts) != 4 or parts[0] not in SPLIT_FOLDERS or parts[1] not in ("live", "spoof") or not m:
            raise ValueError(f"'{video_id}' is not a {self.title} video path: expected {self.expected}")
        subject, kind, medium = int(m["subject"]), int(m["type"]), int(m["medium"])
        species = SPECIES_OF_TYPE[kind]
        if parts[2] != m["subject"]:
            raise ValueError(f"'{video_id}': subject {m['subject']} lies in folder {parts[2]}")
        if (species == "live") != (parts[1] == "live"):
            raise ValueError(f"'{video_id}': type {kind} ({species}) does not belong in the {parts[1]} folder")
        if species != "live" and medium not in MEDIA[kind]:
            raise ValueError(f"'{video_id}': {species} medium {medium} is not one of {MEDIA[kind]}")
        release = SPLIT_FOLDERS[parts[0]]
        attack = "" if species == "live" else f"{species}_{medium}"
        return VideoInfo(video_id, m["subject"], species, attack, carve_dev(release, subject, DEV_SUBJECTS), release,
                         device=m["sensor"], session=m["session"], details={"medium": m["medium"]})

    def in_protocol(self, info: VideoInfo, protocol: str, split: str) -> bool:
        self.check_protocol(protocol)
        if info.split != split:
            return False
        if protocol == "P1" or info.species == "live":
            return True
        family, _, fold = protocol.partition("_")
        test = split == "test"
        if family == "P2":  # leave one replay medium out; prints are not used
            return info.species == "replay" and (int(info.details["medium"]) == int(fold)) == test
        # P3_1: print -> replay; P3_2: replay -> print
        trained = "print" if fold == "1" else "replay"
        return (info.species == trained) != test

    def face_boxes(self, root: str | Path, video_id: str) -> dict[int, Box] | None:
        """``<root>/<video_id>.face`` next to the video, if present."""
        path = Path(root) / f"{video_id}.face"
        return read_corner_boxes(path) if path.is_file() else None


DATASET = Siw()
