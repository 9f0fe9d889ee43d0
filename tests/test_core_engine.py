"""The training engine: deterministic sampler, DDP split, resume to identical weights."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from fas_core.config import load_config
from fas_core.engine import ENGINE_DEFAULTS, SeededBatchSampler, count_unreadable, train
from fas_core.errors import UserError
from fas_core.method import Method
from fas_core.methods import register
from fas_core.task import Task
from fas_core.unreadable import UnreadableTally

# The engine only needs a method's name and record; the toy network is the task's own.
register("engine_toy", Method(name="engine_toy", build=lambda args: nn.Identity(), default_model_args={},
                              task="tests.test_core_engine:ToyTask"))


class NoisyDataset(Dataset):
    """Each sample is drawn from its own seed, as the real loaders' augmentations are."""

    def __len__(self) -> int:
        return 10

    def __getitem__(self, item):
        index, seed = item
        rng = np.random.default_rng(seed)
        x = torch.tensor(rng.normal(size=4), dtype=torch.float32) + index
        return x, torch.tensor(float(index % 2))


class ToyTask(Task):
    method_name = "engine_toy"
    crash_at: int | None = None

    def input_spec(self):
        return self.method.input_spec(8)

    def build_model(self):
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 1))  # dropout: uses the RNG

    def train_dataset(self):
        return NoisyDataset()

    def build_optimizer(self, model):
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        return opt, torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)

    def training_step(self, model, batch, step):
        if self.crash_at is not None and step == self.crash_at:
            raise KeyboardInterrupt("simulated kill")
        x, y = batch
        loss = nn.functional.mse_loss(model(x).squeeze(1), y)
        return loss, {}

    def evaluate(self, model, split):
        return []

    def selection_metric(self, rows):
        return 0.0, {"dev_ACER": 0.0}


def _cfg(run_dir, **train):
    return load_config({"train": ENGINE_DEFAULTS}, None,
                       [f"train.run_dir={run_dir}", "train.batch_size=3", "train.max_iters=8", "train.ckpt_every=2",
                        "train.log_every=100", "train.eval_every=0"] + [f"train.{k}={v}" for k, v in train.items()])


def test_sampler_is_deterministic_and_resumable():
    s = SeededBatchSampler(10, 3, seed=5)
    full = list(s)
    assert len(full) == 3 and all(len(b) == 3 for b in full)
    assert full == list(SeededBatchSampler(10, 3, seed=5))
    assert list(SeededBatchSampler(10, 3, seed=5, start_batch=1)) == full[1:]
    s.epoch = 1
    assert list(s) != full  # a new order every epoch


def test_default_epoch_is_the_seeded_permutation_cut_into_full_batches():
    # the order a run's checkpoints were trained in: numpy's permutation from (seed, epoch), last partial batch dropped
    order = np.random.default_rng([5, 2]).permutation(10).tolist()
    assert SeededBatchSampler(10, 3, seed=5).epoch_batches(2) == [order[0:3], order[3:6], order[6:9]]


def test_ddp_ranks_take_disjoint_batches():
    r0 = [i for b in SeededBatchSampler(12, 2, 0, rank=0, world=2) for i, _ in b]
    r1 = [i for b in SeededBatchSampler(12, 2, 0, rank=1, world=2) for i, _ in b]
    assert not set(r0) & set(r1) and sorted(r0 + r1) == list(range(12))
    seeds0 = {s for b in SeededBatchSampler(12, 2, 0, rank=0, world=2) for _, s in b}
    seeds1 = {s for b in SeededBatchSampler(12, 2, 0, rank=1, world=2) for _, s in b}
    assert not seeds0 & seeds1


def test_kill_and_resume_gives_identical_weights(tmp_path):
    cfg = _cfg(tmp_path / "straight")
    train(ToyTask(cfg), cfg)
    straight = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)

    cfg = _cfg(tmp_path / "killed")
    task = ToyTask(cfg)
    task.crash_at = 5  # dies after the step-4 checkpoint, in the middle of epoch 2
    with pytest.raises(KeyboardInterrupt):
        train(task, cfg)
    assert torch.load(tmp_path / "killed" / "last.pt", weights_only=True)["step"] == 4
    train(ToyTask(cfg), cfg)
    resumed = torch.load(tmp_path / "killed" / "last.pt", weights_only=True)
    assert resumed["step"] == straight["step"] == 8
    for k, v in straight["model"].items():
        assert torch.equal(v, resumed["model"][k]), k
    assert (tmp_path / "killed" / "config.yaml").is_file() and (tmp_path / "killed" / "log.txt").is_file()


def test_too_small_dataset_is_a_clear_error(tmp_path):
    cfg = _cfg(tmp_path / "r", batch_size=50)
    with pytest.raises(UserError, match="gives no full batch of 50"):
        train(ToyTask(cfg), cfg)


def test_the_first_twenty_unreadable_files_are_each_named_once_in_the_log():
    warned: list[str] = []
    run = SimpleNamespace(unreadable=UnreadableTally(1.0), cfg=SimpleNamespace(train=SimpleNamespace(batch_size=8)),
                          log=SimpleNamespace(warning=warned.append), task=SimpleNamespace(name="toy"),
                          progress=SimpleNamespace(step=3))
    count_unreadable(run, [f"f{i}" for i in range(18)])
    count_unreadable(run, ["f0", "f18", "f19", "f20", "f21"])  # f0 was named; f18 and f19 complete the twenty
    assert [w.rsplit(": ", 1)[1] for w in warned] == [f"f{i}" for i in range(20)]


class EvaluationLog(ToyTask):
    """Notes the step of each dev evaluation (the step count after the last training step)."""

    def __init__(self, cfg):
        super().__init__(cfg)
        self.steps_done, self.evaluated_at = 0, []

    def training_step(self, model, batch, step):
        self.steps_done = step + 1
        return super().training_step(model, batch, step)

    def evaluate(self, model, split):
        self.evaluated_at.append(self.steps_done)
        return []

    def selection_metric(self, rows):
        return -float(len(self.evaluated_at)), {"dev_ACER": 0.0}  # every evaluation a new best


@pytest.mark.parametrize("settings, evaluated_at", [
    ({"eval_every": 3, "eval_after": 4}, [6, 8]),  # every 3 steps from step 4 on, and at the end
    ({"eval_every": 0, "eval_after": 0}, [8]),  # only at the end
    ({"eval_every": 3, "eval_after": 100}, [8]),  # ends before eval_after: once at the end, for best.pt
])
def test_dev_evaluation_steps_and_a_best_checkpoint_from_every_run(tmp_path, settings, evaluated_at):
    cfg = _cfg(tmp_path / "r", **settings)
    task = EvaluationLog(cfg)
    train(task, cfg)
    assert task.evaluated_at == evaluated_at
    assert torch.load(tmp_path / "r" / "best.pt", weights_only=True)["best"]["step"] == evaluated_at[-1]


def test_a_longer_resumed_run_before_eval_after_does_not_evaluate_again(tmp_path):
    train(EvaluationLog(cfg := _cfg(tmp_path / "r", eval_after=100)), cfg)
    longer = _cfg(tmp_path / "r", eval_after=100, max_iters=10)
    task = EvaluationLog(longer)
    train(task, longer)
    assert task.evaluated_at == [] and torch.load(tmp_path / "r" / "best.pt", weights_only=True)["best"]["step"] == 8
