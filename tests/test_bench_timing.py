"""The benchmarks' shared timing helper, and the two speed benchmarks end to end on tiny inputs."""

from __future__ import annotations

import pytest
import torch

from benchmarks import bench_cdcn, bench_sgtd
from benchmarks.timing import convolution_share, interleaved, rotated, speedup


def test_rotated_order() -> None:
    assert rotated(["a", "b", "c"], 0) == ["a", "b", "c"]
    assert rotated(["a", "b", "c"], 1) == ["b", "c", "a"]
    assert rotated(["a", "b", "c"], 5) == ["c", "a", "b"]


def test_interleaved_warms_up_then_rotates() -> None:
    calls: list[str] = []
    fns = {name: (lambda n=name: calls.append(n)) for name in ("ref", "new")}
    times = interleaved(fns, iters=2, repeats=3, warmup=1)
    assert calls == ["ref", "new"] + ["ref"] * 2 + ["new"] * 2 + ["new"] * 2 + ["ref"] * 2 + ["ref"] * 2 + ["new"] * 2
    assert {k: len(v) for k, v in times.items()} == {"ref": 3, "new": 3}
    assert all(t >= 0 for ts in times.values() for t in ts)
    with pytest.raises(ValueError, match="repeats"):
        interleaved(fns, repeats=0)


def test_speedup_is_the_ratio_of_medians() -> None:
    times = {"literal": [3.0, 9.0, 4.0], "fast": [1.0, 2.0, 100.0]}
    assert speedup(times, "fast", "literal") == pytest.approx(4.0 / 2.0)


def test_convolution_share_counts_convolution_kernels_only() -> None:
    x = torch.randn(1, 32, 64, 64)  # large enough that the kernel, not the profiler's bookkeeping, dominates
    w = torch.randn(32, 32, 3, 3)
    assert convolution_share(lambda: torch.sort(x.flatten())) == 0.0
    assert convolution_share(lambda: torch.nn.functional.conv2d(x, w, padding=1)) > 0.5
    w.requires_grad_(True)
    mixed = convolution_share(lambda: torch.nn.functional.conv2d(x, w, padding=1).square().sum().backward())
    assert 0.0 < mixed < 1.0


def test_bench_sgtd_profile_adds_the_ceiling_row() -> None:
    torch.set_num_threads(1)
    table = bench_sgtd.main(["--sizes", "16", "--width", "0.125", "--repeats", "1", "--warmup", "0",
                             "--stages", "single", "--modes", "training", "--profile"])
    row = next(line for line in table.splitlines() if "convolutions alone" in line)
    share = float(row.split("(")[1].split("%")[0])
    assert 0 < share <= 100 and "x** at most" in row


def test_bench_sgtd_runs_and_checks_outputs(capsys) -> None:
    torch.set_num_threads(1)
    table = bench_sgtd.main(["--sizes", "16", "--width", "0.125", "--repeats", "1", "--warmup", "0"])
    rows = [line for line in table.splitlines() if line.startswith("| single") or line.startswith("| multi")]
    assert len(rows) == 4  # two stages x training / inference
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[1] == "16" and cells[7].endswith("x**") and float(cells[8]) <= 1e-4
    assert "literal (s)" in capsys.readouterr().out


def test_bench_cdcn_runs(capsys) -> None:
    torch.set_num_threads(1)
    assert bench_cdcn.main(["--size", "32", "--batch", "2", "--repeats", "1", "--warmup", "0", "--iters", "1",
                            "--profile"]) == 0
    out = capsys.readouterr().out
    assert out.count("of the step's CPU time is convolution") == 2
    assert "max output difference folded vs literal" in out
    assert out.count("| literal | NCHW |") == 2 and "| folded + fused BN | NCHW |" in out
