"""Config loading: defaults, experiment files with _base_, overrides, validation, saving."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from fas_core.config import ConfigError, load_config, save_config

DEFAULTS = {"model": {"name": "cdcn_u", "theta": 0.7}, "train": {"lr": 1e-4, "max_iters": 10, "amp": False},
            "data": {"protocol": "1", "scales": [1.2, 1.3, 1.4]}}


def test_file_and_overrides_apply_in_order(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("train:\n  lr: 0.001\n  max_iters: 50\n")
    exp = tmp_path / "exp.yaml"
    exp.write_text("_base_: base.yaml\ntrain:\n  max_iters: 70\ndata:\n  protocol: 3_2\n")
    cfg = load_config(DEFAULTS, exp, ["train.amp=true", "model.theta=0"])
    assert cfg.train.lr == 0.001  # from the base file
    assert cfg.train.max_iters == 70  # the experiment file wins over its base
    assert cfg.train.amp is True and cfg.model.theta == 0.0  # overrides win over both
    assert isinstance(cfg.model.theta, float)
    assert cfg.data.protocol == "3_2" and cfg.data.scales == [1.2, 1.3, 1.4]


def test_unknown_key_names_the_valid_ones(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(DEFAULTS, None, ["train.lrr=1"])
    assert "train.lrr" in str(e.value) and "amp, lr, max_iters" in str(e.value)
    bad = tmp_path / "bad.yaml"
    bad.write_text("modle:\n  name: x\n")
    with pytest.raises(ConfigError, match="unknown config key 'modle'.*Valid keys: data, model, train"):
        load_config(DEFAULTS, bad)


def test_wrong_types_are_rejected():
    with pytest.raises(ConfigError, match="must be a number"):
        load_config(DEFAULTS, None, ["train.lr=fast"])
    with pytest.raises(ConfigError, match="must be true/false"):
        load_config(DEFAULTS, None, ["train.amp=1"])
    with pytest.raises(ConfigError, match="is a section"):
        load_config(DEFAULTS, None, ["train=3"])
    assert load_config(DEFAULTS, None, ["data.protocol=2"]).data.protocol == "2"  # numbers may stand for text


def test_saved_config_reads_back(tmp_path):
    cfg = load_config(DEFAULTS, None, ["train.max_iters=3"])
    save_config(cfg, tmp_path / "config.yaml")
    again = load_config(DEFAULTS, tmp_path / "config.yaml")
    assert again == cfg
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["train"]["max_iters"] == 3


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="config file not found: .*nope.yaml"):
        load_config(DEFAULTS, tmp_path / "nope.yaml")


def test_cli_help_lists_keys_and_bad_override_exits_2():
    code = ("import sys; from fas_core.config import config_from_cli; "
            "config_from_cli('demo', {'a': {'b': 1}}, sys.argv[1:])")
    out = subprocess.run([sys.executable, "-c", code, "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "a.b = 1" in out.stdout
    out = subprocess.run([sys.executable, "-c", code, "a.c=2"], capture_output=True, text=True)
    assert out.returncode == 2 and "unknown config key 'a.c'" in out.stderr
