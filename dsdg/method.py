"""The DSDG generator as a method: its networks from explicit arguments, its input, its first-format record.

Paper: Wu et al., "Dual Spoof Disentanglement Generation for Face Anti-spoofing with Depth
Uncertainty Learning", IEEE TCSVT; docs/methods/dsdg.md. The generator scores no faces, so it
has no score rule: predict and export refuse it; ``dsdg.generate`` rebuilds it from a checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fas_core.method import Method

from .model import DSDG as DSDGNet
from .model import IMAGE_SIZE

DEFAULT_ARGS: dict[str, Any] = {"hdim": 128, "num_types": 4, "freeze_classifier": False}


def build(args: Mapping[str, Any]) -> DSDGNet:
    return DSDGNet(int(args["hdim"]), int(args["num_types"]), bool(args["freeze_classifier"]))


def legacy(meta: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Model arguments of a first-format generator checkpoint (``hdim`` and ``num_types`` in its meta)."""
    model = (meta.get("config") or {}).get("model") or {}
    return {"hdim": int(meta.get("hdim", model.get("hdim", 128))),
            "num_types": int(meta.get("num_types", model.get("num_types", 4))),
            "freeze_classifier": bool(model.get("freeze_classifier", False))}, None


DSDG = Method(name="dsdg", build=build, default_model_args=DEFAULT_ARGS, task="dsdg.train:DSDGTask",
              mean=(0.0, 0.0, 0.0), std=(255.0, 255.0, 255.0), rgb=True, paper_input_size=IMAGE_SIZE,
              legacy=legacy, description="DSDG dual spoof disentanglement generator (VAE, IEEE TCSVT)")
