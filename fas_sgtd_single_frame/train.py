"""Train the FAS-SGTD single-frame depth network (fas_sgtd.md "Single-frame network").

    python -m fas_sgtd_single_frame.train [--config FILE] [key=value ...]
    torchrun --nproc_per_node N -m fas_sgtd_single_frame.train --config FILE

Loss ``MSE(D, G) + 0.5 * contrast_depth(D, G)`` (zero-padded contrast kernels) plus the coupled
L2 term ``5e-4 * sum(w^2) / 2`` on conv kernels; Adam lr 1e-4, constant. Checkpoints are
selected on dev ACER (the dev EER threshold); ``test.py`` reports test once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fas_core.engine import ENGINE_DEFAULTS, Task
from fas_core.losses import contrast_depth_loss
from fas_core.runner import SplitScores, train_main

from .dataset import ClipDataset, balanced_batches, data_paths, load_entries, test_items, train_items
from .model import box_mask, build_facemapnet, single_frame_score

DATA_DEFAULTS: dict[str, Any] = {
    "work": "datasets/demo_work",  # preprocessing work root: frames/, depth/, lists/
    "frames_root": "",  # default <work>/frames
    "depth_root": "",  # default <work>/depth
    "lists_root": "",  # default <work>/lists (Protocol_N/{Train,Dev,Test}[_k].txt)
    "protocol": "1",  # 1, 2, 3_1..3_6, 4_1..4_6
    "allow_missing": False,  # skip listed videos without usable frames (else an error)
    "image_size": 256,  # network input; the depth label is image_size / 8
    "widen": [0.1, 0.4],  # train crop: each side widened by U(lo, hi) / 2 of the box size
    "test_scale": 1.3,  # test crop: box scaled by this around its centre
    "per_live": 16,  # training samples per live video per epoch
    "per_attack": 4,  # ... per attack video (balances OULU's 1:4 live:attack ratio)
    "train_sampling": "random",  # random: new draw every epoch; even: the original's fixed, evenly spaced list
    "test_per_video": 6,  # frames (clips) scored per video, evenly spaced; video score = their mean
}

AUGMENT_DEFAULTS: dict[str, Any] = {
    "flip": 0.5,  # probability of a horizontal flip
    "flip_depth": True,  # flip the depth label with the image (false: the original's bug)
    "colour": 0.5,  # probability of clip(alpha * img + beta), alpha U(0.5, 1.5), beta randint(-40, 40)
    "cutout": 0.5,  # probability of a zeroed square of side randint(1, cutout_max_side)
    "cutout_max_side": 49,  # at input 256; scaled by image_size / 256
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
        "width": 1.0,  # channel multiplier; 1.0 is the paper's network (2,466,497 parameters)
    },
    "loss": {
        "contrast_weight": 0.5,
        "contrast_padding": 1,  # FAS-SGTD's zero-padded contrast kernels (CDCN/DUM use 0)
        "l2": 5e-4,  # coupled L2 on conv kernels: l2 * sum(w^2) / 2
    },
    "optim": {"lr": 1e-4},  # Adam, constant
    "test": {
        "batch_size": 32,
        "score_mask": "label",  # label: face mask = depth label > 0 (the original); box: face box of the crop
        "depth_samples": 8,  # predicted maps in depth_grid.png
    },
}


class ClipTask(Task):
    """What both FAS-SGTD stages share (fas_sgtd.md), the multi-frame one included.

    The clip datasets of :mod:`.dataset`, live/attack balanced batches, the checkpoint metadata,
    the face mask used for scoring, and video scores as the mean over their clips.
    """

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        self.paths = data_paths(cfg.data)
        self._entries: dict[str, list] = {}

    # -- data
    def entries(self, split: str):
        if split not in self._entries:
            self._entries[split] = load_entries(self.cfg.data, split)
        return self._entries[split]

    def clip_dataset(self, entries: list, items: list[tuple[int, list[int]]], train: bool) -> ClipDataset:
        """Training: random widened crops and augmentation; test: the box scaled by ``data.test_scale``."""
        d = self.cfg.data
        if train:
            return ClipDataset(entries, items, self.paths, int(d.image_size), train=True, aug_cfg=self.cfg.augment,
                               widen=tuple(d.widen), test_scale=float(d.test_scale))
        return ClipDataset(entries, items, self.paths, int(d.image_size), train=False, test_scale=float(d.test_scale))

    def batches_fn(self, dataset: ClipDataset):
        d = self.cfg.data
        return balanced_batches(dataset.items, dataset.entries, int(d.per_live), int(d.per_attack),
                                int(self.cfg.train.batch_size), str(d.train_sampling))

    def checkpoint_meta(self) -> dict[str, Any]:
        s = int(self.cfg.data.image_size)
        return {"method": self.name, "input_size": s, "depth_size": s // 8,
                "normalisation": {"mean": [127.5] * 3, "std": [255.0] * 3, "rgb": True},
                "crop_scale": float(self.cfg.data.test_scale)}

    # -- scoring
    def score_mask(self, mask: torch.Tensor) -> torch.Tensor:
        kind = str(self.cfg.test.score_mask)
        if kind == "label":
            return mask
        if kind == "box":
            m = box_mask(mask.shape[-1], float(self.cfg.data.test_scale), mask.device)
            return m.expand_as(mask)
        raise ValueError(f"test.score_mask must be 'label' or 'box', got {kind!r}")

    def predict_batch(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Clip scores ``[B]`` and depth maps ``[B, h, w]`` (model in eval mode)."""
        raise NotImplementedError

    @torch.no_grad()
    def score_split(self, model: nn.Module, split: str) -> SplitScores:
        return score_dataset(self, model, self.test_dataset(split))

    def evaluate(self, model: nn.Module, split: str) -> list[tuple[str, float, int, str | None]]:
        return self.score_split(model, split).rows


