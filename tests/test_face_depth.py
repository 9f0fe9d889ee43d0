"""Built-in depth generator: template fit, z-buffer render, depth1D format, make_depth stage."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from data.make_depth import make_depth
from fas_core import fileio
from fas_core.face_depth import (
    Camera,
    build_template,
    fit_camera,
    pearson_inside,
    render_depth,
    render_depth_float,
    to_uint8,
)
from fas_core.face_detector import Face, make_faces_index


def rot_yx(yaw_deg: float, pitch_deg: float) -> np.ndarray:
    """Rotation: yaw about y, then pitch about x (camera convention: x right, y down, z away)."""
    a, b = math.radians(yaw_deg), math.radians(pitch_deg)
    ry = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    rx = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    return rx @ ry


def posed_landmarks(scale: float, rot: np.ndarray, centre: tuple[float, float]) -> np.ndarray:
    """The template's own landmarks seen by a scaled-orthographic camera."""
    tpl = build_template()
    return scale * (tpl.landmarks @ rot.T)[:, :2] + np.asarray(centre)


def true_template_depth(size: tuple[int, int], scale: float, rot: np.ndarray,
                        centre: tuple[float, float]) -> np.ndarray:
    """Closeness of the template under a known camera, by a direct dense z-buffer (reference render)."""
    W, H = size
    tpl = build_template()
    cam = Camera(P=scale * rot[:2], t=np.asarray(centre, float))
    uv, close = cam.project(tpl.vertices)
    ij = np.rint(uv).astype(int)
    ok = (ij[:, 0] >= 0) & (ij[:, 0] < W) & (ij[:, 1] >= 0) & (ij[:, 1] < H)
    buf = np.full(H * W, -np.inf)
    np.maximum.at(buf, ij[ok, 1] * W + ij[ok, 0], close[ok])
    buf = buf.reshape(H, W)
    return np.where(np.isfinite(buf), buf - close.min() + 1e-3, 0.0)


def test_frontal_fit_recovers_the_camera_and_peaks_at_the_nose():
    s, centre = 40.0, (320.0, 200.0)
    lm = posed_landmarks(s, np.eye(3), centre)
    cam = fit_camera(lm)
    # Exact landmarks of a frontal template: P = s [I | 0] up to the ridge's tiny pull on the z column.
    assert np.allclose(cam.P[:, :2], s * np.eye(2), atol=0.05 * s)
    assert np.allclose(cam.view, [0, 0, 1], atol=0.02)
    assert np.allclose(cam.project(build_template().landmarks)[0], lm, atol=0.5)
    d = render_depth((640, 480), lm)
    assert d.shape == (480, 640) and d.dtype == np.uint8
    peak = np.unravel_index(np.argmax(d), d.shape)
    nose = lm[2]
    assert math.hypot(peak[1] - nose[0], peak[0] - nose[1]) < 0.15 * s  # within 0.15 inter-ocular distances
    assert d.max() >= 250
    # Zero outside the face: the outline reaches 1.15 IOD above the eyes, 2.25 below, 1.1 to
    # each side (TemplateShape), i.e. y 154..290 and x 276..364 for IOD 40 at (320, 200).
    ys, xs = np.nonzero(d)
    assert abs(ys.min() - 154) <= 2 and abs(ys.max() - 290) <= 2
    assert abs(xs.min() - 276) <= 2 and abs(xs.max() - 364) <= 2
    assert d[0].max() == 0 and d[:, 0].max() == 0
    # Falls off towards the outline: the ring near the edge is darker than the centre.
    inner = d[int(nose[1]) - 5:int(nose[1]) + 5, int(nose[0]) - 5:int(nose[0]) + 5].mean()
    assert d[ys, xs].min() < 0.7 * inner


@pytest.mark.parametrize("yaw,pitch", [(25.0, 0.0), (-20.0, 10.0), (0.0, -15.0)])
def test_posed_template_depth_matches_reference_render(yaw, pitch):
    rot = rot_yx(yaw, pitch)
    s, centre = 60.0, (320.0, 220.0)
    lm = posed_landmarks(s, rot, centre)
    cam = fit_camera(lm)
    # Out-of-plane direction recovered within ~12 degrees (the ridge leans towards frontal).
    true_view = rot[2]
    assert math.degrees(math.acos(np.clip(cam.view @ true_view, -1, 1))) < 12
    est = render_depth_float((640, 480), lm)
    ref = true_template_depth((640, 480), s, rot, centre)
    assert pearson_inside(est, ref) > 0.9
    # The yawed face's nose is still the closest point.
    peak = np.unravel_index(np.argmax(est), est.shape)
    assert math.hypot(peak[1] - lm[2, 0], peak[0] - lm[2, 1]) < 0.25 * s


def test_box_only_fallback_and_clipping_and_bad_input():
    d = render_depth((200, 150), box=(150, 60, 80, 100))  # face half outside the frame
    assert d.shape == (150, 200) and d[:, :140].max() == 0 and d.max() > 200
    with pytest.raises(ValueError, match="mirrored"):
        render_depth((640, 480), posed_landmarks(40, np.eye(3), (300, 200)) * [-1, 1] + [600, 0])
    with pytest.raises(ValueError, match="landmarks or a box"):
        render_depth((64, 64))
    with pytest.raises(ValueError, match="5 finite"):
        fit_camera(np.zeros((4, 2)))


