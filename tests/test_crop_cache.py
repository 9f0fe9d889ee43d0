"""The crop cache's contract: an entry written and read back at another size, predict's imitation of
an entry against the crop stage's file, the checkpoint metadata, and the depth resize rule."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from data.crop import crop_all
from fas_core import checkpoint as ckpt
from fas_core import fileio
from fas_core.crop_cache import (
    CROP_CACHE,
    CropCacheSpec,
    entry_paths,
    imitate_entry,
    read_entry,
    resize_depth,
    write_entry,
)
from fas_core.inference.loading import UsageError, load_model
from fas_core.inference.preprocess import crop_faces

W, H = 160, 120
BOX = (40, 30, 50, 60)  # scaled 1.3 around (65, 60): x 32.5..97.5, y 21..99 -> whole pixels x 32..98, y 21..99
X0, X1, Y0, Y1 = 32, 98, 21, 99


def smooth_frame(seed: int = 0) -> np.ndarray:
    """A BGR frame with texture at several scales (JPEG and resizing both change it)."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    frame = cv2.resize(coarse, (W, H), interpolation=cv2.INTER_CUBIC)
    return np.clip(frame.astype(int) + rng.integers(-20, 21, frame.shape), 0, 255).astype(np.uint8)


def depth_map() -> np.ndarray:
    d = np.zeros((H, W), np.uint8)
    cv2.ellipse(d, (65, 60), (25, 30), 0, 0, 360, 200, -1)
    return cv2.GaussianBlur(d, (15, 15), 4)


