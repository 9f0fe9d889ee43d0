"""FAS-SGTD single-frame stage: Sobel/RSGB, TF1 resize, slim BatchNorm, scores, data, CLI (docs/methods/fas_sgtd.md)."""

from __future__ import annotations

import copy
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import DEFAULTS_ONLY

from fas_core import checkpoint as ckpt
from fas_core.config import AttrDict, materialise
from fas_core.layers import gradient_magnitude, set_literal, sobel_xy
from fas_core.video_data import WorkPaths
from fas_sgtd_single_frame import dataset as sd
from fas_sgtd_single_frame.model import (
    RSGB,
    FaceMapNet,
    SlimBatchNorm2d,
    box_mask,
    build_facemapnet,
    l2_penalty,
    single_frame_score,
    tf_legacy_resize,
)
from fas_sgtd_single_frame.train import AUGMENT_DEFAULTS

ROOT = Path(__file__).resolve().parents[1]

# 3x3 image 1..9: Sobel by hand with zero padding (cross-correlation, rows first).
IMG = torch.arange(1.0, 10.0).view(1, 1, 3, 3)
# Centre: Sx = (3 - 1) + 2 * (6 - 4) + (9 - 7) = 8; Sy = (1 + 2*2 + 3) - (7 + 2*8 + 9) = -24.
# Top-left (zero padded): Sx = 2 * 2 + 5 = 9; Sy = -(2 * 4 + 5) = -13.
# Bottom-right: Sx = -(2 * 8 + 5) = -21 ... Sy = 2 * 6 + 5 = 17.


def test_sobel_hand_computed() -> None:
    gx, gy = sobel_xy(IMG)
    assert gx[0, 0, 1, 1].item() == 8.0 and gy[0, 0, 1, 1].item() == -24.0
    assert gx[0, 0, 0, 0].item() == 9.0 and gy[0, 0, 0, 0].item() == -13.0
    assert gx[0, 0, 2, 2].item() == -(2 * 8 + 5) and gy[0, 0, 2, 2].item() == 2 * 6 + 5
    mag = gradient_magnitude(IMG)
    assert mag[0, 0, 1, 1].item() == pytest.approx(math.sqrt(8**2 + 24**2 + 1e-8), rel=1e-6)
    assert mag[0, 0, 0, 0].item() == pytest.approx(math.sqrt(9**2 + 13**2), rel=1e-6)
    # constant image: zero gradient inside, so the magnitude is sqrt(1e-8) there
    flat = gradient_magnitude(torch.ones(1, 2, 5, 5))
    assert flat[0, :, 2, 2].tolist() == pytest.approx([1e-4, 1e-4], rel=1e-3)


def test_rsgb_gradient_branch_is_sobel_magnitude() -> None:
    """With the 3x3 branch zeroed and the 1x1 an identity, RSGB = ReLU(BN(BN(|grad x|))) in eval mode."""
    block = RSGB(1, 1).eval()
    with torch.no_grad():
        block.conv.weight.zero_()
        block.conv.bias.zero_()
        block.grad_conv.weight.fill_(1.0)
        block.grad_conv.bias.zero_()
    out = block(IMG)
    expect = gradient_magnitude(IMG) / (1 + 1e-3)  # two BNs with running mean 0, var 1, eps 1e-3
    assert torch.allclose(out, expect, rtol=1e-5)
    assert out[0, 0, 1, 1].item() == pytest.approx(math.sqrt(640) / 1.001, rel=1e-5)
    paper = RSGB(1, 1, paper_order=True).eval()
    paper.load_state_dict(block.state_dict())
    with torch.no_grad():
        paper.grad_conv.bias.fill_(5.0)  # a constant shift: Sobel after the 1x1 conv cancels it inside
        block.grad_conv.bias.fill_(5.0)
    assert paper(IMG)[0, 0, 1, 1].item() == pytest.approx(math.sqrt(640) / 1.001, rel=1e-5)
    assert block(IMG)[0, 0, 1, 1].item() == pytest.approx((math.sqrt(640) + 5) / 1.001, rel=1e-5)


