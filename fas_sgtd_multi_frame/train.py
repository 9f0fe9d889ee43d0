"""Train the FAS-SGTD multi-frame stage on a frozen single-frame network (docs/methods/fas_sgtd.md).

    python -m fas_sgtd_multi_frame.train [--config FILE] [key=value ...]
    torchrun --nproc_per_node N -m fas_sgtd_multi_frame.train --config FILE

Needs a trained single-frame checkpoint (``model.single_checkpoint``; with ``model.single_config``
set, as in the demo config, that stage is trained first when the checkpoint is missing). Only
the STPM, the fusion and the classifier train; the single-frame network's weights and BatchNorm
statistics stay as loaded. Loss ``0.2 * L_depth + 0.8 * CE + L2`` with
``L_depth = sum_i (MSE_i + contrast_i) / 5`` over the four fused maps; Adadelta lr 0.01, rho 0.95,
eps 1e-8. The network, input and score rules are :data:`fas_sgtd_multi_frame.method.SGTD_MULTI`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from fas_core.config import Typed
from fas_core.engine import ENGINE_DEFAULTS
from fas_core.errors import UserError
from fas_core.losses import contrast_depth_loss
from fas_core.methods import restore
from fas_core.prepare import Prerequisite, python_module
from fas_core.runner import train_main
from fas_sgtd_single_frame.train import AUGMENT_DEFAULTS, DATA_DEFAULTS, EVAL_DEFAULTS, TEST_DEFAULTS, ClipTask

from .dataset import test_clips, train_clips
from .model import LIVE_CLASS

DEFAULTS: dict[str, Any] = {
    "train": {**ENGINE_DEFAULTS, "run_dir": "work_dirs/sgtd_multi", "batch_size": 2, "max_iters": 10000,
              "eval_every": 500, "ckpt_every": 500, "log_every": 50, "image_every": 500},
    "data": {
        **DATA_DEFAULTS,
        "clip_frames": Typed(int, 5, low=2),  # frames per clip (len_seq)
        "clip_interval": Typed(int, 3, low=1),  # frames between neighbours of a clip (interval_seq)
        "window_stride_live": Typed(int, 10, low=1),  # windows: a clip window every 10 frames of a live video ...
        "window_stride_attack": Typed(int, 80, low=1),  # ... and every 80 of an attack video (the original)
    },
    "augment": dict(AUGMENT_DEFAULTS),
    "model": {
        "single_checkpoint": "work_dirs/sgtd_single/best.pt",  # the frozen single-frame network
        "single_config": "",  # when set and single_checkpoint is missing: train the single-frame stage with it first
        # Architecture of the single-frame network: must match the checkpoint (checked at start).
        "paper_order": False,
        "width": Typed(float, 1.0, low=0.01),
        "bn_eps": 0.001,
        "bn_momentum": 0.001,  # STPM BatchNorm (TF slim decay 0.999)
        "beta": 0.4,  # fusion: (1 - beta) * GRU map + beta * single-frame map
        "gru_recurrent": True,  # false: every pair starts from h = 0, as the released code runs
        "legacy_double_softmax": False,  # true: the original's ReLU + softmax + softmax-in-the-loss
    },
    "loss": {
        "depth_weight": 0.2,
        "cla_weight": 0.8,
        "contrast_weight": 1.0,  # per fused map: MSE + contrast
        "contrast_padding": Typed(int, 1, choices=(0, 1)),
        "depth_divisor": Typed(str, "frames", choices=("frames", "pairs")),  # frames: / T (the original's /5)
        "l2": 5e-4,  # coupled L2 on the STPM's conv and FC kernels (the ConvGRU's have none)
    },
    "optim": {"lr": Typed(float, 0.01, low=0.0), "rho": 0.95, "eps": 1e-8},  # Adadelta
    "eval": {**EVAL_DEFAULTS, "batch_size": Typed(int, 8, low=1)},
    "test": dict(TEST_DEFAULTS),
}
SINGLE_ARCHITECTURE = ("paper_order", "width", "bn_eps")  # must equal the single-frame checkpoint's


class MultiFrameTask(ClipTask):
    """The multi-frame stage: clips, the frozen single-frame network, the head's losses."""

    method_name = "sgtd_multi"
    defaults = DEFAULTS
    default_config = "fas_sgtd_multi_frame/configs/demo.yaml"
    description = "Train or test the FAS-SGTD multi-frame stage (OFFB + ConvGRU on the frozen single-frame network)."

    # -- data
    def clip_shape(self) -> tuple[int, int]:
        return int(self.cfg.data.clip_frames), int(self.cfg.data.clip_interval)

    def train_dataset(self):
        d = self.cfg.data
        entries = self.entries("train")
        items = self.training_items(entries, *self.clip_shape())
        if items is None:
            items = train_clips(entries, *self.clip_shape())
        if not items:
            raise UserError(f"no training video has {d.clip_frames} usable frames {d.clip_interval} apart: "
                            f"lower data.clip_interval or data.clip_frames")
        return self.clip_dataset(entries, items, train=True)

    def scoring_items(self, split: str, frames_per_video: int) -> list[tuple[int, list[int]]]:
        d = self.cfg.data
        items, short = test_clips(self.entries(split), frames_per_video, *self.clip_shape(),
                                  str(d.test_sampling))
        if short:
            print(f"warning: {len(short)} {split} video(s) are too short for a clip of {d.clip_frames} frames "
                  f"{d.clip_interval} apart and get no score: " + ", ".join(short[:10]))
        return items

    def prerequisites(self) -> list[Prerequisite]:
        """The preprocessed data, then the single-frame checkpoint (trained with ``model.single_config``)."""
        m = self.cfg.model
        path = Path(m.single_checkpoint)
        command = python_module("fas_sgtd_single_frame.train", "--config", str(m.single_config) or "CONFIG",
                                f"train.run_dir={path.parent}", f"data.work={self.cfg.data.work}",
                                f"data.input_size={self.cfg.data.input_size}")
        single = Prerequisite(path, command, "the single-frame checkpoint", bool(m.single_config))
        return [*super().prerequisites(), single]

    # -- model
    def build_model(self) -> nn.Module:
        model = super().build_model()
        load_single_frame(model.single, self.cfg)
        self.model = model  # training_step runs its frozen part; the engine wraps only the head
        return model

    def trainable_module(self, model: nn.Module) -> nn.Module:
        return model.head

    def checkpoint_extra(self) -> dict[str, Any]:
        return {**super().checkpoint_extra(), "single_checkpoint": str(self.cfg.model.single_checkpoint)}

    def build_optimizer(self, model: nn.Module):
        o = self.cfg.optim
        return torch.optim.Adadelta(model.parameters(), lr=float(o.lr), rho=float(o.rho), eps=float(o.eps)), None

    def training_step(self, model: nn.Module, batch: dict[str, torch.Tensor], step: int):
        """``model`` is the (DDP-wrapped) head; the frozen network runs here without gradients."""
        head = model.module if hasattr(model, "module") else model
        depth, feats = self.model.extract(batch["image"])
        out = model(depth, feats)
        loss, logs = multi_frame_loss(out, batch, self.cfg.loss)
        l2 = head.l2_penalty(float(self.cfg.loss.l2))
        return loss + l2, {**logs, "l2": l2.item()}

    def log_images(self, writer: Any, model: nn.Module, batch: dict[str, torch.Tensor], step: int) -> None:
        model.eval()
        out = model(batch["image"][:2])
        model.train()
        writer.add_images("depth/fused_t0", out["fused"][:, 0].clamp(0, 1), step)
        writer.add_images("depth/single_t0", out["single_depth"][:, 0].clamp(0, 1), step)
        writer.add_images("depth/label_t0", batch["depth"][:2, 0], step)


