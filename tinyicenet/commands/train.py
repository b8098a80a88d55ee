"""``tinyicenet train``: float pre-training then QAT fine-tuning, from a YAML config.

The same command runs under ``torchrun --nproc_per_node N`` for DistributedDataParallel.
"""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("train")
    def train(
        config: str = typer.Option(
            "default", "--config", "-c",
            help="Packaged config name (default, demo, accuracy) or a YAML file."),
        data: list[Path] = typer.Option(
            None, "--data", "-d",
            help="Training scene file or folder (repeatable); sets data.train."),
        val: list[Path] = typer.Option(
            None, "--val", help="Validation scene file or folder (repeatable); sets data.val."),
        out: Path = typer.Option(
            None, "--out", "-o", help="Run folder (checkpoints, metrics). Default: runs/<model>."),
        overrides: list[str] = typer.Option(
            None, "--set", "-s", metavar="KEY=VALUE",
            help="Override a config key, e.g. --set optim.lr=1e-3 (repeatable)."),
        resume: Path = typer.Option(
            None, "--resume", help="Continue a run from its folder or its last.pt."),
        print_config: bool = typer.Option(
            False, "--print-config", help="Print the resolved config as YAML and exit."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
    ) -> None:
        """Train TinyIceNet (float, then QAT) on AI4Arctic scenes; checkpoint every epoch."""
        from tinyicenet.errors import ConfigError
        from tinyicenet.train.config import load_config

        sets = list(overrides or [])
        if data:
            sets.append("data.train=" + _yaml_list(data))
        if val:
            sets.append("data.val=" + _yaml_list(val))
        if resume is not None:
            from tinyicenet.train import find_resume_checkpoint, resume_config
            cfg = resume_config(resume, sets)
            run_dir = out or find_resume_checkpoint(resume).parent
        else:
            cfg = load_config(config, sets)
            run_dir = out or Path("runs") / cfg.model.name
            if (run_dir / "final.pt").exists():
                raise ConfigError(f"{run_dir}: already holds a finished run (final.pt); choose "
                                  "another --out")
            if (run_dir / "last.pt").exists():
                raise ConfigError(f"{run_dir}: already holds a run (last.pt); continue it with "
                                  f"--resume {run_dir} or choose another --out")
        if print_config:
            typer.echo(cfg.to_yaml(), nl=False)
            return
        from tinyicenet.atomic import check_output_dir
        from tinyicenet.train import run_training

        check_output_dir(run_dir)
        result = run_training(cfg, run_dir, resume=resume, quiet=quiet)
        if result.history and result.rank == 0:
            last = result.last_metrics
            f1 = last.get("val_sod_f1")
            typer.echo(f"{result.final}  epoch {last.get('epoch')}  loss {last.get('loss'):.4f}"
                       + (f"  val SOD F1 {f1:.2f}" if f1 is not None else ""))


def _yaml_list(paths: list[Path]) -> str:
    import json
    return json.dumps([str(p) for p in paths])  # a JSON list is valid YAML
