"""Train the FAS-SGTD multi-frame stage on a frozen single-frame network (fas_sgtd.md "Multi-frame network").

    python -m fas_sgtd_multi_frame.train [--config FILE] [key=value ...]
    torchrun --nproc_per_node N -m fas_sgtd_multi_frame.train --config FILE

Needs a trained single-frame checkpoint (``model.single_checkpoint``; the default is the
single-frame stage's default output). Only the STPM, the fusion and the classifier train;
the single-frame network's weights and BatchNorm statistics stay as loaded. Loss
``0.2 * L_depth + 0.8 * CE + L2`` with ``L_depth = sum_i (MSE_i + contrast_i) / 5`` over the
four fused maps; Adadelta lr 0.01, rho 0.95, eps 1e-8.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from fas_core import checkpoint as ckpt
from fas_core.engine import ENGINE_DEFAULTS
from fas_core.losses import contrast_depth_loss
from fas_core.runner import train_main
from fas_sgtd_single_frame.dataset import ClipDataset, test_items, train_items
from fas_sgtd_single_frame.train import AUGMENT_DEFAULTS, DATA_DEFAULTS, ClipTask

from .model import LIVE_CLASS, build_multi_frame, multi_frame_score

SINGLE_HINT = ("train the single-frame stage first (bash fas_sgtd_single_frame/train.sh, which writes "
               "work_dirs/sgtd_single_demo/best.pt with the demo config), or point model.single_checkpoint at "
               "a single-frame checkpoint")

DEFAULTS: dict[str, Any] = {
    "train": {**ENGINE_DEFAULTS, "run_dir": "work_dirs/sgtd_multi", "batch_size": 2, "max_iters": 10000,
              "eval_every": 500, "ckpt_every": 500, "log_every": 50, "image_every": 500},
    "data": {
        **DATA_DEFAULTS,
        "clip_frames": 5,  # frames per clip (len_seq)
        "clip_interval": 3,  # frames between neighbours of a clip (interval_seq)
    },
    "augment": dict(AUGMENT_DEFAULTS),
    "model": {
        "single_checkpoint": "work_dirs/sgtd_single/best.pt",  # the frozen single-frame network
        # Architecture of the single-frame network: must match the checkpoint (checked at start).
        "paper_order": False,
        "width": 1.0,
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
        "contrast_padding": 1,
        "depth_divisor": "frames",  # frames: sum over the T-1 maps / T (the original's /5); pairs: / (T-1)
        "l2": 5e-4,  # coupled L2 on the STPM's conv and FC kernels (the ConvGRU's have none)
    },
    "optim": {"lr": 0.01, "rho": 0.95, "eps": 1e-8},  # Adadelta
    "test": {"batch_size": 8, "score_mask": "label", "depth_samples": 8},
}


class MultiFrameTask(ClipTask):
    """The multi-frame stage for :func:`fas_core.engine.train` (``load_single``: read the frozen net)."""

    name = "sgtd_multi"
    load_single = True

    # -- data
    def clip_shape(self) -> tuple[int, int]:
        t, k = int(self.cfg.data.clip_frames), int(self.cfg.data.clip_interval)
        if t < 2 or k < 1:
            raise ValueError(f"data.clip_frames must be >= 2 and data.clip_interval >= 1, got {t}, {k}")
        return t, k

    def train_dataset(self) -> ClipDataset:
        d = self.cfg.data
        entries = self.entries("train")
        items = train_items(entries, *self.clip_shape())
        if not items:
            raise ValueError(f"no training video has {d.clip_frames} usable frames {d.clip_interval} apart: "
                             f"lower data.clip_interval or data.clip_frames")
        return self.clip_dataset(entries, items, train=True)

    def test_dataset(self, split: str) -> ClipDataset:
        d = self.cfg.data
        entries = self.entries(split)
        items, short = test_items(entries, int(d.test_per_video), *self.clip_shape())
        if short:
            print(f"warning: {len(short)} {split} video(s) are too short for a clip of {d.clip_frames} frames "
                  f"{d.clip_interval} apart and get no score: " + ", ".join(short[:10]))
        return self.clip_dataset(entries, items, train=False)

    # -- model
    def build_model(self) -> nn.Module:
        model = build_multi_frame(self.cfg.model, int(self.cfg.data.image_size))
        if self.load_single:
            load_single_frame(model.single, self.cfg)
        self.model = model  # training_step runs its frozen part; the engine wraps only the head
        return model

    def trainable_module(self, model: nn.Module) -> nn.Module:
        return model.head

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

    def checkpoint_meta(self) -> dict[str, Any]:
        t, k = self.clip_shape()
        return {**super().checkpoint_meta(), "clip": {"frames": t, "interval": k},
                "single_checkpoint": str(self.cfg.model.single_checkpoint)}

    def log_images(self, writer: Any, model: nn.Module, batch: dict[str, torch.Tensor], step: int) -> None:
        model.eval()
        out = model(batch["image"][:2])
        model.train()
        writer.add_images("depth/fused_t0", out["fused"][:, 0].clamp(0, 1), step)
        writer.add_images("depth/single_t0", out["single_depth"][:, 0].clamp(0, 1), step)
        writer.add_images("depth/label_t0", batch["depth"][:2, 0], step)

    def load_released(self, path: str) -> tuple[dict, dict]:
        """The released TF model for ``test.py --released`` (needs the original's ConvGRU and classifier)."""
        from fas_sgtd_single_frame.convert_tf import load_released

        m = self.cfg.model
        original = not m.gru_recurrent and m.legacy_double_softmax and float(m.width) == 1.0
        if not original or int(self.cfg.data.image_size) != 256:
            raise ValueError("the released model needs model.gru_recurrent=false, model.legacy_double_softmax=true, "
                             "model.width=1.0 and data.image_size=256 (use configs/released_p1.yaml)")
        return load_released(path, stage="multi")

    # -- scoring
    def predict_batch(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        out = model(batch["image"])
        mask = self.score_mask(batch["mask"][:, 0])  # the face mask of the clip's first frame
        return multi_frame_score(out["fused"], out["p_live"], mask), out["fused"].mean(dim=1)[:, 0]


class MultiFrameTestTask(MultiFrameTask):
    """Testing: every weight comes from the multi-frame checkpoint, the single-frame one is not read."""

    load_single = False


def multi_frame_loss(out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], loss_cfg: Any
                     ) -> tuple[torch.Tensor, dict[str, float]]:
    """``depth_weight * L_depth + cla_weight * CE`` (fas_sgtd.md); labels: class 0 live, 1 attack."""
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
        raise FileNotFoundError(f"single-frame checkpoint not found: {path}. {SINGLE_HINT}")
    meta = ckpt.read_meta(path)
    if meta.get("method") not in (None, "sgtd_single"):
        raise ValueError(f"{path} is a '{meta.get('method')}' checkpoint, not a FAS-SGTD single-frame one")
    trained = (meta.get("config") or {})
    problems = []
    for key in ("paper_order", "width", "bn_eps"):
        have = (trained.get("model") or {}).get(key)
        if have is not None and have != cfg.model[key]:
            problems.append(f"model.{key}: checkpoint {have!r}, this config {cfg.model[key]!r}")
    size = meta.get("input_size")
    if size is not None and int(size) != int(cfg.data.image_size):
        problems.append(f"data.image_size: checkpoint {size}, this config {cfg.data.image_size}")
    if problems:
        raise ValueError(f"single-frame checkpoint {path} does not match this config: " + "; ".join(problems))
    ckpt.load_weights(single, path)
    print(f"[sgtd_multi] frozen single-frame network from {path} (step {meta.get('step', '?')})")


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    return train_main(MultiFrameTask, copy.deepcopy(DEFAULTS), __doc__, argv)


if __name__ == "__main__":
    main()
