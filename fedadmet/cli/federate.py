"""`fedadmet federate ...`: consortium keys, certificates, simulation and run status."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fedadmet.cli.common import console, fail, federate_app


@federate_app.command("keygen")
def keygen(
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write the hex key to (mode 600).")],
) -> None:
    """Create the consortium secret key that every partner uses to prepare its data."""
    from fedadmet.federated.keys import generate_key, key_id

    if output.exists():
        raise fail(f"{output} exists; refusing to overwrite a consortium key")
    key = generate_key()
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(key + "\n")
    output.chmod(0o600)
    console.print(f"wrote {output}; key id {key_id(bytes.fromhex(key))} (share the key only with partners)")
