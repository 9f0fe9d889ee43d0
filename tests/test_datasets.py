"""Dataset readers on folders of empty files named like each full release (counts of docs/datasets.md)."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import release_trees as rt

from data.make_lists import make_dataset_lists
from fas_core import fileio, oulu, scores
from fas_core.datasets import DATASETS, get_dataset
from fas_core.datasets.base import box_of_frame, read_corner_boxes, read_frame_boxes
from fas_core.datasets.lists import read_list_species
from fas_core.datasets.scan import frame_folder_ids

ROOT = Path(__file__).resolve().parents[1]
BUILDERS = {"replay_attack": rt.replay_attack_names, "casia_fasd": rt.casia_names, "msu_mfsd": rt.msu_names,
            "siw": rt.siw_names, "replay_mobile": rt.replay_mobile_names}


@pytest.fixture(scope="module")
def lists(tmp_path_factory) -> dict[str, tuple[Path, dict]]:
    """make_lists (all protocols) on each release tree: dataset -> (lists folder, summary)."""
    out = {}
    for name, build in BUILDERS.items():
        root = rt.touch_all(tmp_path_factory.mktemp(name), build())
        if name == "msu_mfsd":
            rt.write_msu_sub_lists(root)
        if name == "replay_attack":  # the face locations sit beside the videos; they are no videos
            rt.touch_all(root, ["face-locations/train/real/client001_session01_webcam_authenticate_adverse_1.face"])
        folder = tmp_path_factory.mktemp(name + "_lists")
        out[name] = (folder, make_dataset_lists(name, root, folder))
    return out


def species(path: Path) -> Counter:
    """Counts by species read back from a list file's labels."""
    return Counter(read_list_species(path).values())


def triple(path: Path) -> tuple[int, int, int]:
    c = species(path)
    return c["live"], c["print"], c["replay"]


def add(*triples: tuple[int, int, int]) -> tuple[int, int, int]:
    return tuple(sum(t[i] for t in triples) for i in range(3))


# ----------------------------------------------------------------------------- Replay-Attack
def test_replay_attack_grandtest_counts(lists):
    folder, summary = lists["replay_attack"]
    g = folder / "grandtest"
    assert triple(g / "Train.txt") == (60, 60, 240)  # print 60, mobile 120 + highdef 120
    assert triple(g / "Dev.txt") == (60, 60, 240)
    assert triple(g / "Test.txt") == (80, 80, 320)
    train = read_list_species(g / "Train.txt")
    assert Counter(v.split("/")[2] for v in train if "/attack/" in v) == {"fixed": 150, "hand": 150}
    instruments = Counter(v.rsplit("/", 1)[1].split("_")[1] for v in train if "/attack/" in v)
    assert instruments == {"print": 60, "mobile": 120, "highdef": 120}
    assert summary["enrolment_skipped"] == 100 and summary["unmatched_count"] == 0 and summary["videos"] == 1200
    assert not any(v.startswith("enroll/") for path in g.glob("*.txt") for v in read_list_species(path))


@pytest.mark.parametrize("protocol, attacks", [("print", 200), ("mobile", 400), ("highdef", 400), ("photo", 600),
                                               ("video", 400)])
