"""ONNX export of the single-frame models (CDCN, CDCN++, CDCN_u, FAS-SGTD single-frame).

    python -m fas_core.export --checkpoint CKPT --onnx OUT.onnx
    python -m fas_core.export --checkpoint CDCN_U_P1.pkl --method cdcn_u --onnx cdcn_u.onnx

Before export the network is simplified for inference with :mod:`fas_core.fuse`: central
difference convolutions are folded into one plain 3x3 convolution each (docs/methods/dum.md, "Central
difference convolution"), every BatchNorm is fused into the convolution before it, and both
BatchNorms of FAS-SGTD's residual spatial gradient blocks into the block's two convolutions
(:func:`fuse_gradient_blocks`), so the ONNX graph holds only plain convolutions, ReLUs, pooling,
resizing, the Sobel filters and the score arithmetic.

The graph takes ``input``: normalised face crops ``[N, 3, H, W]`` (``N`` dynamic; H, W the
checkpoint's input size) and returns ``depth`` ``[N, h, w]`` and ``score`` ``[N]`` (higher = live),
exactly the method's score rule without a face map (DUM: the whole-map mean; FAS-SGTD: the face
box inside the crop). The checkpoint's inference metadata (method, input size,
normalisation, crop scale, dev threshold) is stored in the ONNX file's ``metadata_props`` as JSON
strings, so a runtime needs nothing else. After writing, the file is run in onnxruntime on a
random batch and compared with the PyTorch model (``--tolerance``, default 1e-4).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .errors import run_cli
from .fileio import check_writable_folder
from .fuse import fuse_gradient_blocks, fuse_model  # noqa: F401  (re-exported: the tools import both from here)
from .inference.loading import LoadedModel, UsageError, load_model, method_names

OPSET = 17
# Keys of the checkpoint meta copied into the ONNX metadata (JSON-encoded values).
META_KEYS = ("method", "input_size", "normalisation", "crop_scale", "threshold")


class ScoreGraph(nn.Module):
    """``x -> (depth [N, h, w], score [N])`` through a method's ``score_faces`` (the exported graph)."""

    def __init__(self, model: nn.Module, score_faces: Callable[[nn.Module, torch.Tensor], Any]) -> None:
        super().__init__()
        self.model = model
        self._score_faces = score_faces

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        score, depth = self._score_faces(self.model, x)
        return depth.reshape(x.shape[0], depth.shape[-2], depth.shape[-1]), score.reshape(x.shape[0])


def exportable(loaded: LoadedModel) -> nn.Module:
    """The fused (CDC folded, BN fused) scoring graph of a loaded single-frame model, in eval mode."""
    if loaded.clip is not None:
        raise UsageError(f"method '{loaded.method}' scores clips; ONNX export covers the single-frame models "
                         f"(cdcn, cdcnpp, cdcn_u, sgtd_single)")
    fused = fuse_model(loaded.model.cpu().float())
    return ScoreGraph(fused, lambda model, x: loaded.score_faces(x, model=model)).eval()


