"""Read the FAS-SGTD TensorFlow checkpoints and map their single-frame variables to this project's names.

    python -m fas_sgtd_single_frame.convert_tf CKPT --dump-npz vars.npz    (on a machine with TensorFlow only)
    python -m fas_sgtd_single_frame.convert_tf vars.npz --out converted.pt  (anywhere, no TensorFlow)

``CKPT`` is a TensorFlow checkpoint prefix (``model_save/model.ckpt-NNNN``, next to its
``.index`` and ``.data-*`` files), its folder (the newest checkpoint listed in ``checkpoint``),
or an ``.npz`` of its variables. This module imports neither PyTorch nor the rest of the
project at load time, so ``--dump-npz`` runs where only TensorFlow is installed; TensorFlow is
imported only to read a TensorFlow checkpoint. The released model is the multi-frame one: convert
it with ``python -m fas_sgtd_multi_frame.convert_tf`` (docs/methods/fas_sgtd.md, "Released model").

The single-frame variables carry the slim scopes of the original graph:
``FaceMapNet/<block>/conv/{weights,biases}``, ``.../rgc_pw_gabor/{weights,biases}``,
``.../gabor_bn/{beta,moving_mean,moving_variance}``, ``.../gn/...`` for the RSGBs ``rgc_init``,
``rgc1_1`` .. ``rgc4_2``, and ``FaceMapNet/conv4_3/{weights,biases}``. Conv kernels go from TF's
``[kh, kw, in, out]`` to ``[out, in, kh, kw]``, FC weights from ``[in, out]`` to ``[out, in]``.
Optimiser slots (``Adam``, ``Adadelta``...) and ``global_step`` are ignored.
"""

from __future__ import annotations

import argparse
import re
import sys
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

RSGB_BLOCKS = ("rgc_init", "rgc1_1", "rgc1_2", "rgc1_3", "rgc2_1", "rgc2_2", "rgc2_3", "rgc3_1", "rgc3_2",
               "rgc3_3", "rgc4_1", "rgc4_2")
RSGB_PARTS = {"conv": "conv", "rgc_pw_gabor": "grad_conv", "gabor_bn": "grad_bn", "gn": "bn"}
SLIM_LEAF = {"weights": "weight", "biases": "bias", "beta": "bias", "moving_mean": "running_mean",
             "moving_variance": "running_var", "kernel": "weight", "bias": "bias"}
IGNORED = re.compile(r"(^|/)(global_step|beta1_power|beta2_power)$|/(Adam|Adam_1|Adadelta|Adadelta_1|Momentum|"
                     r"RMSProp|RMSProp_1|ExponentialMovingAverage)$")
TF_PREFIX_RE = re.compile(r"^(tower_\d+/)")

Transform = Callable[[np.ndarray], np.ndarray]


def _conv(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a.transpose(3, 2, 0, 1)) if a.ndim == 4 else a


def _dense(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a.T) if a.ndim == 2 else a


def _identity(a: np.ndarray) -> np.ndarray:
    return a


def _leaf(name: str) -> tuple[str, Transform]:
    key = SLIM_LEAF[name]
    return key, (_conv if key == "weight" else _identity)


def _single_key(rest: str) -> tuple[str, Transform] | None:
    """``rgc1_2/conv/weights`` -> ``rgc1_2.conv.weight`` (inside the FaceMapNet scope)."""
    m = re.fullmatch(r"(\w+)/(conv|rgc_pw_gabor|gabor_bn|gn)/(weights|biases|beta|moving_mean|moving_variance)", rest)
    if m and m.group(1) in RSGB_BLOCKS:
        key, fn = _leaf(m.group(3))
        return f"{m.group(1)}.{RSGB_PARTS[m.group(2)]}.{key}", fn
    m = re.fullmatch(r"conv4_3/(weights|biases)", rest)
    if m:
        key, fn = _leaf(m.group(1))
        return f"conv4_3.{key}", fn
    return None


def single_frame_key(name: str) -> tuple[str, Transform] | None:
    """One TF variable of the single-frame graph -> ``(state dict key, array transform)``; None: no counterpart."""
    top, rest = split_scope(name)
    return _single_key(rest) if top == "FaceMapNet" else None


def split_scope(name: str) -> tuple[str, str]:
    """``tower_0/FaceMapNet/rgc1_1/conv/weights:0`` -> ``("FaceMapNet", "rgc1_1/conv/weights")``."""
    name = TF_PREFIX_RE.sub("", name.split(":")[0])
    top, _, rest = name.partition("/")
    return top, rest


