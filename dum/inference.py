"""Inference interface of CDCN / CDCN++ / CDCN_u for ``fas_core.predict`` and the export tool.

See :mod:`fas_core.methods`: ``build_model(meta)``, ``score_faces(model, inputs)`` and
``load_released(path)`` (DUM's ``CDCN_U_P1.pkl``). Also the per-frame score rules that
``dum.test`` uses (cdcn_dum.md, "Test score per frame"):

* ``masked_mean_mu`` (default): mean of the predicted depth (``mu`` for CDCN_u) over the face,
  the face being the pixels where the frame's depth map is non-zero; the whole map when the
  frame has no depth map or an empty one;
* ``mean_mu``: mean over the whole map;
* ``sum_mu_over_sum_map``: the original ``sum(mu) / sum(depth map in 0..255)``. It divides by
  zero for an empty map; such frames get no score (NaN) and are left out of the video mean (a
  video with no scorable frame at all gets 0, the score of a flat map).

``score_faces`` (predict, export) applies the rule the checkpoint was tested with
(``eval.score`` of its config), masking with the built-in depth map of the face that the
predictor renders from the landmarks, so that its scores meet the stored dev threshold. The
exported graph has no landmarks and scores the whole map (``mean_mu``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fas_core import checkpoint as ckpt
from fas_core.methods import depth_on_grid

from .dataset import NORMALISATION
from .model import build_model as _build
from .model import depth_of

SCORE_MODES = ("masked_mean_mu", "mean_mu", "sum_mu_over_sum_map")
RELEASED_INPUT_SIZE = 256


def build_model(meta: Mapping[str, Any]) -> nn.Module:
    """The network of a checkpoint's ``meta`` (``meta["config"]["model"]``, else ``meta["method"]``), eval mode."""
    model_cfg = (meta.get("config") or {}).get("model") or {}
    name = model_cfg.get("name") or meta.get("method") or "cdcn_u"
    theta = float(model_cfg.get("theta", 0.7))
    model = _build(name, theta=theta).eval()
    model.score_mode = str(((meta.get("config") or {}).get("eval") or {}).get("score") or "masked_mean_mu")
    return model


def frame_scores(depth: torch.Tensor, depth_map: torch.Tensor | None = None, mode: str = "masked_mean_mu"
                 ) -> torch.Tensor:
    """Per-frame liveness scores ``[B]`` from predicted maps ``[B, h, w]`` and depth maps in [0, 1]."""
    if mode not in SCORE_MODES:
        raise ValueError(f"unknown score mode '{mode}'; valid: {', '.join(SCORE_MODES)}")
    flat = depth.flatten(1)
    if mode == "mean_mu" or depth_map is None:
        if mode == "sum_mu_over_sum_map":
            raise ValueError("score mode sum_mu_over_sum_map needs the frames' depth maps")
        return flat.mean(dim=1)
    dmap = depth_map.to(flat.dtype).flatten(1)
    if mode == "sum_mu_over_sum_map":
        denom = (dmap * 255.0).sum(dim=1)  # the original divides by the raw 0-255 map
        return torch.where(denom > 0, flat.sum(dim=1) / denom.clamp_min(1e-12), torch.full_like(denom, float("nan")))
    mask = (dmap > 0).to(flat.dtype)
    area = mask.sum(dim=1)
    masked = (flat * mask).sum(dim=1) / area.clamp_min(1.0)
    return torch.where(area > 0, masked, flat.mean(dim=1))


def score_faces(model: nn.Module, inputs: torch.Tensor, face_depth: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(scores [N], depth maps [N, h, w])`` for normalised face crops ``[N, 3, S, S]``.

    ``face_depth`` ``[N, S, S]``: each face's built-in depth map cropped like the input (the
    mask of ``masked_mean_mu``); the score rule is the model's ``score_mode`` (the checkpoint's
    ``eval.score``). Without ``face_depth`` the score is the whole-map mean.
    """
    depth = depth_of(model, inputs)
    if face_depth is None:
        return depth.flatten(1).mean(dim=1), depth
    dmap = depth_on_grid(face_depth, depth.shape[-2:])[:, 0]
    return frame_scores(depth, dmap, getattr(model, "score_mode", "masked_mean_mu")), depth


def released_meta(path: str | Path) -> dict[str, Any]:
    """Inference metadata of DUM's released CDCN_u checkpoint (trained at 256x256, crop scale 1.3)."""
    return {"method": "cdcn_u", "input_size": RELEASED_INPUT_SIZE, "normalisation": dict(NORMALISATION),
            "crop_scale": 1.3, "released": str(path),
            "config": {"model": {"name": "cdcn_u", "theta": 0.7}}}


def load_released(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``(state_dict, meta)`` of ``CDCN_U_P1.pkl``: a DataParallel ``state_dict`` (74 keys, ``module.``).

    Read with ``torch.load(weights_only=True)``; the ``module.`` prefix is stripped. Key names are
    already this project's (``dum.model.CDCN_u`` keeps the original names), so no mapping is needed;
    ``fas_core.checkpoint.load_weights`` reports any missing, unexpected or mis-shaped key by name.
    """
    raw = ckpt.load_file(path)
    try:
        state = ckpt.strip_prefix(ckpt.extract_state_dict(raw))
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from e
    return state, released_meta(path)
