"""Methods known to the tools (predict, export), found by name so fas_core imports no method folder.

Each entry names a module that defines the inference interface:

* ``build_model(meta: dict) -> torch.nn.Module`` — the network for a checkpoint's ``meta``
  (``meta["config"]`` holds the resolved training config), in eval mode, weights not loaded;
* ``score_faces(model, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]`` — liveness
  scores ``[N]`` (higher = live) and depth maps ``[N, H, W]`` for normalised face crops
  ``[N, 3, S, S]`` (or clips ``[N, T, 3, S, S]`` when ``meta["clip"]`` is set);
* ``load_released(path) -> tuple[dict, dict]`` (optional) — ``(state_dict, meta)`` of an original
  release (e.g. DUM's ``CDCN_U_P1.pkl``), keys already mapped to this project's names.

Checkpoint ``meta`` keys used by the tools: ``method``, ``config``, ``input_size``,
``normalisation`` (``{"mean": [..], "std": [..], "rgb": bool}`` in 0-255 pixel units),
``crop_scale``, ``clip`` (``{"frames": T, "interval": k}`` or absent), ``threshold``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

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
