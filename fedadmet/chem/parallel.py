"""Work over many molecules in chunks: worker processes with a progress bar for large inputs."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from tqdm.auto import tqdm

_CHUNK = 256
# Workers use RDKit and numpy only (never torch), so "fork" is safe and needs no __main__ guard.

Result = TypeVar("Result")


def _every_core() -> int:
    return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class ParallelOptions:
    """How work over many molecules runs: ``n_jobs`` worker processes from ``parallel_threshold`` molecules
    on, with a progress bar when ``progress``. Read from the settings at the edges and passed in."""

    n_jobs: int = field(default_factory=_every_core)
    progress: bool = True
    parallel_threshold: int = 2000


def iter_chunks(
    function: Callable[[Sequence[str]], Result],
    smiles: Sequence[str],
    *,
    description: str,
    parallel: ParallelOptions | None = None,
) -> Iterator[Result]:
    """``function`` over chunks of ``smiles``, yielded in order as soon as each is ready, so that the caller
    can use one chunk while workers compute the next. Large inputs go to worker processes with a progress
    bar; small ones stay in-process, where start-up would dominate."""
    options = parallel or ParallelOptions()
    chunks = [smiles[i : i + _CHUNK] for i in range(0, len(smiles), _CHUNK)]
    with tqdm(
        total=len(smiles), desc=description, unit="mol", disable=not options.progress or len(smiles) < 500
    ) as bar:
        if options.n_jobs > 1 and len(smiles) >= options.parallel_threshold:
            context = multiprocessing.get_context("fork")
            pool = ProcessPoolExecutor(max_workers=options.n_jobs, mp_context=context)
            try:
                for chunk, result in zip(chunks, pool.map(function, chunks), strict=True):
                    bar.update(len(chunk))
                    yield result
            finally:  # on Ctrl-C or an abandoned generator, chunks not yet started are dropped, not computed
                pool.shutdown(wait=True, cancel_futures=True)
        else:
            for chunk in chunks:
                result = function(chunk)
                bar.update(len(chunk))
                yield result
