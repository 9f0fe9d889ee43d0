"""Two ways to choose a model and its threshold, side by side (docs/datasets.md, "Cross-domain evaluation").

* ``source_dev`` (the default, ``eval.selection``): the checkpoint with the lowest dev ACER and
  the dev EER threshold, both chosen on the dev list only. For a cross-domain task
  (``data.dataset: mcio``) the dev list is held-out *source* data (OULU-NPU's dev users,
  Replay-Attack's devel videos): the target's labels are never used.
* ``target_oracle``: the cross-domain literature's rule. The threshold is the EER point of the
  target test set itself and the model is the training step with the lowest target HTER at that
  threshold; both read the test labels, so the figures are optimistic. With
  ``eval.selection: target_oracle`` the engine scores the test split at every evaluation and
  keeps that step as ``best_target_oracle.pt`` (besides ``best.pt``, chosen as always), and
  ``test.py`` reports it next to the default.

``metrics.json`` gets a ``selection_rules`` section: per rule the model, the threshold and where
it came from, HTER at that threshold, AUC and TPR at FPR 1 %, 0.5 %, 0.1 %, and the 95 % bootstrap
intervals of HTER and AUC (:mod:`fas_core.bootstrap`, default settings: the dev threshold re-chosen on
every dev resample; the test set's own threshold on every test resample). The literature's
threshold on the default model is always there (``test_eer_threshold``), so that the effect of
the threshold alone can be told from that of the model choice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .bootstrap import confidence_intervals
from .config import Typed
from .metrics import eer_point, evaluate_split, fpr_key
from .scores import ScoreSet

SELECTION_RULES = ("source_dev", "target_oracle")
# eval.selection of every method: source_dev (no target label used) | target_oracle (also keep the literature's
# best_target_oracle.pt: lowest target HTER at the target's own EER threshold; reported beside, never instead)
EVAL_SELECTION = Typed(str, "source_dev", choices=SELECTION_RULES)
ORACLE_CHECKPOINT = "best_target_oracle.pt"
CROSS_DOMAIN_FPRS = (1e-2, 5e-3, 1e-3)  # TPR at FPR 1 %, 0.5 %, 0.1 %
THRESHOLD_SOURCES = {
    "source_dev": "the dev list's EER point (held-out source videos for a cross-domain task; no target label)",
    "test_eer_threshold": "the test set's own EER point (the cross-domain literature's rule; uses test labels)",
    "target_oracle": "the test set's own EER point, on the step with the lowest such HTER (the literature's "
                     "model and threshold; uses test labels)",
}

Rows = Sequence[tuple[str, float, int, "str | None"]]


@dataclass(frozen=True)
class Selection:
    """A checkpoint kept besides ``best.pt``: the split it is chosen on, the file, the figure (lower is better)."""

    name: str
    split: str
    checkpoint: str
    metric: Callable[[Rows], tuple[float, dict[str, Any]]]


def target_oracle_metric(rows: Rows) -> tuple[float, dict[str, Any]]:
    """HTER of the test rows at their own EER threshold (the literature's model selection figure)."""
    test = ScoreSet.from_rows(rows, source="test scores")
    point = eer_point(test.scores, test.labels)
    hter = (point["far"] + point["frr"]) / 2.0
    return hter, {"target_HTER_at_own_EER": hter, "target_EER_threshold": point["threshold"]}


TARGET_ORACLE = Selection("target_oracle", "test", ORACLE_CHECKPOINT, target_oracle_metric)


def selections(rule: str) -> list[Selection]:
    """The checkpoints ``eval.selection`` keeps besides ``best.pt``."""
    if rule not in SELECTION_RULES:
        raise ValueError(f"eval.selection must be one of {', '.join(SELECTION_RULES)}, got {rule!r}")
    return [TARGET_ORACLE] if rule == "target_oracle" else []


def rule_figures(dev: Rows, test: Rows, model: str) -> dict[str, dict[str, Any]]:
    """One model's figures under both thresholds: ``source_dev`` and ``test_eer_threshold``."""
    dev_set, test_set = ScoreSet.from_rows(dev, source="dev scores"), ScoreSet.from_rows(test, source="test scores")
    figures = {**evaluate_split(dev_set, test_set, fprs=CROSS_DOMAIN_FPRS), **confidence_intervals(dev_set, test_set)}
    return rules_from_figures(figures, model)


def rules_from_figures(m: Mapping[str, Any], model: str) -> dict[str, dict[str, Any]]:
    """:func:`rule_figures` from figures already computed on the same split, with the default bootstrap intervals
    (the test report's, :func:`fas_core.evaluate.evaluate_with_intervals`): nothing is evaluated again."""
    tprs = {fpr_key(f): m[fpr_key(f)] for f in CROSS_DOMAIN_FPRS}
    common = {"model": model, "AUC": m["AUC"], "AUC_ci": m["AUC_ci"], **tprs}
    return {
        "source_dev": {**common, "threshold": m["threshold"], "threshold_from": THRESHOLD_SOURCES["source_dev"],
                       "HTER": m["HTER"], "HTER_ci": m["HTER_ci"]},
        # HTER at the test set's own EER point is EER_test; its bootstrap re-chooses that point on each resample
        "test_eer_threshold": {**common, "threshold": m["threshold_test_EER"],
                               "threshold_from": THRESHOLD_SOURCES["test_eer_threshold"],
                               "HTER": m["HTER_at_test_EER_threshold"], "HTER_ci": m["EER_test_ci"]},
    }


def oracle_figures(test: Rows, model: str) -> dict[str, Any]:
    """The ``target_oracle`` entry: the oracle checkpoint's figures at the test set's own EER threshold."""
    entry = dict(rule_figures(test, test, model)["test_eer_threshold"])  # no dev threshold enters this entry
    entry["threshold_from"] = THRESHOLD_SOURCES["target_oracle"]
    return entry


def describe_rules(rules: dict[str, dict[str, Any]]) -> list[str]:
    """One line per rule: HTER, AUC, TPR@FPR=1%, threshold and model."""
    lines = []
    for name, r in rules.items():
        tpr = r.get("TPR@FPR=1e-2")
        lines.append(f"{name:<19} HTER {100 * r['HTER']:6.2f}%  AUC {r['AUC']:.4f}  TPR@FPR=1% "
                     f"{'n/a' if tpr is None else f'{100 * tpr:.2f}%'}  threshold {r['threshold']:.4g} ({r['model']})")
    return lines
