"""Inference interface of the FAS-SGTD multi-frame network (see fas_core/methods.py).

Inputs are clips ``[N, T, 3, S, S]`` (``meta['clip']``: T frames ``interval`` apart, all cropped
with the box of the first frame). Deployment has no depth label, so the face mask of the
score is the face box inside the crop; ``test.score_mask=box`` in ``test.py`` gives the
matching threshold.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from fas_sgtd_single_frame.model import box_mask

from .model import build_multi_frame, multi_frame_score
from .train import DEFAULTS


def build_model(meta: Mapping[str, Any]) -> nn.Module:
    """The multi-frame network for a checkpoint's ``meta`` (weights not loaded), eval mode."""
    config = meta.get("config") or {}
    model_cfg = {**DEFAULTS["model"], **(config.get("model") or {})}
    size = int(meta.get("input_size") or (config.get("data") or {}).get("image_size") or 256)
    model = build_multi_frame(model_cfg, size)
    model.crop_scale = float(meta.get("crop_scale") or 1.3)
    return model.eval()


@torch.no_grad()
def score_faces(model: nn.Module, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores ``[N]`` and mean fused depth maps ``[N, h, w]`` of normalised clips ``[N, T, 3, S, S]``."""
    if inputs.dim() != 5:
        raise ValueError(f"the multi-frame model scores clips [N, T, 3, S, S], got shape {tuple(inputs.shape)}")
    out = model(inputs)
    depth = out["fused"].mean(dim=1)  # [N, 1, h, w]
    mask = box_mask(depth.shape[-1], getattr(model, "crop_scale", 1.3), depth.device).expand_as(depth)
    return multi_frame_score(out["fused"], out["p_live"], mask), depth[:, 0]


def load_released(path: str) -> tuple[dict, dict]:
    """``(state_dict, meta)`` of the released TensorFlow model (or an .npz of its variables), converted."""
    from fas_sgtd_single_frame.convert_tf import load_released as convert

    return convert(path, stage="multi")