def tf1_legacy_bilinear(x: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """TF1 resize_bilinear, align_corners=False, half_pixel_centers=False, written out literally."""
    in_h, in_w = x.shape[-2:]
    sh, sw = in_h / out_h, in_w / out_w
    out = np.zeros(x.shape[:-2] + (out_h, out_w))
    for y in range(out_h):
        iy = y * sh
        y0 = int(math.floor(iy))
        y1 = min(y0 + 1, in_h - 1)
        dy = iy - y0
        for xx in range(out_w):
            ix = xx * sw
            x0 = int(math.floor(ix))
            x1 = min(x0 + 1, in_w - 1)
            dx = ix - x0
            top = x[..., y0, x0] * (1 - dx) + x[..., y0, x1] * dx
            bottom = x[..., y1, x0] * (1 - dx) + x[..., y1, x1] * dx
            out[..., y, xx] = top * (1 - dy) + bottom * dy
    return out


@pytest.mark.parametrize("in_size,out_size", [(16, 8), (16, 4), (32, 8), (10, 4)])
def test_resize_equals_tf1_legacy_bilinear(in_size: int, out_size: int) -> None:
    x = torch.randn(2, 3, in_size, in_size, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ours = tf_legacy_resize(x, out_size).numpy()
    assert np.allclose(ours, tf1_legacy_bilinear(x.numpy(), out_size, out_size), atol=1e-12)
    if in_size % out_size == 0:  # integer factor: exactly strided subsampling
        f = in_size // out_size
        assert torch.equal(tf_legacy_resize(x, out_size), x[..., ::f, ::f])
        # ... and PyTorch's own bilinear (half-pixel centres) is different: why it is not used
        torch_bilinear = torch.nn.functional.interpolate(x, size=out_size, mode="bilinear", align_corners=False)
        assert not torch.allclose(torch_bilinear, x[..., ::f, ::f])


def test_parameter_count_and_init() -> None:
    net = FaceMapNet()
    assert sum(p.numel() for p in net.parameters() if p.requires_grad) == 2_466_497
    # per RSGB 10 * cin * cout + 4 * cout: rgc_init 3 -> 64 = 2,176
    assert sum(p.numel() for p in net.rgc_init.parameters()) == 2_176
    assert not any(n.endswith("weight") for n, _ in net.rgc_init.bn.named_parameters())  # no gamma
    w = net.rgc1_2.conv.weight  # Glorot-uniform bound sqrt(6 / (fan_in + fan_out))
    bound = math.sqrt(6 / (9 * 128 + 9 * 192))
    assert w.abs().max().item() <= bound and w.abs().max().item() > 0.9 * bound
    assert net.rgc1_2.conv.bias.abs().sum().item() == 0.0
    depth, feats = net(torch.zeros(1, 3, 64, 64), return_features=True)
    assert depth.shape == (1, 1, 8, 8) and [f.shape[-1] for f in feats] == [64, 32, 16]
    assert [f.shape[1] for f in feats] == [128, 128, 128]


def test_l2_penalty_is_half_sum_of_squares() -> None:
    w = [torch.ones(2, 3), torch.full((4,), 2.0)]
    assert l2_penalty(w, 5e-4).item() == pytest.approx(5e-4 * (6 + 16) / 2)
    net = FaceMapNet(width=0.25)
    total = sum(m.weight.pow(2).sum().item() for m in net.modules() if isinstance(m, torch.nn.Conv2d))
    assert net.l2_penalty().item() == pytest.approx(5e-4 * total / 2, rel=1e-5)


def test_slim_batchnorm_matches_tf_formula() -> None:
    bn = SlimBatchNorm2d(2, momentum=0.001, eps=1e-3)
    with torch.no_grad():
        bn.bias.copy_(torch.tensor([0.5, -1.0]))
    x = torch.randn(4, 2, 3, 3, generator=torch.Generator().manual_seed(1))
    y = bn(x)
    mean, var = x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), unbiased=False)
    c = (None, slice(None), None, None)
    expect = (x - mean[c]) / torch.sqrt(var[c] + 1e-3) + bn.bias[c]
    assert torch.allclose(y, expect, atol=1e-5)
    # running = 0.999 * running + 0.001 * batch (TF decay 0.999)
    assert torch.allclose(bn.running_mean, 0.001 * mean, atol=1e-7)
    bn.eval()  # eval: the running statistics
    rm, rv = bn.running_mean[None, :, None, None], bn.running_var[None, :, None, None]
    assert torch.allclose(bn(x), (x - rm) / torch.sqrt(rv + 1e-3) + bn.bias[None, :, None, None], atol=1e-6)
    assert list(dict(bn.named_parameters())) == ["bias"]


