"""Micro-batching of concurrent prediction calls.

Most of a one-molecule prediction is fixed cost (tree traversal setup, trunk forward pass), so twenty
clients asking at once are served far faster as one batch of twenty than as twenty batches of one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
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

    ``await predict_fn(smiles, options)`` returns one profile per SMILES; calls with different
    ``options`` (e.g. with or without depictions) are batched separately. Up to ``concurrency`` batches
    are computed at once (one per worker process), while the next batch is being collected.
    """

    def __init__(
        self,
        predict_fn: Callable[[list[str], tuple[Any, ...]], Awaitable[Profiles]],
        wait_s: float,
        max_molecules: int,
        concurrency: int = 1,
    ) -> None:
        self.predict_fn, self.wait_s, self.max_molecules = predict_fn, wait_s, max_molecules
        self.concurrency = concurrency
        self._queue: asyncio.Queue[_Pending] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._slots: asyncio.Semaphore | None = None
        self._in_flight: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._slots = asyncio.Semaphore(self.concurrency)
        self._worker = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def predict(self, smiles: Sequence[str], options: tuple[Any, ...] = ()) -> Profiles:
        if self._queue is None:
            raise RuntimeError("MicroBatcher.start() was not awaited")
        pending = _Pending(smiles, options)
        await self._queue.put(pending)
        return await pending.done

    async def _run(self) -> None:
        assert self._queue is not None and self._slots is not None
        while True:
            await self._slots.acquire()  # a free worker first: calls keep gathering while all are busy
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
            task = asyncio.create_task(self._serve_batch(batch))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

    async def _serve_batch(self, batch: list[_Pending]) -> None:
        assert self._slots is not None
        try:
            for options in dict.fromkeys(p.options for p in batch):
                await self._serve([p for p in batch if p.options == options], options)
        finally:
            self._slots.release()

    async def _serve(self, group: list[_Pending], options: tuple[Any, ...]) -> None:
        smiles = [s for pending in group for s in pending.smiles]
        try:
            profiles = await self.predict_fn(smiles, options)
        except Exception as exc:  # the worker keeps serving
            if len(group) > 1:  # one caller's molecules must not fail the others': each call again, alone
                for pending in group:
                    await self._serve([pending], options)
                return
            if not group[0].done.done():
                group[0].done.set_exception(exc)
            return
        start = 0
        for pending in group:
            if not pending.done.done():
                pending.done.set_result(profiles[start : start + len(pending.smiles)])
            start += len(pending.smiles)
