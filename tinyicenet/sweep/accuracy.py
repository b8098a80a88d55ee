"""The accuracy of a configuration: a short QAT fine-tune from one shared float model, then the
AutoICE score (SOD weighted F1, :func:`tinyicenet.evaluate.evaluate`) on held-out scenes.

The float model is trained once per sweep (or given); every configuration starts its QAT from it,
as ``bench/bench_accuracy.py`` does. Training and scoring are the project's own
(:func:`tinyicenet.train.run_training`, :func:`tinyicenet.evaluate.evaluate`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tinyicenet.errors import ConfigError
from tinyicenet.sweep.models import Grouping
from tinyicenet.sweep.search import Evaluation
from tinyicenet.sweep.space import Configuration


@dataclass
class AccuracySetup:
    """Where the scenes are and how briefly to train."""

    train: Path
    test: Path
    workdir: Path
    recipe: str = "demo"
    overrides: tuple[str, ...] = ()
    #: QAT epochs per configuration (None: the recipe's)
    qat_epochs: int | None = None
    #: a float checkpoint to start every QAT from (None: trained once here)
    float_checkpoint: Path | None = None
    #: the float model's skips (every configuration of one sweep shares them)
    skips: bool = True
    device: str = "cpu"
    quiet: bool = True


def slug(config: Configuration) -> str:
    """A folder name for ``config``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", config.key.replace("=", "").replace(",", "-"))


def scene_kind(paths: Sequence[Path]) -> str:
    """``synthetic`` when every file is one of tinyicenet's generated scenes, else ``ai4arctic``
    (read from the files' global ``title`` attribute)."""
    import xarray as xr

    kinds = set()
    for p in paths:
        with xr.open_dataset(p) as ds:
            title = str(ds.attrs.get("title", ""))
        kinds.add("synthetic" if "synthetic" in title else "ai4arctic")
    return kinds.pop() if len(kinds) == 1 else "mixed"


@dataclass
class ConfigurationTrainer:
    """``evaluate(config) -> Evaluation``, for :func:`tinyicenet.sweep.search.greedy_search`.

    ``cost(model)`` prices the trained model (its own design: the budget's final check).
    """

    setup: AccuracySetup
    grouping: Grouping
    cost: Callable[[Any], Mapping[str, Any]] | None = None
    _float: Path | None = field(default=None, init=False)
    _recipe: Any = field(default=None, init=False)

    def _base(self) -> list[str]:
        s = self.setup
        return [f"data.train=[{s.train}]", "data.val=[]", "data.val_count=0",
                f"train.device={s.device}", *s.overrides]

    def recipe(self) -> Any:
        from tinyicenet.train import load_config

        if self._recipe is None:
            self._recipe = load_config(self.setup.recipe, self._base())
        return self._recipe

    def float_checkpoint(self) -> Path:
        """The shared float model (trained on first use unless the setup gives one)."""
        from tinyicenet.train import load_config, run_training

        if self._float is None:
            if self.setup.float_checkpoint is not None:
                self._float = Path(self.setup.float_checkpoint)
                if not self._float.is_file():
                    raise ConfigError(f"{self._float}: no such float checkpoint")
            else:
                name = "tinyicenet_float" + ("" if self.setup.skips else "_noskip")
                cfg = load_config(self.setup.recipe, [*self._base(), f"model.name={name}",
                                                      "train.qat_epochs=0"])
                self._float = run_training(cfg, self.setup.workdir / "float",
                                           quiet=self.setup.quiet).final
        return self._float

    def float_model(self) -> Any:
        from tinyicenet.models import load_checkpoint

        model, _ = load_checkpoint(self.float_checkpoint())
        if model.quantized:
            raise ConfigError(f"{self.float_checkpoint()}: holds {model.name}, not a float model")
        return model

    def __call__(self, config: Configuration) -> Evaluation:
        from tinyicenet.evaluate import evaluate
        from tinyicenet.models import load_checkpoint
        from tinyicenet.train import load_config, run_training

        if config.skips != self.setup.skips:
            raise ConfigError(f"sweep: configuration {config.key} and the float model differ "
                              "in skips")
        init = self.float_checkpoint()
        qat = self.setup.qat_epochs if self.setup.qat_epochs is not None else \
            self.recipe().train.qat_epochs
        cfg = load_config(self.setup.recipe, [*self._base(), *self.grouping.train_overrides(config),
                                              "train.float_epochs=0", f"train.qat_epochs={qat}",
                                              f"model.init={init}"])
        run_dir = self.setup.workdir / "configs" / slug(config)
        t0 = time.perf_counter()
        final = run_dir / "final.pt"
        reused = final.is_file() and (run_dir / "config.yaml").is_file() and \
            (run_dir / "config.yaml").read_text() == cfg.to_yaml()
        if reused:   # a finished run of the same config (an interrupted sweep run again)
            train_s = None
        else:
            final = run_training(cfg, run_dir, quiet=self.setup.quiet).final
            train_s = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
        ev = evaluate(final, [self.setup.test], None, tile=cfg.eval.tile,
                      halo=cfg.eval.halo, device=self.setup.device, quiet=self.setup.quiet)
        eval_s = time.perf_counter() - t0
        sod = ev["metrics"]["SOD"]
        final_cost = None
        model, _ = load_checkpoint(final)
        if model.precision != self.grouping.precision(config):
            raise ConfigError(f"{final}: trained {model.name} with another precision than "
                              f"configuration {config.key}")
        if self.cost is not None:
            final_cost = self.cost(model)
        return Evaluation(
            accuracy=sod["f1_weighted"] / 100.0, cost=final_cost,
            details={"model": ev["model"], "precision": self.grouping.precision_label(config),
                     "sod_f1_macro": (sod.get("f1_macro") or 0.0) / 100.0,
                     "sod_per_class_f1": {r["name"]: (None if r["f1"] is None
                                                      else r["f1"] / 100.0)
                                          for r in sod["per_class"]},
                     "pixels": sod["pixels"], "scenes": len(ev["scenes"]),
                     "bits": self.grouping.precision(config).to_dict(),
                     "qat_epochs": qat, "train_s": train_s,
                     "reused_training": reused,
                     "eval_s": round(eval_s, 1),
                     "checkpoint": str(final.relative_to(self.setup.workdir))
                     if final.is_relative_to(self.setup.workdir) else final.name})
