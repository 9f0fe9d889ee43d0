"""CASIA-FASD: 50 subjects, three cameras of different quality, ``.avi`` videos (docs/datasets.md).

Tree::

    train_release/<1..20>/<name>.avi     subjects 1-20
    test_release/<1..30>/<name>.avi      folder k is subject 20 + k

Names: ``1`` ``2`` ``HR_1`` real; ``3`` ``4`` ``HR_2`` warped photo; ``5`` ``6`` ``HR_3`` cut photo
(both print attacks); ``7`` ``8`` ``HR_4`` video replay. The digit's parity and the ``HR_``
prefix give the camera: odd = normal quality, even = low quality, ``HR_`` = high quality.

Only train and test are official; the dev split is the last fifth of the training subjects
(17-20). Protocols: ``default`` (everything), the quality tests ``low``, ``normal``, ``high``
(all of one camera) and the attack tests ``warped``, ``cut``, ``video`` (real videos and one
attack type), as the dataset's paper defines them.
"""

from __future__ import annotations

import re

from .base import Dataset, VideoInfo, carve_dev, last_fifth

TRAIN_SUBJECTS = tuple(range(1, 21))
TEST_FOLDERS = 30
DEV_SUBJECTS = last_fifth(TRAIN_SUBJECTS)
SPLIT_FOLDERS = {"train_release": "train", "test_release": "test"}
# name -> (attack type, camera quality); "" is a real video
NAMES = {
    "1": ("", "normal"), "2": ("", "low"), "HR_1": ("", "high"),
    "3": ("warped_photo", "normal"), "4": ("warped_photo", "low"), "HR_2": ("warped_photo", "high"),
    "5": ("cut_photo", "normal"), "6": ("cut_photo", "low"), "HR_3": ("cut_photo", "high"),
    "7": ("video", "normal"), "8": ("video", "low"), "HR_4": ("video", "high"),
}
SPECIES_OF_ATTACK = {"": "live", "warped_photo": "print", "cut_photo": "print", "video": "replay"}
QUALITY_PROTOCOLS = ("low", "normal", "high")
ATTACK_PROTOCOLS = {"warped": "warped_photo", "cut": "cut_photo", "video": "video"}

_FOLDER = re.compile(r"^[1-9]\d*$")


class CasiaFasd(Dataset):
    name = "casia_fasd"
    title = "CASIA-FASD"
    protocols = ("default",) + QUALITY_PROTOCOLS + tuple(ATTACK_PROTOCOLS)
    expected = "train_release/<1..20>/<1..8|HR_1..HR_4>.avi or test_release/<1..30>/..."
    dev_rule = (f"training subjects {min(DEV_SUBJECTS)}-{max(DEV_SUBJECTS)} "
                "(the last fifth of the 20 training subjects)")

    def parse(self, video_id: str) -> VideoInfo:
        parts = video_id.split("/")
        if len(parts) != 3 or parts[0] not in SPLIT_FOLDERS or not _FOLDER.match(parts[1]) or parts[2] not in NAMES:
            raise ValueError(f"'{video_id}' is not a {self.title} video path: expected {self.expected}")
        release = SPLIT_FOLDERS[parts[0]]
        folder = int(parts[1])
        limit = len(TRAIN_SUBJECTS) if release == "train" else TEST_FOLDERS
        if folder > limit:
            raise ValueError(f"'{video_id}': {parts[0]} has subject folders 1-{limit}, not {folder}")
        subject = folder if release == "train" else len(TRAIN_SUBJECTS) + folder
        attack, quality = NAMES[parts[2]]
        return VideoInfo(video_id, str(subject), SPECIES_OF_ATTACK[attack], attack,
                         carve_dev(release, subject, DEV_SUBJECTS), release, device=quality)

    def in_protocol(self, info: VideoInfo, protocol: str, split: str) -> bool:
        self.check_protocol(protocol)
        if info.split != split:
            return False
        if protocol in QUALITY_PROTOCOLS:
            return info.device == protocol
        if protocol in ATTACK_PROTOCOLS:
            return info.species == "live" or info.attack == ATTACK_PROTOCOLS[protocol]
        return True


DATASET = CasiaFasd()
