"""Each paper's main claim as a small, repeatable study on the synthetic OULU-NPU (docs/claims.md).

    python scripts/claims.py [--quick | --full] [--claims 1,3] [--seeds N] [--out work_dirs/claims]

For every claim, both arms are trained with ``--seeds`` training seeds (0 .. N-1) through the
method CLIs (``python -m <method>.train`` / ``.test`` with ``key=value`` overrides), each run in
its own folder ``<out>/runs/<arm>/seed<S>``, and tested on the test split (threshold from dev).
The arms are then compared by :func:`fas_core.compare.compare_arms` (mean ± std over seeds,
95 % paired-bootstrap intervals, a verdict computed from the numbers). Written:
``<out>/<claim>/summary.json`` and ``<out>/claims.md`` (tables, commands, wall times, verdicts).

Resumable: a step (preprocessing, a training, a test, generation) whose command finished before
is skipped (a ``.claims_step_<name>.json`` marker beside its output records the command and its
wall time); two claims that share a run (claim 2's CDC arm is claim 3's CDCN arm) train it once.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fas_core import fileio  # noqa: E402
from fas_core.bootstrap import BootstrapSettings  # noqa: E402
from fas_core.compare import RULE_TEXT, compare_dirs, format_gain, format_mean_interval  # noqa: E402
from fas_core.errors import UserError, run_cli  # noqa: E402
from fas_core.oulu import parse_video_name  # noqa: E402


class ClaimsError(UserError):
    """A bad option or a failed step of the claims study."""


@dataclass(frozen=True)
class Budget:
    """Training steps of every arm, and the generator's, for one study size."""

    single_iters: int  # FAS-SGTD single-frame stage
    multi_iters: int  # FAS-SGTD multi-frame stage
    dum_iters: int  # every CDCN / CDCN_u run
    dsdg_iters: int  # the DSDG generator (claim 4)
    pairs: int  # generated pairs (claim 4)
    few_users: tuple[int, ...] = (1, 2)  # claim 4: real training users kept (the demo preset trains on 1, 2, 3)
    evaluations: int = 3  # dev evaluations over each run; best.pt is the best of them
    extra: dict[str, tuple[str, ...]] = field(default_factory=dict)  # per method: extra overrides


# The demo configs' networks and inputs (64x64 faces for CDCN, 32x32 for FAS-SGTD) at every
# size; only the steps change, and quick scores fewer frames (clips) per dev and test video and
# evaluates on dev once, at the end. quick: each claim in under 10 minutes on 2 idle cores (3
# seeds); default: under 30 (measured: 13-28.5); full: FAS-SGTD at the hard config's own budget,
# CDCN 2.5 times the demo config's 240 steps, all four claims in about 8 hours (docs/claims.md).
QUICK_SCORING = {
    "sgtd": ("eval.frames_per_video=2", "test.frames_per_video=2"),  # demo configs: 6 and 6
    "dum": ("eval.frames_per_video=2", "test.frames_per_video=1"),  # demo config: 4 and 8
}
BUDGETS: dict[str, Budget] = {
    "quick": Budget(single_iters=120, multi_iters=40, dum_iters=20, dsdg_iters=20, pairs=40, evaluations=1,
                    extra=QUICK_SCORING),
    "default": Budget(single_iters=350, multi_iters=150, dum_iters=70, dsdg_iters=40, pairs=60,
                      extra={"dum": ("test.frames_per_video=4",)}),
    "full": Budget(single_iters=1200, multi_iters=300, dum_iters=600, dsdg_iters=600, pairs=400),
    # The end-to-end test: one or two steps of small networks on the tests' fake work tree.
    "tiny": Budget(single_iters=2, multi_iters=1, dum_iters=1, dsdg_iters=1, pairs=2, few_users=(1,), extra={
        "sgtd": ("data.input_size=32", "model.width=0.25", "train.batch_size=4", "train.threads=1",
                 "data.per_live=2", "data.per_attack=1", "eval.batch_size=8"),
        "multi": ("data.clip_frames=3", "data.clip_interval=1", "train.batch_size=2"),
        "dum": ("data.input_size=24", "train.batch_size=4", "train.threads=1", "eval.frames_per_video=1",
                "test.frames_per_video=1", "test.depth_samples=0", "train.device=cpu"),
        "dsdg": ("data.source=frames", "train.batch_size=1", "eval.pairs=1", "eval.grid_samples=1",
                 "loss.warmup_steps=1", "train.threads=1"),
        "generate": ("--frames-per-video", "2", "--no-detect"),
    }),
}
DEMO_PREPROCESS = ("--config", "data/configs/demo.yaml")
HARD_DATA = ("oulu_root=datasets/hard_oulu", "synth.difficulty=1.0")  # README: the hard preset


