"""The cross-domain chain O&C&I->M end to end on the smallest twins: one frame per video preprocessed with each
dataset's scanner, the task's lists and linked work tree, CDCN_u trained two steps on the sources and tested on
the target under both selection rules; the other loaders read the same tree (docs/datasets.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from data import synth, synth_twins
from data.crop import crop_all
from data.detect_faces import detect_faces
from data.extract_frames import FrameRule, extract_frames
from data.make_depth import make_depth
from data.make_lists import link_domain_work, make_mcio_lists
from data.shipped_boxes import ShippedBoxes
from data.synth_video import Style
from dsdg.dataset import PairDataset
from dum.train import main as dum_train
from fas_core.datasets import mcio
from fas_core.metrics import eer_point
from fas_core.scores import read_scores
from fas_core.video_data import WorkPaths
from fas_sgtd_single_frame import dataset as sgtd_data

ROOT = Path(__file__).resolve().parents[1]
TWINS = {"C": "casia_fasd", "I": "replay_attack", "M": "msu_mfsd"}


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT) + os.pathsep + e.get("PYTHONPATH", "")
    e["OMP_NUM_THREADS"] = "1"
    return e


def preprocess(root: Path, work: Path, dataset: str, shipped: bool = False) -> None:
    """One frame per video (the first), boxes (the dataset's own, or MTCNN's), depth, crops."""
    frames = work / "frames"
    extract_frames(root, frames, dataset=dataset, rule=FrameRule(spread=1, spread_offset=0))
    detect_faces(frames, shipped=ShippedBoxes(dataset, str(root), "count") if shipped else None)
    make_depth(frames, work / "depth")
    crop_all(frames, work / "depth", work / "crops")


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """Twins of O (3 users, 1 session, files 1, 2, 4), C, I, M; their work trees; the O&C&I->M task."""
    base = tmp_path_factory.mktemp("mcio_chain")
    roots = {"O": base / "O"}
    synth.generate(synth.SynthConfig(preset="tiny", seed=0, overrides={
        "users": (1, 21, 36), "sessions": (1,), "frames": 2, "files": (1, 2, 4)}), roots["O"])
    for domain, layout in TWINS.items():
        roots[domain] = base / domain
        synth_twins.generate_twin(layout, roots[domain], Style(seed=0))
    for domain, root in roots.items():
        preprocess(root, base / f"work_{domain}", mcio.DOMAINS[domain], shipped=domain == "I")
    make_mcio_lists("M", {d: str(r) for d, r in roots.items()}, base / "mcio" / "lists")
    link_domain_work({d: str(base / f"work_{d}") for d in roots}, base / "mcio")
    return base / "mcio"


def run(module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env(), capture_output=True,
                          text=True, timeout=300)


def test_the_task_tree_links_every_domain(tree):
    assert sorted(p.name for p in (tree / "crops").iterdir()) == ["C", "I", "M", "O"]
    assert (tree / "crops" / "C" / "train_release" / "1" / "HR_1" / "HR_1_001_scene.jpg").is_file()
    train = (tree / "lists" / "OCI_to_M" / "Train.txt").read_text().split()
    assert {line.split(",")[1].split("/")[0] for line in train} == {"O", "C", "I"} and len(train) == 6 + 36 + 28


def test_cdcn_u_on_the_sources_is_tested_on_the_target_under_both_rules(tree, tmp_path):
    args = ["--config", "dum/configs/mcio_demo.yaml", f"data.work={tree}", f"train.run_dir={tmp_path}",
            "data.input_size=24", "train.batch_size=6", "train.max_iters=2", "train.eval_every=2",
            "train.eval_after=2", "train.threads=1", "train.log_every=1", "train.image_every=0",
            "eval.frames_per_video=1", "test.frames_per_video=1", "test.depth_samples=2"]
    trained = run("dum.train", *args)
    assert trained.returncode == 0, trained.stdout[-2000:] + trained.stderr[-2000:]
    assert "step 2 target_oracle: target_HTER_at_own_EER" in trained.stdout
    assert (tmp_path / "best.pt").is_file() and (tmp_path / "best_target_oracle.pt").is_file()
    tested = run("dum.test", *args)
    assert tested.returncode == 0, tested.stdout[-2000:] + tested.stderr[-2000:]
    m = json.loads((tmp_path / "test" / "metrics.json").read_text())
    assert m["counts"]["test"] == {"live": 6, "attack": 18, "attack_per_species": {"print": 6, "replay": 12}}
    test = read_scores(tmp_path / "test" / "test_scores.txt")
    assert all(name.startswith("M/") for name in test.names)  # the target alone
    rules = m["selection_rules"]
    assert set(rules) == {"source_dev", "test_eer_threshold", "target_oracle"}
    assert rules["source_dev"]["threshold"] == m["threshold"] and rules["source_dev"]["HTER"] == m["HTER"]
    point = eer_point(test.scores, test.labels)  # the literature's threshold, from the score file
    assert rules["test_eer_threshold"]["threshold"] == point["threshold"]
    assert rules["test_eer_threshold"]["HTER"] == pytest.approx((point["far"] + point["frr"]) / 2)
    # one evaluation (step 2): the oracle's checkpoint is best.pt's step, and scores the same
    assert rules["target_oracle"]["model"] == "best_target_oracle.pt (step 2)"
    assert rules["target_oracle"]["HTER"] == pytest.approx(rules["test_eer_threshold"]["HTER"], abs=1e-6)
    assert "uses test labels" in rules["target_oracle"]["threshold_from"]
    card = (tmp_path / "test" / "model_card.md").read_text()
    assert "## Selection rules" in card and "best_target_oracle.pt (step 2)" in card
    assert "TPR@FPR=0.005" in m and m["TPR@FPR=1e-2"] is None  # 18 attacks cannot resolve an FPR of 1 %


def test_the_other_loaders_read_the_mixed_tree(tree):
    data = {"work": str(tree), "dataset": "mcio", "protocol": "OCI_to_M", "allow_missing": False, "frames": "",
            "depth": "", "lists": ""}
    entries = sgtd_data.load_entries(data, "train")
    assert len(entries) == 70 and {e.species for e in entries} == {"live", "print", "replay"}
    clips = sgtd_data.ClipDataset(entries, sgtd_data.test_items(entries, 1), WorkPaths.from_config(data), 24,
                                  train=False)
    assert clips[0]["image"].shape == (1, 3, 24, 24)
    pairs = PairDataset(tree / "lists" / "OCI_to_M" / "Train.txt", tree / "frames", source="frames", size=32,
                        frames_per_video=1, dataset="mcio")
    assert len(pairs.type_names) == 2 + 3 + 5  # O: printer1, display1; C: 3 kinds; I: 5 kinds
    assert {s.split("/")[0] for s in pairs.subjects()} == {"O", "C", "I"}
    sample = pairs[(0, 1)]
    assert sample["spoof"].shape == (3, 32, 32) and sample["type"].dtype == torch.long


def test_a_config_whose_dataset_and_lists_disagree_stops_in_one_line(tree, tmp_path, capsys):
    lists = tmp_path / "lists" / "default"
    lists.mkdir(parents=True)
    for split in ("Train", "Dev", "Test"):
        (lists / f"{split}.txt").write_text((tree / "lists" / "OCI_to_M" / f"{split}.txt").read_text())
    with pytest.raises(SystemExit) as stopped:
        dum_train(["--config", "dum/configs/mcio_demo.yaml", f"data.work={tree}", "data.dataset=casia_fasd",
                   "data.protocol=default", f"data.lists={tmp_path / 'lists'}", f"train.run_dir={tmp_path / 'run'}"])
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and err.count("\n") == 1, err
    assert "data.dataset is 'casia_fasd' but" in err and "names 'O/1_1_01_1'" in err
