"""The ``tinyicenet`` command: a thin Typer layer over the library.

Each module in :mod:`tinyicenet.commands` adds its commands through ``register(app)``; heavy
libraries are imported inside the command functions so that ``--help`` stays fast.
User errors (:class:`~tinyicenet.errors.TinyIceNetError`) become one ``error:`` line on stderr and
a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings

import click
import typer

try:  # typer >= 0.24 bundles its own click; its exceptions are not click's
    from typer._click import exceptions as _typer_click
except ImportError:  # older typer uses click itself
    _typer_click = click.exceptions

_CLICK_ERRORS = (click.ClickException, _typer_click.ClickException)
_ABORTS = (click.exceptions.Abort, typer.Abort, KeyboardInterrupt)

from tinyicenet import __version__
from tinyicenet.errors import TinyIceNetError

COMMAND_MODULES = (
    "data", "model", "train", "evaluate", "export", "hls", "board",
    "bench", "report", "predict", "sweep", "demo",
)

app = typer.Typer(
    name="tinyicenet",
    help="Sea-ice Stage of Development from Sentinel-1 SAR: data, QAT model, FPGA flow, benchmarks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tinyicenet {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """tinyicenet command-line interface."""


for _name in COMMAND_MODULES:
    try:
        _module = importlib.import_module(f"tinyicenet.commands.{_name}")
    except ModuleNotFoundError as _exc:
        if _exc.name != f"tinyicenet.commands.{_name}":
            raise
        continue
    _module.register(app)


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: object = None, line: str | None = None) -> None:
    """Warnings reach users as one ``warning:`` line, not Python's file:line format."""
    print("warning: " + " ".join(str(message).split()), file=sys.stderr)


def _fail(message: str, code: int) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    shown, warnings.showwarning = warnings.showwarning, _show_warning
    try:
        result = app(args=argv, standalone_mode=False)
    except TinyIceNetError as exc:
        _fail(str(exc), exc.exit_code)
    except _CLICK_ERRORS as exc:  # one line too, not click's usage block
        message = exc.format_message().strip()
        if not message:  # a bare group (no_args_is_help): its help is already printed
            sys.exit(exc.exit_code)
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        _fail(f"{message}{hint}", exc.exit_code)
    except _ABORTS:
        _fail("interrupted", 130)
    except Exception as exc:  # a bug, not a user error: still one line unless debugging
        if os.environ.get("TINYICENET_DEBUG"):
            raise
        _fail(f"internal error: {type(exc).__name__}: {exc} (set TINYICENET_DEBUG=1 for the "
              "traceback and please report it)", 1)
    finally:
        warnings.showwarning = shown
    sys.exit(result if isinstance(result, int) else 0)


if __name__ == "__main__":
    main()
