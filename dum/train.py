"""Train CDCN, CDCN++ or CDCN_u (CDCN + depth uncertainty module), spec ``cdcn_dum.md``.

    python -m dum.train --config dum/configs/demo.yaml [key=value ...]
    torchrun --nproc_per_node=N -m dum.train --config dum/configs/oulu_p1.yaml

The loop is :func:`fas_core.engine.train`; this module supplies the :class:`DumTask`: the
model, the (optionally mixed real + DSDG-generated) training set, the loss, dev scoring for
checkpoint selection (dev ACER, never test) and TensorBoard depth-map images. A rerun with
the same ``train.run_dir`` resumes from ``last.pt``.
"""

from __future__ import annotations

import copy
import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from fas_core.crop import CACHE_DEPTH_SIZE, CACHE_FACE_SIZE, CACHE_JPEG_QUALITY
from fas_core.engine import ENGINE_DEFAULTS, Task
from fas_core.runner import SplitScores, train_main
from fas_core.video_data import evenly_spaced

from . import dataset as dd
from .inference import SCORE_MODES, frame_scores, load_released
from .losses import LossWeights, mixed_batch_loss
from .model import build_model, canonical_name, depth_of, reparameterize

DEFAULTS: dict[str, Any] = {
    "model": {
        "name": "cdcn_u",  # cdcn | cdcnpp | cdcn_u
        "theta": 0.7,  # CDC theta (0: plain convolutions)
        "literal_cdc": False,  # true: the two-convolution CDC (same numbers, slower)
    },
    "data": {
        "work": "datasets/demo_work",  # preprocessing work root; the paths below default under it
        "source": "crops",  # crops: offline crop cache | online: frames + .dat + depth1D.jpg
        "crops": "",  # default <work>/crops
        "frames": "",  # default <work>/frames (online source)
        "depth": "",  # default <work>/depth (online source)
        "lists": "",  # default <work>/lists (Protocol_N/{Train,Dev,Test}[_k].txt)
        "protocol": "1",  # 1 | 2 | 3_k | 4_k
        "input_size": 256,  # face crop side; the depth label is input_size / 8
        "resize": "linear",  # crop cache -> input_size: linear (cv2 default, as the original) | area
        "train_scales": [1.2, 1.3, 1.4],  # online source: random crop scale per training sample
        "test_scale": 1.3,  # online source: crop scale for dev/test
        "generated_list": "",  # DSDG list (1,<video> / 0,<video>); empty: real data only
        "generated_crops": "",  # crop cache of the generated videos (default: <list folder>/crops)
        "allow_missing": False,  # skip listed videos that have no frames (else an error naming them)
        "missing_depth": "skip",  # live training frame without depth: skip (counted) | error
    },
    "aug": {
        "enabled": True,
        "brightness": 40.0,  # per-channel additive brightness in [-b, b]
        "gamma": [0.5, 1.5],  # gamma contrast range
        "erasing_p": 0.5,  # random erasing probability (1-2 patches, 1-5% area, fill: image mean)
        "flip_p": 0.5,  # horizontal flip of image and depth together
        "cutout_max_side": 49,  # cutout square side 1..49 px at 256x256, scaled with the input size
    },
    "loss": {
        "ratio": 0.75,  # share of real samples in a mixed batch (48 of 64)
        "generated_weight": 0.1,  # weight of every loss term of the generated part
        "kl_weight": 0.001,  # DUM KL term weight
        "contrast_weight": 1.0,  # contrast depth loss weight
    },
    "optim": {
        "lr": 1e-4,
        "weight_decay": 5e-5,
        "step_iters": 12500,  # StepLR step in iterations (500 epochs x 25 iterations)
        "gamma": 0.5,
    },
    "eval": {  # dev scoring during training (checkpoint selection on dev ACER)
        "frames_per_video": 0,  # frames per video, evenly spaced (0: all)
        "batch_size": 32,
        "score": "masked_mean_mu",  # masked_mean_mu | mean_mu | sum_mu_over_sum_map (the original)
    },
    "test": {  # dum.test scoring
        "frames_per_video": 0,  # 0: all frames, as the original
        "fuse": True,  # fold CDC and fuse conv+BN for scoring (same scores up to float rounding)
        "depth_samples": 8,  # predicted depth maps in depth_grid.png
    },
    "train": {**ENGINE_DEFAULTS, "run_dir": "work_dirs/dum", "max_iters": 40000, "batch_size": 64,
              "eval_every": 1250, "eval_after": 5000, "ckpt_every": 250, "log_every": 25, "image_every": 500},
}