def export_onnx(loaded: LoadedModel, out: str | Path, input_size: tuple[int, int] | None = None,
                opset: int = OPSET) -> Path:
    """Write the ONNX file of ``loaded`` (batch axis dynamic); returns its path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    graph = exportable(loaded)
    h, w = input_size or loaded.input_hw
    dummy = torch.zeros(1, 3, h, w)
    tmp = out.with_name(f".{out.name}.tmp")
    with warnings.catch_warnings():
        # The TorchScript-based exporter is the one that needs no extra package (onnxscript).
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        torch.onnx.export(graph, (dummy,), str(tmp), dynamo=False, opset_version=opset, input_names=["input"],
                          output_names=["depth", "score"], do_constant_folding=True,
                          dynamic_axes={"input": {0: "batch"}, "depth": {0: "batch"}, "score": {0: "batch"}})
    _add_metadata(tmp, loaded, (h, w))
    tmp.replace(out)
    return out


def _add_metadata(path: Path, loaded: LoadedModel, hw: tuple[int, int]) -> None:
    import onnx

    model = onnx.load(str(path))
    meta = {k: loaded.meta.get(k) for k in META_KEYS}
    meta["input_size"] = list(hw)
    meta["crop_scale"] = loaded.crop_scale
    meta["threshold"] = loaded.threshold
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)
    model.producer_name = "fas_core.export"
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def onnx_metadata(path: str | Path) -> dict[str, Any]:
    """The inference metadata stored by :func:`export_onnx` (values decoded from JSON)."""
    import onnx

    model = onnx.load(str(path))
    return {p.key: json.loads(p.value) for p in model.metadata_props}


@torch.no_grad()
def torch_outputs(loaded: LoadedModel, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """``(depth, score)`` of the unfused PyTorch model on CPU: the reference the ONNX file must match."""
    model = loaded.model.cpu().float().eval()
    score, depth = loaded.score_faces(x, model=model)
    return depth.reshape(len(x), *depth.shape[-2:]).numpy(), score.reshape(len(x)).numpy()


def onnx_outputs(path: str | Path, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(depth, score)`` of the ONNX file run in onnxruntime on the CPU."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    depth, score = session.run(["depth", "score"], {"input": np.ascontiguousarray(x, dtype=np.float32)})
    return depth, score


def verify(loaded: LoadedModel, path: str | Path, input_size: tuple[int, int] | None = None, batch: int = 2,
           seed: int = 0) -> dict[str, float]:
    """Largest absolute differences ONNX vs PyTorch on a random batch (N(0, 1) inputs)."""
    h, w = input_size or loaded.input_hw
    x = torch.randn(batch, 3, h, w, generator=torch.Generator().manual_seed(seed))
    ref_depth, ref_score = torch_outputs(loaded, x)
    depth, score = onnx_outputs(path, x.numpy())
    return {"depth": float(np.max(np.abs(depth - ref_depth))), "score": float(np.max(np.abs(score - ref_score)))}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m fas_core.export",
        description="Export a single-frame model (cdcn, cdcnpp, cdcn_u, sgtd_single) to ONNX with CDC folded and "
                    "BatchNorm fused. Input 'input' [N, 3, H, W] (normalised crops), outputs 'depth' [N, h, w] "
                    "and 'score' [N]; inference metadata in the file's metadata_props.")
    p.add_argument("--checkpoint", required=True, help="checkpoint, or an original release with --method")
    p.add_argument("--onnx", required=True, metavar="OUT", help="ONNX file to write")
    p.add_argument("--method", choices=method_names(), default=None, help="method of a checkpoint without metadata")
    p.add_argument("--threshold", type=float, default=None, help="threshold to record (default: the checkpoint's)")
    p.add_argument("--input-size", type=int, nargs="+", default=None, metavar="S",
                   help="input H [W] (default: the checkpoint's input size)")
    p.add_argument("--opset", type=int, default=OPSET, help="ONNX opset version (default: %(default)s)")
    p.add_argument("--tolerance", type=float, default=1e-4,
                   help="largest allowed ONNX-PyTorch difference (default: %(default)s)")
    p.add_argument("--no-verify", action="store_true", help="skip the onnxruntime comparison")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Exit status 0, 1 when the ONNX file differs from PyTorch; a usage error exits 2 with one line."""
    return run_cli(_main, argv)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    size = None
    if args.input_size:
        if len(args.input_size) > 2 or any(s <= 0 or s % 8 for s in args.input_size):
            parser.error(f"--input-size takes H [W], positive multiples of 8; got {args.input_size}")
        size = (args.input_size[0], args.input_size[-1])
    check_writable_folder(Path(args.onnx).parent, "--onnx folder")
    loaded = load_model(args.checkpoint, method=args.method, threshold=args.threshold, device="cpu")
    path = export_onnx(loaded, args.onnx, input_size=size, opset=args.opset)
    h, w = size or loaded.input_hw
    print(f"wrote {path} ({loaded.method}, input [N, 3, {h}, {w}], {path.stat().st_size / 1e6:.1f} MB)")
    if args.no_verify:
        return 0
    diff = verify(loaded, path, (h, w))
    print(f"onnxruntime vs PyTorch: max |diff| depth {diff['depth']:.2e}, score {diff['score']:.2e}")
    if max(diff.values()) > args.tolerance:
        print(f"error: ONNX output differs from PyTorch by more than {args.tolerance:g}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
