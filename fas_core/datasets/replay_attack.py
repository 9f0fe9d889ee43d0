"""Replay-Attack (Idiap): 50 clients, 320x240 webcam ``.mov`` videos (docs/datasets.md).

Tree (the release's own split folders ``train``, ``devel``, ``test``)::

    <split>/real/client<CCC>_session01_webcam_authenticate_<controlled|adverse>_<1|2>.mov
    <split>/attack/<fixed|hand>/attack_<print|mobile|highdef>_client<CCC>_session01_<highdef|mobile>_<photo|video>_<light>.mov
    enroll/<split>/client<CCC>_session01_webcam_enroll_<light>.mov      (enrolment: never listed)
    face-locations/<split>/.../<stem>.face                               (optional: 'frame x y w h' rows)

The first attack token is the instrument: ``print`` a printed photo (always ``highdef_photo``),
``mobile`` / ``highdef`` a phone / tablet screen (replay) showing a ``photo`` or a ``video``;
the folder is the support (``fixed`` stand or ``hand``-held). Protocols: ``grandtest`` (every
attack) and the attack subsets ``print``, ``mobile``, ``highdef``, ``photo`` (print and screen
photos), ``video``; every protocol keeps all real videos.
"""

from __future__ import annotations

import re
from pathlib import Path

from .base import ENROL, Box, Dataset, VideoInfo, read_frame_boxes, release_split_of

SPLIT_FOLDERS = {"train": "train", "devel": "dev", "test": "test"}
TRAIN_CLIENTS = frozenset((1, 2, 4, 6, 7, 8, 12, 16, 18, 25, 27, 103, 105, 108, 110))
TEST_CLIENTS = frozenset((9, 11, 13, 14, 19, 20, 21, 23, 24, 26, 28, 31, 102, 104, 106, 107, 109, 112, 115, 117))
INSTRUMENTS = ("print", "mobile", "highdef")
LIGHTS = ("controlled", "adverse")
SUPPORTS = ("fixed", "hand")

_REAL = re.compile(r"^client(?P<client>\d{3})_session(?P<session>\d{2})_webcam_authenticate_"
                   r"(?P<light>controlled|adverse)_(?P<take>[12])$")
_ATTACK = re.compile(r"^attack_(?P<instrument>print|mobile|highdef)_client(?P<client>\d{3})_session(?P<session>\d{2})_"
                     r"(?P<screen>highdef|mobile)_(?P<sample>photo|video)_(?P<light>controlled|adverse)$")
_ENROL = re.compile(r"^client(?P<client>\d{3})_session(?P<session>\d{2})_webcam_enroll_(?P<light>controlled|adverse)$")


def _check_client(client: int, split: str, video_id: str) -> None:
    """A client's videos lie in its own split (train and test clients are listed; devel has the rest)."""
    owner = "train" if client in TRAIN_CLIENTS else "test" if client in TEST_CLIENTS else "dev"
    if owner != split:
        raise ValueError(f"'{video_id}': client {client} belongs to the {owner} split, not {split}")


class ReplayAttack(Dataset):
    name = "replay_attack"
    title = "Replay-Attack"
    protocols = ("grandtest", "print", "mobile", "highdef", "photo", "video")
    expected = ("<train|devel|test>/real/client001_session01_webcam_authenticate_adverse_1.mov or "
                "<split>/attack/<fixed|hand>/attack_print_client001_session01_highdef_photo_adverse.mov")

    def parse(self, video_id: str) -> VideoInfo:
        parts = video_id.split("/")
        if parts[0] == "enroll" and len(parts) == 3:
            return self._enrolment(video_id, parts)
        if len(parts) == 3 and parts[1] == "real":
            return self._real(video_id, parts)
        if len(parts) == 4 and parts[1] == "attack":
            return self._attack(video_id, parts)
        raise ValueError(f"'{video_id}' is not a {self.title} video path: expected {self.expected}")

    def _real(self, video_id: str, parts: list[str]) -> VideoInfo:
        split = release_split_of(parts[0], SPLIT_FOLDERS, self.title)
        m = _REAL.match(parts[2])
        if not m:
            raise ValueError(f"'{video_id}': a real video is named client<CCC>_session01_webcam_authenticate_"
                             "<controlled|adverse>_<1|2>")
        client = int(m["client"])
        _check_client(client, split, video_id)
        return VideoInfo(video_id, str(client), "live", "", split, split, device="webcam", session=m["session"],
                         details={"light": m["light"], "take": m["take"]})

    def _attack(self, video_id: str, parts: list[str]) -> VideoInfo:
        split = release_split_of(parts[0], SPLIT_FOLDERS, self.title)
        m = _ATTACK.match(parts[3])
        if parts[2] not in SUPPORTS or not m:
            raise ValueError(f"'{video_id}': an attack is <split>/attack/<fixed|hand>/attack_<print|mobile|highdef>_"
                             "client<CCC>_session01_<highdef|mobile>_<photo|video>_<controlled|adverse>")
        instrument, screen, sample = m["instrument"], m["screen"], m["sample"]
        if instrument == "print" and (screen, sample) != ("highdef", "photo"):
            raise ValueError(f"'{video_id}': a print attack is always highdef_photo, not {screen}_{sample}")
        if instrument != "print" and screen != instrument:
            raise ValueError(f"'{video_id}': a {instrument} replay is shot as {instrument}_<photo|video>, not {screen}")
        client = int(m["client"])
        _check_client(client, split, video_id)
        species = "print" if instrument == "print" else "replay"
        return VideoInfo(video_id, str(client), species, f"{instrument}_{sample}", split, split, device="webcam",
                         session=m["session"], details={"instrument": instrument, "sample": sample,
                                                        "support": parts[2], "light": m["light"]})

    def _enrolment(self, video_id: str, parts: list[str]) -> VideoInfo:
        split = release_split_of(parts[1], SPLIT_FOLDERS, self.title)
        m = _ENROL.match(parts[2])
        if not m:
            raise ValueError(f"'{video_id}': an enrolment video is client<CCC>_session01_webcam_enroll_<light>")
        client = int(m["client"])
        _check_client(client, split, video_id)
        return VideoInfo(video_id, str(client), "live", "", ENROL, ENROL, device="webcam", session=m["session"],
                         details={"light": m["light"]})

    def in_protocol(self, info: VideoInfo, protocol: str, split: str) -> bool:
        self.check_protocol(protocol)
        if info.split != split:
            return False
        if info.species == "live" or protocol == "grandtest":
            return True
        return protocol in (info.details["instrument"], info.details["sample"])

    def face_boxes(self, root: str | Path, video_id: str) -> dict[int, Box] | None:
        """``<root>/face-locations/<video_id>.face`` (the separately distributed face locations), if present."""
        path = Path(root) / "face-locations" / f"{video_id}.face"
        return read_frame_boxes(path) if path.is_file() else None


DATASET = ReplayAttack()
