"""The `fedadmet` command: thin wrappers over the library, with readable output and clear errors."""

from fedadmet.cli import campaign, clinical, core, data, design, federate, mcp, serve  # noqa: F401  (importing registers the commands)
from fedadmet.cli.common import app

__all__ = ["app"]
