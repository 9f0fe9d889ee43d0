"""Convert the released FAS-SGTD TensorFlow checkpoint to this project's state dict (fas_sgtd.md "Released model").

    python -m fas_sgtd_single_frame.convert_tf CKPT --out converted.pt [--stage multi|single]
    python -m fas_sgtd_single_frame.convert_tf CKPT --dump-npz vars.npz    (on a machine with TensorFlow)
    python -m fas_sgtd_single_frame.convert_tf vars.npz --out converted.pt  (then anywhere, no TensorFlow)

``CKPT`` is a TensorFlow checkpoint prefix (``model_save/model.ckpt-NNNN``, next to its
``.index`` and ``.data-*`` files), its folder (the newest checkpoint listed in ``checkpoint``),
or an ``.npz`` of its variables. TensorFlow is imported only to read a TensorFlow checkpoint.

The variables carry the slim scopes of the original graph:

* ``FaceMapNet/<block>/conv/{weights,biases}``, ``.../rgc_pw_gabor/{weights,biases}``,
  ``.../gabor_bn/{beta,moving_mean,moving_variance}``, ``.../gn/...`` for the RSGBs ``rgc_init``,
  ``rgc1_1`` .. ``rgc4_2``, and ``FaceMapNet/conv4_3/{weights,biases}``;
* ``OFFNet/OFFNet_conv_<l>_off``, ``OFFNet_bn_<l>_off``, ``OFFNet_linear_<l>_off`` (l = 1, 2, 3),
  ``OFFNet/cascade_conv_<i>``, ``cascade_bn_<i>`` (i = 1, 2), ``OFFNet/OFFNet_conv_4_1``, ``OFFNet_bn_4_1``;
* ``ConvLSTMNet/cell_<i>/.../{gates,candidate}/{kernel,bias}`` (the ConvGRU; any scope between
  the cell and ``gates`` is accepted);
* ``SoftmaxNet/fc/fc_<i>/{weights,biases}``.

Conv kernels go from TF's ``[kh, kw, in, out]`` to ``[out, in, kh, kw]``, FC weights from
``[in, out]`` to ``[out, in]``. Optimiser slots (``Adam``, ``Adadelta``...) and ``global_step``
are ignored. The released multi-frame model was trained with the original's ConvGRU (no
recurrence at batch 1) and double softmax, so the converted checkpoint's config sets
``gru_recurrent: false`` and ``legacy_double_softmax: true``.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

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


def _offnet_key(rest: str) -> tuple[str, Transform] | None:
    m = re.fullmatch(r"(\w+)/(weights|biases|beta|moving_mean|moving_variance)", rest)
    if not m:
        return None
    scope, (key, fn) = m.group(1), _leaf(m.group(2))
    patterns = (
        (r"OFFNet_conv_([123])_off", "off_{}.reduce"), (r"OFFNet_bn_([123])_off", "off_{}.reduce_bn"),
        (r"OFFNet_linear_([123])_off", "off_{}.fuse"), (r"cascade_conv_([12])", "cascade_conv_{}"),
        (r"cascade_bn_([12])", "cascade_bn_{}"), (r"OFFNet_conv_4_1", "conv_4_1"), (r"OFFNet_bn_4_1", "bn_4_1"),
    )
    for pat, target in patterns:
        mm = re.fullmatch(pat, scope)
        if mm:
            return f"head.stpm.{target.format(*mm.groups())}.{key}", fn
    return None


def tf_name_to_key(name: str, stage: str = "multi") -> tuple[str, Transform] | None:
    """Map one TF variable name to ``(state dict key, array transform)``; None when it has no counterpart."""
    name = TF_PREFIX_RE.sub("", name.split(":")[0])
    top, _, rest = name.partition("/")
    if top == "FaceMapNet":
        found = _single_key(rest)
        if found is None:
            return None
        key, fn = found
        return (key if stage == "single" else f"single.{key}"), fn
    if stage == "single":
        return None
    if top == "OFFNet":
        return _offnet_key(rest)
    if top == "ConvLSTMNet":
        m = re.fullmatch(r"cell_([12])/(?:.+/)?(gates|candidate)/(kernel|bias)", rest)
        if m:
            key, fn = _leaf(m.group(3))
            return f"head.stpm.gru.cell_{m.group(1)}.{m.group(2)}.{key}", fn
        return None
    if top == "SoftmaxNet":
        m = re.fullmatch(r"fc/fc_([12])/(weights|biases)", rest)
        if m:
            key = SLIM_LEAF[m.group(2)]
            return f"head.fc_{m.group(1)}.{key}", (_dense if key == "weight" else _identity)
    return None


def convert_arrays(arrays: Mapping[str, np.ndarray], stage: str = "multi",
                   expected: Mapping[str, torch.Tensor] | None = None
                   ) -> tuple[dict[str, torch.Tensor], dict[str, list]]:
    """Convert ``{tf_name: array}`` to a state dict; ``expected`` (a model's state dict) is checked strictly.

    Returns ``(state_dict, report)``, the report listing ``ignored`` (optimiser slots, step) and
    ``unmapped`` TF names. With ``expected``, a missing or mis-shaped key raises ``ValueError``
    naming each of them; ``num_batches_tracked`` buffers (absent in TF) are filled with 0.
    """
    state: dict[str, torch.Tensor] = {}
    report: dict[str, list] = {"ignored": [], "unmapped": []}
    for name in sorted(arrays):
        if IGNORED.search(name.split(":")[0]):
            report["ignored"].append(name)
            continue
        found = tf_name_to_key(name, stage)
        if found is None:
            report["unmapped"].append(name)
            continue
        key, fn = found
        if key in state:
            raise ValueError(f"two TF variables map to {key} (the second is {name})")
        state[key] = torch.from_numpy(np.asarray(fn(np.asarray(arrays[name])), dtype=np.float32).copy())
    if expected is not None:
        for key, value in expected.items():
            if key.endswith("num_batches_tracked") and key not in state:
                state[key] = torch.zeros_like(value)
        missing = sorted(k for k in expected if k not in state)
        shapes = sorted(f"{k}: converted {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
                        for k in expected if k in state and state[k].shape != expected[k].shape)
        if missing or shapes:
            lines = ["the TF variables do not fit the model:"]
            if missing:
                lines.append(f"  {len(missing)} missing: " + ", ".join(missing[:30]))
            if shapes:
                lines.append(f"  {len(shapes)} mis-shaped: " + ", ".join(shapes[:30]))
            if report["unmapped"]:
                lines.append("  unmapped TF variables: " + ", ".join(report["unmapped"][:30]))
            raise ValueError("\n".join(lines))
    return state, report


def read_variables(path: str | Path) -> dict[str, np.ndarray]:
    """Every variable of a TF checkpoint (prefix, ``.index`` file or folder), or of an ``.npz``."""
    path = Path(path)
    if path.suffix == ".npz":
        if not path.is_file():
            raise FileNotFoundError(f"variables file not found: {path}")
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
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


def released_config(stage: str) -> dict[str, Any]:
    """The training config the released model corresponds to (defaults + the original's behaviour)."""
    from fas_core.config import to_plain

    if stage == "single":
        from .train import DEFAULTS

        cfg = to_plain(DEFAULTS)
        cfg["data"]["image_size"] = 256
        return cfg
    from fas_sgtd_multi_frame.train import DEFAULTS as MULTI

    cfg = to_plain(MULTI)
    cfg["data"]["image_size"] = 256
    cfg["model"].update(width=1.0, paper_order=False, gru_recurrent=False, legacy_double_softmax=True)
    return cfg


def released_meta(stage: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"method": "sgtd_single" if stage == "single" else "sgtd_multi", "input_size": 256,
                            "depth_size": 32, "normalisation": {"mean": [127.5] * 3, "std": [255.0] * 3, "rgb": True},
                            "crop_scale": 1.3, "config": released_config(stage), "source": "released TensorFlow model"}
    if stage == "multi":
        meta["clip"] = {"frames": 5, "interval": 3}
    return meta


def build_for_stage(stage: str) -> torch.nn.Module:
    meta = released_meta(stage)
    if stage == "single":
        from .inference import build_model
    else:
        from fas_sgtd_multi_frame.inference import build_model
    return build_model(meta)


def load_released(path: str | Path, stage: str = "multi") -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``(state_dict, meta)`` of the released checkpoint, ready for ``fas_core.checkpoint.load_weights``."""
    model = build_for_stage(stage)
    state, _ = convert_arrays(read_variables(path), stage, expected=model.state_dict())
    return state, released_meta(stage)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="TF checkpoint prefix, its folder, or an .npz of its variables")
    parser.add_argument("--stage", choices=("multi", "single"), default="multi",
                        help="which network the checkpoint holds (the release is the multi-frame one)")
    parser.add_argument("--out", default=None, help="write a project checkpoint (.pt) here")
    parser.add_argument("--dump-npz", default=None, help="only dump the TF variables to this .npz")
    args = parser.parse_args(argv)
    try:
        arrays = read_variables(args.checkpoint)
        if args.dump_npz:
            np.savez(args.dump_npz, **arrays)
            print(f"{len(arrays)} variables -> {args.dump_npz}")
            return 0
        if not args.out:
            parser.error("give --out (converted checkpoint) or --dump-npz")
        model = build_for_stage(args.stage)
        state, report = convert_arrays(arrays, args.stage, expected=model.state_dict())
        model.load_state_dict(state)
    except (FileNotFoundError, ImportError, ValueError) as e:
        print(f"convert_tf: error: {e}", file=sys.stderr)
        return 1
    from fas_core.checkpoint import save_checkpoint

    save_checkpoint({"model": model.state_dict(), "meta": released_meta(args.stage)}, args.out)
    print(f"converted {len(state)} tensors ({len(report['ignored'])} optimiser/step variables ignored, "
          f"{len(report['unmapped'])} unmapped) -> {args.out}")
    if report["unmapped"]:
        print("unmapped: " + ", ".join(report["unmapped"][:20]))
    if args.stage == "multi":
        print("test it (and store its dev threshold): python -m fas_sgtd_multi_frame.test --config "
              f"fas_sgtd_multi_frame/configs/released_p1.yaml --checkpoint {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
