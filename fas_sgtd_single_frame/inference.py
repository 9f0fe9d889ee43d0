"""Inference interface of the FAS-SGTD single-frame network (see fas_core/methods.py).

The score ``sigmoid(2d - 1)`` masks the predicted depth as ``test.py`` did when it chose the
dev threshold (``test.score_mask`` of the checkpoint's config): ``label``, the face's depth map
(the predictor passes the built-in map it renders from the landmarks); ``box``, the face box
inside the crop (the box scaled by the crop scale, 1.3). Without a depth map (the exported
graph) the box is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from fas_core.methods import depth_on_grid

from .model import box_mask, build_facemapnet, single_frame_score
from .train import DEFAULTS


def _model_cfg(meta: Mapping[str, Any]) -> dict[str, Any]:
    cfg = dict(DEFAULTS["model"])
    cfg.update((meta.get("config") or {}).get("model") or {})
    return cfg


def build_model(meta: Mapping[str, Any]) -> nn.Module:
    """FaceMapNet for a checkpoint's ``meta`` (architecture from ``meta['config']['model']``), eval mode."""
    model = build_facemapnet(_model_cfg(meta))
    model.crop_scale = float(meta.get("crop_scale") or 1.3)
    model.score_mask = score_mask_kind(meta)
    return model.eval()


def score_mask_kind(meta: Mapping[str, Any]) -> str:
    """``label`` or ``box``: the ``test.score_mask`` the checkpoint's dev threshold was chosen with."""
    return str(((meta.get("config") or {}).get("test") or {}).get("score_mask") or "label")


def face_mask(model: nn.Module, depth: torch.Tensor, face_depth: torch.Tensor | None) -> torch.Tensor:
    """The score's face mask on the output grid ``[N, 1, h, w]`` (see the module docstring)."""
    if face_depth is not None and getattr(model, "score_mask", "label") == "label":
        return (depth_on_grid(face_depth, depth.shape[-2:]) > 0).to(depth.dtype)
    return box_mask(depth.shape[-1], getattr(model, "crop_scale", 1.3), depth.device).expand_as(depth)


@torch.no_grad()
def score_faces(model: nn.Module, inputs: torch.Tensor, face_depth: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores ``[N]`` (higher = live) and depth maps ``[N, h, w]`` of normalised crops ``[N, 3, S, S]``.

    ``face_depth`` ``[N, S, S]``: the faces' built-in depth maps cropped like the input.
    """
    depth = model(inputs)
    return single_frame_score(depth, face_mask(model, depth, face_depth)), depth[:, 0]


def load_released(path: str) -> tuple[dict, dict]:
    """``(state_dict, meta)`` of an original TensorFlow single-frame checkpoint (or an .npz of its variables)."""
    from .convert_tf import load_released as convert

    return convert(path, stage="single")
