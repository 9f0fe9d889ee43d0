"""Checkpoint IO: atomic saves, safe loads, and a key-mapping loader that explains mismatches.

A project checkpoint is a plain dict (loadable with ``torch.load(weights_only=True)``)::

    {"model": state_dict, "method": ..., "model_args": {...}, "input": {...}, "score_rule": ...,
     "threshold": ..., "config": {...}, "step": int, "optimizer": ..., ...}

The record keys (what rebuilds and runs the network) are read and written by
:mod:`fas_core.methods`; this module only moves files and state dicts. ``read_meta`` and
``update_meta`` serve checkpoints of the first format, whose record lived under ``meta``.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import UserError
from .fileio import atomic_path


class CheckpointError(UserError, RuntimeError):
    """A checkpoint file that cannot be read."""


class CheckpointMismatchError(UserError, RuntimeError):
    """A state dict that does not fit the model: lists every missing, unexpected, mis-shaped key."""


def save_checkpoint(obj: Mapping[str, Any], path: str | Path) -> None:
    """``torch.save`` to a temporary file in the same folder, then rename: never half-written.

    The file gets the mode a plain ``open()`` gives; temporary files of killed saves of the same
    path are removed once stale (:func:`fas_core.fileio.remove_stale_temps`).
    """
    with atomic_path(path) as tmp:
        torch.save(dict(obj), tmp)


def load_file(path: str | Path, map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(weights_only=True)`` with an error that names the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        raise CheckpointError(f"could not read checkpoint {path}: {_load_failure(path, e)}") from e


def looks_like_torch_file(path: str | Path) -> bool:
    """Whether a file starts as ``torch.save`` writes: a zip archive (torch >= 1.6) or a pickle."""
    with open(path, "rb") as f:
        head = f.read(2)
    return head == b"PK" or head[:1] == b"\x80"


def _load_failure(path: Path, e: Exception) -> str:
    """What went wrong, in words: a foreign file, a refused pickle, or a damaged one."""
    if not looks_like_torch_file(path):
        with open(path, "rb") as f:
            head = f.read(8)
        return f"not a PyTorch checkpoint (the file starts with {head!r})"
    if isinstance(e, pickle.UnpicklingError) and "weights only" in str(e).lower():
        # Never suggest weights_only=False: that would run whatever code the file carries.
        return ("it holds Python objects besides tensors and plain containers, and loading those could run code "
                "stored in the file: refused. Save a state dict (torch.save(model.state_dict(), ...)) instead")
    first = str(e).strip().splitlines()[0].split(". ")[0] if str(e).strip() else type(e).__name__
    return f"the file is truncated or damaged ({type(e).__name__}: {first[:160]})"


def nonfinite_tensors(state: Mapping[str, torch.Tensor]) -> list[str]:
    """Names of the floating-point tensors of a state dict that hold a NaN or an infinity."""
    return [k for k, v in state.items()
            if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all())]


def check_finite(model: nn.Module, source: str) -> None:
    """A network whose weights hold NaN or inf scores everything ``nan``: an error naming ``source``."""
    bad = nonfinite_tensors(model.state_dict())
    if bad:
        raise CheckpointError(f"{source} holds non-finite weights (NaN or inf in {len(bad)} tensor(s), e.g. "
                              f"{', '.join(bad[:3])}): the training that wrote it diverged; use an earlier checkpoint")


def extract_state_dict(obj: Any) -> dict[str, torch.Tensor]:
    """Find the state dict inside the usual wrappers (``model``, ``state_dict``) or take it as is."""
    if isinstance(obj, Mapping):
        for key in ("model", "state_dict", "model_state_dict"):
            if key in obj and isinstance(obj[key], Mapping):
                return dict(obj[key])
        if all(isinstance(v, torch.Tensor) for v in obj.values()):
            return dict(obj)
    raise ValueError("no state dict found (expected a dict of tensors, or one under 'model'/'state_dict')")


def strip_prefix(state: Mapping[str, torch.Tensor], prefix: str = "module.") -> dict[str, torch.Tensor]:
    """Remove ``prefix`` (DataParallel/DDP's ``module.``) from every key that has it."""
    return {(k[len(prefix):] if k.startswith(prefix) else k): v for k, v in state.items()}


def compare_state(model_state: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor]
                  ) -> tuple[list[str], list[str], list[str]]:
    """Missing, unexpected and mis-shaped keys (the last as readable ``key: ckpt vs model``)."""
    missing = sorted(k for k in model_state if k not in state)
    unexpected = sorted(k for k in state if k not in model_state)
    shapes = sorted(
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(model_state[k].shape)}"
        for k in state
        if k in model_state and tuple(state[k].shape) != tuple(model_state[k].shape)
    )
    return missing, unexpected, shapes