def test_single_frame_score() -> None:
    depth = torch.zeros(3, 1, 2, 2)
    depth[0] = 1.0
    depth[1, 0, 0, 0] = 0.8  # masked mean over the one masked pixel
    mask = torch.zeros(3, 1, 2, 2)
    mask[:2, 0, 0, 0] = 1.0  # sample 2: empty mask
    s = single_frame_score(depth, mask)
    # the original's softmax([d, 1 - d])[0]
    for i, d in enumerate([1.0, 0.8]):
        ref = math.exp(d) / (math.exp(d) + math.exp(1 - d))
        assert s[i].item() == pytest.approx(ref, rel=1e-6)
    assert s[2].item() == 0.0  # NaN guarded
    m = box_mask(32, 1.3)
    assert m.sum().item() == 26 * 26 and m[16, 16] == 1 and m[0, 0] == 0


def _cfg(fake_work, size=32):
    return AttrDict({"work": str(fake_work["root"]), "frames": "", "depth": "", "lists": "",
                     "protocol": "1", "allow_missing": False, "input_size": size})


def test_dataset_crop_flip_and_labels(fake_work) -> None:
    entries = sd.load_entries(_cfg(fake_work), "train")
    assert len(entries) == 20 and sum(e.label for e in entries) == 4 and all(e.frames == [1, 2, 3, 4] for e in entries)
    paths = WorkPaths.from_config(_cfg(fake_work))
    items = sd.train_items(entries)
    aug = dict(materialise(AUGMENT_DEFAULTS), flip=1.0, colour=0.0, cutout=0.0)
    live = next(i for i, (vi, _) in enumerate(items) if entries[vi].label == 1)
    attack = next(i for i, (vi, _) in enumerate(items) if entries[vi].label == 0)
    test_ds = sd.ClipDataset(entries, items, paths, 32, train=False)
    flip_ds = sd.ClipDataset(entries, items, paths, 32, train=True, aug_cfg=aug, widen=(0.0, 0.0))
    plain, flipped = test_ds[live], flip_ds[(live, 7)]
    assert plain["image"].shape == (1, 3, 32, 32) and plain["depth"].shape == (1, 1, 4, 4)
    # widen 0 = the bare box; the fake depth bump is symmetric, so check the flip on the image:
    unflipped = sd.ClipDataset(entries, items, paths, 32, train=True, aug_cfg=dict(aug, flip=0.0), widen=(0.0, 0.0))
    a, b = unflipped[(live, 7)], flipped
    assert torch.allclose(b["image"], a["image"].flip(-1)) and torch.allclose(b["depth"], a["depth"].flip(-1))
    assert a["depth"].max() > 0.5 and a["label"].item() == 1
    atk = test_ds[attack]
    assert atk["depth"].abs().sum() == 0 and atk["mask"].sum() > 0 and atk["label"].item() == 0
    # normalisation (x - 127.5) / 255
    assert plain["image"].min() >= -0.5 and plain["image"].max() <= 0.5


def test_depth_label_flipped_with_image(fake_work, tmp_path) -> None:
    """An asymmetric depth map must move with the flipped image (the original leaves it unflipped)."""
    img = np.zeros((8, 8, 3), np.uint8)
    img[:, :2] = 200
    depth = np.zeros((8, 8), np.uint8)
    depth[:, :2] = 255
    aug = sd.ClipAugment(flip=True, colour=None, cutout_seed=None)
    i2, d2 = aug.apply(img, depth, materialise(AUGMENT_DEFAULTS))
    assert i2[:, -2:].min() == 200 and d2[:, -2:].min() == 255 and d2[:, :2].max() == 0
    _, d3 = aug.apply(img, depth, dict(materialise(AUGMENT_DEFAULTS), flip_depth=False))
    assert d3[:, :2].min() == 255  # the original's behaviour, on request


