"""File names of the full released datasets, written from each dataset's naming rules (docs/datasets.md).

The trees are folders of EMPTY files: enough for the readers, which look at names only. Each
builder returns the relative paths it wrote, so a test can count them by its own rules.
"""

from __future__ import annotations

import os
from pathlib import Path

from fas_core.datasets.siw import TRAIN_SUBJECTS

# ----------------------------------------------------------------------------- OULU-NPU
OULU_SPLIT_FOLDERS = ((range(1, 21), "Train_files"), (range(21, 36), "Dev_files"), (range(36, 56), "Test_files"))


def oulu_names() -> list[str]:
    """All 4950 videos: 6 phones x 3 sessions x 55 users x 5 files."""
    out = []
    for users, folder in OULU_SPLIT_FOLDERS:
        out += [f"{folder}/{p}_{s}_{u:02d}_{f}.avi" for p in range(1, 7) for s in (1, 2, 3) for u in users
                for f in range(1, 6)]
    return out


# ----------------------------------------------------------------------------- Replay-Attack
RA_TRAIN = (1, 2, 4, 6, 7, 8, 12, 16, 18, 25, 27, 103, 105, 108, 110)
RA_TEST = (9, 11, 13, 14, 19, 20, 21, 23, 24, 26, 28, 31, 102, 104, 106, 107, 109, 112, 115, 117)
# The devel clients are "the other 15"; the reader takes the split from the folder, so any 15
# numbers outside the train and test lists stand for them.
RA_DEVEL = (3, 5, 10, 15, 17, 22, 29, 30, 32, 33, 34, 35, 36, 37, 101)


def replay_attack_names() -> list[str]:
    """Per client: 4 real (2 lights x 2 takes), 20 attacks (2 supports x 2 lights x 5 kinds), 2 enrolment."""
    out = []
    for folder, clients in (("train", RA_TRAIN), ("devel", RA_DEVEL), ("test", RA_TEST)):
        for c in clients:
            for light in ("controlled", "adverse"):
                out += [f"{folder}/real/client{c:03d}_session01_webcam_authenticate_{light}_{t}.mov" for t in (1, 2)]
                out.append(f"enroll/{folder}/client{c:03d}_session01_webcam_enroll_{light}.mov")
                for support in ("fixed", "hand"):
                    stem = f"{folder}/attack/{support}/attack_"
                    out.append(f"{stem}print_client{c:03d}_session01_highdef_photo_{light}.mov")
                    out += [f"{stem}{dev}_client{c:03d}_session01_{dev}_{sample}_{light}.mov"
                            for dev in ("mobile", "highdef") for sample in ("photo", "video")]
    return out


# ----------------------------------------------------------------------------- CASIA-FASD
CASIA_FILES = ("1", "2", "HR_1", "3", "4", "HR_2", "5", "6", "HR_3", "7", "8", "HR_4")


def casia_names() -> list[str]:
    return [f"{release}/{k}/{name}.avi" for release, n in (("train_release", 20), ("test_release", 30))
            for k in range(1, n + 1) for name in CASIA_FILES]


# ----------------------------------------------------------------------------- MSU-MFSD
MSU_TRAIN = (2, 3, 5, 6, 7, 8, 9, 11, 12, 21, 22, 34, 53, 54, 55)
MSU_TEST = (1, 13, 14, 23, 24, 26, 28, 29, 30, 32, 33, 35, 36, 37, 39, 42, 48, 49, 50, 51)


def msu_names() -> list[str]:
    """Per client and device (android .mp4, laptop .mov): 1 real, 3 attacks."""
    out = []
    for c in MSU_TRAIN + MSU_TEST:
        for device, ext in (("android", "mp4"), ("laptop", "mov")):
            out.append(f"real/real_client{c:03d}_{device}_SD_scene01.{ext}")
            out += [f"attack/attack_client{c:03d}_{device}_SD_{kind}_scene01.{ext}"
                    for kind in ("printed_photo", "ipad_video", "iphone_video")]
    return out


