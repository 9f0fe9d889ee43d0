"""The method registry and the checkpoint record: find a method by name, rebuild a network from a checkpoint.

:data:`REGISTRY` maps a method name to ``"module:attribute"`` of its :class:`~fas_core.method.Method`;
the module is imported only when the method is asked for, so this package imports no method
folder. Adding a method is one folder and one line here (docs/adding_a_method.md);
:func:`register` adds one at run time (a plug-in, or a test's toy method).

A checkpoint carries its network's record at the top level (as nanoGPT stores ``model_args``)::

    {"model": state_dict, "method": "cdcn_u", "model_args": {"theta": 0.7},
     "input": {InputSpec fields}, "score_rule": "masked_mean_mu", "threshold": 0.31,
     "config": {resolved training config}, "step": 240, "extra": {...}, "optimizer": ..., ...}

so :func:`restore` rebuilds the network from ``method`` + ``model_args`` alone. Checkpoints of
the first format (everything under ``meta``, the network rebuilt from the training config) are
read through each method's ``legacy`` function.
"""

from __future__ import annotations

import hashlib
import importlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from . import checkpoint as ckpt
from . import fileio
from .crop_cache import CropCacheSpec
from .errors import UserError
from .method import TEST_CROP_SCALE, InputSpec, Method

REGISTRY: dict[str, str] = {
    "cdcn": "dum.method:CDCN",
    "cdcnpp": "dum.method:CDCNPP",
    "cdcn_u": "dum.method:CDCN_U",
    "resnet18_u": "dum.method:RESNET18_U",
    "sgtd_single": "fas_sgtd_single_frame.method:SGTD_SINGLE",
    "sgtd_multi": "fas_sgtd_multi_frame.method:SGTD_MULTI",
    "dsdg": "dsdg.method:DSDG",
}
THRESHOLD_SIDECAR = ".threshold.json"
RECORD_KEYS = ("method", "model_args", "input", "score_rule", "threshold", "config", "step", "extra")


def register(name: str, target: str | Method) -> None:
    """Add (or replace) a method: ``target`` is ``"module:attribute"`` or the :class:`Method` itself."""
    REGISTRY[name] = target  # type: ignore[assignment]


def method_names() -> list[str]:
    return sorted(REGISTRY)


def get_method(name: str) -> Method:
    """The :class:`Method` called ``name``; an unknown name is an error listing the known ones."""
    target = REGISTRY.get(str(name))
    if target is None:
        raise UserError(f"unknown method '{name}'. Known methods: {', '.join(method_names())}")
    if isinstance(target, Method):
        return target
    module, _, attr = str(target).partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass
class ModelRecord:
    """What a checkpoint says about its network."""

    method: str
    model_args: dict[str, Any]
    input: InputSpec
    score_rule: str | None = None
    threshold: float | None = None
    config: dict[str, Any] = field(default_factory=dict)
    step: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def fields(self) -> dict[str, Any]:
        """The checkpoint's top-level record keys."""
        return {"method": self.method, "model_args": dict(self.model_args), "input": self.input.to_dict(),
                "score_rule": self.score_rule, "threshold": self.threshold, "config": self.config,
                "step": self.step, "extra": dict(self.extra)}

    def build(self) -> nn.Module:
        return get_method(self.method).build(self.model_args)


