"""The micro-batcher: concurrent calls are served as one batch, and one caller's failure is its own."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from fedadmet.serve.batching import MicroBatcher


def test_concurrent_calls_share_a_batch_and_a_failing_call_fails_alone() -> None:
    batches: list[list[str]] = []

    async def predict(smiles: list[str], options: tuple[Any, ...]) -> list[dict[str, Any]]:
        batches.append(smiles)
        if "bad" in smiles:
            raise ValueError("cannot profile 'bad'")
        return [{"smiles": s} for s in smiles]

    async def scenario() -> list[Any]:
        batcher = MicroBatcher(predict, wait_s=0.05, max_molecules=100)
        await batcher.start()
        try:
            calls = [batcher.predict(["CCO"]), batcher.predict(["bad"]), batcher.predict(["CCN", "CCC"])]
            return await asyncio.gather(*calls, return_exceptions=True)
        finally:
            await batcher.stop()

    good, failed, pair = asyncio.run(scenario())
    assert batches[0] == ["CCO", "bad", "CCN", "CCC"]  # one batch first, then each call alone
    assert good == [{"smiles": "CCO"}] and pair == [{"smiles": "CCN"}, {"smiles": "CCC"}]
    assert isinstance(failed, ValueError) and "'bad'" in str(failed)


def test_a_call_alone_that_fails_gets_its_error() -> None:
    async def predict(smiles: list[str], options: tuple[Any, ...]) -> list[dict[str, Any]]:
        raise RuntimeError("worker died")

    async def scenario() -> None:
        batcher = MicroBatcher(predict, wait_s=0.0, max_molecules=10)
        await batcher.start()
        try:
            await batcher.predict(["CCO"])
        finally:
            await batcher.stop()

    with pytest.raises(RuntimeError, match="worker died"):
        asyncio.run(scenario())
