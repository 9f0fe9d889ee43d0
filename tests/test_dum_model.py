"""CDCN / CDCN++ / CDCN_u: parameter counts, CDC folding, released-checkpoint loading, fusion."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from dum.method import CDCN_U, frame_scores
from dum.model import build_model, set_literal
from fas_core import checkpoint as ckpt
from fas_core.fuse import fuse_for_inference
from fas_core.layers import CDConv2d
from fas_core.methods import restore

torch.set_num_threads(1)


@pytest.mark.parametrize("name,count", [("cdcn", 2_245_016), ("cdcnpp", 2_257_352), ("cdcn_u", 2_245_592)])
def test_parameter_counts(name, count):
    model = build_model(name)
    assert sum(p.numel() for p in model.parameters()) == count


def test_output_is_32x32_for_256_input():
    model = build_model("cdcn_u").eval()
    with torch.no_grad():
        mu, logvar = model(torch.randn(1, 3, 256, 256))
    assert mu.shape == (1, 32, 32) and logvar.shape == (1, 32, 32)
    with torch.no_grad():
        assert build_model("cdcnpp").eval()(torch.randn(1, 3, 64, 64)).shape == (1, 8, 8)


def test_folded_cdc_equals_literal_two_conv_with_gradients():
    torch.manual_seed(0)
    folded = CDConv2d(5, 7, theta=0.7).double()
    literal = copy.deepcopy(folded)
    literal.literal = True
    x1 = torch.randn(2, 5, 9, 9, dtype=torch.float64, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_(True)
    y1, y2 = folded(x1), literal(x2)
    # The literal form written out once more: conv3x3(x, W) - theta * conv1x1(x, sum_k W).
    w = folded.conv.weight
    by_hand = F.conv2d(x1, w, padding=1) - 0.7 * F.conv2d(x1, w.sum(dim=(2, 3), keepdim=True))
    assert torch.allclose(y1, by_hand, atol=1e-12)
    assert torch.allclose(y1, y2, atol=1e-12)
    g = torch.randn_like(y1)
    (y1 * g).sum().backward()
    (y2 * g).sum().backward()
    assert torch.allclose(x1.grad, x2.grad, atol=1e-12)
    assert torch.allclose(folded.conv.weight.grad, literal.conv.weight.grad, atol=1e-12)


def test_whole_network_folded_equals_literal_with_gradients():
    torch.manual_seed(1)
    folded = build_model("cdcn_u").double().train()  # float64: train-mode BN on tiny maps amplifies rounding
    literal = set_literal(copy.deepcopy(folded), True)
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    mu1, lv1 = folded(x)
    mu2, lv2 = literal(x)
    assert torch.allclose(mu1, mu2, atol=1e-9) and torch.allclose(lv1, lv2, atol=1e-9)
    (mu1.square().sum() + lv1.sum()).backward()
    (mu2.square().sum() + lv2.sum()).backward()
    for (name, p1), p2 in zip(folded.named_parameters(), literal.parameters(), strict=True):
        assert torch.allclose(p1.grad, p2.grad, atol=1e-8 * max(1.0, p1.grad.abs().max().item())), name


def test_relus_in_place_only_in_the_folded_form():
    folded = build_model("cdcn_u")
    literal = set_literal(copy.deepcopy(folded), True)
    relus = [m for m in folded.modules() if isinstance(m, torch.nn.ReLU)]
    assert len(relus) == 12 and all(m.inplace for m in relus)  # conv1, 3 x 3 block units, lastconv1..2
    assert not any(m.inplace for m in literal.modules() if isinstance(m, torch.nn.ReLU))
    assert all(m.inplace for m in set_literal(literal, False).modules() if isinstance(m, torch.nn.ReLU))
    assert not any(m.inplace for m in build_model("cdcnpp", literal=True).modules() if isinstance(m, torch.nn.ReLU))


# ----------------------------------------------------------------------------- released checkpoint
def released_layout() -> dict[str, tuple[int, ...]]:
    """The 74 keys of CDCN_U_P1.pkl and their shapes, written from the spec (not from dum.model)."""
    convs = {"conv1.0": (64, 3)}
    for block, widths in (("Block1", (64, 128, 196, 128)), ("Block2", (128, 128, 196, 128)),
                          ("Block3", (128, 128, 196, 128))):
        for j, (cin, cout) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            convs[f"{block}.{3 * j}"] = (cout, cin)
    convs["lastconv1.0"] = (128, 384)
    convs["lastconv2.0"] = (64, 128)
    shapes: dict[str, tuple[int, ...]] = {}
    for prefix, (cout, cin) in convs.items():
        shapes[f"{prefix}.conv.weight"] = (cout, cin, 3, 3)
        seq, idx = prefix.rsplit(".", 1)
        bn = f"{seq}.{int(idx) + 1}"
        for stat in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{bn}.{stat}"] = (cout,)
        shapes[f"{bn}.num_batches_tracked"] = ()
    shapes["mu_head.0.weight"] = (1, 64, 3, 3)
    shapes["logvar_head.0.weight"] = (1, 64, 3, 3)
    return shapes


def released_state(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in released_layout().items():
        if key.endswith("num_batches_tracked"):
            t = torch.tensor(1000, dtype=torch.long)
        elif key.endswith("running_var"):
            t = torch.rand(shape, generator=g) + 0.5
        elif key.endswith("conv.weight") or key.endswith("0.weight") and "head" in key:
            t = torch.randn(shape, generator=g) * (2.0 / (shape[1] * 9)) ** 0.5
        else:
            t = torch.randn(shape, generator=g) * 0.1 + (1.0 if key.endswith(".weight") else 0.0)
        state[f"module.{key}"] = t
    return state


def reference_forward(s: dict[str, torch.Tensor], x: torch.Tensor, theta: float = 0.7) -> torch.Tensor:
    """CDCN_u's mu written out from the spec with the checkpoint tensors (literal CDC, eval BN)."""
    def unit(x, conv, bn):
        w = s[f"{conv}.conv.weight"]
        y = F.conv2d(x, w, padding=1) - theta * F.conv2d(x, w.sum(dim=(2, 3), keepdim=True))
        y = F.batch_norm(y, s[f"{bn}.running_mean"], s[f"{bn}.running_var"], s[f"{bn}.weight"], s[f"{bn}.bias"],
                         training=False, eps=1e-5)
        return F.relu(y)

    x = unit(x, "conv1.0", "conv1.1")
    feats = []
    for block in ("Block1", "Block2", "Block3"):
        for j in range(3):
            x = unit(x, f"{block}.{3 * j}", f"{block}.{3 * j + 1}")
        x = F.max_pool2d(x, 3, 2, 1)
        feats.append(x)
    size = feats[-1].shape[-2:]
    x = torch.cat([F.interpolate(f, size=size, mode="bilinear", align_corners=False) for f in feats], 1)
    x = unit(unit(x, "lastconv1.0", "lastconv1.1"), "lastconv2.0", "lastconv2.1")
    return F.conv2d(x, s["mu_head.0.weight"], padding=1).squeeze(1)


