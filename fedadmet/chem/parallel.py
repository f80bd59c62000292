"""Work over many molecules in chunks: worker processes with a progress bar for large inputs."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from tqdm.auto import tqdm

from fedadmet.config import get_settings

_CHUNK = 256
# Workers use RDKit and numpy only (never torch), so "fork" is safe and needs no __main__ guard.

Result = TypeVar("Result")


def iter_chunks(
    function: Callable[[Sequence[str]], Result],
    smiles: Sequence[str],
    *,
    description: str,
    n_jobs: int | None = None,
    progress: bool | None = None,
) -> Iterator[Result]:
    """``function`` over chunks of ``smiles``, yielded in order as soon as each is ready, so that the caller
    can use one chunk while workers compute the next. Large inputs go to worker processes with a progress
    bar; small ones stay in-process, where start-up would dominate."""
    settings = get_settings()
    n_jobs = settings.n_jobs if n_jobs is None else n_jobs
    progress = settings.progress if progress is None else progress
    chunks = [smiles[i : i + _CHUNK] for i in range(0, len(smiles), _CHUNK)]
    with tqdm(total=len(smiles), desc=description, unit="mol", disable=not progress or len(smiles) < 500) as bar:
        if n_jobs > 1 and len(smiles) >= settings.parallel_threshold:
            context = multiprocessing.get_context("fork")
            pool = ProcessPoolExecutor(max_workers=n_jobs, mp_context=context)
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
