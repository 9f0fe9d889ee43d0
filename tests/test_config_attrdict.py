"""The loaded config's dict class: attribute and item access at every level, a plain dict underneath."""

from __future__ import annotations

import copy
import json
import pickle

import pytest
import yaml

from fas_core.config import AttrDict, load_config, to_plain


def test_attribute_and_item_access_at_every_level() -> None:
    cfg = AttrDict({"train": {"lr": 0.1, "steps": [{"at": 5}, 7]}, "name": "x"})
    assert cfg.train.lr == 0.1 and cfg["train"]["lr"] == 0.1
    assert cfg.train.steps[0].at == 5 and cfg.train.steps[1] == 7  # dicts inside lists too
    assert isinstance(cfg.train, AttrDict) and isinstance(cfg, dict)
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        _ = cfg.missing
    assert getattr(cfg, "missing", None) is None
    with pytest.raises(KeyError):
        _ = cfg["missing"]


def test_setting_converts_dicts_and_keeps_both_views_in_step() -> None:
    cfg = AttrDict()
    cfg.optim = {"lr": 1e-4}
    cfg["data"] = {"work": "w"}
    cfg.data.work = "v"
    assert cfg.optim.lr == 1e-4 and cfg["data"]["work"] == "v"
    cfg.update({"eval": {"score": "mean"}}, extra=1)
    assert cfg.eval.score == "mean" and cfg.extra == 1
    assert cfg.setdefault("test", {"n": 2}).n == 2 and cfg.setdefault("test", {"n": 3}).n == 2
    del cfg.extra
    assert "extra" not in cfg and cfg.pop("test") == {"n": 2}
    with pytest.raises(AttributeError):
        del cfg.extra


def test_equal_to_plain_dicts_and_dumps_as_one() -> None:
    plain = {"a": {"b": [1, 2], "c": None}, "d": "3_2"}
    cfg = AttrDict(plain)
    assert cfg == plain and plain == cfg and cfg.a == {"b": [1, 2], "c": None}
    assert yaml.safe_load(yaml.safe_dump(to_plain(cfg))) == plain
    assert json.loads(json.dumps(cfg)) == plain
    assert type(to_plain(cfg)["a"]) is dict


def test_copies_and_pickles_keep_the_class() -> None:
    cfg = AttrDict({"a": {"b": 1}})
    deep = copy.deepcopy(cfg)
    deep.a.b = 2
    assert cfg.a.b == 1 and isinstance(deep.a, AttrDict)
    back = pickle.loads(pickle.dumps(cfg))
    assert back == cfg and back.a.b == 1 and isinstance(back.a, AttrDict)


def test_load_config_returns_attribute_dicts() -> None:
    cfg = load_config({"train": {"lr": 0.5, "batch": 4}}, None, ["train.batch=8"])
    assert isinstance(cfg, AttrDict) and isinstance(cfg.train, AttrDict)
    assert cfg.train.batch == 8 and cfg.train.lr == 0.5
