"""Serving commands: the web page and REST API, and API keys."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from fedadmet.cli.common import app, console, errors, fail, keys_app
from fedadmet.exceptions import FedadmetError


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default: FEDADMET_HOST, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: FEDADMET_PORT, 8000).")] = None,
    model: Annotated[Path | None, typer.Option(help="Model folder (default: the default model).")] = None,
) -> None:
    """Serve the web page, REST API (/v1, OpenAPI at /docs) and batch jobs until interrupted."""
    import uvicorn

    from fedadmet.config import get_settings
    from fedadmet.serve.app import create_app
    from fedadmet.workflows.keys import local_api_key
    from fedadmet.workflows.store import open_store

    settings = get_settings()
    host, port = host or settings.host, port or settings.port
    try:  # first, so that a port in use is said at once and plainly (uvicorn would log it after the banner)
        listener = socket.create_server((host, port))
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise fail(f"cannot listen on {host}:{port}: {reason} (another server? choose --port)") from None
    try:
        console.print("loading the model and its approved-drug reference…")
        application = create_app(settings, model)
        key = local_api_key(open_store(settings.registry_url), settings.local_key_file)
    except FedadmetError as exc:
        raise fail(str(exc)) from None
    address = f"http://{host}:{port}/"
    console.print(f"[bold green]fedadmet is serving at {address}[/]  (API docs: {address}docs)", soft_wrap=True)
    console.print(f"open {address}#key={key}", soft_wrap=True, highlight=False)
    console.print(f"(your API key is kept in {settings.local_key_file}; Ctrl+C stops the server)", soft_wrap=True)
    uvicorn.Server(uvicorn.Config(application, log_level="warning")).run(sockets=[listener])


@keys_app.command("create")
def create_key(
    user: Annotated[str, typer.Argument(help="Who the key is for (created if new).")],
    partner: Annotated[
        str | None,
        typer.Option(
            help="The federation partner this user belongs to, as its data was prepared (--partner of "
            "`data prepare`): the key then sees that partner's shared metrics and the consortium's mean, not "
            "other partners'. (default: no partner; the key sees the consortium's means only)"
        ),
    ] = None,
    operator: Annotated[
        bool,
        typer.Option(
            "--operator", help="A key of the consortium's operator: it sees every partner's metrics and run errors."
        ),
    ] = False,
) -> None:
    """Make an API key; it is printed once and only its hash is stored."""
    from fedadmet.config import get_settings
    from fedadmet.workflows.keys import create_key as create
    from fedadmet.workflows.store import open_store

    try:
        created = create(open_store(get_settings().registry_url), user, partner, operator)
    except FedadmetError as exc:
        raise fail(str(exc)) from None
    belongs = created.partner
    scope = (
        "all partners' metrics (operator)"
        if belongs is None
        else f"partner {belongs}: its own shared metrics and the consortium mean"
        if belongs
        else "the consortium's means only (no partner; --operator or --partner for more)"
    )
    console.print(f"API key for {user} (prefix {created.prefix}; sees {scope}), shown only now:", highlight=False)
    console.print(created.key, highlight=False)
    if created.unknown_partner:
        hint = (
            "names are case-sensitive: did you mean " + " or ".join(map(repr, created.same_but_case)) + "?"
            if created.same_but_case
            else "check the spelling: names are case-sensitive"
        )
        errors.print(
            f"[bold yellow]warning:[/] no federation run in this registry has a partner named {belongs!r} yet; "
            f"the key sees only the consortium means until one has ({hint})",
            highlight=False,
        )


@keys_app.command("list")
def list_keys() -> None:
    """Show every API key by user and prefix (keys themselves are never stored)."""
    from fedadmet.config import get_settings
    from fedadmet.workflows.keys import list_keys as listed
    from fedadmet.workflows.store import open_store

    table = Table("user", "partner", "prefix", "created (UTC)", "status")
    for key in listed(open_store(get_settings().registry_url)):
        status = "revoked" if key.revoked else "active"
        table.add_row(
            key.user,
            "(all: operator)" if key.partner is None else key.partner or "(none: means only)",
            key.prefix,
            f"{key.created:%Y-%m-%d %H:%M}",
            status,
        )
    console.print(table)


@keys_app.command("revoke")
def revoke_key(
    key_or_prefix: Annotated[
        str, typer.Argument(help="The whole key, or its first 8 characters as `fedadmet keys list` shows them.")
    ],
) -> None:
    """Revoke a key at once: requests with it are refused from now on."""
    from fedadmet.config import get_settings
    from fedadmet.workflows.keys import revoke_keys
    from fedadmet.workflows.store import open_store

    count = revoke_keys(open_store(get_settings().registry_url), key_or_prefix)
    if not count:
        raise fail(
            f"no active key matches {key_or_prefix!r}; give the whole key or its 8-character prefix, "
            "as `fedadmet keys list` shows it",
            code=1,
        )
    console.print(f"revoked {count} key(s)")
