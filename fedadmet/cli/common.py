"""What every `fedadmet` sub-command shares: the Typer apps, consoles and error exit."""

from __future__ import annotations

import sys
from typing import Any

import typer
from pydantic import ValidationError
from rich.console import Console
from typer import rich_utils

PIPED_HELP_WIDTH = 120  # help read from a file or pipe (a terminal's own width otherwise; TERMINAL_WIDTH sets it)


class _App(typer.Typer):
    """The `fedadmet` command: an environment or file-system problem ends in a one-line error, not in
    a traceback (whose local variables would print the user's molecules into logs)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if rich_utils.MAX_WIDTH is None and not sys.stdout.isatty():
            # A file or pipe would get rich's 80 columns, the options' help squeezed into a narrow column.
            rich_utils.MAX_WIDTH = PIPED_HELP_WIDTH
        try:
            return super().__call__(*args, **kwargs)
        except ValidationError as exc:  # a FEDADMET_* setting, read when a command first needs it
            errors.print(f"[bold red]error:[/] {settings_problem(exc)}", highlight=False)
            sys.exit(2)
        except OSError as exc:
            errors.print(f"[bold red]error:[/] {exc.strerror or exc}: {exc.filename or ''}", highlight=False)
            sys.exit(1)


def option_problem(exc: ValidationError) -> str:
    """One line naming each bad option (its last field name, as the option is spelt), its value and what
    it must be: pydantic's own text carries a web link and a layout meant for developers."""
    return "; ".join(
        f"--{str(error['loc'][-1]).replace('_', '-')} {error.get('input')!r}: {error['msg']}"
        if error["loc"]
        else str(error["msg"])  # a rule over several options names them itself
        for error in exc.errors()
    )


def settings_problem(exc: ValidationError) -> str:
    """One line naming each bad FEDADMET_* variable, its value and what it must be."""
    return "; ".join(
        f"FEDADMET_{'_'.join(map(str, error['loc'])).upper()}={error.get('input')!r}: {error['msg']}"
        for error in exc.errors()
    )


_OPTIONS: dict[str, Any] = {"no_args_is_help": True, "pretty_exceptions_show_locals": False}
app = _App(help="fedadmet: federated ADMET/Tox prediction.", add_completion=False, **_OPTIONS)
data_app = typer.Typer(help="Inspect and prepare labelled data.", **_OPTIONS)
federate_app = typer.Typer(help="Run and watch federations (Flower simulation or deployment).", **_OPTIONS)
keys_app = typer.Typer(help="Make and revoke API keys for the REST API and web page.", **_OPTIONS)
app.add_typer(data_app, name="data")
app.add_typer(keys_app, name="keys")
app.add_typer(federate_app, name="federate")
console = Console()
errors = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``message`` as an error and return the exit to raise (2: unusable input, 1: nothing done)."""
    errors.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)