@dataclass(frozen=True)
class Step:
    """One command of the study; ``marker`` records that it finished, with its wall time (``None``:
    a command that resumes by itself and is always run, such as preprocessing)."""

    name: str
    argv: tuple[str, ...]
    marker: Path | None

    def shown(self) -> str:
        return " ".join(["python", *self.argv])


@dataclass
class Context:
    """Where things go and how big the study is."""

    out: Path
    budget: Budget
    seeds: int
    work: Path
    hard_work: Path
    prepare: bool
    settings: BootstrapSettings
    log: list[dict[str, Any]] = field(default_factory=list)

    def extra(self, key: str) -> tuple[str, ...]:
        return self.budget.extra.get(key, ())


@dataclass(frozen=True)
class Arm:
    """One training recipe: ``runs(ctx, seed)`` gives the steps of one seed and its test folder."""

    key: str
    label: str
    runs: Callable[[Context, int], tuple[list[Step], Path]]


@dataclass(frozen=True)
class Claim:
    """A paper's claim: arm A beats arm B on the test ACER."""

    number: int
    key: str
    title: str
    statement: str
    prepare: Callable[[Context], list[Step]]
    arm_a: Arm
    arm_b: Arm


# ----------------------------------------------------------------------------- steps
def execute(argv: Sequence[str]) -> int:
    """Run ``python <argv>`` from the repository root; its exit status."""
    return subprocess.run([sys.executable, *argv], cwd=ROOT).returncode


def run_step(step: Step) -> dict[str, Any]:
    """Run one step unless its marker says the same command finished; returns its record."""
    if step.marker is not None and step.marker.is_file():
        done = fileio.read_json(step.marker)
        if done.get("argv") == list(step.argv):
            print(f"claims: {step.name}: complete ({step.marker.parent}): skipped", flush=True)
            return {**done, "skipped": True}
    print(f"\nclaims: {step.name}: {step.shown()}", flush=True)
    start = time.monotonic()
    status = execute(step.argv)
    if status != 0:
        raise ClaimsError(f"{step.name} failed with exit status {status}: {step.shown()}")
    record = {"name": step.name, "argv": list(step.argv), "command": step.shown(),
              "wall_s": round(time.monotonic() - start, 1)}
    if step.marker is not None:
        fileio.write_json(step.marker, record)
    return {**record, "skipped": False}


def run_steps(ctx: Context, steps: Sequence[Step]) -> list[dict[str, Any]]:
    records = [run_step(s) for s in steps]
    ctx.log.extend(records)
    return records


def marker(folder: Path, name: str) -> Path:
    return folder / f".claims_step_{name}.json"


