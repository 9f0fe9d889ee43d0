"""The method interface: what every tool (train, test, predict, export) needs to know about a method.

A method folder declares one :class:`Method` per network next to its model (``dum/method.py``,
``fas_sgtd_single_frame/method.py``, ...) and adds one line to :data:`fas_core.methods.REGISTRY`.
The object holds:

* ``build(model_args) -> nn.Module`` and ``default_model_args``: the network from explicit
  constructor arguments, never a whole training config;
* the input: its normalisation (``mean``/``std`` in 0-255 pixel units, RGB or BGR), whether it
  reads clips, and :class:`InputSpec` (size, crop scale, crop cache, clip shape) made from a
  training config by :meth:`Method.input_spec`;
* the score rule ``score(model, inputs, face_map, rule, crop_scale) -> (scores [N], depth maps
  [N, h, w])`` with its named variants (``score_rules``; the first is the default);
* the released-weights loader (``read_released`` + ``released_filter``: an original release's
  keys mapped to this project's, as timm's ``checkpoint_filter_fn``);
* ``legacy(meta) -> (model_args, score_rule)``: the record of a checkpoint written before
  checkpoints stored their model arguments;
* ``task``: ``"module:Class"`` of the training task (losses, sampler, logging) used by the
  method's ``train.py`` / ``test.py``.

``face_map`` is the face's depth map on the output grid ``[N, h, w]`` in [0, 1] (``> 0`` marks
the face): what test splits take from their depth maps and predict renders from the landmarks.
``None`` (the exported graph) makes the rule fall back to a mask that needs no landmarks.
See docs/architecture.md for the whole picture.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .crop import TEST_CROP_SCALE
from .crop_cache import CropCacheSpec
from .errors import UserError

DEPTH_STRIDE = 8  # every depth network here outputs a map 8 times smaller than its input


def depth_size_of(input_size: int) -> int:
    """The side of the depth map (and of its label) for a square input of side ``input_size``."""
    if input_size <= 0 or input_size % DEPTH_STRIDE:
        raise UserError(f"data.input_size must be a positive multiple of {DEPTH_STRIDE}, got {input_size}")
    return input_size // DEPTH_STRIDE


@dataclass(frozen=True)
class InputSpec:
    """How a network's input is made from a frame and a face box."""

    size: int  # square input side in pixels
    mean: tuple[float, ...] = (127.5, 127.5, 127.5)  # per channel, in the network's channel order, 0-255 units
    std: tuple[float, ...] = (128.0, 128.0, 128.0)
    rgb: bool = True  # channel order RGB (else BGR)
    crop_scale: float = TEST_CROP_SCALE
    crop_cache: CropCacheSpec | None = None  # set when training read the offline crop cache
    clip_frames: int = 1  # frames per sample (1: single-frame networks)
    clip_interval: int = 1  # frames between the neighbours of a clip

    @property
    def depth_size(self) -> int:
        return depth_size_of(self.size)

    @property
    def is_clip(self) -> bool:
        return self.clip_frames > 1

    def normalisation(self) -> dict[str, Any]:
        return {"mean": list(self.mean), "std": list(self.std), "rgb": self.rgb}

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        d["crop_cache"] = self.crop_cache.to_meta() if self.crop_cache else None
        d["depth_size"] = self.depth_size
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> InputSpec:
        cache = d.get("crop_cache")
        return cls(size=int(d["size"]), mean=tuple(float(v) for v in d["mean"]),
                   std=tuple(float(v) for v in d["std"]), rgb=bool(d.get("rgb", True)),
                   crop_scale=float(d.get("crop_scale") or TEST_CROP_SCALE),
                   crop_cache=CropCacheSpec.from_meta(cache, float(d.get("crop_scale") or TEST_CROP_SCALE)),
                   clip_frames=int(d.get("clip_frames", 1)), clip_interval=int(d.get("clip_interval", 1)))