def test_balanced_sampling(fake_work) -> None:
    entries = sd.load_entries(_cfg(fake_work), "train")
    items = sd.train_items(entries)
    fn = sd.balanced_batches(items, entries, per_live=6, per_attack=2, batch_size=4)
    batches = fn(np.random.default_rng(0))
    flat = [i for b in batches for i in b]
    assert len(flat) == (4 * 6 + 16 * 2) // 4 * 4 and all(len(b) == 4 for b in batches)
    per_video = np.bincount([items[i][0] for i in flat], minlength=len(entries))
    labels = np.array([e.label for e in entries])
    assert set(per_video[labels == 1]) == {6} and set(per_video[labels == 0]) == {2}  # 4 frames: 2 repeats
    even = sd.balanced_batches(items, entries, 2, 1, 1, mode="even")(np.random.default_rng(0))
    frames = sorted(items[b[0]][1][0] for b in even if items[b[0]][0] == 0)
    assert frames == [1, 4]


def test_cli_train_and_test(fake_work, tmp_path) -> None:
    from fas_sgtd_single_frame import test as single_test
    from fas_sgtd_single_frame import train as single_train

    run = tmp_path / "single"
    args = ["--config", DEFAULTS_ONLY, f"data.work={fake_work['root']}", "data.input_size=32", "model.width=0.25",
            "model.bn_momentum=0.1",
            f"train.run_dir={run}", "train.batch_size=4", "train.max_iters=3", "train.eval_every=3",
            "train.log_every=1", "train.threads=1", "data.per_live=4", "data.per_attack=1"]
    summary = single_train.main(args)
    assert summary["step"] == 3 and (run / "best.pt").is_file() and (run / "last.pt").is_file()
    saved = ckpt.load_file(run / "best.pt")
    assert saved["method"] == "sgtd_single" and saved["input"]["size"] == 32 and saved["input"]["std"][0] == 255.0
    figures = single_test.main(args)
    out = run / "test"
    for name in ("dev_scores.txt", "test_scores.txt", "metrics.json", "roc.png", "hist.png", "depth_grid.png"):
        assert (out / name).is_file(), name
    lines = (out / "test_scores.txt").read_text().split("\n")
    assert sum(1 for ln in lines if ln.startswith("1_3_36_")) == 5  # one line per test video
    assert 0.0 <= figures["ACER"] <= 1.0
    assert ckpt.load_file(run / "best.pt")["threshold"] == figures["threshold"]


def test_cli_help() -> None:
    for module in ("fas_sgtd_single_frame.train", "fas_sgtd_single_frame.test"):
        r = subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT, capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0 and "model.paper_order" in r.stdout


def test_every_config_file_loads() -> None:
    """Each shipped config parses against its stage's defaults (no unknown keys, right types)."""
    from fas_core.config import load_config
    from fas_sgtd_multi_frame.train import DEFAULTS as MULTI
    from fas_sgtd_single_frame.train import DEFAULTS as SINGLE

    seen = 0
    for folder, defaults in (("fas_sgtd_single_frame", SINGLE), ("fas_sgtd_multi_frame", MULTI)):
        for path in sorted((ROOT / folder / "configs").glob("*.yaml")):
            cfg = load_config(defaults, path)
            assert int(cfg.data.input_size) % 8 == 0, path
            seen += 1
    assert seen >= 12
    p1 = load_config(MULTI, ROOT / "fas_sgtd_multi_frame/configs/oulu_p3_k.yaml")
    assert p1.data.protocol == "3_1" and p1.optim.lr == 0.01 and p1.model.beta == 0.4 and p1.data.input_size == 256
    released = load_config(MULTI, ROOT / "fas_sgtd_multi_frame/configs/released_p1.yaml")
    assert released.model.gru_recurrent is False and released.model.legacy_double_softmax is True


