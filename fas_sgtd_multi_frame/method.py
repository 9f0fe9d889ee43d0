"""The FAS-SGTD multi-frame network as a method: frozen FaceMapNet + STPM (OFFB, ConvGRU), fusion, classifier.

Paper: Wang et al., CVPR 2020, Sec. 3.2-3.3; docs/methods/fas_sgtd.md. Inputs are clips
``[N, T, 3, S, S]``: T frames ``clip_interval`` apart, all cut with the box of the first frame.
Score: ``sigmoid(1.2 d + 0.8 p_live - 1)``, ``d`` the mean fused depth over the face of the
first frame (rules ``label`` / ``box`` as the single-frame network's).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from fas_core.method import TEST_CROP_SCALE, Method, depth_size_of
from fas_sgtd_single_frame.convert_tf import convert_arrays, read_variables
from fas_sgtd_single_frame.method import MEAN, PAPER_ARGS, SCORE_RULES, STD, face_mask
from fas_sgtd_single_frame.method import legacy as single_legacy
from fas_sgtd_single_frame.model import FaceMapNet

from . import convert_tf
from .model import FASSGTDMultiFrame, TemporalHead, multi_frame_score

DEFAULT_ARGS: dict[str, Any] = {**PAPER_ARGS, "beta": 0.4, "gru_recurrent": True, "legacy_double_softmax": False,
                                "input_size": 256}
RELEASED_ARGS = {**DEFAULT_ARGS, "gru_recurrent": False, "legacy_double_softmax": True}


def build(args: Mapping[str, Any]) -> FASSGTDMultiFrame:
    """The frozen single-frame network and the trained head (weights not loaded)."""
    width = float(args["width"])
    single = FaceMapNet(paper_order=bool(args["paper_order"]), bn_eps=float(args["bn_eps"]), width=width)
    head = TemporalHead(single.feature_channels, depth_size_of(int(args["input_size"])), width, float(args["beta"]),
                        bool(args["gru_recurrent"]), bool(args["legacy_double_softmax"]),
                        float(args["bn_momentum"]), float(args["bn_eps"]))
    return FASSGTDMultiFrame(single, head)


def score(model: nn.Module, inputs: torch.Tensor, face_map: torch.Tensor | None, rule: str,
          crop_scale: float = TEST_CROP_SCALE) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores ``[N]`` and mean fused depth maps ``[N, h, w]`` of normalised clips ``[N, T, 3, S, S]``."""
    if inputs.dim() != 5:
        raise ValueError(f"the multi-frame model scores clips [N, T, 3, S, S], got shape {tuple(inputs.shape)}")
    out = model(inputs)
    depth = out["fused"].mean(dim=1)  # [N, 1, h, w]
    mask = face_mask(depth, face_map, rule, crop_scale)
    return multi_frame_score(out["fused"], out["p_live"], mask), depth[:, 0]


def released_filter(arrays: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``(state_dict, model_args)`` of the released TensorFlow multi-frame model."""
    state, _ = convert_arrays(arrays, convert_tf.multi_frame_key, expected=build(RELEASED_ARGS).state_dict())
    return state, dict(RELEASED_ARGS)


def legacy(meta: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Model arguments and score rule of a first-format checkpoint."""
    config = meta.get("config") or {}
    model = config.get("model") or {}
    args, rule = single_legacy(meta)
    args.update({k: model.get(k, DEFAULT_ARGS[k]) for k in ("beta", "gru_recurrent", "legacy_double_softmax")})
    args["input_size"] = int(meta.get("input_size") or (config.get("data") or {}).get("image_size") or 256)
    return args, rule


SGTD_MULTI = Method(
    name="sgtd_multi", build=build, default_model_args=DEFAULT_ARGS, task="fas_sgtd_multi_frame.train:MultiFrameTask",
    mean=(MEAN,) * 3, std=(STD,) * 3, rgb=True, clip=True, score=score, score_rules=SCORE_RULES,
    read_released=read_variables, released_filter=released_filter, released_score_rule="label",
    released_input={"clip_frames": 5, "clip_interval": 3}, legacy=legacy,
    description="FAS-SGTD multi-frame network (OFFB + ConvGRU on the frozen single-frame network, CVPR 2020)")