ScoreFn = Callable[[nn.Module, torch.Tensor, "torch.Tensor | None", str, float], tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class Method:
    """Everything the tools need about one network (see the module docstring)."""

    name: str
    build: Callable[[Mapping[str, Any]], nn.Module]
    default_model_args: Mapping[str, Any]
    task: str  # "module:Class" of the training task
    mean: tuple[float, ...] = (127.5, 127.5, 127.5)
    std: tuple[float, ...] = (128.0, 128.0, 128.0)
    rgb: bool = True
    clip: bool = False  # reads clips [N, T, 3, S, S]
    paper_input_size: int = 256
    score: ScoreFn | None = None  # None: not a liveness scorer (the generator)
    score_rules: tuple[str, ...] = ()
    read_released: Callable[[str], Mapping[str, Any]] | None = None
    released_filter: Callable[[Mapping[str, Any]], tuple[dict[str, torch.Tensor], dict[str, Any]]] | None = None
    released_score_rule: str | None = None  # the original code's score rule, used with its release
    released_input: Mapping[str, Any] = field(default_factory=dict)  # InputSpec fields of the release
    legacy: Callable[[Mapping[str, Any]], tuple[dict[str, Any], str | None]] | None = None
    description: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def default_score_rule(self) -> str | None:
        return self.score_rules[0] if self.score_rules else None

    def model_args(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``default_model_args`` updated by ``overrides``; an unknown argument is an error naming the known ones."""
        args = dict(self.default_model_args)
        for key, value in (overrides or {}).items():
            if key not in args:
                raise UserError(f"method {self.name}: unknown model argument '{key}' "
                                f"(known: {', '.join(sorted(args))})")
            args[key] = value
        return args

    def model_args_from_config(self, cfg: Mapping[str, Any]) -> dict[str, Any]:
        """The model arguments a training config asks for: ``model.<arg>``, and ``input_size`` from ``data``."""
        model_cfg, data_cfg = cfg.get("model") or {}, cfg.get("data") or {}
        picked = {}
        for key in self.default_model_args:
            if key == "input_size":
                picked[key] = int(data_cfg["input_size"])
            elif key in model_cfg:
                picked[key] = model_cfg[key]
        return self.model_args(picked)

    def input_spec(self, size: int, crop_scale: float = TEST_CROP_SCALE, crop_cache: CropCacheSpec | None = None,
                   clip_frames: int = 1, clip_interval: int = 1) -> InputSpec:
        depth_size_of(size)  # validates the size
        if self.clip and clip_frames < 2:
            raise UserError(f"method {self.name} reads clips: data.clip_frames must be at least 2")
        return InputSpec(size=int(size), mean=self.mean, std=self.std, rgb=self.rgb, crop_scale=float(crop_scale),
                         crop_cache=crop_cache, clip_frames=int(clip_frames) if self.clip else 1,
                         clip_interval=int(clip_interval) if self.clip else 1)

    def check_score_rule(self, rule: str) -> str:
        if self.score is None:
            raise UserError(f"method {self.name} does not score faces")
        if rule not in self.score_rules:
            raise UserError(f"eval.score must be one of {', '.join(self.score_rules)} for {self.name}, got {rule!r}")
        return rule

    def load_released(self, path: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """``(state_dict, model_args)`` of an original release of this network."""
        if self.read_released is None or self.released_filter is None:
            raise UserError(f"method {self.name} has no original release to read")
        return self.released_filter(self.read_released(path))


def on_output_grid(face_depth: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """Face depth maps ``[N, S, S]`` (or ``[N, 1, S, S]``) area-averaged onto the output grid ``[N, h, w]``.

    The test loaders shrink the split's depth maps the same way, so ``> 0`` of the result is the
    face mask the dev threshold was chosen with.
    """
    x = face_depth if face_depth.dim() == 4 else face_depth[:, None]
    return F.adaptive_avg_pool2d(x.float(), tuple(hw))[:, 0]
