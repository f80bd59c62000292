"""What every `fedadmet` sub-command shares: the Typer apps, consoles and error exit."""

from __future__ import annotations

import typer
from rich.console import Console

app = typer.Typer(help="fedadmet: federated ADMET/Tox prediction.", no_args_is_help=True, add_completion=False)
data_app = typer.Typer(help="Inspect and prepare labelled data.", no_args_is_help=True)
federate_app = typer.Typer(help="Run and watch federations (Flower simulation or deployment).", no_args_is_help=True)
keys_app = typer.Typer(help="Make and revoke API keys for the REST API and web page.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(keys_app, name="keys")
app.add_typer(federate_app, name="federate")
console = Console()
errors = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``message`` as an error and return the exit to raise (2: unusable input, 1: nothing done)."""
    errors.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)
