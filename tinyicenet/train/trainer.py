"""The training loop: float pre-training, then QAT fine-tuning of the quantized twin.

One epoch = ``steps_per_epoch`` batches of seeded random patches; after each epoch rank 0
validates on full scenes, writes ``last.pt`` atomically (weights, optimizer and scheduler state,
RNG state, epoch, phase, config, data statistics, metrics, history) and rewrites
``metrics.csv`` / ``metrics.json``. At the end of the float phase it also keeps ``float.pt``
(the float twin); at the end ``final.pt`` holds the delivered model.

Resuming (``resume=`` a run folder or a ``last.pt``) rebuilds the model of the saved phase,
restores optimizer, scheduler and RNG state and continues at the next epoch. Because every batch
and augmentation draw is seeded by ``(seed, epoch, step)`` only, a resumed run produces the same
weights as an uninterrupted one (tests/test_train_resume.py checks bit equality on CPU).

Under ``torchrun`` (``WORLD_SIZE > 1``) the model is wrapped in DistributedDataParallel; see
:mod:`tinyicenet.train.distributed` and :mod:`tinyicenet.train.patches`.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tinyicenet.errors import CheckpointError, ConfigError
from tinyicenet.metrics import IGNORE_INDEX, NUM_CLASSES
from tinyicenet.models.checkpoint import normalisation_record
from tinyicenet.progress import info, make_progress
from tinyicenet.train import distributed
from tinyicenet.train.augment import apply_codes, draw_codes
from tinyicenet.train.config import Config, config_from_dict
from tinyicenet.train.history import write_history
from tinyicenet.train.patches import PatchSampler, class_histogram, generator
from tinyicenet.train.scenes import load_scenes, split_scenes

LAST, FLOAT, FINAL = "last.pt", "float.pt", "final.pt"
_CALIBRATION_BATCHES = 4


@dataclass
class TrainResult:
    """Where a finished run left its files, and its per-epoch history."""

    run_dir: Path
    final: Path
    float_twin: Path | None
    history: list[dict[str, Any]] = field(default_factory=list)
    #: False when the call stopped early (``stop_after``): no final.pt yet.
    complete: bool = True
    #: This process's rank under DDP (only rank 0 wrote files and validated).
    rank: int = 0

    @property
    def last_metrics(self) -> dict[str, Any]:
        return self.history[-1] if self.history else {}


def find_resume_checkpoint(path: str | Path) -> Path:
    """A run folder -> its ``last.pt``; a file -> itself; otherwise CheckpointError."""
    p = Path(path)
    if p.is_dir():
        p = p / LAST
    if not p.is_file():
        raise CheckpointError(f"{p}: nothing to resume from (no checkpoint file)")
    return p


def resume_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """The config saved in a run's checkpoint, with optional dotted overrides."""
    from tinyicenet.models import load_checkpoint
    from tinyicenet.train.config import apply_overrides

    ckpt_path = find_resume_checkpoint(path)
    _, ckpt = load_checkpoint(ckpt_path)  # the whole check: format, model, weights
    saved = ckpt.get("config")
    if not isinstance(saved, dict) or "phase" not in ckpt:
        raise CheckpointError(f"{ckpt_path}: not a training checkpoint (no config/phase); "
                              "resume takes a run folder or its last.pt")
    try:
        return config_from_dict(apply_overrides(saved, list(overrides)))
    except ConfigError as exc:
        raise CheckpointError(f"{ckpt_path}: saved config is not valid here: {exc}") from None


def run_training(config: Config, out_dir: str | Path, *, resume: str | Path | None = None,
                 quiet: bool = False, stop_after: int | None = None) -> TrainResult:
    """Train ``config`` into the run folder ``out_dir`` (see module doc); return the result.

    With ``resume`` the run continues from that checkpoint (``out_dir`` may be the same folder).
    ``stop_after`` ends this call after that many epochs (a time-sliced job; resume later);
    ``final.pt`` is written only when the last epoch is done. Works as a single process or
    under torchrun (DDP); only rank 0 writes files.
    """
    ctx = distributed.setup(config.train.device)
    deterministic = torch.are_deterministic_algorithms_enabled()
    threads = torch.get_num_threads()
    try:
        if config.train.threads:
            torch.set_num_threads(config.train.threads)
        if ctx.device.type == "cpu":
            # Bit-reproducible on CPU; on CUDA speed wins (cuDNN picks its own algorithms).
            torch.use_deterministic_algorithms(True)
        trainer = _Trainer(config, Path(out_dir), ctx, quiet=quiet or not ctx.is_main)
        return trainer.run(resume, stop_after)
    finally:
        torch.use_deterministic_algorithms(deterministic)
        torch.set_num_threads(threads)
        distributed.teardown(ctx)