def test_replay_attack_sub_protocols(lists, protocol, attacks):
    folder, _ = lists["replay_attack"]
    per_split = [triple(folder / protocol / f"{s}.txt") for s in ("Train", "Dev", "Test")]
    assert [live for live, _, _ in per_split] == [60, 60, 80]  # every protocol keeps all real videos
    attack_counts = [p + r for _, p, r in per_split]
    assert sum(attack_counts) == attacks
    assert attack_counts == [attacks * 30 // 100, attacks * 30 // 100, attacks * 40 // 100]


# ----------------------------------------------------------------------------- CASIA-FASD
def test_casia_counts_and_carved_dev(lists):
    folder, summary = lists["casia_fasd"]
    d = folder / "default"
    train, dev, test = (triple(d / f"{s}.txt") for s in ("Train", "Dev", "Test"))
    assert add(train, dev) == (60, 120, 60)  # 60 real + 180 attacks (60 of each type) in the release's train
    assert test == (90, 180, 90)  # 90 real + 270 attacks
    assert dev == (12, 24, 12)  # subjects 17-20: 4 subjects x 12 videos
    assert {v.split("/")[1] for v in read_list_species(d / "Dev.txt")} == {"17", "18", "19", "20"}
    assert "17-20" in summary["dev_rule"]
    assert triple(folder / "high" / "Test.txt") == (30, 60, 30)  # HR_1..HR_4 of 30 test subjects
    assert triple(folder / "cut" / "Train.txt") == (48, 48, 0)


# ----------------------------------------------------------------------------- MSU-MFSD
def test_msu_counts_dev_and_upside_down(lists):
    folder, summary = lists["msu_mfsd"]
    d = folder / "default"
    train, dev, test = (triple(d / f"{s}.txt") for s in ("Train", "Dev", "Test"))
    assert add(train, dev) == (30, 30, 60)  # 30 real + 90 attacks (30 per type)
    assert test == (40, 40, 80)  # 40 real + 120 attacks
    assert {v.split("_client")[1][:3] for v in read_list_species(d / "Dev.txt")} == {"053", "054", "055"}
    assert summary["upside_down"] == [f"real/real_client{c:03d}_android_SD_scene01" for c in (3, 5, 6, 7, 8)]


def test_msu_sub_list_disagreeing_with_the_split_is_refused(tmp_path):
    root = rt.touch_all(tmp_path / "msu", rt.msu_names())
    rt.write_msu_sub_lists(root)
    (root / "test_sub_list.txt").write_text("01\n13\n")
    with pytest.raises(ValueError, match=r"test_sub_list\.txt lists other clients"):
        make_dataset_lists("msu_mfsd", root, tmp_path / "out")


# ----------------------------------------------------------------------------- SiW
def medium_counts(kind: int, folder: str) -> Counter:
    """Videos per medium of one type in the test's own construction (counted from the names)."""
    stems = [n.rsplit("/", 1)[1] for n in rt.siw_names() if n.startswith(folder + "/")]
    return Counter(int(s.split("-")[3]) for s in stems if s.split("-")[2] == str(kind))


def test_siw_p1_counts(lists):
    folder, summary = lists["siw"]
    p1 = [triple(folder / "P1" / f"{s}.txt") for s in ("Train", "Dev", "Test")]
    assert add(p1[0], p1[1]) == (714, 339, 1363)  # Train: 90 subjects, 714 live + 1702 spoof
    assert p1[2] == (599, 314, 1140)  # Test: 75 subjects, 599 live + 1454 spoof
    assert sum(map(sum, p1)) == 4469
    dev_subjects = {v.split("/")[2] for v in read_list_species(folder / "P1" / "Dev.txt")}
    assert len(dev_subjects) == 18 and min(dev_subjects) == "144"
    assert summary["notes"]["P1"].startswith("training uses the first 60 frames")
    dot_m = [v for v in read_list_species(folder / "P1" / "Test.txt") if v.endswith(".m")]
    assert len(dot_m) == 16 and "Test/live/153/153-2-1-1-1.m" in dot_m


def test_siw_p2_leaves_one_replay_medium_out(lists):
    folder, _ = lists["siw"]
    train_media, test_media = medium_counts(3, "Train"), medium_counts(3, "Test")
    for k in (1, 2, 3, 4):
        train, dev, test = (triple(folder / "P2" / f"{s}_{k}.txt") for s in ("Train", "Dev", "Test"))
        assert add(train, dev) == (714, 0, 1363 - train_media[k])
        assert test == (599, 0, test_media[k])
    assert sum(test_media.values()) == 1140


def test_siw_p3_cross_instrument(lists):
    folder, _ = lists["siw"]
    t1 = [triple(folder / "P3" / f"{s}_1.txt") for s in ("Train", "Dev", "Test")]
    t2 = [triple(folder / "P3" / f"{s}_2.txt") for s in ("Train", "Dev", "Test")]
    assert add(t1[0], t1[1]) == (714, 339, 0) and t1[2] == (599, 0, 1140)  # print -> replay
    assert add(t2[0], t2[1]) == (714, 0, 1363) and t2[2] == (599, 314, 0)  # replay -> print


# ----------------------------------------------------------------------------- Replay-Mobile
def test_replay_mobile_counts(lists):
    folder, summary = lists["replay_mobile"]
    g = folder / "grandtest"
    assert [sum(triple(g / f"{s}.txt")[1:]) for s in ("Train", "Dev", "Test")] == [192, 256, 192]
    assert [triple(g / f"{s}.txt")[0] for s in ("Train", "Dev", "Test")] == [120, 160, 110]
    assert summary["enrolment_skipped"] == 160
    assert triple(folder / "print" / "Test.txt") == (110, 96, 0)
    assert triple(folder / "mattescreen" / "Dev.txt") == (160, 0, 128)


# ----------------------------------------------------------------------------- every dataset
def test_summary_counts_by_split_and_species(lists):
    _, summary = lists["casia_fasd"]
    assert summary["splits"]["test"] == {"lines": 360, "live": 90, "print": 180, "replay": 90,
                                         "attacks": {"cut_photo": 90, "video": 90, "warped_photo": 90}}
    assert summary["lists"]["default/Dev.txt"]["lines"] == 48


def test_lists_read_back_with_the_oulu_reader(lists):
    folder, _ = lists["siw"]
    rows = oulu.read_list(folder / "P3" / "Test_2.txt")
    assert len(rows) == 913 and rows[0][0].startswith("Test/live/001/001-") and rows[0][1] == 1
    assert (folder / "P3" / "Test_2.txt").read_text().splitlines()[-1].startswith("-1,Test/spoof/")


def test_unmatched_files_are_counted_and_named(tmp_path):
    root = rt.touch_all(tmp_path / "casia", rt.casia_names() + ["train_release/3/9.avi", "test_release/31/1.avi",
                                                                 "notes/holiday.mp4", "train_release/1/readme.txt"])
    summary = make_dataset_lists("casia_fasd", root, tmp_path / "out", "default")
    assert summary["unmatched_count"] == 3
    assert summary["unmatched"] == ["notes/holiday.mp4", "test_release/31/1.avi", "train_release/3/9.avi"]
    assert summary["videos"] == 600


def refused(dataset: str, root: Path, out: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "data.make_lists", dataset, "--videos", str(root), "--out", str(out)]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)


