"""DSDG training pairs: same-subject pairing, spoof types, crops, face geometry (docs/methods/dsdg.md, Training)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from dsdg.dataset import PairDataset, mean_face_geometry, spoof_type_of, subject_of
from fas_core import fileio
from fas_core.crop import crop_face


def test_names_to_subject_and_type() -> None:
    assert subject_of("3_2_17_4") == "17"
    assert [spoof_type_of(f"1_1_01_{c}") for c in (2, 3, 4, 5)] == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="not an attack"):
        spoof_type_of("1_1_01_1")
    with pytest.raises(ValueError, match="gen_00001_live"):
        subject_of("gen_00001_live")


def test_pairs_from_frames(fake_work) -> None:
    ds = PairDataset(fake_work["lists"] / "Train.txt", fake_work["frames"], source="frames", scale=1.0)
    # Train: users 01, 02, sessions 1, 2 -> 16 attack videos x 4 frames; 2 live videos x 4 frames per user
    assert len(ds) == 64
    assert ds.subjects() == ["01", "02"]
    assert {k: len(v) for k, v in ds.live_pool.items()} == {"01": 8, "02": 8}
    partners = set()
    for index in range(len(ds)):
        spoof = ds.spoofs[index]
        for seed in (0, 1, 2):
            live = ds.partner(index, seed)
            assert live.video.endswith("_1") and subject_of(live.video) == subject_of(spoof.video)
            assert ds.partner(index, seed) == live  # a seed fixes the partner
            partners.add(live)
        assert ds.types[index] == int(spoof.video[-1]) - 2
    assert len(partners) == 16  # every live frame of both subjects gets used
    sample = ds[(5, 123)]
    assert sample["spoof"].shape == (3, 256, 256) and sample["live"].shape == (3, 256, 256)
    assert sample["spoof"].dtype == torch.float32 and 0.0 <= float(sample["spoof"].min()) <= 1.0
    # the DSDG crop: the box at scale 1.0, resized to 256, RGB in [0, 1]
    ref = ds.spoofs[5]
    frame = fileio.read_image(fileio.frame_path(fake_work["frames"], ref.video, ref.index))
    box = fileio.read_bbox(fileio.bbox_path(fake_work["frames"], ref.video, ref.index))
    want = cv2.resize(crop_face(frame, box, 1.0), (256, 256))[:, :, ::-1].transpose(2, 0, 1) / 255.0
    np.testing.assert_allclose(sample["spoof"].numpy(), want, atol=1e-6)
    assert int(sample["type"]) == ds.types[5]


def test_pairs_from_crop_cache_and_dropped_subjects(fake_work, tmp_path) -> None:
    # a subject without live videos cannot be paired: its attacks are left out (and reported)
    lines = ["+1,1_1_01_1", "-1,1_1_01_2", "-2,1_2_01_5", "-1,1_1_02_3"]
    (tmp_path / "list.txt").write_text("\n".join(lines) + "\n")
    ds = PairDataset(tmp_path / "list.txt", fake_work["crops"], source="crops", frames_per_video=2)
    assert ds.dropped == ["1_1_02_3"]
    assert len(ds) == 4 and sorted(set(ds.types)) == [0, 3]
    assert [r.index for r in ds.spoofs[:2]] == [1, 4]  # 2 evenly spaced of 4 frames
    item = ds[0]
    assert item["live"].shape == (3, 256, 256)  # the 64x64 fake crops are resized
    assert ds.eval_indices(2) == [0, 3]


def test_mean_face_geometry(tmp_path) -> None:
    from fas_core.face_detector import Face, faces_index_path, make_faces_index

    lm = np.array([[30, 40], [70, 40], [50, 60], [35, 80], [65, 80]], float)
    faces = {1: Face((10, 20, 80, 100), lm, 0.99), 2: Face((10, 20, 80, 100), lm + [8, 0], 0.98), 3: None}
    fileio.write_json(faces_index_path(tmp_path, "v"), make_faces_index("v", (128, 128), faces))
    geo = mean_face_geometry(tmp_path, ["v", "missing"], scale=1.0)
    # mean landmarks (x + 4) relative to the box (10, 20, 80, 100)
    want = ((lm + [4, 0]) - [10, 20]) / [80, 100]
    np.testing.assert_allclose(geo, want, atol=1e-4)
    assert mean_face_geometry(tmp_path, ["missing"]) is None
