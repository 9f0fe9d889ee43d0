"""Checkpoint IO: atomic save, weights_only load, module. stripping, mismatch reports."""

from __future__ import annotations

import os

import pytest
import torch
from torch import nn

from fas_core.checkpoint import CheckpointMismatchError, load_weights, read_meta, save_checkpoint, update_meta


def _net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Conv2d(4, 1, 1))


def test_save_is_atomic_and_loads_back(tmp_path):
    net = _net()
    path = tmp_path / "ck" / "last.pt"
    save_checkpoint({"model": net.state_dict(), "meta": {"method": "x"}}, path)
    assert path.is_file() and [p.name for p in path.parent.iterdir()] == ["last.pt"]  # no temp file left
    other = _net()
    report = load_weights(other, path)
    assert report == {"missing": [], "unexpected": [], "mis_shaped": []}
    for a, b in zip(net.state_dict().values(), other.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert read_meta(path) == {"method": "x"}
    update_meta(path, threshold=0.25)
    assert read_meta(path) == {"method": "x", "threshold": 0.25}


def test_failed_save_leaves_old_file(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint({"step": 1}, path)
    before = path.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError):
        save_checkpoint({"step": 2}, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["last.pt"]


def test_module_prefix_is_stripped_and_key_map_applies():
    net = _net()
    wrapped = {"state_dict": {f"module.{k}": v for k, v in net.state_dict().items()}}
    other = _net()
    load_weights(other, wrapped)
    assert torch.equal(other[0].weight, net[0].weight)
    renamed = {k.replace("0.", "first."): v for k, v in net.state_dict().items()}
    load_weights(other, renamed, key_map=lambda k: k.replace("first.", "0."))
    assert torch.equal(other[0].bias, net[0].bias)


def test_mismatch_lists_every_key():
    net = _net()
    state = dict(net.state_dict())
    del state["2.weight"]
    state["extra.weight"] = torch.zeros(1)
    state["0.bias"] = torch.zeros(5)
    with pytest.raises(CheckpointMismatchError) as e:
        load_weights(_net(), state)
    msg = str(e.value)
    assert "1 missing key(s): 2.weight" in msg
    assert "1 unexpected key(s): extra.weight" in msg
    assert "0.bias: checkpoint (5,) vs model (4,)" in msg
    report = load_weights(_net(), state, strict=False)
    assert report["missing"] == ["2.weight"] and report["unexpected"] == ["extra.weight"]


def test_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint not found: .*none.pt"):
        load_weights(_net(), tmp_path / "none.pt")