class SingleFrameTask(ClipTask):
    """The single-frame stage for :func:`fas_core.engine.train`."""

    name = "sgtd_single"

    # -- data
    def train_dataset(self) -> ClipDataset:
        entries = self.entries("train")
        return self.clip_dataset(entries, train_items(entries), train=True)

    def test_dataset(self, split: str) -> ClipDataset:
        entries = self.entries(split)
        items, _ = test_items(entries, int(self.cfg.data.test_per_video))
        return self.clip_dataset(entries, items, train=False)

    # -- model and optimisation
    def build_model(self) -> nn.Module:
        return build_facemapnet(self.cfg.model)

    def build_optimizer(self, model: nn.Module):
        return torch.optim.Adam(model.parameters(), lr=float(self.cfg.optim.lr)), None

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

    def load_released(self, path: str) -> tuple[dict, dict]:
        """A TF single-frame checkpoint of the original code for ``test.py --released``."""
        from .convert_tf import load_released

        return load_released(path, stage="single")

    # -- scoring
    def predict_batch(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Frame scores ``[B]`` and depth maps ``[B, h, w]`` (model in eval mode)."""
        depth = model(batch["image"][:, 0])
        return single_frame_score(depth, self.score_mask(batch["mask"][:, 0])), depth[:, 0]


@torch.no_grad()
def score_dataset(task: Any, model: nn.Module, dataset: ClipDataset) -> SplitScores:
    """Score every item with ``task.predict_batch``; video score = mean of its items (fas_sgtd.md)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    loader = torch.utils.data.DataLoader(dataset, batch_size=int(task.cfg.test.batch_size), shuffle=False,
                                         num_workers=int(task.cfg.train.num_workers))
    per_video: dict[int, list[float]] = {}
    frame_rows: list[tuple[str, int, float, int]] = []
    samples: dict[int, list[tuple[np.ndarray, str]]] = {0: [], 1: []}
    n_samples = int(task.cfg.test.depth_samples)
    for batch in loader:
        batch = {k: v.to(device) for k, v in batch.items()}
        scores, depths = task.predict_batch(model, batch)
        for j in range(len(scores)):
            vi, s = int(batch["video"][j]), float(scores[j])
            entry = dataset.entries[vi]
            per_video.setdefault(vi, []).append(s)
            frame_rows.append((entry.video, int(batch["frame"][j]), s, entry.label))
            if len(samples[entry.label]) < (n_samples + 1) // 2 and len(per_video[vi]) == 1:
                title = f"{entry.video} {'live' if entry.label else entry.species} {s:.2f}"
                samples[entry.label].append((depths[j].float().cpu().numpy(), title))
    model.train(was_training)
    rows = [(dataset.entries[vi].video, float(np.mean(v)), dataset.entries[vi].label, dataset.entries[vi].species)
            for vi, v in per_video.items()]
    return SplitScores(rows=rows, frame_rows=frame_rows, depth_samples=samples[1] + samples[0])


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    return train_main(SingleFrameTask, DEFAULTS, __doc__, argv)


if __name__ == "__main__":
    main()