def _as_rows(items: Sequence[dd.VideoItem], scores: dict[int, list[float]]) -> list[tuple[str, float, int, str | None]]:
    rows = []
    for v, it in enumerate(items):
        vals = [s for s in scores.get(v, []) if math.isfinite(s)]
        rows.append((it.entry.video, float(np.mean(vals)) if vals else 0.0, int(it.entry.label), it.entry.species))
    return rows


class DumTask(Task):
    """CDCN / CDCN++ / CDCN_u on depth labels, with optional DSDG-generated data."""

    name = "cdcn_u"

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        self.name = canonical_name(cfg.model.name)
        if cfg.eval.score not in SCORE_MODES:
            raise ValueError(f"eval.score must be one of {', '.join(SCORE_MODES)}, got {cfg.eval.score!r}")
        self.paths = dd.DataPaths.from_cfg(cfg.data)
        self.weights = LossWeights(kl=float(cfg.loss.kl_weight), generated=float(cfg.loss.generated_weight),
                                   contrast=float(cfg.loss.contrast_weight))
        self._items: dict[str, list[dd.VideoItem]] = {}

    # --- model and optimiser ------------------------------------------------------------
    def build_model(self) -> nn.Module:
        m = self.cfg.model
        return build_model(m.name, theta=float(m.theta), literal=bool(m.literal_cdc))

    def build_optimizer(self, model: nn.Module) -> tuple[torch.optim.Optimizer, Any]:
        o = self.cfg.optim
        opt = torch.optim.Adam(model.parameters(), lr=float(o.lr), weight_decay=float(o.weight_decay))
        # Stepped after every optimiser step (the original stepped per epoch, before optimizer.step()).
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=int(o.step_iters), gamma=float(o.gamma))
        return opt, sched

    def checkpoint_meta(self) -> dict[str, Any]:
        size = int(self.cfg.data.input_size)
        return {"method": self.name, "input_size": size, "map_size": size // 8,
                "normalisation": dict(dd.NORMALISATION), "crop_scale": float(self.cfg.data.test_scale),
                # predict scores with the rule the dev threshold was chosen with (dum/inference.py).
                "score": str(self.cfg.eval.score), **self._cache_meta()}

    def _cache_meta(self) -> dict[str, Any]:
        """How training images were made from the crop cache, for predict to make its inputs the same way.

        The cache holds JPEG 256x256 crops and 32x32 depth crops (``data.crop``'s defaults) that the
        loader resizes to the input size. A face cropped straight to the input size looks different
        to the network (no JPEG blocks, other aliasing): on the demo model enough to move a score
        by about as much as live and attack differ.
        """
        if str(self.cfg.data.source) != "crops":
            return {}
        return {"crop_cache": {"size": CACHE_FACE_SIZE, "depth_size": CACHE_DEPTH_SIZE,
                               "jpeg_quality": CACHE_JPEG_QUALITY, "resize": str(self.cfg.data.resize)}}

    def load_released(self, path: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        if self.name != "cdcn_u":
            raise ValueError(f"the released DUM checkpoint is a cdcn_u model; this config builds '{self.name}' "
                             f"(set model.name=cdcn_u)")
        return load_released(path)

    # --- training -----------------------------------------------------------------------
    def train_dataset(self) -> dd.DepthTrainSet:
        self._train_set = dd.build_train_set(self.cfg)
        return self._train_set

    def batches_fn(self, dataset: dd.DepthTrainSet):
        return dd.mixed_batches(dataset.n_real, dataset.n_generated, int(self.cfg.train.batch_size),
                                float(self.cfg.loss.ratio))

    def training_step(self, model: nn.Module, batch: dict[str, torch.Tensor], step: int
                      ) -> tuple[torch.Tensor, dict[str, float]]:
        out = model(batch["image"])
        if isinstance(out, tuple):  # CDCN_u: losses on the sample, KL on (mu, logvar)
            mu, logvar = out
            pred = reparameterize(mu, logvar, self._noise_generator(mu.device, step))
        else:
            mu = logvar = None
            pred = out
        return mixed_batch_loss(pred, batch["depth"], batch["generated"].bool(), mu, logvar, self.weights)

    def _noise_generator(self, device: torch.device, step: int) -> torch.Generator:
        """The DUM sampling noise of a step depends on (seed, step, rank) only, not on the global RNG.

        The global RNG is also drawn by every new DataLoader iterator, and a resumed run creates
        one more of those than an uninterrupted run; a per-step generator keeps resume exact.
        """
        rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
        gen = torch.Generator(device=device)
        # A stream of its own (the trailing tag keeps it apart from the per-sample augmentation seeds).
        gen.manual_seed(int(np.random.SeedSequence([int(self.cfg.train.seed), step, rank, 7]).generate_state(1)[0]))
        return gen

    def log_images(self, writer: Any, model: nn.Module, batch: dict[str, torch.Tensor], step: int) -> None:
        """Input faces, depth labels, predicted depth (``mu``) and, for CDCN_u, ``sigma`` maps."""
        n = min(8, batch["image"].size(0))
        was_training = model.training
        model.eval()  # no BatchNorm statistics update from logging
        try:
            out = model(batch["image"][:n])
        finally:
            model.train(was_training)
        depth = out[0] if isinstance(out, tuple) else out
        writer.add_images("depth/input", (batch["image"][:n] * dd.STD + dd.MEAN).clamp(0, 255) / 255.0, step)
        writer.add_images("depth/label", batch["depth"][:n, None].clamp(0, 1), step)
        writer.add_images("depth/predicted", depth[:, None].clamp(0, 1), step)
        if isinstance(out, tuple):
            sigma = torch.exp(0.5 * out[1])[:, None]
            writer.add_images("depth/sigma", sigma / sigma.amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-8), step)

    # --- scoring ------------------------------------------------------------------------
    def split_items(self, split: str) -> list[dd.VideoItem]:
        if split not in self._items:
            d = self.cfg.data
            self._items[split], _ = dd.split_items(self.paths, split, training=False,
                                                   allow_missing=bool(d.allow_missing), missing_depth="skip")
        return self._items[split]

    def _score(self, model: nn.Module, split: str, frames_per_video: int, n_samples: int = 0) -> SplitScores:
        d = self.cfg.data
        items = self.split_items(split)
        ds = dd.FrameScoringSet(items, int(d.input_size), frames_per_video,
                                float(d.test_scale))
        loader = DataLoader(ds, batch_size=int(self.cfg.eval.batch_size), shuffle=False,
                            num_workers=int(self.cfg.train.num_workers))
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        per_video: dict[int, list[float]] = defaultdict(list)
        frame_rows, samples = [], []
        want = _sample_videos(items, n_samples)
        with torch.no_grad():
            for batch in loader:
                depth = depth_of(model, batch["image"].to(device)).float().cpu()
                scores = frame_scores(depth, batch["map"], str(self.cfg.eval.score))
                for j, (v, f) in enumerate(zip(batch["video"].tolist(), batch["frame"].tolist(), strict=True)):
                    s = float(scores[j])
                    per_video[v].append(s)
                    frame_rows.append((items[v].entry.video, int(f), s, int(items[v].entry.label)))
                    if v in want:
                        want.discard(v)
                        tag = "live" if items[v].entry.label == 1 else (items[v].entry.species or "attack")
                        samples.append((depth[j].numpy(), f"{items[v].entry.video} ({tag}) {s:.3f}"))
        model.train(was_training)
        return SplitScores(rows=_as_rows(items, per_video), frame_rows=frame_rows, depth_samples=samples)

    def evaluate(self, model: nn.Module, split: str) -> list[tuple[str, float, int, str | None]]:
        """Per-video dev scores during training (``eval.frames_per_video`` frames per video)."""
        return self._score(model, split, int(self.cfg.eval.frames_per_video)).rows

    def score_split(self, model: nn.Module, split: str) -> SplitScores:
        """Per-video and per-frame scores and a few depth maps for ``dum.test`` (``test.*`` keys)."""
        t = self.cfg.test
        if t.fuse:
            from fas_core.fuse import fuse_for_inference

            model = fuse_for_inference(model)
        return self._score(model, split, int(t.frames_per_video), int(t.depth_samples))


def _sample_videos(items: Sequence[dd.VideoItem], n: int) -> set[int]:
    """Up to ``n`` videos for the depth grid: half live, half attack, spread over the split."""
    if n <= 0:
        return set()
    live = [i for i, it in enumerate(items) if it.entry.label == 1]
    attack = [i for i, it in enumerate(items) if it.entry.label != 1]
    picks = []
    for group, k in ((live, n // 2), (attack, n - n // 2)):
        if group and k:
            picks += evenly_spaced(group, k)
    return set(picks)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    return train_main(DumTask, copy.deepcopy(DEFAULTS), "Train CDCN / CDCN++ / CDCN_u (DUM) on depth labels.", argv)


if __name__ == "__main__":
    main()
