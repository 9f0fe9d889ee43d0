"""The FAS-SGTD single-frame network as a method: FaceMapNet, its input, score rules, released weights.

Paper: Wang et al., "Deep Spatial Gradient and Temporal Depth Learning for Face Anti-spoofing",
CVPR 2020, Sec. 3.1; docs/methods/fas_sgtd.md. Imports only the model and the TF converter's
name mapping (numpy), so predict and export load no training code.

Score (per frame): ``sigmoid(2d - 1)`` with ``d`` the mean predicted depth over the face. Rules:

* ``label`` (default, the original): the face is where the face map (the frame's depth map,
  or the one predict renders from the landmarks) is non-zero;
* ``box``: the face box inside the crop (the centred square of side ``size / crop_scale``), for
  use without depth maps. Without a face map (the exported graph) ``box`` is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from fas_core.method import TEST_CROP_SCALE, Method

from . import convert_tf
from .model import TF_BN_EPS, TF_BN_MOMENTUM, FaceMapNet, box_mask, single_frame_score

SCORE_RULES = ("label", "box")
MEAN, STD = 127.5, 255.0  # (x - 127.5) / 255 on RGB
PAPER_ARGS = {"paper_order": False, "bn_momentum": TF_BN_MOMENTUM, "bn_eps": TF_BN_EPS, "width": 1.0}


def build(args: Mapping[str, Any]) -> FaceMapNet:
    return FaceMapNet(paper_order=bool(args["paper_order"]), bn_momentum=float(args["bn_momentum"]),
                      bn_eps=float(args["bn_eps"]), width=float(args["width"]))


def face_mask(depth: torch.Tensor, face_map: torch.Tensor | None, rule: str,
              crop_scale: float = TEST_CROP_SCALE) -> torch.Tensor:
    """The score's face mask on the output grid ``[N, 1, h, w]`` (see the module docstring)."""
    if face_map is not None and rule == "label":
        return (face_map.reshape(depth.shape) > 0).to(depth.dtype)
    return box_mask(depth.shape[-1], crop_scale, depth.device).expand_as(depth)


def score(model: nn.Module, inputs: torch.Tensor, face_map: torch.Tensor | None, rule: str,
          crop_scale: float = TEST_CROP_SCALE) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores ``[N]`` (higher = live) and depth maps ``[N, h, w]`` of normalised crops ``[N, 3, S, S]``."""
    depth = model(inputs)
    return single_frame_score(depth, face_mask(depth, face_map, rule, crop_scale)), depth[:, 0]


def released_filter(arrays: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``(state_dict, model_args)`` of the original TensorFlow FaceMapNet variables."""
    state, _ = convert_tf.convert_arrays(arrays, convert_tf.single_frame_key, expected=build(PAPER_ARGS).state_dict())
    return state, dict(PAPER_ARGS)


def legacy(meta: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Model arguments and score rule of a first-format checkpoint."""
    config = meta.get("config") or {}
    model = config.get("model") or {}
    args = {k: model.get(k, v) for k, v in PAPER_ARGS.items()}
    return args, str((config.get("test") or {}).get("score_mask") or "label")


SGTD_SINGLE = Method(
    name="sgtd_single", build=build, default_model_args=PAPER_ARGS, task="fas_sgtd_single_frame.train:SingleFrameTask",
    mean=(MEAN,) * 3, std=(STD,) * 3, rgb=True, score=score, score_rules=SCORE_RULES,
    read_released=convert_tf.read_variables, released_filter=released_filter, released_score_rule="label",
    legacy=legacy, description="FAS-SGTD single-frame depth network (RSGB / FaceMapNet, CVPR 2020)")
