"""scripts/learning_picture.py on the fake work tree: a short CDCN_u run, its test scores, the picture."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_dum_cli import ROOT, common, env, run

from fas_core import scores as score_files
from fas_core.config import config_from_cli
from fas_core.oulu import read_list


def load_script():
    spec = importlib.util.spec_from_file_location("learning_picture", ROOT / "scripts" / "learning_picture.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tested_run(fake_work, tmp_path_factory) -> Path:
    """4 training steps at 24x24, then dum.test scoring one frame per video (as the picture does)."""
    run_dir = tmp_path_factory.mktemp("picture") / "run"
    run("dum.train", common(fake_work["root"], run_dir, **{"train.max_iters": 4}))
    run("dum.test", common(fake_work["root"], run_dir, **{"test.frames_per_video": 1, "test.depth_samples": 0}))
    return run_dir


def test_picture_shows_the_scores_test_writes(fake_work, tested_run, tmp_path):
    lp = load_script()
    cfg, _ = config_from_cli("picture", lp.DumTask.defaults, common(fake_work["root"], tested_run))
    out = tmp_path / "picture.png"
    panels = lp.learning_picture(tested_run / "best.pt", out, cfg, per_class=2)

    # The fake test split holds 1 live and 4 attack videos: 1 live and 2 attack faces are drawn.
    labels = dict(read_list(fake_work["lists"] / "Test.txt"))
    assert sorted(p.kind for p in panels) == ["live", "print", "replay"]
    assert all(labels[p.video] == (p.kind == "live") for p in panels)
    # Each score is the video score dum.test wrote with test.frames_per_video=1.
    written = {row[0]: row[1] for row in score_files.read_scores(tested_run / "test" / "test_scores.txt").to_rows()}
    for p in panels:
        assert p.score == pytest.approx(written[p.video], abs=1e-5), p.video
        assert p.face.shape == (24, 24, 3) and p.face.dtype == np.uint8
        assert p.depth.shape == (3, 3)  # 24 px input: a 3x3 depth map
    with Image.open(out) as im:
        assert im.format == "PNG" and im.width > im.height  # three columns, two rows


def test_picture_cli_refuses_a_missing_checkpoint(fake_work, tmp_path):
    args = [sys.executable, "scripts/learning_picture.py", "--checkpoint", str(tmp_path / "none.pt"),
            "--out", str(tmp_path / "p.png"), f"data.work={fake_work['root']}"]
    proc = subprocess.run(args, cwd=ROOT, env=env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "none.pt" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "p.png").exists()
