"""Convert the released FAS-SGTD TensorFlow model (multi-frame, OULU-NPU protocol 1) to a project checkpoint.

    python -m fas_sgtd_single_frame.convert_tf CKPT --dump-npz vars.npz    (on a machine with TensorFlow only)
    python -m fas_sgtd_multi_frame.convert_tf vars.npz --out converted.pt  (anywhere, no TensorFlow)
    python -m fas_sgtd_multi_frame.convert_tf CKPT --out converted.pt      (TensorFlow and PyTorch together)

``CKPT`` is a TensorFlow checkpoint prefix (``model_save/model.ckpt-NNNN``), its folder, or an
``.npz`` of its variables (docs/methods/fas_sgtd.md, "Released model"). Besides the single-frame
``FaceMapNet/...`` variables (:mod:`fas_sgtd_single_frame.convert_tf`, mapped under ``single.``)
the graph holds:

* ``OFFNet/OFFNet_conv_<l>_off``, ``OFFNet_bn_<l>_off``, ``OFFNet_linear_<l>_off`` (l = 1, 2, 3),
  ``OFFNet/cascade_conv_<i>``, ``cascade_bn_<i>`` (i = 1, 2), ``OFFNet/OFFNet_conv_4_1``, ``OFFNet_bn_4_1``;
* ``ConvLSTMNet/cell_<i>/.../{gates,candidate}/{kernel,bias}`` (the ConvGRU; any scope between
  the cell and ``gates`` is accepted);
* ``SoftmaxNet/fc/fc_<i>/{weights,biases}``.

The released model was trained with the original's ConvGRU (no recurrence at batch 1) and
double softmax, so the converted checkpoint's model arguments set ``gru_recurrent: false`` and
``legacy_double_softmax: true``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence

from fas_sgtd_single_frame.convert_tf import (
    SLIM_LEAF,
    Transform,
    _dense,
    _identity,
    _leaf,
    build_parser,
    convert_main,
    single_frame_key,
    split_scope,
)

OFFNET_SCOPES = (
    (r"OFFNet_conv_([123])_off", "off_{}.reduce"), (r"OFFNet_bn_([123])_off", "off_{}.reduce_bn"),
    (r"OFFNet_linear_([123])_off", "off_{}.fuse"), (r"cascade_conv_([12])", "cascade_conv_{}"),
    (r"cascade_bn_([12])", "cascade_bn_{}"), (r"OFFNet_conv_4_1", "conv_4_1"), (r"OFFNet_bn_4_1", "bn_4_1"),
)


def _offnet_key(rest: str) -> tuple[str, Transform] | None:
    m = re.fullmatch(r"(\w+)/(weights|biases|beta|moving_mean|moving_variance)", rest)
    if not m:
        return None
    scope, (key, fn) = m.group(1), _leaf(m.group(2))
    for pattern, target in OFFNET_SCOPES:
        mm = re.fullmatch(pattern, scope)
        if mm:
            return f"head.stpm.{target.format(*mm.groups())}.{key}", fn
    return None


def _gru_key(rest: str) -> tuple[str, Transform] | None:
    m = re.fullmatch(r"cell_([12])/(?:.+/)?(gates|candidate)/(kernel|bias)", rest)
    if not m:
        return None
    key, fn = _leaf(m.group(3))
    return f"head.stpm.gru.cell_{m.group(1)}.{m.group(2)}.{key}", fn


def _softmax_key(rest: str) -> tuple[str, Transform] | None:
    m = re.fullmatch(r"fc/fc_([12])/(weights|biases)", rest)
    if not m:
        return None
    key = SLIM_LEAF[m.group(2)]
    return f"head.fc_{m.group(1)}.{key}", (_dense if key == "weight" else _identity)


def multi_frame_key(name: str) -> tuple[str, Transform] | None:
    """One TF variable of the multi-frame graph -> ``(state dict key, array transform)``; None: no counterpart."""
    top, rest = split_scope(name)
    if top == "FaceMapNet":
        found = single_frame_key(name)
        return None if found is None else (f"single.{found[0]}", found[1])
    mapper = {"OFFNet": _offnet_key, "ConvLSTMNet": _gru_key, "SoftmaxNet": _softmax_key}.get(top)
    return mapper(rest) if mapper else None


def main(argv: Sequence[str] | None = None) -> int:
    return convert_main(build_parser(__doc__, "sgtd_multi"), argv,
                        "python -m fas_sgtd_multi_frame.test --config fas_sgtd_multi_frame/configs/released_p1.yaml")


if __name__ == "__main__":
    sys.exit(main())
