"""CDCN, CDCN++, CDCN_u and ResNet18_u as methods: network, input, score rules, released weights (docs/methods/dum.md).

Imports only the model, so predict and export load no training code.

Score rules (per frame; a video's score is the mean over its frames):

* ``masked_mean_mu`` (default): mean of the predicted depth (``mu`` for CDCN_u) over the face,
  the face being where the face map is non-zero; the whole map when the map is empty;
* ``mean_mu``: mean over the whole map;
* ``sum_mu_over_sum_map``: the original code's ``sum(mu) / sum(depth map in 0..255)``. It
  divides by zero for an empty map: such frames get no score (NaN) and are left out of the
  video's mean. The released ``CDCN_U_P1.pkl`` is scored with it by default.

Without a face map (the exported graph) every rule scores the whole map.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from fas_core import checkpoint as ckpt
from fas_core.method import TEST_CROP_SCALE, Method

from .model import CDCN as CDCNNet
from .model import CDCN_u as CDCNUNet
from .model import CDCNpp as CDCNppNet
from .model import depth_of
from .resnet import ResNet18_u as ResNet18UNet

SCORE_RULES = ("masked_mean_mu", "mean_mu", "sum_mu_over_sum_map")
MEAN, STD = 127.5, 128.0  # (x - 127.5) / 128 on RGB


def frame_scores(depth: torch.Tensor, face_map: torch.Tensor | None = None, rule: str = "masked_mean_mu"
                 ) -> torch.Tensor:
    """Per-frame liveness scores ``[B]`` from predicted maps ``[B, h, w]`` and face maps in [0, 1]."""
    if rule not in SCORE_RULES:
        raise ValueError(f"unknown score rule '{rule}'; valid: {', '.join(SCORE_RULES)}")
    flat = depth.flatten(1)
    if rule == "mean_mu" or face_map is None:
        return flat.mean(dim=1)
    dmap = face_map.to(flat.dtype).flatten(1)
    if rule == "sum_mu_over_sum_map":
        denom = (dmap * 255.0).sum(dim=1)  # the original divides by the raw 0-255 map
        return torch.where(denom > 0, flat.sum(dim=1) / denom.clamp_min(1e-12), torch.full_like(denom, float("nan")))
    mask = (dmap > 0).to(flat.dtype)
    area = mask.sum(dim=1)
    masked = (flat * mask).sum(dim=1) / area.clamp_min(1.0)
    return torch.where(area > 0, masked, flat.mean(dim=1))


def score(model: nn.Module, inputs: torch.Tensor, face_map: torch.Tensor | None, rule: str,
          crop_scale: float = TEST_CROP_SCALE) -> tuple[torch.Tensor, torch.Tensor]:
    """``(scores [N], depth maps [N, h, w])`` of normalised face crops ``[N, 3, S, S]`` (crop scale unused)."""
    depth = depth_of(model, inputs)
    return frame_scores(depth, face_map, rule), depth


def read_torch_release(path: str) -> Mapping[str, Any]:
    """An original release saved with ``torch.save`` (read with ``weights_only=True``)."""
    return ckpt.load_file(path)


def released_filter(raw: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``(state_dict, model_args)`` of an original release: a DataParallel ``state_dict`` (``module.`` keys).

    ``CDCN_U_P1.pkl`` has 74 keys; the names are this project's already (``dum.model`` keeps the
    original's), so only the prefix goes. Its theta is the paper's 0.7.
    """
    return ckpt.strip_prefix(ckpt.extract_state_dict(raw)), {"theta": 0.7}


def resnet_released_filter(raw: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """An original ResNet18_u state dict: ``module.`` goes, and so does the ``lastconv3`` it defines but never uses."""
    state = ckpt.strip_prefix(ckpt.extract_state_dict(raw))
    return {k: v for k, v in state.items() if not k.startswith("lastconv3.")}, {}


def legacy(meta: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Model arguments and score rule of a first-format checkpoint (``meta["config"]``)."""
    config = meta.get("config") or {}
    model = config.get("model") or {}
    rule = meta.get("score") or (config.get("eval") or {}).get("score") or SCORE_RULES[0]
    return {"theta": float(model.get("theta", 0.7))}, str(rule)


def _method(name: str, net: type[nn.Module], description: str) -> Method:
    return Method(name=name, build=lambda args: net(theta=float(args["theta"])), default_model_args={"theta": 0.7},
                  task="dum.train:DumTask", mean=(MEAN,) * 3, std=(STD,) * 3, rgb=True, score=score,
                  score_rules=SCORE_RULES, read_released=read_torch_release, released_filter=released_filter,
                  released_score_rule="sum_mu_over_sum_map", legacy=legacy, description=description)


CDCN = _method("cdcn", CDCNNet, "CDCN (Yu et al., CVPR 2020): central difference convolutions, depth supervision")
CDCNPP = _method("cdcnpp", CDCNppNet, "CDCN++ (Yu et al., CVPR 2020): the searched backbone with spatial attention")
CDCN_U = _method("cdcn_u", CDCNUNet, "CDCN_u (DSDG + DUM, TCSVT): CDCN with the depth uncertainty module")
RESNET18_U = Method(name="resnet18_u", build=lambda args: ResNet18UNet(), default_model_args={},
                    task="dum.train:DumTask", mean=(MEAN,) * 3, std=(STD,) * 3, rgb=True, score=score,
                    score_rules=SCORE_RULES, read_released=read_torch_release, released_filter=resnet_released_filter,
                    released_score_rule="sum_mu_over_sum_map",
                    description="ResNet18_u (DSDG + DUM, TCSVT): a ResNet-18 with the depth uncertainty module")