def convert_arrays(arrays: Mapping[str, np.ndarray], key_of: Callable[[str], tuple[str, Transform] | None],
                   expected: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, list]]:
    """Convert ``{tf_name: array}`` to a state dict with ``key_of`` (a stage's name mapping).

    ``expected`` (a model's state dict) is checked strictly. Returns ``(state_dict, report)``,
    the report listing ``ignored`` (optimiser slots, step) and ``unmapped`` TF names. A missing or
    mis-shaped key raises ``ValueError`` naming each of them; ``num_batches_tracked`` buffers
    (absent in TF) are filled with 0. Torch is imported here only: dumping variables needs none.
    """
    import torch

    state: dict[str, Any] = {}
    report: dict[str, list] = {"ignored": [], "unmapped": []}
    for name in sorted(arrays):
        if IGNORED.search(name.split(":")[0]):
            report["ignored"].append(name)
            continue
        found = key_of(name)
        if found is None:
            report["unmapped"].append(name)
            continue
        key, fn = found
        if key in state:
            raise ValueError(f"two TF variables map to {key} (the second is {name})")
        state[key] = torch.from_numpy(np.asarray(fn(np.asarray(arrays[name])), dtype=np.float32).copy())
    if expected is not None:
        _check_against(state, expected, report)
    return state, report


def _check_against(state: dict[str, Any], expected: Mapping[str, Any], report: dict[str, list]) -> None:
    import torch

    for key, value in expected.items():
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = torch.zeros_like(value)
    missing = sorted(k for k in expected if k not in state)
    shapes = sorted(f"{k}: converted {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
                    for k in expected if k in state and state[k].shape != expected[k].shape)
    if missing or shapes:
        parts = ["the TF variables do not fit the model"]
        if missing:
            parts.append(f"{len(missing)} missing: " + ", ".join(missing[:20]))
        if shapes:
            parts.append(f"{len(shapes)} mis-shaped: " + ", ".join(shapes[:20]))
        if report["unmapped"]:
            parts.append("unmapped TF variables: " + ", ".join(report["unmapped"][:20]))
        raise ValueError("; ".join(parts))


def read_variables(path: str | Path) -> dict[str, np.ndarray]:
    """Every variable of a TF checkpoint (prefix, ``.index`` file or folder), or of an ``.npz``."""
    path = Path(path)
    if path.suffix == ".npz":
        if not path.is_file():
            raise FileNotFoundError(f"variables file not found: {path}")
        try:
            with np.load(path) as data:
                return {k: data[k] for k in data.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
            raise ValueError(f"{path}: not a readable .npz of TensorFlow variables ({type(e).__name__}: {e})") from None
    try:
        import tensorflow as tf
    except ImportError as e:
        raise ImportError("reading a TensorFlow checkpoint needs TensorFlow (pip install tensorflow-cpu); or dump "
                          "its variables on a machine that has it with --dump-npz and convert the .npz here") from e
    prefix = str(path)
    if path.is_dir():
        prefix = tf.train.latest_checkpoint(str(path))
        if prefix is None:
            raise FileNotFoundError(f"no TensorFlow checkpoint listed in {path}/checkpoint")
    elif path.suffix == ".index":
        prefix = prefix[: -len(".index")]
    elif ".data-" in path.name:
        prefix = prefix.split(".data-")[0]
    if not Path(prefix + ".index").is_file():
        raise FileNotFoundError(f"TensorFlow checkpoint not found: {prefix}.index")
    reader = tf.train.load_checkpoint(prefix)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def build_parser(description: str, default_method: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="TF checkpoint prefix, its folder, or an .npz of its variables")
    parser.add_argument("--out", default=None, help="write a project checkpoint (.pt) here")
    parser.add_argument("--dump-npz", default=None, help="only dump the TF variables to this .npz (needs TensorFlow, "
                                                          "no PyTorch)")
    parser.set_defaults(method=default_method)
    return parser


def convert_main(parser: argparse.ArgumentParser, argv: Sequence[str] | None, test_hint: str = "") -> int:
    """``--dump-npz``: the variables to an .npz (TensorFlow only); ``--out``: a checkpoint of the project.

    Bad input (a missing or damaged file, TensorFlow absent) exits 2 with one line (``--debug``: traceback).
    """
    from fas_core.errors import run_cli  # the standard library only: --dump-npz still needs no PyTorch

    return run_cli(lambda a: _convert(parser, a, test_hint), argv, also=(ImportError, ValueError), return_status=True)


def _convert(parser: argparse.ArgumentParser, argv: Sequence[str] | None, test_hint: str) -> int:
    args = parser.parse_args(argv)
    if not args.out and not args.dump_npz:
        parser.error("give --out (converted checkpoint) or --dump-npz")
    if args.dump_npz:
        arrays = read_variables(args.checkpoint)
        np.savez(args.dump_npz, **arrays)
        print(f"{len(arrays)} variables -> {args.dump_npz}")
        return 0
    from fas_core.checkpoint import save_checkpoint
    from fas_core.methods import restore_released

    restored = restore_released(args.checkpoint, args.method)
    save_checkpoint({"model": restored.model.state_dict(), **restored.record.fields()}, args.out)
    print(f"converted {len(restored.model.state_dict())} tensors ({args.method}) -> {args.out}")
    if test_hint:
        print(f"test it (and store its dev threshold): {test_hint} --checkpoint {args.out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return convert_main(build_parser(__doc__, "sgtd_single"), argv,
                        "python -m fas_sgtd_single_frame.test --config fas_sgtd_single_frame/configs/oulu_p1.yaml")


if __name__ == "__main__":
    sys.exit(main())