def test_a_tree_of_another_dataset_is_refused(tmp_path):
    replay = rt.touch_all(tmp_path / "replay", rt.replay_attack_names())
    r = refused("casia_fasd", replay, tmp_path / "out")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert "looks like a Replay-Attack tree (1300 of 1300 video files" in r.stderr
    oulu_tree = rt.touch_all(tmp_path / "oulu", rt.oulu_names()[:50])
    r = refused("siw", oulu_tree, tmp_path / "out")
    assert r.returncode == 2 and "looks like a OULU-NPU tree (50 of 50" in r.stderr
    assert not (tmp_path / "out").exists()


def test_an_empty_tree_and_a_root_one_level_up_are_clear_errors(tmp_path):
    rt.touch_all(tmp_path / "release" / "CASIA_faceAntisp", rt.casia_names()[:12])
    r = refused("casia_fasd", tmp_path / "release", tmp_path / "out")
    assert r.returncode == 2 and "no CASIA-FASD videos under" in r.stderr
    assert f"root seems to be {tmp_path / 'release' / 'CASIA_faceAntisp'}" in r.stderr
    (tmp_path / "empty").mkdir()
    r = refused("msu_mfsd", tmp_path / "empty", tmp_path / "out")
    assert r.returncode == 2 and "no video files" in r.stderr


