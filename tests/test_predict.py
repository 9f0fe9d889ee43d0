"""``python -m fas_core.predict``: faces found, cropped, scored and reported; no-face and threshold errors.

A CDCN_u with 64x64 input (8x8 depth; random weights, BatchNorm statistics taken from a random
batch) keeps every run to about a second; the images are ``skimage.data.astronaut()``
(one face), two copies side by side (two faces) and a grey ramp (no face).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from skimage import data

from fas_core import checkpoint as ckpt
from fas_core.inference.cli import EXIT_ERROR, EXIT_NO_FACE, EXIT_OK, main
from fas_core.inference.loading import load_model
from fas_core.inference.predictor import Predictor
from fas_core.inference.preprocess import crop_faces, normalise
from fas_core.methods import get_method

SIZE = 64
THRESHOLD = 0.05
NORM = {"mean": [127.5] * 3, "std": [128.0] * 3, "rgb": True}
ASTRONAUT_BOX = (180, 61, 88, 111)  # MTCNN's box of the astronaut's face (x, y, w, h), about
LINE = re.compile(r"^(?P<input>\S+)(?: (?P<what>frame|clip)=(?P<frame>\d+))? face=(?P<i>\d+)/(?P<n>\d+) "
                  r"score=(?P<score>-?[\d.]+) decision=(?P<decision>live|attack) threshold=(?P<thr>[\d.]+) "
                  r"box=(?P<box>[\d,-]+) confidence=(?P<conf>[\d.]+)$")


def build_first_format(method: str, meta: dict) -> torch.nn.Module:
    """The network of a checkpoint in the first format (everything under ``meta``), as the loader rebuilds it."""
    m = get_method(method)
    return m.build(m.legacy(meta)[0])


def calibrated(method: str, meta: dict, example: torch.Tensor) -> torch.nn.Module:
    """The method's network with BatchNorm statistics of ``example`` (sane activations), eval mode."""
    torch.manual_seed(0)
    model = build_first_format(method, meta)
    bns = [m for m in model.modules() if hasattr(m, "running_mean")]
    for bn in bns:
        bn.momentum = 1.0  # running statistics := this batch's
    model.train()
    with torch.no_grad():
        model(example)
    for bn in bns:
        bn.momentum = 0.1
    return model.eval()


def make_checkpoint(path: Path, method: str = "cdcn_u", threshold: float | None = THRESHOLD,
                    clip: dict | None = None) -> tuple[Path, torch.nn.Module]:
    meta = {"method": method, "config": {}, "input_size": SIZE, "normalisation": NORM, "crop_scale": 1.3}
    if threshold is not None:
        meta["threshold"] = threshold
    if clip:
        meta["clip"] = clip
    if clip:  # the clip model's scores only need to exist: skip the (slow) statistics pass
        torch.manual_seed(0)
        model = build_first_format(method, meta).eval()
    else:
        model = calibrated(method, meta, torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1)))
    ckpt.save_checkpoint({"model": model.state_dict(), "meta": meta}, path)
    return path, model


