"""The bad-input matrix: what a careless or unlucky user does, on the tiny preset, one row each.

Every row runs a command in-process (``main([...])``) on the conftest ``fake_work`` tree or on
tiny files made here, and checks the exit status and the key words of the one line the user
sees (never a traceback); where something could be lost, the row checks it was not (an
interrupted run resumes, a refused resume keeps the old ``config.yaml``, the score files of an
interrupted test are whole). docs/reliability.md is the same matrix in words.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from data import crop as crop_stage
from data import detect_faces, extract_frames, preprocess, synth
from dsdg import generate as dsdg_generate
from dsdg import train as dsdg_train
from dum import test as dum_test
from dum import train as dum_train
from fas_core import checkpoint as ckpt
from fas_core import evaluate, export, fileio, predict, runner
from fas_core.config import ConfigError
from fas_core.inference.loading import load_model
from fas_core.methods import ModelRecord, get_method
from fas_core.runlock import run_lock
from fas_core.task import Task
from fas_sgtd_multi_frame import convert_tf
from fas_sgtd_single_frame import train as sgtd_train
from tests.conftest import DEFAULTS_ONLY

ROOT = Path(__file__).resolve().parents[1]
LIVE_TRAIN = ("1_1_01_1", "1_2_01_1", "1_1_02_1", "1_2_02_1")  # the live videos of the fake Train list


# ----------------------------------------------------------------------------------------- harness
@dataclass
class Result:
    code: int
    out: str
    err: str
    log: str = ""  # warnings logged while the command ran

    @property
    def text(self) -> str:
        return self.out + self.err + self.log


@dataclass
class Ctx:
    """What a row works with: the shared files, a folder of its own, and a way to run a command."""

    env: dict[str, Any]
    tmp: Path
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture
    caplog: pytest.LogCaptureFixture

    def call(self, main: Callable[[Sequence[str]], Any], argv: Sequence[Any]) -> Result:
        self.capsys.readouterr()
        self.caplog.clear()
        try:
            returned = main([str(a) for a in argv])
            code = returned if isinstance(returned, int) else 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        cap = self.capsys.readouterr()
        return Result(code, cap.out, cap.err, self.caplog.text)

    def write(self, name: str, content: str | bytes) -> Path:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        return path

    @property
    def work(self) -> Path:
        return self.env["work"]["root"]


@dataclass
class Case:
    name: str
    run: Callable[[Ctx], Result]
    code: int
    words: tuple[str, ...] = field(default_factory=tuple)


CASES: list[Case] = []


def case(code: int, *words: str) -> Callable[[Callable[[Ctx], Result]], Callable[[Ctx], Result]]:
    """Register a row: the exit status it must end with and the words its message must hold."""

    def register(fn: Callable[[Ctx], Result]) -> Callable[[Ctx], Result]:
        CASES.append(Case(fn.__name__, fn, code, words))
        return fn

    return register


def dum_args(t: Ctx, run_dir: Path | None = None, **overrides: Any) -> list[str]:
    """A tiny CDCN_u run on the fake work tree: 24x24 faces, 4 per batch, 2 steps, checkpoints every 2."""
    items: dict[str, Any] = {
        "data.work": t.work, "data.input_size": 24, "train.device": "cpu", "train.threads": 1,
        "train.batch_size": 4, "train.max_iters": 2, "train.log_every": 1, "train.eval_every": 0,
        "train.image_every": 0, "train.ckpt_every": 2, "train.eval_after": 0, "eval.frames_per_video": 1,
        "test.frames_per_video": 1, "test.depth_samples": 0, "train.run_dir": run_dir or t.tmp / "run",
    }
    items.update({k.replace("__", "."): v for k, v in overrides.items()})
    return ["--config", DEFAULTS_ONLY, *[f"{k}={v}" for k, v in items.items()]]


def save_model(path: Path, method: str, nan: bool = False, threshold: float | None = 0.5, size: int = 24) -> Path:
    """An untrained network of ``method`` saved with its record (``nan``: one weight tensor made NaN)."""
    m = get_method(method)
    args = m.model_args({})
    torch.manual_seed(0)
    state = m.build(args).state_dict()
    if nan:
        key = next(k for k, v in state.items() if v.is_floating_point())
        state[key] = torch.full_like(state[key], float("nan"))
    record = ModelRecord(method=m.name, model_args=args, input=m.input_spec(size), score_rule=m.default_score_rule,
                         threshold=threshold)
    ckpt.save_checkpoint({"model": state, **record.fields()}, path)
    return path


class Hostile:
    """A pickle that runs a command when loaded without ``weights_only``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def env(fake_work, tmp_path_factory) -> dict[str, Any]:
    """A trained tiny CDCN_u run, checkpoints of other kinds, damaged files, and a regular file to write below."""
    root = tmp_path_factory.mktemp("bad_inputs")
    run_dir = root / "trained"
    args = dum_args(Ctx({"work": fake_work}, root, None, None, None), run_dir)  # type: ignore[arg-type]
    dum_train.main(args)
    best = run_dir / "best.pt"
    raw = best.read_bytes()
    files = {"work": fake_work, "root": root, "run_dir": run_dir, "best": best, "train_args": args,
             "sgtd": save_model(root / "sgtd_single.pt", "sgtd_single"),
             "nan": save_model(root / "nan.pt", "cdcn_u", nan=True),
             "no_threshold": save_model(root / "no_threshold.pt", "cdcn_u", threshold=None),
             "truncated": root / "truncated.pt", "text": root / "notes.pt", "hostile": root / "hostile.pt",
             "marker": root / "hostile_ran", "a_file": root / "a_file"}
    files["truncated"].write_bytes(raw[: len(raw) // 2])
    files["text"].write_text("these are my notes, not a checkpoint\n")
    torch.save({"model": Hostile(files["marker"])}, files["hostile"])
    files["a_file"].write_text("a regular file where a folder is expected\n")
    return files


@pytest.fixture(autouse=True)
def fresh_logger():
    """Each row starts with the "fas" logger as a new process has it (a training row leaves handlers)."""
    log = logging.getLogger("fas")
    log.handlers.clear()
    log.propagate = True
    yield
    log.handlers.clear()
    log.propagate = True


@pytest.mark.parametrize("row", CASES, ids=lambda c: c.name)
def test_bad_input(row: Case, env, tmp_path, monkeypatch, capsys, caplog):
    caplog.set_level(logging.WARNING, logger="fas")
    result = row.run(Ctx(env, tmp_path, monkeypatch, capsys, caplog))
    assert result.code == row.code, result.text[-3000:]
    assert "Traceback" not in result.err, result.err[-3000:]
    if row.code == 2:
        lines = [ln for ln in result.err.splitlines() if ln.strip()]
        where = lines[-1] if lines else ""
        assert "error" in where, result.err[-2000:]  # the last line says what is wrong, on its own
    else:
        where = result.text
    for word in row.words:
        assert word in where, f"{word!r} not in {where[-2000:]!r}"


# ----------------------------------------------------------------------------------------- configs
@case(2, "bad.yaml", "not valid YAML", "line 3")
def yaml_syntax_error(t: Ctx) -> Result:
    return t.call(dum_train.main, ["--config", t.write("bad.yaml", "train:\n  max_iters: [1, 2\n")])


@case(2, "config file not found", "absent.yaml")
def config_file_missing(t: Ctx) -> Result:
    return t.call(dum_train.main, ["--config", t.tmp / "absent.yaml"])


@case(2, "unknown config key 'train.bogus'", "batch_size")
def unknown_config_key(t: Ctx) -> Result:
    return t.call(dum_train.main, dum_args(t, train__bogus=1))


@case(2, "train.max_iters", "whole number")
def text_where_a_number_belongs(t: Ctx) -> Result:
    return t.call(dum_train.main, dum_args(t, train__max_iters="many"))


@case(2, "optim.lr", "at least 0")
def negative_learning_rate(t: Ctx) -> Result:
    return t.call(dum_train.main, dum_args(t, optim__lr=-0.1))


@case(2, "'train.max_iters'", "key=value")
def override_without_a_value(t: Ctx) -> Result:
    return t.call(dum_train.main, [*dum_args(t), "train.max_iters"])


@case(2, "data.protocol", "'9'")
def unknown_protocol(t: Ctx) -> Result:
    return t.call(dum_train.main, dum_args(t, data__protocol=9))


@case(2, "model.name", "resnet")
def unknown_model_name(t: Ctx) -> Result:
    return t.call(dum_train.main, dum_args(t, model__name="resnet"))


@case(2, "data.input_size", "multiple of 8")
def input_size_not_a_multiple_of_8(t: Ctx) -> Result:
    return t.call(dum_train.main, dum_args(t, data__input_size=30))


@case(2, "train.batch_size", "at least 1, got 0")
def batch_size_zero_dum(t: Ctx) -> Result:
    return t.call(dum_train.main, dum_args(t, train__batch_size=0))


@case(2, "train.batch_size", "at least 1, got 0")
def batch_size_zero_sgtd(t: Ctx) -> Result:
    return t.call(sgtd_train.main, ["--config", DEFAULTS_ONLY, f"data.work={t.work}", "train.batch_size=0",
                                    f"train.run_dir={t.tmp / 'run'}", "train.device=cpu"])


@case(2, "train.batch_size", "at least 1, got 0")
def batch_size_zero_dsdg(t: Ctx) -> Result:
    return t.call(dsdg_train.main, ["--no-identity-net", "--config", DEFAULTS_ONLY, f"data.work={t.work}",
                                    "data.source=frames", "train.batch_size=0", f"train.run_dir={t.tmp / 'run'}"])


@case(2, "eval.batch_size", "at least 1")
def eval_batch_size_zero(t: Ctx) -> Result:
    return t.call(dum_test.main, dum_args(t, t.env["run_dir"], eval__batch_size=0))


@case(2, "dsdg", "Known methods")
def unknown_method_in_a_checkpoint(t: Ctx) -> Result:
    path = t.tmp / "renamed.pt"
    raw = ckpt.load_file(t.env["sgtd"])
    ckpt.save_checkpoint({**raw, "method": "resnet"}, path)
    return t.call(predict.main, ["--checkpoint", path, t.tmp / "face.png"])


@case(0)
def debug_shows_the_traceback(t: Ctx) -> Result:
    bad = t.write("bad.yaml", "train: [1, 2\n")
    with pytest.raises(ConfigError):
        dum_train.main(["--config", str(bad), "--debug"])
    t.monkeypatch.setenv("FAS_DEBUG", "1")
    with pytest.raises(ConfigError):
        dum_train.main(["--config", str(bad)])
    return Result(0, "", "")


# ----------------------------------------------------------------------------------------- data
def lists_with(t: Ctx, edit: Callable[[str], str | bytes]) -> Path:
    """A copy of the fake lists whose Protocol_1/Train.txt is ``edit(old text)``."""
    lists = t.tmp / "lists"
    shutil.copytree(t.env["work"]["lists"].parent, lists)
    train = lists / "Protocol_1" / "Train.txt"
    new = edit(train.read_text())
    train.write_bytes(new if isinstance(new, bytes) else new.encode())
    return lists


@case(2, "not found", "python -m data.preprocess")
def work_folder_missing(t: Ctx) -> Result:
    return t.call(dum_train.main, dum_args(t, data__work=t.tmp / "no_work"))


@case(2, "Train.txt:21", "expected 'label,video'")
def list_line_malformed(t: Ctx) -> Result:
    return t.call(dum_train.main, dum_args(t, data__lists=lists_with(t, lambda s: s + "a line without a comma\n")))


@case(2, "Train.txt:21", "label 'x' is not an integer")
def list_label_not_a_number(t: Ctx) -> Result:
    return t.call(dum_train.main, dum_args(t, data__lists=lists_with(t, lambda s: s + "x,1_1_01_1\n")))


@case(2, "Train.txt:21", "contradicts the file code of 1_1_01_2")
def list_label_contradicts_the_file_code(t: Ctx) -> Result:
    return t.call(dum_train.main, dum_args(t, data__lists=lists_with(t, lambda s: s + "+1,1_1_01_2\n")))


@case(2, "Train.txt", "not a text list")
def list_not_text(t: Ctx) -> Result:
    return t.call(dum_train.main, dum_args(t, data__lists=lists_with(t, lambda s: b"\xff\xfe\x00\x01" * 8)))


@case(2, "no usable video in", "Train.txt")
def list_empty(t: Ctx) -> Result:
    return t.call(dum_train.main, dum_args(t, data__lists=lists_with(t, lambda s: "\n")))


@case(2, "1_1_09_1", "data.allow_missing=true")
def listed_video_missing(t: Ctx) -> Result:
    return t.call(dum_train.main, dum_args(t, data__lists=lists_with(t, lambda s: s + "+1,1_1_09_1\n")))


@case(2, "Train.txt", "not found")
def lists_folder_without_the_protocol(t: Ctx) -> Result:
    (t.tmp / "empty_lists").mkdir()
    return t.call(dum_train.main, dum_args(t, data__lists=t.tmp / "empty_lists"))


@case(2, "Train.txt:21", "expected 'label,video'")
def list_line_malformed_sgtd(t: Ctx) -> Result:
    lists = lists_with(t, lambda s: s + "a line without a comma\n")
    return t.call(sgtd_train.main, ["--config", DEFAULTS_ONLY, f"data.work={t.work}", f"data.lists={lists}",
                                    f"train.run_dir={t.tmp / 'run'}", "train.device=cpu"])


# ------------------------------------------------------------------------------ unreadable inputs
def damaged_crops(t: Ctx, videos: Sequence[str], frames: Sequence[int] = (1, 2, 3, 4)) -> Path:
    """A copy of the fake crop cache whose face crops of ``videos`` (``frames``) hold garbage."""
    crops = t.tmp / "crops"
    shutil.copytree(t.env["work"]["crops"], crops)
    for video in videos:
        for i in frames:
            (crops / video / f"{video}_{i:03d}_scene.jpg").write_bytes(b"\xff\xd8 cut short by a full disk")
    return crops


@case(0, "unreadable training input, replaced by another sample of its class", "1_1_01_1_00")
def damaged_crop_during_training(t: Ctx) -> Result:
    """One epoch (5 batches of 4 of the 20 videos) reads every video once: the damaged one among them."""
    run_dir = t.tmp / "run"
    r = t.call(dum_train.main, dum_args(t, run_dir, data__crops=damaged_crops(t, ["1_1_01_1"]), train__max_iters=5))
    assert ckpt.load_file(run_dir / "last.pt")["step"] == 5  # the run went on to its end
    assert "1 unreadable input(s) replaced so far" in (run_dir / "log.txt").read_text()
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tb"))
    events.Reload()
    assert [e.value for e in events.Scalars("train/unreadable")][-1] == 1.0
    return r


@case(2, "train.max_unreadable=0", "1_1_01_1_00")
def damaged_crop_with_no_tolerance(t: Ctx) -> Result:
    crops = damaged_crops(t, ["1_1_01_1"])
    return t.call(dum_train.main, dum_args(t, data__crops=crops, train__max_iters=5, train__max_unreadable=0))


@case(2, "could not be read in a row", "scene.jpg")
def every_live_crop_damaged(t: Ctx) -> Result:
    crops = damaged_crops(t, LIVE_TRAIN)
    return t.call(dum_train.main, dum_args(t, data__crops=crops, train__max_iters=5, train__max_unreadable=1.0))


@case(0, "unreadable frame left out of the scores", "1_3_36_2_004_scene.jpg")
def damaged_test_frame(t: Ctx) -> Result:
    """Frames 1 and 4 of each video are scored; frame 4 of one is damaged, its video keeps frame 1."""
    crops, out = damaged_crops(t, ["1_3_36_2"], frames=[4]), t.tmp / "test"
    r = t.call(dum_test.main, dum_args(t, t.env["run_dir"], data__crops=crops, test__frames_per_video=2)
               + ["--out", out])
    assert len((out / "test_scores.txt").read_text().splitlines()) == 5  # every test video scored
    return r


@case(0, "1 video(s) without a readable frame left out of the scores: 1_3_36_3", "with none left")
def scoring_video_without_a_readable_frame(t: Ctx) -> Result:
    crops, out = damaged_crops(t, ["1_3_36_3"]), t.tmp / "test"
    r = t.call(dum_test.main, dum_args(t, t.env["run_dir"], data__crops=crops) + ["--out", out])
    assert "1_3_36_3" not in (out / "test_scores.txt").read_text()
    return r


@case(0, "unreadable training input, replaced", "1_1_01_1_00")
def damaged_frame_during_sgtd_training(t: Ctx) -> Result:
    frames = t.tmp / "frames"
    shutil.copytree(t.env["work"]["frames"], frames)
    for i in range(1, 5):
        (frames / "1_1_01_1" / f"1_1_01_1_{i:03d}_scene.jpg").write_bytes(b"not a jpeg")
    return t.call(sgtd_train.main, [
        "--config", DEFAULTS_ONLY, f"data.work={t.work}", f"data.frames={frames}", "data.input_size=16",
        "model.width=0.25", f"train.run_dir={t.tmp / 'run'}", "train.batch_size=5", "train.max_iters=4",
        "train.eval_every=0", "train.device=cpu", "train.threads=1", "data.per_live=4", "data.per_attack=1",
        "eval.frames_per_video=1"])


# ----------------------------------------------------------------------------------------- checkpoints
@case(2, "run folder not found")
def scoring_without_a_run(t: Ctx) -> Result:
    return t.call(dum_test.main, dum_args(t, t.tmp / "never_trained"))


@case(2, "checkpoint not found", "absent.pt")
def scoring_checkpoint_missing(t: Ctx) -> Result:
    return t.call(dum_test.main, [*dum_args(t, t.env["run_dir"]), "--checkpoint", t.tmp / "absent.pt"])


@case(2, "notes.pt", "not a PyTorch checkpoint")
def scoring_checkpoint_not_a_checkpoint(t: Ctx) -> Result:
    return t.call(dum_test.main, [*dum_args(t, t.env["run_dir"]), "--checkpoint", t.env["text"]])


@case(2, "truncated.pt", "truncated or damaged")
def scoring_checkpoint_truncated(t: Ctx) -> Result:
    return t.call(dum_test.main, [*dum_args(t, t.env["run_dir"]), "--checkpoint", t.env["truncated"]])


@case(2, "hostile.pt", "refused")
def scoring_checkpoint_hostile_pickle(t: Ctx) -> Result:
    r = t.call(dum_test.main, [*dum_args(t, t.env["run_dir"]), "--checkpoint", t.env["hostile"]])
    assert not t.env["marker"].exists()  # its code never ran
    return r


@case(2, "is a sgtd_single checkpoint", "cdcn_u")
def scoring_checkpoint_of_another_method(t: Ctx) -> Result:
    return t.call(dum_test.main, [*dum_args(t, t.env["run_dir"]), "--checkpoint", t.env["sgtd"]])


@case(2, "is a sgtd_single checkpoint written by this project", "--checkpoint")
def scoring_released_given_a_checkpoint_of_another_method(t: Ctx) -> Result:
    return t.call(dum_test.main, [*dum_args(t, t.env["run_dir"]), "--released", t.env["sgtd"]])


@case(2, "nan.pt", "non-finite weights")
def scoring_checkpoint_with_nan_weights(t: Ctx) -> Result:
    return t.call(dum_test.main, [*dum_args(t, t.env["run_dir"]), "--checkpoint", t.env["nan"]])


@case(2, "--out folder", "cannot be written", "a part of the path is a file")
def scoring_output_below_a_file(t: Ctx) -> Result:
    return t.call(dum_test.main, [*dum_args(t, t.env["run_dir"]), "--out", t.env["a_file"] / "test"])


@case(0, "could not be updated", ".threshold.json")
def scoring_read_only_checkpoint(t: Ctx) -> Result:
    """Results first, then the threshold beside the checkpoint (or in the user's cache): predict uses it."""
    models, out = t.tmp / "models", t.tmp / "test"
    models.mkdir()
    checkpoint = models / "best.pt"
    shutil.copy(t.env["best"], checkpoint)
    before = checkpoint.read_bytes()
    t.monkeypatch.setenv("XDG_CACHE_HOME", str(t.tmp / "cache"))
    if os.geteuid() != 0:
        checkpoint.chmod(0o444)
        models.chmod(0o555)
    else:  # root writes anywhere: make the writes into the checkpoint's folder fail instead
        refuse_writes_in(t, models)
    try:
        r = t.call(dum_test.main, [*dum_args(t, t.env["run_dir"]), "--checkpoint", checkpoint, "--out", out])
        threshold = json.loads((out / "metrics.json").read_text())["threshold"]
        loaded = load_model(checkpoint)
    finally:
        models.chmod(0o755)
        checkpoint.chmod(0o644)
    lines = r.out.splitlines()
    result_line = next(i for i, ln in enumerate(lines) if "test report in" in ln)
    note_line = next(i for i, ln in enumerate(lines) if "could not be updated" in ln)
    assert result_line < note_line and checkpoint.read_bytes() == before
    assert loaded.threshold == pytest.approx(threshold) and loaded.threshold_source == "checkpoint"
    return r


def refuse_writes_in(t: Ctx, folder: Path) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise PermissionError(13, "Permission denied", str(folder))

    real_write_json = runner.write_json

    def write_json(path: Any, obj: Any) -> None:
        if Path(path).parent == folder:
            refuse()
        real_write_json(path, obj)

    t.monkeypatch.setattr(runner, "update_record", refuse)
    t.monkeypatch.setattr(runner, "write_json", write_json)


@case(2, "nan.pt", "non-finite weights")
def predict_nan_weights(t: Ctx) -> Result:
    return t.call(predict.main, ["--checkpoint", t.env["nan"], t.tmp / "face.png"])


@case(2, "'sgtd_single' model, not 'cdcn_u'", "drop --method")
def predict_checkpoint_of_another_method(t: Ctx) -> Result:
    return t.call(predict.main, ["--checkpoint", t.env["sgtd"], "--method", "cdcn_u", t.tmp / "face.png"])


@case(2, "truncated or damaged")
def predict_truncated_checkpoint(t: Ctx) -> Result:
    return t.call(predict.main, ["--checkpoint", t.env["truncated"], t.tmp / "face.png"])


@case(2, "refused")
def predict_hostile_pickle(t: Ctx) -> Result:
    r = t.call(predict.main, ["--checkpoint", t.env["hostile"], "--method", "cdcn_u", t.tmp / "face.png"])
    assert not t.env["marker"].exists()
    return r


@case(2, "checkpoint not found")
def predict_checkpoint_missing(t: Ctx) -> Result:
    return t.call(predict.main, ["--checkpoint", t.tmp / "absent.pt", t.tmp / "face.png"])


@case(2, "no dev threshold", "--threshold")
def predict_checkpoint_without_threshold(t: Ctx) -> Result:
    return t.call(predict.main, ["--checkpoint", t.env["no_threshold"], t.tmp / "face.png"])


@case(2, "holds none of the weights of CDCN_u", "another network")
def predict_weights_of_another_network(t: Ctx) -> Result:
    path = t.tmp / "resnet.pt"
    torch.save({"fc.weight": torch.zeros(2, 2), "fc.bias": torch.zeros(2)}, path)
    return t.call(predict.main, ["--checkpoint", path, "--method", "cdcn_u", t.tmp / "face.png"])


@case(2, "--save folder", "cannot be written")
def predict_save_folder_below_a_file(t: Ctx) -> Result:
    return t.call(predict.main, ["--checkpoint", t.env["best"], "--save", t.env["a_file"] / "out", t.tmp / "x.png"])


@case(2, "'sgtd_single' model, not 'cdcn_u'")
def export_checkpoint_of_another_method(t: Ctx) -> Result:
    return t.call(export.main, ["--checkpoint", t.env["sgtd"], "--method", "cdcn_u", "--onnx", t.tmp / "m.onnx"])


@case(2, "--onnx folder", "cannot be written")
def export_output_below_a_file(t: Ctx) -> Result:
    return t.call(export.main, ["--checkpoint", t.env["best"], "--onnx", t.env["a_file"] / "m.onnx"])


@case(2, "non-finite weights")
def export_nan_weights(t: Ctx) -> Result:
    return t.call(export.main, ["--checkpoint", t.env["nan"], "--onnx", t.tmp / "m.onnx"])


@case(2, "'sgtd_single' checkpoint, not a DSDG generator")
def generate_with_a_checkpoint_of_another_method(t: Ctx) -> Result:
    return t.call(dsdg_generate.main, ["--checkpoint", t.env["sgtd"], "--out", t.tmp / "gen"])


@case(2, "--num-pairs", "at least 1")
def generate_zero_pairs(t: Ctx) -> Result:
    return t.call(dsdg_generate.main, ["--checkpoint", t.env["sgtd"], "--out", t.tmp / "gen", "--num-pairs", 0])


@case(2, "vars.npz", "not a readable .npz")
def convert_damaged_npz(t: Ctx) -> Result:
    return t.call(convert_tf.main, [t.write("vars.npz", b"PK\x03\x04 cut short"), "--out", t.tmp / "c.pt"])


@case(2, "variables file not found")
def convert_missing_npz(t: Ctx) -> Result:
    return t.call(convert_tf.main, [t.tmp / "absent.npz", "--out", t.tmp / "c.pt"])


# ----------------------------------------------------------------------------------------- runs
@case(2, "is in use by another run", "pid")
def second_run_on_one_folder(t: Ctx) -> Result:
    run_dir = t.tmp / "run"
    with run_lock(run_dir, "train"):
        r = t.call(dum_train.main, dum_args(t, run_dir))
    assert not (run_dir / "config.yaml").exists()  # nothing written by the refused run
    return r


@case(2, "other settings", "optim.lr")
def resume_with_other_settings_is_refused(t: Ctx) -> Result:
    run_dir = t.tmp / "run"
    shutil.copytree(t.env["run_dir"], run_dir, ignore=shutil.ignore_patterns("tb", "test"))
    config, last = (run_dir / "config.yaml").read_bytes(), (run_dir / "last.pt").read_bytes()
    r = t.call(dum_train.main, dum_args(t, run_dir, optim__lr=0.5))
    assert (run_dir / "config.yaml").read_bytes() == config and (run_dir / "last.pt").read_bytes() == last
    return r


@case(0)
def interrupted_training_resumes(t: Ctx) -> Result:
    """Ctrl-C at step 3 ends with one line and status 130; the rerun continues from last.pt (step 2)."""
    run_dir = t.tmp / "run"
    real_step = dum_train.DumTask.training_step

    def interrupt_at_3(self: Any, model: Any, batch: Any, step: int) -> Any:
        if step == 2:  # the third step (steps count from 0 here)
            raise KeyboardInterrupt
        return real_step(self, model, batch, step)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(dum_train.DumTask, "training_step", interrupt_at_3)
        r = t.call(dum_train.main, dum_args(t, run_dir, train__max_iters=4))
    assert r.code == 130 and r.err.strip().endswith("interrupted")
    assert ckpt.load_file(run_dir / "last.pt")["step"] == 2
    again = t.call(dum_train.main, dum_args(t, run_dir, train__max_iters=4))
    assert "resumed from" in again.out and ckpt.load_file(run_dir / "last.pt")["step"] == 4
    return again


@case(0)
def interrupted_checkpoint_write_leaves_the_last_one(t: Ctx) -> Result:
    """Ctrl-C halfway through writing last.pt at step 4: the step-2 file stays whole, no temporary file stays."""
    run_dir = t.tmp / "run"
    real_save = torch.save
    calls = []

    def half_then_interrupt(obj: Any, path: Any, *args: Any, **kwargs: Any) -> None:
        if Path(path).name.startswith(".last.pt."):  # best.pt's writes go through
            calls.append(path)
            if len(calls) == 2:
                Path(path).write_bytes(b"PK\x03\x04 half of a checkpoint")
                raise KeyboardInterrupt
        real_save(obj, path, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ckpt.torch, "save", half_then_interrupt)
        r = t.call(dum_train.main, dum_args(t, run_dir, train__max_iters=4, train__eval_after=100))
    assert r.code == 130
    assert ckpt.load_file(run_dir / "last.pt")["step"] == 2 and not fileio.temp_files_of(run_dir / "last.pt")
    again = t.call(dum_train.main, dum_args(t, run_dir, train__max_iters=4, train__eval_after=100))
    assert ckpt.load_file(run_dir / "last.pt")["step"] == 4
    return again


@case(0, "resumed from")
def killed_write_left_a_temporary_file(t: Ctx) -> Result:
    """What ``kill -9`` during a save leaves: a temporary file of a dead process, removed by the next save."""
    run_dir = t.tmp / "run"
    shutil.copytree(t.env["run_dir"], run_dir, ignore=shutil.ignore_patterns("tb", "test"))
    stale = run_dir / f".last.pt.{fileio.HOST_TAG}-999999999-0badf00d.tmp"
    stale.write_bytes(b"PK\x03\x04 killed")
    old = stale.stat().st_mtime - 2 * fileio.STALE_TEMP_GRACE_S
    os.utime(stale, (old, old))
    fileio._TEMP_LISTINGS.clear()  # this process listed that folder before the file was put there
    r = t.call(dum_train.main, dum_args(t, run_dir, train__max_iters=4))
    assert ckpt.load_file(run_dir / "last.pt")["step"] == 4 and not stale.exists()
    return r


@case(0)
def interrupted_test_keeps_the_old_scores(t: Ctx) -> Result:
    out = t.tmp / "test"
    first = t.call(dum_test.main, [*dum_args(t, t.env["run_dir"]), "--out", out])
    assert first.code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real_score = Task.score_split

    def interrupt_on_test(self: Any, model: Any, split: str, *args: Any) -> Any:
        if split == "test":
            raise KeyboardInterrupt
        return real_score(self, model, split, *args)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Task, "score_split", interrupt_on_test)
        r = t.call(dum_test.main, [*dum_args(t, t.env["run_dir"]), "--out", out])
    assert r.code == 130
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # the old report, whole
    return Result(0, r.out, "")


@case(2, "a part of the path is a file")
def train_run_folder_below_a_file(t: Ctx) -> Result:
    return t.call(dum_train.main, dum_args(t, t.env["a_file"] / "run"))


# ----------------------------------------------------------------------------------------- other tools
@case(2, "bad.txt:2", "expected 'video_name score label")
def evaluate_malformed_score_file(t: Ctx) -> Result:
    good = t.write("dev.txt", "1_1_21_1 0.9 1\n1_1_21_2 0.1 0\n")
    return t.call(evaluate.main, [good, t.write("bad.txt", "1_3_36_1 0.8 1\n1_3_36_2\n")])


@case(2, "a_file", "exists and is not a folder")
def evaluate_json_below_a_file(t: Ctx) -> Result:
    good = t.write("dev.txt", "1_1_21_1 0.9 1\n1_1_21_2 0.1 0\n")
    return t.call(evaluate.main, [good, good, "--json", t.env["a_file"] / "m.json"])


@case(2, "metrics.json", "not a metrics.json written by test.py")
def results_table_damaged_metrics(t: Ctx) -> Result:
    spec = importlib.util.spec_from_file_location("results_table", ROOT / "scripts" / "results_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    damaged = t.write("metrics.json", '{"ACER": 0.1')  # cut short
    return t.call(module.main, [f"p1={damaged}"])


@case(2, "synth: error", "a_file")
def synth_output_is_a_file(t: Ctx) -> Result:
    return t.call(synth.main, ["--out", t.env["a_file"], "--preset", "tiny"])


@case(1, "all 1 videos failed", "corrupt_video")
def extract_frames_of_a_damaged_video(t: Ctx) -> Result:
    t.write("videos/Train_files/1_1_01_1.avi", np.random.default_rng(0).bytes(3000))
    return t.call(extract_frames.main, ["--videos", t.tmp / "videos", "--out", t.tmp / "frames"])


@case(2, "detect_faces: error", "frames folder not found")
def detect_faces_without_frames(t: Ctx) -> Result:
    return t.call(detect_faces.main, ["--frames", t.tmp / "no_frames"])


@case(2, "crop: error", "a part of the path is a file")
def crop_output_below_a_file(t: Ctx) -> Result:
    w = t.env["work"]
    return t.call(crop_stage.main, ["--frames", w["frames"], "--depth", w["depth"], "--out", t.env["a_file"] / "c"])


@case(2, "preprocess: error", "not valid YAML")
def preprocess_yaml_syntax_error(t: Ctx) -> Result:
    return t.call(preprocess.main, ["--config", t.write("pre.yaml", "work_root: [\n")])
