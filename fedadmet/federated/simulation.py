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

from fedadmet.exceptions import InputError
from fedadmet.federated.client_app import make_client_app
from fedadmet.federated.config import check_distinct_partners
from fedadmet.federated.prepare import read_manifest
from fedadmet.federated.server_app import RunInterruptedError, RunSettings, make_server_app, open_run, record_end
from fedadmet.registry import repository
from fedadmet.registry.database import open_registry
from fedadmet.registry.tables import FederationRun

log = logging.getLogger("fedadmet.federation")


def simulate(partner_dirs: Sequence[Path], settings: RunSettings, require_secagg: bool = True) -> FederationRun:
    """Run the federation over ``partner_dirs`` and return the registry record of this very run (rounds
    included), whatever its outcome: completed, failed (with the reason) or interrupted (Ctrl-C).

    A new run is started unless ``settings.run_id`` names one to resume; wrong inputs raise InputError
    before anything runs."""
    if len(partner_dirs) < 2:
        raise InputError("a federation needs at least two partners", got=[str(p) for p in partner_dirs])
    resolved = [str(Path(p).resolve()) for p in partner_dirs]
    if len(set(resolved)) < len(resolved):  # one partner would count twice (SecAgg+'s minimum, the weights)
        repeated = sorted({folder for folder in resolved if resolved.count(folder) > 1})
        raise InputError("the same partner folder is given more than once", got=repeated)
    manifests = {str(p): read_manifest(p) for p in partner_dirs}
    idle = [str(m["partner"]) for m in manifests.values() if not any(t["trainable"] for t in m["tasks"])]
    if idle:
        raise InputError(
            "partner(s) without a task that meets the quorum would fail every round",
            got=idle,
            expected="prepared folders with at least one trainable task (see each folder's qc.md)",
        )
    key_ids = {folder: m["key_id"] for folder, m in manifests.items()}
    if len(set(key_ids.values())) > 1:
        raise InputError("partners were prepared with different consortium keys", got=key_ids)
    names = [str(m["partner"]) for m in manifests.values()]
    check_distinct_partners(names)
    settings.federation.check_partners(len(partner_dirs))
    settings = open_run(
        settings.model_copy(
            update={"n_partners": len(partner_dirs), "key_id": next(iter(key_ids.values())), "partners": names}
        )
    )
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    stop = threading.Event()
    try:
        with _stop_on_ctrl_c(stop):
            run_simulation(
                server_app=make_server_app(settings, stop),
                client_app=make_client_app(list(partner_dirs), require_secagg=require_secagg),
                num_supernodes=len(partner_dirs),
                backend_config={
                    "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
                    "init_args": {"num_cpus": max(1, os.cpu_count() or 1), "include_dashboard": False},
                },
            )
    except Exception as exc:  # the ServerApp recorded why in the registry; anything else is recorded below
        log.debug("simulation of run %s ended with %r", settings.run_id, exc)
        record_end(settings, "failed", f"{type(exc).__name__}: {exc}")
    except KeyboardInterrupt:  # a second Ctrl-C
        record_end(settings, "interrupted", "interrupted")
        raise
    with open_registry(settings.registry_url).begin() as session:
        run = repository.get_run(session, settings.run_id)  # type: ignore[arg-type]
        assert run is not None  # open_run made or found it
        return run


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
