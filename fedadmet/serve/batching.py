"""Micro-batching of concurrent prediction calls.

Most of a one-molecule prediction is fixed cost (tree traversal setup, trunk forward pass), so twenty
clients asking at once are served far faster as one batch of twenty than as twenty batches of one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

Profiles = list[dict[str, Any]]


@dataclass
class _Pending:
    smiles: Sequence[str]
    options: tuple[Any, ...]
    done: asyncio.Future[Profiles] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class MicroBatcher:
    """Collects calls for up to ``wait_s`` (or ``max_molecules``) and runs them as one ``predict_fn`` call.

    ``predict_fn(smiles, options)`` runs in a worker thread and returns one profile per SMILES; calls
    with different ``options`` (e.g. with or without depictions) are batched separately.
    """

    def __init__(
        self, predict_fn: Callable[[list[str], tuple[Any, ...]], Profiles], wait_s: float, max_molecules: int
    ) -> None:
        self.predict_fn, self.wait_s, self.max_molecules = predict_fn, wait_s, max_molecules
        self._queue: asyncio.Queue[_Pending] | None = None
        self._worker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._worker = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker

    async def predict(self, smiles: Sequence[str], options: tuple[Any, ...] = ()) -> Profiles:
        if self._queue is None:
            raise RuntimeError("MicroBatcher.start() was not awaited")
        pending = _Pending(smiles, options)
        await self._queue.put(pending)
        return await pending.done

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            batch = [await self._queue.get()]
            deadline = asyncio.get_running_loop().time() + self.wait_s
            while sum(len(p.smiles) for p in batch) < self.max_molecules:
                timeout = deadline - asyncio.get_running_loop().time()
                if timeout <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), timeout))
                except TimeoutError:
                    break
            for options in dict.fromkeys(p.options for p in batch):
                await self._serve([p for p in batch if p.options == options], options)

    async def _serve(self, group: list[_Pending], options: tuple[Any, ...]) -> None:
        smiles = [s for pending in group for s in pending.smiles]
        try:
            profiles = await asyncio.to_thread(self.predict_fn, smiles, options)
        except Exception as exc:  # handed to every caller of the batch; the worker keeps serving
            for pending in group:
                if not pending.done.done():
                    pending.done.set_exception(exc)
            return
        start = 0
        for pending in group:
            if not pending.done.done():
                pending.done.set_result(profiles[start : start + len(pending.smiles)])
            start += len(pending.smiles)
