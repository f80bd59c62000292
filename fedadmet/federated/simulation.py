"""One-machine federation with Flower's simulation engine: every partner folder becomes a SuperNode."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from flwr.simulation import run_simulation

from fedadmet.federated.client_app import make_client_app
from fedadmet.federated.coordinator import OpenedRun, RunInterruptedError
from fedadmet.federated.recorder import RunEnd
from fedadmet.federated.server_app import make_server_app

log = logging.getLogger("fedadmet.federation")


def run_simulated(opened: OpenedRun, partner_dirs: Sequence[Path], require_secagg: bool = True) -> None:
    """Run the opened run over ``partner_dirs`` (one SuperNode each); whatever its outcome, its end is
    recorded: the ServerApp records its own, anything it never reached is recorded here."""
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    stop = threading.Event()
    try:
        with _stop_on_ctrl_c(stop):
            run_simulation(
                server_app=make_server_app(lambda _: opened, stop),
                client_app=make_client_app(list(partner_dirs), require_secagg, opened.task),
                num_supernodes=len(partner_dirs),
                backend_config={
                    "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
                    "init_args": {"num_cpus": max(1, os.cpu_count() or 1), "include_dashboard": False},
                },
            )
    except Exception as exc:
        log.debug("simulation of run %s ended with %r", opened.settings.run_id, exc)
        opened.recorder.end(RunEnd("failed", f"{type(exc).__name__}: {exc}"))
    except KeyboardInterrupt:  # a second Ctrl-C
        opened.recorder.end(RunEnd("interrupted", "interrupted"))
        raise


@contextmanager
def _stop_on_ctrl_c(stop: threading.Event) -> Iterator[None]:
    """The first Ctrl-C asks the run to stop (it ends at once, recorded as interrupted); a second one is
    Python's default. Without this, Ctrl-C leaves Flower's ServerApp thread waiting for replies forever."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT) or signal.default_int_handler

    def on_interrupt(signum: int, frame: object) -> None:
        log.warning("Ctrl-C: stopping the federation (press Ctrl-C again to abort at once)")
        stop.set()
        signal.signal(signal.SIGINT, previous)

    def quiet_when_stopped(args: threading.ExceptHookArgs) -> None:
        # Flower's helper threads (the one watching nodes) end on the stopped grid's RunInterruptedError:
        # the run is recorded as interrupted, and a traceback would read as a crash.
        if not isinstance(args.exc_value, RunInterruptedError):
            previous_hook(args)

    previous_hook = threading.excepthook
    signal.signal(signal.SIGINT, on_interrupt)
    threading.excepthook = quiet_when_stopped
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        threading.excepthook = previous_hook
