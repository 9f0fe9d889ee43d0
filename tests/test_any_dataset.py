"""Preprocessing and training on any dataset: frame rules, turned and nested videos, shipped boxes, lists by
dataset, per-domain batches, the two selection rules (docs/datasets.md)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import release_trees as rt

from data.detect_faces import detect_faces
from data.extract_frames import FrameRule, extract_frames, spread_indices
from data.shipped_boxes import ShippedBoxes, SourceFrames, read_source_frames
from dsdg.dataset import PairDataset, spoof_type_of, spoof_types, subject_of
from dsdg.train import DEFAULTS as DSDG_DEFAULTS
from dum.train import DEFAULTS as DUM_DEFAULTS
from dum.train import DumTask
from fas_core import fileio
from fas_core.config import load_config
from fas_core.crossdomain import rule_figures, rules_from_figures, target_oracle_metric
from fas_core.datasets import get_dataset, mcio
from fas_core.datasets.base import strip_video_extension
from fas_core.errors import UserError
from fas_core.evaluate import evaluate_with_intervals
from fas_core.sampling import domain_balanced
from fas_core.scores import ScoreSet
from fas_core.stages import find_frame_videos
from fas_core.video_data import DatasetMismatchError, WorkPaths
from fas_sgtd_multi_frame.train import DEFAULTS as MULTI_DEFAULTS
from fas_sgtd_single_frame.train import DEFAULTS as SINGLE_DEFAULTS

ROOT = Path(__file__).resolve().parents[1]

W, H = 64, 48
GREYS = [20 * i + 10 for i in range(12)]  # frame i is a flat grey of this level, left half darker


def frame(i: int) -> np.ndarray:
    img = np.full((H, W, 3), GREYS[i], np.uint8)
    img[:, : W // 2] //= 4  # the left half is dark: a frame turned by 180 degrees has it on the right
    return img


def write_video(path: Path, n: int = 10) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fourcc = "mp4v" if path.suffix == ".mp4" else "MJPG"
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10, (W, H))
    assert vw.isOpened(), path
    for i in range(n):
        vw.write(frame(i))
    vw.release()


def source_of(image: np.ndarray) -> int:
    """Which source frame a written frame shows (its bright half's grey level)."""
    half = image.shape[1] // 2
    bright = max(float(image[:, :half].mean()), float(image[:, half:].mean()))
    return int(np.argmin([abs(bright - g) for g in GREYS]))


def test_spread_indices_follow_the_papers_rule():
    assert spread_indices(30, 2) == [6, 21]  # 6 + j * floor(30 / 2)
    assert spread_indices(10, 3, offset=1) == [1, 4, 7]
    assert spread_indices(4, 2) == [3]  # past the end: the last frame, once
    assert spread_indices(0, 2) == []


def test_msu_tree_gives_nested_ids_and_upright_frames(tmp_path):
    videos = tmp_path / "msu"
    turned = "real/real_client003_android_SD_scene01"  # one of the five stored upside down
    write_video(videos / f"{turned}.mp4", n=3)
    write_video(videos / "real/real_client003_laptop_SD_scene01.mov", n=3)
    out = tmp_path / "frames"
    summary = extract_frames(videos, out, dataset="msu_mfsd")
    assert summary["frames"] == 6 and summary["turned_180"] == [turned]
    first = fileio.read_image(out / turned / "real_client003_android_SD_scene01_001_scene.jpg")
    upright = fileio.read_image(out / "real/real_client003_laptop_SD_scene01/real_client003_laptop_SD_scene01_001_"
                                      "scene.jpg")
    assert first[:, : W // 2].mean() > 2 * first[:, W // 2:].mean()  # turned: the dark half is now on the right
    assert upright[:, W // 2:].mean() > 2 * upright[:, : W // 2].mean()
    assert read_source_frames(out, turned).turned and find_frame_videos(out) == sorted(
        [turned, "real/real_client003_laptop_SD_scene01"])


def test_frame_rules_first_training_frames_spread_and_max_side(tmp_path):
    videos = tmp_path / "casia"
    write_video(videos / "train_release/1/1.avi")  # a training video
    write_video(videos / "test_release/1/HR_1.avi")
    out = tmp_path / "first"
    extract_frames(videos, out, dataset="casia_fasd", rule=FrameRule(train_max_frames=3, max_side=32))
    assert fileio.list_frame_indices(out / "train_release/1/1", "1") == [1, 2, 3]
    assert fileio.list_frame_indices(out / "test_release/1/HR_1", "HR_1") == list(range(1, 11))
    small = fileio.read_image(fileio.frame_path(out, "test_release/1/HR_1", 1))
    assert small.shape[:2] == (24, 32) and read_source_frames(out, "test_release/1/HR_1").scale == 0.5
    spread = tmp_path / "spread"
    extract_frames(videos, spread, dataset="casia_fasd", rule=FrameRule(spread=2, spread_offset=1))
    written = [fileio.read_image(fileio.frame_path(spread, "train_release/1/1", i)) for i in (1, 2)]
    assert [source_of(img) for img in written] == [1, 6]  # 1 + j * floor(10 / 2)
    assert read_source_frames(spread, "train_release/1/1").frames == {1: 1, 2: 6}
    with pytest.raises(ValueError, match="--spread picks its own frames"):
        FrameRule(every=2, spread=2).check()


def test_siw_dot_m_stem_and_empty_top_folders(tmp_path):
    videos = tmp_path / "siw"
    write_video(videos / "Test/live/153/153-2-1-1-1.m.mov", n=2)
    out = tmp_path / "frames"
    extract_frames(videos, out, dataset="siw")
    (out / "stray").mkdir()
    assert (out / "Test/live/153/153-2-1-1-1.m/153-2-1-1-1.m_002_scene.jpg").is_file()
    assert find_frame_videos(out) == ["Test/live/153/153-2-1-1-1.m", "stray"]  # stray: reported as no_frames


def test_a_source_box_follows_the_turn_and_the_scale():
    record = SourceFrames({1: 0, 2: 5}, frame_size=(64, 48), turned=True, scale=0.5)
    # turned: x -> 64 - 10 - 20 = 34, y -> 48 - 4 - 16 = 28; then halved
    assert record.place((10, 4, 20, 16)) == (17.0, 14.0, 10.0, 8.0)
    assert record.source_of(2) == 5 and record.source_of(3) == 2  # unknown frames: every frame from the first


def test_detect_faces_takes_shipped_boxes_and_counts_the_frames_without(tmp_path):
    root = tmp_path / "replay"
    video = "train/real/client001_session01_webcam_authenticate_adverse_1"
    write_video(root / f"{video}.mov", n=5)
    face_file = root / "face-locations" / f"{video}.face"
    face_file.parent.mkdir(parents=True)
    face_file.write_text("0 10 8 20 24\n2 12 8 20 24\n4 14 8 20 24\n")  # frames 1 and 3 have no box
    frames = tmp_path / "frames"
    extract_frames(root, frames, dataset="replay_attack", rule=FrameRule(every=2))  # source frames 0, 2, 4
    s = detect_faces(frames, shipped=ShippedBoxes("replay_attack", str(root), "count"))
    assert s["faces"] == 3 and not s["failures"]
    assert [fileio.read_bbox(fileio.bbox_path(frames, video, i)) for i in (1, 2, 3)] == [
        (10, 8, 20, 24), (12, 8, 20, 24), (14, 8, 20, 24)]
    every = tmp_path / "every"
    extract_frames(root, every, dataset="replay_attack")  # all five: source frames 1 and 3 lack a box
    s = detect_faces(every, shipped=ShippedBoxes("replay_attack", str(root), "count"))
    assert s["faces"] == 3 and s["failed_frames"] == {"no_shipped_box": [f"{Path(video).name}_002",
                                                                         f"{Path(video).name}_004"]}
    assert not fileio.bbox_path(every, video, 2).exists()
    s = detect_faces(every, shipped=ShippedBoxes("replay_attack", str(root), "mtcnn"), overwrite=True)
    # flat grey frames: MTCNN finds no face in the two frames it is asked about
    assert s["failures"] == {"mtcnn_fallback": 2, "no_face": 2} and s["faces"] == 3


def test_list_files_by_dataset_and_bad_protocols(tmp_path):
    def paths(dataset: str) -> WorkPaths:
        return WorkPaths.from_config({"work": str(tmp_path), "dataset": dataset})

    lists = tmp_path / "lists"
    assert paths("oulu").list_file("3_2", "test") == lists / "Protocol_3" / "Test_2.txt"
    assert paths("siw").list_file("P2_3", "train") == lists / "P2" / "Train_3.txt"
    assert paths("casia_fasd").list_file("default", "dev") == lists / "default" / "Dev.txt"
    assert paths("mcio").list_file("OCI_to_M", "train") == lists / "OCI_to_M" / "Train.txt"
    with pytest.raises(UserError, match="unknown cross-domain task 'OCI_to_X'; valid: OCI_to_M, OMI_to_C"):
        paths("mcio").list_file("OCI_to_X", "train")
    with pytest.raises(UserError, match=r"data.protocol \(casia_fasd\): unknown CASIA-FASD protocol '1'"):
        paths("casia_fasd").list_file("1", "train")
    with pytest.raises(UserError, match="unknown dataset 'casia'"):
        paths("casia")


def test_species_come_from_the_labels_and_another_datasets_list_is_refused(tmp_path):
    crops = tmp_path / "crops"
    ids = {"train_release/1/HR_1": "+1", "train_release/1/3": "-1", "train_release/1/7": "-2"}
    for video in ids:
        fileio.write_image(fileio.frame_path(crops, video, 1), np.zeros((8, 8, 3), np.uint8))
    lists = tmp_path / "lists" / "default"
    lists.mkdir(parents=True)
    (lists / "Train.txt").write_text("".join(f"{label},{video}\n" for video, label in ids.items()))
    casia = WorkPaths.from_config({"work": str(tmp_path), "dataset": "casia_fasd"})
    entries = casia.load("default", "train", crops)
    assert [(e.video, e.label, e.species) for e in entries] == [
        ("train_release/1/HR_1", 1, "live"), ("train_release/1/3", 0, "print"), ("train_release/1/7", 0, "replay")]
    msu = WorkPaths.from_config({"work": str(tmp_path), "dataset": "msu_mfsd"})
    with pytest.raises(DatasetMismatchError, match=r"data.dataset is 'msu_mfsd' but .*Train.txt \(video 1\) names "
                                                   r"'train_release/1/HR_1', not one of its videos"):
        msu.load("default", "train", crops)


def test_domain_balanced_batches_share_each_batch_between_domains():
    domains = ["O"] * 6 + ["C"] * 3 + ["I"] * 3 + [None, None]

    def base(rng):  # the method's own epoch: O fills the first batch, then the rest; one generated sample each
        return [[0, 1, 2, 3, 4, 5, 12], [6, 7, 8, 9, 10, 11, 13]]

    batches = domain_balanced(base, domains)(np.random.default_rng(0))
    assert [b[-1] for b in batches] == [12, 13]  # samples of no domain keep their place
    counts = [[sum(domains[i] == d for i in b) for d in ("C", "I", "O")] for b in batches]
    assert counts == [[2, 2, 2], [2, 2, 2]]
    assert sorted(i for b in batches for i in b if domains[i] == "O") == [0, 1, 2, 3]  # O's epoch order, in turn
    three = ["O"] * 4 + ["C"] * 4 + ["I"] * 4
    seven = domain_balanced(lambda rng: [list(range(8)), [8, 9, 10, 11, 0, 1, 2]], three)(np.random.default_rng(0))
    # 8 places over C, I, O: 2 each and the 2 left over to C and I; 7 places: 2 each, the one left over to I
    # (the extra places move one domain on from batch to batch)
    assert [[sum(three[i] == d for i in b) for d in "CIO"] for b in seven] == [[3, 3, 2], [2, 3, 2]]


def test_unreadable_stand_ins_come_from_the_same_domain_when_balanced(tmp_path):
    # an unreadable sample is replaced within its group: with data.domain_balance the domain is part of it
    videos = ["O/Train_files/1_1_01_1", "C/train_release/1/HR_1", None]
    groups = [(False, 1), (False, 0), (True, 1)]
    balanced = DumTask(load_config(DUM_DEFAULTS, None, ["data.dataset=mcio", "data.domain_balance=true"]))
    assert balanced.with_domains(groups, videos) == [((False, 1), "O"), ((False, 0), "C"), ((True, 1), None)]
    plain = DumTask(load_config(DUM_DEFAULTS, None, ["data.dataset=mcio", "data.domain_balance=false"]))
    assert plain.with_domains(groups, videos) == groups


def test_target_oracle_metric_and_both_rules_by_hand():
    test = [("l1", 0.9, 1, "live"), ("l2", 0.8, 1, "live"), ("l3", 0.3, 1, "live"),
            ("a1", 0.5, 0, "print"), ("a2", 0.2, 0, "print"), ("a3", 0.1, 0, "replay"), ("a4", 0.6, 0, "replay")]
    # test EER point: t = 0.6 accepts 1 of 4 attacks and rejects 1 of 3 live: HTER (1/4 + 1/3) / 2 = 7/24
    value, figures = target_oracle_metric(test)
    assert value == pytest.approx(7 / 24) and figures["target_EER_threshold"] == 0.6
    dev = [("d1", 0.4, 1, "live"), ("d2", 0.7, 1, "live"), ("d3", 0.1, 0, "print"), ("d4", 0.3, 0, "replay")]
    rules = rule_figures(dev, test, "best.pt")
    # dev EER threshold 0.4: on test 2 of 4 attacks accepted, 1 of 3 live rejected: (1/2 + 1/3) / 2 = 5/12
    assert rules["source_dev"]["threshold"] == 0.4 and rules["source_dev"]["HTER"] == pytest.approx(5 / 12)
    assert rules["test_eer_threshold"]["threshold"] == 0.6
    assert rules["test_eer_threshold"]["HTER"] == pytest.approx(7 / 24)
    assert rules["source_dev"]["AUC"] == pytest.approx(10 / 12)  # 10 of 12 live/attack pairs ordered right
    assert rules["source_dev"]["TPR@FPR=1e-2"] is None  # 4 attacks cannot resolve an FPR of 1 %
    for rule in ("source_dev", "test_eer_threshold"):  # bootstrap intervals hold their own figure
        lo, hi = rules[rule]["HTER_ci"]
        assert lo <= rules[rule]["HTER"] <= hi and 0.0 <= lo < hi <= 1.0
    separated = [("l1", 0.9, 1, "live"), ("l2", 0.8, 1, "live"), ("a1", 0.2, 0, "print"), ("a2", 0.1, 0, "replay")]
    # every resample of a separated set has AUC 1 and its own EER point at FAR = FRR = 0
    oracle = rule_figures(separated, separated, "best_target_oracle.pt")["test_eer_threshold"]
    assert oracle["HTER_ci"] == [0.0, 0.0] and oracle["AUC_ci"] == [1.0, 1.0]


def test_selection_rules_from_the_test_reports_figures_equal_those_computed_afresh():
    # test.py reads both rules off the report's figures (default bootstrap) instead of evaluating the split again
    rng = np.random.default_rng(3)
    species = ("live", "print", "replay")
    dev = [(f"d{i}", float(rng.random()), int(i % 3 == 0), species[i % 3]) for i in range(40)]
    test = [(f"t{i}", float(rng.random()), int(i % 3 == 0), species[i % 3]) for i in range(60)]
    report = evaluate_with_intervals(ScoreSet.from_rows(dev), ScoreSet.from_rows(test))
    assert rules_from_figures(report, "best.pt") == rule_figures(dev, test, "best.pt")


def test_dsdg_pairs_subjects_and_types_of_other_datasets(tmp_path):
    assert subject_of("C/test_release/3/HR_2", "mcio") == "C/23" and subject_of("O/1_1_05_2", "mcio") == "O/05"
    assert spoof_types("casia_fasd", ["train_release/1/7", "train_release/1/3", "train_release/2/5"]) == (
        "cut_photo", "video", "warped_photo")
    assert spoof_type_of("O/1_1_01_4", "mcio", ("C/video", "O/display1")) == 1
    crops = tmp_path / "crops"
    videos = {"train_release/1/1": "+1", "train_release/1/3": "-1", "train_release/2/HR_1": "+1",
              "train_release/2/7": "-2", "train_release/3/5": "-1"}  # subject 3 has no live video
    for video in videos:
        fileio.write_image(fileio.frame_path(crops, video, 1), np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "Train.txt").write_text("".join(f"{label},{video}\n" for video, label in videos.items()))
    ds = PairDataset(tmp_path / "Train.txt", crops, dataset="casia_fasd", frames_per_video=1)
    assert ds.type_names == ("cut_photo", "video", "warped_photo") and ds.subjects() == ["1", "2"]
    assert [(r.video, t) for r, t in zip(ds.spoofs, ds.types, strict=True)] == [
        ("train_release/1/3", 2), ("train_release/2/7", 1)]
    assert ds.dropped == ["train_release/3/5"] and ds.partner(1, 0).video == "train_release/2/HR_1"


NAMES = {"replay_attack": rt.replay_attack_names, "casia_fasd": rt.casia_names, "msu_mfsd": rt.msu_names,
         "siw": rt.siw_names, "replay_mobile": rt.replay_mobile_names, "oulu": rt.oulu_names}
METHOD_DEFAULTS = {"dum": DUM_DEFAULTS, "fas_sgtd_single_frame": SINGLE_DEFAULTS,
                   "fas_sgtd_multi_frame": MULTI_DEFAULTS, "dsdg": DSDG_DEFAULTS}


def training_attacks(dataset: str, protocol: str) -> list[str]:
    """Attack videos of a protocol's Train list over the full release's names (mcio: the task's sources)."""
    if dataset == "mcio":
        target = protocol[-1]
        return [mcio.task_video_id(d, v) for d in mcio.SOURCES[target] for v in training_attacks(mcio.DOMAINS[d], "")]
    reader = get_dataset(dataset)
    infos = [reader.parse(strip_video_extension(n.split("/", 1)[1] if dataset == "oulu" else n))
             for n in NAMES[dataset]()]
    if protocol == "":  # what a cross-domain task takes of the dataset: the literature's videos
        domain = next(d for d, name in mcio.DOMAINS.items() if name == dataset)
        return [i.video_id for i in infos if i.species != "live" and mcio.literature_video(domain, i)]
    return [i.video_id for i in infos if i.species != "live" and reader.in_protocol(i, protocol, "train")]


@pytest.mark.parametrize("method", list(METHOD_DEFAULTS))
def test_dataset_and_task_configs_load_and_name_their_lists(method, tmp_path):
    configs = [p for p in sorted((ROOT / method / "configs").glob("*.yaml"))
               if p.stem in NAMES or (p.stem.startswith("mcio_") and p.stem != "mcio_demo")]
    assert len(configs) == 9, configs  # five datasets, four cross-domain tasks
    for path in configs:
        cfg = load_config(METHOD_DEFAULTS[method], path)
        d = cfg.data
        assert d.dataset == ("mcio" if path.stem.startswith("mcio") else path.stem), path
        lists = WorkPaths.from_config({**d, "work": str(tmp_path)}).list_file(d.protocol, "train")
        assert lists.parent.parent == tmp_path / "lists", path  # a protocol of its dataset
        if method == "dsdg":  # the type classifier has a class for every attack type of the training list
            assert cfg.model.num_types == len(spoof_types(d.dataset, training_attacks(d.dataset, d.protocol))), path


def test_dum_schedules_are_the_papers_epochs_on_each_training_set():
    casia = load_config(DUM_DEFAULTS, ROOT / "dum/configs/casia_fasd.yaml")
    # CASIA-FASD train: subjects 1-16 x 12 videos = 192; 48 per batch: 4 steps per epoch; 1600 epochs
    assert (casia.train.max_iters, casia.optim.step_iters, casia.train.batch_size) == (6400, 2000, 48)
    oci = load_config(DUM_DEFAULTS, ROOT / "dum/configs/mcio_OCI_to_M.yaml")
    # O 3600 + C 600 + I 840 source videos / 48 = 105 steps per epoch
    assert (oci.train.max_iters, oci.data.protocol, oci.eval.selection) == (168000, "OCI_to_M", "target_oracle")
