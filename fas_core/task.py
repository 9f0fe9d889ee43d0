"""What a method's ``train.py`` supplies to the engine and to ``test.py``: a :class:`Task`.

A task knows its :class:`~fas_core.method.Method` (network, input, score rule), its config
defaults and default experiment file, and defines what differs between methods: the training
set and sampler, the loss of one step, the scoring datasets and what to log. Everything else
(the loop, resume, DDP, checkpoints, the scoring loop, reports) is the core's
(docs/architecture.md, "The method interface").
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from .crop_cache import CropCacheSpec
from .method import TEST_CROP_SCALE, InputSpec, Method
from .methods import ModelRecord, get_method
from .prepare import Prerequisite
from .scoring import Row, SplitScores, VideoInfo, score_videos
from .unreadable import SkipUnreadable, collate_skipping


class Task:
    """A method's training and scoring, on top of its :class:`Method`. Hooks have defaults where sensible."""

    method_name = ""  # the registry name of the method trained (a task may choose it from the config)
    defaults: Mapping[str, Any] = {}  # config defaults (nested dict), the same key names in every method
    default_config: str | None = None  # the experiment file used without --config (repository-relative)
    description = ""

    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg
        self.method: Method = get_method(self.chosen_method())

    @property
    def name(self) -> str:
        return self.method.name

    def accepts(self) -> tuple[str, ...]:
        """The methods whose checkpoints this task's ``test.py`` scores."""
        return (self.name,)

    def chosen_method(self) -> str:
        """The registry name of the method this config trains (default: ``method_name``)."""
        return self.method_name

    # --- the network ------------------------------------------------------------------
    def model_args(self) -> dict[str, Any]:
        return self.method.model_args_from_config(self.cfg)

    def build_model(self) -> nn.Module:
        return self.method.build(self.model_args())

    def crop_cache(self) -> CropCacheSpec | None:
        """The crop cache training reads (recorded for predict), or None when faces are cropped online."""
        return None

    def input_spec(self) -> InputSpec:
        d = self.cfg.data
        return self.method.input_spec(int(d.input_size), float(d.get("test_scale", TEST_CROP_SCALE)), self.crop_cache(),
                                      int(d.get("clip_frames", 1)), int(d.get("clip_interval", 1)))

    def score_rule(self) -> str | None:
        if self.method.score is None:
            return None
        return self.method.check_score_rule(str(self.cfg.eval.score))

    def checkpoint_extra(self) -> dict[str, Any]:
        """Anything else inference needs, stored under the checkpoint's ``extra``."""
        return {}

    def record(self, step: int | None = None, config: Mapping[str, Any] | None = None) -> ModelRecord:
        from .config import to_plain

        return ModelRecord(method=self.name, model_args=self.model_args(), input=self.input_spec(),
                           score_rule=self.score_rule(), config=to_plain(config or self.cfg), step=step,
                           extra=self.checkpoint_extra())

    # --- training (required) ----------------------------------------------------------
    def train_dataset(self) -> Dataset:
        """A dataset whose ``__getitem__((index, seed))`` returns one augmented sample."""
        raise NotImplementedError

    def training_step(self, model: nn.Module, batch: Any, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        """Return the loss to minimise and a dict of floats to log."""
        raise NotImplementedError

    # --- training (optional) ----------------------------------------------------------
    def prerequisites(self) -> list[Prerequisite]:
        """Inputs that must exist before training (made by :func:`fas_core.prepare.ensure`)."""
        return []

    def build_optimizer(self, model: nn.Module) -> tuple[torch.optim.Optimizer, Any]:
        """Optimiser and per-iteration scheduler (or None). Default: Adam at ``optim.lr``."""
        return torch.optim.Adam(model.parameters(), lr=float(self.cfg.optim.lr)), None

    def trainable_module(self, model: nn.Module) -> nn.Module:
        """The part that DDP wraps and the optimiser trains (default: the whole model)."""
        return model

    def batches_fn(self, dataset: Dataset):
        """Custom epoch batch composition (``rng -> list of index lists``), or None for shuffling."""
        return None

    def sample_groups(self, dataset: Dataset) -> Sequence[Hashable] | None:
        """The group (class, real or generated, domain) of every training sample, or None for one group.

        A sample whose file cannot be read is replaced by another of its group
        (:mod:`fas_core.unreadable`), so a batch composed by :meth:`batches_fn` keeps its make-up.
        """
        return None

    def collate(self, samples: list[Any]) -> Any:
        return torch.utils.data.default_collate(samples)

    def to_device(self, batch: Any, device: torch.device) -> Any:
        if isinstance(batch, torch.Tensor):
            return batch.to(device, non_blocking=True)
        if isinstance(batch, dict):
            return {k: self.to_device(v, device) for k, v in batch.items()}
        if isinstance(batch, (list, tuple)):
            return type(batch)(self.to_device(v, device) for v in batch)
        return batch

    def log_images(self, writer: Any, model: nn.Module, batch: Any, step: int) -> None:
        """Write TensorBoard images (depth maps, samples) for the current batch."""

    # --- scoring ----------------------------------------------------------------------
    def scoring_dataset(self, split: str, frames_per_video: int) -> tuple[Dataset, list[VideoInfo]]:
        """The samples of a split to score (``frames_per_video`` evenly spaced per video, 0: all) and its videos."""
        raise NotImplementedError

    def score_batch(self, model: nn.Module, batch: dict[str, Any], device: torch.device
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores ``[B]`` and depth maps ``[B, h, w]`` of one scoring batch: the method's score rule."""
        assert self.method.score is not None
        face_map = batch.get("map")
        return self.method.score(model, batch["image"].to(device), None if face_map is None else face_map.to(device),
                                 str(self.score_rule()), float(self.cfg.data.get("test_scale", TEST_CROP_SCALE)))

    def score_split(self, model: nn.Module, split: str, frames_per_video: int, depth_samples: int = 0
                    ) -> SplitScores:
        """Scores of every video of a split through the core's scoring loop."""
        dataset, videos = self.scoring_dataset(split, frames_per_video)
        # an unreadable frame is left out and named, not the end of the run (fas_core.unreadable)
        loader = DataLoader(SkipUnreadable(dataset), batch_size=int(self.cfg.eval.batch_size), shuffle=False,
                            num_workers=int(self.cfg.train.num_workers), collate_fn=collate_skipping)
        return score_videos(model, loader, videos, self.score_batch, depth_samples)

    def evaluate(self, model: nn.Module, split: str) -> list[Row]:
        """Per-video ``(video, score, label, species)`` rows for checkpoint selection (``eval.frames_per_video``)."""
        return self.score_split(model, split, int(self.cfg.eval.frames_per_video)).rows

    def prepare_for_test(self, model: nn.Module) -> nn.Module:
        """The network as ``test.py`` scores it (e.g. folded and fused: the same numbers, faster)."""
        return model

    def selection_metric(self, rows: list[Row]) -> tuple[float, dict[str, Any]]:
        """Lower is better. Default: dev ACER at the dev EER threshold."""
        from .metrics import evaluate_split
        from .scores import ScoreSet

        dev = ScoreSet.from_rows(rows, source="dev scores")
        figures = evaluate_split(dev, dev)
        return float(figures["ACER"]), {"dev_ACER": figures["ACER"], "dev_EER": figures["EER_dev"],
                                        "dev_threshold": figures["threshold"]}
