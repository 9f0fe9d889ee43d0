"""Face crop geometry and the file layout helpers."""

from __future__ import annotations

import numpy as np
import pytest

from fas_core import fileio
from fas_core.crop import clamp_box, crop_face, crop_face_and_depth, scale_box, widen_box


def test_scale_box_keeps_centre():
    assert scale_box((10, 20, 100, 50), 1.3) == pytest.approx((-5.0, 12.5, 130.0, 65.0))
    assert scale_box((0, 0, 10, 10), 2.0, 1.0) == pytest.approx((-5.0, 0.0, 20.0, 10.0))


def test_widen_box_per_side():
    assert widen_box((10, 10, 100, 200), 0.1, 0.05, 0.2, 0.0) == pytest.approx((0.0, 0.0, 130.0, 210.0))


def test_clamp_to_image_and_never_empty():
    assert clamp_box((-5, -5, 30, 30), 20, 10) == (0, 0, 20, 10)
    assert clamp_box((50, 50, 10, 10), 20, 10) == (19, 9, 20, 10)  # outside: one pixel, not empty


def test_crop_face_values():
    img = np.arange(100 * 80 * 3, dtype=np.int64).reshape(100, 80, 3) % 251
    img = img.astype(np.uint8)
    crop = crop_face(img, (20, 30, 20, 20), scale=1.0)
    assert crop.shape == (20, 20, 3) and np.array_equal(crop, img[30:50, 20:40])
    crop = crop_face(img, (20, 30, 20, 20), scale=1.5)  # 30x30 around the same centre
    assert np.array_equal(crop, img[25:55, 15:45])
    assert crop_face(img, (20, 30, 20, 20), 1.3, size=16).shape == (16, 16, 3)


def test_face_and_depth_share_the_box():
    img = np.zeros((60, 60, 3), np.uint8)
    depth = np.zeros((60, 60), np.uint8)
    depth[20:40, 20:40] = 200
    face, d = crop_face_and_depth(img, depth, (20, 20, 20, 20), scale=1.0, image_size=32, depth_size=8)
    assert face.shape == (32, 32, 3) and d.shape == (8, 8) and d.min() == 200
    with pytest.raises(ValueError, match="depth map size 30x30 differs from frame size 60x60"):
        crop_face_and_depth(img, depth[:30, :30], (20, 20, 20, 20))


def test_bbox_roundtrip_and_errors(tmp_path):
    p = fileio.bbox_path(tmp_path, "1_1_01_1", 7)
    assert p.name == "1_1_01_1_007_scene.dat"
    fileio.write_bbox(p, (10.4, 20.6, 30, 40))
    assert p.read_text() == "10\n21\n30\n40\n" and fileio.read_bbox(p) == (10, 21, 30, 40)
    p.write_text("1\n2\n")
    with pytest.raises(ValueError, match="has 2 values, expected 4"):
        fileio.read_bbox(p)
    with pytest.raises(FileNotFoundError, match="face box file not found"):
        fileio.read_bbox(tmp_path / "x.dat")


def test_frame_listing(tmp_path):
    for i in (3, 1, 12):
        fileio.write_image(fileio.frame_path(tmp_path, "1_2_03_4", i), np.zeros((4, 4, 3), np.uint8))
    (tmp_path / "1_2_03_4" / "other.txt").write_text("x")
    assert fileio.list_frame_indices(tmp_path / "1_2_03_4", "1_2_03_4") == [1, 3, 12]
    with pytest.raises(ValueError, match="unreadable or corrupt image"):
        (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
        fileio.read_image(tmp_path / "bad.jpg")
