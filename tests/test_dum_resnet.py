"""ResNet18_u (the DUM paper's second backbone): parameter count from the original's layer list, outputs,
original state dicts, training and testing through dum.train / dum.test; released checkpoints scored
with the original rule."""

from __future__ import annotations

import re

import torch

from dum.method import RESNET18_U
from dum.resnet import ResNet18_u
from fas_core import checkpoint as ckpt
from fas_core.fuse import fuse_for_inference
from fas_core.methods import get_method, restore_released
from tests.test_dum_cli import common, run

torch.set_num_threads(1)


def conv(cin: int, cout: int, k: int = 3) -> int:
    return cin * cout * k * k  # no bias anywhere


def bn(c: int) -> int:
    return 2 * c  # weight and bias


def block(cin: int, cout: int, stride: int) -> int:
    """The original's ResidualBlock: conv-BN-ReLU-conv-BN, plus conv1x1-BN when the stride or width changes."""
    shortcut = conv(cin, cout, 1) + bn(cout) if stride != 1 or cin != cout else 0
    return conv(cin, cout) + bn(cout) + conv(cout, cout) + bn(cout) + shortcut


def original_count() -> int:
    """``DUM/models/ResNet_u.py``: conv1, layer1..4 (2 blocks; 64, 128, 196, 256; strides 1, 2, 2, 2),
    lastconv1 (128 + 196 + 256 -> 128), lastconv2 (128 -> 64), lastconv3 (64 -> 1, never called),
    mu_head and logvar_head (64 -> 1)."""
    n = conv(3, 64) + bn(64)
    n += block(64, 64, 1) + block(64, 64, 1)
    n += block(64, 128, 2) + block(128, 128, 1)
    n += block(128, 196, 2) + block(196, 196, 1)
    n += block(196, 256, 2) + block(256, 256, 1)
    n += conv(580, 128) + bn(128) + conv(128, 64) + bn(64)
    n += conv(64, 1)  # lastconv3
    n += 2 * conv(64, 1)  # mu_head, logvar_head
    return n


def test_parameter_count_is_the_originals_without_its_unused_lastconv3():
    assert original_count() == 4_983_256
    model = ResNet18_u()
    assert sum(p.numel() for p in model.parameters()) == 4_983_256 - 576 == 4_982_680


def test_outputs_mu_and_logvar_at_an_eighth_of_the_input():
    model = ResNet18_u().eval()
    with torch.no_grad():
        mu, logvar = model(torch.randn(2, 3, 256, 256))
    assert mu.shape == (2, 32, 32) and logvar.shape == (2, 32, 32)
    fused = fuse_for_inference(model)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(fused(x)[0], model(x)[0], atol=1e-4)


def test_an_original_state_dict_loads(tmp_path):
    """A DataParallel state dict of the original (``module.`` keys, its unused ``lastconv3``) loads by name."""
    torch.manual_seed(0)
    ours = ResNet18_u().state_dict()
    original = {f"module.{k}": torch.randn_like(v) if v.is_floating_point() else v for k, v in ours.items()}
    original["module.lastconv3.0.weight"] = torch.randn(1, 64, 3, 3)
    path = tmp_path / "resnet18_u.pkl"
    torch.save(original, path)
    restored = restore_released(path, "resnet18_u")
    assert restored.record.score_rule == "sum_mu_over_sum_map"
    assert torch.equal(restored.model.state_dict()["layer3.0.shortcut.0.weight"],
                       original["module.layer3.0.shortcut.0.weight"])
    assert get_method("resnet18_u") is RESNET18_U


def test_train_and_test_resnet18_u_through_the_dum_cli(fake_work, tmp_path):
    run_dir = tmp_path / "resnet"
    args = common(fake_work["root"], run_dir, **{"model.name": "resnet18_u", "train.max_iters": 2})
    out = run("dum.train", args).stdout
    assert "4,982,680 trainable parameters" in out
    saved = ckpt.load_file(run_dir / "last.pt")
    assert saved["method"] == "resnet18_u" and saved["model_args"] == {} and saved["step"] == 2
    run("dum.test", args)
    assert (run_dir / "test" / "metrics.json").is_file()


def test_released_checkpoint_is_scored_with_the_original_rule_unless_told(fake_work, tmp_path, capsys):
    """``dum.test --released CDCN_U_P1.pkl``: ``sum_mu_over_sum_map`` (said so) by default, ``eval.score`` wins."""
    from dum.test import main as test_main
    from tests.test_dum_model import released_state

    path = tmp_path / "CDCN_U_P1.pkl"
    torch.save(released_state(), path)
    lists = tmp_path / "lists" / "Protocol_1"  # one live and one attack video per split: 4 faces at 256x256
    lists.mkdir(parents=True)
    for split, user in (("Train", "01"), ("Dev", "21"), ("Test", "36")):
        session = 3 if split == "Test" else 1
        (lists / f"{split}.txt").write_text(f"+1,1_{session}_{user}_1\n-1,1_{session}_{user}_2\n")
    base = common(fake_work["root"], tmp_path / "unused", **{"test.frames_per_video": 1, "test.depth_samples": 0,
                                                              "data.lists": lists.parent})
    test_main(base + ["--released", str(path), "--out", str(tmp_path / "default")])
    said = capsys.readouterr().out
    assert "scoring with eval.score=sum_mu_over_sum_map (the original code's rule)" in said
    assert ckpt.load_file(tmp_path / "default" / "converted.pt")["score_rule"] == "sum_mu_over_sum_map"

    test_main(base + ["--released", str(path), "--out", str(tmp_path / "masked"), "eval.score=masked_mean_mu"])
    said = capsys.readouterr().out
    assert re.search(r"scoring with eval.score=masked_mean_mu\s*$", said, re.MULTILINE)
    assert "original code's rule" not in said
    assert ckpt.load_file(tmp_path / "masked" / "converted.pt")["score_rule"] == "masked_mean_mu"
