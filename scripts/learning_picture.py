"""The learning picture of a CDCN_u (DUM) run: a few live and attack test faces over their predicted depth maps.

usage: python scripts/learning_picture.py --checkpoint RUN/best.pt --out picture.png [--per-class 4]
           [--split test] [--config CONFIG] [key=value ...]

The config (default: the DUM demo config) says where the data is (``data.work``, ``data.protocol``);
the input size comes from the checkpoint. Each face is one frame of its video, the frame that
``dum.test`` scores with ``test.frames_per_video=1``, scored with the checkpoint's score rule, so
the score under a face is the video score that test run writes. The videos are spread over the
split, half live and half attack (:func:`fas_core.scoring.sample_videos`). A network that has
learnt the task draws a face-shaped map for a live face and a flat, dark one for an attack.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import default_collate  # noqa: E402

from dum import dataset as dd  # noqa: E402
from dum.method import MEAN, STD  # noqa: E402
from dum.train import DumTask  # noqa: E402
from fas_core.config import config_argparser, config_from_cli  # noqa: E402
from fas_core.dist import choose_device  # noqa: E402
from fas_core.errors import UserError, run_cli  # noqa: E402
from fas_core.methods import restore  # noqa: E402
from fas_core.plots import plot_faces_over_depth  # noqa: E402
from fas_core.scoring import sample_videos  # noqa: E402


@dataclass
class Panel:
    """One column of the picture."""

    video: str
    kind: str  # live, print or replay
    frame: int
    face: np.ndarray  # [S, S, 3] uint8 RGB, the network input
    depth: np.ndarray  # [s, s] predicted depth
    score: float


def picked_items(task: DumTask, split: str, per_class: int) -> list[dd.VideoItem]:
    """``per_class`` live, then ``per_class`` attack videos of the split (fewer when it has fewer), spread over it."""
    items = task.split_items(split)
    _, videos = task.scoring_dataset(split, 1)
    picks = sorted(sample_videos(videos, 2 * per_class), key=lambda i: (videos[i].label != 1, i))
    return [items[i] for i in picks]


def face_of(image: torch.Tensor) -> np.ndarray:
    """A normalised CHW network input back to an HWC uint8 picture (the inverse of dum.dataset.to_tensors)."""
    rgb = image.permute(1, 2, 0).numpy() * STD + MEAN
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


@torch.no_grad()
def score_panels(task: DumTask, model: torch.nn.Module, items: Sequence[dd.VideoItem]) -> list[Panel]:
    """One frame per video (as ``test.frames_per_video=1`` picks it), scored with the task's score rule."""
    data = task.cfg.data
    frames = dd.FrameScoringSet(items, int(data.input_size), 1, float(data.test_scale))
    batch = default_collate([frames[i] for i in range(len(frames))])
    device = next(model.parameters()).device
    scores, depth = task.score_batch(model, batch, device)
    panels = []
    for j, v in enumerate(batch["video"].tolist()):
        entry = items[v].entry
        kind = "live" if int(entry.label) == 1 else (entry.species or "attack")
        panels.append(Panel(entry.video, kind, int(batch["frame"][j]), face_of(batch["image"][j]),
                            depth[j].float().cpu().numpy(), float(scores[j])))
    return panels


def learning_picture(checkpoint: str | Path, out: str | Path, cfg: Any, per_class: int = 4,
                     split: str = "test") -> list[Panel]:
    """Score a few faces of ``split`` with the checkpoint's network and write the picture to ``out``."""
    restored = restore(checkpoint)
    if restored.method.name not in DumTask(cfg).accepts():
        raise UserError(f"{checkpoint} is a {restored.method.name} checkpoint; the picture draws CDCN_u / CDCN "
                        f"depth maps")
    cfg.data.input_size = restored.record.input.size  # the faces are cut as the network was trained on
    task = DumTask(cfg)
    model = task.prepare_for_test(restored.model.to(choose_device(str(cfg.train.device))).eval())
    panels = score_panels(task, model, picked_items(task, split, per_class))
    if not panels:
        raise UserError(f"the {split} split of {cfg.data.work} (protocol {cfg.data.protocol}) has no video to draw")
    threshold = restored.record.threshold
    rule = f"live if score >= {threshold:.3f} (dev threshold)" if threshold is not None else "no dev threshold stored"
    titles = [f"{p.kind} {p.score:.3f}\n{p.video}" for p in panels]
    plot_faces_over_depth([p.face for p in panels], [p.depth for p in panels], titles, out,
                          title=f"{Path(checkpoint).parent.name}: {split} faces and predicted depth ({rule})")
    return panels


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(_main, argv, prog="learning_picture", return_status=True)


def _main(argv: Sequence[str] | None) -> int:
    parser = config_argparser(__doc__.split("\n")[0], DumTask.defaults, DumTask.default_config)
    parser.add_argument("--checkpoint", required=True, help="a CDCN_u checkpoint (a run's best.pt or last.pt)")
    parser.add_argument("--out", required=True, help="the PNG to write")
    parser.add_argument("--per-class", type=int, default=4, help="live and attack faces each (default: 4)")
    parser.add_argument("--split", choices=("dev", "test"), default="test", help="which split (default: test)")
    cfg, args = config_from_cli(parser.description, DumTask.defaults, argv, parser=parser,
                                default_config=DumTask.default_config)
    if args.per_class < 1:
        raise UserError(f"--per-class must be at least 1, got {args.per_class}")
    panels = learning_picture(args.checkpoint, args.out, cfg, args.per_class, args.split)
    for p in panels:
        print(f"{p.video} ({p.kind}, frame {p.frame}): score {p.score:.4f}")
    print(f"picture: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
