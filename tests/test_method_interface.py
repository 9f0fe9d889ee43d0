"""The method interface: a toy method through train -> test -> predict -> export, first-format
checkpoints, the record a checkpoint carries, the scoring loop, strict configs and resume checks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import DEFAULTS_ONLY
from toy_method import TOY, ToyTask

from fas_core import checkpoint as ckpt
from fas_core import export, predict
from fas_core.config import ConfigError, Typed, load_config
from fas_core.methods import REGISTRY, get_method, read_record, register, restore
from fas_core.runner import test_main as run_test
from fas_core.runner import train_main
from fas_core.scoring import VideoInfo, score_videos

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"


@pytest.fixture()
def toy_registered():
    register("toy", TOY)
    yield
    REGISTRY.pop("toy", None)


def astronaut_png(path: Path) -> Path:
    from skimage import data

    cv2.imwrite(str(path), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    return path


def test_toy_method_train_test_predict_export(fake_work, tmp_path, toy_registered, capsys):
    run = tmp_path / "toy"
    args = ["--config", DEFAULTS_ONLY, f"data.work={fake_work['root']}", f"train.run_dir={run}", "train.threads=1"]
    summary = train_main(ToyTask, args)
    assert summary["step"] == 4 and (run / "best.pt").is_file()
    saved = ckpt.load_file(run / "best.pt")
    assert saved["method"] == "toy" and saved["model_args"] == {"width": 4} and saved["input"]["size"] == 16
    assert saved["input"]["depth_size"] == 2 and saved["input"]["crop_cache"]["size"] == 256

    figures = run_test(ToyTask, args)
    assert (run / "test" / "metrics.json").is_file() and 0.0 <= figures["ACER"] <= 1.0
    assert ckpt.load_file(run / "best.pt")["threshold"] == figures["threshold"]

    image = astronaut_png(tmp_path / "astronaut.png")
    out = tmp_path / "pred.json"
    assert predict.main(["--checkpoint", str(run / "best.pt"), str(image), "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    face = result["results"][0]["faces"][0]
    assert result["method"] == "toy" and result["threshold"] == pytest.approx(figures["threshold"])
    assert 0.0 <= face["score"] <= 1.0 and face["decision"] in ("live", "attack")

    onnx_path = tmp_path / "toy.onnx"
    assert export.main(["--checkpoint", str(run / "best.pt"), "--onnx", str(onnx_path)]) == 0
    assert export.onnx_metadata(onnx_path)["method"] == "toy"
    assert "onnxruntime vs PyTorch" in capsys.readouterr().out


def test_first_format_checkpoints_still_load():
    """Checkpoints written before model_args existed rebuild the same network (outputs stored with them)."""
    single = restore(FIXTURES / "legacy_sgtd_single.pt")
    ref = ckpt.load_file(FIXTURES / "legacy_sgtd_single.pt")["reference"]
    assert single.record.model_args["width"] == 0.125 and single.record.input.size == 32
    assert single.record.score_rule == "label" and single.record.threshold == 0.5
    # the eval forward folds BatchNorm into the convolutions: float rounding (relative 3e-5 on these 1e5-sized maps)
    with torch.no_grad():
        assert torch.allclose(single.model(ref["input"]), ref["output"], rtol=1e-4, atol=1e-6)
    multi = restore(FIXTURES / "legacy_sgtd_multi.pt")
    ref = ckpt.load_file(FIXTURES / "legacy_sgtd_multi.pt")["reference"]
    assert (multi.record.input.clip_frames, multi.record.input.clip_interval) == (5, 3)
    assert multi.record.model_args["input_size"] == 32 and multi.record.model_args["gru_recurrent"] is True
    with torch.no_grad():
        out = multi.model(ref["input"])
    assert torch.allclose(out["fused"], ref["fused"], rtol=1e-4, atol=1e-6)
    assert torch.allclose(out["p_live"], ref["p_live"])


def test_first_format_metadata_of_every_method():
    metas = json.loads((FIXTURES / "legacy_meta.json").read_text())
    cdcn_u = read_record({"meta": metas["cdcn_u"]})
    assert cdcn_u.method == "cdcn_u" and cdcn_u.model_args == {"theta": 0.7} and cdcn_u.input.size == 64
    assert cdcn_u.input.crop_cache is not None and cdcn_u.score_rule == "masked_mean_mu"
    cdcnpp = read_record({"meta": metas["cdcnpp"]})
    assert cdcnpp.method == "cdcnpp" and cdcnpp.score_rule == "sum_mu_over_sum_map"
    cdcn = read_record({"meta": metas["cdcn"]})
    assert cdcn.model_args == {"theta": 0.0} and cdcn.input.crop_cache is None
    dsdg = read_record({"meta": metas["dsdg"]})
    assert dsdg.model_args == {"hdim": 128, "num_types": 4, "freeze_classifier": False}
    assert dsdg.extra["face_geometry"][0] == [0.3, 0.4] and dsdg.score_rule is None


def test_a_release_is_built_as_the_method_asked_for(tmp_path):
    """An original CDCN++ state dict read with --method cdcnpp builds CDCN++, not the DUM release's CDCN_u."""
    net = get_method("cdcnpp").build({"theta": 0.7})
    path = tmp_path / "cdcnpp_original.pth"
    torch.save({f"module.{k}": v for k, v in net.state_dict().items()}, path)
    loaded = predict.load_model(path, method="cdcnpp", threshold=0.5)
    assert loaded.method == "cdcnpp" and type(loaded.model).__name__ == "CDCNpp"
    with pytest.raises(predict.UsageError, match="does not fit CDCN_u"):
        predict.load_model(path, method="cdcn_u", threshold=0.5)


