"""A toy method written only against the public method interface (docs/adding_a_method.md).

What a new method folder holds, in one file: a network, its :class:`~fas_core.method.Method`
(build from model arguments, input normalisation, score rule) and its training
:class:`~fas_core.task.Task` (training set, loss, scoring set) over the offline crop cache. The
test registers it with :func:`fas_core.methods.register` and runs train -> test -> predict -> export.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from fas_core import fileio
from fas_core.config import Typed
from fas_core.crop_cache import CropCacheSpec
from fas_core.engine import ENGINE_DEFAULTS
from fas_core.method import Method, depth_size_of
from fas_core.scoring import VideoInfo
from fas_core.task import Task
from fas_core.video_data import VideoEntry, WorkPaths, evenly_spaced, load_split

MEAN, STD = 127.5, 128.0


class ToyNet(nn.Module):
    """conv-BN-ReLU, three poolings (input / 8), a 1x1 conv to one depth channel."""

    def __init__(self, width: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(width)
        self.head = nn.Conv2d(width, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn(self.conv(x)))
        for _ in range(3):
            x = F.max_pool2d(x, 2)
        return torch.sigmoid(self.head(x))[:, 0]


def score(model: nn.Module, inputs: torch.Tensor, face_map: torch.Tensor | None, rule: str,
          crop_scale: float = 1.3) -> tuple[torch.Tensor, torch.Tensor]:
    depth = model(inputs)
    if face_map is None:
        return depth.flatten(1).mean(1), depth
    mask = (face_map > 0).to(depth.dtype)
    return (depth * mask).flatten(1).sum(1) / mask.flatten(1).sum(1).clamp_min(1.0), depth


TOY = Method(name="toy", build=lambda args: ToyNet(int(args["width"])), default_model_args={"width": 4},
             task="toy_method:ToyTask", mean=(MEAN,) * 3, std=(STD,) * 3, score=score, score_rules=("masked_mean",))


def read_sample(paths: WorkPaths, entry: VideoEntry, frame: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A cached face (BGR -> RGB, normalised) and its depth crop on the output grid, in [0, 1]."""
    stem = fileio.frame_name(entry.video, frame)
    face = cv2.resize(fileio.read_image(paths.crops / entry.video / f"{stem}_scene.jpg"), (size, size))
    depth_side = depth_size_of(size)
    depth = cv2.resize(fileio.read_image(paths.crops / entry.video / f"{stem}_depth1D.png", grey=True),
                       (depth_side, depth_side), interpolation=cv2.INTER_AREA)
    image = torch.from_numpy((face[:, :, ::-1].astype(np.float32) - MEAN) / STD).permute(2, 0, 1).contiguous()
    return image, torch.from_numpy(depth.astype(np.float32) / 255.0)


class CacheFrames(Dataset):
    """``(video index, frame)`` samples of the crop cache; ``__getitem__`` takes a plain index or ``(index, seed)``."""

    def __init__(self, paths: WorkPaths, entries: list[VideoEntry], samples: list[tuple[int, int]], size: int) -> None:
        self.paths, self.entries, self.samples, self.size = paths, entries, samples, size

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, key: Any) -> dict[str, Any]:
        index = key[0] if isinstance(key, tuple) else key
        v, frame = self.samples[index]
        entry = self.entries[v]
        image, depth = read_sample(self.paths, entry, frame, self.size)
        label = depth if entry.label == 1 else torch.zeros_like(depth)
        return {"image": image, "depth": label, "map": depth, "video": v, "frame": frame}


class ToyTask(Task):
    method_name = "toy"
    description = "Train or test the toy method."
    defaults: Mapping[str, Any] = {
        "model": {"width": Typed(int, 4, low=1)},
        "data": {"work": "", "frames": "", "depth": "", "crops": "", "lists": "", "protocol": "1",
                 "input_size": Typed(int, 16, low=8)},
        "optim": {"lr": 1e-2},
        "eval": {"frames_per_video": 2, "batch_size": 8, "score": "masked_mean"},
        "test": {"frames_per_video": 2, "depth_samples": 2},
        "train": {**ENGINE_DEFAULTS, "batch_size": 4, "max_iters": 4, "eval_every": 4, "log_every": 1},
    }

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        self.paths = WorkPaths.from_config(cfg.data)

    def crop_cache(self) -> CropCacheSpec:
        return CropCacheSpec()

    def entries(self, split: str) -> list[VideoEntry]:
        return load_split(self.paths.list_file(str(self.cfg.data.protocol), split), self.paths.crops, kind="crops")

    def train_dataset(self) -> CacheFrames:
        entries = self.entries("train")
        samples = [(v, f) for v, e in enumerate(entries) for f in e.frames]
        return CacheFrames(self.paths, entries, samples, int(self.cfg.data.input_size))

    def training_step(self, model: nn.Module, batch: dict[str, torch.Tensor], step: int):
        loss = F.mse_loss(model(batch["image"]), batch["depth"])
        return loss, {"mse": float(loss.detach())}

    def scoring_dataset(self, split: str, frames_per_video: int) -> tuple[CacheFrames, list[VideoInfo]]:
        entries = self.entries(split)
        samples = [(v, f) for v, e in enumerate(entries) for f in evenly_spaced(e.frames, frames_per_video)]
        videos = [VideoInfo(e.video, e.label, e.species) for e in entries]
        return CacheFrames(self.paths, entries, samples, int(self.cfg.data.input_size)), videos
