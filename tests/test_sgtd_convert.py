"""FAS-SGTD TF-checkpoint converter: name mapping on arrays named like the original graph's variables."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fas_sgtd_multi_frame.convert_tf import main, multi_frame_key
from fas_sgtd_multi_frame.method import RELEASED_ARGS, SGTD_MULTI
from fas_sgtd_single_frame.convert_tf import convert_arrays, single_frame_key
from fas_sgtd_single_frame.method import PAPER_ARGS, SGTD_SINGLE
from fas_sgtd_single_frame.model import FaceMapNet

RSGB = [("rgc_init", 3, 64)] + [
    (f"rgc{s}_{i}", cin, cout) for s in (1, 2, 3)
    for i, (cin, cout) in enumerate(((64 if s == 1 else 128, 128), (128, 192), (192, 128)), 1)]
RSGB += [("rgc4_1", 384, 128), ("rgc4_2", 128, 64)]


def tf_variables(rng: np.random.Generator, multi: bool = True, size: int = 256) -> dict[str, np.ndarray]:
    """Variables with the original scopes and TF layouts (kernels [kh, kw, in, out], FC [in, out])."""
    v: dict[str, np.ndarray] = {}

    def conv(scope: str, k: int, cin: int, cout: int) -> None:
        v[f"{scope}/weights"] = rng.normal(size=(k, k, cin, cout)).astype(np.float32)
        v[f"{scope}/biases"] = rng.normal(size=cout).astype(np.float32)

    def bn(scope: str, c: int) -> None:
        v[f"{scope}/beta"] = rng.normal(size=c).astype(np.float32)
        v[f"{scope}/moving_mean"] = rng.normal(size=c).astype(np.float32)
        v[f"{scope}/moving_variance"] = rng.uniform(0.5, 2, size=c).astype(np.float32)

    for name, cin, cout in RSGB:
        conv(f"FaceMapNet/{name}/conv", 3, cin, cout)
        conv(f"FaceMapNet/{name}/rgc_pw_gabor", 1, cin, cout)
        bn(f"FaceMapNet/{name}/gabor_bn", cout)
        bn(f"FaceMapNet/{name}/gn", cout)
    conv("FaceMapNet/conv4_3", 3, 64, 1)
    if not multi:
        return v
    for lvl in (1, 2, 3):
        conv(f"OFFNet/OFFNet_conv_{lvl}_off", 1, 128, 32)
        bn(f"OFFNet/OFFNet_bn_{lvl}_off", 32)
        conv(f"OFFNet/OFFNet_linear_{lvl}_off", 3, 288, 128)
    for i in (1, 2):
        conv(f"OFFNet/cascade_conv_{i}", 3, 256, 128)
        bn(f"OFFNet/cascade_bn_{i}", 128)
    conv("OFFNet/OFFNet_conv_4_1", 3, 128, 128)
    bn("OFFNet/OFFNet_bn_4_1", 128)
    for i, (cin, f) in ((1, (128, 64)), (2, (64, 1))):
        scope = f"ConvLSTMNet/cell_{i}/conv_gru_cell"
        v[f"{scope}/gates/kernel"] = rng.normal(size=(3, 3, cin + f, 2 * f)).astype(np.float32)
        v[f"{scope}/gates/bias"] = np.ones(2 * f, np.float32)
        v[f"{scope}/candidate/kernel"] = rng.normal(size=(3, 3, cin + f, f)).astype(np.float32)
        v[f"{scope}/candidate/bias"] = np.zeros(f, np.float32)
    n = (size // 8) ** 2
    v["SoftmaxNet/fc/fc_1/weights"] = rng.normal(size=(n, 64)).astype(np.float32)
    v["SoftmaxNet/fc/fc_1/biases"] = rng.normal(size=64).astype(np.float32)
    v["SoftmaxNet/fc/fc_2/weights"] = rng.normal(size=(64, 2)).astype(np.float32)
    v["SoftmaxNet/fc/fc_2/biases"] = rng.normal(size=2).astype(np.float32)
    # optimiser slots and the step, as the released checkpoint holds them
    v["global_step"] = np.array(9501)
    v["OFFNet/cascade_conv_1/weights/Adadelta"] = np.zeros((3, 3, 256, 128), np.float32)
    v["OFFNet/cascade_conv_1/weights/Adadelta_1"] = np.zeros((3, 3, 256, 128), np.float32)
    return v


def test_names() -> None:
    assert single_frame_key("FaceMapNet/rgc1_2/rgc_pw_gabor/weights:0")[0] == "rgc1_2.grad_conv.weight"
    assert multi_frame_key("FaceMapNet/rgc4_2/gn/moving_variance")[0] == "single.rgc4_2.bn.running_var"
    assert multi_frame_key("FaceMapNet/rgc_init/gabor_bn/beta")[0] == "single.rgc_init.grad_bn.bias"
    assert multi_frame_key("OFFNet/OFFNet_linear_2_off/weights")[0] == "head.stpm.off_2.fuse.weight"
    assert multi_frame_key("OFFNet/OFFNet_bn_4_1/beta")[0] == "head.stpm.bn_4_1.bias"
    assert multi_frame_key("ConvLSTMNet/cell_2/gates/kernel")[0] == "head.stpm.gru.cell_2.gates.weight"
    assert multi_frame_key("ConvLSTMNet/cell_1/rnn/conv_gru_cell/candidate/bias")[0] == \
        "head.stpm.gru.cell_1.candidate.bias"
    assert multi_frame_key("SoftmaxNet/fc/fc_1/weights")[0] == "head.fc_1.weight"
    assert single_frame_key("OFFNet/OFFNet_conv_1_off/weights") is None
    assert multi_frame_key("Something/else") is None


def test_convert_multi_frame_loads_strictly() -> None:
    rng = np.random.default_rng(0)
    arrays = tf_variables(rng)
    model = SGTD_MULTI.build(RELEASED_ARGS)
    assert not model.head.stpm.gru.recurrent and model.head.legacy_double_softmax
    state, report = convert_arrays(arrays, multi_frame_key, expected=model.state_dict())
    model.load_state_dict(state)  # strict: every key present, every shape right
    assert sorted(report["ignored"]) == ["OFFNet/cascade_conv_1/weights/Adadelta",
                                         "OFFNet/cascade_conv_1/weights/Adadelta_1", "global_step"]
    assert report["unmapped"] == []
    w = arrays["FaceMapNet/rgc1_2/conv/weights"]  # [kh, kw, in, out] -> [out, in, kh, kw]
    assert model.single.rgc1_2.conv.weight[5, 7, 0, 2].item() == w[0, 2, 7, 5]
    assert torch.equal(model.head.fc_1.weight, torch.from_numpy(arrays["SoftmaxNet/fc/fc_1/weights"].T))
    assert torch.equal(model.single.rgc3_3.bn.running_var,
                       torch.from_numpy(arrays["FaceMapNet/rgc3_3/gn/moving_variance"]))


def test_converted_conv_computes_tf_same_conv() -> None:
    """A TF NHWC 'SAME' 3x3 convolution, written out, equals the converted PyTorch conv."""
    rng = np.random.default_rng(1)
    arrays = tf_variables(rng, multi=False)
    state, _ = convert_arrays(arrays, single_frame_key)
    k, b = arrays["FaceMapNet/rgc_init/conv/weights"], arrays["FaceMapNet/rgc_init/conv/biases"]
    x = rng.normal(size=(5, 6, 3)).astype(np.float32)  # H, W, C
    pad = np.pad(x, ((1, 1), (1, 1), (0, 0)))
    tf_out = np.zeros((5, 6, 64), np.float32)
    for y in range(5):
        for xx in range(6):
            tf_out[y, xx] = np.einsum("abi,abio->o", pad[y:y + 3, xx:xx + 3], k) + b
    ours = F.conv2d(torch.from_numpy(x.transpose(2, 0, 1))[None], state["rgc_init.conv.weight"],
                    state["rgc_init.conv.bias"], padding=1)[0].numpy().transpose(1, 2, 0)
    assert np.allclose(ours, tf_out, atol=1e-4)


def test_missing_variable_is_named(tmp_path) -> None:
    arrays = tf_variables(np.random.default_rng(2), multi=False)
    del arrays["FaceMapNet/rgc2_1/gabor_bn/moving_mean"]
    with pytest.raises(ValueError, match="rgc2_1.grad_bn.running_mean"):
        convert_arrays(arrays, single_frame_key, expected=SGTD_SINGLE.build(PAPER_ARGS).state_dict())


def test_cli_from_npz(tmp_path) -> None:
    from fas_core.predict import load_model

    npz = tmp_path / "vars.npz"
    np.savez(npz, **tf_variables(np.random.default_rng(3)))
    out = tmp_path / "converted.pt"
    assert main([str(npz), "--out", str(out)]) == 0
    loaded = load_model(out)
    assert loaded.method == "sgtd_multi" and loaded.clip == (5, 3) and loaded.input_hw == (256, 256)
    assert main([str(tmp_path / "absent.npz"), "--out", str(out)]) == 2  # a user error


def test_original_graph_trainable_count_equals_ours() -> None:
    """The original FaceMapNet's trainable variables (slim conv weights and biases, BatchNorm beta:
    slim's batch_norm has no gamma by default; moving statistics are not trainable), as the
    released code defines them, hold 2,466,497 numbers, like this project's network."""
    v = tf_variables(np.random.default_rng(0), multi=False)
    trainable = {k: a for k, a in v.items() if not k.endswith(("moving_mean", "moving_variance"))}
    assert len(trainable) == 12 * 6 + 2  # 12 RSGBs x (conv w, b; 1x1 w, b; two betas) + conv4_3 w, b
    assert sum(a.size for a in trainable.values()) == 2_466_497
    ours = FaceMapNet()
    assert sum(p.numel() for p in ours.parameters() if p.requires_grad) == 2_466_497
    state, _ = convert_arrays(v, single_frame_key)
    assert sum(t.numel() for k, t in state.items() if not k.endswith(("running_mean", "running_var",
                                                                          "num_batches_tracked"))) == 2_466_497