def evaluation(iters: int, count: int) -> tuple[str, ...]:
    """``count`` dev evaluations over the run (best.pt chosen on dev), checkpoints as often, no images."""
    every = max(1, iters // count)
    return (f"train.max_iters={iters}", f"train.eval_every={every}", f"train.eval_after={every}",
            f"train.ckpt_every={every}", "train.image_every=0")


def train_and_test(module: str, run_dir: Path, args: Sequence[str]) -> list[Step]:
    """``python -m <module>.train`` then ``.test`` with the same overrides, in ``run_dir``."""
    common = (*args, f"train.run_dir={run_dir}")
    return [Step(f"train {run_dir.relative_to(run_dir.parents[2])}", ("-m", f"{module}.train", *common),
                 marker(run_dir, "train")),
            Step(f"test {run_dir.relative_to(run_dir.parents[2])}", ("-m", f"{module}.test", *common),
                 marker(run_dir, "test"))]


def run_dir(ctx: Context, arm: str, seed: int) -> Path:
    return ctx.out / "runs" / arm / f"seed{seed}"


# ----------------------------------------------------------------------------- preprocessing
def preprocess_steps(ctx: Context, hard: bool) -> list[Step]:
    """The demo preprocessing (or the difficulty-1.0 one); it skips finished stages by itself."""
    if not ctx.prepare:
        return []
    work = ctx.hard_work if hard else ctx.work
    argv = ("-m", "data.preprocess", *DEMO_PREPROCESS, f"work_root={work}", *(HARD_DATA if hard else ()))
    return [Step(f"preprocess {work}", argv, None)]


# ----------------------------------------------------------------------------- claim 1: FAS-SGTD
def sgtd_single(ctx: Context, seed: int) -> tuple[list[Step], Path]:
    d = run_dir(ctx, "sgtd_single_hard", seed)
    args = ("--config", "fas_sgtd_single_frame/configs/hard.yaml", f"data.work={ctx.hard_work}",
            f"train.seed={seed}", *evaluation(ctx.budget.single_iters, ctx.budget.evaluations), *ctx.extra("sgtd"))
    return train_and_test("fas_sgtd_single_frame", d, args), d / "test"


def sgtd_multi(ctx: Context, seed: int) -> tuple[list[Step], Path]:
    single_steps, single_test = sgtd_single(ctx, seed)
    d = run_dir(ctx, "sgtd_multi_hard", seed)
    args = ("--config", "fas_sgtd_multi_frame/configs/hard.yaml", f"data.work={ctx.hard_work}",
            f"model.single_checkpoint={single_test.parent / 'best.pt'}", f"train.seed={seed}",
            *evaluation(ctx.budget.multi_iters, ctx.budget.evaluations), *ctx.extra("sgtd"), *ctx.extra("multi"))
    return single_steps[:1] + train_and_test("fas_sgtd_multi_frame", d, args), d / "test"


# ----------------------------------------------------------------------------- claims 2-4: CDCN, DUM, DSDG
def dum_arm(key: str, *overrides: str, lists: Callable[[Context], Path] | None = None,
            generated: bool = False) -> Callable[[Context, int], tuple[list[Step], Path]]:
    """A CDCN-family run on the demo data with ``overrides`` (model name, theta, data)."""

    def runs(ctx: Context, seed: int) -> tuple[list[Step], Path]:
        d = run_dir(ctx, key, seed)
        args = [f"data.work={ctx.work}", f"train.seed={seed}", *overrides,
                *evaluation(ctx.budget.dum_iters, ctx.budget.evaluations), *ctx.extra("dum")]
        if lists is not None:
            args.append(f"data.lists={lists(ctx)}")
        if generated:
            gen = generated_dir(ctx)
            args += [f"data.generated_list={gen / 'generated.txt'}", f"data.generated_crops={gen / 'crops'}"]
        return train_and_test("dum", d, args), d / "test"

    return runs


def few_user_lists(ctx: Context) -> Path:
    return ctx.out / "4_dsdg" / "lists"


def generated_dir(ctx: Context) -> Path:
    return ctx.out / "4_dsdg" / "generated"


def write_few_user_lists(source: Path, target: Path, users: Sequence[int]) -> int:
    """Protocol 1's lists with the Train list cut to ``users``; returns the training videos kept."""
    src, dst = source / "Protocol_1", target / "Protocol_1"
    if not (src / "Train.txt").is_file():
        raise ClaimsError(f"{src / 'Train.txt'}: not found; preprocess the data first")
    kept = [line for line in (src / "Train.txt").read_text().split()
            if parse_video_name(line.split(",")[1]).ints()[2] in users]
    if not kept:
        raise ClaimsError(f"{src / 'Train.txt'}: no training video of users {list(users)}")
    fileio.atomic_write_text(dst / "Train.txt", "\n".join(kept) + "\n")
    for name in ("Dev.txt", "Test.txt"):
        fileio.atomic_write_text(dst / name, (src / name).read_text())
    return len(kept)


def dsdg_prepare(ctx: Context) -> list[Step]:
    """Few-user lists, then the generator trained on them, then the generated pairs (seed 0, shared by all seeds)."""
    run_steps(ctx, preprocess_steps(ctx, hard=False))
    users = ctx.budget.few_users
    kept = write_few_user_lists(ctx.work / "lists", few_user_lists(ctx), users)
    print(f"claims: claim 4 trains on {kept} real training videos of users {list(users)}", flush=True)
    d = ctx.out / "runs" / "dsdg_few_users"
    train = ("-m", "dsdg.train", f"data.work={ctx.work}", f"data.lists={few_user_lists(ctx)}",
             f"train.run_dir={d}", f"train.max_iters={ctx.budget.dsdg_iters}", "train.image_every=0",
             f"train.ckpt_every={max(1, ctx.budget.dsdg_iters // 2)}", *ctx.extra("dsdg"))
    gen = ("-m", "dsdg.generate", "--run-dir", str(d), "--out", str(generated_dir(ctx)),
           "--num-pairs", str(ctx.budget.pairs), *ctx.extra("generate"))
    return [Step("train the DSDG generator", train, marker(d, "train")),
            Step("generate pairs", gen, marker(generated_dir(ctx), "generate"))]


def claims_list() -> list[Claim]:
    cdcn = Arm("cdcn_theta0.7", "CDCN, theta 0.7 (central difference)", dum_arm("cdcn_theta0.7", "model.name=cdcn",
                                                                              "model.theta=0.7"))
    few = {"lists": few_user_lists}
    return [
        Claim(1, "1_sgtd_temporal", "FAS-SGTD: multi-frame beats single-frame where one frame has no cue",
              "On synthetic difficulty 1.0 (hard preset), the multi-frame stage (OFFB + ConvGRU on the frozen "
              "single-frame network) has a lower test ACER than the single-frame stage.",
              lambda ctx: preprocess_steps(ctx, hard=True),
              Arm("sgtd_multi_hard", "multi-frame (on the single-frame run)", sgtd_multi),
              Arm("sgtd_single_hard", "single-frame", sgtd_single)),
        Claim(2, "2_cdcn_theta", "CDCN: central difference convolution beats vanilla convolution",
              "CDCN with theta 0.7 has a lower test ACER than the same network with theta 0 (plain convolutions).",
              lambda ctx: preprocess_steps(ctx, hard=False), cdcn,
              Arm("cdcn_theta0", "CDCN, theta 0 (vanilla)", dum_arm("cdcn_theta0", "model.name=cdcn",
                                                                    "model.theta=0.0"))),
        Claim(3, "3_dum_uncertainty", "DUM: CDCN_u beats plain CDCN at the same budget",
              "CDCN_u (CDCN with the depth uncertainty module) has a lower test ACER than CDCN, same steps.",
              lambda ctx: preprocess_steps(ctx, hard=False),
              Arm("cdcn_u_theta0.7", "CDCN_u (depth uncertainty)", dum_arm("cdcn_u_theta0.7", "model.name=cdcn_u",
                                                                           "model.theta=0.7")), cdcn),
        Claim(4, "4_dsdg_few_users", "DSDG: generated pairs help DUM when real identities are few",
              "CDCN_u trained on the real videos of two users (1 and 2 of the demo preset's 1-3) plus DSDG "
              "pairs (generator trained on the same videos) has a lower test ACER than CDCN_u on those real "
              "videos alone.",
              dsdg_prepare,
              Arm("cdcn_u_few_users_gen", "CDCN_u, few users + generated",
                  dum_arm("cdcn_u_few_users_gen", "model.name=cdcn_u", **few, generated=True)),
              Arm("cdcn_u_few_users", "CDCN_u, few users only", dum_arm("cdcn_u_few_users", "model.name=cdcn_u",
                                                                         **few))),
    ]


# ----------------------------------------------------------------------------- running a claim
def run_arms(ctx: Context, arms: Sequence[Arm]) -> tuple[list[list[Path]], list[float]]:
    """Train and test every seed of every arm, seed by seed (an interrupted study leaves whole seeds
    of both arms); returns each arm's test folders and wall time (s)."""
    tests: list[list[Path]] = [[] for _ in arms]
    wall = [0.0 for _ in arms]
    for seed in range(ctx.seeds):
        for i, arm in enumerate(arms):
            steps, test_dir = arm.runs(ctx, seed)
            wall[i] += sum(r["wall_s"] for r in run_steps(ctx, steps))
            tests[i].append(test_dir)
    return tests, wall


def arm_entry(arm: Arm, tests: list[Path], wall: float, figures: dict[str, Any]) -> dict[str, Any]:
    return {"key": arm.key, "label": arm.label, "tests": [str(t) for t in tests], "wall_s": round(wall, 1),
            **figures}


def run_claim(ctx: Context, claim: Claim) -> dict[str, Any]:
    """Prepare, run both arms, compare; writes ``<out>/<claim>/summary.json`` and returns it."""
    start, load = time.monotonic(), os.getloadavg()[0]
    first = len(ctx.log)
    run_steps(ctx, claim.prepare(ctx))
    (tests_a, tests_b), (wall_a, wall_b) = run_arms(ctx, (claim.arm_a, claim.arm_b))
    result = compare_dirs(tests_a, tests_b, ctx.settings)
    summary = {
        "claim": claim.number, "key": claim.key, "title": claim.title, "statement": claim.statement,
        "arms": {"A": arm_entry(claim.arm_a, tests_a, wall_a, result["arms"]["A"]),
                 "B": arm_entry(claim.arm_b, tests_b, wall_b, result["arms"]["B"])},
        "gain": result["gain"], "verdict": result["verdict"], "rule": result["rule"],
        "bootstrap": result["bootstrap"], "seeds": ctx.seeds, "budget": budget_text(ctx.budget),
        "steps": ctx.log[first:], "wall_s": round(time.monotonic() - start, 1),
        "load_average": {"start": round(load, 2), "end": round(os.getloadavg()[0], 2)},
    }
    fileio.write_json(ctx.out / claim.key / "summary.json", summary)
    return summary


def budget_text(b: Budget) -> str:
    return (f"FAS-SGTD {b.single_iters} single-frame + {b.multi_iters} multi-frame steps; CDCN/CDCN_u "
            f"{b.dum_iters} steps; DSDG {b.dsdg_iters} steps, {b.pairs} generated pairs; {b.evaluations} dev "
            f"evaluation(s) per run")


# ----------------------------------------------------------------------------- tables
def claim_table(summary: dict[str, Any]) -> list[str]:
    """Markdown lines: one row per arm (mean ± std [95 % interval] of the test ACER and AUC), the gain."""
    lines = ["| arm | seeds | test ACER (%) mean ± std [95% CI] | test AUC mean ± std [95% CI] | wall time (s) |",
             "|---|---|---|---|---|"]
    for tag in ("A", "B"):
        a = summary["arms"][tag]
        lines.append(f"| {tag}: {a['label']} | {summary['seeds']} | {format_mean_interval(a['ACER'], 'ACER')} | "
                     f"{format_mean_interval(a['AUC'], 'AUC')} | {a['wall_s']:.0f} |")
    g = summary["gain"]
    lines.append(f"| gain of A over B | | {format_gain(g['ACER'], 'ACER')} | {format_gain(g['AUC'], 'AUC')} | |")
    return lines


def claim_section(summary: dict[str, Any]) -> list[str]:
    """The markdown section of one claim: statement, table, verdict, budget, commands with wall times."""
    lines = [f"## Claim {summary['claim']}: {summary['title']}", "", summary["statement"], "",
             *claim_table(summary), "",
             f"**Verdict: {summary['verdict']}** (wall time {summary['wall_s']:.0f} s, load average "
             f"{summary['load_average']['start']} at the start and {summary['load_average']['end']} at the end; "
             f"budget: {summary['budget']})", "", "Commands (wall time; 'skipped': finished earlier):", ""]
    for s in summary["steps"]:
        lines.append(f"- `{s['command']}` ({s['wall_s']:.0f} s{', skipped' if s['skipped'] else ''})")
    return lines + [""]


def write_markdown(out: Path) -> Path:
    """``<out>/claims.md`` from every ``<out>/<claim>/summary.json`` there is, in claim order."""
    summaries = sorted((fileio.read_json(p) for p in out.glob("*/summary.json")), key=lambda s: s["claim"])
    lines = ["# Claims on the synthetic OULU-NPU (protocol 1, test split, threshold from dev)", "",
             "A/B: the two arms of a claim; the gain is positive when A is better (ACER: B - A; AUC: A - B).",
             f"Verdict rule: {RULE_TEXT}.", ""]
    for s in summaries:
        lines += claim_section(s)
    path = out / "claims.md"
    fileio.atomic_write_text(path, "\n".join(lines))
    return path


# ----------------------------------------------------------------------------- command line
def parse_claims(text: str) -> list[int]:
    known = {c.number for c in claims_list()}
    try:
        picked = sorted({int(t) for t in text.split(",") if t.strip()})
    except ValueError:
        raise ClaimsError(f"--claims: expected claim numbers separated by commas (e.g. 1,3), got {text!r}") from None
    bad = [n for n in picked if n not in known]
    if bad or not picked:
        raise ClaimsError(f"--claims: unknown claim(s) {bad or text!r}; the claims are {sorted(known)}")
    return picked


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python scripts/claims.py",
        description="Train both arms of each paper's claim with several seeds, test them, and print mean ± std, "
        "95% intervals and a verdict per claim. Claims: " + "; ".join(f"{c.number}. {c.title}" for c in claims_list()))
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", dest="budget", action="store_const", const="quick",
                      help="short budgets: each claim in under 10 minutes on 2 idle CPU cores")
    size.add_argument("--full", dest="budget", action="store_const", const="full", help="overnight budgets")
    size.add_argument("--budget", dest="budget", choices=sorted(BUDGETS), help=argparse.SUPPRESS)
    p.set_defaults(budget="default")
    p.add_argument("--claims", default="1,2,3,4", help="which claims, e.g. 1,3 (default: all)")
    p.add_argument("--seeds", type=int, default=3, help="training seeds per arm, 0..N-1 (default 3, at least 2)")
    p.add_argument("--out", default="work_dirs/claims", help="runs, summaries and claims.md (default: %(default)s)")
    p.add_argument("--work", default="datasets/demo_work",
                   help="preprocessed demo data, made when missing (default: %(default)s)")
    p.add_argument("--hard-work", default="datasets/hard_work",
                   help="preprocessed difficulty-1.0 data for claim 1, made when missing (default: %(default)s)")
    p.add_argument("--no-prepare", action="store_true", help="never run the preprocessing: the data must exist")
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default: %(default)s)")
    return p


def make_context(args: argparse.Namespace) -> Context:
    if args.seeds < 2:
        raise ClaimsError(f"--seeds: at least 2 seeds are needed for a standard deviation, got {args.seeds}")
    if args.resamples < 1:
        raise ClaimsError(f"--resamples: must be at least 1, got {args.resamples}")
    return Context(out=Path(args.out), budget=BUDGETS[args.budget], seeds=args.seeds, work=Path(args.work),
                   hard_work=Path(args.hard_work), prepare=not args.no_prepare,
                   settings=BootstrapSettings(resamples=args.resamples))


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    picked = parse_claims(args.claims)
    ctx = make_context(args)
    print(f"claims: {args.budget} budget ({budget_text(ctx.budget)}), {ctx.seeds} seeds, claims {picked}", flush=True)
    for claim in (c for c in claims_list() if c.number in picked):
        summary = run_claim(ctx, claim)
        print("\n" + "\n".join(claim_section(summary)[:-1]), flush=True)
    print(f"\nclaims: table written to {write_markdown(ctx.out)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Exit status 0, or 2 with one line for a bad option or a failed step."""
    return run_cli(_main, argv, prog="claims", return_status=True)


if __name__ == "__main__":
    sys.exit(main())