def test_released_layout_has_74_keys_and_the_parameter_count():
    layout = released_layout()
    assert len(layout) == 74
    n = sum(torch.Size(s).numel() for k, s in layout.items()
            if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))
    assert n == 2_245_592


def test_released_checkpoint_loads_and_matches_hand_built_model(tmp_path):
    state = released_state()
    path = tmp_path / "CDCN_U_P1.pkl"
    torch.save(state, path)  # DataParallel state_dict, as released
    restored = restore(path, "cdcn_u")
    assert restored.record.method == "cdcn_u" and restored.record.input.size == 256
    assert restored.record.score_rule == "sum_mu_over_sum_map"  # a release is scored with the original rule
    model = CDCN_U.build(restored.record.model_args)
    loaded, _ = CDCN_U.load_released(str(path))
    report = ckpt.load_weights(model, loaded)
    assert report == {"missing": [], "unexpected": [], "mis_shaped": []}
    model.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        mu, _ = model(x)
        expected = reference_forward(ckpt.strip_prefix(state), x)
        scores, depth = CDCN_U.score(model, x, None, "masked_mean_mu")
    assert torch.allclose(mu, expected, atol=1e-4 * expected.abs().max().item())
    assert torch.allclose(depth, mu) and torch.allclose(scores, mu.flatten(1).mean(1))


def test_mismatched_checkpoint_names_the_keys():
    state = released_state()
    state.pop("module.mu_head.0.weight")
    state["module.extra_head.0.weight"] = torch.zeros(1)
    state["module.lastconv2.0.conv.weight"] = torch.zeros(64, 128, 1, 1)
    with pytest.raises(ckpt.CheckpointMismatchError) as err:
        ckpt.load_weights(build_model("cdcn_u"), state)
    msg = str(err.value)
    assert "mu_head.0.weight" in msg and "extra_head.0.weight" in msg and "lastconv2.0.conv.weight" in msg


# ----------------------------------------------------------------------------- inference rewrites
@pytest.mark.parametrize("name", ["cdcn", "cdcnpp", "cdcn_u"])
def test_fused_model_equals_original(name):
    torch.manual_seed(2)
    model = build_model(name)
    for m in model.modules():  # non-trivial BatchNorm statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.3, 0.3)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    model.eval()
    fused = fuse_for_inference(model)
    assert not any(isinstance(m, (torch.nn.BatchNorm2d, CDConv2d)) for m in fused.modules())
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        a, b = model(x), fused(x)
    a, b = (a[0], b[0]) if isinstance(a, tuple) else (a, b)
    assert torch.allclose(a, b, atol=1e-5 * max(1.0, a.abs().max().item()))
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())  # the original is untouched


def test_frame_score_modes_by_hand():
    depth = torch.tensor([[[0.2, 0.4], [0.6, 0.8]], [[0.5, 0.5], [0.5, 0.5]]])
    dmap = torch.tensor([[[0.0, 1.0], [1.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]])
    masked = frame_scores(depth, dmap, "masked_mean_mu")
    assert torch.allclose(masked, torch.tensor([0.5, 0.5]))  # (0.4 + 0.6) / 2; empty map -> whole mean
    assert torch.allclose(frame_scores(depth, dmap, "mean_mu"), torch.tensor([0.5, 0.5]))
    ratio = frame_scores(depth, dmap, "sum_mu_over_sum_map")
    assert ratio[0].item() == pytest.approx(2.0 / 510.0) and torch.isnan(ratio[1])