def read_record(obj: Mapping[str, Any], source: str = "checkpoint") -> ModelRecord:
    """The record of a checkpoint dict: today's format, or the first one (under ``meta``)."""
    if "model_args" in obj and "method" in obj:
        return ModelRecord(method=str(obj["method"]), model_args=dict(obj["model_args"]),
                           input=InputSpec.from_dict(obj["input"]), score_rule=obj.get("score_rule"),
                           threshold=_float_or_none(obj.get("threshold")), config=dict(obj.get("config") or {}),
                           step=obj.get("step"), extra=dict(obj.get("extra") or {}))
    meta = obj.get("meta")
    if isinstance(meta, Mapping) and meta.get("method"):
        return _legacy_record(meta, source)
    raise UserError(f"{source} carries no method record (an original release? pass --method, one of "
                    f"{', '.join(method_names())})")


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def _legacy_record(meta: Mapping[str, Any], source: str) -> ModelRecord:
    """A first-format checkpoint: model arguments from its training config through the method's ``legacy``."""
    method = get_method(str(meta["method"]))
    if method.legacy is None:
        raise UserError(f"{source}: method {method.name} cannot read checkpoints of the first format")
    model_args, rule = method.legacy(meta)
    norm = meta.get("normalisation") or {}
    clip = meta.get("clip") or {}
    cache = meta.get("crop_cache")
    spec = InputSpec(size=int(meta.get("input_size") or method.paper_input_size),
                     mean=tuple(float(v) for v in norm.get("mean", method.mean)),
                     std=tuple(float(v) for v in norm.get("std", method.std)), rgb=bool(norm.get("rgb", method.rgb)),
                     crop_scale=float(meta.get("crop_scale") or TEST_CROP_SCALE),
                     crop_cache=_cache_spec(cache, meta.get("crop_scale"), source),
                     clip_frames=int(clip.get("frames", 1)), clip_interval=int(clip.get("interval", 1)))
    known = {"method", "config", "input_size", "normalisation", "crop_scale", "crop_cache", "clip", "threshold",
             "score", "step", "map_size", "depth_size"}
    return ModelRecord(method=method.name, model_args=method.model_args(model_args), input=spec, score_rule=rule,
                       threshold=_float_or_none(meta.get("threshold")), config=dict(meta.get("config") or {}),
                       step=meta.get("step"), extra={k: v for k, v in meta.items() if k not in known})


def _cache_spec(cache: Any, scale: Any, source: str) -> CropCacheSpec | None:
    try:
        return CropCacheSpec.from_meta(cache, float(scale or TEST_CROP_SCALE), source=source)
    except ValueError as e:
        raise UserError(str(e)) from None


@dataclass
class Restored:
    """A network rebuilt from a checkpoint (weights loaded, eval mode) with its record."""

    model: nn.Module
    record: ModelRecord
    method: Method
    source: str
    released: bool = False


def restore(path: str | Path, method: str | None = None) -> Restored:
    """Rebuild and load the network of a checkpoint file; an original release needs ``method``.

    A checkpoint with a record names its method; ``method``, when given, must agree. A file
    without one (DUM's ``CDCN_U_P1.pkl``, a FAS-SGTD TensorFlow checkpoint) is read by the method's
    released-weights loader, with the paper's input size and the original score rule.
    """
    path = Path(path)
    raw = _read_checkpoint(path, method)
    if raw is not None and _has_record(raw):
        record = read_record(raw, f"checkpoint {path}")
        if method and method != record.method:
            raise UserError(f"checkpoint {path} is a '{record.method}' model, not '{method}' (drop --method)")
        _apply_sidecar(record, path)
        m = get_method(record.method)
        model = m.build(record.model_args)
        ckpt.load_weights(model, raw, what=f"{record.method} checkpoint")
        ckpt.check_finite(model, f"checkpoint {path}")
        return Restored(model.eval(), record, m, str(path))
    if not method:
        raise UserError(f"checkpoint {path} carries no method record (an original release?): pass --method "
                        f"(one of {', '.join(method_names())})")
    return restore_released(path, method)


def update_record(path: str | Path, **values: Any) -> None:
    """Rewrite a checkpoint with record fields updated (e.g. the dev threshold ``test.py`` chose).

    A checkpoint of the first format is rewritten in today's format on the way.
    """
    path = Path(path)
    obj = dict(ckpt.load_file(path))
    if "model_args" not in obj:
        record = read_record(obj, str(path))
        obj = {k: v for k, v in obj.items() if k != "meta"}
        obj.update(record.fields())
    obj.update(values)
    ckpt.save_checkpoint(obj, path)


