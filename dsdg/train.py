"""Train the DSDG generator (docs/methods/dsdg.md, "Training").

    python -m dsdg.train [--config dsdg/configs/demo.yaml] [--no-identity-net] [key=value ...]

Runs on the project's training engine (:mod:`fas_core.engine`): seeded and resumable from
``<run_dir>/last.pt`` (a plain state dict of the four networks, optimiser and RNG states),
TensorBoard losses and image grids in ``<run_dir>/tb``. "Dev" selection for a generator is the
reconstruction error (per-value MSE, latents at their means) of fixed held-out (spoof, live)
pairs of the dev list; ``best.pt`` holds the lowest. At the end the error of the initial
and of the final networks is printed and written to ``<run_dir>/recon_error.json``.

The identity losses need the released LightCNN-29 v2 checkpoint
(``identity_net.checkpoint=/path/LightCNN_29Layers_V2_checkpoint.pth.tar``). Without it, training
refuses to start unless ``--no-identity-net`` (or ``identity_net.enabled=false``) is given, and
then runs without the identity and pair losses.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fas_core import checkpoint as ckpt
from fas_core.config import Typed, config_argparser, config_from_cli
from fas_core.engine import ENGINE_DEFAULTS, check_engine_settings, set_seed, train
from fas_core.errors import UserError, run_cli
from fas_core.prepare import Prerequisite, ensure, python_module, show
from fas_core.task import Task
from fas_core.video_data import WorkPaths

from . import losses as L
from .dataset import PairDataset, mean_face_geometry
from .lightcnn import identity_features, load_lightcnn
from .model import DSDG, IMAGE_SIZE

DESCRIPTION = "Train the DSDG dual spoof disentanglement generator (encoders, decoder, type classifier)."

DEFAULTS: dict[str, Any] = {
    "train": {**ENGINE_DEFAULTS, "run_dir": "work_dirs/dsdg", "max_iters": 100000, "batch_size": 8,
              "log_every": 20, "image_every": 500, "eval_every": 2000, "ckpt_every": 500},
    "data": {
        "work": "datasets/demo_work",  # preprocessing work tree (frames/, depth/, lists/, crop caches)
        "protocol": "1",  # OULU-NPU protocol whose Train list gives the pairs
        "train_list": "",  # default <work>/lists/Protocol_<p>/Train.txt (folds: Train_<k>.txt)
        "dev_list": "",  # held-out pairs for the reconstruction error; default .../Dev.txt
        "source": Typed(str, "crops", choices=("crops", "frames")),  # crops: cache made at crop_scale | frames
        "crops": "",  # default <work>/crops_s1.0
        "frames": "",  # default <work>/frames (source frames; also faces.json for geometry)
        "depth": "",  # default <work>/depth (read when the crop cache is made)
        "lists": "",  # default <work>/lists
        "input_size": Typed(int, IMAGE_SIZE, choices=(IMAGE_SIZE,)),  # fixed by the decoder (4 * 2**6)
        "crop_scale": Typed(float, 1.0, low=0.1),  # DSDG crops the detector box at scale 1.0
        "frames_per_video": Typed(int, 40, low=1),  # evenly spaced frames per video, as the original list
        "allow_missing": False,  # listed videos without frames: error (false) or skip with a warning
        "preprocess_config": "",  # when set: missing data is made first (this preprocessing, then the crop cache)
        "workers": Typed(int, 2, low=1),  # processes of the crop stage that makes the cache
    },
    "model": {
        "hdim": Typed(int, 128, low=1),  # size of each latent (type, spoof identity, live identity)
        "num_types": Typed(int, 4, low=1),  # spoof types (OULU file codes 2,3,4,5)
        "freeze_classifier": False,  # true: keep the type classifier at its random init, as the original
    },
    "identity_net": {
        "enabled": True,  # false (or --no-identity-net): no identity/pair losses, with a warning
        "checkpoint": "",  # LightCNN_29Layers_V2_checkpoint.pth.tar
    },
    "loss": {
        **L.DEFAULT_WEIGHTS,  # kl 1, mmd 50 (latent mean L1, not a kernel MMD), type 10, ort 1, ip 1000, pair 5
        "warmup_steps": -1,  # steps with every term but reconstruction scaled; -1: the first epoch
        "warmup_factor": 0.01,
    },
    "optim": {"lr": Typed(float, 2e-4, low=0.0), "betas": [0.9, 0.999]},
    "generate": {  # what `python -m dsdg.generate` samples from this run unless told otherwise
        # demo: 200 pairs in videos of 10; paper: the original's DUM list, 350 live + 350 spoof videos of 99
        # frames (34,650 pairs), set in the paper config
        "preset": Typed(str, "demo", choices=("demo", "paper")),
    },
    "eval": {
        "pairs": Typed(int, 8, low=1),  # held-out dev pairs for the reconstruction error
        "batch_size": Typed(int, 4, low=1),
        "grid_samples": Typed(int, 8, low=0),  # random pairs in the TensorBoard / PNG sample grids
    },
}


class IdentityNetError(RuntimeError):
    """Identity losses requested but no usable LightCNN checkpoint."""


def resolve_paths(cfg: Any) -> dict[str, Path]:
    """Input paths from ``cfg.data`` (:class:`fas_core.video_data.WorkPaths`; the cache: ``crops_s1.0``)."""
    d = cfg.data
    w = WorkPaths.from_config(d, crops_default=f"crops_s{float(d.crop_scale):g}")
    return {
        "train_list": Path(d.train_list) if d.train_list else w.list_file(str(d.protocol), "train"),
        "dev_list": Path(d.dev_list) if d.dev_list else w.list_file(str(d.protocol), "dev"),
        "root": w.crops if d.source == "crops" else w.frames,
        "frames": w.frames, "depth": w.depth, "work": w.work, "crops": w.crops,
    }


def make_dataset(cfg: Any, split: str) -> PairDataset:
    paths = resolve_paths(cfg)
    list_file = paths["train_list" if split == "train" else "dev_list"]
    root = paths["root"]
    if not root.is_dir():
        how = show(crop_command(cfg)) if cfg.data.source == "crops" else "the preprocessing"
        raise FileNotFoundError(f"DSDG training data folder not found: {root} (make it with: {how})")
    return PairDataset(list_file, root, source=cfg.data.source, scale=float(cfg.data.crop_scale),
                       size=IMAGE_SIZE, frames_per_video=int(cfg.data.frames_per_video),
                       allow_missing=bool(cfg.data.allow_missing))


def crop_command(cfg: Any) -> tuple[str, ...]:
    """The crop stage that makes the training cache at ``data.crop_scale``."""
    p = resolve_paths(cfg)
    return python_module("data.crop", "--frames", str(p["frames"]), "--depth", str(p["depth"]), "--out",
                         str(p["crops"]), "--scale", str(cfg.data.crop_scale), "--workers", str(cfg.data.workers))


def identity_net_from_config(cfg: Any) -> nn.Module | None:
    """The frozen LightCNN, or None (with a loud warning) when disabled; refuses a missing checkpoint."""
    if not cfg.identity_net.enabled:
        banner = ("WARNING: DSDG runs WITHOUT the LightCNN identity network: the identity-preservation "
                  "and pair losses are OFF, so generated pairs are not pushed to keep one identity. "
                  "Give identity_net.checkpoint=<LightCNN_29Layers_V2_checkpoint.pth.tar> for the paper's training.")
        print("!" * 100 + "\n" + banner + "\n" + "!" * 100, file=sys.stderr, flush=True)
        warnings.warn(banner, stacklevel=2)
        return None
    path = cfg.identity_net.checkpoint
    if not path:
        raise IdentityNetError(
            "identity_net.checkpoint is not set. DSDG's identity losses need the LightCNN-29 v2 checkpoint "
            "(LightCNN_29Layers_V2_checkpoint.pth.tar, released by the LightCNN authors; nothing is downloaded). "
            "Pass identity_net.checkpoint=PATH, or --no-identity-net (identity_net.enabled=false) to train "
            "without the identity losses.")
    if not Path(path).is_file():
        raise IdentityNetError(f"LightCNN checkpoint not found: {path} (identity_net.checkpoint)")
    return load_lightcnn(path)


def batch_reconstruction_mse(model: DSDG, spoof: torch.Tensor, live: torch.Tensor) -> torch.Tensor:
    """Per-pair mean squared error of the reconstruction with every latent at its mean."""
    out = model(spoof, live, sample=False)
    return (out["rec"] - torch.cat((spoof, live), dim=1)).pow(2).flatten(1).mean(dim=1)


@torch.no_grad()
def reconstruction_error(model: DSDG, pairs: Sequence[dict[str, torch.Tensor]], batch_size: int = 4) -> float:
    """Mean per-value squared error (images in [0,1]) over held-out pairs, latents at their means."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    errs = []
    for i in range(0, len(pairs), batch_size):
        chunk = pairs[i:i + batch_size]
        spoof = torch.stack([p["spoof"] for p in chunk]).to(device)
        live = torch.stack([p["live"] for p in chunk]).to(device)
        errs.append(batch_reconstruction_mse(model, spoof, live).cpu())
    model.train(was_training)
    return float(torch.cat(errs).mean())