class _HalfModel(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(()))

    def forward(self, x):
        return x


def test_scoring_loop_means_skips_non_finite_and_keeps_frames():
    videos = [VideoInfo("a", 1, "live"), VideoInfo("b", 0, "print"), VideoInfo("c", 0, "replay")]
    batches = [{"image": torch.tensor([0.2, 0.4, float("nan")]), "video": [0, 0, 1], "frame": [1, 2, 1]},
               {"image": torch.tensor([0.1]), "video": [0], "frame": [3]}]

    def score_batch(model, batch, device):  # the "depth map" is one cell holding the score
        return batch["image"], batch["image"][:, None, None]

    out = score_videos(_HalfModel(), batches, videos, score_batch, depth_samples=2)
    assert [(r[0], round(r[1], 6), r[2]) for r in out.rows] == [("a", round((0.2 + 0.4 + 0.1) / 3, 6), 1),
                                                                ("b", 0.0, 0)]  # c had no sample: no row
    assert out.unscored_samples == 1 and len(out.frame_rows) == 3
    assert [t.split()[0] for _, t in out.depth_samples] == ["a"]  # b's only sample did not score


STRICT_DEFAULTS = {"train": {"max_iters": Typed(int, 10, low=0), "batch_size": Typed(int, 8, low=1), "lr": 0.1,
                             "scales": [1.2, 1.3], "device": Typed(str, "auto", choices=("auto", "cpu"))}}


