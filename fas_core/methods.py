"""Methods known to the tools (predict, export), found by name so fas_core imports no method folder.

Each entry names a module that defines the inference interface:

* ``build_model(meta: dict) -> torch.nn.Module`` — the network for a checkpoint's ``meta``
  (``meta["config"]`` holds the resolved training config), in eval mode, weights not loaded;
* ``score_faces(model, inputs, face_depth=None) -> tuple[torch.Tensor, torch.Tensor]`` — liveness
  scores ``[N]`` (higher = live) and depth maps ``[N, H, W]`` for normalised face crops
  ``[N, 3, S, S]`` (or clips ``[N, T, 3, S, S]`` when ``meta["clip"]`` is set). ``face_depth``
  ``[N, S, S]`` in [0, 1] is the built-in depth map of each face cropped like the input
  (:func:`fas_core.face_depth.face_depth_crop`; the first frame's for a clip): the face mask that
  ``test.py`` took from the split's depth maps, so that a score matches the stored dev threshold.
  Without it (the exported graph) the method falls back to a mask that needs no landmarks;
* ``load_released(path) -> tuple[dict, dict]`` (optional) — ``(state_dict, meta)`` of an original
  release (e.g. DUM's ``CDCN_U_P1.pkl``), keys already mapped to this project's names.

Checkpoint ``meta`` keys used by the tools: ``method``, ``config``, ``input_size``,
``normalisation`` (``{"mean": [..], "std": [..], "rgb": bool}`` in 0-255 pixel units),
``crop_scale``, ``crop_cache`` (``{"size": 256, "depth_size": 32, "jpeg_quality": 95, "resize":
"linear"}`` when training read the offline crop cache: predict makes its inputs and face masks as
the cache did), ``clip`` (``{"frames": T, "interval": k}``
or absent), ``threshold``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import torch
import torch.nn.functional as F

METHODS: dict[str, str] = {
    "cdcn": "dum.inference",
    "cdcnpp": "dum.inference",
    "cdcn_u": "dum.inference",
    "sgtd_single": "fas_sgtd_single_frame.inference",
    "sgtd_multi": "fas_sgtd_multi_frame.inference",
}


def method_module(name: str) -> ModuleType:
    """Import the inference module of method ``name``; the error lists the known methods."""
    if name not in METHODS:
        raise KeyError(f"unknown method '{name}'. Known methods: {', '.join(sorted(METHODS))}")
    return importlib.import_module(METHODS[name])


def depth_on_grid(face_depth: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """Face depth maps ``[N, S, S]`` (or ``[N, 1, S, S]``) area-averaged onto the output grid ``[N, 1, h, w]``.

    The test loaders shrink the same maps with area averaging, so ``> 0`` of the result is the
    face mask ``test.py`` used.
    """
    x = face_depth if face_depth.dim() == 4 else face_depth[:, None]
    return F.adaptive_avg_pool2d(x.float(), tuple(hw))
