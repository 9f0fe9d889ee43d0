"""DSDG training (engine, resume, identity-net switch) and generation into DUM's inputs (docs/methods/dsdg.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import DEFAULTS_ONLY

from dsdg import generate as G
from dsdg import train as T
from dsdg.lightcnn import LightCNN29v2
from dsdg.model import Decoder
from fas_core import checkpoint as ckpt
from fas_core import fileio
from fas_core.config import load_config
from fas_core.face_detector import read_faces_index

# Mean over pixels of the per-pixel std across random samples, images in [0, 1]. A collapsed
# generator (the same image for every z) gives 0; a fresh decoder gives about 0.09 and the
# briefly trained one about 0.07. 0.01 is 2.5 grey levels.
COLLAPSE_FLOOR = 0.01


def _argv(fake_work, run_dir: Path, iters: int) -> list[str]:
    return ["--config", DEFAULTS_ONLY, f"data.work={fake_work['root']}", "data.source=frames",
            f"train.run_dir={run_dir}", f"train.max_iters={iters}", "train.batch_size=1", "train.log_every=1",
            "train.image_every=2", "train.ckpt_every=100", "eval.pairs=1", "eval.grid_samples=1", "loss.warmup_steps=1"]


@pytest.fixture(scope="module")
def trained(fake_work, tmp_path_factory) -> dict:
    run_dir = tmp_path_factory.mktemp("dsdg_run")
    with pytest.warns(UserWarning, match="identity"):
        summary = T.main(["--no-identity-net", *_argv(fake_work, run_dir, 1)])
    return {"run_dir": run_dir, "summary": summary}


def test_identity_net_is_required_unless_switched_off(fake_work, tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as e:
        T.main(_argv(fake_work, tmp_path, 1))
    assert e.value.code == 2
    assert "--no-identity-net" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        T.main([*_argv(fake_work, tmp_path, 1), f"identity_net.checkpoint={tmp_path / 'nope.pth'}"])
    assert "not found" in capsys.readouterr().err
    assert not (tmp_path / "last.pt").exists()


def test_training_improves_reconstruction_and_resumes(trained, fake_work, capsys) -> None:
    run_dir = trained["run_dir"]
    assert trained["summary"]["step"] == 1
    state = ckpt.load_file(run_dir / "last.pt")
    assert state["step"] == 1 and state["method"] == "dsdg" and state["model_args"]["hdim"] == 128
    assert {k.split(".")[0] for k in state["model"]} == {"enc_live", "enc_spoof", "decoder", "classifier"}
    assert "enabled: false" in (run_dir / "config.yaml").read_text()
    # a second call with a larger budget resumes at step 1 and runs one more step
    with pytest.warns(UserWarning):
        summary = T.main(["--no-identity-net", *_argv(fake_work, run_dir, 2)])
    assert summary["step"] == 2 and ckpt.load_file(run_dir / "last.pt")["step"] == 2
    assert "resumed from" in capsys.readouterr().out
    # before = the initial networks (same seed), after = the final ones
    rec = fileio.read_json(run_dir / "recon_error.json")
    assert rec["pairs"] == 1 and rec["after"] < rec["before"]
    assert (run_dir / "best.pt").is_file() and (run_dir / "reconstructions.png").is_file()
    assert any((run_dir / "tb").iterdir())  # TensorBoard losses and image grids
    log = (run_dir / "log.txt").read_text()
    assert "rec " in log and "kl " in log and "mmd " in log and " ip " not in log


def test_step_with_identity_net_and_frozen_classifier(fake_work, tmp_path) -> None:
    torch.manual_seed(0)
    official = {f"module.{k}": v for k, v in LightCNN29v2().state_dict().items()}
    torch.save({"state_dict": official}, tmp_path / "lightcnn.pth")
    cfg = load_config(T.DEFAULTS, None, [f"data.work={fake_work['root']}", "data.source=frames",
                                          f"identity_net.checkpoint={tmp_path / 'lightcnn.pth'}",
                                          "model.freeze_classifier=true", "train.batch_size=1"])
    task = T.DSDGTask(cfg)
    model = task.build_model()
    optimizer, _ = task.build_optimizer(model)
    ds = task.train_dataset()
    assert task.warmup_steps == len(ds)  # -1: one epoch of batch-1 steps
    batch = task.collate([ds[(0, 7)]])
    ip_before = {k: v.clone() for k, v in task.ip_net.state_dict().items()}
    cls_before = model.classifier.fc.weight.clone()
    dec_before = model.decoder.fc[0].weight.clone()
    loss, logs = task.training_step(model, batch, step=0)
    assert {"rec", "kl", "mmd", "type", "ort", "ip", "pair"} <= set(logs) and logs["warmup"] == 1.0
    want = logs["rec"] + 0.01 * sum(w * logs[k] for k, w in
                                    {"kl": 1, "mmd": 50, "type": 10, "ort": 1, "ip": 1000, "pair": 5}.items())
    assert loss.item() == pytest.approx(want, rel=1e-4)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    assert not torch.equal(model.decoder.fc[0].weight, dec_before)
    assert torch.equal(model.classifier.fc.weight, cls_before)  # frozen as the original
    for k, v in task.ip_net.state_dict().items():
        assert torch.equal(v, ip_before[k]), k
    assert all(id(p) not in {id(q) for g in optimizer.param_groups for q in g["params"]}
               for p in model.classifier.parameters())


def test_rounding_and_noise() -> None:
    x = torch.tensor([0.2, 0.998, 0.9999, 1.3, -0.1]).view(1, 1, 1, 5).expand(1, 3, 1, 5)
    # round(255 x): 51, 254.49 -> 254, 254.97 -> 255 (truncation would give 254), clamped
    assert G.to_uint8(x)[0, 0, :, 0].tolist() == [51, 254, 255, 255, 0]
    z = G.group_noise(0, 3, 4, 128)
    assert z.shape == (4, 384) and torch.equal(z[:, 128:256], z[:, 256:])  # same identity noise twice
    assert torch.equal(z, G.group_noise(0, 3, 4, 128)) and not torch.equal(z, G.group_noise(0, 4, 4, 128))
    assert G.video_names(0) == ("gen_00001_spoof", "gen_00001_live")


def test_generation_writes_what_dum_reads(trained, tmp_path, capsys) -> None:
    out = tmp_path / "gen"
    argv = ["--run-dir", str(trained["run_dir"]), "--out", str(out), "--num-pairs", "3", "--frames-per-video", "2",
            "--batch-size", "4"]
    assert G.main(argv) == 0
    lines = (out / "generated.txt").read_text().split()
    assert lines == ["1,gen_00001_live", "0,gen_00001_spoof", "1,gen_00002_live", "0,gen_00002_spoof"]
    for video, n in (("gen_00001_live", 2), ("gen_00002_spoof", 1)):
        assert fileio.list_frame_indices(out / "crops" / video, video) == list(range(1, n + 1))
        for root in ("frames", "depth", "crops"):
            assert fileio.is_done(out / root / video)
    live_frame = fileio.read_image(fileio.frame_path(out / "frames", "gen_00001_live", 2))
    assert live_frame.shape == (256, 256, 3)
    assert fileio.read_bbox(fileio.bbox_path(out / "frames", "gen_00001_live", 2))[2] > 0
    index = read_faces_index(out / "frames" / "gen_00001_live" / "faces.json")
    assert sorted(index.faces) == [1, 2] and all(f is not None for f in index.faces.values())
    raw = fileio.read_json(out / "frames" / "gen_00001_live" / "faces.json")
    assert {e["source"] for e in raw["frames"].values()} <= {"mtcnn", "template"}
    live_depth = fileio.read_image(fileio.depth_path(out / "depth", "gen_00001_live", 1), grey=True)
    live_crop_depth = fileio.read_image(fileio.depth_path(out / "crops", "gen_00001_live", 1, "png"), grey=True)
    spoof_crop_depth = fileio.read_image(fileio.depth_path(out / "crops", "gen_00001_spoof", 2, "png"), grey=True)
    assert live_depth.shape == (256, 256) and live_crop_depth.shape == (32, 32)
    assert live_crop_depth.max() > 200 and live_crop_depth[0, 0] == 0  # a face bump, zero at the corner
    assert spoof_crop_depth.shape == (32, 32) and spoof_crop_depth.max() == 0
    assert (out / "samples.png").is_file()
    summary = fileio.read_json(out / "summary.json")
    assert summary["pairs"] == 3 and sum(summary["landmarks_from"].values()) == 6
    # complete with the same settings: skipped; other settings: replaced
    assert G.main(argv) == 0
    assert "skipped" in capsys.readouterr().out
    assert G.main([*argv[:-6], "--num-pairs", "1", "--no-detect"]) == 0
    assert (out / "generated.txt").read_text().split() == ["1,gen_00001_live", "0,gen_00001_spoof"]
    assert not (out / "crops" / "gen_00002_live").exists()


def test_generated_pairs_are_not_collapsed(trained) -> None:
    trained_model, _ = G.load_generator(trained["run_dir"] / "last.pt")
    torch.manual_seed(0)
    fresh = Decoder(128).eval()
    for decoder in (fresh, trained_model.decoder):
        z = G.group_noise(1, 0, 3, 128)
        with torch.no_grad():
            x = decoder(z)
        for half in (x[:, :3], x[:, 3:]):  # spoof, live
            assert float(half.std(dim=0).mean()) > COLLAPSE_FLOOR
        assert float(x.std(dim=0).mean()) < 0.5  # and not noise outside [0, 1]
    assert np.isfinite(float(x.mean()))


def test_generation_volume_presets(trained, tmp_path) -> None:
    """The paper preset is the original DUM list's volume: 350 live + 350 spoof videos of 99 frames."""
    def volume(preset, config, *given):
        args = G.build_parser().parse_args((["--preset", preset] if preset else []) + list(given))
        return G.resolve_volume(args, config), args.num_pairs, args.frames_per_video

    assert volume("paper", {}) == ("paper", 34_650, 99) and 34_650 // 99 == 350
    assert volume(None, {"generate": {"preset": "paper"}}) == ("paper", 34_650, 99)  # the training config's
    assert volume(None, {}) == ("demo", 200, 10)  # a generator trained before the key existed
    assert volume(None, {"generate": {"preset": "paper"}}, "--num-pairs", "5")[1:] == (5, 99)
    paper = load_config(T.DEFAULTS, str(Path(T.__file__).parent / "configs" / "oulu_p1.yaml"))
    demo = load_config(T.DEFAULTS, str(Path(T.__file__).parent / "configs" / "demo.yaml"))
    assert (paper.generate.preset, demo.generate.preset) == ("paper", "demo")
    # A run of the demo config: its preset fills what is not given (videos of 10 pairs).
    out = tmp_path / "gen"
    assert G.main(["--run-dir", str(trained["run_dir"]), "--out", str(out), "--num-pairs", "2", "--no-detect"]) == 0
    settings = fileio.read_json(out / "summary.json")["settings"]
    assert (settings["num_pairs"], settings["frames_per_video"]) == (2, 10)
