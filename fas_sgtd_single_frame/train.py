"""Train the FAS-SGTD single-frame depth network (docs/methods/fas_sgtd.md, "Single-frame network").

    python -m fas_sgtd_single_frame.train [--config FILE] [key=value ...]
    torchrun --nproc_per_node N -m fas_sgtd_single_frame.train --config FILE

Loss ``MSE(D, G) + 0.5 * contrast_depth(D, G)`` (zero-padded contrast kernels) plus the coupled
L2 term ``5e-4 * sum(w^2) / 2`` on conv kernels; Adam lr 1e-4, constant. Checkpoints are
selected on dev ACER (the dev EER threshold); ``test.py`` reports test once. The network, its
input and score rules are :data:`fas_sgtd_single_frame.method.SGTD_SINGLE`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from fas_core.config import Typed
from fas_core.crop import INTERPOLATIONS, TEST_CROP_SCALE
from fas_core.engine import ENGINE_DEFAULTS
from fas_core.losses import contrast_depth_loss
from fas_core.prepare import Prerequisite, python_module
from fas_core.runner import train_main
from fas_core.scoring import VideoInfo
from fas_core.task import Task
from fas_core.video_data import WorkPaths

from .dataset import (
    SAMPLING_MODES,
    TEST_SAMPLING,
    ClipDataset,
    balanced_batches,
    load_entries,
    test_items,
    train_items,
    window_items,
)
from .method import SCORE_RULES

DATA_DEFAULTS: dict[str, Any] = {
    "work": "datasets/demo_work",  # preprocessing work tree: frames/, depth/, lists/
    "frames": "",  # default <work>/frames
    "depth": "",  # default <work>/depth
    "lists": "",  # default <work>/lists (Protocol_N/{Train,Dev,Test}[_k].txt)
    "protocol": "1",  # 1, 2, 3_1..3_6, 4_1..4_6
    "allow_missing": False,  # skip listed videos without usable frames (else an error)
    "input_size": Typed(int, 256, low=8),  # network input; the depth label is input_size / 8
    "widen": [0.1, 0.4],  # train crop: each side widened by U(lo, hi) / 2 of the box size
    "test_scale": Typed(float, TEST_CROP_SCALE, low=0.1),  # test crop: box scaled by this around its centre
    # Face crop -> input and depth crop -> label (whose > 0 is the test score's face mask) interpolations.
    # The original: Pillow's Image.resize default for both, NEAREST before Pillow 7 of January 2020 (pil_nearest,
    # set in the paper configs: the paper's experiments were done for CVPR 2020, submitted in November 2019),
    # BICUBIC since (pil_bicubic). area widens the mask by up to a cell.
    "resize_image": Typed(str, "linear", choices=INTERPOLATIONS),
    "resize_depth": Typed(str, "area", choices=INTERPOLATIONS),
    "per_live": Typed(int, 16, low=1),  # random / even: training samples per live video per epoch
    "per_attack": Typed(int, 4, low=1),  # ... per attack video (balances OULU's 1:4 live:attack ratio)
    # random: per_live / per_attack new samples per video and epoch; even: the same evenly spaced ones;
    # windows: the original's fixed list (window_* below), each item once per epoch (set in the paper configs)
    "train_sampling": Typed(str, "random", choices=SAMPLING_MODES),
    "window_stride_live": Typed(int, 1, low=1),  # windows: a window starts every this many frames of a live video
    "window_stride_attack": Typed(int, 1, low=1),  # ... of an attack video (the original's single-frame stage: 1, 1)
    "window_cap_live": Typed(int, 16, low=1),  # a video with more windows keeps every (windows // cap)-th (fix_len)
    "window_cap_attack": Typed(int, 4, low=1),  # ... attack videos: fix_len / 4
    # dev/test frames (clips) per video: even: eval/test.frames_per_video spread over the video; windows: every
    # (candidates // frames_per_video)-th from the first, as the original's test lists (set in the paper configs)
    "test_sampling": Typed(str, "even", choices=TEST_SAMPLING),
    "preprocess_config": "",  # when set and the data is missing: run this preprocessing config first
}

AUGMENT_DEFAULTS: dict[str, Any] = {
    "flip": Typed(float, 0.5, low=0.0, high=1.0),  # probability of a horizontal flip
    "flip_depth": True,  # flip the depth label with the image (false: the original's bug)
    "colour": Typed(float, 0.5, low=0.0, high=1.0),  # clip(alpha * img + beta), alpha U(0.5,1.5), beta randint(-40,40)
    "cutout": Typed(float, 0.5, low=0.0, high=1.0),  # probability of a zeroed square of side randint(1, max)
    "cutout_max_side": 49,  # in crop pixels (on_crop), else at input 256 and scaled by input_size / 256
    # true: flip, colour and cutout on the full-resolution face crop before its resize, as the original (the
    # cutout square is 2-3x smaller on a 1080p face; set in the paper configs); false: after the resize
    "on_crop": False,
}

EVAL_DEFAULTS: dict[str, Any] = {
    "frames_per_video": Typed(int, 6, low=0),  # dev scoring: frames (clips) per video, evenly spaced (0: all)
    "batch_size": Typed(int, 32, low=1),
    "score": Typed(str, SCORE_RULES[0], choices=SCORE_RULES),  # label: mask = depth map > 0 (the original)
}

TEST_DEFAULTS: dict[str, Any] = {
    "frames_per_video": Typed(int, 6, low=0),  # test.py: frames (clips) per video; video score = their mean
    "depth_samples": Typed(int, 8, low=0),  # predicted maps in depth_grid.png
}

DEFAULTS: dict[str, Any] = {
    "train": {**ENGINE_DEFAULTS, "run_dir": "work_dirs/sgtd_single", "batch_size": 42, "max_iters": 10000,
              "eval_every": 500, "ckpt_every": 500, "log_every": 50, "image_every": 500},
    "data": DATA_DEFAULTS,
    "augment": AUGMENT_DEFAULTS,
    "model": {
        "paper_order": False,  # true: 1x1 conv before the Sobel (paper's equation); false: the released code
        "bn_momentum": 0.001,  # TF slim decay 0.999
        "bn_eps": 0.001,
        "width": Typed(float, 1.0, low=0.01),  # channel multiplier; 1.0 is the paper's network (2,466,497 parameters)
    },
    "loss": {
        "contrast_weight": 0.5,
        "contrast_padding": Typed(int, 1, choices=(0, 1)),  # FAS-SGTD's zero-padded contrast kernels (CDCN: 0)
        "l2": 5e-4,  # coupled L2 on conv kernels: l2 * sum(w^2) / 2
    },
    "optim": {"lr": Typed(float, 1e-4, low=0.0)},  # Adam, constant
    "eval": EVAL_DEFAULTS,
    "test": TEST_DEFAULTS,
}


class ClipTask(Task):
    """What both FAS-SGTD stages share, the multi-frame one included.

    The clip datasets of :mod:`.dataset`, live/attack balanced batches, the prerequisites and the
    scoring datasets (a video's score is the mean over its frames or clips).
    """

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        self.paths = WorkPaths.from_config(cfg.data)
        self._entries: dict[str, list] = {}

    # -- data
    def entries(self, split: str):
        if split not in self._entries:
            self._entries[split] = load_entries(self.cfg.data, split)
        return self._entries[split]

    def clip_dataset(self, entries: list, items: list[tuple[int, list[int]]], train: bool) -> ClipDataset:
        """Training: random widened crops and augmentation; test: the box scaled by ``data.test_scale``."""
        d = self.cfg.data
        resize = (str(d.resize_image), str(d.resize_depth))
        if train:
            return ClipDataset(entries, items, self.paths, int(d.input_size), train=True, aug_cfg=self.cfg.augment,
                               widen=tuple(d.widen), test_scale=float(d.test_scale), resize=resize)
        return ClipDataset(entries, items, self.paths, int(d.input_size), train=False, test_scale=float(d.test_scale),
                           resize=resize)

    def training_items(self, entries: list, length: int = 1, interval: int = 1) -> list[tuple[int, list[int]]] | None:
        """The original's fixed window list when ``data.train_sampling`` is ``windows``, else None (every candidate)."""
        d = self.cfg.data
        if str(d.train_sampling) != "windows":
            return None
        return window_items(entries, length, interval, (int(d.window_stride_live), int(d.window_stride_attack)),
                            (int(d.window_cap_live), int(d.window_cap_attack)))

    def checkpoint_extra(self) -> dict[str, Any]:
        """How faces and depth maps were resized (the face mask of the score depends on it)."""
        return {"resize_image": str(self.cfg.data.resize_image), "resize_depth": str(self.cfg.data.resize_depth)}

    def batches_fn(self, dataset: ClipDataset):
        d = self.cfg.data
        return balanced_batches(dataset.items, dataset.entries, int(d.per_live), int(d.per_attack),
                                int(self.cfg.train.batch_size), str(d.train_sampling))

    def sample_groups(self, dataset: ClipDataset) -> list[int]:
        """Live or attack: an unreadable sample's stand-in keeps the batch's live/attack balance."""
        return [int(dataset.entries[vi].label) for vi, _ in dataset.items]

    def prerequisites(self) -> list[Prerequisite]:
        d = self.cfg.data
        command = python_module("data.preprocess", "--config", str(d.preprocess_config) or "CONFIG",
                                f"work_root={self.paths.work}")
        return [Prerequisite(p, command, "the preprocessed data", bool(d.preprocess_config))
                for p in (self.paths.depth, self.paths.list_file(str(d.protocol), "train"))]

    def scoring_items(self, split: str, frames_per_video: int) -> list[tuple[int, list[int]]]:
        raise NotImplementedError

    def scoring_dataset(self, split: str, frames_per_video: int) -> tuple[ClipDataset, list[VideoInfo]]:
        entries = self.entries(split)
        dataset = self.clip_dataset(entries, self.scoring_items(split, frames_per_video), train=False)
        return dataset, [VideoInfo(e.video, int(e.label), e.species) for e in entries]


class SingleFrameTask(ClipTask):
    """The single-frame stage: one-frame clips, the depth loss and the L2 term."""

    method_name = "sgtd_single"
    defaults = DEFAULTS
    default_config = "fas_sgtd_single_frame/configs/demo.yaml"
    description = "Train or test the FAS-SGTD single-frame network (RSGB / FaceMapNet)."

    def train_dataset(self) -> ClipDataset:
        entries = self.entries("train")
        items = self.training_items(entries)
        return self.clip_dataset(entries, train_items(entries) if items is None else items, train=True)

    def scoring_items(self, split: str, frames_per_video: int) -> list[tuple[int, list[int]]]:
        return test_items(self.entries(split), frames_per_video, str(self.cfg.data.test_sampling))

    def score_batch(self, model: nn.Module, batch: dict[str, Any], device: torch.device):
        return super().score_batch(model, {**batch, "image": batch["image"][:, 0]}, device)

    def training_step(self, model: nn.Module, batch: dict[str, torch.Tensor], step: int):
        x = batch["image"][:, 0]
        target = batch["depth"][:, 0]
        pred = model(x)
        mse = F.mse_loss(pred, target)
        contrast = contrast_depth_loss(pred, target, padding=int(self.cfg.loss.contrast_padding))
        core = model.module if hasattr(model, "module") else model
        l2 = core.l2_penalty(float(self.cfg.loss.l2))
        loss = mse + float(self.cfg.loss.contrast_weight) * contrast + l2
        return loss, {"mse": mse.item(), "contrast": contrast.item(), "l2": l2.item()}

    def log_images(self, writer: Any, model: nn.Module, batch: dict[str, torch.Tensor], step: int) -> None:
        model.eval()
        pred = model(batch["image"][:4, 0])
        model.train()
        writer.add_images("depth/pred", pred.clamp(0, 1), step)
        writer.add_images("depth/label", batch["depth"][:4, 0], step)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    return train_main(SingleFrameTask, argv)


if __name__ == "__main__":
    main()
