"""Shared test fixtures: a tiny fake preprocessed work tree (frames, boxes, depth, crop cache, lists).

Live faces get a bright face with a depth blob; attacks a flatter, tinted face and no depth
label; small sizes keep every test that trains a model to seconds on 2 CPU cores.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fas_core import fileio  # noqa: E402

DEFAULTS_ONLY = str(ROOT / "tests" / "defaults_only.yaml")  # --config that keeps a method's DEFAULTS
FRAME_SIZE = (96, 128)  # H, W of the fake full frames
BOX = (40, 24, 48, 48)  # x, y, w, h of the face in every fake frame
CROP_SIZE = 64
N_FRAMES = 4


def _face(rng: np.random.Generator, live: bool, size: int) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size] / size
    blob = np.exp(-((yy - 0.5) ** 2 + (xx - 0.5) ** 2) / 0.08)
    base = np.stack([blob * 180 + 40, blob * 150 + 50, blob * 120 + 60], -1)
    if not live:
        base = base * 0.8 + np.array([30.0, 10.0, 0.0])
    return np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)


def _depth(live: bool, size: int) -> np.ndarray:
    """A smooth face-like depth bump for live faces, all zeros for attacks."""
    if not live:
        return np.zeros((size, size), np.uint8)
    yy, xx = np.mgrid[0:size, 0:size] / size
    return (np.exp(-((yy - 0.5) ** 2 + (xx - 0.5) ** 2) / 0.05) * 255).astype(np.uint8)


def _videos() -> dict[str, list[str]]:
    users = {"train": ["01", "02"], "dev": ["21"], "test": ["36"]}
    out = {}
    for split, us in users.items():
        out[split] = [f"1_{s}_{u}_{f}" for u in us for s in (1, 2, 3) for f in (1, 2, 3, 4, 5)]
    return out


@pytest.fixture(scope="session")
def fake_work(tmp_path_factory) -> dict[str, Path]:
    """A work root with ``frames/``, ``depth/``, ``crops/`` and ``lists/Protocol_1``.

    Protocol-1-like: sessions 1, 2 in Train (users 01, 02) and Dev (user 21), session 3 in Test (user 36).
    """
    root = tmp_path_factory.mktemp("fake_work")
    rng = np.random.default_rng(0)
    frames, depth, crops = root / "frames", root / "depth", root / "crops"
    lists = root / "lists" / "Protocol_1"
    lines: dict[str, list[str]] = {"Train": [], "Dev": [], "Test": []}
    for split, videos in _videos().items():
        for v in videos:
            live = v.endswith("_1")
            session = v.split("_")[1]
            for i in range(1, N_FRAMES + 1):
                full = np.full((*FRAME_SIZE, 3), 90, np.uint8)
                x, y, w, h = BOX
                full[y:y + h, x:x + w] = _face(rng, live, w)
                fileio.write_image(fileio.frame_path(frames, v, i), full)
                fileio.write_bbox(fileio.bbox_path(frames, v, i), BOX)
                dmap = np.zeros(FRAME_SIZE, np.uint8)
                dmap[y:y + h, x:x + w] = _depth(True, w)  # depth maps exist for attacks too (face mask)
                fileio.write_image(fileio.depth_path(depth, v, i), dmap)
                fileio.write_image(Path(crops) / v / f"{v}_{i:03d}_scene.jpg", _face(rng, live, CROP_SIZE))
                fileio.write_image(Path(crops) / v / f"{v}_{i:03d}_depth1D.png", _depth(live, 32))
            for d in (frames / v, depth / v, crops / v):
                fileio.mark_done(d)
            in_test_cond = session == "3"
            key = {"train": "Train", "dev": "Dev", "test": "Test"}[split]
            if (key == "Test") == in_test_cond:
                code = int(v.rsplit("_", 1)[1])
                label = "+1" if code == 1 else ("-1" if code in (2, 3) else "-2")
                lines[key].append(f"{label},{v}")
    lists.mkdir(parents=True)
    for key, ls in lines.items():
        (lists / f"{key}.txt").write_text("\n".join(ls) + "\n")
    return {"root": root, "frames": frames, "depth": depth, "crops": crops, "lists": lists}
