"""OULU-NPU as a dataset reader: the naming and protocol rules of :mod:`fas_core.oulu`.

OULU-NPU's video id is its official name (``1_1_01_1``) wherever the file lies, as the official
lists write it; the lists go to ``Protocol_N/Train.txt`` (``Train_k.txt`` for the folds of
protocols 3 and 4), as the release ships them.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from .. import oulu
from .base import Dataset, VideoInfo

ATTACK_OF_FILE = {1: "", 2: "printer1", 3: "printer2", 4: "display1", 5: "display2"}
_conditions = lru_cache(maxsize=None)(oulu.protocol_conditions)  # asked once per video and list


class Oulu(Dataset):
    name = "oulu"
    title = "OULU-NPU"
    short = "OULU"
    protocols = oulu.PROTOCOLS
    folds = {"3": len(oulu.FOLDS), "4": len(oulu.FOLDS)}
    expected = "Phone_Session_User_File.avi with a two-digit user, e.g. Train_files/1_1_01_1.avi"

    def parse(self, video_id: str) -> VideoInfo:
        parsed = oulu.parse_video_name(video_id)
        phone, session, user, file = parsed.ints()
        split = oulu.split_of_user(user)
        return VideoInfo(parsed.name, parsed.user, oulu.SPECIES_OF_FILE[file], ATTACK_OF_FILE[file], split, split,
                         device=parsed.phone, session=parsed.session)

    def in_protocol(self, info: VideoInfo, protocol: str, split: str) -> bool:
        self.check_protocol(protocol)
        if info.split != split:  # users decide the split in every protocol
            return False
        cond = _conditions(protocol, split)
        phone, session, _, file = oulu.parse_video_name(info.video_id).ints()
        return phone in cond["phones"] and session in cond["sessions"] and file in cond["files"]

    def expand_protocol(self, protocol: str) -> list[str]:
        return oulu.expand_protocol(protocol)

    def list_path(self, out_dir: str | Path, protocol: str, split: str) -> Path:
        return oulu.list_path(out_dir, protocol, split)

    def sort_key(self, info: VideoInfo) -> tuple:
        return oulu.sort_key(info.video_id)


DATASET = Oulu()