def multi_frame_loss(out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], loss_cfg: Any
                     ) -> tuple[torch.Tensor, dict[str, float]]:
    """``depth_weight * L_depth + cla_weight * CE`` (docs/methods/fas_sgtd.md); labels: class 0 live, 1 attack."""
    fused, target = out["fused"], batch["depth"]
    n = fused.shape[1]
    depth_sum = fused.new_zeros(())
    for i in range(n):
        depth_sum = depth_sum + F.mse_loss(fused[:, i], target[:, i]) + float(loss_cfg.contrast_weight) * \
            contrast_depth_loss(fused[:, i], target[:, i], padding=int(loss_cfg.contrast_padding))
    divisor = {"frames": n + 1, "pairs": n}.get(str(loss_cfg.depth_divisor))
    if divisor is None:
        raise ValueError(f"loss.depth_divisor must be 'frames' or 'pairs', got {loss_cfg.depth_divisor!r}")
    l_depth = depth_sum / divisor
    cls = torch.where(batch["label"] == 1, LIVE_CLASS, 1 - LIVE_CLASS)
    ce = F.cross_entropy(out["logits"], cls)
    loss = float(loss_cfg.depth_weight) * l_depth + float(loss_cfg.cla_weight) * ce
    acc = (out["logits"].argmax(dim=1) == cls).float().mean()
    return loss, {"depth": l_depth.item(), "ce": ce.item(), "acc": acc.item()}


def load_single_frame(single: nn.Module, cfg: Any) -> None:
    """Load the frozen network from ``model.single_checkpoint``; its architecture must match the config."""
    path = Path(cfg.model.single_checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"single-frame checkpoint not found: {path}. Train the single-frame stage first "
                                f"(bash fas_sgtd_single_frame/train.sh), set model.single_config to train it "
                                f"here, or point model.single_checkpoint at a single-frame checkpoint")
    restored = restore(path)
    if restored.method.name != "sgtd_single":
        raise UserError(f"{path} is a '{restored.method.name}' checkpoint, not a FAS-SGTD single-frame one")
    args, problems = restored.record.model_args, []
    for key in SINGLE_ARCHITECTURE:
        if args[key] != cfg.model[key]:
            problems.append(f"model.{key}: checkpoint {args[key]!r}, this config {cfg.model[key]!r}")
    if restored.record.input.size != int(cfg.data.input_size):
        problems.append(f"data.input_size: checkpoint {restored.record.input.size}, this config {cfg.data.input_size}")
    if problems:
        raise UserError(f"single-frame checkpoint {path} does not match this config: " + "; ".join(problems))
    single.load_state_dict(restored.model.state_dict())
    print(f"[sgtd_multi] frozen single-frame network from {path} (step {restored.record.step})")


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    return train_main(MultiFrameTask, argv)


if __name__ == "__main__":
    main()