def test_every_dataset_parses_a_path_into_its_fields():
    ra = get_dataset("replay_attack").parse("train/attack/hand/attack_mobile_client103_session01_mobile_video_adverse")
    assert (ra.subject, ra.species, ra.attack, ra.split, ra.details["support"]) == ("103", "replay", "mobile_video",
                                                                                    "train", "hand")
    casia = get_dataset("casia_fasd").parse("test_release/5/HR_3")
    assert (casia.subject, casia.species, casia.attack, casia.device, casia.split) == ("25", "print", "cut_photo",
                                                                                       "high", "test")
    msu = get_dataset("msu_mfsd").parse("attack/attack_client054_laptop_SD_iphone_video_scene01")
    assert (msu.species, msu.device, msu.split, msu.release_split) == ("replay", "laptop", "dev", "train")
    siw = get_dataset("siw").parse("Test/live/153/153-2-1-2-1.m")
    assert (siw.subject, siw.species, siw.device, siw.session, siw.split) == ("153", "live", "2", "1", "test")
    rm = get_dataset("replay_mobile").parse("devel/attack/attack_client005_session01_mattescreen_fixed_tablet_"
                                            "video_lighton")
    assert (rm.species, rm.attack, rm.device, rm.split) == ("replay", "mattescreen_video", "tablet", "dev")
    ou = get_dataset("oulu").parse("Dev_files/3_2_22_5")
    assert (ou.video_id, ou.subject, ou.species, ou.device, ou.session) == ("3_2_22_5", "22", "replay", "3", "2")


@pytest.mark.parametrize("dataset, path, why", [
    ("replay_attack", "train/real/client009_session01_webcam_authenticate_adverse_1", "belongs to the test split"),
    ("replay_attack", "train/attack/fixed/attack_print_client001_session01_mobile_video_adverse", "always highdef"),
    ("siw", "Train/live/003/003-1-2-1-1", "does not belong in the live folder"),
    ("siw", "Train/spoof/003/003-1-2-3-1", "medium 3 is not one of"),
    ("siw", "Train/spoof/004/003-1-2-1-1", "lies in folder 004"),
    ("msu_mfsd", "real/real_client004_android_SD_scene01", "neither the train nor the test"),
    ("casia_fasd", "train_release/21/1", "subject folders 1-20"),
    ("replay_mobile", "train/real/client002_session02_authenticate_mobile_adverse", "not a train client"),
])
def test_inconsistent_names_are_rejected_with_the_reason(dataset, path, why):
    with pytest.raises(ValueError, match=why):
        get_dataset(dataset).parse(path)


def test_registry_and_protocol_names():
    assert list(DATASETS) == ["oulu", "replay_attack", "casia_fasd", "msu_mfsd", "siw", "replay_mobile"]
    siw = get_dataset("siw")
    assert siw.expand_protocol("P2") == ["P2_1", "P2_2", "P2_3", "P2_4"]
    assert siw.list_path("L", "P3_2", "dev") == Path("L/P3/Dev_2.txt")
    assert get_dataset("replay_attack").list_path("L", "grandtest", "test") == Path("L/grandtest/Test.txt")
    assert get_dataset("oulu").list_path("L", "4_2", "train") == Path("L/Protocol_4/Train_2.txt")
    with pytest.raises(ValueError, match="unknown SiW protocol 'P4'"):
        siw.expand_protocol("P4")
    with pytest.raises(ValueError, match="unknown dataset 'nuaa'"):
        get_dataset("nuaa")


