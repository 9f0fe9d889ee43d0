"""FAS-SGTD training as the original does it: the fixed window list, augmentation on the full-resolution crop,
Pillow's resize filters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fas_core import fileio
from fas_core.config import load_config, materialise
from fas_core.crop import resize_image
from fas_core.video_data import VideoEntry, WorkPaths
from fas_sgtd_multi_frame.train import DEFAULTS as MULTI_DEFAULTS
from fas_sgtd_single_frame import dataset as sd
from fas_sgtd_single_frame.train import AUGMENT_DEFAULTS
from fas_sgtd_single_frame.train import DEFAULTS as SINGLE_DEFAULTS

ROOT = Path(__file__).resolve().parents[1]
VIDEO_150 = list(range(1, 151))


def test_multi_frame_windows_of_a_150_frame_video_are_14_live_and_2_attack():
    live = sd.original_windows(VIDEO_150, length=5, interval=3, stride=10, cap=16)
    attack = sd.original_windows(VIDEO_150, length=5, interval=3, stride=80, cap=4)
    assert len(live) == 14 and len(attack) == 2
    assert live[0] == [1, 4, 7, 10, 13] and live[-1] == [131, 134, 137, 140, 143]  # 141 + 12 > 150
    assert attack == [[1, 4, 7, 10, 13], [81, 84, 87, 90, 93]]
    # OULU protocol 1 trains on 240 live and 960 attack videos: 14 * 240 / (14 * 240 + 2 * 960) = 63.6 % live.
    assert 14 * 240 / (14 * 240 + 2 * 960) == pytest.approx(0.636, abs=1e-3)


def test_single_frame_windows_of_a_150_frame_video_are_17_live_and_5_attack():
    live = sd.original_windows(VIDEO_150, length=1, interval=3, stride=1, cap=16)
    attack = sd.original_windows(VIDEO_150, length=1, interval=3, stride=1, cap=4)
    assert [w[0] for w in live] == list(range(1, 151, 9))  # 150 // 16 = 9: 17 frames
    assert [w[0] for w in attack] == [1, 38, 75, 112, 149]  # 150 // 4 = 37: 5 frames


def test_windows_need_every_frame_and_thin_long_videos():
    frames = [f for f in range(1, 401) if f != 7]  # frame 7 missing: the window starting at 1 is dropped
    windows = sd.original_windows(frames, length=5, interval=3, stride=10, cap=16)
    # starts 11, 21, ..., 381 are complete (38 windows); 38 // 16 = 2: every second one is kept
    assert [w[0] for w in windows] == list(range(11, 382, 20)) and len(windows) == 19


def test_windows_mode_takes_every_item_once_per_epoch():
    entries = [VideoEntry("1_1_01_1", 1, "live", VIDEO_150), VideoEntry("1_1_01_2", 0, "print", VIDEO_150)]
    items = sd.window_items(entries, 5, 3, strides=(10, 80), caps=(16, 4))
    assert [vi for vi, _ in items].count(0) == 14 and [vi for vi, _ in items].count(1) == 2
    batches = sd.balanced_batches(items, entries, 16, 4, batch_size=4, mode="windows")(np.random.default_rng(0))
    assert len(batches) == 4 and sorted(i for b in batches for i in b) == list(range(16))


def test_test_lists_take_every_nth_from_the_first_as_the_original():
    """150 frames: the single-frame test list takes every 150 // 6 = 25th frame; the 138 clips (5 frames 3
    apart) every 138 // 6 = 23rd; a 160-frame video gives 160 // 6 = 26 and 7 frames."""
    from fas_sgtd_multi_frame.dataset import test_clips

    live = [VideoEntry("1_1_01_1", 1, "live", VIDEO_150)]
    assert [f for _, (f,) in sd.test_items(live, 6, "windows")] == [1, 26, 51, 76, 101, 126]
    assert [f for _, (f,) in sd.test_items(live, 6, "even")] == [1, 31, 61, 90, 120, 150]
    clips, short = test_clips(live, 6, 5, 3, "windows")
    assert [c[0] for _, c in clips] == [1, 24, 47, 70, 93, 116] and short == []
    longer = [VideoEntry("1_1_01_1", 1, "live", list(range(1, 161)))]
    assert [f for _, (f,) in sd.test_items(longer, 6, "windows")] == list(range(1, 161, 26))


