"""DSDG networks and LightCNN-29 v2: parameter counts, state-dict layout, checkpoint loading (docs/methods/dsdg.md)."""

from __future__ import annotations

import math

import pytest
import torch

from dsdg.lightcnn import LightCNN29v2, identity_features, load_lightcnn, rgb_to_grey
from dsdg.model import (
    DSDG,
    Decoder,
    LiveEncoder,
    ResBlock,
    SpoofEncoder,
    TypeClassifier,
    count_parameters,
    reparameterize,
)
from fas_core.checkpoint import CheckpointMismatchError


@pytest.fixture(scope="module")
def lightcnn_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return LightCNN29v2().state_dict()


def test_parameter_counts_match_the_original() -> None:
    assert count_parameters(LiveEncoder(128)) == 11_692_640
    assert count_parameters(SpoofEncoder(128)) == 13_790_048
    assert count_parameters(Decoder(128)) == 19_887_494
    assert count_parameters(TypeClassifier(128, 4)) == 516
    assert count_parameters(LightCNN29v2()) == 10_475_872


def test_resblock_is_three_convs_and_matches_its_formula() -> None:
    torch.manual_seed(0)
    block = ResBlock(4, 6)
    # conv1 4->6 3x3, conv2 6->6 3x3, shortcut 1x1 4->6, no bias, no norm parameters
    assert count_parameters(block) == 4 * 6 * 9 + 6 * 6 * 9 + 4 * 6
    x = torch.randn(2, 4, 5, 5)
    inorm = torch.nn.functional.instance_norm
    lrelu = torch.nn.functional.leaky_relu
    h = lrelu(inorm(torch.conv2d(x, block.conv1.weight, padding=1), eps=1e-3), 0.2)
    want = lrelu(inorm(torch.conv2d(h, block.conv2.weight, padding=1) + torch.conv2d(x, block.shortcut.weight),
                       eps=1e-3), 0.2)
    torch.testing.assert_close(block(x), want)


def test_resblock_adds_the_shortcut_before_the_second_norm_as_the_original_code() -> None:
    """The original's ``relu2(bn2(conv2(out) + identity))``; adding after the norm would give other values."""
    torch.manual_seed(0)
    block = ResBlock(3, 3)  # identity shortcut
    x = torch.randn(1, 3, 6, 6) * 4.0 + 2.0  # far from zero mean / unit variance: the norm changes x a lot
    inorm = torch.nn.functional.instance_norm
    lrelu = torch.nn.functional.leaky_relu
    h = lrelu(inorm(torch.conv2d(x, block.conv1.weight, padding=1), eps=1e-3), 0.2)
    before = lrelu(inorm(torch.conv2d(h, block.conv2.weight, padding=1) + x, eps=1e-3), 0.2)
    after = lrelu(inorm(torch.conv2d(h, block.conv2.weight, padding=1), eps=1e-3) + x, 0.2)
    torch.testing.assert_close(block(x), before)
    assert float((block(x) - after).detach().abs().max()) > 0.5


def test_dsdg_forward_shapes_and_sampling() -> None:
    torch.manual_seed(0)
    model = DSDG(128, 4)
    x = torch.rand(1, 3, 256, 256)
    with torch.no_grad():
        out = model(x, x)
        pairs = model.sample(1, torch.Generator().manual_seed(0))
    assert out["rec"].shape == (1, 6, 256, 256)
    assert out["type_logits"].shape == (1, 4)
    for key in ("z_type", "z_spoof", "z_live", "mu_type", "logvar_live"):
        assert out[key].shape == (1, 128)
    assert pairs.shape == (1, 6, 256, 256)
    assert 0.0 <= float(pairs.min()) and float(pairs.max()) <= 1.0  # sigmoid output
    # reparameterisation: mu + eps * exp(logvar / 2); without sampling the latents are the means
    mu, logvar = torch.tensor([[1.0, -2.0]]), torch.tensor([[0.0, math.log(4.0)]])
    torch.manual_seed(3)
    eps = torch.randn(1, 2)
    torch.manual_seed(3)
    torch.testing.assert_close(reparameterize(mu, logvar), mu + eps * torch.tensor([[1.0, 2.0]]))
    assert torch.equal(reparameterize(mu, logvar, sample=False), mu)
    # one state dict holds all four networks
    prefixes = {k.split(".")[0] for k in model.state_dict()}
    assert prefixes == {"enc_live", "enc_spoof", "decoder", "classifier"}


