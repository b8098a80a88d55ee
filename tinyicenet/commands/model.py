"""``tinyicenet model ...``: list model names, summarise a model."""

from __future__ import annotations

import json

import typer

from tinyicenet.errors import ConfigError


def _parse_widths(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(v) for v in text.replace(" ", "").split(",") if v)
    except ValueError:
        raise ConfigError(f"--widths {text!r} is not a comma-separated list of integers "
                          "(e.g. 16,32,64)") from None
    return widths


def register(app: typer.Typer) -> None:
    model_app = typer.Typer(help="TinyIceNet models: names, summaries.", no_args_is_help=True)
    app.add_typer(model_app, name="model")

    @model_app.command("list")
    def list_models() -> None:
        """Print every valid model name."""
        from tinyicenet.models.registry import available_models
        for name in available_models():
            typer.echo(name)

    @model_app.command("summary")
    def summary(
        name: str = typer.Argument(..., help="Model name, e.g. tinyicenet_w4a4 or "
                                   "tinyicenet_float_noskip."),
        widths: str = typer.Option("16,32,64", help="Channel widths: encoder levels..., "
                                   "bottleneck."),
        charts: str = typer.Option("SOD", help="Comma-separated charts: SOD, SIC, FLOE."),
        in_channels: int = typer.Option(2, help="Input channels (HH, HV = 2)."),
        tile: int = typer.Option(256, help="Tile side in pixels (multiple of the stride)."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    ) -> None:
        """Parameters, MACs per tile, activation / skip-buffer / weight memory per layer."""
        from rich.console import Console

        from tinyicenet.models.registry import create_model
        from tinyicenet.models.summary import render_table, summarize

        model = create_model(name, in_channels=in_channels, widths=_parse_widths(widths),
                             charts=tuple(c.strip() for c in charts.split(",") if c.strip()))
        result = summarize(model, tile)
        if as_json:
            typer.echo(json.dumps(result.to_dict(), indent=1))
        else:
            console = Console()
            if not console.is_terminal:  # files and pipes get the full table, not 80 columns
                console = Console(width=120)
            console.print(render_table(result))
