"""DUM / CDCN training as the originals do it: per-frame crop scales of the training cache, one gamma per image."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from data.crop import crop_all
from dum import dataset as dd
from dum.train import DEFAULTS, DumTask
from fas_core import fileio
from fas_core.augment import brightness_contrast, random_erasing
from fas_core.config import load_config
from fas_core.prepare import ensure

ROOT = Path(__file__).resolve().parents[1]
SIDE = 400
BOX = (150.0, 150.0, 100.0, 100.0)  # centred at x = 200


def ramp_work(root: Path, videos: list[str], n_frames: int) -> tuple[Path, Path]:
    """Frames with a centred 100 px box and a depth map whose value is ``x - 100`` (a ramp of slope 1 per pixel)."""
    frames, depth = root / "frames", root / "depth"
    ramp = np.clip(np.arange(SIDE) - 100, 0, 255).astype(np.uint8)
    dmap = np.tile(ramp, (SIDE, 1))
    for video in videos:
        for i in range(1, n_frames + 1):
            fileio.write_image(fileio.frame_path(frames, video, i), np.full((SIDE, SIDE, 3), 128, np.uint8))
            fileio.write_bbox(fileio.bbox_path(frames, video, i), BOX)
            fileio.write_image(fileio.depth_path(depth, video, i, "png"), dmap)
    return frames, depth


def scale_of_depth_crop(dcrop: np.ndarray) -> float:
    """The box scale a 32-wide depth crop of the ramp was cut at: its slope x 32 is the crop's width in pixels.

    The box is 100 px wide, so a crop at scale s spans 100 s pixels (120, 130 or 140 for 1.2, 1.3, 1.4).
    """
    row = dcrop.astype(np.float64).mean(axis=0)
    slope = np.polyfit(np.arange(row.size), row, 1)[0]
    return round(slope * row.size) / 100.0


def test_crop_scales_seen_are_exactly_the_three_of_the_original(tmp_path):
    videos = [f"1_1_{u:02d}_1" for u in range(1, 4)]
    frames, depth = ramp_work(tmp_path, videos, n_frames=20)
    out = tmp_path / "crops_s1.2-1.3-1.4"
    summary = crop_all(frames, depth, out, scales=(1.2, 1.3, 1.4), seed=0)
    assert summary["scales"] == [1.2, 1.3, 1.4] and summary["faces"] == 60
    seen = [scale_of_depth_crop(fileio.read_image(fileio.depth_path(out, v, i, "png"), grey=True))
            for v in videos for i in range(1, 21)]
    assert set(seen) == {1.2, 1.3, 1.4}
    # One draw per frame, made when cutting: a second cache with the same seed holds the same crops.
    again = crop_all(frames, depth, tmp_path / "again", scales=(1.2, 1.3, 1.4), seed=0)
    assert again["faces"] == 60
    for v in videos:
        for i in (1, 7, 20):
            a, b = (fileio.depth_path(root, v, i, "png").read_bytes() for root in (out, tmp_path / "again"))
            assert a == b
    # The fixed-scale cache: every crop at 1.3.
    fixed = tmp_path / "crops"
    crop_all(frames, depth, fixed)
    assert {scale_of_depth_crop(fileio.read_image(fileio.depth_path(fixed, v, 5, "png"), grey=True))
            for v in videos} == {1.3}


def test_videos_from_crops_only_the_listed_videos(tmp_path):
    frames, depth = ramp_work(tmp_path, ["1_1_01_1", "1_1_01_2", "1_1_02_1"], n_frames=2)
    listing = tmp_path / "Train.txt"
    listing.write_text("+1,1_1_01_1\n-1,1_1_01_2\n")
    summary = crop_all(frames, depth, tmp_path / "c", scales=(1.2, 1.4), videos_from=[listing])
    assert summary["videos"] == 2
    assert sorted(p.name for p in (tmp_path / "c").iterdir() if p.is_dir()) == ["1_1_01_1", "1_1_01_2"]


@pytest.fixture
def own_work(fake_work, tmp_path) -> Path:
    """A copy of the fake work tree; its frame folders pass for folders prepared by other tools (no ``.done``)."""
    root = tmp_path / "work"
    for name in ("frames", "depth", "crops", "lists"):
        shutil.copytree(fake_work[name] if name != "lists" else fake_work["root"] / "lists", root / name,
                        ignore=shutil.ignore_patterns(".done") if name == "frames" else None)
    return root


def test_train_split_reads_the_per_frame_scale_cache_made_when_missing(own_work):
    cfg = load_config(DEFAULTS, str(ROOT / "dum/configs/demo.yaml"),
                      [f"data.work={own_work}", "data.preprocess_config=", "data.cache_train_scales=[1.2, 1.3, 1.4]",
                       "train.num_workers=1"])
    task = DumTask(cfg)
    need = task.prerequisites()
    assert "--scales 1.2 1.3 1.4" in " ".join(need[-1].command) and not need[-1].met()
    ensure(need, "test")
    train_cache = own_work / "crops_s1.2-1.3-1.4"
    assert task.prerequisites()[-1].met()
    # Only the 20 videos of the Train list are cut at random scales.
    assert len([p for p in train_cache.iterdir() if p.is_dir()]) == 20
    train = dd.build_train_set(cfg)
    assert {it.source.root for it in train.items} == {train_cache}
    dev, _ = dd.split_items(task.paths, "dev", False, False, "skip")
    assert {it.source.root for it in dev} == {own_work / "crops"}
    sample = train[(0, 3)]
    assert sample["image"].shape == (3, 64, 64)
    # predict imitates the entries the model is scored on: the 1.3 cache.
    spec = task.input_spec()
    assert spec.crop_scale == 1.3 and spec.crop_cache.scale == 1.3


def test_a_cache_entry_is_not_asked_for_a_scale(fake_work):
    cache = dd.CropCache(fake_work["crops"])
    with pytest.raises(ValueError, match="read at the scale it was cut at"):
        cache.load("1_1_01_1", 1, 1.4, 32, 4, with_depth=False)


def test_gamma_contrast_draws_one_gamma_per_image():
    # Brightness off: each channel c becomes 255 * (v_c / 255) ** gamma_c, so log(out / 255) / log(v / 255)
    # gives back the gamma of every channel.
    values = np.array([64.0, 128.0, 192.0], np.float32)
    image = np.tile(values, (4, 4, 1))
    gammas = []
    for seed in range(50):
        out = brightness_contrast(image, np.random.default_rng(seed), brightness=0.0, gamma_per_channel=False)
        g = np.log(out[0, 0] / 255.0) / np.log(values / 255.0)
        assert np.ptp(g) < 1e-4  # one gamma for the three channels
        gammas.append(g[0])
        per_channel = brightness_contrast(image, np.random.default_rng(seed), brightness=0.0)
        assert np.ptp(np.log(per_channel[0, 0] / 255.0) / np.log(values / 255.0)) > 1e-3
    assert 0.5 <= min(gammas) and max(gammas) <= 1.5 and np.ptp(gammas) > 0.5


def test_paper_configs_train_as_the_original_and_the_demo_as_before():
    for name in ("oulu_p1", "oulu_p2", "oulu_p3_k", "oulu_p4_k"):
        cfg = load_config(DEFAULTS, str(ROOT / f"dum/configs/{name}.yaml"))
        assert cfg.data.cache_train_scales == [1.2, 1.3, 1.4] and cfg.augment.gamma_per_channel is False
        assert dd.AugmentConfig.from_cfg(cfg.augment).gamma_per_channel is False
    baseline = load_config(DEFAULTS, str(ROOT / "dum/configs/cdcnpp_baseline.yaml"))
    assert baseline.data.train_scales == [1.2, 1.3, 1.4] and baseline.augment.gamma_per_channel is False
    demo = load_config(DEFAULTS, str(ROOT / "dum/configs/demo.yaml"))
    assert demo.data.cache_train_scales == [] and demo.augment.gamma_per_channel is True


def test_random_erasing_fills_with_the_mean_or_with_the_originals_zeros():
    yy, xx = np.mgrid[0:40, 0:40]
    image = np.repeat(np.where((yy + xx) % 2 == 0, 100.0, 200.0)[..., None], 3, axis=2).astype(np.float32)
    for fill, value in (("mean", 150.0), ("zero", 0.0)):  # a checkerboard of 100 and 200: its mean is 150
        out = random_erasing(image, np.random.default_rng(3), p=1.0, fill=fill)
        erased = np.all(out == value, axis=2)
        assert np.array_equal(out[~erased], image[~erased])  # everything else untouched
        assert 0.01 * 1600 <= erased.sum() <= 2 * 0.05 * 1600 + 80  # 1-2 patches of 1-5 % (sides rounded)