def test_freeze_classifier_option() -> None:
    model = DSDG(128, 4, freeze_classifier=True)
    assert not any(p.requires_grad for p in model.classifier.parameters())
    assert all(p.requires_grad for p in model.decoder.parameters())


def test_lightcnn_state_dict_layout(lightcnn_state: dict[str, torch.Tensor]) -> None:
    keys = list(lightcnn_state)
    assert len(keys) == 60
    assert keys[:3] == ["conv1.filter.weight", "conv1.filter.bias", "block1.0.conv1.filter.weight"]
    assert "group1.conv_a.filter.weight" in keys and "block4.3.conv2.filter.bias" in keys
    assert keys[-2:] == ["fc.weight", "fc.bias"]
    assert tuple(lightcnn_state["conv1.filter.weight"].shape) == (96, 1, 5, 5)
    assert tuple(lightcnn_state["fc.weight"].shape) == (256, 8192)


def test_official_checkpoint_layout_loads(tmp_path, lightcnn_state: dict[str, torch.Tensor]) -> None:
    # The released file: {'state_dict': ...} of a DataParallel model, with the classifier fc2.
    official = {f"module.{k}": v.clone() for k, v in lightcnn_state.items()}
    official["module.fc2.weight"] = torch.randn(10, 256)
    path = tmp_path / "LightCNN_29Layers_V2_checkpoint.pth.tar"
    torch.save({"epoch": 1, "state_dict": official}, path)
    net = load_lightcnn(path)
    for k, v in net.state_dict().items():
        assert torch.equal(v, lightcnn_state[k]), k
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    reference = LightCNN29v2().eval()
    reference.load_state_dict(lightcnn_state)
    x = torch.rand(2, 1, 128, 128)
    with torch.no_grad():
        torch.testing.assert_close(net(x), reference(x))


def test_mismatched_checkpoint_is_an_error(tmp_path, lightcnn_state: dict[str, torch.Tensor]) -> None:
    wrong_prefix = {f"model.{k}": v for k, v in lightcnn_state.items()}
    torch.save({"state_dict": wrong_prefix}, tmp_path / "a.pth")
    with pytest.raises(CheckpointMismatchError, match="60 missing"):
        load_lightcnn(tmp_path / "a.pth")
    missing_one = {f"module.{k}": v for k, v in lightcnn_state.items() if k != "group2.conv.filter.bias"}
    torch.save({"state_dict": missing_one}, tmp_path / "b.pth")
    with pytest.raises(CheckpointMismatchError, match="group2.conv.filter.bias"):
        load_lightcnn(tmp_path / "b.pth")


def test_identity_features_grey_resize_normalise() -> None:
    x = torch.zeros(1, 3, 2, 2)
    x[:, 0], x[:, 1], x[:, 2] = 1.0, 0.5, 0.25
    torch.testing.assert_close(rgb_to_grey(x), torch.full((1, 1, 2, 2), 0.299 + 0.2935 + 0.0285))
    torch.manual_seed(0)
    net = LightCNN29v2().eval()
    for p in net.parameters():
        p.requires_grad_(False)
    img = torch.rand(2, 3, 256, 256, requires_grad=True)
    f = identity_features(net, img)
    torch.testing.assert_close(f.norm(dim=1), torch.ones(2))
    f.sum().backward()  # gradients reach the images through the frozen network
    assert img.grad is not None and float(img.grad.abs().sum()) > 0