def write_msu_sub_lists(root: Path) -> None:
    (root / "train_sub_list.txt").write_text("".join(f"{c:02d}\n" for c in MSU_TRAIN))
    (root / "test_sub_list.txt").write_text("".join(f"{c:02d}\n" for c in MSU_TEST))


# ----------------------------------------------------------------------------- SiW
SIW_TRAIN = TRAIN_SUBJECTS  # the 90 subjects of the release's Train folder
SIW_TEST = tuple(s for s in range(1, 166) if s not in SIW_TRAIN)
# The released per-subject counts are irregular (21 to 30 videos). Stated construction: for each
# folder and type, take the candidates sensor 1-2 x medium x session 1-2 x subject in the order
# (session, sensor, medium, subject) and keep the last N, N the count of the release's lists:
SIW_COUNTS = {("Train", 1): 714, ("Train", 2): 339, ("Train", 3): 1363,
              ("Test", 1): 599, ("Test", 2): 314, ("Test", 3): 1140}
SIW_MEDIA = {1: (1, 2), 2: (1, 2), 3: (1, 2, 3, 4)}
SIW_DOT_M = (153, 154, 158, 161)  # their sensor-2 live videos have stems ending in ".m", as released


def siw_names() -> list[str]:
    out = []
    for (folder, kind), count in SIW_COUNTS.items():
        subjects = SIW_TRAIN if folder == "Train" else SIW_TEST
        candidates = [(session, sensor, medium, s) for session in (1, 2) for sensor in (1, 2)
                      for medium in SIW_MEDIA[kind] for s in subjects]
        for session, sensor, medium, s in candidates[len(candidates) - count:]:
            dot_m = ".m" if folder == "Test" and kind == 1 and sensor == 2 and s in SIW_DOT_M else ""
            live = "live" if kind == 1 else "spoof"
            out.append(f"{folder}/{live}/{s:03d}/{s:03d}-{sensor}-{kind}-{medium}-{session}{dot_m}.mov")
    return out


# ----------------------------------------------------------------------------- Replay-Mobile
RM_TRAIN = (1, 3, 8, 11, 12, 16, 18, 20, 26, 34, 37, 38)
RM_DEVEL = (5, 6, 13, 14, 15, 23, 24, 25, 28, 29, 31, 32, 35, 36, 39, 40)
RM_TEST = tuple(c for c in range(1, 41) if c not in RM_TRAIN + RM_DEVEL)
RM_NO_REAL = (9,)  # the release has no real video of test client 9


def replay_mobile_names() -> list[str]:
    """Per client: 10 real (2 devices x 5 lights), 16 attacks (8 print, 8 matte screen), 4 enrolment."""
    out = []
    for folder, clients in (("train", RM_TRAIN), ("devel", RM_DEVEL), ("test", RM_TEST)):
        for c in clients:
            for dev in ("mobile", "tablet"):
                if c not in RM_NO_REAL:
                    out += [f"{folder}/real/client{c:03d}_session02_authenticate_{dev}_{light}.mov"
                            for light in ("controlled", "adverse", "direct", "lateral", "diffuse")]
                for light in ("lighton", "lightoff"):
                    out.append(f"enroll/{folder}/client{c:03d}_session01_enroll_{dev}_{light}.mov")
                    stem = f"{folder}/attack/attack_client{c:03d}_session01_"
                    out += [f"{stem}print_{support}_{dev}_photo_{light}.mov" for support in ("fixed", "hand")]
                    out += [f"{stem}mattescreen_fixed_{dev}_{sample}_{light}.mov" for sample in ("photo", "video")]
    return out


def touch_all(root: Path, names: list[str]) -> Path:
    """Create an empty file for every relative name under ``root`` (each folder made once: thousands of files)."""
    for folder in sorted({str(Path(n).parent) for n in names}):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for name in names:
        os.close(os.open(root / name, os.O_CREAT | os.O_WRONLY, 0o644))
    return root