@pytest.mark.parametrize("override, message", [
    ("train.max_iters=1e4", "train.max_iters must be a whole number, got 10000.0"),
    ("train.batch_size=2.5", "train.batch_size must be a whole number, got 2.5"),
    ("train.batch_size=0", "train.batch_size must be at least 1, got 0"),
    ("train.scales=[1.0, x]", r"train.scales\[1\] must be a number, got 'x'"),
    ("train.device=gpu", "train.device must be one of auto, cpu, got 'gpu'"),
])
def test_integers_lists_and_bounds_are_strict(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(STRICT_DEFAULTS, None, [override])


def test_numbers_widen_to_the_default_type():
    cfg = load_config(STRICT_DEFAULTS, None, ["train.lr=1", "train.scales=[1, 2]"])
    assert cfg.train.lr == 1.0 and isinstance(cfg.train.lr, float) and cfg.train.scales == [1.0, 2.0]


@pytest.mark.parametrize("module", ["dum.train", "dum.test", "fas_sgtd_single_frame.train",
                                    "fas_sgtd_multi_frame.test", "dsdg.train"])
def test_yaml_syntax_error_is_one_line_exit_2(module, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n\tmax_iters: 3\n")  # a tab where YAML wants spaces
    r = subprocess.run([sys.executable, "-m", module, "--config", str(bad)], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "bad.yaml: not valid YAML: line 2" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_default_config_is_chosen_in_python(tmp_path):
    """Without --config, python -m <method>.train uses the demo experiment, as train.sh does."""
    from dum.train import DumTask
    from fas_core.runner import _load

    cfg, _ = _load(DumTask, [f"train.run_dir={tmp_path}"])
    assert cfg.data.input_size == 64 and cfg.train.max_iters == 240  # dum/configs/demo.yaml
    cfg, _ = _load(DumTask, ["--config", DEFAULTS_ONLY])
    assert cfg.data.input_size == 256 and cfg.train.max_iters == 40000  # the paper's defaults


def test_resume_refuses_a_changed_run_and_keeps_its_files(fake_work, tmp_path, toy_registered, capsys):
    run = tmp_path / "toy"
    args = ["--config", DEFAULTS_ONLY, f"data.work={fake_work['root']}", f"train.run_dir={run}", "train.threads=1",
            "train.eval_every=0"]
    train_main(ToyTask, args)
    config_before = (run / "config.yaml").read_bytes()
    last_before = ckpt.load_file(run / "last.pt")["step"]
    with pytest.raises(SystemExit) as e:
        train_main(ToyTask, args + ["data.input_size=24", "train.max_iters=6"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "data.input_size: 16 -> 24" in err and "train.allow_changes" in err
    assert "max_iters" not in err  # more iterations is a change resume allows
    assert (run / "config.yaml").read_bytes() == config_before
    assert ckpt.load_file(run / "last.pt")["step"] == last_before
    summary = train_main(ToyTask, args + ["train.max_iters=6"])  # a longer budget continues the run
    assert summary["step"] == 6
    summary = train_main(ToyTask, args + ["model.width=2", "train.resume=false"])  # a fresh start, on request
    assert summary["step"] == 4 and ckpt.load_file(run / "last.pt")["model_args"] == {"width": 2}


def test_single_frame_converter_dumps_without_torch(tmp_path):
    """``--dump-npz`` must run where only TensorFlow is installed: the module imports no torch."""
    src = tmp_path / "vars.npz"
    np.savez(src, **{"FaceMapNet/conv4_3/biases": np.zeros(1, np.float32)})
    code = ("import sys; sys.modules['torch'] = None\n"
            "from fas_sgtd_single_frame import convert_tf\n"
            f"sys.exit(convert_tf.main([{str(src)!r}, '--dump-npz', {str(tmp_path / 'again.npz')!r}]))")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert list(np.load(tmp_path / "again.npz").files) == ["FaceMapNet/conv4_3/biases"]


def test_method_folders_do_not_import_each_other():
    """The single-frame stage stands alone; the multi-frame one has its own dataset and converter."""
    import re

    single = "\n".join(p.read_text() for p in (ROOT / "fas_sgtd_single_frame").glob("*.py"))
    assert not re.search(r"^\s*(from|import)\s+fas_sgtd_multi_frame", single, re.MULTILINE)
    assert (ROOT / "fas_sgtd_multi_frame" / "dataset.py").is_file()
    assert (ROOT / "fas_sgtd_multi_frame" / "convert_tf.py").is_file()