class _Trainer:
    def __init__(self, cfg: Config, run_dir: Path, ctx: distributed.DistContext,
                 quiet: bool) -> None:
        self.cfg, self.run_dir, self.ctx, self.quiet = cfg, run_dir, ctx, quiet
        self.charts = tuple(cfg.model.charts)
        self.history: list[dict[str, Any]] = []
        #: What equalize_shared_ranges moved when QAT started (empty: nothing or not run).
        self.equalized: list[dict[str, Any]] = []

    # ---- set-up ----------------------------------------------------------------------------
    def _load_data(self) -> None:
        cfg = self.cfg
        train_paths, val_paths = split_scenes(cfg.data)
        with make_progress(self.quiet) as progress:
            self.train_scenes = load_scenes(train_paths, cfg, progress, "loading training scenes")
            self.val_scenes = load_scenes(val_paths, cfg, progress, "loading validation scenes")
        self.sampler = PatchSampler(self.train_scenes, self.charts, cfg.data.patch,
                                    min_labelled=cfg.data.min_labelled, device=self.ctx.device)
        hist = {c: class_histogram(self.train_scenes, c, NUM_CLASSES[c]) for c in self.charts}
        self.data_stats = {
            "train_scenes": [s["meta"]["scene_id"] for s in self.train_scenes],
            "val_scenes": [s["meta"]["scene_id"] for s in self.val_scenes],
            "downsample": cfg.data.downsample,
            "variables": list(cfg.data.variables),
            "normalisation": normalisation_record(cfg.data.variables),
            # how each training file's inputs were read (decided once per file)
            "input_scaling": {s["meta"]["scene_id"]: s["meta"].get("input_scaling")
                              for s in self.train_scenes + self.val_scenes},
            "class_histogram": {c: h.tolist() for c, h in hist.items()},
        }
        self.loss_weights = {c: _class_weights(hist[c], cfg.train.class_weights, self.ctx.device)
                             for c in self.charts}

    def _new_model(self) -> nn.Module:
        from tinyicenet.models import create_model, load_checkpoint
        torch.manual_seed(self.cfg.seed)  # the same initial weights on every rank and run
        model = create_model(self.cfg.float_name, **self.cfg.model_kwargs())
        if self.cfg.model.init:
            init, _ = load_checkpoint(self.cfg.model.init)
            if init.name != model.name or init.config != model.config:
                raise CheckpointError(f"{self.cfg.model.init}: holds {init.name} {init.config}; "
                                      f"model.init needs a {model.name} {model.config} "
                                      "checkpoint")
            model.load_state_dict(init.state_dict())
        return model.to(self.ctx.device)

    def _to_qat(self, float_model: nn.Module) -> nn.Module:
        """The quantized twin with the float weights, activation radix points calibrated.

        With ``train.equalize`` the branches that share a skip quantizer are first brought to
        one range (a function-preserving rescaling of a copy of the float weights); the
        activation scales then come from ``train.calibration`` (see tinyicenet.models.calibrate).
        """
        from tinyicenet.models import calibrate, quantize_from_float
        from tinyicenet.models.calibrate import equalize_shared_ranges
        # Calibration sees the same patches on every rank (rank 0's view of a fixed stream), so
        # every replica starts QAT with identical scales.
        batches = []
        g = generator(self.cfg.seed, 2**31 - 1, 0, 2)
        for _ in range(_CALIBRATION_BATCHES):
            windows = self.sampler.windows(self.cfg.train.batch, g)
            batches.append(self.sampler.crop(windows)[0])
        if self.cfg.train.equalize and float_model.skips:
            float_model = copy.deepcopy(float_model)  # float.pt keeps the weights as trained
            self.equalized = equalize_shared_ranges(float_model, batches)
        qmodel = quantize_from_float(float_model, self.cfg.model.name,
                                     precision=self.cfg.model.precision or None)
        qmodel = qmodel.to(self.ctx.device)
        return calibrate(qmodel, batches, method=self.cfg.train.calibration)

    def _optimizer(self, model: nn.Module, phase: str
                   ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
        o, t = self.cfg.optim, self.cfg.train
        lr = o.lr if phase == "float" else o.qat_lr
        params = [p for p in model.parameters() if p.requires_grad]
        if o.name == "adam":
            opt: torch.optim.Optimizer = torch.optim.Adam(params, lr=lr,
                                                          weight_decay=o.weight_decay)
        elif o.name == "adamw":
            opt = torch.optim.AdamW(params, lr=lr, weight_decay=o.weight_decay)
        else:
            opt = torch.optim.SGD(params, lr=lr, momentum=o.momentum,
                                  weight_decay=o.weight_decay)
        epochs = t.float_epochs if phase == "float" else t.qat_epochs
        if o.schedule == "cosine":
            sched: torch.optim.lr_scheduler.LRScheduler = \
                torch.optim.lr_scheduler.CosineAnnealingLR(
                    opt, T_max=max(1, epochs * t.steps_per_epoch), eta_min=lr * o.min_lr_ratio)
        else:
            sched = torch.optim.lr_scheduler.ConstantLR(opt, factor=1.0, total_iters=0)
        return opt, sched

    def _wrap(self, model: nn.Module) -> nn.Module:
        if not self.ctx.distributed:
            return model
        from torch.nn.parallel import DistributedDataParallel
        ids = [self.ctx.device.index] if self.ctx.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    # ---- the run ---------------------------------------------------------------------------
    def run(self, resume: str | Path | None, stop_after: int | None = None) -> TrainResult:
        from tinyicenet.models import load_checkpoint

        cfg = self.cfg
        start_epoch, opt_state, sched_state = 0, None, None
        if resume is not None:
            ckpt_path = find_resume_checkpoint(resume)
            model, ckpt = load_checkpoint(ckpt_path, map_location=self.ctx.device)
            model.train()
            start_epoch = self._check_resumable(ckpt_path, ckpt, model)
        self._load_data()
        if resume is not None:
            self.history = list(ckpt.get("history", []))
            if start_epoch < cfg.total_epochs and cfg.phase_of(start_epoch) == ckpt["phase"]:
                opt_state, sched_state = ckpt["optimizer"], ckpt["scheduler"]
            if "rng" in ckpt:
                torch.set_rng_state(ckpt["rng"]["torch"])
            info(f"resuming {ckpt_path} at epoch {start_epoch + 1}/{cfg.total_epochs}",
                 self.quiet)
        else:
            model = self._new_model()
        if self.ctx.is_main:
            from tinyicenet.atomic import make_dir, write_text

            make_dir(self.run_dir)
            write_text(self.run_dir / "config.yaml", cfg.to_yaml())

        opt = sched = None
        if start_epoch < cfg.total_epochs:
            phase = cfg.phase_of(start_epoch)
            if phase == "qat" and not model.quantized:
                model = self._to_qat(model)
            opt, sched = self._optimizer(model, phase)
            if opt_state is not None:
                opt.load_state_dict(opt_state)
                sched.load_state_dict(sched_state)
        ddp_model = self._wrap(model)

        end_epoch = cfg.total_epochs if stop_after is None else \
            min(cfg.total_epochs, start_epoch + max(0, stop_after))
        with make_progress(self.quiet) as progress:
            for epoch in range(start_epoch, end_epoch):
                phase = cfg.phase_of(epoch)
                if phase == "qat" and not model.quantized:  # the phase boundary
                    model = self._to_qat(model)
                    opt, sched = self._optimizer(model, phase)
                    ddp_model = self._wrap(model)
                row = self._epoch(epoch, phase, model, ddp_model, opt, sched, progress)
                self.history.append(row)
                if self.ctx.is_main:
                    self._save(LAST, model, epoch + 1, phase, row, opt, sched)
                    write_history(self.run_dir, self.history)
                    if phase == "float" and epoch + 1 == cfg.train.float_epochs \
                            and cfg.is_quantized:
                        self._save(FLOAT, model, epoch + 1, phase, row)
                self.ctx.barrier()

        final = self.run_dir / FINAL
        float_twin = self.run_dir / FLOAT if cfg.is_quantized else None
        if end_epoch < cfg.total_epochs:
            info(f"stopped after epoch {end_epoch}/{cfg.total_epochs}; continue with resume="
                 f"{self.run_dir}", self.quiet)
            return TrainResult(self.run_dir, final, float_twin, self.history, complete=False,
                               rank=self.ctx.rank)
        if self.ctx.is_main:
            last = self.history[-1] if self.history else {}
            self._save(FINAL, model, cfg.total_epochs, cfg.phase_of(cfg.total_epochs - 1), last)
            info(f"trained {model.name}: {final}", self.quiet)
        self.ctx.barrier()
        return TrainResult(self.run_dir, final, float_twin, self.history, rank=self.ctx.rank)

    def _check_resumable(self, path: Path, ckpt: dict, model: nn.Module) -> int:
        """The epoch to continue at, or CheckpointError if this config cannot continue it."""
        cfg = self.cfg
        phase, epoch = ckpt.get("phase"), ckpt.get("epoch")
        if phase not in ("float", "qat") or not isinstance(ckpt.get("optimizer"), dict) \
                or not isinstance(epoch, int):
            raise CheckpointError(f"{path}: not a resumable training checkpoint (no phase, "
                                  "epoch or optimizer state); resume takes a run folder or its "
                                  "last.pt")
        expected = cfg.float_name if phase == "float" else cfg.model.name
        if model.name != expected or tuple(model.charts) != self.charts \
                or list(model.widths) != list(cfg.model.widths):
            raise CheckpointError(f"{path}: holds {model.name} {list(model.widths)} "
                                  f"{list(model.charts)}, but the config trains {expected} "
                                  f"{cfg.model.widths} {cfg.model.charts}")
        if not 0 < epoch <= cfg.total_epochs:
            raise CheckpointError(f"{path}: epoch {epoch} is outside this config's "
                                  f"{cfg.total_epochs} epochs")
        if epoch == cfg.total_epochs and (path.parent / FINAL).is_file():
            # finished (a run stopped before final.pt was written still resumes, to write it)
            raise CheckpointError(f"{path}: the run already finished its {epoch} epochs "
                                  f"({FINAL} is there); nothing to resume")
        return epoch

    def _epoch(self, epoch: int, phase: str, model: nn.Module, ddp_model: nn.Module,
               opt: torch.optim.Optimizer, sched: Any, progress: Any) -> dict[str, Any]:
        cfg, ctx = self.cfg, self.ctx
        t = cfg.train
        task = progress.add_task(f"epoch {epoch + 1}/{cfg.total_epochs} {phase}",
                                 total=t.steps_per_epoch)
        ddp_model.train()
        loss_sum = torch.zeros((), dtype=torch.float64, device=ctx.device)
        t0 = time.perf_counter()
        for step in range(t.steps_per_epoch):
            image, labels, g_aug = self.sampler.batch(cfg.seed, epoch, step, t.batch, ctx.rank,
                                                      ctx.world_size)
            if cfg.augment.flips or cfg.augment.rot90:
                # the global batch's draws, this rank's slice: same augmentation at any world size
                image, labels = _augment_slice(image, labels, g_aug, t.batch, ctx,
                                               cfg.augment.flips, cfg.augment.rot90)
            logits = ddp_model(image)
            loss, mean_loss = self._loss(model, logits, labels)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += mean_loss.detach()
            progress.update(task, advance=1,
                            description=f"epoch {epoch + 1}/{cfg.total_epochs} {phase} "
                                        f"loss {float(mean_loss):.3f}" if step % 10 == 0 else None)
        if ctx.device.type == "cuda":
            torch.cuda.synchronize(ctx.device)
        train_time = time.perf_counter() - t0
        progress.remove_task(task)

        val = {}
        last_of_phase = epoch + 1 in (t.float_epochs, cfg.total_epochs)
        if ctx.is_main and self.val_scenes and ((epoch + 1) % cfg.eval.every == 0
                                                or last_of_phase):
            val = self._validate(model)
        samples = t.batch * ctx.world_size * t.steps_per_epoch
        return {
            "epoch": epoch + 1, "phase": phase, "model": model.name,
            "loss": float(loss_sum) / t.steps_per_epoch,
            "lr": float(opt.param_groups[0]["lr"]),
            "val_sod_f1": val.get("SOD"), "val_combined": val.get("combined"),
            "val_scores": val or None,
            "epoch_time_s": time.perf_counter() - t0, "train_time_s": train_time,
            "samples_per_s": samples / train_time, "world_size": ctx.world_size,
            "device": str(ctx.device.type),
        }

    def _loss(self, model: nn.Module, logits: torch.Tensor, labels: dict[str, torch.Tensor]
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """Cross-entropy (ignore 255, optional class weights), summed over charts.

        Each chart's loss is the weighted mean over the labelled pixels of the *global* batch:
        the per-rank sums are divided by the all-reduced weight total and scaled by the world
        size, so DDP's gradient averaging yields exactly the single-process gradient of the
        same global batch. Returns (the loss to differentiate, the global mean for logging).
        """
        ctx = self.ctx
        parts = model.split(logits)
        sums, totals = [], []
        for chart in self.charts:
            target = labels[chart]
            w = self.loss_weights[chart]
            ce = nn.functional.cross_entropy(parts[chart].float(), target, weight=w,
                                             ignore_index=IGNORE_INDEX, reduction="sum")
            valid = target != IGNORE_INDEX
            denom = w[target[valid]].sum() if w is not None else valid.sum().to(torch.float32)
            sums.append(ce)
            totals.append(denom.to(torch.float32))
        total = ctx.all_reduce_sum(torch.stack(totals).detach().clone())
        total = total.clamp_min(1.0)
        per_chart = torch.stack(sums) / total * ctx.world_size
        loss = per_chart.sum()
        mean_loss = ctx.all_reduce_sum(loss.detach().clone()) / ctx.world_size
        return loss, mean_loss

    def _validate(self, model: nn.Module) -> dict[str, float | None]:
        from tinyicenet.evaluate import score_scenes
        from tinyicenet.data.tiling import model_halo
        # at least the receptive radius (a configured halo below it is refused): no seams
        halo = model_halo(model.stride, self.cfg.eval.halo)
        metrics = score_scenes(model, self.val_scenes, tile=self.cfg.eval.tile,
                               halo=halo, device=self.ctx.device)
        out: dict[str, float | None] = {c: _none_if_nan(metrics.score(c)) for c in self.charts}
        out["combined"] = _none_if_nan(metrics.combined())
        return out

    def _save(self, name: str, model: nn.Module, epoch: int, phase: str, row: dict,
              opt: torch.optim.Optimizer | None = None, sched: Any = None) -> Path:
        from tinyicenet.models import save_checkpoint
        extra: dict[str, Any] = {
            "epoch": epoch, "phase": phase, "config": self.cfg.to_dict(),
            "data_stats": self.data_stats, "variables": list(self.cfg.data.variables),
            "metrics": row, "history": self.history,
        }
        if opt is not None:
            extra.update(optimizer=opt.state_dict(), scheduler=sched.state_dict(),
                         rng={"torch": torch.get_rng_state()})
        return save_checkpoint(self.run_dir / name, model, **extra)


def _augment_slice(image: torch.Tensor, labels: dict[str, torch.Tensor], g: torch.Generator,
                   batch: int, ctx: distributed.DistContext, flips: bool, rot90: bool
                   ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Augment this rank's slice with the draws the global batch gets at those rows."""
    codes = draw_codes(batch * ctx.world_size, g, flips=flips, rot90=rot90)
    return apply_codes(image, labels, codes[ctx.rank::ctx.world_size])


def _class_weights(hist: np.ndarray, mode: str, device: torch.device) -> torch.Tensor | None:
    """Loss weights per class: none, N / (K n_c) ('balanced'), or its square root ('sqrt').

    Classes absent from the training scenes get weight 0 (they cannot be learnt anyway)."""
    if mode == "none":
        return None
    hist = hist.astype(np.float64)
    present = hist > 0
    w = np.zeros_like(hist)
    w[present] = hist.sum() / (present.sum() * hist[present])
    if mode == "sqrt":
        w = np.sqrt(w)
    return torch.tensor(w, dtype=torch.float32, device=device)


def _none_if_nan(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)

