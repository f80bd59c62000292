"""Where /v1/predict profiles are computed: worker processes, or a thread for small set-ups and tests.

The chemistry behind a profile (standardisation, RDKit descriptors, alert matching) holds Python's
GIL for ~6-9 ms per molecule. In a thread of the server it stalls the event loop and every other
request while it runs, and it uses one core. In worker processes the event loop stays free and every
core computes; each worker loads the model once (spawned, so no thread or lock state is inherited).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from fedadmet.chem.depict import molecule_svg
from fedadmet.inference import load_model, predict
from fedadmet.models.admet_model import ADMETModel
from fedadmet.serve.profiles import molecule_profiles

log = logging.getLogger(__name__)
Profiles = list[dict[str, Any]]
Quantiles = dict[str, list[float]]


def profile_smiles(model: ADMETModel, quantiles: Quantiles, smiles: list[str], depict: bool) -> Profiles:
    """One profile per SMILES, in order: every endpoint with its interval, domain, alerts and percentiles."""
    profiles = molecule_profiles(predict(smiles, model=model, progress=False), model.endpoints, quantiles)
    if depict:
        for item in profiles:
            item["svg"] = molecule_svg(item["smiles"]) if item["smiles"] else None
    return profiles


_worker_state: dict[str, Any] = {}


def _load_in_worker(model_dir: str, quantiles: Quantiles) -> None:
    _worker_state["model"] = load_model(Path(model_dir))
    _worker_state["quantiles"] = quantiles


def _profile_in_worker(smiles: list[str], depict: bool) -> Profiles:
    return profile_smiles(_worker_state["model"], _worker_state["quantiles"], smiles, depict)


class ProfileWorkers:
    """A pool of ``processes`` spawned workers, each holding the model; a pool whose worker died is replaced."""

    def __init__(self, model_dir: Path, quantiles: Quantiles, processes: int) -> None:
        self._arguments = (str(model_dir), quantiles)
        self.processes = processes
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_load_in_worker,
            initargs=self._arguments,
        )

    async def start(self) -> None:
        """Start every worker and load its model now, so that the first requests do not wait for it."""
        await asyncio.gather(*(self.profile(["C"], depict=False) for _ in range(self.processes)))

    async def profile(self, smiles: list[str], depict: bool) -> Profiles:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, _profile_in_worker, smiles, depict)
        except BrokenProcessPool:
            log.warning("a profile worker died (out of memory or killed); starting a new pool and retrying once")
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            return await loop.run_in_executor(self._pool, _profile_in_worker, smiles, depict)

    def stop(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
