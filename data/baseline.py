"""A deliberately simple baseline: logistic regression on colour histograms of the face crops.

    python -m data.baseline --crops <work>/crops --lists <work>/lists/Protocol_1 [--json OUT]

It answers one question about a dataset: can the attacks be told from live faces by their
colours alone? On the synthetic OULU-NPU the default difficulty is chosen so that they cannot
(test ACER of at least 10% on the demo preset's protocol 1); the methods of the toolkit have to
use texture, depth and motion.

* Features: per frame, 16-bin histograms of each channel of RGB, HSV and YCrCb (144 values,
  each channel's histogram sums to 1), from up to ``--frames`` evenly spaced crops per video
  (the crop cache: ``<crops>/<video>/<video>_<NNN>_scene.jpg``).
* Classifier: standardisation + L2 logistic regression (scikit-learn) fitted on the Train list
  frames; a video's score is the mean live probability of its frames.
* Threshold: the dev EER point, applied to test (:func:`fas_core.metrics.evaluate_split`), every
  figure with its bootstrap confidence interval (:mod:`fas_core.bootstrap`); prints the table and
  writes the figures as JSON and the dev/test score files next to it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fas_core import fileio, oulu
from fas_core.evaluate import evaluate_with_intervals, format_table
from fas_core.scores import ScoreSet, write_scores
from fas_core.stage_cli import stage_main, stage_parser
from fas_core.video_data import evenly_spaced, frames_in_cache

BINS = 16
SPLITS = ("Train", "Dev", "Test")


def colour_histogram(bgr: np.ndarray, bins: int = BINS) -> np.ndarray:
    """Concatenated per-channel histograms in RGB, HSV and YCrCb, each normalised to sum 1."""
    feats = []
    for space in (None, cv2.COLOR_BGR2HSV, cv2.COLOR_BGR2YCrCb):
        img = bgr if space is None else cv2.cvtColor(bgr, space)
        for c in range(3):
            top = 180 if space == cv2.COLOR_BGR2HSV and c == 0 else 256  # OpenCV hue is 0-179
            h = cv2.calcHist([img], [c], None, [bins], [0, top]).ravel()
            feats.append(h / max(h.sum(), 1.0))
    return np.concatenate(feats).astype(np.float32)


def crop_files(crops_root: str | Path, video: str, frames: int) -> list[Path]:
    """Up to ``frames`` evenly spaced face crops of ``video`` (empty when it has none)."""
    idx = evenly_spaced(frames_in_cache(crops_root, video), frames)
    return [Path(crops_root) / video / f"{fileio.frame_name(video, i)}_scene.jpg" for i in idx]


def load_split(crops_root: str | Path, list_path: str | Path, frames: int) -> dict[str, Any]:
    """Features of every listed video that has crops; the missing ones are named, not fatal."""
    entries = oulu.read_list(list_path)
    feats, frame_video, videos, labels, missing = [], [], [], [], []
    for video, label in entries:
        files = crop_files(crops_root, video, frames)
        rows = [colour_histogram(fileio.read_image(f)) for f in files]
        if not rows:
            missing.append(video)
            continue
        feats.extend(rows)
        frame_video.extend([len(videos)] * len(rows))
        videos.append(video)
        labels.append(label)
    return {"x": np.stack(feats) if feats else np.zeros((0, 9 * BINS), np.float32),
            "frame_video": np.asarray(frame_video, np.int64), "videos": videos,
            "labels": np.asarray(labels, np.int64), "missing": missing, "listed": len(entries)}


def video_scores(model: Any, split: dict[str, Any]) -> ScoreSet:
    """Mean live probability over each video's frames."""
    p = model.predict_proba(split["x"])[:, list(model.classes_).index(1)]
    sums = np.bincount(split["frame_video"], weights=p, minlength=len(split["videos"]))
    counts = np.bincount(split["frame_video"], minlength=len(split["videos"]))
    rows = [(v, float(s / c), int(y), None) for v, s, c, y in zip(split["videos"], sums, counts, split["labels"],
                                                                 strict=True)]
    return ScoreSet.from_rows(rows, source="baseline")


