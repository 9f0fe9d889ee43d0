"""Checkpoint -> a network ready to score faces, with what its metadata says about inference.

Everything that reads a checkpoint or talks to a method's inference interface
(:mod:`fas_core.methods`: ``build_model``, ``score_faces``, ``load_released``) is here, so the
rest of :mod:`fas_core.inference` and :mod:`fas_core.export` only see :class:`LoadedModel`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

from .. import checkpoint as ckpt
from ..crop import TEST_CROP_SCALE
from ..crop_cache import CropCacheSpec
from ..fuse import fuse_model
from ..methods import METHODS, method_module

REQUIRED_META = ("input_size", "normalisation")


class UsageError(ValueError):
    """A problem with the command line or the checkpoint's metadata (exit status 2)."""


def method_names() -> list[str]:
    """The methods a checkpoint may name (``--method`` choices), sorted."""
    return sorted(METHODS)


@dataclass
class LoadedModel:
    """A network ready to score faces, with everything its checkpoint says about inference."""

    model: nn.Module
    meta: dict[str, Any]
    module: ModuleType
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
        scores with as ``test.py`` did (fas_core/methods.py); the exported graph goes without.
        """
        return self.module.score_faces(self.model if model is None else model, inputs, face_depth)


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
    """Build and load the network of a checkpoint; an original release needs ``method``.

    A project checkpoint carries ``meta`` (method, config, input size, normalisation, crop scale,
    clip, dev threshold; fas_core/methods.py). A file without it (a released original such as
    DUM's ``CDCN_U_P1.pkl``) is read by the method's ``load_released``. ``threshold`` overrides
    the checkpoint's. ``fuse`` folds CDC and fuses BatchNorm into convolutions
    (:func:`fas_core.fuse.fuse_model`): the same function up to float rounding, fewer operations.
    """
    path = Path(checkpoint)
    module, state, meta = _read_checkpoint(path, method)
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise UsageError(f"checkpoint {path} metadata lacks {', '.join(missing)} (has: {', '.join(sorted(meta))})")
    try:
        CropCacheSpec.from_meta(meta.get("crop_cache"), source=f"checkpoint {path}")
    except ValueError as e:
        raise UsageError(str(e)) from e
    model = module.build_model(meta)
    ckpt.load_weights(model, state)
    model.eval()
    if fuse:
        model = fuse_model(model)
    dev = torch.device(device) if not isinstance(device, torch.device) else device
    model.to(dev)
    thr, src = _threshold(meta, threshold)
    return LoadedModel(model=model, meta=meta, module=module, device=dev, threshold=thr, threshold_source=src,
                       source=str(path))


def _read_checkpoint(path: Path, method: str | None) -> tuple[ModuleType, Any, dict[str, Any]]:
    """``(method module, state, meta)`` of a project checkpoint, or of an original release read by its method."""
    raw = ckpt.load_file(path)
    meta_in = raw.get("meta") if isinstance(raw, Mapping) else None
    if isinstance(meta_in, Mapping) and (meta_in.get("method") or method):
        meta = dict(meta_in)
        if method and meta.get("method") and method != meta["method"]:
            raise UsageError(f"checkpoint {path} is a '{meta['method']}' model, not '{method}' (drop --method)")
        meta["method"] = meta.get("method") or method
        return _module(meta["method"]), raw, meta
    if not method:
        raise UsageError(f"checkpoint {path} carries no metadata (an original release?): pass --method "
                         f"(one of {', '.join(method_names())}) and --threshold")
    module = _module(method)
    loader = getattr(module, "load_released", None)
    if loader is None:
        raise UsageError(f"method '{method}' cannot read original releases, and {path} has no metadata")
    state, released_meta = loader(str(path))
    return module, state, {**dict(released_meta), "method": method}


def _threshold(meta: Mapping[str, Any], override: float | None) -> tuple[float | None, str]:
    """The decision threshold and where it came from: ``--threshold``, the checkpoint, or none."""
    if override is not None:
        return float(override), "--threshold"
    if meta.get("threshold") is not None:
        return float(meta["threshold"]), "checkpoint"
    return None, "none"


def _module(name: str) -> ModuleType:
    try:
        return method_module(name)
    except KeyError as e:
        raise UsageError(str(e.args[0])) from e