def test_to_uint8_keeps_every_face_pixel_nonzero():
    q = to_uint8(np.array([[0.0, 1e-4, 0.5, 1.0, 1.5]]))
    assert q.tolist() == [[0, 1, 128, 255, 255]]


def test_pearson_inside_hand_computed():
    true = np.array([[0, 1, 2, 3]], float)
    assert pearson_inside(np.array([[9, 2, 4, 6]]), true) == pytest.approx(1.0)  # outside pixel ignored
    assert pearson_inside(np.array([[0, 3, 2, 1]]), true) == pytest.approx(-1.0)


def test_render_speed_640x480():
    lm = posed_landmarks(70, rot_yx(10, 5), (320, 240))
    render_depth((640, 480), lm)  # warm the template cache
    n = 50
    t = time.perf_counter()
    for _ in range(n):
        render_depth((640, 480), lm)
    fps = n / (time.perf_counter() - t)
    assert fps > 50, f"{fps:.0f} frames/s"  # the benchmark reports >100 on an idle core; CI machines are shared


def _write_index(frames, video, faces, size=(160, 120)):
    (frames / video).mkdir(parents=True, exist_ok=True)
    fileio.write_json(frames / video / "faces.json", make_faces_index(video, size, faces, {i: size for i in faces}))


def test_make_depth_stage_template_and_prnet(tmp_path):
    frames = tmp_path / "frames"
    lm = posed_landmarks(20, np.eye(3), (80, 50))
    face = Face(box=(58.0, 31.0, 42.0, 52.0), landmarks=lm, confidence=0.99)
    _write_index(frames, "1_1_01_1", {1: face, 2: None, 3: face})
    _write_index(frames, "1_1_01_2", {1: face})  # attack videos get maps too (face mask)
    (frames / "1_1_01_3").mkdir()  # extracted, not detected yet
    out = tmp_path / "depth"
    s = make_depth(frames, out)
    assert s["frames"] == 4 and s["faces"] == 3 and s["mode"] == "template"
    assert s["failures"] == {"no_face": 1, "not_detected": 1}
    d = fileio.read_image(fileio.depth_path(out, "1_1_01_1", 1), grey=True)
    assert d.shape == (120, 160) and d.max() > 240 and d[:, :40].max() <= 3  # JPEG ringing only
    assert not fileio.depth_path(out, "1_1_01_1", 2).exists()
    assert fileio.depth_path(out, "1_1_01_2", 1).is_file()
    assert fileio.is_done(out / "1_1_01_1") and not fileio.is_done(out / "1_1_01_3")
    assert make_depth(frames, out)["videos_skipped_already_done"] == 2

    # PRNet maps made elsewhere: copied byte for byte; a wrong size and a missing map are counted.
    prnet = tmp_path / "prnet"
    fileio.write_image(fileio.depth_path(prnet, "1_1_01_1", 1), np.full((120, 160), 77, np.uint8))
    fileio.write_image(fileio.depth_path(prnet, "1_1_01_1", 3), np.full((60, 80), 77, np.uint8))
    out2 = tmp_path / "depth2"
    s = make_depth(frames, out2, prnet_dir=prnet)
    assert s["mode"] == "prnet" and s["faces"] == 1
    assert s["failures"] == {"bad_prnet_map": 1, "missing_prnet_map": 1, "no_face": 1, "not_detected": 1}
    assert (fileio.depth_path(out2, "1_1_01_1", 1).read_bytes()
            == fileio.depth_path(prnet, "1_1_01_1", 1).read_bytes())
    assert not fileio.depth_path(out2, "1_1_01_1", 3).exists()
    with pytest.raises(FileNotFoundError, match="PRNet depth folder not found"):
        make_depth(frames, out2, prnet_dir=tmp_path / "nope")


def test_agreement_with_synthetic_true_depth():
    """Built-in depth vs the synthetic renderer's true depth on live frames (benchmark: >= 0.8 on demo)."""
    synth = pytest.importorskip("data.synth")
    from data.detect_faces import default_detector

    cfg = synth.SynthConfig(preset="tiny", seed=0)
    live = [n for n in cfg.spec.video_names() if n.endswith("_1")][:2]
    det = default_detector()
    r_face, r_mask, cover = [], [], []
    for name in live:
        video = synth.render_video(cfg, name)
        for frame, true, face in zip(video.frames, video.depth, det.detect(list(video.frames)), strict=True):
            assert face is not None, f"no face found in a live frame of {name}"
            pred = render_depth((frame.shape[1], frame.shape[0]), face.landmarks, face.box).astype(np.float32)
            true = true.astype(np.float32)
            both = (pred > 0) & (true > 0)
            r_face.append(pearson_inside(np.where(both, pred, 0), np.where(both, true, 0)))
            r_mask.append(pearson_inside(pred, true))
            cover.append(both.sum() / (true > 0).sum())
    assert len(r_face) == 2 * cfg.spec.frames
    assert np.mean(r_face) >= 0.6, f"Pearson r on the face {np.mean(r_face):.3f}"
    assert np.mean(r_mask) >= 0.5, f"Pearson r on the true face mask {np.mean(r_mask):.3f}"
    assert np.mean(cover) >= 0.9, f"the maps cover {np.mean(cover):.3f} of the true face"
