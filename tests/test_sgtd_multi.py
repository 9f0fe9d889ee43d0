"""FAS-SGTD multi-frame: ConvGRU closed form, OFFB, score, loss, frozen weights, CLI (docs/methods/fas_sgtd.md)."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from conftest import DEFAULTS_ONLY

from fas_core import checkpoint as ckpt
from fas_core.config import AttrDict, materialise
from fas_core.layers import set_literal
from fas_sgtd_multi_frame.model import (
    OFFB,
    ConvGRU,
    ConvGRUCell,
    FASSGTDMultiFrame,
    TemporalHead,
    build_multi_frame,
    multi_frame_score,
    pairs_of,
)
from fas_sgtd_multi_frame.train import DEFAULTS, multi_frame_loss
from fas_sgtd_single_frame.model import FaceMapNet


def closed_form_first_step(cell: ConvGRUCell, x: torch.Tensor) -> torch.Tensor:
    """``h = (1 - sigmoid(W_u x + b_u)) * tanh(W_c x + b_c)`` from ``h = 0`` (only the x-channels matter)."""
    cin, f = x.shape[1], cell.filters
    w_u = cell.gates.weight[f:, :cin]  # gates = [r; u], inputs = [x, h]
    u = torch.sigmoid(F.conv2d(x, w_u, cell.gates.bias[f:], padding=1))
    c = torch.tanh(F.conv2d(x, cell.candidate.weight[:, :cin], cell.candidate.bias, padding=1))
    return (1 - u) * c


def test_convgru_non_recurrent_closed_form() -> None:
    torch.manual_seed(0)
    gru = ConvGRU(6, hidden=4, recurrent=False)
    assert torch.all(gru.cell_1.gates.bias == 1.0) and torch.all(gru.cell_1.candidate.bias == 0.0)
    seq = torch.randn(2, 4, 6, 5, 5)
    out = gru(seq)
    assert out.shape == (2, 4, 1, 5, 5)
    for t in range(4):
        x = seq[:, t]
        # with the initial biases (gates 1, candidate 0): (1 - sigmoid(W_u x + 1)) * tanh(W_c x)
        w_u = gru.cell_1.gates.weight[4:, :6]
        h1 = (1 - torch.sigmoid(F.conv2d(x, w_u, padding=1) + 1)) * torch.tanh(
            F.conv2d(x, gru.cell_1.candidate.weight[:, :6], padding=1))
        assert torch.allclose(h1, closed_form_first_step(gru.cell_1, x), atol=1e-6)
        assert torch.allclose(out[:, t], closed_form_first_step(gru.cell_2, h1), atol=1e-6), f"step {t}"
    rec = ConvGRU(6, hidden=4, recurrent=True)
    rec.load_state_dict(gru.state_dict())
    out_r = rec(seq)
    assert torch.allclose(out_r[:, 0], out[:, 0], atol=1e-6)  # the first step starts from h = 0 as well
    assert not torch.allclose(out_r[:, 1:], out[:, 1:], atol=1e-4)  # later steps carry the state


def test_convgru_cell_update_formula() -> None:
    torch.manual_seed(1)
    cell = ConvGRUCell(3, 2)
    x, h = torch.randn(1, 3, 4, 4), torch.randn(1, 2, 4, 4)
    y = cell.gates(torch.cat([x, h], 1))
    r, u = torch.sigmoid(y[:, :2]), torch.sigmoid(y[:, 2:])
    c = torch.tanh(cell.candidate(torch.cat([x, r * h], 1)))
    assert torch.allclose(cell(x, h), u * h + (1 - u) * c, atol=1e-6)


def test_offb_shapes_and_temporal_gradient() -> None:
    torch.manual_seed(0)
    block = OFFB(8, reduced=4).eval()
    feats = torch.randn(2, 5, 8, 8, 8)
    assert block(feats).shape == (2, 4, 8, 4, 4)
    assert block.fuse.in_channels == 8 + 5 * 4  # 128 + 5 * 32 = 288 at full width
    # a static clip has no temporal gradient: every pair sees the same input, so the same output
    static = feats[:, :1].expand(2, 5, 8, 8, 8).contiguous()
    out = block(static)
    assert torch.allclose(out[:, 0], out[:, 3], atol=1e-6)
    # samples never mix: each clip's output depends on that clip only (any batch size)
    assert torch.allclose(block(feats[1:]), block(feats)[1:], atol=1e-5)


def test_parameter_counts() -> None:
    head = TemporalHead(128, 32)
    # OFFB 3 x 336,064; cascade 738,048; ConvGRU 331,968 + 1,758; FC 65,600 + 130
    assert sum(p.numel() for p in head.parameters()) == 2_145_696
    assert sum(p.numel() for p in head.stpm.gru.parameters()) == 331_968 + 1_758
    assert len(head.regularised_weights()) == 3 * 2 + 3 + 2  # no GRU kernels


def test_score_and_double_softmax() -> None:
    fused = torch.full((2, 4, 1, 2, 2), 0.5)
    p = torch.tensor([0.9, 0.1])
    mask = torch.ones(2, 1, 2, 2)
    mask[1] = 0  # empty mask: NaN -> 0
    s = multi_frame_score(fused, p, mask)
    d, pl = 0.5, 0.9  # the original: softmax([0.2 d + 0.8 p, 1 - d])[0]
    ref = math.exp(0.2 * d + 0.8 * pl) / (math.exp(0.2 * d + 0.8 * pl) + math.exp(1 - d))
    assert s[0].item() == pytest.approx(ref, rel=1e-6) and s[1].item() == 0.0
    torch.manual_seed(0)
    head = TemporalHead(8, 4, width=0.125, legacy_double_softmax=True)
    depth = torch.rand(3, 5, 1, 4, 4)
    feats = [torch.randn(3, 5, 8, 32, 32), torch.randn(3, 5, 8, 16, 16), torch.randn(3, 5, 8, 8, 8)]
    out = head.eval()(depth, feats)
    assert torch.allclose(out["logits"].sum(1), torch.ones(3))  # already probabilities
    assert torch.allclose(out["p_live"], out["logits"][:, 0])
    head.legacy_double_softmax = False
    out = head(depth, feats)
    assert torch.allclose(out["p_live"], torch.softmax(out["logits"], 1)[:, 0])
    # fusion: 0.6 * GRU + 0.4 * single
    assert torch.allclose(out["fused"], 0.6 * out["gru"] + 0.4 * depth[:, :4], atol=1e-6)


def test_loss_terms() -> None:
    cfg = AttrDict(materialise(DEFAULTS)["loss"])
    fused = torch.zeros(2, 4, 1, 4, 4, requires_grad=True)
    target = torch.zeros(2, 5, 1, 4, 4)
    target[0, :, :, 1:3, 1:3] = 1.0  # live clip: a square bump; attack: zeros
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    out = {"fused": fused, "logits": logits}
    batch = {"depth": target, "label": torch.tensor([1, 0])}
    loss, logs = multi_frame_loss(out, batch, cfg)
    mse = (4 / 32) * 1.0  # per map: 4 ones among 2 x 16 values
    contrast_per_map = F.mse_loss(torch.zeros(2, 8, 4, 4), _contrast(target[:, 0]))
    l_depth = 4 * (mse + contrast_per_map.item()) / 5
    ce = -math.log(math.exp(2) / (math.exp(2) + 1))
    assert logs["depth"] == pytest.approx(l_depth, rel=1e-5)
    assert logs["ce"] == pytest.approx(ce, rel=1e-5) and logs["acc"] == 1.0
    assert loss.item() == pytest.approx(0.2 * l_depth + 0.8 * ce, rel=1e-5)


def _contrast(x: torch.Tensor) -> torch.Tensor:
    from fas_core.losses import contrast_depth

    return contrast_depth(x, padding=1)


def test_frozen_single_frame_in_training_mode() -> None:
    torch.manual_seed(0)
    cfg = AttrDict(dict(materialise(DEFAULTS)["model"], width=0.125))
    model = build_multi_frame(cfg, 32)
    assert isinstance(model, FASSGTDMultiFrame) and isinstance(model.single, FaceMapNet)
    before = {k: v.clone() for k, v in model.single.state_dict().items()}
    opt = torch.optim.Adadelta(model.head.parameters(), lr=1.0)
    model.train()
    assert not model.single.training and model.head.training
    for _ in range(2):
        out = model(torch.randn(2, 5, 3, 32, 32))
        loss = out["fused"].pow(2).mean() + out["logits"].sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = model.single.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights and BN statistics
    assert not any(p.requires_grad for p in model.single.parameters())


def test_cli_train_and_test_both_stages(fake_work, tmp_path, capsys) -> None:
    from fas_sgtd_multi_frame import test as multi_test
    from fas_sgtd_multi_frame import train as multi_train
    from fas_sgtd_single_frame import train as single_train

    common = ["--config", DEFAULTS_ONLY, f"data.work={fake_work['root']}", "data.input_size=32", "model.width=0.25",
              "train.threads=1",
              "train.log_every=1", "data.per_live=2", "data.per_attack=1"]
    single_run = tmp_path / "single"
    single_train.main(common + [f"train.run_dir={single_run}", "train.batch_size=4", "train.max_iters=2",
                                "model.bn_momentum=0.1"])
    single_ckpt = single_run / "best.pt"
    run = tmp_path / "multi"
    args = common + [f"model.single_checkpoint={single_ckpt}", f"train.run_dir={run}", "train.batch_size=3",
                     "train.max_iters=3", "data.clip_frames=3", "data.clip_interval=1", "train.ckpt_every=1"]
    summary = multi_train.main(args)
    assert summary["step"] == 3
    trained = ckpt.load_file(run / "last.pt")["model"]
    single = ckpt.load_file(single_ckpt)["model"]
    for k, v in single.items():  # the frozen network is exactly the single-frame checkpoint
        assert torch.equal(trained[f"single.{k}"], v), k
    fresh = build_multi_frame(AttrDict(dict(materialise(DEFAULTS)["model"], width=0.25)), 32).state_dict()
    assert not torch.equal(trained["head.fc_2.weight"], fresh["head.fc_2.weight"])
    saved = ckpt.load_file(run / "last.pt")
    assert (saved["input"]["clip_frames"], saved["input"]["clip_interval"]) == (3, 1)
    assert saved["method"] == "sgtd_multi"
    figures = multi_test.main(args + [f"model.single_checkpoint={tmp_path / 'absent.pt'}"])  # not needed to test
    assert (run / "test" / "metrics.json").is_file() and 0.0 <= figures["ACER"] <= 1.0
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:  # a user error: one line, exit status 2
        multi_train.main(args + [f"model.single_checkpoint={tmp_path / 'absent.pt'}",
                                 f"train.run_dir={tmp_path / 'other'}"])
    assert e.value.code == 2 and "single-frame checkpoint not found" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        multi_train.main(args + ["model.width=0.5", f"train.run_dir={tmp_path / 'other2'}"])
    assert e.value.code == 2 and "model.width" in capsys.readouterr().err


# ----------------------------------------------------------------------------- fast forward paths
def test_pairs_of_takes_first_and_second_frames_in_any_layout() -> None:
    seq = torch.arange(2 * 5 * 3 * 2 * 2, dtype=torch.float32).view(2, 5, 3, 2, 2)
    frames_last = seq.flatten(0, 1).contiguous(memory_format=torch.channels_last).unflatten(0, (2, 5))
    for s in (seq, frames_last):
        first, second = pairs_of(s, 0), pairs_of(s, 1)
        assert first.shape == second.shape == (8, 3, 2, 2)
        assert torch.equal(first[5], seq[1, 1]) and torch.equal(second[5], seq[1, 2])  # clip 1, pair 1
    assert pairs_of(frames_last, 1).is_contiguous(memory_format=torch.channels_last)


def test_fast_multi_frame_equals_literal_with_gradients() -> None:
    """Default forward (split OFFB convolution, batched channels-last frozen network) against the literal one."""
    torch.manual_seed(14)
    fast = build_multi_frame(AttrDict(dict(materialise(DEFAULTS)["model"], width=0.25)), 32)
    literal = set_literal(copy.deepcopy(fast), True)
    assert all(m.literal for m in literal.modules() if isinstance(m, OFFB))
    clip = torch.rand(2, 5, 3, 32, 32) - 0.5
    for mode in (False, True):
        fast.train(mode)
        literal.train(mode)
        a, b = fast(clip), literal(clip)
        for key in ("fused", "gru", "logits", "p_live", "single_depth"):
            assert torch.allclose(a[key], b[key], atol=1e-4 * max(1.0, b[key].abs().max().item())), (mode, key)
        ga = torch.autograd.grad(a["fused"].square().sum() + a["logits"][:, 0].sum(), list(fast.head.parameters()))
        gb = torch.autograd.grad(b["fused"].square().sum() + b["logits"][:, 0].sum(),
                                 list(literal.head.parameters()))
        for (name, _), u, v in zip(fast.head.named_parameters(), ga, gb, strict=True):
            assert torch.allclose(u, v, atol=1e-3 * max(1.0, v.abs().max().item())), (mode, name)


def test_offb_split_convolution_equals_the_concatenation() -> None:
    """The 3x3 convolution split by input channels, on features that need no gradient, in both layouts."""
    torch.manual_seed(15)
    block = OFFB(6, reduced=3)
    literal = copy.deepcopy(block)
    literal.literal = True
    feats = torch.randn(2, 5, 6, 8, 8)
    frames_last = feats.flatten(0, 1).contiguous(memory_format=torch.channels_last).unflatten(0, (2, 5))
    with torch.no_grad():
        ref = literal.eval()(feats)
        for f in (feats, frames_last):
            assert torch.allclose(block.eval()(f), ref, atol=1e-5)
    ga = torch.autograd.grad(block.train()(frames_last).square().sum(), list(block.parameters()))
    gb = torch.autograd.grad(literal.train()(feats).square().sum(), list(literal.parameters()))
    for u, v in zip(ga, gb, strict=True):
        assert torch.allclose(u, v, atol=1e-3 * max(1.0, v.abs().max().item()))
