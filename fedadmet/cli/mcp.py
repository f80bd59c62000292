"""`fedadmet mcp`: the MCP server, over stdio (for a local client) or streamable HTTP (with API keys)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from fedadmet.cli.common import app, errors


class Transport(StrEnum):
    STDIO = "stdio"
    HTTP = "http"


@app.command()
def mcp(
    transport: Annotated[
        Transport, typer.Option(help="stdio: for a client that starts this command; http: a server.")
    ] = Transport.STDIO,
    host: Annotated[str | None, typer.Option(help="HTTP: address to listen on (default: FEDADMET_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="HTTP: port (default: FEDADMET_PORT).")] = None,
    model: Annotated[Path | None, typer.Option(help="Model folder (default: the default model).")] = None,
) -> None:
    """Serve the tools (profile_molecules, standardise, find_alerts, propose_analogs, score_molecules, run_design,
    list_models, list_runs, list_federation_runs, list_campaigns, create_campaign, propose_batch,
    ingest_results, campaign_status) to MCP clients. Over HTTP (path /mcp) each request needs an API key
    (`fedadmet keys create`) in X-API-Key or as a bearer token, and the tools see what that key sees through the
    REST API."""
    from fedadmet.config import get_settings
    from fedadmet.mcp.server import build_server, http_app

    server = build_server(model)
    if transport is Transport.STDIO:
        server.run("stdio")
        return
    import uvicorn

    settings = get_settings()
    host, port = host or settings.host, port or settings.port
    errors.print(f"MCP over streamable HTTP at http://{host}:{port}/mcp (API key required)", highlight=False)
    uvicorn.run(http_app(server, host), host=host, port=port, log_level="warning")
