"""Flower ServerApp: the coordinator, a thin adapter over :func:`fedadmet.federated.coordinator.run_federation`.

Opening the run (a new one, or a checked resume) is the caller's: the simulation use case opens it before
the app starts; in deployment the use case's app (:data:`fedadmet.workflows.federation.server_app`) opens
it from the run config. Secure aggregation, checkpoints and records are the coordinator's and strategy's.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from fedadmet.federated.coordinator import OpenedRun, StoppableGrid, run_federation

log = logging.getLogger("fedadmet.federation")


def make_server_app(open_run: Callable[[Context], OpenedRun], stop: threading.Event | None = None) -> ServerApp:
    """The ServerApp for the run ``open_run`` opens from the Flower context; ``stop`` (simulation) ends the
    run at once, recorded as interrupted, when it is set."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        opened = open_run(context)
        stoppable = grid if stop is None else StoppableGrid(grid, stop)
        summary = run_federation(stoppable, context, opened.settings, opened.task, opened.recorder)
        log.info("federation finished: %s", summary)

    return app