def sidecar_path(path: str | Path) -> Path:
    """Where ``test.py`` stores the dev threshold of a checkpoint it could not rewrite."""
    path = Path(path)
    return path.with_name(path.name + THRESHOLD_SIDECAR)


def cached_sidecar_path(path: str | Path) -> Path:
    """Where the dev threshold goes when not even the checkpoint's folder can be written: the user's cache.

    ``$XDG_CACHE_HOME/fas/thresholds/`` (default ``~/.cache``), one file per checkpoint path; it
    names the checkpoint's size and time so that another file at the same path is not given it.
    """
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fas" / "thresholds"
    key = hashlib.sha1(str(Path(path).resolve()).encode("utf-8")).hexdigest()[:16]
    return base / f"{Path(path).name}.{key}{THRESHOLD_SIDECAR}"


def checkpoint_identity(path: str | Path) -> dict[str, Any]:
    st = Path(path).stat()
    return {"checkpoint": str(Path(path).resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _apply_sidecar(record: ModelRecord, path: Path) -> None:
    """The threshold ``test.py`` stored beside a checkpoint it could not rewrite (else in the user's cache)."""
    values = None
    side, cached = sidecar_path(path), cached_sidecar_path(path)
    if side.is_file() and side.stat().st_mtime >= path.stat().st_mtime:
        values = fileio.read_json(side)
    elif cached.is_file():
        values = fileio.read_json(cached)
        if any(values.get(k) != v for k, v in checkpoint_identity(path).items()):
            values = None  # written for another file that was at this path
    if values:
        record.threshold = _float_or_none(values.get("threshold"))
        record.score_rule = values.get("score_rule", record.score_rule)


def _has_record(raw: Any) -> bool:
    if not isinstance(raw, Mapping):
        return False
    return ("model_args" in raw and "method" in raw) or (isinstance(raw.get("meta"), Mapping)
                                                          and bool(raw["meta"].get("method")))


def _read_checkpoint(path: Path, method: str | None) -> Any:
    """The torch checkpoint at ``path``, or ``None`` when it is another kind of file the method reads itself."""
    if method and not _is_torch_file(path):
        return None
    return ckpt.load_file(path)


def _is_torch_file(path: Path) -> bool:
    """Not a file: a TensorFlow checkpoint prefix or folder; an ``.npz`` is a zip archive too, of variables."""
    return path.is_file() and path.suffix != ".npz" and ckpt.looks_like_torch_file(path)


def restore_released(path: str | Path, method: str) -> Restored:
    """An original release of ``method``'s network, keys mapped by its released-weights filter."""
    m = get_method(method)
    _refuse_foreign_record(Path(path), m.name)
    try:
        state, model_args = m.load_released(str(path))
    except ImportError as e:  # a reader that needs an optional package (TensorFlow)
        raise UserError(f"{path}: {e}") from None
    model = m.build(model_args)
    ckpt.load_weights(model, state, what=f"{method} release {path}")
    ckpt.check_finite(model, f"release {path}")
    record = ModelRecord(method=m.name, model_args=m.model_args(model_args), input=m.input_spec(m.paper_input_size,
                         **m.released_input), score_rule=m.released_score_rule, extra={"released": str(path)})
    return Restored(model.eval(), record, m, str(path), released=True)


def _refuse_foreign_record(path: Path, method: str) -> None:
    """A checkpoint written by this project for another method is named as such, not read as a release."""
    if not _is_torch_file(path):
        return
    try:
        raw = ckpt.load_file(path)
    except ckpt.CheckpointError:
        return  # the method's own reader says what is wrong with it
    if _has_record(raw):
        other = read_record(raw, f"checkpoint {path}").method
        if other != method:
            raise UserError(f"{path} is a {other} checkpoint written by this project, not an original {method} "
                            f"release: score it with --checkpoint (through the {other} model's test)")