def run_baseline(crops_root: str | Path, lists_dir: str | Path, frames: int = 8, fold: int | None = None,
                 c: float = 1.0) -> dict[str, Any]:
    """Fit on Train, threshold on Dev, report Test; returns the figures and the score sets."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    lists_dir = Path(lists_dir)
    suffix = f"_{fold}" if fold else ""
    data = {}
    for s in SPLITS:
        path = lists_dir / f"{s}{suffix}.txt"
        if not path.is_file():
            raise FileNotFoundError(f"list file not found: {path}")
        data[s] = load_split(crops_root, path, frames)
        if not data[s]["videos"]:
            raise ValueError(f"{path}: none of its {data[s]['listed']} videos has face crops under {crops_root}")
        if len(set(data[s]["labels"].tolist())) < 2:
            raise ValueError(f"{path}: needs both live and attack videos with crops")
    train = data["Train"]
    y = train["labels"][train["frame_video"]]
    model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000))
    model.fit(train["x"], y)
    dev, test = video_scores(model, data["Dev"]), video_scores(model, data["Test"])
    figures = evaluate_with_intervals(dev, test)
    figures["baseline"] = {
        "features": f"{BINS}-bin per-channel histograms of RGB, HSV, YCrCb ({9 * BINS} values)",
        "classifier": f"StandardScaler + LogisticRegression(C={c}), frame level; video = mean live probability",
        "frames_per_video": frames, "crops": str(crops_root), "lists": str(lists_dir), "fold": fold,
        "videos": {s: len(data[s]["videos"]) for s in SPLITS},
        "missing_videos": {s: data[s]["missing"] for s in SPLITS},
        "train_accuracy": float(model.score(train["x"], y)),
    }
    return {"figures": figures, "dev": dev, "test": test}


def build_parser() -> argparse.ArgumentParser:
    p = stage_parser(
        "baseline", "Colour-histogram logistic-regression baseline on a crop cache and protocol lists "
                    "(fit on Train, dev EER threshold, test ACER).",
        {"--crops": "crop cache root: <crops>/<video>/<video>_<NNN>_scene.jpg",
         "--lists": "protocol folder with Train.txt, Dev.txt, Test.txt"}, workers=False)
    p.add_argument("--fold", type=int, default=None, help="protocols 3 and 4: use Train_K.txt, Dev_K.txt, Test_K.txt")
    p.add_argument("--frames", type=int, default=8, help="crops per video, evenly spaced (default: 8)")
    p.add_argument("--C", type=float, default=1.0, dest="c", help="inverse L2 regularisation (default: 1.0)")
    p.add_argument("--json", default=None,
                   help="output JSON (default: <crops>/../baseline/<protocol folder>[_fold].json); "
                        "dev/test score files are written next to it")
    return p


def report(args: argparse.Namespace) -> None:
    """Run the baseline for the command line; write the JSON and score files and print the table."""
    res = run_baseline(args.crops, args.lists, frames=args.frames, fold=args.fold, c=args.c)
    stem = Path(args.lists).name + (f"_{args.fold}" if args.fold else "")
    out = Path(args.json) if args.json else Path(args.crops).parent / "baseline" / f"{stem}.json"
    write_scores(out.with_name(out.stem + "_dev_scores.txt"), res["dev"])
    write_scores(out.with_name(out.stem + "_test_scores.txt"), res["test"])
    fileio.write_json(out, res["figures"])
    f = res["figures"]
    missing = sum(len(v) for v in f["baseline"]["missing_videos"].values())
    print(f"colour-histogram baseline on {stem} ({f['baseline']['videos']} videos with crops"
          f"{f', {missing} listed videos without crops' if missing else ''}):")
    print(format_table(f))
    print(f"baseline test ACER: {100 * f['ACER']:.2f}%  (json: {out})")


def main(argv: list[str] | None = None) -> int:
    return stage_main("baseline", build_parser(), report, argv)


if __name__ == "__main__":
    sys.exit(main())