# ----------------------------------------------------------------------------- face boxes, work trees
def test_face_box_files_parse(tmp_path):
    ra = tmp_path / "ra.face"
    ra.write_text("0 10 20 30 40\n1 0 0 0 0\n2 12 21 30 41\n")
    assert read_frame_boxes(ra) == {0: (10, 20, 30, 40), 2: (12, 21, 30, 41)}
    siw = tmp_path / "siw.face"
    siw.write_text("100 50 180 150\n0 0 0 0\n102 52 182 150\n")
    boxes = read_corner_boxes(siw)
    assert boxes == {0: (100, 50, 80, 100), 2: (102, 52, 80, 98)}
    assert box_of_frame(boxes, 1) == (100, 50, 80, 100) and box_of_frame(boxes, 2) is None
    assert box_of_frame(boxes, 2, every=2) == (102, 52, 80, 98)
    siw.write_text("100 50 180\n")
    with pytest.raises(ValueError, match=r"siw\.face:1: expected 'x1 y1 x2 y2'"):
        read_corner_boxes(siw)
    siw.write_text("100 50 90 150\n")
    with pytest.raises(ValueError, match="has no area"):
        read_corner_boxes(siw)


def test_datasets_find_their_shipped_face_files(tmp_path):
    video = "train/real/client001_session01_webcam_authenticate_adverse_1"
    face = tmp_path / "face-locations" / f"{video}.face"
    face.parent.mkdir(parents=True)
    face.write_text("3 1 2 30 40\n")
    assert get_dataset("replay_attack").face_boxes(tmp_path, video) == {3: (1, 2, 30, 40)}
    assert get_dataset("siw").face_boxes(tmp_path, "Train/live/003/003-1-1-1-1") is None


def test_frame_folders_with_nested_ids_are_found(tmp_path):
    for video in ("train_release/1/HR_1", "test_release/3/7", "Test/live/153/153-2-1-1-1.m"):
        folder = tmp_path / video
        folder.mkdir(parents=True)
        (folder / f"{video.rsplit('/', 1)[1]}_001_scene.jpg").touch()
    (tmp_path / "train_release" / "stray.jpg").touch()
    assert frame_folder_ids(tmp_path) == ["Test/live/153/153-2-1-1-1.m", "test_release/3/7", "train_release/1/HR_1"]
    summary = make_dataset_lists("casia_fasd", tmp_path, tmp_path / "lists", "default")
    assert summary["videos"] == 2 and summary["lists"]["default/Test.txt"]["lines"] == 1


def test_frame_files_of_video_ids_with_folders(tmp_path):
    video = "Test/live/153/153-2-1-1-1.m"
    assert fileio.frame_name(video, 7) == "153-2-1-1-1.m_007"
    assert fileio.frame_path(tmp_path, video, 7) == tmp_path / video / "153-2-1-1-1.m_007_scene.jpg"
    assert fileio.bbox_path(tmp_path, video, 7) == tmp_path / video / "153-2-1-1-1.m_007_scene.dat"
    assert fileio.depth_path(tmp_path, video, 7, "png") == tmp_path / video / "153-2-1-1-1.m_007_depth1D.png"
    for i in (1, 2, 10):
        fileio.write_image(fileio.frame_path(tmp_path, video, i), np.zeros((4, 4, 3), np.uint8))
    (tmp_path / video / "other_001_scene.jpg").touch()  # a frame of another video is not this video's
    assert fileio.list_frame_indices(tmp_path / video, video) == [1, 2, 10]
    # OULU ids have no folder: nothing changes for them
    assert fileio.frame_path(tmp_path, "1_1_01_1", 3) == tmp_path / "1_1_01_1" / "1_1_01_1_003_scene.jpg"


def test_score_files_keep_video_ids_with_folders(tmp_path):
    rows = [("C/train_release/1/HR_1", 0.9, 1, None), ("I/test/attack/fixed/attack_print_client009_session01_"
                                                         "highdef_photo_adverse", 0.2, 0, "print"),
            ("O/1_1_36_4", 0.1, 0, None), ("Test/live/153/153-2-1-1-1.m", 0.7, 1, None)]
    path = tmp_path / "scores.txt"
    scores.write_scores(path, rows)
    back = scores.read_scores(path)
    assert back.names == [r[0] for r in rows]
    assert back.species == ["live", "print", "replay", "live"]  # the OULU file code still speaks under a prefix
