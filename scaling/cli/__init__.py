"""The `scaling` command: typer parses, the library works, this layer prints. No logic lives here.

Each sub-module registers its commands on `app`; imports of heavy libraries (JAX) happen inside the commands,
so `scaling fit` on a CSV never loads JAX.
"""

from __future__ import annotations

import errno
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


# OSErrors that mean a path the user chose cannot be used (permissions, read-only, a file where a directory
# should be): exit 2 with one line. Others (disk full, I/O errors) are failures, not usage errors.
PATH_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EISDIR, errno.EEXIST})

# One module per command group, each with `register(app)`; add a name here to add commands.
COMMAND_MODULES = ("commands_train", "commands_sweep", "commands_plot", "commands_compress", "commands_fit",
                   "commands_hyper", "commands_curves")


def _register_commands() -> None:
    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(f"scaling.cli.{name}").register(app)


_register_commands()


def _usage_error_types() -> tuple[type[BaseException], ...]:
    """The exception classes the installed typer raises for command-line mistakes, found through public names.

    typer >= 0.29 vendors click (its usage errors derive from `typer.TyperException`); older releases raise
    `click.ClickException`. Both are caught, so a typer upgrade cannot turn usage errors into tracebacks again.
    """
    found: list[type[BaseException]] = []
    if isinstance(getattr(typer, "TyperException", None), type):
        found.append(typer.TyperException)
    try:
        import click
    except ImportError:  # typer >= 0.29 no longer needs click installed
        pass
    else:
        found.append(click.ClickException)
    return tuple(found)


def _usage_line(exc: BaseException) -> str:
    """One line for a command-line mistake: the command, click's message, and the usage that would be valid."""
    message = " ".join(str(getattr(exc, "format_message", lambda: str(exc))()).split())
    ctx = getattr(exc, "ctx", None)
    if ctx is None:
        return f"error: {message}"
    usage = " ".join(ctx.get_usage().split()).removeprefix("Usage: ")
    return f"error: {ctx.command_path}: {message} (usage: {usage}; see `{ctx.command_path} --help`)"


def _store_error_line(exc: BaseException) -> str | None:
    """One line for a damaged SQLite file met outside `Store`'s own checks; None for other database errors."""
    import sqlite3

    if isinstance(exc, sqlite3.DatabaseError) and getattr(exc, "sqlite_errorname", "") in (
        "SQLITE_CORRUPT", "SQLITE_NOTADB"
    ):
        return (f"error: a sweep store is damaged ({exc}); nothing was changed: restore store.sqlite from a "
                "backup, or move it aside and re-run the sweep into a fresh store")
    return None


def main() -> None:
    """Console entry point: user mistakes end with one message and exit code 2, never a traceback."""
    usage_errors = _usage_error_types()
    try:
        code = app(standalone_mode=False)  # click returns typer.Exit's code here instead of raising it
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(UserError.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(130)
    except OSError as exc:
        if exc.errno not in PATH_ERRNOS:
            raise
        print(f"error: {exc.filename or 'a path'}: {exc.strerror}; choose a path you can write to (e.g. "
              "--run-dir) or fix it", file=sys.stderr)
        sys.exit(UserError.exit_code)
    except usage_errors as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `scaling`: the help text is the answer
            exc.show()  # type: ignore[attr-defined]
        else:
            print(_usage_line(exc), file=sys.stderr)
        sys.exit(UserError.exit_code)
    except Exception as exc:
        line = _store_error_line(exc)
        if line is None:
            raise
        print(line, file=sys.stderr)
        sys.exit(UserError.exit_code)
    if isinstance(code, int) and code:
        sys.exit(code)
