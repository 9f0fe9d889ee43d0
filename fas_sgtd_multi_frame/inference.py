"""Inference interface of the FAS-SGTD multi-frame network (see fas_core/methods.py).

Inputs are clips ``[N, T, 3, S, S]`` (``meta['clip']``: T frames ``interval`` apart, all cropped
with the box of the first frame). The score masks the fused depth as ``test.py`` did when it
chose the dev threshold (``test.score_mask``): the first frame's face depth map, which the
predictor renders from the landmarks (``label``), or the face box inside the crop (``box``, and
whenever no depth map is given, as in the exported graph).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from fas_sgtd_single_frame.inference import face_mask, score_mask_kind

from .model import build_multi_frame, multi_frame_score
from .train import DEFAULTS


def build_model(meta: Mapping[str, Any]) -> nn.Module:
    """The multi-frame network for a checkpoint's ``meta`` (weights not loaded), eval mode."""
    config = meta.get("config") or {}
    model_cfg = {**DEFAULTS["model"], **(config.get("model") or {})}
    size = int(meta.get("input_size") or (config.get("data") or {}).get("image_size") or 256)
    model = build_multi_frame(model_cfg, size)
    model.crop_scale = float(meta.get("crop_scale") or 1.3)
    model.score_mask = score_mask_kind(meta)
    return model.eval()


@torch.no_grad()
def score_faces(model: nn.Module, inputs: torch.Tensor, face_depth: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores ``[N]`` and mean fused depth maps ``[N, h, w]`` of normalised clips ``[N, T, 3, S, S]``.

    ``face_depth`` ``[N, S, S]``: the built-in depth map of each clip's face in its first frame.
    """
    if inputs.dim() != 5:
        raise ValueError(f"the multi-frame model scores clips [N, T, 3, S, S], got shape {tuple(inputs.shape)}")
    out = model(inputs)
    depth = out["fused"].mean(dim=1)  # [N, 1, h, w]
    mask = face_mask(model, depth, face_depth)
    return multi_frame_score(out["fused"], out["p_live"], mask), depth[:, 0]


def load_released(path: str) -> tuple[dict, dict]:
    """``(state_dict, meta)`` of the released TensorFlow model (or an .npz of its variables), converted."""
    from fas_sgtd_single_frame.convert_tf import load_released as convert

    return convert(path, stage="multi")
