"""Where /v1/predict profiles are computed: worker processes, or a thread for small set-ups and tests.

The chemistry behind a profile (standardisation, RDKit descriptors, alert matching) holds Python's
GIL for ~6-9 ms per molecule. In a thread of the server it stalls the event loop and every other
request while it runs, and it uses one core. In worker processes the event loop stays free and every
core computes; each worker loads the model once (spawned, so no thread or lock state is inherited).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from fedadmet.config import Settings
from fedadmet.exceptions import ModelUnavailableError
from fedadmet.workflows.predictors import resolve_predictor
from fedadmet.workflows.profiling import Cards, Quantiles, profile_cards

log = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>
PARENT_CHECK_S = 1.0
_worker_state: dict[str, Any] = {}


def _load_in_worker(settings: Settings, model_dir: str, quantiles: Quantiles, server_pid: int) -> None:
    _exit_with(server_pid)
    _worker_state["model"] = resolve_predictor(settings, model=Path(model_dir)).model
    _worker_state["quantiles"] = quantiles


def _exit_with(server_pid: int) -> None:
    """End this worker when the server that started it dies, even by SIGKILL (which runs no clean-up):
    Linux signals it at once (``PR_SET_PDEATHSIG``); elsewhere, and should the signal be missed, a thread
    sees the worker handed to another parent within a second. (Linux sends the signal when the *thread*
    that started the worker ends: workers are started from the event loop's thread, which lives as long
    as the server.)"""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != server_pid:  # the server died before the signal was asked for
        os._exit(1)

    def watch() -> None:
        while os.getppid() == server_pid:
            time.sleep(PARENT_CHECK_S)
        os._exit(1)

    threading.Thread(target=watch, name="server-watch", daemon=True).start()


def _profile_in_worker(smiles: list[str], depict: bool, endpoints: Sequence[str] | None) -> Cards:
    return profile_cards(_worker_state["model"], _worker_state["quantiles"], smiles, depict, endpoints)


class ProfileWorkers:
    """A pool of ``processes`` spawned workers, each holding the model; a pool whose worker died is replaced."""

    def __init__(self, settings: Settings, model_dir: Path, quantiles: Quantiles, processes: int) -> None:
        self._arguments = (settings, str(model_dir), quantiles, os.getpid())
        self.processes = processes
        self._pool: ProcessPoolExecutor | None = None

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_load_in_worker,
            initargs=self._arguments,
        )

    async def start(self) -> None:
        """Start every worker and load its model now, so that the first requests do not wait for it."""
        self._pool = self._new_pool()
        await asyncio.gather(*(self.profile(["C"], depict=False) for _ in range(self.processes)))

    async def profile(self, smiles: list[str], depict: bool, endpoints: Sequence[str] | None = None) -> Cards:
        """The cards from a worker; a pool whose worker died is replaced once, and a second failure means
        the workers cannot hold the model (:class:`ModelUnavailableError`, a 503)."""
        assert self._pool is not None, "start() the workers first"
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, _profile_in_worker, smiles, depict, endpoints)
        except BrokenProcessPool:
            log.warning("a profile worker died (out of memory or killed); starting a new pool and retrying once")
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
        try:
            return await loop.run_in_executor(self._pool, _profile_in_worker, smiles, depict, endpoints)
        except BrokenProcessPool:
            raise ModelUnavailableError(
                "the profile workers keep dying (out of memory, or the model cannot load)"
            ) from None

    def stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
