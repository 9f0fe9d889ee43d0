"""``bash benchmarks/gpu_check.sh --dry-run``: the GPU check's own code on the CPU at tiny sizes.

The smallest run that passes through every part once (one method, fp32 and the compiled variant,
the CLIs called in-process); the other methods and variants run the same functions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_check  # noqa: E402
import gpu_check_runs  # noqa: E402
from gpu_check_common import METHODS, PROFILES, Context, Report, failure  # noqa: E402

SKIPPED = "skipped (time budget)"


def table_rows(markdown: str, section: str) -> list[dict[str, str]]:
    """The rows of the markdown table under ``## section``, as ``{column: cell}``."""
    lines = markdown.split(f"## {section}\n", 1)[1].strip().splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = []
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True)))
    return rows


def test_dry_run_fills_every_section(tmp_path):
    out = tmp_path / "check"
    env = dict(os.environ, OMP_NUM_THREADS="2", PYTHONPATH=str(ROOT), OUT=str(out))  # --out defaults to $OUT
    proc = subprocess.run(["bash", "benchmarks/gpu_check.sh", "--dry-run", "--in-process", "--methods", "cdcn_u",
                           "--variants", "fp32,compile", "--budget", "1200"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    markdown = (out / "gpu_check.md").read_text()
    assert markdown in proc.stdout  # the same table on stdout
    assert "randomly initialised network stands in" in markdown and "Result: 0 failed check(s)." in markdown

    (e2e,) = table_rows(markdown, "End to end: python -m <method>.train / .test")
    assert e2e["what"] == "cdcn_u" and e2e["result"] == "ok" and e2e["steps"] == "2"
    assert 0.0 <= float(e2e["test ACER"]) <= 1.0 and float(e2e["final loss"]) > 0.0

    speed = {r["what"]: r for r in table_rows(markdown, "Training step speed (the engine's step, synthetic-tree "
                                                        "batch reused)")}
    assert set(speed) == {"cdcn_u fp32", "cdcn_u compile"}
    for row in speed.values():
        assert row["result"] == "ok" and float(row["per s"]) > 0 and row["batch"] == "2" and row["unit"] == "images/s"
        assert abs(float(row["per s"]) * float(row["ms/step"]) / 1000.0 - 2.0) < 0.05  # images/s x s/step = batch

    loader = table_rows(markdown, "Crop-cache loader (DUM training set, DataLoader)")
    assert [r["workers"] for r in loader] == ["8", "0"]  # dum/configs/oulu_p1.yaml's train.num_workers, then none
    assert all(float(r["images/s"]) > 0 for r in loader)
    assert "Verdict: the loader " in markdown and " the bottleneck: " in markdown

    (ddp,) = table_rows(markdown, "DDP: one process under torchrun")
    assert ddp["result"] == "ok" and ddp["backend"] == "gloo" and ddp["world"] == "1"
    (predict,) = table_rows(markdown, "Predict latency per image (Predictor: MTCNN + network)")
    assert predict["result"] == "ok" and float(predict["MTCNN ms"]) > 0 and float(predict["network ms (fused)"]) > 0

    saved = json.loads((out / "gpu_check.json").read_text())
    assert saved["sections"]["DDP: one process under torchrun"][0]["steps"] == 2


def test_parts_past_their_share_of_the_budget_are_reported_skipped(tmp_path):
    # A budget of 0 s is spent before the check starts: every part says so in its row, and nothing runs.
    ctx = Context(PROFILES["dry-run"], tmp_path, tmp_path / "work", tuple(METHODS), ("fp32", "compile"),
                  in_process=True, budget_s=0.0)
    report = Report(tmp_path)
    assert gpu_check.prepare(ctx, report) is False
    assert gpu_check_runs.end_to_end(ctx, report) == {}
    assert gpu_check.eager_speed(ctx, report) == {}
    assert gpu_check.loader(ctx, report) == []
    gpu_check.compiled_speed(ctx, report, None, {})
    markdown = (tmp_path / "gpu_check.md").read_text()  # written as the rows came
    assert not (tmp_path / "work" / "tree").exists() and "Result: 0 failed check(s)." in markdown

    (setup,) = table_rows(markdown, "Set-up")
    assert setup["result"] == SKIPPED + ": nothing else ran"
    e2e = table_rows(markdown, gpu_check_runs.E2E)
    assert sorted(r["what"] for r in e2e) == sorted(METHODS) and {r["result"] for r in e2e} == {SKIPPED}
    (ddp,) = table_rows(markdown, gpu_check_runs.DDP)
    assert ddp["result"] == SKIPPED
    speed = table_rows(markdown, "Training step speed (the engine's step, synthetic-tree batch reused)")
    assert [r["what"] for r in speed] == [f"{k} fp32" for k in METHODS] + ["cdcn_u compile"]
    assert {r["result"] for r in speed} == {SKIPPED}


def test_a_failed_row_names_the_exception_and_the_first_line_of_its_message():
    assert failure(RuntimeError("CUDA out of memory.\nTried to allocate 2 GiB")) == \
        "FAIL: RuntimeError: CUDA out of memory."
    assert failure(ValueError("x" * 400)) == "FAIL: ValueError: " + "x" * 300
    assert failure(KeyError()) == "FAIL: KeyError: "
