"""Mixed precision, memory format and compilation through the engine's own step, on the CPU.

``train.amp=bf16`` (autocast), ``train.amp=fp16`` (autocast and a gradient scaler),
``train.channels_last`` (the network and the image batches in NHWC) and ``train.compile``:
each must train the same network as fp32, up to the rounding of the lower precision. CDCN_u
where the network matters; a two-convolution toy where only the engine's mechanics do.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dum.train import DEFAULTS, DumTask
from fas_core import engine
from fas_core.config import ConfigError, load_config
from fas_core.dist import DistInfo
from fas_core.method import Method
from fas_core.methods import get_method, register
from fas_core.task import Task

SIZE, BATCH = 24, 2  # 24x24 faces, 3x3 depth maps: the smallest CDCN_u input with a contrast-loss window


class TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn = nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8)  # no bias before BN
        self.conv2 = nn.Conv2d(8, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(F.relu(self.bn(self.conv1(x))))[:, 0]


class TinyTask(Task):
    method_name = "amp_tiny"

    def input_spec(self):
        return self.method.input_spec(8)

    def training_step(self, model, batch, step):
        loss = F.mse_loss(model(batch["image"]).float(), batch["depth"])
        return loss, {}


register("amp_tiny", Method(name="amp_tiny", build=lambda args: TinyNet(), default_model_args={},
                            task="tests.test_amp:TinyTask"))


def open_run(task: Task, cfg) -> engine.Run:
    run = engine.open_run(task, cfg, DistInfo())  # seeded: every run of a test starts from the same weights
    run.ddp_model = engine.wrap_for_ddp(run)
    return run


def dum_run(run_dir: Path, amp: str = "off", channels_last: bool = False) -> engine.Run:
    cfg = load_config(DEFAULTS, None, [f"train.run_dir={run_dir}", f"data.input_size={SIZE}", "train.device=cpu",
                                       f"train.batch_size={BATCH}", f"train.amp={amp}",
                                       f"train.channels_last={str(channels_last).lower()}"])
    return open_run(DumTask(cfg), cfg)


def tiny_run(run_dir: Path, amp: str = "off") -> engine.Run:
    cfg = load_config({"train": engine.ENGINE_DEFAULTS, "optim": {"lr": 1e-3}}, None,
                      [f"train.run_dir={run_dir}", "train.device=cpu", f"train.amp={amp}"])
    return open_run(TinyTask(cfg), cfg)


def dum_batch(seed: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    depth = SIZE // 8
    return {"image": torch.randn(BATCH, 3, SIZE, SIZE, generator=g),
            "depth": torch.rand(BATCH, depth, depth, generator=g),
            "label": torch.tensor([1, 0]), "generated": torch.tensor([0, 0])}


def tiny_batch() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(2)
    return {"image": torch.randn(4, 3, 8, 8, generator=g), "depth": torch.rand(4, 8, 8, generator=g)}


def weights(run: engine.Run) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in run.model.state_dict().items()}


def grads(run: engine.Run) -> dict[str, torch.Tensor]:
    return {k: p.grad.clone() for k, p in run.model.named_parameters() if p.grad is not None}


def test_bf16_autocast_loss_is_fp32_loss_to_within_3_percent(tmp_path):
    batch = dum_batch()
    full, _ = engine.step(dum_run(tmp_path / "fp32"), batch)
    half, logs = engine.step(dum_run(tmp_path / "bf16", "bf16"), batch)
    relative = abs(half.item() - full.item()) / full.item()
    # bf16 keeps 8 bits of mantissa (about 0.4% per rounding): through ~20 layers the loss moves by
    # about 1% here. Not 0: autocast really ran the convolutions in bf16.
    assert 0.0 < relative < 0.03, (full.item(), half.item())
    assert torch.isfinite(half) and half.dtype == torch.float32 and set(logs) >= {"real_mse", "real_kl"}


def test_scaled_step_equals_the_unscaled_step(tmp_path):
    """The engine's scaler path (scale, backward, unscale, step, update) changes nothing when nothing overflows:
    in fp32 a power-of-two scale is exact, so gradients and weights are bit for bit those of a plain step."""
    batch = tiny_batch()
    scaled, plain = tiny_run(tmp_path / "scaled"), tiny_run(tmp_path / "plain")
    scaled.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    before = weights(plain)
    loss_a, _ = engine.step(scaled, batch)
    loss_b, _ = engine.step(plain, batch)
    assert loss_a.item() == loss_b.item() and scaled.scaler.get_scale() == 2.0**10  # no overflow: scale kept
    ga, gb = grads(scaled), grads(plain)
    assert ga.keys() == gb.keys() == {"conv1.weight", "bn.weight", "bn.bias", "conv2.weight", "conv2.bias"}
    assert all(torch.equal(ga[k], gb[k]) for k in ga)
    a, b = weights(scaled), weights(plain)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert all(not torch.equal(b[k], before[k]) for k in ga)  # and the step did move every weight


def test_fp16_scaled_gradients_match_unscaled_to_fp16_rounding(tmp_path):
    batch = tiny_batch()
    scaled = tiny_run(tmp_path / "scaled", "fp16")
    assert isinstance(scaled.scaler, torch.amp.GradScaler)  # fp16 comes with a gradient scaler
    scaled.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**3)  # small enough never to overflow here
    unscaled = tiny_run(tmp_path / "unscaled", "fp16")
    unscaled.scaler = None
    loss_a, _ = engine.step(scaled, batch)
    loss_b, _ = engine.step(unscaled, batch)
    assert loss_a.item() == loss_b.item()  # the scale multiplies the backward pass only
    assert scaled.scaler.get_scale() == 2.0**3
    ga, gb = grads(scaled), grads(unscaled)
    for key in ga:
        # Not always bit for bit: without the scale, gradients below fp16's smallest normal number
        # (6e-5) lose precision (what the scaler is for); CDCN_u: at most 0.5% of a tensor's largest.
        assert (ga[key] - gb[key]).abs().max() <= 0.01 * gb[key].abs().max(), key


def test_fp16_overflow_skips_the_step_and_halves_the_scale(tmp_path):
    run = tiny_run(tmp_path / "overflow", "fp16")
    run.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**40)  # far past fp16's 65504: inf gradients
    before = weights(run)
    engine.step(run, tiny_batch())
    assert run.scaler.get_scale() == 2.0**39
    after = weights(run)
    for key in ("conv1.weight", "bn.weight", "bn.bias", "conv2.weight", "conv2.bias"):
        assert torch.equal(after[key], before[key]), key  # the optimiser step was skipped


@pytest.mark.parametrize("name", ["cdcn_u", "cdcnpp", "sgtd_single"])
def test_channels_last_gives_the_same_outputs(name):
    method = get_method(name)
    torch.manual_seed(0)
    model = method.build(method.model_args({"input_size": 32} if "input_size" in method.default_model_args
                                           else {})).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        plain = model(x)
        nhwc = model.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last))
    for p, q in zip(plain if isinstance(plain, tuple) else (plain,), nhwc if isinstance(nhwc, tuple) else (nhwc,),
                    strict=True):
        # Within 1e-5 of the output's scale (only the summation order differs): a fresh FAS-SGTD network's
        # unnormalised maps reach ~1e4, where fp32 itself resolves only ~1e-3.
        assert p.shape == q.shape and (p - q).abs().max() <= 1e-5 * p.abs().max()


def test_channels_last_batches_and_the_same_step(tmp_path):
    batch = dum_batch()
    run = dum_run(tmp_path / "nhwc", channels_last=True)
    moved = engine.move_batch(run, batch)
    assert moved["image"].is_contiguous(memory_format=torch.channels_last)
    assert not batch["image"].is_contiguous(memory_format=torch.channels_last) and torch.equal(moved["image"],
                                                                                                batch["image"])
    assert moved["depth"] is batch["depth"] and moved["label"] is batch["label"]  # only 4-D tensors change
    conv = next(m for m in run.model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    nhwc, _ = engine.step(run, moved)
    nchw, _ = engine.step(dum_run(tmp_path / "nchw"), batch)
    assert nhwc.item() == pytest.approx(nchw.item(), rel=1e-5)


def test_compiled_training_matches_eager(tmp_path, monkeypatch):
    """``train.compile=true`` runs the step through ``torch.compile`` (the CPU's inductor takes minutes to
    compile on a busy machine; the test compiles with AOTAutograd's eager backend, which traces the same
    forward and backward graphs)."""
    calls = []
    real = torch.compile

    def traced(module, **kwargs):
        calls.append(type(module).__name__)
        return real(module, **{**kwargs, "backend": "aot_eager"})

    monkeypatch.setattr(torch, "compile", traced)
    batch = tiny_batch()
    eager, compiled = tiny_run(tmp_path / "eager"), tiny_run(tmp_path / "compiled")
    assert engine.compile_if_asked(eager.ddp_model, False) is eager.ddp_model and not calls
    compiled.ddp_model = engine.compile_if_asked(compiled.ddp_model, True)
    assert calls == ["TinyNet"]
    for _ in range(2):
        loss_e, _ = engine.step(eager, batch)
        loss_c, _ = engine.step(compiled, batch)
        assert loss_c.item() == pytest.approx(loss_e.item(), rel=1e-5)
        ge, gc = grads(eager), grads(compiled)
        assert ge.keys() == gc.keys() and all(torch.allclose(ge[k], gc[k], rtol=1e-4, atol=1e-7) for k in ge)
    a, b = weights(eager), weights(compiled)
    assert all(torch.allclose(a[k], b[k], rtol=1e-4, atol=1e-6) for k in a)


def test_precision_words_on_the_command_line():
    cfg = load_config(DEFAULTS, None, ["train.amp=off", "train.compile=true"])
    assert cfg.train.amp == "off" and cfg.train.compile is True  # `off` is a word, not YAML 1.1's false
    with pytest.raises(ConfigError, match="train.channels_last must be true/false, got 'yes'"):
        load_config(DEFAULTS, None, ["train.channels_last=yes"])
    with pytest.raises(ConfigError, match="train.amp must be one of off, bf16, fp16"):
        load_config(DEFAULTS, None, ["train.amp=fp8"])
