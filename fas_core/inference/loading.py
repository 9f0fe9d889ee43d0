"""Checkpoint -> a network ready to score faces, with what its record says about inference.

Everything that reads a checkpoint or calls a method's score rule is here
(:func:`fas_core.methods.restore` rebuilds the network from the checkpoint's record), so the rest
of :mod:`fas_core.inference` and :mod:`fas_core.export` only see :class:`LoadedModel`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..crop import TEST_CROP_SCALE
from ..crop_cache import CropCacheSpec
from ..errors import UserError
from ..fuse import fuse_model
from ..method import Method, on_output_grid
from ..methods import Restored, restore
from ..methods import method_names as registered_methods


class UsageError(UserError, ValueError):
    """A problem with the command line or the checkpoint (exit status 2)."""


def method_names() -> list[str]:
    """The methods a checkpoint may name (``--method`` choices), sorted."""
    return registered_methods()


@dataclass
class LoadedModel:
    """A network ready to score faces, with everything its checkpoint says about inference."""

    model: nn.Module
    meta: dict[str, Any]  # the record's inference fields (see :func:`meta_view`)
    module: Method
    device: torch.device
    threshold: float | None
    threshold_source: str  # "checkpoint", "--threshold" or "none"
    source: str

    @property
    def method(self) -> str:
        return str(self.meta["method"])

    @property
    def clip(self) -> tuple[int, int] | None:
        """``(frames, interval)`` for the multi-frame model, ``None`` for single-frame models."""
        clip = self.meta.get("clip")
        if not clip:
            return None
        return int(clip["frames"]), int(clip.get("interval", 1))

    @property
    def input_hw(self) -> tuple[int, int]:
        return input_hw(self.meta)

    @property
    def crop_scale(self) -> float:
        return float(self.meta.get("crop_scale") or TEST_CROP_SCALE)

    @property
    def normalisation(self) -> Mapping[str, Any]:
        """``{"mean", "std", "rgb"}`` in 0-255 pixel units (:func:`fas_core.inference.preprocess.normalise`)."""
        return self.meta["normalisation"]

    @property
    def crop_cache(self) -> CropCacheSpec | None:
        """The offline crop cache the model was trained on (its inputs are made alike), else ``None``."""
        return CropCacheSpec.from_meta(self.meta.get("crop_cache"), self.crop_scale, f"checkpoint {self.source}")

    @property
    def checkpoint_threshold(self) -> float | None:
        """The dev threshold stored in the checkpoint (``threshold`` may be a command-line override)."""
        value = self.meta.get("threshold")
        return None if value is None else float(value)

    def describe(self) -> dict[str, Any]:
        """What a results file records about the model."""
        return {"method": self.method, "threshold": self.threshold, "threshold_source": self.threshold_source,
                "crop_scale": self.crop_scale, "input_size": list(self.input_hw), "clip": self.meta.get("clip")}

    def score_faces(self, inputs: torch.Tensor, face_depth: torch.Tensor | None = None,
                    model: nn.Module | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores ``[N]`` and depth maps of normalised inputs, by the method's rule; ``model`` defaults to ours.

        ``face_depth`` ``[N, S, S]`` is the built-in depth map of each face, the mask the method
        scores with as ``test.py`` did; it is averaged onto the output grid here. The exported
        graph goes without (each rule then falls back to a mask that needs no landmarks).
        """
        face_map = None
        if face_depth is not None:
            face_map = on_output_grid(face_depth, (int(self.meta["depth_size"]),) * 2).to(inputs.device)
        return self.module.score(self.model if model is None else model, inputs, face_map,
                                 str(self.meta["score_rule"]), self.crop_scale)


def input_hw(meta: Mapping[str, Any]) -> tuple[int, int]:
    """Model input ``(height, width)`` from ``meta["input_size"]`` (an int, or ``[h, w]``)."""
    size = meta.get("input_size")
    if size is None:
        raise UsageError("checkpoint metadata has no 'input_size'")
    if isinstance(size, (int, float)):
        return int(size), int(size)
    h, w = size
    return int(h), int(w)


def load_model(checkpoint: str | Path, method: str | None = None, threshold: float | None = None,
               device: str | torch.device = "cpu", fuse: bool = False) -> LoadedModel:
    """Rebuild and load the network of a checkpoint from its record; an original release needs ``method``.

    ``threshold`` overrides the checkpoint's dev threshold. ``fuse`` folds CDC and fuses BatchNorm
    into convolutions (:func:`fas_core.fuse.fuse_model`): the same function up to float rounding.
    """
    try:
        restored = restore(checkpoint, method)
        meta = meta_view(restored)
        CropCacheSpec.from_meta(meta.get("crop_cache"), source=f"checkpoint {checkpoint}")
    except (UserError, ValueError) as e:
        raise UsageError(str(e)) from None
    if restored.method.score is None:
        raise UsageError(f"{checkpoint} is a {restored.method.name} checkpoint: it scores no faces")
    model = restored.model.eval()
    if fuse:
        model = fuse_model(model)
    dev = torch.device(device) if not isinstance(device, torch.device) else device
    model.to(dev)
    thr, src = _threshold(meta, threshold)
    return LoadedModel(model=model, meta=meta, module=restored.method, device=dev, threshold=thr,
                       threshold_source=src, source=str(checkpoint))


def meta_view(restored: Restored) -> dict[str, Any]:
    """What predict and export read of a checkpoint, from its record (the keys of the first format)."""
    r, spec = restored.record, restored.record.input
    return {"method": r.method, "input_size": spec.size, "normalisation": spec.normalisation(),
            "crop_scale": spec.crop_scale, "crop_cache": spec.crop_cache.to_meta() if spec.crop_cache else None,
            "clip": {"frames": spec.clip_frames, "interval": spec.clip_interval} if spec.is_clip else None,
            "threshold": r.threshold, "score_rule": r.score_rule, "depth_size": spec.depth_size}


def _threshold(meta: Mapping[str, Any], override: float | None) -> tuple[float | None, str]:
    """The decision threshold and where it came from: ``--threshold``, the checkpoint, or none."""
    if override is not None:
        return float(override), "--threshold"
    if meta.get("threshold") is not None:
        return float(meta["threshold"]), "checkpoint"
    return None, "none"
