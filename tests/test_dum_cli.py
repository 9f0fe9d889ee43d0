"""dum.train / dum.test end to end on the fake work tree: train -> test, kill and resume, DDP (gloo).

Tiny input (24x24 faces, 3x3 depth) and a handful of iterations keep each run to seconds; the
architecture is the full CDCN_u.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from fas_core import checkpoint as ckpt

ROOT = Path(__file__).resolve().parents[1]


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT) + os.pathsep + e.get("PYTHONPATH", "")
    e["OMP_NUM_THREADS"] = "1"
    return e


def common(work: Path, run_dir: Path, **extra) -> list[str]:
    items = {
        "data.work": work, "data.input_size": 24, "train.run_dir": run_dir, "train.device": "cpu",
        "train.threads": 1, "train.batch_size": 4, "train.log_every": 1, "train.image_every": 4,
        "train.eval_every": 0, "train.eval_after": 0, "train.ckpt_every": 2, "eval.frames_per_video": 2,
        "eval.batch_size": 16, "test.frames_per_video": 2, "test.depth_samples": 4,
    }
    items.update(extra)
    return ["--config", "dum/configs/demo.yaml", *[f"{k}={v}" for k, v in items.items()]]


def run(module: str, args: list[str], timeout: int = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env(), capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def generated(fake_work, tmp_path_factory) -> Path:
    """A DSDG-style generated set in crop-cache layout: 2 live + 2 spoof videos and generated.txt."""
    out = tmp_path_factory.mktemp("dsdg_generated")
    lines = []
    for g, (live_src, spoof_src) in enumerate((("1_1_01_1", "1_1_01_2"), ("1_2_02_1", "1_2_02_4")), 1):
        for kind, src, label in (("live", live_src, 1), ("spoof", spoof_src, 0)):
            name = f"gen_{g:05d}_{kind}"
            (out / "crops" / name).mkdir(parents=True)
            for f in (fake_work["crops"] / src).iterdir():
                if f.name.startswith(src):
                    shutil.copy(f, out / "crops" / name / f.name.replace(src, name))
            lines.append(f"{label},{name}")
    (out / "generated.txt").write_text("\n".join(lines) + "\n")
    return out / "generated.txt"


def model_state(path: Path) -> dict[str, torch.Tensor]:
    return ckpt.load_file(path)["model"]


N_ITERS = 8


def train_args(fake_work, generated, run_dir: Path) -> list[str]:
    """8 iterations of 3 real + 1 generated samples, dev scoring at step 4 and 8, checkpoints every 2."""
    return common(fake_work["root"], run_dir, **{"train.max_iters": N_ITERS, "train.eval_every": 4,
                                                  "train.eval_after": 4, "data.generated_list": generated})


@pytest.fixture(scope="module")
def full_run(fake_work, generated, tmp_path_factory) -> tuple[Path, str]:
    """An uninterrupted training run (shared by the end-to-end and the resume tests)."""
    run_dir = tmp_path_factory.mktemp("full") / "run"
    return run_dir, run("dum.train", train_args(fake_work, generated, run_dir)).stdout


def test_train_then_test_writes_metrics(fake_work, full_run):
    run_dir, out = full_run
    assert "2,245,592 trainable parameters" in out
    assert "4 generated" in out and "gen_frac 0.2500" in out  # 3 real + 1 generated per batch of 4
    assert (run_dir / "last.pt").is_file() and (run_dir / "best.pt").is_file()
    assert any((run_dir / "tb").iterdir())
    last = ckpt.load_file(run_dir / "last.pt")
    assert last["step"] == N_ITERS and last["input"]["size"] == 24 and last["method"] == "cdcn_u"

    out = run("dum.test", common(fake_work["root"], run_dir)).stdout
    metrics = json.loads((run_dir / "test" / "metrics.json").read_text())
    for key in ("threshold", "APCER", "APCER_pooled", "BPCER", "ACER", "EER_dev"):
        assert key in metrics
    assert metrics["counts"]["test"]["live"] == 1 and metrics["counts"]["test"]["attack"] == 4
    lines = (run_dir / "test" / "test_scores.txt").read_text().split("\n")
    assert lines[0].split()[0] == "1_3_36_1"  # names stay strings, one line per video
    for name in ("dev_scores.txt", "roc.png", "hist.png", "depth_grid.png", "model_card.md"):
        assert (run_dir / "test" / name).is_file(), name
    assert ckpt.load_file(run_dir / "best.pt")["threshold"] == pytest.approx(metrics["threshold"])
    assert "ACER" in out


def test_kill_and_resume_reaches_the_same_weights(fake_work, generated, full_run, tmp_path):
    killed = tmp_path / "killed"
    args = train_args(fake_work, generated, killed)
    proc = subprocess.Popen([sys.executable, "-m", "dum.train", *args], cwd=ROOT, env=env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not (killed / "last.pt").is_file() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)  # no clean-up: as a crash or a pulled plug
    finally:
        proc.wait(timeout=30)
    step_at_kill = ckpt.load_file(killed / "last.pt")["step"]
    assert 0 < step_at_kill < N_ITERS, f"the run was not interrupted (step {step_at_kill})"

    out = run("dum.train", args).stdout
    assert f"resumed from {killed / 'last.pt'} at step {step_at_kill}" in out
    a, b = model_state(full_run[0] / "last.pt"), model_state(killed / "last.pt")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_ddp_two_cpu_processes(fake_work, generated, tmp_path):
    run_dir = tmp_path / "ddp"
    args = common(fake_work["root"], run_dir, **{"train.max_iters": 2, "data.generated_list": generated})
    # Through train.sh: a leading N means torchrun --nproc_per_node=N (gloo on CPU).
    proc = subprocess.run(["bash", "dum/train.sh", "2", *args], cwd=ROOT, env=env(), capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "world 2" in proc.stdout and "step 2/2" in proc.stdout
    assert "gen_frac 0.2500" in proc.stdout  # every process trains on mixed batches
    assert ckpt.load_file(run_dir / "last.pt")["step"] == 2


def test_test_cli_loads_a_released_checkpoint(fake_work, tmp_path):
    """``dum.test --released CDCN_U_P1.pkl``: the DataParallel file is scored and saved as a converted copy."""
    from dum.test import main as test_main
    from tests.test_dum_model import released_state

    path = tmp_path / "CDCN_U_P1.pkl"
    torch.save(released_state(), path)
    out = tmp_path / "released"
    figures = test_main(common(fake_work["root"], tmp_path / "unused") + ["--released", str(path), "--out", str(out)])
    assert (out / "metrics.json").is_file() and 0.0 <= figures["ACER"] <= 1.0
    converted = ckpt.load_file(out / "converted.pt")
    assert converted["method"] == "cdcn_u" and converted["threshold"] == figures["threshold"]
    assert torch.equal(converted["model"]["mu_head.0.weight"], released_state()["module.mu_head.0.weight"])