@pytest.mark.parametrize("score_mask", ["label", "box"])
def test_predict_scores_with_the_mask_the_threshold_was_chosen_with(score_mask: str) -> None:
    """The method's score with the face's depth map masks as test.py did (``eval.score``)."""
    from fas_core.method import on_output_grid
    from fas_sgtd_single_frame.method import SGTD_SINGLE

    torch.manual_seed(0)
    model = SGTD_SINGLE.build(SGTD_SINGLE.model_args({"width": 0.25})).eval()
    x = torch.randn(2, 3, 32, 32)
    face = torch.zeros(2, 32, 32)
    face[0, 8:24, 4:20] = 0.5  # depth map of a face left of centre; the second has none
    with torch.no_grad():
        depth = model(x)[:, 0]  # [2, 4, 4]: every 8x8 block of the input is one output cell
        scores, _ = SGTD_SINGLE.score(model, x, on_output_grid(face, (4, 4)), score_mask, 1.3)
    if score_mask == "label":
        cells = torch.zeros(4, 4, dtype=torch.bool)
        cells[1:3, 0:3] = True  # the blocks the map touches
        expected0 = torch.sigmoid(2 * depth[0][cells].mean() - 1)
        assert scores[0] == pytest.approx(float(expected0), abs=1e-6)
        assert scores[1] == 0.0  # an empty mask scores as an attack (NaN guarded)
    else:
        box = box_mask(4, 1.3).bool()
        for i in range(2):
            assert scores[i] == pytest.approx(float(torch.sigmoid(2 * depth[i][box].mean() - 1)), abs=1e-6)


# ----------------------------------------------------------------------------- fast forward paths
def _with_running_statistics(net: torch.nn.Module) -> torch.nn.Module:
    """Non-trivial BatchNorm statistics and offsets, so that eval-mode folding has something to fold."""
    gen = torch.Generator().manual_seed(11)
    for m in net.modules():
        if isinstance(m, SlimBatchNorm2d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=gen) - 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) * 4 + 1)
            m.bias.data.copy_(torch.rand(m.num_features, generator=gen) - 0.5)
    return net


@pytest.mark.parametrize("paper_order", [False, True])
def test_fast_forward_equals_literal_with_gradients(paper_order: bool) -> None:
    torch.manual_seed(12)
    fast = _with_running_statistics(FaceMapNet(paper_order=paper_order, width=0.25))
    literal = set_literal(copy.deepcopy(fast), True)
    assert literal.literal and all(b.literal for b in literal.modules() if isinstance(b, RSGB))
    assert list(fast.state_dict()) == list(literal.state_dict())  # same keys: checkpoints are shared
    x = torch.rand(2, 3, 32, 32) - 0.5
    for mode in (False, True):  # eval: BatchNorms folded on the fly; train: batch statistics
        fast.train(mode)
        literal.train(mode)
        a, b = fast(x), literal(x)
        scale = max(1.0, b.abs().max().item())
        assert (a - b).abs().max().item() <= 1e-4 * scale, mode
        ga = torch.autograd.grad(a.square().sum(), list(fast.parameters()))
        gb = torch.autograd.grad(b.square().sum(), list(literal.parameters()))
        for (name, _), u, v in zip(fast.named_parameters(), ga, gb, strict=True):
            assert torch.allclose(u, v, atol=1e-3 * max(1.0, v.abs().max().item())), (mode, name)


def test_fast_path_layout_and_running_statistics() -> None:
    """Channels-last only without gradients; training updates the running statistics as the literal form."""
    torch.manual_seed(13)
    fast = FaceMapNet(width=0.25)
    literal = set_literal(copy.deepcopy(fast), True)
    x = torch.rand(1, 3, 32, 32) - 0.5
    with torch.no_grad():
        _, feats = fast.eval()(x, return_features=True)
        _, lit_feats = literal.eval()(x, return_features=True)
    assert all(f.is_contiguous(memory_format=torch.channels_last) and not f.is_contiguous() for f in feats)
    assert all(f.is_contiguous() for f in lit_feats)
    _, feats = fast.train()(x, return_features=True)
    literal.train()(x)
    assert all(f.is_contiguous() for f in feats)
    for a, b in zip(fast.modules(), literal.modules(), strict=True):
        if isinstance(a, SlimBatchNorm2d):
            assert torch.allclose(a.running_mean, b.running_mean, atol=1e-6)
            assert torch.allclose(a.running_var, b.running_var, atol=1e-5)
            assert a.num_batches_tracked.item() == b.num_batches_tracked.item() == 1


def test_build_facemapnet_literal_switch() -> None:
    cfg = {"paper_order": False, "bn_momentum": 0.001, "bn_eps": 1e-3, "width": 0.25}
    assert not build_facemapnet(cfg).literal
    assert build_facemapnet(dict(cfg, literal=True)).rgc1_1.literal