def image_grid(model: DSDG, spoof: torch.Tensor, live: torch.Tensor, n_samples: int, seed: int = 0) -> torch.Tensor:
    """Rows of [spoof, rec spoof, live, rec live] for each pair, then random (spoof, live) samples."""
    from torchvision.utils import make_grid

    was_training = model.training
    model.eval()
    with torch.no_grad():
        rec = model(spoof, live, sample=False)["rec"]
        tiles = []
        for i in range(spoof.shape[0]):
            tiles += [spoof[i], rec[i, :3], live[i], rec[i, 3:]]
        if n_samples:
            fake = model.sample(n_samples, torch.Generator().manual_seed(seed), device=spoof.device)
            for i in range(n_samples):
                tiles += [fake[i, :3], fake[i, 3:]]
    model.train(was_training)
    small = torch.nn.functional.interpolate(torch.stack(tiles).float().cpu(), size=(128, 128), mode="bilinear",
                                            align_corners=False)
    return make_grid(small.clamp(0, 1), nrow=4, padding=2, pad_value=1.0)


class DSDGTask(Task):
    """The DSDG generator as an engine task."""

    method_name = "dsdg"
    defaults = DEFAULTS
    default_config = "dsdg/configs/demo.yaml"
    description = DESCRIPTION

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        self.ip_net = identity_net_from_config(cfg)
        self.warmup_steps = 0
        self.geometry: list[list[float]] | None = None
        self._eval_pairs: list[dict[str, torch.Tensor]] | None = None
        self.last_eval: float | None = None  # the engine's latest held-out error (its final one: the end model)

    def input_spec(self):
        return self.method.input_spec(IMAGE_SIZE, float(self.cfg.data.crop_scale))

    def prerequisites(self) -> list[Prerequisite]:
        """The preprocessed data, then the crop cache at ``data.crop_scale`` (complete when its summary exists)."""
        d, p = self.cfg.data, resolve_paths(self.cfg)
        config = str(d.preprocess_config) or "CONFIG"
        pre = python_module("data.preprocess", "--config", config, f"work_root={p['work']}")
        need = [Prerequisite(path, pre, "the preprocessed data", bool(d.preprocess_config))
                for path in (p["train_list"], p["frames"])]
        if d.source == "crops":  # a cache of what is there: always made when missing
            need.append(Prerequisite(p["crops"] / "summary.json", crop_command(self.cfg), "the DSDG crop cache", True))
        return need

    def build_optimizer(self, model: nn.Module) -> tuple[torch.optim.Optimizer, Any]:
        params = [p for p in model.parameters() if p.requires_grad]
        return torch.optim.Adam(params, lr=float(self.cfg.optim.lr), betas=tuple(self.cfg.optim.betas)), None

    def train_dataset(self) -> PairDataset:
        ds = make_dataset(self.cfg, "train")
        world = torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1
        steps_per_epoch = max(1, len(ds) // (int(self.cfg.train.batch_size) * world))
        w = int(self.cfg.loss.warmup_steps)
        self.warmup_steps = steps_per_epoch if w < 0 else w
        videos = sorted({r.video for r in ds.spoofs} | {r.video for pool in ds.live_pool.values() for r in pool})
        self.geometry = mean_face_geometry(resolve_paths(self.cfg)["frames"], videos,
                                           scale=float(self.cfg.data.crop_scale))
        print(f"[dsdg] {len(ds)} spoof frames of {len(ds.subjects())} subjects, paired with "
              f"{sum(len(v) for v in ds.live_pool.values())} live frames; warm-up {self.warmup_steps} steps "
              f"(epoch = {steps_per_epoch} steps)")
        return ds

    def sample_groups(self, dataset: PairDataset) -> list[int]:
        """The spoof type: an unreadable pair's stand-in is a pair of the same type."""
        return list(dataset.types)

    def eval_pairs(self) -> list[dict[str, torch.Tensor]]:
        """Fixed held-out dev pairs (loaded once)."""
        if self._eval_pairs is None:
            ds = make_dataset(self.cfg, "dev")
            self._eval_pairs = [ds[i] for i in ds.eval_indices(int(self.cfg.eval.pairs))]
        return self._eval_pairs

    def training_step(self, model: nn.Module, batch: Any, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        spoof, live, types = batch["spoof"], batch["live"], batch["type"]
        out = model(spoof, live)
        mmd, ort = L.batch_statistic_terms(out["z_spoof"], out["z_live"], out["z_type"])  # over all processes
        terms = L.LossTerms(
            rec=L.reconstruction_loss(out["rec"], torch.cat((spoof, live), dim=1)),
            kl=L.kl_loss([(out["mu_spoof"], out["logvar_spoof"]), (out["mu_live"], out["logvar_live"]),
                          (out["mu_type"], out["logvar_type"])]),
            mmd=mmd,
            type=L.type_loss(out["type_logits"], types),
            ort=ort,
        )
        if self.ip_net is not None:
            ip = self.ip_net.to(spoof.device)
            with torch.no_grad():
                f_spoof, f_live = identity_features(ip, spoof), identity_features(ip, live)
            f_rec_spoof = identity_features(ip, out["rec"][:, :3])
            f_rec_live = identity_features(ip, out["rec"][:, 3:])
            terms.ip = L.identity_loss(f_rec_spoof, f_spoof, f_rec_live, f_live)
            terms.pair = L.pair_loss(f_rec_spoof, f_rec_live)
        warm = step < self.warmup_steps
        loss = L.total_loss(terms, self.cfg.loss, warmup=warm, warmup_factor=float(self.cfg.loss.warmup_factor))
        logs = {k: float(v.detach()) for k, v in terms.items()}
        logs["type_acc"] = float((out["type_logits"].argmax(1) == types).float().mean())
        logs["warmup"] = float(warm)
        return loss, logs

    def evaluate(self, model: nn.Module, split: str) -> list[tuple[str, float, int, str | None]]:
        """One row: the held-out reconstruction error (what :meth:`selection_metric` selects on)."""
        self.last_eval = reconstruction_error(model, self.eval_pairs(), int(self.cfg.eval.batch_size))
        return [("recon_mse", self.last_eval, 0, None)]

    def selection_metric(self, rows: list[tuple[str, float, int, str | None]]) -> tuple[float, dict[str, Any]]:
        value = float(rows[0][1])
        return value, {"recon_mse": value}

    def log_images(self, writer: Any, model: nn.Module, batch: Any, step: int) -> None:
        n = min(4, batch["spoof"].shape[0])
        grid = image_grid(model, batch["spoof"][:n], batch["live"][:n], int(self.cfg.eval.grid_samples))
        writer.add_image("train/pairs_recon_and_samples", grid, step)

    def checkpoint_extra(self) -> dict[str, Any]:
        """The mean landmark layout of training faces (landmarks of generated faces) and the identity-net flag."""
        return {"face_geometry": self.geometry, "identity_net": bool(self.cfg.identity_net.enabled)}


def save_png(grid: torch.Tensor, path: Path) -> None:
    import numpy as np

    from fas_core import fileio

    rgb = (grid.permute(1, 2, 0).numpy() * 255.0).round().clip(0, 255).astype(np.uint8)
    fileio.write_image(path, rgb[:, :, ::-1])


def report_reconstruction(task: DSDGTask, cfg: Any, before: float) -> dict[str, float]:
    """Error of the final networks vs the initial ones, printed and saved; a grid PNG beside it."""
    run_dir = Path(cfg.train.run_dir)
    model = task.build_model()
    ckpt.load_weights(model, run_dir / "last.pt")
    pairs = task.eval_pairs()
    # The engine evaluates the final networks at the end of a run; a run that had nothing left
    # to train (resumed at its last step) did not, so measure it here.
    after = task.last_eval if task.last_eval is not None else reconstruction_error(model, pairs,
                                                                                  int(cfg.eval.batch_size))
    change = 100.0 * (after - before) / max(before, 1e-12)
    print(f"[dsdg] reconstruction error on {len(pairs)} held-out dev pairs (per-value MSE, images in [0,1]): "
          f"before training {before:.5f}, after {after:.5f} ({change:+.1f}%)")
    result = {"before": before, "after": after, "pairs": len(pairs)}
    from fas_core import fileio

    fileio.write_json(run_dir / "recon_error.json", result)
    n = min(4, len(pairs))
    grid = image_grid(model, torch.stack([p["spoof"] for p in pairs[:n]]), torch.stack([p["live"] for p in pairs[:n]]),
                      int(cfg.eval.grid_samples))
    save_png(grid, run_dir / "reconstructions.png")
    print(f"[dsdg] grid of held-out reconstructions and random samples: {run_dir / 'reconstructions.png'}")
    return result


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    return run_cli(_main, argv)


def _main(argv: Sequence[str] | None) -> dict[str, Any]:
    parser = config_argparser(DESCRIPTION, DEFAULTS, DSDGTask.default_config)
    parser.add_argument("--no-identity-net", action="store_true",
                        help="train without the LightCNN identity network (identity and pair losses off)")
    parser.add_argument("--prepare-only", action="store_true", help="make missing inputs, then exit")
    cfg, args = config_from_cli(DESCRIPTION, DEFAULTS, argv, parser=parser, default_config=DSDGTask.default_config)
    check_engine_settings(cfg)  # before the reconstruction error of the untrained networks is measured
    if args.no_identity_net:
        cfg.identity_net.enabled = False
    first_process = int(os.environ.get("RANK", "0")) == 0 and int(os.environ.get("WORLD_SIZE", "1")) == 1
    try:
        task = DSDGTask(cfg)
    except IdentityNetError as e:
        raise UserError(str(e)) from None
    ensure(task.prerequisites(), task.name, may_run=first_process or args.prepare_only)
    if args.prepare_only:
        return {}
    is_main = int(os.environ.get("RANK", "0")) == 0
    before = None
    if is_main:
        # The engine seeds with train.seed and then builds the model: the same initial weights.
        set_seed(int(cfg.train.seed))
        before = reconstruction_error(task.build_model(), task.eval_pairs(), int(cfg.eval.batch_size))
    summary = train(task, cfg)
    if is_main and before is not None:
        summary["recon_error"] = report_reconstruction(task, cfg, before)
        print(json.dumps({"run_dir": summary["run_dir"], "step": summary["step"],
                          "recon_error": summary["recon_error"]}))
    return summary


if __name__ == "__main__":
    main()
