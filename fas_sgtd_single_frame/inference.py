"""Inference interface of the FAS-SGTD single-frame network (see fas_core/methods.py).

Deployment has no depth label, so the face mask of the score ``sigmoid(2d - 1)`` is the face
box inside the crop (the box scaled by the crop scale, 1.3). ``test.py`` uses the depth-label
mask by default, as the original; ``test.score_mask=box`` gives the threshold that matches this
module exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

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
    return model.eval()


@torch.no_grad()
def score_faces(model: nn.Module, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores ``[N]`` (higher = live) and depth maps ``[N, h, w]`` of normalised crops ``[N, 3, S, S]``."""
    depth = model(inputs)
    mask = box_mask(depth.shape[-1], getattr(model, "crop_scale", 1.3), depth.device).expand_as(depth)
    return single_frame_score(depth, mask), depth[:, 0]


def load_released(path: str) -> tuple[dict, dict]:
    """``(state_dict, meta)`` of an original TensorFlow single-frame checkpoint (or an .npz of its variables)."""
    from .convert_tf import load_released as convert

    return convert(path, stage="single")