def test_paper_configs_sample_windows_and_augment_the_crop():
    multi = load_config(MULTI_DEFAULTS, str(ROOT / "fas_sgtd_multi_frame/configs/oulu_p1.yaml"))
    d = multi.data
    assert (d.train_sampling, d.window_stride_live, d.window_stride_attack, d.window_cap_live,
            d.window_cap_attack) == ("windows", 10, 80, 16, 4)
    single = load_config(SINGLE_DEFAULTS, str(ROOT / "fas_sgtd_single_frame/configs/oulu_p1.yaml"))
    assert (single.data.train_sampling, single.data.window_stride_live, single.data.window_stride_attack) == \
        ("windows", 1, 1)
    for cfg in (multi, single):
        assert cfg.augment.on_crop is True and cfg.data.test_sampling == "windows"
        assert (cfg.data.resize_image, cfg.data.resize_depth) == ("pil_nearest", "pil_nearest")
    for defaults, folder in ((SINGLE_DEFAULTS, "fas_sgtd_single_frame"), (MULTI_DEFAULTS, "fas_sgtd_multi_frame")):
        demo = load_config(defaults, str(ROOT / folder / "configs/demo.yaml"))
        assert demo.data.train_sampling == "random" and demo.augment.on_crop is False
        assert demo.data.test_sampling == "even"
        assert (demo.data.resize_image, demo.data.resize_depth) == ("linear", "area")


# ------------------------------------------------------------------ augmentation on the full-resolution crop
def one_video_work(root: Path, side: int, box: tuple[float, float, float, float], depth: np.ndarray | None = None
                   ) -> tuple[list[VideoEntry], WorkPaths]:
    """One live video of one frame: a uniform grey frame of ``side`` pixels with the face box ``box``."""
    video = "1_1_01_1"
    fileio.write_image(fileio.frame_path(root / "frames", video, 1), np.full((side, side, 3), 200, np.uint8))
    fileio.write_bbox(fileio.bbox_path(root / "frames", video, 1), box)
    dmap = np.full((side, side), 100, np.uint8) if depth is None else depth
    fileio.write_image(fileio.depth_path(root / "depth", video, 1, "png"), dmap)
    return [VideoEntry(video, 1, "live", [1])], WorkPaths.from_config({"work": str(root)})


def largest_zero_run(image: np.ndarray) -> int:
    """The side of the zeroed (cutout) square: the longest run of zero pixels in a row."""
    zero = (image == 0).all(axis=-1)
    best = 0
    for row in zero:
        run = 0
        for z in row:
            run = run + 1 if z else 0
            best = max(best, run)
    return best


@pytest.mark.parametrize("on_crop", [True, False])
def test_cutout_square_on_a_512_pixel_crop(tmp_path, on_crop):
    """A 512-pixel crop resized to 256: cut before the resize the square (1-49 crop pixels) is at most 25
    input pixels wide (Pillow's nearest takes every second pixel); cut after, up to 49."""
    entries, paths = one_video_work(tmp_path, 600, (44.0, 44.0, 512.0, 512.0))
    aug = dict(materialise(AUGMENT_DEFAULTS), flip=0.0, colour=0.0, cutout=1.0, on_crop=on_crop)
    ds = sd.ClipDataset(entries, [(0, [1])], paths, 256, train=True, aug_cfg=aug, widen=(0.0, 0.0),
                        resize=("pil_nearest", "pil_nearest"))
    sides = []
    for seed in range(60):
        image = ds[(0, seed)]["image"][0].numpy().transpose(1, 2, 0) * sd.STD + sd.MEAN
        sides.append(largest_zero_run(np.rint(image)))
    if on_crop:
        assert max(sides) <= 25 and min(sides) >= 0
    else:
        assert max(sides) > 25 and max(sides) <= 49


# ------------------------------------------------------------------ interpolation
def test_pil_modes_are_pillows_filters():
    rng = np.random.default_rng(0)
    for h, w, oh, ow in ((437, 380, 256, 256), (97, 131, 32, 32), (40, 40, 96, 64)):
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        for mode, pil in (("pil_nearest", Image.Resampling.NEAREST), ("pil_bicubic", Image.Resampling.BICUBIC)):
            expected = np.asarray(Image.fromarray(img).resize((ow, oh), pil))
            assert np.array_equal(resize_image(img, (ow, oh), mode), expected), (mode, h, w)


def test_area_widens_the_face_mask_that_nearest_keeps(tmp_path):
    """Face depth on rows and columns 0..99 of a 256-pixel crop, label 32x32 (cells of 8 pixels):
    area marks every cell touching the face (8k < 100: 13 x 13 = 169), Pillow's nearest the cells
    whose sampled pixel 8k + 4 is on the face (12 x 12 = 144)."""
    depth = np.zeros((256, 256), np.uint8)
    depth[:100, :100] = 120
    entries, paths = one_video_work(tmp_path, 256, (0.0, 0.0, 256.0, 256.0), depth)
    counts = {}
    for mode in ("area", "pil_nearest"):
        ds = sd.ClipDataset(entries, [(0, [1])], paths, 256, train=False, test_scale=1.0, resize=("linear", mode))
        counts[mode] = int(ds[0]["mask"].sum())
    assert counts == {"area": 169, "pil_nearest": 144}
