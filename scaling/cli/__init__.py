"""The `scaling` command: typer parses, the library works, this layer prints. No logic lives here.

Each sub-module registers its commands on `app`; imports of heavy libraries (JAX) happen inside the commands,
so `scaling fit` on a CSV never loads JAX.
"""

from __future__ import annotations

import sys

import typer

from scaling.errors import UserError

app = typer.Typer(
    name="scaling",
    help="Scaling-law experiments: train sweeps, fit laws, pick compute-optimal runs, compress them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


# One module per command group, each with `register(app)`; add a name here to add commands.
COMMAND_MODULES = ("commands_train", "commands_sweep", "commands_plot", "commands_compress", "commands_fit")


def _register_commands() -> None:
    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(f"scaling.cli.{name}").register(app)


_register_commands()


def main() -> None:
    """Console entry point: user mistakes end with one message and exit code 2, never a traceback."""
    try:
        app(standalone_mode=False)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(UserError.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # click's usage errors carry their own exit code
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(2)
        raise