def load_weights(
    model: nn.Module,
    source: str | Path | Mapping[str, Any],
    key_map: Callable[[str], str | None] | None = None,
    strict: bool = True,
    ignore: Callable[[str], bool] | None = None,
    what: str | None = None,
) -> dict[str, list[str]]:
    """Load weights into ``model`` from a file or dict, mapping keys and reporting mismatches.

    ``module.`` prefixes are stripped; ``key_map(key)`` may rename a key or return ``None`` to
    drop it; ``ignore(key)`` drops keys that are known to be unused (a classifier head).
    With ``strict`` any missing, unexpected or mis-shaped key raises
    :class:`CheckpointMismatchError` naming each of them (``what`` names the source in it).
    """
    name = what or (str(source) if isinstance(source, (str, Path)) else "state dict")
    raw = load_file(source) if isinstance(source, (str, Path)) else source
    state = strip_prefix(extract_state_dict(raw))
    if ignore is not None:
        state = {k: v for k, v in state.items() if not ignore(k)}
    if key_map is not None:
        mapped = {}
        for k, v in state.items():
            new = key_map(k)
            if new is not None:
                mapped[new] = v
        state = mapped
    missing, unexpected, shapes = compare_state(model.state_dict(), state)
    report = {"missing": missing, "unexpected": unexpected, "mis_shaped": shapes}
    if strict and (missing or unexpected or shapes):
        parts = []
        if state and len(unexpected) == len(state):
            parts.append(f"it holds none of the weights of {type(model).__name__} (a checkpoint of another network?)")
        for title, keys in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", shapes)):
            if keys:
                more = " ..." if len(keys) > 12 else ""
                parts.append(f"{len(keys)} {title} key(s): " + ", ".join(keys[:12]) + more)
        raise CheckpointMismatchError(f"checkpoint {name} does not fit {type(model).__name__}: " + "; ".join(parts))
    bad_shape = {s.split(":")[0] for s in shapes}
    usable = {k: v for k, v in state.items() if k in model.state_dict() and k not in bad_shape}
    model.load_state_dict(usable, strict=False)
    return report


def find_checkpoint(run_dir: str | Path, prefer: tuple[str, ...] = ("best.pt", "last.pt")) -> Path:
    """The first of ``prefer`` present in ``run_dir``.

    Classifiers prefer ``best.pt`` (chosen on dev); the DSDG generator prefers ``last.pt`` (its
    dev criterion, the reconstruction error, says little about generated faces).
    """
    run_dir = Path(run_dir)
    for name in prefer:
        if (run_dir / name).is_file():
            return run_dir / name
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder not found: {run_dir} (train first, or set train.run_dir / --checkpoint)")
    raise FileNotFoundError(f"no checkpoint in {run_dir} (looked for {', '.join(prefer)}): train first or pass "
                            f"--checkpoint")


def read_meta(path: str | Path) -> dict[str, Any]:
    """The ``meta`` dict of a first-format checkpoint (empty when there is none)."""
    obj = load_file(path)
    return dict(obj.get("meta", {})) if isinstance(obj, Mapping) else {}


def update_meta(path: str | Path, **values: Any) -> None:
    """Rewrite a first-format checkpoint with ``meta`` updated."""
    obj = dict(load_file(path))
    meta = dict(obj.get("meta", {}))
    meta.update(values)
    obj["meta"] = meta
    save_checkpoint(obj, path)
