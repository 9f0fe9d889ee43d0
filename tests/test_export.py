"""``python -m fas_core.export``: the ONNX file (CDC folded, BatchNorm fused) matches PyTorch within 1e-4.

Small inputs (32x32 crops, 4x4 depth maps) keep each export to about a second. BatchNorm
statistics come from a random batch and gamma/beta are random, so fusion is not trivially an
identity.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from fas_core import checkpoint as ckpt
from fas_core import export
from fas_core.inference.loading import LoadedModel, UsageError, load_model
from fas_core.methods import get_method

SIZE = 32
TOL = 1e-4


def build_first_format(method: str, meta: dict) -> torch.nn.Module:
    """The network of a checkpoint in the first format (everything under ``meta``), as the loader rebuilds it."""
    m = get_method(method)
    return m.build(m.legacy(meta)[0])


def make_checkpoint(path, method: str, threshold: float = 0.42):
    std = 255.0 if method.startswith("sgtd") else 128.0
    meta = {"method": method, "config": {}, "input_size": SIZE, "crop_scale": 1.3, "threshold": threshold,
            "normalisation": {"mean": [127.5] * 3, "std": [std] * 3, "rgb": True}}
    torch.manual_seed(0)
    model = build_first_format(method, meta)
    bns = [m for m in model.modules() if hasattr(m, "running_mean")]
    for bn in bns:
        bn.momentum = 1.0
    model.train()
    with torch.no_grad():
        model(torch.randn(4, 3, SIZE, SIZE))
    for bn in bns:
        bn.momentum = 0.1
        if getattr(bn, "weight", None) is not None:
            nn.init.uniform_(bn.weight, 0.8, 1.2)
        nn.init.uniform_(bn.bias, -0.1, 0.1)
    ckpt.save_checkpoint({"model": model.eval().state_dict(), "meta": meta}, path)
    return path


def onnx_ops(path) -> list[str]:
    return [n.op_type for n in onnx.load(str(path)).graph.node]


@pytest.mark.parametrize("method", ["cdcn_u", "cdcnpp", "sgtd_single"])
def test_onnx_matches_pytorch(method, tmp_path):
    torch.set_num_threads(1)
    loaded = load_model(make_checkpoint(tmp_path / f"{method}.pt", method))
    path = export.export_onnx(loaded, tmp_path / f"{method}.onnx")
    # a batch of 3 although the graph was traced with 1: the batch axis is dynamic
    x = torch.randn(3, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(5))
    ref_depth, ref_score = export.torch_outputs(loaded, x)
    depth, score = export.onnx_outputs(path, x.numpy())
    assert depth.shape == (3, SIZE // 8, SIZE // 8) and score.shape == (3,)
    assert np.abs(ref_depth).max() > 1e-3  # a non-trivial map, so the comparison means something
    np.testing.assert_allclose(depth, ref_depth, rtol=0, atol=TOL)
    np.testing.assert_allclose(score, ref_score, rtol=0, atol=TOL)
    ops = onnx_ops(path)
    assert "BatchNormalization" not in ops  # every BatchNorm went into a convolution
    meta = export.onnx_metadata(path)
    assert meta["method"] == method and meta["threshold"] == 0.42 and meta["input_size"] == [SIZE, SIZE]
    assert meta["normalisation"]["mean"] == [127.5] * 3 and meta["crop_scale"] == 1.3


def test_cdcn_graph_is_plain_convs(tmp_path, capsys):
    """CDCN has 13 CDC convs (conv1, 3 x 3 in the blocks, lastconv1..3): 13 plain Conv nodes, no BN, no Sub."""
    torch.set_num_threads(1)
    ck = make_checkpoint(tmp_path / "cdcn.pt", "cdcn")
    assert export.main(["--checkpoint", str(ck), "--onnx", str(tmp_path / "cdcn.onnx")]) == 0
    out = capsys.readouterr().out
    assert "onnxruntime vs PyTorch: max |diff|" in out and f"input [N, 3, {SIZE}, {SIZE}]" in out
    ops = onnx_ops(tmp_path / "cdcn.onnx")
    assert ops.count("Conv") == 13 and "BatchNormalization" not in ops
    # the literal CDC form would subtract a second (1x1) convolution from each: folded, there is none
    assert "Sub" not in ops


def test_released_checkpoint_exports_with_method(tmp_path, capsys):
    torch.set_num_threads(1)
    state = torch.load(make_checkpoint(tmp_path / "c.pt", "cdcn_u"), weights_only=True)["model"]
    released = tmp_path / "CDCN_U_P1.pkl"
    torch.save({f"module.{k}": v for k, v in state.items()}, released)
    out = tmp_path / "released.onnx"
    code = export.main(["--checkpoint", str(released), "--method", "cdcn_u", "--threshold", "0.3",
                        "--input-size", str(SIZE), "--onnx", str(out)])
    assert code == 0
    meta = export.onnx_metadata(out)
    assert meta["threshold"] == 0.3 and meta["input_size"] == [SIZE, SIZE] and meta["method"] == "cdcn_u"


def test_rsgb_fusion_is_exact():
    """Both BatchNorms of a residual spatial gradient block fold into its two convolutions."""
    from fas_sgtd_single_frame.model import RSGB

    torch.manual_seed(0)
    block = RSGB(4, 6)
    for bn in (block.bn, block.grad_bn):
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        nn.init.uniform_(bn.bias, -0.5, 0.5)
    block.eval()
    x = torch.randn(2, 4, 9, 9)
    with torch.no_grad():
        ref = block(x)
        assert export.fuse_gradient_blocks(block) == 1
        fused = block(x)
    assert isinstance(block.bn, nn.Identity) and isinstance(block.grad_bn, nn.Identity)
    assert torch.allclose(fused, ref, atol=1e-5) and ref.abs().max() > 0.1
    # the paper's order (1x1 conv before the Sobel magnitude) cannot be fused and is left alone
    assert export.fuse_gradient_blocks(RSGB(4, 6, paper_order=True).eval()) == 0


def test_traceable_sobel_equals_depthwise():
    from fas_core.layers import sobel_xy, sobel_xy_fixed_kernel

    x = torch.randn(2, 5, 7, 6)
    for a, b in zip(sobel_xy(x), sobel_xy_fixed_kernel(x), strict=True):
        assert torch.equal(a, b)


def test_multi_frame_model_is_refused():
    loaded = LoadedModel(model=nn.Identity(), meta={"method": "sgtd_multi", "clip": {"frames": 5, "interval": 3},
                                                    "input_size": SIZE, "normalisation": {}},
                         module=None, device=torch.device("cpu"), threshold=None, threshold_source="none", source="x")
    with pytest.raises(UsageError, match="scores clips"):
        export.exportable(loaded)