def write_rgb(path: Path, rgb: np.ndarray) -> Path:
    cv2.imwrite(str(path), cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
    return path


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("predict")
    torch.set_num_threads(1)
    a = data.astronaut()
    ramp = np.tile(np.linspace(0, 255, 320, dtype=np.uint8)[None, :, None], (240, 1, 3))
    out = {"root": root, "astronaut": write_rgb(root / "astronaut.png", a),
           "two": write_rgb(root / "two.png", np.hstack([a, a[:, ::-1]])),
           "noface": write_rgb(root / "ramp.png", ramp)}
    out["ckpt"], out["model"] = make_checkpoint(root / "cdcn_u.pt")
    out["ckpt_nothr"], _ = make_checkpoint(root / "cdcn_u_nothr.pt", threshold=None)
    return out


def run(argv: list[str], capsys) -> tuple[int, list[str], str]:
    code = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return code, [ln for ln in cap.out.splitlines() if ln.strip()], cap.err


def reference_score(model: torch.nn.Module, path: Path, face: dict) -> float:
    """Score recomputed from the JSON record: crop 1.3x the box (rounded to whole pixels, as a .dat
    file holds it) around its centre, resize, normalise,
    then the mean of mu over the face, the face being where the built-in depth map of the landmarks,
    cropped the same way and averaged onto the 8x8 output grid, is above zero (what dum.test masks with)."""
    from fas_core.face_depth import render_depth

    rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    x, y, w, h = (round(v) for v in face["box"])
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = int(np.floor(max(0, cx - 0.65 * w))), int(np.floor(max(0, cy - 0.65 * h)))
    x1 = int(np.ceil(min(rgb.shape[1], cx + 0.65 * w)))
    y1 = int(np.ceil(min(rgb.shape[0], cy + 0.65 * h)))
    crop = cv2.resize(rgb[y0:y1, x0:x1], (SIZE, SIZE), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    depth = render_depth((rgb.shape[1], rgb.shape[0]), np.asarray(face["landmarks"]), (x, y, w, h))
    dcrop = cv2.resize(depth[y0:y1, x0:x1], (SIZE, SIZE), interpolation=cv2.INTER_AREA).astype(np.float32)
    mask = dcrop.reshape(SIZE // 8, 8, SIZE // 8, 8).mean(axis=(1, 3)) > 0
    assert 0 < mask.sum() < mask.size  # a face inside a margin: the mask is neither empty nor everything
    t = torch.from_numpy((crop - 127.5) / 128.0).permute(2, 0, 1)[None]
    with torch.no_grad():
        mu, _ = model(t)
    return float(mu[0, 0].numpy()[mask].mean()) if mu.dim() == 4 else float(mu[0].numpy()[mask].mean())


def test_astronaut_one_face_scored(env, capsys, tmp_path):
    code, lines, _ = run(["--checkpoint", env["ckpt"], env["astronaut"], "--json", tmp_path / "r.json"], capsys)
    assert code == EXIT_OK
    assert len(lines) == 1
    m = LINE.match(lines[0])
    assert m, lines[0]
    assert m["input"] == str(env["astronaut"]) and (m["i"], m["n"]) == ("1", "1")
    assert float(m["thr"]) == THRESHOLD
    score = float(m["score"])
    assert m["decision"] == ("live" if score >= THRESHOLD else "attack")
    box = [int(v) for v in m["box"].split(",")]
    assert all(abs(b - e) <= 8 for b, e in zip(box, ASTRONAUT_BOX, strict=True)), box
    assert float(m["conf"]) > 0.99
    # the JSON keeps full precision; the score equals an independent recomputation (fused vs plain net)
    rec = json.loads((tmp_path / "r.json").read_text())
    face = rec["results"][0]["faces"][0]
    assert rec["threshold"] == THRESHOLD and rec["threshold_source"] == "checkpoint" and rec["crop_scale"] == 1.3
    assert face["depth_size"] == [SIZE // 8, SIZE // 8]
    assert abs(face["score"] - score) < 6e-5
    assert abs(face["score"] - reference_score(env["model"], env["astronaut"], face)) < 1e-4


def test_two_faces_each_scored_and_threshold_override(env, capsys, tmp_path):
    code, lines, _ = run(["--checkpoint", env["ckpt"], env["two"], "--json", tmp_path / "r.json"], capsys)
    assert code == EXIT_OK
    matches = [LINE.match(ln) for ln in lines]
    assert len(matches) == 2 and all(matches)
    assert [(m["i"], m["n"]) for m in matches] == [("1", "2"), ("2", "2")]
    centres = sorted(int(m["box"].split(",")[0]) + int(m["box"].split(",")[2]) / 2 for m in matches)
    assert abs(centres[0] - 224) < 12 and abs(centres[1] - (1024 - 224)) < 12  # the mirrored copy
    scores = [f["score"] for f in json.loads((tmp_path / "r.json").read_text())["results"][0]["faces"]]
    assert abs(scores[0] - scores[1]) > 1e-6  # mirrored crops differ for a random network
    mid = (scores[0] + scores[1]) / 2  # a threshold between them: one live, one attack
    code, lines, err = run(["--checkpoint", env["ckpt"], env["two"], "--threshold", repr(mid)], capsys)
    decisions = [LINE.match(ln)["decision"] for ln in lines]
    assert code == 0 and sorted(decisions) == ["attack", "live"]
    assert decisions[int(np.argmax(scores))] == "live"
    assert "instead of the checkpoint's" in err


def test_no_face_reported_not_scored(env, capsys, tmp_path):
    code, lines, err = run(["--checkpoint", env["ckpt"], env["noface"], "--json", tmp_path / "r.json"], capsys)
    assert code == EXIT_NO_FACE == 3
    assert lines == [f"{env['noface']} no face found (not scored)"]
    assert "no face found in 1 input(s)" in err
    rec = json.loads((tmp_path / "r.json").read_text())
    assert rec["results"][0]["faces"] == [] and rec["no_face"] == [str(env["noface"])]
    # a face elsewhere does not hide the missing one
    code, lines, _ = run(["--checkpoint", env["ckpt"], env["astronaut"], env["noface"]], capsys)
    assert code == 3 and len(lines) == 2 and LINE.match(lines[0])


def test_missing_threshold_is_a_usage_error(env, capsys):
    with pytest.raises(SystemExit) as e:
        main(["--checkpoint", str(env["ckpt_nothr"]), str(env["astronaut"])])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "has no dev threshold" in err and "--threshold" in err
    code, lines, _ = run(["--checkpoint", env["ckpt_nothr"], "--threshold", "0.25", env["astronaut"]], capsys)
    assert code == 0 and LINE.match(lines[0])["thr"] == "0.2500"


def test_released_state_dict_needs_method(env, capsys, tmp_path):
    """A bare DataParallel state dict (as DUM's CDCN_U_P1.pkl) runs with --method and --threshold."""
    state = torch.load(env["ckpt"], weights_only=True)["model"]
    released = tmp_path / "CDCN_U_P1.pkl"
    torch.save({f"module.{k}": v for k, v in state.items()}, released)
    with pytest.raises(SystemExit) as e:
        main(["--checkpoint", str(released), "--threshold", "0.1", str(env["astronaut"])])
    assert e.value.code == 2 and "--method" in capsys.readouterr().err
    loaded = load_model(released, method="cdcn_u", threshold=0.1)
    assert loaded.input_hw == (256, 256) and loaded.crop_scale == 1.3 and loaded.threshold_source == "--threshold"
    mine = load_model(env["ckpt"])
    x = torch.randn(1, 3, SIZE, SIZE)
    with torch.no_grad():  # the same weights went through the release loader
        assert torch.equal(loaded.model(x)[0], mine.model(x)[0])


def test_save_writes_annotated_frame_and_depth(env, capsys, tmp_path):
    out = tmp_path / "vis"
    code, _, _ = run(["--checkpoint", env["ckpt"], env["two"], env["noface"], "--save", out], capsys)
    assert code == 3
    frame = cv2.imread(str(out / "two_pred.png"))
    assert frame.shape == (512, 1024 + 256, 3)  # the frame, then a 256-px depth column (h // 2)
    # the box is drawn in the decision colour: the frame differs from the input along the box
    src = cv2.imread(str(env["two"]))
    assert np.abs(frame[:, :1024].astype(int) - src).sum() > 0
    for i in (1, 2):
        depth = cv2.imread(str(out / f"two_face{i}_depth.png"), cv2.IMREAD_UNCHANGED)
        assert depth.shape == (SIZE // 8, SIZE // 8) and depth.dtype == np.uint8
    assert cv2.imread(str(out / "ramp_pred.png")).shape == (240, 320 + 120, 3)


def _write_video(path: Path, frames: list[np.ndarray], fps: float = 10.0) -> Path:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def test_video_frames_summary_and_annotated_video(env, capsys, tmp_path):
    small = cv2.resize(data.astronaut(), (256, 256), interpolation=cv2.INTER_AREA)
    video = _write_video(tmp_path / "talk.avi", [np.roll(small, 2 * i, axis=1) for i in range(4)])
    code, lines, _ = run(["--checkpoint", env["ckpt"], video, "--save", tmp_path / "vis", "--every", "2"], capsys)
    assert code == 0
    frames = [LINE.match(ln) for ln in lines[:-1]]
    assert [int(m["frame"]) for m in frames] == [1, 3] and all(m["what"] == "frame" for m in frames)
    summary = lines[-1]
    assert summary.startswith(f"{video} summary frames=2 with_face=2 score=")
    mean = np.mean([float(m["score"]) for m in frames])
    assert abs(float(re.search(r"score=(-?[\d.]+)", summary)[1]) - mean) < 2e-4
    saved = list((tmp_path / "vis").glob("talk_pred.*"))
    assert len(saved) == 1
    cap = cv2.VideoCapture(str(saved[0]))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 4  # every frame written, annotated with the latest result
    assert cap.get(cv2.CAP_PROP_FRAME_WIDTH) == 256 + 128


def test_multi_frame_model_scores_clips(env, capsys, tmp_path):
    clip = {"frames": 3, "interval": 2}
    ckpt_path, _ = make_checkpoint(tmp_path / "multi.pt", method="sgtd_multi", clip=clip)
    small = cv2.resize(data.astronaut(), (256, 256), interpolation=cv2.INTER_AREA)
    video = _write_video(tmp_path / "clip.avi", [small] * 6)  # span (3 - 1) * 2 + 1 = 5 frames: one clip
    code, lines, _ = run(["--checkpoint", ckpt_path, video], capsys)
    assert code == 0 and len(lines) == 2
    m = LINE.match(lines[0])
    assert m and m["what"] == "clip" and m["frame"] == "1"
    assert lines[1].startswith(f"{video} summary clips=1 with_face=1 score={m['score']}")
    code, _, err = run(["--checkpoint", ckpt_path, env["astronaut"]], capsys)
    assert code == EXIT_ERROR and "not a single image" in err


def test_unreadable_input_counts_as_failure(env, capsys, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image")
    code, lines, err = run(["--checkpoint", env["ckpt"], bad, tmp_path / "missing.png", env["astronaut"]], capsys)
    assert code == EXIT_ERROR and len(lines) == 1 and LINE.match(lines[0])
    assert f"{bad}: not a readable image" in err and "missing.png: no such file or folder" in err


def test_cli_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and "--checkpoint" in out and "--camera" in out and "Exit status" in out


def test_missing_camera_is_an_error(env, capsys):
    code, lines, err = run(["--checkpoint", env["ckpt"], "--camera", "99"], capsys)
    assert code == EXIT_ERROR and lines == [] and "could not open camera 99" in err


def test_inputs_and_face_mask_equal_the_crop_cache_path(env, tmp_path):
    """A model trained on the crop cache gets from predict exactly what dum's loader gave it:
    data.crop's 256x256 JPEG crop of the rounded box, resized to the input, and the face mask of
    make_depth's map cropped to 32x32 and shrunk onto the output grid."""
    from dum.dataset import CropCache
    from fas_core import fileio
    from fas_core.crop import crop_face_and_depth
    from fas_core.face_depth import landmarks_from_box, render_depth
    from fas_core.face_detector import Face
    from fas_core.method import on_output_grid

    path = tmp_path / "cached.pt"
    path.write_bytes(env["ckpt"].read_bytes())
    ckpt.update_meta(path, crop_cache={"size": 256, "depth_size": 32, "jpeg_quality": 95, "resize": "linear"})
    loaded = load_model(path, device="cpu")
    rgb = data.astronaut()
    box = (180.4, 61.3, 88.2, 111.4)  # sub-pixel, as MTCNN gives it; the .dat file rounds it
    face = Face(box=box, landmarks=landmarks_from_box(box), confidence=1.0)
    # the preprocessing path: make_depth, crop (JPEG 95 + 32x32 depth), dum's CropCache loader
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    depth = render_depth((rgb.shape[1], rgb.shape[0]), face.landmarks, box)
    crop, dcrop = crop_face_and_depth(bgr, depth, fileio.bbox_as_stored(box), 1.3, 256, 32)
    fileio.write_image(tmp_path / "v" / "v_001_scene.jpg", crop, jpeg_quality=95)
    fileio.write_image(tmp_path / "v" / "v_001_depth1D.png", dcrop)
    img64, depth8 = CropCache(tmp_path).load("v", 1, None, SIZE, SIZE // 8, with_depth=True)
    expected = normalise(cv2.cvtColor(img64, cv2.COLOR_BGR2RGB)[None], NORM)
    p = Predictor(loaded, detector=None)
    got = p.prepare(rgb, [face]).numpy()
    assert np.array_equal(got, expected)
    mask = on_output_grid(p.face_depth(rgb, [face]), (SIZE // 8, SIZE // 8))[0].numpy() > 0
    assert np.array_equal(mask, depth8 > 0) and 0 < mask.sum() < mask.size
    # a float box cropped directly (what predict did before) gives a different input
    direct = normalise(crop_faces(rgb, [box], 1.3, (SIZE, SIZE)), NORM)
    assert np.abs(direct - expected).max() > 0.05
