"""The command-line convention of the board driver and the board build (standard library only):
a user-fixable error is one ``error:`` line on stderr and its exit code, never a traceback."""

from __future__ import annotations

import argparse
import sys


def run_command(parser: argparse.ArgumentParser, argv, error_type: type) -> int:
    """Parse ``argv`` and run the chosen subcommand (``args.func``); an ``error_type`` exception
    becomes ``error: <message>`` and its ``exit_code``, Ctrl-C ``error: interrupted`` and 130."""
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except error_type as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
