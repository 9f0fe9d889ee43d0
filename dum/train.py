"""Train CDCN, CDCN++, CDCN_u (CDCN + depth uncertainty module) or ResNet18_u, docs/methods/dum.md.

    python -m dum.train [--config dum/configs/demo.yaml] [key=value ...]
    torchrun --nproc_per_node=N -m dum.train --config dum/configs/oulu_p1.yaml

The loop is :func:`fas_core.engine.train`; this module supplies the :class:`DumTask`: the
(optionally mixed real + DSDG-generated) training set and its sampler, the loss, and the
scoring datasets; the network, input and score rules are the methods of :mod:`dum.method`.
A rerun with the same ``train.run_dir`` resumes from ``last.pt``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from fas_core.config import Typed
from fas_core.crop import RESIZE_MODES, TEST_CROP_SCALE
from fas_core.crop_cache import CropCacheSpec
from fas_core.engine import ENGINE_DEFAULTS
from fas_core.prepare import Prerequisite, python_module
from fas_core.runner import train_main
from fas_core.scoring import VideoInfo
from fas_core.task import Task

from . import dataset as dd
from .losses import LossWeights, mixed_batch_loss
from .method import MEAN, SCORE_RULES, STD
from .model import canonical_name, reparameterize, set_literal

DUM_METHODS = ("cdcn", "cdcnpp", "cdcn_u", "resnet18_u")  # the networks this task trains (fas_core.methods names)

DEFAULTS: dict[str, Any] = {
    "model": {
        "name": Typed(str, "cdcn_u", choices=DUM_METHODS),  # resnet18_u: the DUM paper's ResNet backbone
        "theta": 0.7,  # CDC theta (0: plain convolutions; resnet18_u has no CDC)
        "literal_cdc": False,  # true: the two-convolution CDC (same numbers, slower)
    },
    "data": {
        "work": "datasets/demo_work",  # preprocessing work tree; the paths below default under it
        "source": Typed(str, "crops", choices=("crops", "online")),  # crops: offline crop cache | online: frames
        "crops": "",  # default <work>/crops
        "frames": "",  # default <work>/frames (online source)
        "depth": "",  # default <work>/depth (online source)
        "lists": "",  # default <work>/lists (Protocol_N/{Train,Dev,Test}[_k].txt)
        "protocol": "1",  # 1 | 2 | 3_k | 4_k
        "input_size": Typed(int, 256, low=8),  # face crop side; the depth map is input_size / 8
        "resize": Typed(str, "linear", choices=tuple(RESIZE_MODES)),  # cache -> input size (linear: original)
        "train_scales": [1.2, 1.3, 1.4],  # online source: random crop scale per training sample (the original CDCN)
        # crops source: the train split reads <crops>_s1.2-1.3-1.4, a cache whose frames are cut at one of
        # these scales each, drawn once when it is made (made when missing). [1.2, 1.3, 1.4] is the original
        # DUM's training crop (set in the paper configs); []: the train split reads the 1.3 cache, as dev/test.
        "cache_train_scales": Typed(list, [], item=float),
        "test_scale": Typed(float, TEST_CROP_SCALE, low=0.1),  # online source: crop scale for dev/test
        "generated_list": "",  # DSDG list (1,<video> / 0,<video>); empty: real data only
        "generated_crops": "",  # crop cache of the generated videos (default: <list folder>/crops)
        "allow_missing": False,  # skip listed videos that have no frames (else an error naming them)
        "missing_depth": Typed(str, "skip", choices=("skip", "error")),  # live training frame without depth
        "preprocess_config": "",  # when set and the data is missing: run this preprocessing config first
    },
    "augment": {
        "enabled": True,
        "brightness": 40.0,  # per-channel additive brightness in [-b, b]
        "gamma": [0.5, 1.5],  # gamma contrast range
        "gamma_per_channel": True,  # false: one gamma per image, as the original (imgaug GammaContrast's default)
        "erasing": Typed(float, 0.5, low=0.0, high=1.0),  # random erasing probability (1-2 patches)
        # erased patches: the image mean; zero: the original's, whose fill values (channel means of [0, 1]
        # images) are written into a uint8 image and become 0
        "erasing_fill": Typed(str, "mean", choices=("mean", "zero")),
        "flip": Typed(float, 0.5, low=0.0, high=1.0),  # horizontal flip of image and depth together
        "cutout_max_side": 49,  # cutout square side 1..49 px at 256x256, scaled with the input size
    },
    "loss": {
        "ratio": Typed(float, 0.75, low=0.0, high=1.0),  # share of real samples in a mixed batch (48 of 64)
        "generated_weight": 0.1,  # weight of every loss term of the generated part
        "kl_weight": 0.001,  # DUM KL term weight
        "contrast_weight": 1.0,  # contrast depth loss weight
    },
    "optim": {
        "lr": Typed(float, 1e-4, low=0.0),
        "weight_decay": Typed(float, 5e-5, low=0.0),
        "step_iters": Typed(int, 12500, low=1),  # StepLR step in iterations (500 epochs x 25 iterations)
        "gamma": 0.5,
    },
    "eval": {  # scoring (dev during training, and test.py)
        "frames_per_video": Typed(int, 0, low=0),  # dev scoring during training: frames per video (0: all)
        "batch_size": Typed(int, 32, low=1),
        "score": Typed(str, SCORE_RULES[0], choices=SCORE_RULES),  # sum_mu_over_sum_map: the original
    },
    "test": {  # test.py
        "frames_per_video": Typed(int, 0, low=0),  # 0: all frames, as the original
        "fuse": True,  # fold CDC and fuse conv+BN for scoring (same scores up to float rounding)
        "depth_samples": Typed(int, 8, low=0),  # predicted depth maps in depth_grid.png
    },
    "train": {**ENGINE_DEFAULTS, "run_dir": "work_dirs/dum", "max_iters": 40000, "batch_size": 64,
              "eval_every": 1250, "eval_after": 5000, "ckpt_every": 250, "log_every": 25, "image_every": 500},
}


class DumTask(Task):
    """CDCN / CDCN++ / CDCN_u / ResNet18_u on depth labels, with optional DSDG-generated data."""

    method_name = "cdcn_u"
    defaults = DEFAULTS
    default_config = "dum/configs/demo.yaml"
    description = "Train or test CDCN / CDCN++ / CDCN_u (DUM) / ResNet18_u (DUM) on depth labels."

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        self.paths = dd.DataPaths.from_cfg(cfg.data)
        self.weights = LossWeights(kl=float(cfg.loss.kl_weight), generated=float(cfg.loss.generated_weight),
                                   contrast=float(cfg.loss.contrast_weight))
        self._items: dict[str, list[dd.VideoItem]] = {}

    def chosen_method(self) -> str:
        name = str(self.cfg.model.name)
        return name if name == "resnet18_u" else canonical_name(name)

    def accepts(self) -> tuple[str, ...]:
        return DUM_METHODS

    # --- model, optimiser, inputs -------------------------------------------------------
    def build_model(self) -> nn.Module:
        return set_literal(super().build_model(), bool(self.cfg.model.literal_cdc))

    def build_optimizer(self, model: nn.Module) -> tuple[torch.optim.Optimizer, Any]:
        o = self.cfg.optim
        opt = torch.optim.Adam(model.parameters(), lr=float(o.lr), weight_decay=float(o.weight_decay))
        # Stepped after every optimiser step, step_iters = epochs x iterations per epoch (the originals step
        # per epoch: DUM after the epoch's optimiser steps, CDCN before them, so its decays come an epoch earlier).
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=int(o.step_iters), gamma=float(o.gamma))
        return opt, sched

    def crop_cache(self) -> CropCacheSpec | None:
        """Training on the crop cache: predict makes a live face's input the way the cache did.

        A face cropped straight to the input size looks different to the network (no JPEG blocks,
        other aliasing): on the demo model enough to move a score by about as much as live and
        attack differ.
        """
        if str(self.cfg.data.source) != "crops":
            return None
        return CropCacheSpec(resize=str(self.cfg.data.resize))

    def prerequisites(self) -> list[Prerequisite]:
        """The preprocessed data (the crop cache or the frames, and the lists) under ``data.work``."""
        d, w = self.cfg.data, self.paths.work
        images = w.crops if str(d.source) == "crops" else w.frames
        config = str(d.preprocess_config) or "CONFIG"
        command = python_module("data.preprocess", "--config", config, f"work_root={w.work}")
        what = "the preprocessed data"
        need = [Prerequisite(p, command, what, bool(d.preprocess_config))
                for p in (images, self.paths.list_file("train"))]
        if str(d.source) == "crops" and self.paths.cache_train_scales:
            need.append(self._train_cache_prerequisite())
        return need

    def _train_cache_prerequisite(self) -> Prerequisite:
        """The train split's cache cut at per-frame scales: made (for the videos still missing) when missing.

        Met when every video of the Train list that has frames is finished in the cache, so a new
        protocol's Train list crops the videos the cache lacks.
        """
        p, w = self.paths, self.paths.work
        cache, train_list = p.crops_of("train"), p.list_file("train")
        workers = max(1, int(self.cfg.train.num_workers))
        command = python_module("data.crop", "--frames", str(w.frames), "--depth", str(w.depth), "--out", str(cache),
                                "--scales", *[f"{s:g}" for s in p.cache_train_scales], "--videos-from",
                                str(train_list), "--workers", str(workers))
        return Prerequisite(dd.first_unfinished(cache, train_list, w.frames), command,
                            "the training crop cache (one scale per frame)", True)

    # --- training -----------------------------------------------------------------------
    def train_dataset(self) -> dd.DepthTrainSet:
        return dd.build_train_set(self.cfg)

    def batches_fn(self, dataset: dd.DepthTrainSet):
        return dd.mixed_batches(dataset.n_real, dataset.n_generated, int(self.cfg.train.batch_size),
                                float(self.cfg.loss.ratio))

    def sample_groups(self, dataset: dd.DepthTrainSet) -> list[tuple[bool, int]]:
        """Real or generated, live or attack: an unreadable sample's stand-in keeps the batch's mix."""
        return [(it.generated, int(it.entry.label)) for it in dataset.items]

    def training_step(self, model: nn.Module, batch: dict[str, torch.Tensor], step: int
                      ) -> tuple[torch.Tensor, dict[str, float]]:
        out = model(batch["image"])
        if isinstance(out, tuple):  # CDCN_u, ResNet18_u: losses on the sample, KL on (mu, logvar)
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
        writer.add_images("depth/input", (batch["image"][:n] * STD + MEAN).clamp(0, 255) / 255.0, step)
        writer.add_images("depth/label", batch["depth"][:n, None].clamp(0, 1), step)
        writer.add_images("depth/predicted", depth[:, None].clamp(0, 1), step)
        if isinstance(out, tuple):
            sigma = torch.exp(0.5 * out[1])[:, None]
            writer.add_images("depth/sigma", sigma / sigma.amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-8), step)

    # --- scoring ------------------------------------------------------------------------
    def split_items(self, split: str) -> list[dd.VideoItem]:
        if split not in self._items:
            self._items[split], _ = dd.split_items(self.paths, split, training=False,
                                                   allow_missing=bool(self.cfg.data.allow_missing),
                                                   missing_depth="skip")
        return self._items[split]

    def scoring_dataset(self, split: str, frames_per_video: int) -> tuple[Dataset, list[VideoInfo]]:
        d = self.cfg.data
        items = self.split_items(split)
        ds = dd.FrameScoringSet(items, int(d.input_size), frames_per_video, float(d.test_scale))
        return ds, [VideoInfo(it.entry.video, int(it.entry.label), it.entry.species) for it in items]

    def prepare_for_test(self, model: nn.Module) -> nn.Module:
        if not self.cfg.test.fuse:
            return model
        from fas_core.fuse import fuse_for_inference

        return fuse_for_inference(model)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    return train_main(DumTask, argv)


if __name__ == "__main__":
    main()
