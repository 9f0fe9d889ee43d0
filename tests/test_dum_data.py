"""DUM data: crop cache and online crops, augmentation, depth labels, mixed real/generated batches."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from easydict import EasyDict

from dum import dataset as dd
from dum.train import DEFAULTS
from fas_core.config import load_config
from fas_core.engine import SeededBatchSampler


def cfg_for(work, **overrides) -> EasyDict:
    items = [f"data.work={work}", "data.input_size=32", *[f"{k}={v}" for k, v in overrides.items()]]
    return load_config(DEFAULTS, None, items)


def test_crop_cache_samples(fake_work):
    ds = dd.build_train_set(cfg_for(fake_work["root"]))
    assert (len(ds), ds.n_real, ds.n_generated) == (20, 20, 0)
    labels = [it.entry.label for it in ds.items]
    live, attack = labels.index(1), labels.index(0)
    s = ds[(live, 123)]
    assert s["image"].shape == (3, 32, 32) and s["depth"].shape == (4, 4) and s["image"].dtype == torch.float32
    assert s["label"].item() == 1 and s["depth"].max() > 0.3 and s["depth"].max() <= 1.0
    assert float(s["image"].min()) >= -127.5 / 128 - 1e-6 and float(s["image"].max()) <= 127.5 / 128 + 1e-6
    a = ds[(attack, 7)]
    assert a["label"].item() == 0 and torch.count_nonzero(a["depth"]) == 0  # attack: all-zero label
    again = ds[(live, 123)]
    assert torch.equal(s["image"], again["image"]) and torch.equal(s["depth"], again["depth"])  # seeded
    assert not torch.equal(s["image"], ds[(live, 124)]["image"])


def test_flip_moves_image_and_depth_together():
    rng = np.random.default_rng(0)
    face = rng.integers(0, 256, (32, 32, 3)).astype(np.uint8)
    depth = np.zeros((4, 4), np.uint8)
    depth[:, 0] = 200  # a left-side ridge
    aug = dd.AugmentConfig(brightness=0.0, gamma=(1.0, 1.0), erasing=0.0, flip=1.0, cutout_max_side=1)
    img, dep = dd.augment_sample(face, depth, rng, aug)
    assert np.array_equal(dep, depth[:, ::-1]) and dep[:, 3].min() == 200
    differs = np.any(img != face[:, ::-1].astype(np.float32), axis=2)
    assert differs.sum() <= 1  # only the one cutout pixel (side 1) may differ


def test_live_frame_without_depth_is_skipped_or_an_error(fake_work, tmp_path):
    crops = tmp_path / "crops"
    shutil.copytree(fake_work["crops"], crops)
    live = "1_1_01_1"
    (crops / live / f"{live}_002_depth1D.png").unlink()
    ds = dd.build_train_set(cfg_for(fake_work["root"], **{"data.crops": crops}))
    item = next(it for it in ds.items if it.entry.video == live)
    assert item.entry.frames == [1, 3, 4]
    for seed in range(20):  # frame 2 is never drawn: no live sample has an all-zero label
        assert ds[(ds.items.index(item), seed)]["depth"].max() > 0
    with pytest.raises(FileNotFoundError, match=f"{live}_002_depth1D.png"):
        dd.build_train_set(cfg_for(fake_work["root"], **{"data.crops": crops, "data.missing_depth": "error"}))


def test_online_crops_from_frames_boxes_and_depth(fake_work):
    cfg = cfg_for(fake_work["root"], **{"data.source": "online"})
    ds = dd.build_train_set(cfg)
    assert len(ds) == 20 and isinstance(ds.items[0].source, dd.OnlineCrop)
    labels = [it.entry.label for it in ds.items]
    s = ds[(labels.index(1), 5)]
    assert s["image"].shape == (3, 32, 32) and s["depth"].shape == (4, 4) and s["depth"].max() > 0.3
    assert torch.count_nonzero(ds[(labels.index(0), 5)]["depth"]) == 0
    # Dev/test crops keep the depth map of attacks too: it is the face mask for scoring.
    items, _ = dd.split_items(dd.DataPaths.from_cfg(cfg.data), "dev", False, False, "skip")
    scoring = dd.FrameScoringSet(items, 32, frames_per_video=2)
    assert len(scoring) == 2 * len(items)
    attack = next(i for i, (v, _) in enumerate(scoring.refs) if items[v].entry.label == 0)
    assert scoring[attack]["has_map"].item() and scoring[attack]["map"].max() > 0


def test_mixed_batches_composition_and_ddp_split():
    make = dd.mixed_batches(n_real=20, n_generated=8, batch_size=8, ratio=0.75)
    batches = make(np.random.default_rng(0))
    assert len(batches) == 20 // 6
    for b in batches:
        assert len(b) == 8 and all(i < 20 for i in b[:6]) and all(20 <= i < 28 for i in b[6:])
        assert len(set(b[6:])) == 2
    real = [i for b in batches for i in b[:6]]
    assert len(set(real)) == len(real)  # no real video twice within an epoch (18 <= 20)
    # DDP: each process gets whole mixed batches of its own, disjoint from the other's.
    make = dd.mixed_batches(n_real=40, n_generated=10, batch_size=8, ratio=0.75)
    per_rank = []
    for rank in (0, 1):
        sampler = SeededBatchSampler(50, 8, seed=3, rank=rank, world=2, batches_fn=make)
        got = [[idx for idx, _ in b] for b in sampler]
        assert len(got) == 3 and all(sum(i >= 40 for i in b) == 2 for b in got)
        per_rank.append({i for b in got for i in b[:6]})
    assert not per_rank[0] & per_rank[1]
    only_real = dd.mixed_batches(n_real=10, n_generated=0, batch_size=4, ratio=0.75)(np.random.default_rng(1))
    assert len(only_real) == 2 and all(len(b) == 4 and max(b) < 10 for b in only_real)
    with pytest.raises(ValueError, match="both must be at least 1"):
        dd.mixed_batches(n_real=10, n_generated=5, batch_size=1, ratio=0.75)


def test_resize_mode_is_checked(fake_work):
    with pytest.raises(ValueError, match="data.resize must be one of linear, area"):
        dd.build_train_set(cfg_for(fake_work["root"], **{"data.resize": "cubic"}))
    # 64 -> 24 (at exactly half size cv2's bilinear equals area averaging)
    area = dd.build_train_set(cfg_for(fake_work["root"], **{"data.resize": "area", "augment.enabled": False,
                                                             "data.input_size": 24}))
    linear = dd.build_train_set(cfg_for(fake_work["root"], **{"augment.enabled": False, "data.input_size": 24}))
    a, b = area[(0, 1)], linear[(0, 1)]
    assert torch.equal(a["depth"], b["depth"])  # the label is always averaged when shrunk
    assert not torch.equal(a["image"], b["image"])