def expected_stored(frame_bgr: np.ndarray, depth: np.ndarray, quality: int = 95) -> tuple[bytes, np.ndarray]:
    """What data.crop stored before the contract module: the 1.3x region resized bilinearly to 256 (JPEG
    of ``quality``) and to 32 (PNG)."""
    face = cv2.resize(frame_bgr[Y0:Y1, X0:X1], (256, 256), interpolation=cv2.INTER_LINEAR)
    ok, jpeg = cv2.imencode(".jpg", face, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return jpeg.tobytes(), cv2.resize(depth[Y0:Y1, X0:X1], (32, 32), interpolation=cv2.INTER_LINEAR)


@pytest.mark.parametrize("resize, interpolation", [("linear", cv2.INTER_LINEAR), ("area", cv2.INTER_AREA)])
def test_entry_written_and_read_at_another_input_size(tmp_path, resize, interpolation):
    frame, depth = smooth_frame(), depth_map()
    face_path, depth_path = entry_paths(tmp_path, "1_1_01_1", 7)
    assert (face_path.name, depth_path.name) == ("1_1_01_1_007_scene.jpg", "1_1_01_1_007_depth1D.png")
    assert write_entry(face_path, depth_path, frame, depth, BOX, CROP_CACHE) is True
    want_jpeg, want_depth = expected_stored(frame, depth)
    assert face_path.read_bytes() == want_jpeg
    assert np.array_equal(cv2.imread(str(depth_path), cv2.IMREAD_UNCHANGED), want_depth)
    stored = cv2.imdecode(np.frombuffer(want_jpeg, np.uint8), cv2.IMREAD_COLOR)
    spec = CropCacheSpec(resize=resize)
    # shrunk: the face with the spec's mode, the depth averaged (a smaller map of the same face)
    face, d = read_entry(face_path, depth_path, 64, 8, spec)
    assert np.array_equal(face, cv2.resize(stored, (64, 64), interpolation=interpolation))
    assert np.array_equal(d, cv2.resize(want_depth, (8, 8), interpolation=cv2.INTER_AREA))
    # enlarged: the depth bilinear; the stored size itself: untouched
    face, d = read_entry(face_path, depth_path, 320, 40, spec)
    assert np.array_equal(face, cv2.resize(stored, (320, 320), interpolation=interpolation))
    assert np.array_equal(d, cv2.resize(want_depth, (40, 40), interpolation=cv2.INTER_LINEAR))
    face, d = read_entry(face_path, None, 256, 32, spec)
    assert np.array_equal(face, stored) and d is None


def test_entry_without_depth_map_writes_the_face_only(tmp_path):
    face_path, depth_path = entry_paths(tmp_path, "v", 1)
    spec = CropCacheSpec(face_size=100, depth_size=20, jpeg_quality=80, scale=1.0)
    assert write_entry(face_path, depth_path, smooth_frame(), None, BOX, spec) is False
    assert face_path.is_file() and not depth_path.exists()
    assert cv2.imread(str(face_path)).shape == (100, 100, 3)


@pytest.mark.parametrize("resize", ["linear", "area"])
def test_predict_imitation_equals_the_crop_stage_entry(tmp_path, resize):
    """predict's input for a live frame is exactly the crop stage's entry of that frame, read by a loader."""
    frames, depth_root = tmp_path / "frames", tmp_path / "depth"
    fileio.write_image(fileio.frame_path(frames, "1_1_01_1", 1), smooth_frame(3))
    frame = fileio.read_image(fileio.frame_path(frames, "1_1_01_1", 1))  # the frame both see, decoded
    fileio.write_bbox(fileio.bbox_path(frames, "1_1_01_1", 1), BOX)
    fileio.write_image(fileio.depth_path(depth_root, "1_1_01_1", 1, "png"), depth_map())
    assert crop_all(frames, depth_root, tmp_path / "crops")["faces"] == 1
    spec = CropCacheSpec.from_meta({"size": 256, "depth_size": 32, "jpeg_quality": 95, "resize": resize}, 1.3)
    face_path, depth_path = entry_paths(tmp_path / "crops", "1_1_01_1", 1)
    loaded_bgr, _ = read_entry(face_path, depth_path, 64, 8, spec)
    frame_rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    imitated = imitate_entry(frame_rgb, BOX, (64, 64), spec)
    assert np.array_equal(imitated, cv2.cvtColor(loaded_bgr, cv2.COLOR_BGR2RGB))
    assert np.array_equal(crop_faces(frame_rgb, [BOX], 1.3, (64, 64), spec)[0], imitated)
    # a crop straight to the input size is another image (no JPEG step, other aliasing)
    assert not np.array_equal(crop_faces(frame_rgb, [BOX], 1.3, (64, 64))[0], imitated)


def test_checkpoint_meta_round_trip_and_errors():
    assert CROP_CACHE.to_meta() == {"size": 256, "depth_size": 32, "jpeg_quality": 95, "resize": "linear"}
    assert CROP_CACHE == CropCacheSpec(face_size=256, depth_size=32, jpeg_quality=95, resize="linear", scale=1.3)
    spec = CropCacheSpec.from_meta({"size": 128, "depth_size": 16, "jpeg_quality": 90, "resize": "area"}, 1.4)
    assert spec == CropCacheSpec(face_size=128, depth_size=16, jpeg_quality=90, resize="area", scale=1.4)
    assert CropCacheSpec.from_meta(None) is None and CropCacheSpec.from_meta({}) is None
    with pytest.raises(ValueError, match=r"^ck\.pt: meta 'crop_cache' lacks jpeg_quality \(has: depth_size, resize"):
        CropCacheSpec.from_meta({"size": 256, "depth_size": 32, "resize": "linear"}, source="ck.pt")
    with pytest.raises(ValueError, match="ck.pt: meta 'crop_cache': resize must be one of linear, area, got 'cubic'"):
        CropCacheSpec.from_meta({**CROP_CACHE.to_meta(), "resize": "cubic"}, source="ck.pt")
    with pytest.raises(ValueError, match="jpeg_quality must be an integer in 1..100, got 0"):
        CropCacheSpec(jpeg_quality=0)
    with pytest.raises(ValueError, match="face_size must be a positive integer, got 25.5"):
        CropCacheSpec(face_size=25.5)


def test_load_model_refuses_a_bad_crop_cache_entry(tmp_path):
    path = tmp_path / "bad.pt"
    meta = {"method": "cdcn", "config": {}, "input_size": 32, "normalisation": {}, "crop_cache": {"size": 256}}
    ckpt.save_checkpoint({"model": {}, "meta": meta}, path)
    with pytest.raises(UsageError, match=f"checkpoint {path}: meta 'crop_cache' lacks depth_size, jpeg_quality"):
        load_model(path)


def test_depth_resize_averages_when_shrinking_and_interpolates_when_enlarging():
    blocks = np.kron(np.array([[0, 40], [80, 120]], np.uint8), np.ones((2, 2), np.uint8))  # 4x4, 2x2 blocks
    assert np.array_equal(resize_depth(blocks, 2), [[0, 40], [80, 120]])
    ramp = np.array([[0, 100], [0, 100]], np.uint8)
    # bilinear with pixel centres at half-pixels: samples at 0.25 / 0.75 of the step between the two columns
    assert np.array_equal(resize_depth(ramp, 4), np.tile(np.array([0, 25, 75, 100], np.uint8), (4, 1)))
    assert resize_depth(blocks, 4) is blocks  # already the map size: untouched
